// examples/walkthrough/walkthrough.hpp - one 6x6 image followed through a conv, BatchNorm, ReLU,
// a 1x1 head and BCE, forward and backward, every intermediate kept (docs/walkthrough.md).
//
// The network (float64, batch of one image):
//
//   x [1, 1, 6, 6]  --conv 3x3, pad 1, no bias, W [2, 1, 3, 3]-->  Y [1, 2, 6, 6]
//     --BatchNorm (training, gamma 1, beta 0)-->  B  --ReLU-->  Z
//     --conv 1x1, Wh [1, 2, 1, 1], bh [1]-->  logits [1, 1, 6, 6]
//     --binary_cross_entropy_with_logits(logits, target), mean over 36 pixels-->  loss
//
// run_walkthrough() computes it three ways: with the library and autograd (the reference), by
// hand (im2col + one matrix product, and the backward formulas written out), and with plain
// loops (the definition of a convolution); format_walkthrough() is the text the doc quotes.
// tests/test_docs.cpp compares these numbers with PyTorch's (tools/walkthrough_reference.py).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace walkthrough {

using fbseg::Tensor;

constexpr std::int64_t kH = 6, kW = 6;  // the ellipse's size
constexpr std::int64_t kCout = 2;       // channels of the 3x3 conv
constexpr std::int64_t kK = 9;          // rows of col:    Cin * kh * kw = 1 * 3 * 3
constexpr std::int64_t kP = 36;         // columns of col for the ellipse: Ho * Wo = 6 * 6

/// The ellipse ((col - 2.5) / 2.6)^2 + ((row - 2.5) / 1.9)^2 <= 1: 1 inside, 0 outside.
inline std::vector<double> ellipse_6x6() {
    std::vector<double> v(kH * kW);
    for (std::int64_t i = 0; i < kH; ++i)
        for (std::int64_t j = 0; j < kW; ++j) {
            const double dx = (double(j) - 2.5) / 2.6, dy = (double(i) - 2.5) / 1.9;
            v[std::size_t(i * kW + j)] = dx * dx + dy * dy <= 1.0 ? 1.0 : 0.0;
        }
    return v;
}

/// The weights: channel 0 a blur, channel 1 a Laplacian (an edge detector); the head adds the
/// blur and subtracts half the edges.
inline std::vector<double> conv_weight() {
    return {0.1, 0.2, 0.1, 0.2, 0.4, 0.2, 0.1, 0.2, 0.1,  //
            0.0, -1.0, 0.0, -1.0, 4.0, -1.0, 0.0, -1.0, 0.0};
}
inline std::vector<double> head_weight() { return {1.0, -0.5}; }
inline double head_bias() { return 0.1; }

/// One image and its target mask, row-major [h, w] (values of x in any range, target 0 or 1).
struct Input {
    std::int64_t h = kH, w = kW;
    std::vector<double> x = ellipse_6x6(), target = ellipse_6x6();
};

/// Every number the walkthrough prints. Matrices are row-major std::vectors; P = h * w.
struct Result {
    std::int64_t h = kH, w = kW;
    std::vector<double> x;                 // [h*w] the image
    std::vector<double> target;            // [h*w] the target mask
    std::vector<double> col;               // [K=9, P] im2col of x
    std::vector<double> y;                 // [2, P] conv output, from conv2d
    std::vector<double> y_by_hand;         // [2, P] W [2, 9] @ col [9, P]
    std::vector<double> y_by_loops;        // [2, P] the seven-loop definition
    std::vector<double> mean, var, var_unbiased;  // [2] batch statistics of Y per channel
    std::vector<double> running_mean, running_var;  // [2] after one training step (momentum 0.1)
    std::vector<double> logits;            // [P]
    double loss = 0;
    std::vector<double> d_bn_out;          // [2, P] dL/dB (gradient at the BatchNorm output)
    std::vector<double> dy;                // [2, P] dL/dY from autograd
    std::vector<double> dy_by_hand;        // [2, P] BatchNorm's backward formula applied to dL/dB
    std::vector<double> dw;                // [2, 9] dL/dW from autograd
    std::vector<double> dw_by_hand;        // [2, 9] dY [2, P] @ col^T [P, 9]
    std::vector<double> dw_by_loops;       // [2, 9] the loop form of the weight gradient
    bool gradcheck_ok = false;
    double gradcheck_max_abs_error = 0;
};

