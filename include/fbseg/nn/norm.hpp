// fbseg/nn/norm.hpp - BatchNorm2d (torch::nn::BatchNorm2d).
//
// Per channel c of an NCHW input, over the N*H*W values of that channel:
//     y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
// In training mode mean and var are the batch statistics (biased var), and the running estimates
// are updated in place with momentum m:  running = (1 - m) running + m batch  (the running var
// uses the unbiased batch variance, as PyTorch). In eval mode the running estimates are used.
//
// State, with PyTorch's names and order: parameters weight [C] (init 1) and bias [C] (init 0)
// when affine; buffers running_mean [C] (0), running_var [C] (1) and num_batches_tracked
// (int64 scalar, counts training batches) when track_running_stats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fbseg/core/key_function.hpp"
#include "fbseg/nn/check.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/distributed/sync_batch_norm.hpp"
#include "fbseg/ops/batch_norm.hpp"

namespace fbseg::nn {

struct BatchNorm2dOptions {
    explicit BatchNorm2dOptions(std::int64_t num_features) : num_features_(num_features) {}

    BatchNorm2dOptions& eps(double v) { eps_ = v; return *this; }
    /// The running-average factor; std::nullopt means a cumulative average (1 / batches seen).
    BatchNorm2dOptions& momentum(std::optional<double> v) { momentum_ = v; return *this; }
    BatchNorm2dOptions& affine(bool v) { affine_ = v; return *this; }
    BatchNorm2dOptions& track_running_stats(bool v) { track_running_stats_ = v; return *this; }

    std::int64_t num_features_;
    double eps_ = 1e-5;
    std::optional<double> momentum_ = 0.1;
    bool affine_ = true;
    bool track_running_stats_ = true;
};

class BatchNorm2d : public UnaryModule {
public:
    FBSEG_KEY_FUNCTION(BatchNorm2d)
    explicit BatchNorm2d(const BatchNorm2dOptions& opts) : UnaryModule("BatchNorm2d"), options(opts) {
        const std::int64_t c = options.num_features_;
        FBSEG_CHECK(c > 0, describe(), ": num_features must be positive");
        FBSEG_CHECK(options.eps_ > 0, describe(), ": eps must be positive");
        weight = register_parameter("weight", options.affine_ ? empty({c}) : Tensor());
        bias = register_parameter("bias", options.affine_ ? empty({c}) : Tensor());
        if (options.track_running_stats_) {
            running_mean = register_buffer("running_mean", zeros({c}));
            running_var = register_buffer("running_var", ones({c}));
            num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, TensorOptions(DType::Int64)));
        } else {
            running_mean = register_buffer("running_mean", Tensor());
            running_var = register_buffer("running_var", Tensor());
            num_batches_tracked = register_buffer("num_batches_tracked", Tensor());
        }
        reset_parameters();
    }
    explicit BatchNorm2d(std::int64_t num_features) : BatchNorm2d(BatchNorm2dOptions(num_features)) {}

    /// Running statistics back to mean 0, var 1, no batches seen.
    void reset_running_stats() {
        if (!options.track_running_stats_) return;
        NoGradGuard no_grad;
        running_mean.zero_();
        running_var.fill_(1.0);
        num_batches_tracked.zero_();
    }

    void reset_parameters() override {
        reset_running_stats();
        if (options.affine_) {
            init::ones_(weight);
            init::zeros_(bias);
        }
    }

    Tensor forward(const Tensor& input) override {
        layer_detail::check_nchw_input([this] { return describe(); }, input, options.num_features_);
        double factor = 0.0;
        if (is_training() && options.track_running_stats_) {
            NoGradGuard no_grad;
            add_(num_batches_tracked, 1.0);  // in place, on the buffer's device: no host round trip
            // Only a cumulative average (momentum None) needs the count on the host, which on a
            // GPU is a synchronisation; a fixed momentum never reads it.
            factor = options.momentum_ ? *options.momentum_ : 1.0 / double(num_batches_tracked.item<std::int64_t>());
        }
        // Training: batch statistics, and the running ones (if tracked) are updated with `factor`;
        // with a sync_group, the statistics of the whole batch over its ranks (data parallel).
        // Eval: the running statistics, or the batch ones when they are not tracked (undefined).
        if (is_training() && sync_group != nullptr)
            return distributed::sync_batch_norm(input, running_mean, running_var, weight, bias, factor, options.eps_,
                                                *sync_group);
        return batch_norm(input, running_mean, running_var, weight, bias, is_training(), factor, options.eps_);
    }

    /// "BatchNorm2d(64, eps=1e-05, momentum=0.1)".
    std::string describe() const {
        return fbseg::detail::str("BatchNorm2d(", options.num_features_, ", eps=", options.eps_, ", momentum=",
                                  options.momentum_ ? std::to_string(*options.momentum_) : std::string("None"),
                                  options.affine_ ? "" : ", affine=false",
                                  options.track_running_stats_ ? "" : ", track_running_stats=false", ")");
    }

    BatchNorm2dOptions options;
    Tensor weight, bias;
    Tensor running_mean, running_var, num_batches_tracked;
    /// Data parallel: the ranks whose batches together are the batch (distributed/data_parallel.hpp's
    /// convert_sync_batchnorm sets it); nullptr: this process's batch alone.
    distributed::Communicator* sync_group = nullptr;
};

}  // namespace fbseg::nn
