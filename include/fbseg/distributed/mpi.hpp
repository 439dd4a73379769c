// fbseg/distributed/mpi.hpp - distributed::Communicator on MPI, for programs started with mpirun
// or srun. Open MPI from Debian's libopenmpi-dev, or any MPI 3 library. Only programs that include
// this header need MPI: link them with MPI::MPI_CXX (CMake's FindMPI, with MPI_CXX_SKIP_MPICXX on:
// the C API is all fbseg uses), and start them with
//   mpirun -np 4 program ...      (or srun on a Slurm cluster)
// A program started without mpirun is a group of one (rank 0 of 1).
//
// Every MPI call is checked: MPI's errors are returned (MPI_ERRORS_RETURN, not the default abort)
// and turned into an fbseg::Error naming the call and MPI's message.
#pragma once

// MPI's C API only: the C++ bindings (removed from the MPI standard in 3.0) that Open MPI's mpi.h
// would pull into a C++ program are skipped.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "fbseg/core/error.hpp"
#include "fbseg/distributed/communicator.hpp"

namespace fbseg::distributed {

namespace mpi_detail {
inline void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    FBSEG_FAIL("MPI: ", call, " failed: ", std::string(text, std::size_t(length)));
}
}  // namespace mpi_detail

/// MPI_COMM_WORLD. The constructor initialises MPI (unless the program already did), the
/// destructor finalises it if the constructor initialised it. One per process. Programs that
/// start MPI only under a launcher ask launcher_ranks() (communicator.hpp) first.
class MpiCommunicator final : public Communicator {
public:
    MpiCommunicator(int* argc, char*** argv) {
        int initialised = 0;
        MPI_Initialized(&initialised);
        if (!initialised) {
            // The training step's compute threads never call MPI; only the main thread does.
            int provided = 0;
            mpi_detail::check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
            owns_ = true;
        }
        mpi_detail::check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        mpi_detail::check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
        mpi_detail::check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    }
    ~MpiCommunicator() override {
        if (owns_) MPI_Finalize();
    }
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    void all_reduce_sum(float* data, std::size_t count) override { all_reduce(data, count, MPI_FLOAT); }
    void all_reduce_sum(double* data, std::size_t count) override { all_reduce(data, count, MPI_DOUBLE); }
    void broadcast(void* data, std::size_t bytes, int root) override {
        auto* p = static_cast<char*>(data);
        for (std::size_t done = 0; done < bytes;) {  // MPI counts are int: in pieces of at most 1 GiB
            const std::size_t n = std::min<std::size_t>(bytes - done, std::size_t(1) << 30);
            mpi_detail::check(MPI_Bcast(p + done, int(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
            done += n;
        }
    }
    void barrier() override { mpi_detail::check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
    [[noreturn]] void abort(int code) override {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::exit(code);  // MPI_Abort does not return; this only satisfies [[noreturn]]
    }
    std::string describe() const override {
        char version[MPI_MAX_LIBRARY_VERSION_STRING];
        int length = 0;
        MPI_Get_library_version(version, &length);
        std::string v(version, std::size_t(length));
        if (const auto cut = v.find_first_of(",\n"); cut != std::string::npos) v.resize(cut);
        return "MPI (" + v + "), " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks");
    }

private:
    template <typename T>
    void all_reduce(T* data, std::size_t count, MPI_Datatype type) {
        for (std::size_t done = 0; done < count;) {  // in pieces that fit MPI's int counts
            const std::size_t n = std::min<std::size_t>(count - done, std::size_t(INT_MAX) / 2);
            mpi_detail::check(MPI_Allreduce(MPI_IN_PLACE, data + done, int(n), type, MPI_SUM, MPI_COMM_WORLD),
                              "MPI_Allreduce");
            done += n;
        }
    }

    int rank_ = 0, size_ = 1;
    bool owns_ = false;
};

}  // namespace fbseg::distributed
