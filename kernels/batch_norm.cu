// kernels/batch_norm.cu - batch normalisation: forward (training and eval), the running-statistics
// update, and backward.
//
// The math, for channel k of x (n, c, s) with M = n s values per channel:
//   training:  mean_k = (1/M) sum x,   var_k = (1/M) sum (x - mean_k)^2   (biased, for normalising)
//              var_unbiased_k = var_k M / (M - 1)                          (for the running estimate)
//   both:      invstd_k = 1 / sqrt(var_k + eps)   (eval: from the running variance, given)
//              y = (x - mean_k) gamma_k invstd_k + beta_k
//   backward, with xhat = (x - mean_k) invstd_k:
//              gw_k = sum dy xhat,   gb_k = sum dy
//              training: gx = gamma_k invstd_k (dy - sum dy / M - xhat sum(dy xhat) / M)
//              eval:     gx = gamma_k invstd_k dy
//
// CPU reference: fbseg::cpu::batch_norm_forward / batch_norm_update_running_stats /
// batch_norm_backward in include/fbseg/ops/cpu/batch_norm.hpp. Its statistics loop, per channel k:
//   const double shift = double(x[k * s]);        // the channel's first value
//   double s1 = 0, s2 = 0;
//   for (i < n) for (j < s) { const double d = double(x[(i * c + k) * s + j]) - shift;
//                             s1 += d; s2 += d * d; }
//   md = s1 / M;  var = max(0, s2 / M - md * md);
//   mean = shift + md;  invstd = 1 / sqrt(var + eps);  var_unbiased = var * M / (M - 1);
// then y = (x - T(mean)) * T(gamma invstd) + T(beta) in the tensor's type T.
//
// Every kernel here sums in double, as the CPU does. The shift (the channel's first value) keeps
// s2 / M - md^2 accurate when |mean| >> std. The per-channel sums are formed in a fixed order
// (fixed partition of the values among threads and blocks, a fixed tree in shared memory, and
// the block partials added in block order), so results are deterministic: the same bits on every
// run on a given GPU. They differ from the CPU's serial sums only by double rounding.
//
// Versions of the statistics pass (batch_norm_forward and batch_norm_backward):
//   v1: one block per channel; each thread walks the channel's M values with a flat index
//       (a division per value to find the image), then a tree reduction in shared memory.
//       Plain and obviously correct; slow when there are few channels (32 blocks leave most of an
//       H200's 132 SMs idle) or many values per channel.
//   v2: G blocks per channel (G chosen so that the whole grid fills the GPU a few times), each
//       summing one contiguous chunk of the channel's values row by row (no division per value),
//       its (s1, s2) written to a workspace [c, G]; a second tiny kernel adds each channel's G
//       partials in block order. Because every block uses the same shift (the channel's first
//       value), the partial shifted sums simply add up: this is the CPU's method split in
//       pieces, and it needs neither Welford's update nor Chan's merge of (count, mean, M2),
//       which are only needed when each piece is centred on its own mean.
// The elementwise pass (normalise, or the gx of backward) is the same for both versions: one
// block per (image, channel) row when rows are long (s >= 256: the channel's coefficients are
// read once per row, no division per element), else a flat grid-stride loop.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "install.cuh"
#include "norm_support.cuh"

