// fbseg/distributed/nccl.hpp - distributed::Communicator on NCCL, for data-parallel training
// with one rank per GPU (docs/scaling.md). NCCL sums GPU memory directly: gradients and
// BatchNorm's sums never leave the GPU (all_reduce_sum_device). Its ranks are started and
// bootstrapped by a host group (MPI): rank 0 makes NCCL's unique id and the host group
// broadcasts it; the host group also carries broadcasts, barriers and aborts.
//
// Only programs that include this header need NCCL and the CUDA runtime (link nccl and
// CUDA::cudart). NCCL's collectives run on the legacy default stream, the stream fbseg's kernels
// use, so each all-reduce is ordered after the kernels that wrote its input and before those
// that read its output. Compiled in CI; run only where a machine has several GPUs.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "fbseg/core/error.hpp"
#include "fbseg/distributed/communicator.hpp"

namespace fbseg::distributed {

namespace nccl_detail {
inline void check(ncclResult_t code, const char* call) {
    FBSEG_CHECK(code == ncclSuccess, "NCCL: ", call, " failed: ", ncclGetErrorString(code));
}
inline void check(cudaError_t code, const char* call) {
    FBSEG_CHECK(code == cudaSuccess, "CUDA: ", call, " failed: ", cudaGetErrorString(code));
}
}  // namespace nccl_detail

class NcclCommunicator final : public Communicator {
public:
    /// Ranks of `host` (every rank calls this, with its own GPU `device`).
    NcclCommunicator(std::unique_ptr<Communicator> host, int device) : host_(std::move(host)), device_(device) {
        nccl_detail::check(cudaSetDevice(device_), "cudaSetDevice");
        ncclUniqueId id;
        if (host_->is_root()) nccl_detail::check(ncclGetUniqueId(&id), "ncclGetUniqueId");
        host_->broadcast(&id, sizeof id, 0);
        nccl_detail::check(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
    }
    ~NcclCommunicator() override {
        if (scratch_ != nullptr) cudaFree(scratch_);
        if (comm_ != nullptr) ncclCommDestroy(comm_);
    }
    NcclCommunicator(const NcclCommunicator&) = delete;
    NcclCommunicator& operator=(const NcclCommunicator&) = delete;

    int rank() const override { return host_->rank(); }
    int size() const override { return host_->size(); }
    int device() const { return device_; }

    bool reduces_on_device() const override { return true; }
    bool all_reduce_sum_device(void* data, std::size_t count, bool is_double) override {
        if (count == 0) return true;
        nccl_detail::check(ncclAllReduce(data, data, count, is_double ? ncclDouble : ncclFloat, ncclSum, comm_,
                                         cudaStreamLegacy),
                           "ncclAllReduce");
        return true;
    }
    // host arrays (counts, a loss value, validation sums): through a GPU scratch buffer
    void all_reduce_sum(float* data, std::size_t count) override { host_all_reduce(data, count, false); }
    void all_reduce_sum(double* data, std::size_t count) override { host_all_reduce(data, count, true); }
    void broadcast(void* data, std::size_t bytes, int root) override { host_->broadcast(data, bytes, root); }
    void barrier() override { host_->barrier(); }
    [[noreturn]] void abort(int code) override {
        if (comm_ != nullptr) ncclCommAbort(comm_);
        host_->abort(code);
        std::exit(code);  // not reached: the host group's abort ends the process
    }
    std::string describe() const override {
        int version = 0;
        ncclGetVersion(&version);
        return "NCCL " + std::to_string(version) + ", " + std::to_string(size()) + " GPUs (this rank: cuda:" +
               std::to_string(device_) + "; started by " + host_->describe() + ")";
    }

private:
    void host_all_reduce(void* data, std::size_t count, bool is_double) {
        const std::size_t bytes = count * (is_double ? sizeof(double) : sizeof(float));
        if (bytes > scratch_bytes_) {
            if (scratch_ != nullptr) nccl_detail::check(cudaFree(scratch_), "cudaFree");
            scratch_ = nullptr;
            nccl_detail::check(cudaMalloc(&scratch_, bytes), "cudaMalloc");
            scratch_bytes_ = bytes;
        }
        nccl_detail::check(cudaMemcpy(scratch_, data, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
        all_reduce_sum_device(scratch_, count, is_double);
        nccl_detail::check(cudaMemcpy(data, scratch_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");  // waits
    }

    std::unique_ptr<Communicator> host_;
    int device_ = 0;
    ncclComm_t comm_ = nullptr;
    void* scratch_ = nullptr;
    std::size_t scratch_bytes_ = 0;
};

}  // namespace fbseg::distributed