inline std::vector<double> values_of(const Tensor& t) {
    const Tensor c = t.detach().contiguous();
    const double* p = c.data_ptr<double>();
    return std::vector<double>(p, p + c.numel());
}

inline fbseg::TensorOptions f64() { return fbseg::TensorOptions(fbseg::DType::Float64); }

/// conv -> BatchNorm -> ReLU -> head -> BCE from Y on (the part after the 3x3 conv).
inline Tensor loss_from_y(const Tensor& y, const Tensor& target, const Tensor& wh, const Tensor& bh,
                          Tensor running_mean = Tensor(), Tensor running_var = Tensor()) {
    const Tensor b = fbseg::batch_norm(y, running_mean, running_var, Tensor(), Tensor(), /*training=*/true);
    const Tensor logits = fbseg::conv2d(fbseg::relu(b), wh, bh);
    return fbseg::nn::binary_cross_entropy_with_logits(logits, target);
}

inline Result run_walkthrough(const Input& in = {}) {
    using namespace fbseg;
    Result r;
    const std::int64_t H = in.h, W = in.w, P = H * W;
    r.h = H, r.w = W;
    r.x = in.x;
    r.target = in.target;
    const Tensor x = from_vector<double>(r.x, {1, 1, H, W});
    const Tensor target = from_vector<double>(r.target, {1, 1, H, W});
    Tensor w = from_vector<double>(conv_weight(), {kCout, 1, 3, 3});
    w.set_requires_grad(true);
    const Tensor wh = from_vector<double>(head_weight(), {1, kCout, 1, 1});
    const Tensor bh = from_vector<double>({head_bias()}, {1});
    Tensor running_mean = zeros({kCout}, f64()), running_var = ones({kCout}, f64());

    // 1. The reference: the library's ops, autograd's gradients.
    const Tensor y = conv2d(x, w, Tensor(), Conv2dParams{.padding = {1, 1}});
    const Tensor b = batch_norm(y, running_mean, running_var, Tensor(), Tensor(), /*training=*/true);
    const Tensor logits = conv2d(relu(b), wh, bh);
    const Tensor loss = nn::binary_cross_entropy_with_logits(logits, target);
    loss.backward();
    r.y = values_of(y);
    r.logits = values_of(logits);
    r.loss = loss.item<double>();
    r.dw = values_of(w.grad());
    r.running_mean = values_of(running_mean);
    r.running_var = values_of(running_var);
    {  // dL/dY and dL/dB: restart the graph from a leaf at Y, and from one at B
        Tensor y_leaf = y.detach().clone();
        y_leaf.set_requires_grad(true);
        loss_from_y(y_leaf, target, wh, bh).backward();
        r.dy = values_of(y_leaf.grad());
        Tensor b_leaf = b.detach().clone();
        b_leaf.set_requires_grad(true);
        nn::binary_cross_entropy_with_logits(conv2d(relu(b_leaf), wh, bh), target).backward();
        r.d_bn_out = values_of(b_leaf.grad());
    }

    // 2. By hand. im2col: col[r, p] = x[oh - 1 + ki, ow - 1 + kj] (0 outside), r = ki*3 + kj, p = oh*W + ow.
    r.col.assign(kK * P, 0.0);
    for (std::int64_t ki = 0; ki < 3; ++ki)
        for (std::int64_t kj = 0; kj < 3; ++kj)
            for (std::int64_t oh = 0; oh < H; ++oh)
                for (std::int64_t ow = 0; ow < W; ++ow) {
                    const std::int64_t ih = oh - 1 + ki, iw = ow - 1 + kj;
                    if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                        r.col[std::size_t((ki * 3 + kj) * P + oh * W + ow)] = r.x[std::size_t(ih * W + iw)];
                }
    const Tensor col = from_vector<double>(r.col, {kK, P});
    const Tensor w_mat = w.detach().reshape({kCout, kK});
    r.y_by_hand = values_of(matmul(w_mat, col));  // Y [2, P] = W [2, 9] @ col [9, P]

    // Batch statistics over the M = P values of each channel; running estimates (momentum 0.1):
    //   running_mean = 0.9 * 0 + 0.1 * mean,  running_var = 0.9 * 1 + 0.1 * var * M / (M - 1)
    const double m = double(P);
    for (std::int64_t c = 0; c < kCout; ++c) {
        double s = 0, ss = 0;
        for (std::int64_t p = 0; p < P; ++p) s += r.y[std::size_t(c * P + p)];
        const double mu = s / m;
        for (std::int64_t p = 0; p < P; ++p) ss += (r.y[std::size_t(c * P + p)] - mu) * (r.y[std::size_t(c * P + p)] - mu);
        r.mean.push_back(mu);
        r.var.push_back(ss / m);
        r.var_unbiased.push_back(ss / (m - 1));
    }

    // BatchNorm's backward (gamma = 1), with g = dL/dB and xhat = (Y - mean) * invstd:
    //   dL/dY = (invstd / M) * (M * g - sum(g) - xhat * sum(g * xhat))
    r.dy_by_hand.assign(kCout * P, 0.0);
    for (std::int64_t c = 0; c < kCout; ++c) {
        const double invstd = 1.0 / std::sqrt(r.var[std::size_t(c)] + 1e-5);
        double sum_g = 0, sum_gx = 0;
        for (std::int64_t p = 0; p < P; ++p) {
            const std::size_t i = std::size_t(c * P + p);
            sum_g += r.d_bn_out[i];
            sum_gx += r.d_bn_out[i] * (r.y[i] - r.mean[std::size_t(c)]) * invstd;
        }
        for (std::int64_t p = 0; p < P; ++p) {
            const std::size_t i = std::size_t(c * P + p);
            const double xhat = (r.y[i] - r.mean[std::size_t(c)]) * invstd;
            r.dy_by_hand[i] = invstd / m * (m * r.d_bn_out[i] - sum_g - xhat * sum_gx);
        }
    }
    // The weight gradient: dW [2, 9] = dY [2, P] @ col^T [P, 9]
    r.dw_by_hand = values_of(matmul(from_vector<double>(r.dy, {kCout, P}), col.transpose(0, 1)));

    // 3. The check: central finite differences against autograd, for the image, W and the head.
    {
        Tensor xg = x.clone(), wg = w.detach().clone(), whg = wh.clone(), bhg = bh.clone();
        for (Tensor* t : {&xg, &wg, &whg, &bhg}) t->set_requires_grad(true);
        const GradcheckResult check = gradcheck(
            [&](const std::vector<Tensor>& in) {
                const Tensor yy = conv2d(in[0], in[1], Tensor(), Conv2dParams{.padding = {1, 1}});
                return loss_from_y(yy, target, in[2], in[3]);
            },
            {xg, wg, whg, bhg});
        r.gradcheck_ok = check.ok;
        r.gradcheck_max_abs_error = check.max_abs_error;
    }

    // 4. The loop: the definition of a convolution, seven nested loops
    //    y[n, co, oh, ow] = sum_{ci, ki, kj} w[co, ci, ki, kj] * x[n, ci, oh - 1 + ki, ow - 1 + kj]
    //    and the weight gradient, the same loops with the roles changed:
    //    dw[co, ci, ki, kj] = sum_{n, oh, ow} dy[n, co, oh, ow] * x[n, ci, oh - 1 + ki, ow - 1 + kj]
    const std::vector<double> wv = conv_weight();
    r.y_by_loops.assign(kCout * P, 0.0);
    r.dw_by_loops.assign(kCout * kK, 0.0);
    const std::int64_t n_images = 1, c_in = 1;
    for (std::int64_t n = 0; n < n_images; ++n)
        for (std::int64_t co = 0; co < kCout; ++co)
            for (std::int64_t oh = 0; oh < H; ++oh)
                for (std::int64_t ow = 0; ow < W; ++ow)
                    for (std::int64_t ci = 0; ci < c_in; ++ci)
                        for (std::int64_t ki = 0; ki < 3; ++ki)
                            for (std::int64_t kj = 0; kj < 3; ++kj) {
                                const std::int64_t ih = oh - 1 + ki, iw = ow - 1 + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // zero padding
                                const double xv = r.x[std::size_t(ih * W + iw)];
                                const std::size_t wi = std::size_t((co * c_in + ci) * 9 + ki * 3 + kj);
                                r.y_by_loops[std::size_t(co * P + oh * W + ow)] += wv[wi] * xv;
                                r.dw_by_loops[wi] += r.dy[std::size_t(co * P + oh * W + ow)] * xv;
                            }
    return r;
}