namespace fbseg::cuda {
namespace {

using norm_detail::ceil_div;
using norm_detail::first_index;
using norm_detail::grid_size;
using norm_detail::grid_stride;
using norm_detail::Scratch;

constexpr int kStatThreads = 256;   // threads per block of the statistics kernels (a power of 2)
constexpr std::int64_t kRowThreshold = 256;  // s from which the elementwise pass goes row by row
constexpr std::int64_t kMinChunk = 4096;     // v2: fewest values per block

/// Tree reduction of two doubles per thread over a block of kStatThreads threads, in a fixed
/// order; the result is valid in thread 0.
__device__ inline void block_sum2(double& a, double& b, double* sa, double* sb) {
    const int t = int(threadIdx.x);
    sa[t] = a;
    sb[t] = b;
    __syncthreads();
    for (int stride = kStatThreads / 2; stride > 0; stride >>= 1) {
        if (t < stride) {
            sa[t] += sa[t + stride];
            sb[t] += sb[t + stride];
        }
        __syncthreads();
    }
    a = sa[0];
    b = sb[0];
}

/// The two per-value terms summed by the statistics pass.
///   forward (kGrad false): d = x - shift;  (d, d^2),  shift = x[k s] (the channel's first value)
///   backward (kGrad true): (dy, dy (x - mean_k))
template <typename T, bool kGrad>
__device__ inline void add_terms(const T* x, const T* gy, std::int64_t at, double center, double& a, double& b) {
    if constexpr (kGrad) {
        const double d = double(gy[at]);
        a += d;
        b += d * (double(x[at]) - center);
    } else {
        const double d = double(x[at]) - center;
        a += d;
        b += d * d;
    }
}

template <typename T, bool kGrad>
__device__ inline double channel_center(const T* x, const double* mean, std::int64_t k, std::int64_t s) {
    if constexpr (kGrad) {
        return mean[k];
    } else {
        (void)mean;
        return double(x[k * s]);
    }
}

// v1 statistics: block k sums the terms over channel k's M = n s values; thread t takes values
// t, t + 256, ... of the channel in (image, position) order. partial[k] = (sum a, sum b).
//   x, gy: (n, c, s) contiguous (gy only when kGrad); mean: (c,) doubles (only when kGrad)
template <typename T, bool kGrad>
__global__ void channel_sums_v1(const T* x, const T* gy, const double* mean, double* partial, std::int64_t n,
                                std::int64_t c, std::int64_t s) {
    __shared__ double sa[kStatThreads], sb[kStatThreads];
    const std::int64_t k = blockIdx.x;
    const std::int64_t m = n * s;
    const double center = channel_center<T, kGrad>(x, mean, k, s);
    double a = 0, b = 0;
    for (std::int64_t e = threadIdx.x; e < m; e += kStatThreads) {
        const std::int64_t i = e / s, j = e - i * s;
        add_terms<T, kGrad>(x, gy, (i * c + k) * s + j, center, a, b);
    }
    block_sum2(a, b, sa, sb);
    if (threadIdx.x == 0) {
        partial[2 * k] = a;
        partial[2 * k + 1] = b;
    }
}

// v2 statistics: block (k, g) of groups blocks per channel (blockIdx.x = k groups + g) sums the
// values [g chunk, (g + 1) chunk) of channel k (in (image, position) order), walking them row by
// row: for each image i in the chunk, the threads stride over the positions j of that row, so
// neighbouring threads read neighbouring addresses and no value needs a division.
// partial[(k groups + g)] = (sum a, sum b).
template <typename T, bool kGrad>
__global__ void channel_sums_v2(const T* x, const T* gy, const double* mean, double* partial, std::int64_t n,
                                std::int64_t c, std::int64_t s, std::int64_t groups, std::int64_t chunk) {
    __shared__ double sa[kStatThreads], sb[kStatThreads];
    const std::int64_t k = std::int64_t(blockIdx.x) / groups, g = std::int64_t(blockIdx.x) - k * groups;
    const std::int64_t m = n * s;
    const std::int64_t e0 = g * chunk, e1 = min(m, e0 + chunk);
    const double center = channel_center<T, kGrad>(x, mean, k, s);
    double a = 0, b = 0;
    if (e0 < e1) {
        for (std::int64_t i = e0 / s; i <= (e1 - 1) / s; ++i) {
            const std::int64_t j0 = max(e0 - i * s, std::int64_t(0)), j1 = min(e1 - i * s, s);
            const std::int64_t row = (i * c + k) * s;
            for (std::int64_t j = j0 + threadIdx.x; j < j1; j += kStatThreads) add_terms<T, kGrad>(x, gy, row + j, center, a, b);
        }
    }
    block_sum2(a, b, sa, sb);
    if (threadIdx.x == 0) {
        partial[2 * blockIdx.x] = a;
        partial[2 * blockIdx.x + 1] = b;
    }
}

/// Adds channel k's `groups` partials in block order.
__device__ inline void sum_partials(const double* partial, std::int64_t k, std::int64_t groups, double& a, double& b) {
    a = 0;
    b = 0;
    for (std::int64_t g = 0; g < groups; ++g) {
        a += partial[2 * (k * groups + g)];
        b += partial[2 * (k * groups + g) + 1];
    }
}

// Forward finish, one thread per channel: the CPU's formulas from the shifted sums.
//   stats: (c, 3) doubles mean, invstd, var_unbiased
template <typename T>
__global__ void forward_finish(const T* x, const double* partial, std::int64_t groups, double* stats, std::int64_t c,
                               std::int64_t m, std::int64_t s, double eps) {
    for (std::int64_t k = first_index(); k < c; k += grid_stride()) {
        double s1, s2;
        sum_partials(partial, k, groups, s1, s2);
        const double shift = double(x[k * s]);
        const double md = s1 / double(m);
        const double var = fmax(0.0, s2 / double(m) - md * md);
        stats[k] = shift + md;
        stats[c + k] = 1.0 / sqrt(var + eps);
        stats[2 * c + k] = var * double(m) / double(m - 1);
    }
}

// Forward coefficients, one thread per channel: coef = (T(gamma invstd), T(mean), T(beta)), so that
// the elementwise pass computes y = (x - coef1) coef0 + coef2 in T, as the CPU does.
//   params: (c, 4) doubles gamma, beta, mean, invstd;  coef: (c, 4) of T
template <typename T>
__global__ void forward_coefficients(const double* params, T* coef, std::int64_t c) {
    for (std::int64_t k = first_index(); k < c; k += grid_stride()) {
        coef[4 * k] = T(params[k] * params[3 * c + k]);
        coef[4 * k + 1] = T(params[2 * c + k]);
        coef[4 * k + 2] = T(params[c + k]);
        coef[4 * k + 3] = T(0);
    }
}

// Backward finish, one thread per channel (CPU: cpu::batch_norm_backward's pass 1 and the
// constants of its pass 2):
//   sum_dy_xhat = invstd sum dy (x - mean);  gw = T(sum_dy_xhat);  gb = T(sum_dy)
//   a = gamma invstd;  mean_dy = sum_dy / M (training) or 0;  kx = a invstd sum_dy_xhat / M (training) or 0
//   coef = (T(a), T(mean), T(mean_dy), T(kx))
//   params: (c, 4) doubles gamma, -, mean, invstd
template <typename T>
__global__ void backward_finish(const double* partial, std::int64_t groups, const double* params, T* gw, T* gb,
                                T* coef, std::int64_t c, std::int64_t m, bool batch_stats, bool have_sums) {
    for (std::int64_t k = first_index(); k < c; k += grid_stride()) {
        double sum_dy = 0, sum_dy_xhat = 0;
        if (have_sums) sum_partials(partial, k, groups, sum_dy, sum_dy_xhat);
        const double mu = params[2 * c + k], is = params[3 * c + k];
        sum_dy_xhat *= is;
        if (gw != nullptr) gw[k] = T(sum_dy_xhat);
        if (gb != nullptr) gb[k] = T(sum_dy);
        const double a = params[k] * is;
        coef[4 * k] = T(a);
        coef[4 * k + 1] = T(mu);
        coef[4 * k + 2] = T(batch_stats ? sum_dy / double(m) : 0.0);
        coef[4 * k + 3] = T(batch_stats ? a * is * sum_dy_xhat / double(m) : 0.0);
    }
}

/// The elementwise value of one element with its channel's coefficients c0..c3:
///   forward:  y  = (x - c1) c0 + c2
///   backward: gx = c0 (dy - c2) - c3 (x - c1)
template <typename T, bool kGrad>
__device__ inline T affine(const T* x, const T* gy, std::int64_t at, const T* q) {
    if constexpr (kGrad) {
        return q[0] * (gy[at] - q[2]) - q[3] * (x[at] - q[1]);
    } else {
        return (x[at] - q[1]) * q[0] + q[2];
    }
}

// Elementwise pass, flat: element e of (n, c, s) has channel (e / s) mod c.
template <typename T, bool kGrad>
__global__ void affine_flat(const T* x, const T* gy, T* out, const T* coef, std::int64_t numel, std::int64_t c,
                            std::int64_t s) {
    for (std::int64_t e = first_index(); e < numel; e += grid_stride()) {
        const std::int64_t k = (e / s) % c;
        out[e] = affine<T, kGrad>(x, gy, e, coef + 4 * k);
    }
}

// Elementwise pass, by rows: block b takes rows b, b + gridDim.x, ... of the n c rows of s values;
// the row's channel coefficients are loaded once, the threads stride over the row.
template <typename T, bool kGrad>
__global__ void affine_rows(const T* x, const T* gy, T* out, const T* coef, std::int64_t rows, std::int64_t c,
                            std::int64_t s) {
    for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* q = coef + 4 * (r % c);
        const T q4[4] = {q[0], q[1], q[2], q[3]};
        const std::int64_t base = r * s;
        for (std::int64_t j = threadIdx.x; j < s; j += blockDim.x) out[base + j] = affine<T, kGrad>(x, gy, base + j, q4);
    }
}

template <typename T, bool kGrad>
void launch_affine(const T* x, const T* gy, T* out, const T* coef, std::int64_t n, std::int64_t c, std::int64_t s,
                   int device) {
    const std::int64_t rows = n * c;
    if (s >= kRowThreshold) {
        const std::int64_t cap = std::int64_t(norm_detail::sm_count(device)) * norm_detail::kBlocksPerSm;
        affine_rows<T, kGrad><<<int(std::min(rows, cap)), norm_detail::kBlockSize>>>(x, gy, out, coef, rows, c, s);
    } else {
        affine_flat<T, kGrad><<<grid_size(rows * s, device), norm_detail::kBlockSize>>>(x, gy, out, coef, rows * s, c, s);
    }
    FBSEG_CUDA_CHECK_LAUNCH();
}

/// Blocks per channel for v2: enough blocks in all to fill the GPU about four times, each with at
/// least kMinChunk values, at most 1024 per channel.
std::int64_t groups_per_channel(std::int64_t c, std::int64_t m, int device) {
    const std::int64_t target = ceil_div(4 * std::int64_t(norm_detail::sm_count(device)), c);
    return std::clamp<std::int64_t>(std::min(target, ceil_div(m, kMinChunk)), 1, 1024);
}

/// The dispatcher's pick: v2 when a channel is worth splitting (more than one block each) and
/// the rows are long enough for the row walk; v1 otherwise.
int automatic_stats_version(std::int64_t c, std::int64_t n, std::int64_t s, int device) {
    return groups_per_channel(c, n * s, device) > 1 && s >= 32 ? 2 : 1;
}

/// Runs the statistics pass (the chosen version) into `partial`; returns the groups per channel.
template <typename T, bool kGrad>
std::int64_t launch_channel_sums(const char* kernel, const T* x, const T* gy, const double* mean,
                                 Scratch<double>& partial_owner, std::int64_t n, std::int64_t c, std::int64_t s,
                                 int device) {
    const int version = detail::choose_version(kernel, automatic_stats_version(c, n, s, device), 2);
    const std::int64_t m = n * s;
    FBSEG_CHECK(c <= 0x7fffffff, kernel, ": too many channels (", c, ")");
    if (version == 1) {
        partial_owner.reset(2 * c);
        channel_sums_v1<T, kGrad><<<int(c), kStatThreads>>>(x, gy, mean, partial_owner.get(), n, c, s);
        FBSEG_CUDA_CHECK_LAUNCH();
        return 1;
    }
    std::int64_t groups = groups_per_channel(c, m, device);
    while (groups > 1 && c * groups > 0x7fffffff) groups /= 2;
    const std::int64_t chunk = ceil_div(m, groups);
    partial_owner.reset(2 * c * groups);
    channel_sums_v2<T, kGrad>
        <<<int(c * groups), kStatThreads>>>(x, gy, mean, partial_owner.get(), n, c, s, groups, chunk);
    FBSEG_CUDA_CHECK_LAUNCH();
    return groups;
}

void check_sizes(const char* kernel, std::int64_t n, std::int64_t c, std::int64_t s) {
    FBSEG_CHECK(n >= 0 && c >= 0 && s >= 0, kernel, ": sizes must be >= 0 but got n ", n, ", c ", c, ", s ", s);
}

template <typename T>
void forward_impl(const T* x, T* y, std::int64_t n, std::int64_t c, std::int64_t s, const double* gamma,
                  const double* beta, bool batch_stats, double eps, double* mean, double* invstd, double* var_unbiased,
                  int device) {
    const std::int64_t m = n * s;
    Scratch<double> params(4 * c, device);  // gamma, beta, mean, invstd
    params.upload(gamma, c, 0);
    params.upload(beta, c, c);
    if (batch_stats) {
        Scratch<double> partial(0, device);
        const std::int64_t groups =
            launch_channel_sums<T, false>("batch_norm_forward", x, nullptr, nullptr, partial, n, c, s, device);
        Scratch<double> stats(3 * c, device);
        forward_finish<T><<<grid_size(c, device), norm_detail::kBlockSize>>>(x, partial.get(), groups, stats.get(), c,
                                                                            m, s, eps);
        FBSEG_CUDA_CHECK_LAUNCH();
        FBSEG_CUDA_CHECK(cudaMemcpy(params.get() + 2 * c, stats.get(), std::size_t(2 * c) * sizeof(double),
                                    cudaMemcpyDeviceToDevice));
        stats.download(mean, c, 0);
        stats.download(invstd, c, c);
        stats.download(var_unbiased, c, 2 * c);
    } else {
        (void)detail::choose_version("batch_norm_forward", 1, 2);  // a bad forced version is an error here too
        params.upload(mean, c, 2 * c);
        params.upload(invstd, c, 3 * c);
    }
    Scratch<T> coef(4 * c, device);
    forward_coefficients<T><<<grid_size(c, device), norm_detail::kBlockSize>>>(params.get(), coef.get(), c);
    FBSEG_CUDA_CHECK_LAUNCH();
    launch_affine<T, false>(x, nullptr, y, coef.get(), n, c, s, device);
}

template <typename T>
void backward_impl(const T* x, const T* gy, T* gx, T* gw, T* gb, std::int64_t n, std::int64_t c, std::int64_t s,
                   const double* gamma, const double* mean, const double* invstd, bool batch_stats, int device) {
    const std::int64_t m = n * s;
    Scratch<double> params(4 * c, device);  // gamma, (unused), mean, invstd
    params.upload(gamma, c, 0);
    params.upload(mean, c, 2 * c);
    params.upload(invstd, c, 3 * c);
    const bool need_sums = gw != nullptr || gb != nullptr || (gx != nullptr && batch_stats);
    Scratch<double> partial(0, device);
    std::int64_t groups = 0;
    if (need_sums && m > 0) {
        groups = launch_channel_sums<T, true>("batch_norm_backward", x, gy, params.get() + 2 * c, partial, n, c, s,
                                              device);
    } else {
        (void)detail::choose_version("batch_norm_backward", 1, 2);
    }
    Scratch<T> coef(4 * c, device);
    backward_finish<T><<<grid_size(c, device), norm_detail::kBlockSize>>>(partial.get(), groups, params.get(), gw, gb,
                                                                         coef.get(), c, m, batch_stats, groups > 0);
    FBSEG_CUDA_CHECK_LAUNCH();
    if (gx != nullptr && m > 0) launch_affine<T, true>(x, gy, gx, coef.get(), n, c, s, device);
}

// Running statistics, one thread per channel (CPU: cpu::batch_norm_update_running_stats):
//   running_mean[k sm] = T((1 - momentum) running_mean[k sm] + momentum mean[k])   (in double)
//   running_var[k sv]  = T((1 - momentum) running_var[k sv]  + momentum var_unbiased[k])
//   stats: (c, 2) doubles mean, var_unbiased
template <typename T>
__global__ void update_running_stats_kernel(T* running_mean, std::int64_t sm, T* running_var, std::int64_t sv,
                                            std::int64_t c, const double* stats, double momentum) {
    for (std::int64_t k = first_index(); k < c; k += grid_stride()) {
        running_mean[k * sm] = T((1.0 - momentum) * double(running_mean[k * sm]) + momentum * stats[k]);
        running_var[k * sv] = T((1.0 - momentum) * double(running_var[k * sv]) + momentum * stats[c + k]);
    }
}

}  // namespace

