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
    /// "single process", "MPI (Open MPI 4.1.4), 2 ranks", ... for logs.
    virtual std::string describe() const = 0;
    bool is_root() const { return rank() == 0; }
};

/// The group of one process: rank 0 of 1; nothing to exchange.
class SingleProcess final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    void all_reduce_sum(float*, std::size_t) override {}
    void all_reduce_sum(double*, std::size_t) override {}
    void broadcast(void*, std::size_t, int) override {}
    void barrier() override {}
    std::string describe() const override { return "single process"; }
};

}  // namespace fbseg::distributed
