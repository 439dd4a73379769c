// examples/walkthrough/step_memory.cpp - where the memory of a training step goes: the bytes the
// autograd graph keeps alive after the forward (what the ops saved), compared with a count made
// from docs/autograd.md's table of what each op saves; and what is left after backward.
//
// The classic UNet (defaults: base 32, depth 4, batch norm) on N images of 256 x 256, float32,
// BCE + Dice. Heap bytes in use come from glibc's mallinfo2() (every allocation, large ones
// through mmap included), the peak from getrusage's maximum resident set size.
//
//   fbseg_step_memory [--batch N] [--threads T]
#include <malloc.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "fbseg/fbseg.hpp"

namespace {

double heap_mb() {
    const struct mallinfo2 m = mallinfo2();
    return double(m.uordblks + m.hblkhd) / 1e6;  // small blocks in use + mmapped blocks
}

double peak_rss_mb() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return double(r.ru_maxrss) * 1024 / 1e6;  // ru_maxrss is in KiB on Linux
}

/// The bytes the graph of the classic UNet keeps after the forward, counted from the table of
/// docs/autograd.md (float32, 4 bytes; max pooling's indices int64, 8 bytes). Level l has
/// C = 32 * 2^l channels at S = 256 / 2^l, e = N * C * S * S elements:
///   encoder level: conv1's input (the pool output, or the image), the outputs of conv1 and conv2
///     (saved by BatchNorm) and of both ReLUs (saved by the ReLUs, and the second conv and the
///     pooling/up-convolution read them from there): 4e floats; max pooling: e/4 int64 indices
///     and its output, e/4 floats (saved by the next conv1);
///   decoder level: the concatenation [N, 2C, S, S] (saved by conv1; the up-convolution's output is
///     not saved by cat and dies), then the same 4e floats;
///   the head saves the last ReLU's output (already counted); the loss is not counted (a few
///   [N, 1, S, S] tensors).
double predicted_graph_mb(std::int64_t n) {
    double bytes = 4.0 * double(n) * 256 * 256;  // the image, saved by encoder.0's first conv
    for (int l = 0; l <= 4; ++l) {
        const double e = double(n) * (32 << l) * double(256 >> l) * double(256 >> l);
        bytes += 4 * 4 * e;                                    // conv1 out, relu1 out, conv2 out, relu2 out
        if (l < 4) bytes += 8 * e / 4 + 4 * e / 4;             // pool indices + pool output
        if (l < 4) bytes += 4 * 2 * e + 4 * 4 * e;             // decoder at this level: cat + 4 tensors
    }
    return bytes / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t n = 2;
    for (int i = 1; i + 1 < argc; ++i) {
        if (!std::strcmp(argv[i], "--batch")) n = std::atoll(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads")) fbseg::set_num_threads(std::atoi(argv[++i]));
    }
    using namespace fbseg;
    manual_seed(0);
    auto model = std::make_shared<models::UNet>();
    model->train();
    std::int64_t params = 0;
    for (const Tensor& p : model->parameters()) params += p.numel();
    const Tensor images = randn({n, 1, 256, 256});
    const Tensor masks = gt(randn({n, 1, 256, 256}), 0.0).to(DType::Float32);
    {  // a first step, so that the pool's scratch buffers and the gradients exist before measuring
        Tensor loss = nn::bce_dice_loss(model->forward(images), masks);
        loss.backward();
    }
    for (Tensor& p : model->parameters()) p.zero_grad();
    const double base = heap_mb();
    Tensor loss = nn::bce_dice_loss(model->forward(images), masks);
    const double after_forward = heap_mb();
    const double rss_forward = peak_rss_mb();
    loss.backward();
    const double after_backward = heap_mb();
    const double rss_backward = peak_rss_mb();
    loss = Tensor();
    const double after_release = heap_mb();

    std::printf("classic UNet (%lld parameters, %.1f MB), batch %lld x 1 x 256 x 256, float32\n", (long long)params,
                double(params) * 4 / 1e6, (long long)n);
    std::printf("heap in use before the step (model, inputs, scratch): %8.1f MB\n", base);
    std::printf("after the forward, graph alive:                       %8.1f MB  (+%.1f MB)\n", after_forward,
                after_forward - base);
    std::printf("  counted from docs/autograd.md's table of saved tensors:   %.1f MB\n", predicted_graph_mb(n));
    std::printf("after backward (saved tensors freed, gradients kept): %8.1f MB  (+%.1f MB; the gradients are %.1f MB)\n",
                after_backward, after_backward - base, double(params) * 4 / 1e6);
    std::printf("after the loss tensor is dropped (graph freed):       %8.1f MB\n", after_release);
    std::printf("peak resident set size: %.1f MB after the forward, %.1f MB after backward\n", rss_forward,
                rss_backward);
    return 0;
}