// ---- printing ----

/// printf into a std::string.
template <typename... Args>
void appendf(std::string& out, const char* fmt, Args... args) {
    char buf[256];
    const int n = std::snprintf(buf, sizeof buf, fmt, args...);
    out.append(buf, std::size_t(std::min(n, int(sizeof buf) - 1)));
}
inline void appendf(std::string& out, const char* text) { out += text; }

inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    double d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

/// Prints a rows x cols block, each value with printf format fmt. A "-0.0000" prints as "0.0000"
/// so that the output does not depend on the sign of a rounding to zero.
inline void print_matrix(std::string& out, const std::vector<double>& v, std::size_t offset, std::int64_t rows,
                         std::int64_t cols, const char* fmt, const char* indent = "  ") {
    char buf[64];
    for (std::int64_t i = 0; i < rows; ++i) {
        out += indent;
        for (std::int64_t j = 0; j < cols; ++j) {
            const double value = v[offset + std::size_t(i * cols + j)];
            std::snprintf(buf, sizeof buf, fmt, value);
            bool negative_zero = value < 0;  // printed as "-0.0000": print +0 instead
            for (const char* c = buf; *c && negative_zero; ++c) negative_zero = !(*c >= '1' && *c <= '9');
            if (negative_zero) std::snprintf(buf, sizeof buf, fmt, 0.0);
            out += buf;
        }
        out += '\n';
    }
}

