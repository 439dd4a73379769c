// tests/support/check.hpp - helpers shared by the core test files (test_tensor, test_autograd,
// test_ops): per-element comparisons (allclose), strided reads that do not go through the library's copy kernels,
// random test data that stays away from kinks, and assertion macros for gradcheck and errors.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fbseg::test {

inline constexpr double kTiny = 1e-300;

/// max|a - b| / max(max|b|, tiny); +inf when the sizes differ or a NaN shows up anywhere.
/// A summary number for messages only: every check compares per element (allclose below),
/// because a norm-wide relative error hides a wrong small entry next to a large one.
inline double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
    double num = 0, den = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) != std::isnan(b[i])) return std::numeric_limits<double>::infinity();
        if (std::isnan(a[i])) continue;  // NaN where NaN is expected
        num = std::max(num, std::abs(a[i] - b[i]));
        den = std::max(den, std::abs(b[i]));
    }
    if (std::isnan(num)) return std::numeric_limits<double>::infinity();
    return num / std::max(den, kTiny);
}

/// The outcome of a per-element comparison |a - ref| <= atol + rtol |ref|.
struct CloseResult {
    bool ok = true;
    std::size_t failures = 0;      // elements over their allowance
    std::int64_t worst = -1;       // the element with the largest |a - ref| / allowance
    double worst_ratio = 0;        // that ratio (> 1 fails)
    double value = 0, reference = 0;
    std::string message;           // "" when ok
};

/// Compares element by element: |a[i] - ref[i]| <= atol + rtol |ref[i]|. NaN must meet NaN, an
/// infinity the same infinity. On failure the message names the worst element (its position,
/// value and reference) and how many elements failed.
inline CloseResult allclose(const std::vector<double>& a, const std::vector<double>& ref, double atol, double rtol) {
    CloseResult r;
    if (a.size() != ref.size()) {
        r.ok = false;
        r.message = "sizes differ: " + std::to_string(a.size()) + " vs reference " + std::to_string(ref.size());
        return r;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = ref[i];
        double ratio;
        if (std::isnan(x) || std::isnan(y)) {
            ratio = std::isnan(x) && std::isnan(y) ? 0.0 : std::numeric_limits<double>::infinity();
        } else if (std::isinf(x) || std::isinf(y)) {
            ratio = x == y ? 0.0 : std::numeric_limits<double>::infinity();
        } else {
            const double allowed = atol + rtol * std::abs(y);
            const double diff = std::abs(x - y);
            ratio = diff == 0 ? 0.0 : (allowed > 0 ? diff / allowed : std::numeric_limits<double>::infinity());
        }
        if (ratio > 1) ++r.failures;
        if (r.worst < 0 || ratio > r.worst_ratio) {
            r.worst = std::int64_t(i);
            r.worst_ratio = ratio;
            r.value = x;
            r.reference = y;
        }
    }
    if (r.failures > 0) {
        r.ok = false;
        std::ostringstream msg;
        msg.precision(10);
        msg << r.failures << " of " << a.size() << " elements differ by more than atol " << atol << " + rtol " << rtol
            << " * |ref|; worst: element " << r.worst << " = " << r.value << ", reference " << r.reference
            << " (|diff| " << std::abs(r.value - r.reference) << ")";
        r.message = msg.str();
    }
    return r;
}

/// The values of a CPU tensor of any dtype and any strides, in row-major logical order, read
/// directly from its storage with a plain loop over the multi-index (independent of the
/// library's copy kernels).
inline std::vector<double> values(const Tensor& t) {
    std::vector<double> out;
    const std::int64_t n = t.numel();
    out.reserve(std::size_t(n));
    const Shape& shape = t.shape();
    const Shape& strides = t.strides();
    dispatch_all(t.dtype(), "values", [&]<typename T>() {
        const T* base = static_cast<const T*>(t.storage()->data()) + t.offset();
        std::vector<std::int64_t> index(shape.size(), 0);
        for (std::int64_t i = 0; i < n; ++i) {
            std::int64_t off = 0;
            for (std::size_t d = 0; d < shape.size(); ++d) off += index[d] * strides[d];
            out.push_back(double(base[off]));
            for (std::size_t d = shape.size(); d-- > 0;) {  // odometer increment
                if (++index[d] < shape[d]) break;
                index[d] = 0;
            }
        }
    });
    return out;
}