void batch_norm_forward(DType dtype, const void* x, void* y, std::int64_t n, std::int64_t c, std::int64_t s,
                        const double* gamma, const double* beta, bool batch_stats, double eps, double* mean,
                        double* invstd, double* var_unbiased, int device) {
    check_sizes("batch_norm_forward", n, c, s);
    if (n * c * s == 0) return;
    FBSEG_CHECK(x != nullptr && y != nullptr && gamma != nullptr && beta != nullptr && mean != nullptr &&
                    invstd != nullptr && (!batch_stats || var_unbiased != nullptr),
                "batch_norm_forward: null pointer");
    detail::DeviceGuard guard(device, "batch_norm_forward");
    dispatch_floating(dtype, "batch_norm_forward", [&]<typename T>() {
        forward_impl<T>(static_cast<const T*>(x), static_cast<T*>(y), n, c, s, gamma, beta, batch_stats, eps, mean,
                        invstd, var_unbiased, device);
    });
}

void batch_norm_update_running_stats(DType dtype, void* running_mean, std::int64_t mean_stride, void* running_var,
                                     std::int64_t var_stride, std::int64_t c, const double* mean,
                                     const double* var_unbiased, double momentum, int device) {
    FBSEG_CHECK(c >= 0, "batch_norm_update_running_stats: c must be >= 0 but got ", c);
    if (c == 0) return;
    FBSEG_CHECK(running_mean != nullptr && running_var != nullptr && mean != nullptr && var_unbiased != nullptr,
                "batch_norm_update_running_stats: null pointer");
    detail::DeviceGuard guard(device, "batch_norm_update_running_stats");
    (void)detail::choose_version("batch_norm_update_running_stats", 1, 1);
    Scratch<double> stats(2 * c, device);
    stats.upload(mean, c, 0);
    stats.upload(var_unbiased, c, c);
    dispatch_floating(dtype, "batch_norm_update_running_stats", [&]<typename T>() {
        update_running_stats_kernel<T><<<grid_size(c, device), norm_detail::kBlockSize>>>(
            static_cast<T*>(running_mean), mean_stride, static_cast<T*>(running_var), var_stride, c, stats.get(),
            momentum);
        FBSEG_CUDA_CHECK_LAUNCH();
    });
}