/// The verdict of a comparison, in words, so that the printed text does not depend on the last
/// bits of a floating-point difference.
inline const char* agree(double diff) { return diff < 1e-12 ? "agree (max |difference| < 1e-12)" : "DIFFER"; }
/// The same for the larger images of format_summary: max |a - b| / max(1, max |b|) < 1e-10.
inline const char* agree_rel(const std::vector<double>& a, const std::vector<double>& b) {
    double scale = 1;
    for (double v : b) scale = std::max(scale, std::abs(v));
    return max_abs_diff(a, b) / scale < 1e-10 ? "agree (relative difference < 1e-10)" : "DIFFER";
}

/// The text docs/walkthrough.md quotes.
inline std::string format_walkthrough(const Result& r) {
    std::string out;
    appendf(out, "== 0. the image x [1, 1, 6, 6] (also the target mask) ==\n");
    print_matrix(out, r.x, 0, kH, kW, "%2.0f");
    appendf(out, "\n== 1. the reference: conv2d -> batch_norm -> relu -> 1x1 conv -> BCE ==\n");
    for (std::int64_t c = 0; c < kCout; ++c) {
        appendf(out, "Y channel %lld (%s)\n", (long long)c, c == 0 ? "blur" : "Laplacian");
        print_matrix(out, r.y, std::size_t(c * kP), kH, kW, "%8.4f");
    }
    appendf(out, "batch mean            %9.6f %9.6f\n", r.mean[0], r.mean[1]);
    appendf(out, "batch var (biased)    %9.6f %9.6f   normalises Y\n", r.var[0], r.var[1]);
    appendf(out, "var * M/(M-1), M = 36 %9.6f %9.6f   enters the running estimate\n", r.var_unbiased[0],
                 r.var_unbiased[1]);
    appendf(out, "running_mean          %9.6f %9.6f   = 0.9 * 0 + 0.1 * mean\n", r.running_mean[0],
                 r.running_mean[1]);
    appendf(out, "running_var           %9.6f %9.6f   = 0.9 * 1 + 0.1 * var * 36/35\n", r.running_var[0],
                 r.running_var[1]);
    appendf(out, "logits\n");
    print_matrix(out, r.logits, 0, kH, kW, "%8.4f");
    appendf(out, "loss (BCE, mean of 36) %.6f\n", r.loss);
    appendf(out, "dL/dY channel 0 (x 1000)\n");
    std::vector<double> dy_milli(r.dy);
    for (double& v : dy_milli) v *= 1000;
    print_matrix(out, dy_milli, 0, kH, kW, "%9.4f");
    appendf(out, "dL/dY channel 1 (x 1000)\n");
    print_matrix(out, dy_milli, std::size_t(kP), kH, kW, "%9.4f");
    for (std::int64_t c = 0; c < kCout; ++c) {
        appendf(out, "dL/dW[%lld, 0] from autograd\n", (long long)c);
        print_matrix(out, r.dw, std::size_t(c * kK), 3, 3, "%10.6f");
    }

    appendf(out, "\n== 2. by hand ==\n");
    appendf(out, "col [K = 9, P = 36]: row r = ki*3 + kj is x shifted by (ki - 1, kj - 1)\n");
    print_matrix(out, r.col, 0, kK, kP, "%2.0f", " ");
    appendf(out, "W [2, 9] @ col [9, 36] and conv2d: %s\n", agree(max_abs_diff(r.y, r.y_by_hand)));
    appendf(out, "BatchNorm backward (invstd/M)(M g - sum g - xhat sum(g xhat)) and autograd's dL/dY: %s\n",
                 agree(max_abs_diff(r.dy, r.dy_by_hand)));
    // One entry written out: dW[1, 0, 0, 1] = sum_p dY[1, p] * col[1, p]; col row 1 is x shifted
    // down by one row (ki = 0, kj = 1), so the terms are the pixels p whose upper neighbour is inside.
    appendf(out, "dW[1, 0, 0, 1] = sum_p dY[1, p] * col[1, p] = (x 1000)\n ");
    double sum = 0;
    int terms = 0;
    for (std::int64_t p = 0; p < kP; ++p) {
        const double c = r.col[std::size_t(1 * kP + p)];
        if (c == 0.0) continue;
        const double v = r.dy[std::size_t(1 * kP + p)];
        sum += v * c;
        appendf(out, "%s%.4f", terms == 0 ? " " : (v < 0 ? " - " : " + "), terms == 0 ? v * 1000 : std::abs(v) * 1000);
        if (++terms % 6 == 0 && p + 1 < kP) appendf(out, "\n ");
    }
    appendf(out, "\n  = %.6f   (%d terms; autograd: %.6f)\n", sum, terms, r.dw[1 * kK + 1]);
    appendf(out, "dY [2, 36] @ col^T [36, 9] and autograd's dL/dW: %s\n", agree(max_abs_diff(r.dw, r.dw_by_hand)));

    appendf(out, "\n== 3. the check ==\n");
    appendf(out, "gradcheck (central differences, float64) on x, W, the head's weight and bias: %s\n",
                 r.gradcheck_ok ? "ok" : "FAILED");

    appendf(out, "\n== 4. the loop ==\n");
    appendf(out, "seven nested loops and conv2d: %s\n", agree(max_abs_diff(r.y, r.y_by_loops)));
    appendf(out, "the same loops for dL/dW and autograd: %s\n", agree(max_abs_diff(r.dw, r.dw_by_loops)));
    return out;
}