inline double rel_error(const Tensor& a, const std::vector<double>& b) { return rel_error(values(a), b); }
inline double rel_error(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
    return rel_error(values(a), values(b));
}

/// allclose for tensors (any dtype and strides; shapes must match) and against plain values.
inline CloseResult allclose(const Tensor& a, const std::vector<double>& ref, double atol, double rtol) {
    return allclose(values(a), ref, atol, rtol);
}
inline CloseResult allclose(const Tensor& a, const Tensor& ref, double atol, double rtol) {
    if (a.shape() != ref.shape()) {
        CloseResult r;
        r.ok = false;
        r.message = "shapes differ: " + shape_str(a.shape()) + " vs reference " + shape_str(ref.shape());
        return r;
    }
    CloseResult r = allclose(values(a), values(ref), atol, rtol);
    if (!r.ok && r.worst >= 0 && ref.dim() > 0) {  // name the worst element by its multi-index too
        std::int64_t i = r.worst;
        std::string index;
        for (std::int64_t d = ref.dim(); d-- > 0;) {
            index = std::to_string(i % ref.size(d)) + (index.empty() ? "" : ", ") + index;
            i /= ref.size(d);
        }
        r.message += " at [" + index + "] of " + shape_str(ref.shape());
    }
    return r;
}

/// Bitwise equality of two CPU tensors of the same dtype and shape (for determinism checks).
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    const Tensor ca = a.contiguous(), cb = b.contiguous();
    return std::memcmp(ca.raw_data(), cb.raw_data(), std::size_t(ca.numel()) * element_size(ca.dtype())) == 0;
}

/// Row-major multi-index of flat position i in `shape`.
inline std::vector<std::int64_t> unravel(std::int64_t i, const Shape& shape) {
    std::vector<std::int64_t> index(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        index[d] = i % shape[d];
        i /= shape[d];
    }
    return index;
}

/// Flat position in a row-major tensor of `shape` of the (broadcast) multi-index `index`, which
/// is aligned on the right with `shape`; size-1 dims read element 0 (NumPy broadcasting).
inline std::int64_t broadcast_flat(const std::vector<std::int64_t>& index, const Shape& shape) {
    const std::size_t lead = index.size() - shape.size();
    std::int64_t flat = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + (shape[d] == 1 ? 0 : index[lead + d]);
    return flat;
}

/// Data generator for tests: uniform values in [lo, hi) that keep at least `margin` away from
/// every point in `avoid` (kinks of abs, relu, clamp...). Deterministic for a given seed.
class Data {
public:
    explicit Data(std::uint64_t seed) : gen_(seed) {}

    double uniform(double lo, double hi) { return lo + (hi - lo) * gen_.uniform<double>(counter_++); }

    std::vector<double> uniform_values(std::int64_t n, double lo, double hi, const std::vector<double>& avoid = {},
                                       double margin = 0.05) {
        std::vector<double> v;
        while (std::int64_t(v.size()) < n) {
            const double x = uniform(lo, hi);
            bool ok = true;
            for (double k : avoid) ok = ok && std::abs(x - k) >= margin;
            if (ok) v.push_back(x);
        }
        return v;
    }

