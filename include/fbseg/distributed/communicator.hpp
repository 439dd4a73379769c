// fbseg/distributed/communicator.hpp - the small interface data-parallel training talks through
// (docs/scaling.md): a group of `size()` processes, this one being `rank()`, that can sum arrays
// across the group (all-reduce), copy an array from one of them to all (broadcast), and wait for
// each other (barrier). fbseg has no network code of its own: distributed/mpi.hpp implements this
// on MPI (Open MPI, started with mpirun or srun). SingleProcess is the group of one, used when a
// program runs without MPI: every call is a no-op, so a single process computes exactly what it
// computed before data parallelism existed.
//
// Every rank must make the same calls in the same order (they are collective): a rank that skips
// an all-reduce leaves the others waiting.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>

namespace fbseg::distributed {

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    /// data[i] <- sum over ranks of data[i], on every rank (in place).
    virtual void all_reduce_sum(float* data, std::size_t count) = 0;
    virtual void all_reduce_sum(double* data, std::size_t count) = 0;
    /// The `bytes` bytes at `data` on rank `root` are copied to `data` on every rank.
    virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
    virtual void barrier() = 0;
    /// Ends every rank's process with `code` (MPI_Abort): after an error on one rank, so that the
    /// others do not wait forever in their next collective call.
    [[noreturn]] virtual void abort(int code) = 0;
    /// "single process", "MPI (Open MPI 4.1.4), 2 ranks", ... for logs.
    virtual std::string describe() const = 0;
    /// A group that sums GPU memory itself (NCCL, distributed/nccl.hpp): sums `count` float32
    /// (or float64) values at the *device* address `data` in place and returns true. Groups that
    /// exchange host memory return false, and callers stage through the host.
    virtual bool all_reduce_sum_device(void* /*data*/, std::size_t /*count*/, bool /*is_double*/) { return false; }
    virtual bool reduces_on_device() const { return false; }
    bool is_root() const { return rank() == 0; }
};

/// The number of ranks an MPI launcher started (Open MPI's mpirun, MPICH's mpiexec, Slurm's
/// srun), from its environment; 0 when no launcher started this process.
inline int launcher_ranks() {
    for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
        if (const char* value = std::getenv(variable)) return std::atoi(value);
    return std::getenv("PMIX_RANK") != nullptr ? 1 : 0;  // PMIx: a launcher, size unknown here
}

/// This process's index among the ranks on its machine, from the launcher's environment (Open
/// MPI, MPICH/Intel MPI, Slurm); 0 without a launcher. One rank per GPU uses GPU local_rank().
inline int local_rank() {
    for (const char* variable : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
        if (const char* value = std::getenv(variable)) return std::atoi(value);
    return 0;
}

/// The group of one process: rank 0 of 1; nothing to exchange.
class SingleProcess final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void all_reduce_sum(float*, std::size_t) override {}
    void all_reduce_sum(double*, std::size_t) override {}
    void broadcast(void*, std::size_t, int) override {}
    void barrier() override {}
    [[noreturn]] void abort(int code) override { std::exit(code); }
    std::string describe() const override { return "single process"; }
};

/// `n` ranks that all hold this process's data, simulated in one process: all_reduce_sum
/// multiplies by n (the sum of n equal arrays). For tests: a synchronised BatchNorm in this group
/// must give batch_norm's own numbers (the n copies have the batch's mean and variance), and its
/// backward must equal the finite differences of that function (tests/harness/cases/nn.hpp).
class ReplicatedGroup final : public Communicator {
public:
    explicit ReplicatedGroup(int n) : n_(n) {}
    int rank() const override { return 0; }
    int size() const override { return n_; }
    void all_reduce_sum(float* data, std::size_t count) override { scale(data, count); }
    void all_reduce_sum(double* data, std::size_t count) override { scale(data, count); }
    void broadcast(void*, std::size_t, int) override {}
    void barrier() override {}
    [[noreturn]] void abort(int code) override { std::exit(code); }
    std::string describe() const override { return std::to_string(n_) + " replicated ranks (a test group)"; }

private:
    template <typename T>
    void scale(T* data, std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) data[i] *= T(n_);
    }
    int n_;
};

}  // namespace fbseg::distributed