// ---- the same network on a real image ----

/// An image [H, W] (row-major, float) and its mask, averaged down to size x size: the image by
/// area averaging (adaptive_avg_pool2d), the mask by majority (the average of a 0/1 mask >= 0.5).
inline Input downsample(const fbseg::Tensor& image_hw, const fbseg::Tensor& mask_hw, std::int64_t size) {
    using namespace fbseg;
    const Tensor img = adaptive_avg_pool2d(image_hw.to(DType::Float64).unsqueeze(0).unsqueeze(0), {size, size});
    const Tensor msk = adaptive_avg_pool2d(mask_hw.to(DType::Float64).unsqueeze(0).unsqueeze(0), {size, size});
    Input in;
    in.h = in.w = size;
    in.x = values_of(img);
    in.target = values_of(ge(msk, 0.5).to(DType::Float64));
    return in;
}

/// The ultrasound phantom's frame for seed 0 (data/phantom/ultrasound.hpp, 540 x 800, the head
/// filled in its label), averaged down to size x size.
inline Input phantom_input(std::int64_t size) {
    using namespace fbseg;
    data::Rng rng = data::Rng::for_sample(0, 0, 0);
    const data::Sample s = data::phantom::make_us_image(data::phantom::UsPhantomOptions{}, rng);
    return downsample(s.image.select(0, 0), gt(s.label, 0.0), size);
}