    /// A contiguous float64 tensor (a leaf that requires grad unless told otherwise).
    Tensor tensor(const Shape& shape, double lo = -1.0, double hi = 1.0, const std::vector<double>& avoid = {},
                  double margin = 0.05, bool requires_grad = true) {
        return from_vector(uniform_values(numel_of(shape), lo, hi, avoid, margin), shape,
                           TensorOptions(DType::Float64).requires_grad(requires_grad));
    }
    /// Values of magnitude in [lo, hi] with a random sign (never near 0).
    Tensor signed_tensor(const Shape& shape, double lo = 0.3, double hi = 1.5, bool requires_grad = true) {
        std::vector<double> v(std::size_t(numel_of(shape)));
        for (auto& x : v) x = (uniform(0, 1) < 0.5 ? -1.0 : 1.0) * uniform(lo, hi);
        return from_vector(v, shape, TensorOptions(DType::Float64).requires_grad(requires_grad));
    }
    /// Pairwise distinct values (at least `gap` apart) in random order: no ties for max/min.
    Tensor distinct_tensor(const Shape& shape, double gap = 0.1, bool requires_grad = true) {
        const std::int64_t n = numel_of(shape);
        std::vector<double> v(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) v[std::size_t(i)] = gap * double(i - n / 2) + uniform(0, gap / 4);
        for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
            const auto j = std::int64_t(uniform(0, 1) * double(i + 1));
            std::swap(v[std::size_t(i)], v[std::size_t(std::min(j, i))]);
        }
        return from_vector(v, shape, TensorOptions(DType::Float64).requires_grad(requires_grad));
    }

private:
    Generator gen_;
    std::uint64_t counter_ = 0;
};

/// Runs `fn`; returns the message of the fbseg::Error it threw, or a marker string.
inline std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("<not an fbseg::Error: ") + e.what() + ">";
    }
    return "<no exception>";
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// Restores the thread count on scope exit.
class ThreadsGuard {
public:
    ThreadsGuard() : saved_(num_threads()) {}
    ~ThreadsGuard() { set_num_threads(saved_); }
    ThreadsGuard(const ThreadsGuard&) = delete;
    ThreadsGuard& operator=(const ThreadsGuard&) = delete;

private:
    int saved_;
};

}  // namespace fbseg::test

/// REQUIRE_GRADCHECK(f, {inputs...}[, options]): runs fbseg::gradcheck and fails with its message.
#define REQUIRE_GRADCHECK(f, ...)                                                          \
    do {                                                                                   \
        const ::fbseg::GradcheckResult gradcheck_result_ = ::fbseg::gradcheck((f), __VA_ARGS__); \
        REQUIRE_MESSAGE(gradcheck_result_.ok, gradcheck_result_.message);                  \
    } while (0)

/// CHECK_ERROR(expr, "part", "part"...): expr throws fbseg::Error whose message has every part.
#define CHECK_ERROR(expr, ...)                                                                         \
    do {                                                                                               \
        const std::string error_message_ = ::fbseg::test::error_of([&] { (void)(expr); });           \
        for (const char* part_ : {__VA_ARGS__})                                                        \
            CHECK_MESSAGE(::fbseg::test::contains(error_message_, part_),                              \
                          "expected \"" << std::string(part_) << "\" in the error message: " << error_message_);   \
    } while (0)

/// CHECK_SHAPE(t, {2, 3}) compares shapes and prints both on failure.
#define CHECK_SHAPE(t, ...) CHECK(::fbseg::shape_str((t).shape()) == ::fbseg::shape_str(::fbseg::Shape __VA_ARGS__))

/// CHECK_ALLCLOSE(actual, expected, atol, rtol): per element |a - e| <= atol + rtol |e|; on
/// failure the worst element (position, value, reference) and the number of failures are shown.
#define CHECK_ALLCLOSE(actual, expected, atol, rtol)                                                 \
    do {                                                                                             \
        const ::fbseg::test::CloseResult close_ = ::fbseg::test::allclose((actual), (expected), (atol), (rtol)); \
        CHECK_MESSAGE(close_.ok, close_.message);                                                    \
    } while (0)

/// CHECK_CLOSE(actual, expected, tol): CHECK_ALLCLOSE with atol = rtol = tol, i.e. per element
/// |a - e| <= tol (1 + |e|): relative for entries above 1, absolute below (where a relative
/// error of a value near 0 would measure cancellation, not the op).
#define CHECK_CLOSE(actual, expected, tol) CHECK_ALLCLOSE(actual, expected, (tol), (tol))