void batch_norm_backward(DType dtype, const void* x, const void* gy, void* gx, void* gw, void* gb, std::int64_t n,
                         std::int64_t c, std::int64_t s, const double* gamma, const double* mean, const double* invstd,
                         bool batch_stats, int device) {
    check_sizes("batch_norm_backward", n, c, s);
    if (c == 0 || (gx == nullptr && gw == nullptr && gb == nullptr)) return;
    FBSEG_CHECK(gamma != nullptr && mean != nullptr && invstd != nullptr, "batch_norm_backward: null pointer");
    FBSEG_CHECK(n * s == 0 || (x != nullptr && gy != nullptr), "batch_norm_backward: null x or gy");
    detail::DeviceGuard guard(device, "batch_norm_backward");
    dispatch_floating(dtype, "batch_norm_backward", [&]<typename T>() {
        backward_impl<T>(static_cast<const T*>(x), static_cast<const T*>(gy), static_cast<T*>(gx),
                         static_cast<T*>(gw), static_cast<T*>(gb), n, c, s, gamma, mean, invstd, batch_stats, device);
    });
}

void install_batch_norm_kernels(Backend& b) {
    b.batch_norm_forward = &batch_norm_forward;
    b.batch_norm_update_running_stats = &batch_norm_update_running_stats;
    b.batch_norm_backward = &batch_norm_backward;
}

}  // namespace fbseg::cuda
