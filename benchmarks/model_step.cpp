// fbseg_model_step: times one model's training step (forward, BCE + Dice loss, backward, AdamW
// update) or inference (eval mode, no grad) and prints one JSON line with the median time and the
// process's peak resident memory. benchmarks/compare_pytorch.py runs it beside the same step in
// PyTorch; Google Benchmark's suites are in bench_*.cpp. Built a second time with the CUDA
// kernels as fbseg_model_step_cuda (benchmarks/gpu/), which takes --device cuda and reports the
// caching allocator's peak too (benchmarks/compare_pytorch_cuda.py).
//
//   fbseg_model_step --model resnet34-unet --in-channels 3 --batch 8 --size 256 --mode train --steps 3
// Inference folds each batch norm into its convolution (nn/fusion.hpp); --fusion off runs the
// modules one by one, and --fusion ab alternates the two step by step in this one process (the
// only comparison a noisy machine does not bias) and adds the unfused median, median_off_s.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

using namespace fbseg;

namespace {

/// Peak resident set size of this process in MiB (VmHWM in /proc/self/status), 0 if unknown.
double peak_rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    return 0.0;
}

std::shared_ptr<nn::UnaryModule> build(const std::string& name, std::int64_t in_channels) {
    if (name == "unet")  // the benchmark's classic UNet: base width 32, depth 4
        return std::make_shared<models::UNet>(models::UNetOptions().in_channels(in_channels).depth(4).base_channels(32));
    return models::make_model(name, in_channels, 1);
}

}  // namespace

int main(int argc, char** argv) {
    std::string model = "unet", mode = "train", device_name = "cpu";
    std::int64_t batch = 8, size = 256, in_channels = 1;
    int steps = 3, warmup = 1;
    bool alternate_fusion = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        if (!value) {
            std::cerr << "missing value after " << arg << "\n";
            return 2;
        }
        ++i;
        if (arg == "--model") model = value;
        else if (arg == "--mode") mode = value;
        else if (arg == "--batch") batch = std::atoll(value);
        else if (arg == "--size") size = std::atoll(value);
        else if (arg == "--in-channels") in_channels = std::atoll(value);
        else if (arg == "--steps") steps = std::atoi(value);
        else if (arg == "--warmup") warmup = std::atoi(value);
        else if (arg == "--threads") set_num_threads(std::atoi(value));
        else if (arg == "--device") device_name = value;
        else if (arg == "--fusion" &&
                 (std::strcmp(value, "on") == 0 || std::strcmp(value, "off") == 0 || std::strcmp(value, "ab") == 0)) {
            alternate_fusion = std::strcmp(value, "ab") == 0;
            nn::set_inference_fusion(std::strcmp(value, "off") != 0);
        } else {
            std::cerr << "usage: fbseg_model_step [--model M] [--mode train|infer] [--batch B] [--size S] "
                         "[--in-channels C] [--steps N] [--warmup N] [--threads T] [--device cpu|cuda] [--fusion "
                         "on|off|ab]\n";
            return 2;
        }
    }
    try {
        if (device_name != "cpu" && device_name != "cuda") {
            std::cerr << "fbseg_model_step: --device must be cpu or cuda, got " << device_name << "\n";
            return 2;
        }
        const Device device = device_name == "cuda" ? cuda_device(0) : kCPU;
        if (device.is_cuda() && !cuda_is_available()) {
            std::cerr << "fbseg_model_step: --device cuda, but no CUDA device is available (skipped)\n";
            return 77;
        }
        if (alternate_fusion && (steps < 2 || warmup < 2 || mode != "infer")) {
            std::cerr << "fbseg_model_step: --fusion ab needs --mode infer, --steps >= 2 and --warmup >= 2 (each side "
                         "warmed up once)\n";
            return 2;
        }
        manual_seed(0);
        auto net = build(model, in_channels);
        net->to(device);  // before the optimizer, so that its state is made on the device
        const Tensor images = randn({batch, in_channels, size, size}).to(device);
        const Tensor masks = gt(rand({batch, 1, size, size}), 0.5).to(DType::Float32).to(device);
        std::vector<Tensor> params;
        for (auto& [name, p] : net->named_parameters()) params.push_back(p);
        optim::AdamW optimizer(params, optim::AdamWOptions{});

        std::vector<double> seconds, seconds_off;  // seconds_off: --fusion ab's unfused steps
        for (int s = 0; s < warmup + steps; ++s) {
            if (alternate_fusion) nn::set_inference_fusion(s % 2 == 0);
            const auto start = std::chrono::steady_clock::now();
            if (mode == "train") {
                net->train();
                optimizer.zero_grad();
                const Tensor loss = nn::bce_dice_loss(net->forward(images), masks);
                loss.backward();
                optimizer.step();
            } else {
                net->eval();
                NoGradGuard no_grad;
                const Tensor logits = net->forward(images);
                (void)logits;
            }
            synchronize(device);  // CUDA kernels run asynchronously: wait for the step's last one
            const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (s >= warmup) (alternate_fusion && s % 2 == 1 ? seconds_off : seconds).push_back(t);
        }
        if (alternate_fusion) nn::set_inference_fusion(true);
        std::sort(seconds.begin(), seconds.end());
        std::sort(seconds_off.begin(), seconds_off.end());
        std::cout << "{\"framework\": \"fbseg\", \"model\": \"" << model << "\", \"mode\": \"" << mode
                  << "\", \"fusion\": " << (nn::inference_fusion_enabled() ? "true" : "false") << ", \"device\": \""
                  << device_name << "\", \"isa\": \"" << cpu::kernel_isa() << "\", \"threads\": " << num_threads()
                  << ", \"batch\": " << batch << ", \"size\": " << size
                  << ", \"median_s\": " << seconds[seconds.size() / 2];
        if (!seconds_off.empty()) std::cout << ", \"median_off_s\": " << seconds_off[seconds_off.size() / 2];
        std::cout << ", \"peak_rss_mib\": " << peak_rss_mib() << ", \"peak_gpu_mib\": "
                  << (device.is_cuda() ? double(cuda_memory_stats(device).peak_allocated_bytes) / (1 << 20) : 0.0)
                  << "}" << std::endl;
    } catch (const fbseg::Error& e) {
        std::cerr << "fbseg_model_step: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