/// A PNG/JPEG/BMP file (its first channel, in [0, 1]) and a mask file (nonzero = foreground; without
/// one, the pixels brighter than the image's mean), averaged down to size x size.
inline Input png_input(const std::string& image_path, const std::string& mask_path, std::int64_t size) {
    using namespace fbseg;
    const Tensor image = data::read_image(image_path).select(0, 0);
    const Tensor mask = mask_path.empty() ? gt(image, mean(image).item<double>()) : gt(data::read_mask_values(mask_path), 0.0);
    return downsample(image, mask, size);
}

/// What the walkthrough prints for a larger image: the sizes, the statistics, the loss, dL/dW,
/// the one dW entry by hand, and the four verdicts.
inline std::string format_summary(const Result& r, const std::string& what) {
    std::string out;
    const std::int64_t P = r.h * r.w;
    appendf(out, "== the same network on %s ==\n", what.c_str());
    double fg = 0;
    for (double t : r.target) fg += t;
    appendf(out, "x [1, 1, %lld, %lld], target: %.0f of %lld pixels foreground\n", (long long)r.h, (long long)r.w, fg,
            (long long)P);
    appendf(out, "col [K = 9, P = %lld]: %lld values (%.1f KB in float64)\n", (long long)P, (long long)(9 * P),
            double(9 * P * 8) / 1e3);
    appendf(out, "batch mean            %9.6f %9.6f\n", r.mean[0], r.mean[1]);
    appendf(out, "batch var (biased)    %9.6f %9.6f\n", r.var[0], r.var[1]);
    appendf(out, "var * M/(M-1), M = %lld %9.6f %9.6f   (factor %.6f)\n", (long long)P, r.var_unbiased[0],
            r.var_unbiased[1], double(P) / double(P - 1));
    appendf(out, "loss (BCE, mean of %lld) %.6f\n", (long long)P, r.loss);
    for (std::int64_t c = 0; c < kCout; ++c) {
        appendf(out, "dL/dW[%lld, 0] from autograd\n", (long long)c);
        print_matrix(out, r.dw, std::size_t(c * kK), 3, 3, "%10.6f");
    }
    double sum = 0;
    int terms = 0;
    for (std::int64_t p = 0; p < P; ++p) {
        const double c = r.col[std::size_t(1 * P + p)];
        sum += r.dy[std::size_t(1 * P + p)] * c;
        terms += c != 0.0;
    }
    appendf(out, "dW[1, 0, 0, 1] = sum_p dY[1, p] * col[1, p] = %.6f (%d nonzero terms; autograd: %.6f)\n", sum, terms,
            r.dw[1 * kK + 1]);
    appendf(out, "W @ col and conv2d: %s\n", agree_rel(r.y_by_hand, r.y));
    appendf(out, "BatchNorm backward formula and autograd's dL/dY: %s\n", agree_rel(r.dy_by_hand, r.dy));
    appendf(out, "dY @ col^T and autograd's dL/dW: %s\n", agree_rel(r.dw_by_hand, r.dw));
    appendf(out, "gradcheck on x, W, the head's weight and bias: %s\n", r.gradcheck_ok ? "ok" : "FAILED");
    appendf(out, "seven nested loops and conv2d: %s; for dL/dW: %s\n", agree_rel(r.y_by_loops, r.y),
            agree_rel(r.dw_by_loops, r.dw));
    return out;
}

}  // namespace walkthrough
