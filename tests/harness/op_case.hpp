// tests/harness/op_case.hpp - one description per op case, read by every mode of the op harness.
//
// In the spirit of ggml's test-backend-ops: a case says which op it runs, on which inputs
// (shape, value domain, memory layout), with which attributes, and how to call the op. From
// that one description the harness derives
//     grad    float64 finite-difference gradcheck        (tests/test_harness.cpp)
//     parity  PyTorch fixtures                           (tools/make_harness_fixtures.py, test_harness.cpp)
//     cuda    CPU against CUDA, NaN-poisoned outputs     (tests/gpu/test_gpu_harness.cpp)
//     perf    Google Benchmark, GB/s and GFLOP/s         (benchmarks/bench_ops.cpp)
//     list    the registry as JSON for the Python side   (fbseg_harness --list-cases)
// A case is a few lines (see cases/unary.hpp):
//
//     add(r, "leaky_relu", "odd_t").in(in::away0({5, 3}).t()).attr("negative_slope", 0.1)
//         .run([](const Inputs& x, const Attrs& a) { return out(leaky_relu(x[0], a.f("negative_slope"))); });
//
// and the PyTorch side is one line of tools/make_harness_fixtures.py's table:
//     "leaky_relu": lambda x, a: F.leaky_relu(x[0], a["negative_slope"]),
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "fbseg/fbseg.hpp"

namespace fbseg::harness {

/// Where an input's values come from. Each domain is defined identically here (values_for) and
/// in tools/make_harness_fixtures.py; the values themselves differ (two generators), which is
/// why the kinks of an op (relu at 0, clamp at its bounds, ties of max) are avoided by the domain,
/// never by luck.
enum class Domain {
    Randn,     // N(0, 1)
    Uniform,   // U(-1, 1)
    Positive,  // U(0.5, 2): log, sqrt, div's denominator
    Away0,     // random sign times U(0.3, 1.5): relu, abs at a distance from 0
    Distinct,  // 0.1 (k - n/2) + U(0, 0.025), shuffled: no ties for max/min/max_pool, kinks of clamp
               // placed at x.x6 are at least 0.035 away
    Unit,      // U(0, 1): probabilities, soft targets
    Mask,      // 0 or 1 (as floats): binary targets
    SmallInt,  // integers in [-2, 2] as floats: exact ties for comparisons
    Bool,      // bool tensor, true with probability 1/2
    Index,     // int64 in [0, high)
    Int64,     // int64 in [-3, 3]: integer arithmetic, compared exactly
};

/// How the op sees its input: the harness makes a contiguous "base" tensor and derives the view.
enum class Layout {
    Contiguous,  // base = the input
    Transposed,  // base has the last two dims swapped; input = base.transpose(-2, -1)
    Sliced,      // base's last dim is 2n + 1; input = base.slice(-1, 1, 2n + 1, 2) (stride 2, offset 1)
    Expanded,    // base has size 1 in dim 0; input = base.expand(shape) (stride 0)
};

const char* domain_name(Domain d);
const char* layout_name(Layout l);

struct InputSpec {
    Shape shape;  // what the op sees
    Domain domain = Domain::Randn;
    Layout layout = Layout::Contiguous;
    bool requires_grad = true;  // for floating inputs of differentiable cases
    std::int64_t high = 0;      // Index: values in [0, high)

    bool is_floating() const { return domain != Domain::Bool && domain != Domain::Index && domain != Domain::Int64; }
    /// The dtype in a mode whose floating inputs are `float_dtype`.
    DType dtype(DType float_dtype) const {
        if (domain == Domain::Bool) return DType::Bool;
        return domain == Domain::Index || domain == Domain::Int64 ? DType::Int64 : float_dtype;
    }
    Shape base_shape() const;
    // Chained modifiers: in::randn({4, 3}).t() is a transposed input.
    InputSpec t() const { return with(Layout::Transposed); }
    InputSpec step() const { return with(Layout::Sliced); }
    InputSpec expand() const { return with(Layout::Expanded); }
    InputSpec no_grad() const {
        InputSpec s = *this;
        s.requires_grad = false;
        return s;
    }

private:
    InputSpec with(Layout l) const {
        InputSpec s = *this;
        s.layout = l;
        return s;
    }
};

/// The input constructors, one per domain.
namespace in {
inline InputSpec spec(Shape s, Domain d) { return InputSpec{std::move(s), d}; }
inline InputSpec randn(Shape s) { return spec(std::move(s), Domain::Randn); }
inline InputSpec uniform(Shape s) { return spec(std::move(s), Domain::Uniform); }
inline InputSpec positive(Shape s) { return spec(std::move(s), Domain::Positive); }
inline InputSpec away0(Shape s) { return spec(std::move(s), Domain::Away0); }
inline InputSpec distinct(Shape s) { return spec(std::move(s), Domain::Distinct); }
inline InputSpec unit(Shape s) { return spec(std::move(s), Domain::Unit); }
inline InputSpec mask(Shape s) { return spec(std::move(s), Domain::Mask); }
inline InputSpec small_int(Shape s) { return spec(std::move(s), Domain::SmallInt); }
inline InputSpec boolean(Shape s) { return spec(std::move(s), Domain::Bool).no_grad(); }
inline InputSpec int64(Shape s) { return spec(std::move(s), Domain::Int64).no_grad(); }
inline InputSpec index(Shape s, std::int64_t high) {
    InputSpec r = spec(std::move(s), Domain::Index).no_grad();
    r.high = high;
    return r;
}
}  // namespace in

/// An attribute value: what the op takes besides tensors (dims, slopes, strides, flags, names).
using Attr = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>>;

class Attrs {
public:
    void set(const std::string& key, Attr value) { values_[key] = std::move(value); }
    bool has(const std::string& key) const { return values_.count(key) != 0; }
    bool b(const std::string& key) const { return get<bool>(key); }
    std::int64_t i(const std::string& key) const { return get<std::int64_t>(key); }
    double f(const std::string& key) const { return get<double>(key); }
    const std::string& s(const std::string& key) const { return get<std::string>(key); }
    const std::vector<std::int64_t>& ints(const std::string& key) const { return get<std::vector<std::int64_t>>(key); }
    std::array<std::int64_t, 2> pair(const std::string& key) const {
        const auto& v = ints(key);
        FBSEG_CHECK(v.size() == 2, "harness: attribute '", key, "' must hold 2 integers");
        return {v[0], v[1]};
    }
    const std::map<std::string, Attr>& all() const { return values_; }

private:
    template <typename T>
    const T& get(const std::string& key) const {
        const auto it = values_.find(key);
        FBSEG_CHECK(it != values_.end(), "harness: the case has no attribute '", key, "'");
        const T* v = std::get_if<T>(&it->second);
        FBSEG_CHECK(v != nullptr, "harness: attribute '", key, "' has another type");
        return *v;
    }
    std::map<std::string, Attr> values_;
};

using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;
using RunFn = std::function<Outputs(const Inputs&, const Attrs&)>;

inline Outputs out(const Tensor& t) { return {t}; }
inline Outputs out(const ValuesIndices& vi) { return {vi.values, vi.indices}; }
inline Outputs out(std::vector<Tensor> ts) { return ts; }

/// Per-element tolerance |a - b| <= atol + rtol |ref|.
struct Tolerance {
    double atol = 0;
    double rtol = 0;
};

struct OpCase {
    std::string op;    // the public op, as in include/fbseg/ops/op_list.hpp
    std::string name;  // unique within the op
    std::vector<InputSpec> inputs;
    Attrs attrs;
    RunFn fn;
    bool differentiable = true;  // grad mode runs it; parity compares input gradients
    bool inplace = false;        // the op writes into input 0: grad and parity hand it a clone
    bool parity = true;          // false: no PyTorch equivalent (fbseg's own random streams)
    // float32 parity and CPU-vs-CUDA: a few float32 ulps of the reference, plus an atol for
    // results that cancel to ~0 (sums of terms of mixed signs).
    Tolerance f32{1e-6, 1e-5};
    GradcheckOptions grad;  // float64 finite differences (eps 1e-6, atol 1e-6, rtol 1e-4)
    // perf: floating-point operations per call, when meaningful (matmul, conv); 0 = report GB/s only
    std::function<double(const Inputs&)> flops;

    std::string id() const { return op + "/" + name; }

    // ---- the builder (each returns *this so a case reads as one chained expression) ----
    OpCase& in(InputSpec s) {
        inputs.push_back(std::move(s));
        return *this;
    }
    OpCase& attr(const std::string& key, Attr v) {
        attrs.set(key, std::move(v));
        return *this;
    }
    // One overload per literal type, so that 0.1 stays a double and true a bool (with only
    // attr(key, Attr) and attr(key, int), both would silently become integers).
    OpCase& attr(const std::string& key, bool v) { return attr(key, Attr(v)); }
    OpCase& attr(const std::string& key, int v) { return attr(key, Attr(std::int64_t(v))); }
    OpCase& attr(const std::string& key, std::int64_t v) { return attr(key, Attr(v)); }
    OpCase& attr(const std::string& key, double v) { return attr(key, Attr(v)); }
    OpCase& attr(const std::string& key, const char* v) { return attr(key, Attr(std::string(v))); }
    OpCase& attr(const std::string& key, std::initializer_list<std::int64_t> v) {
        return attr(key, Attr(std::vector<std::int64_t>(v)));
    }
    OpCase& run(RunFn f) {
        fn = std::move(f);
        return *this;
    }
    OpCase& no_grad() {  // not differentiable (comparisons, argmax, factories)
        differentiable = false;
        for (auto& s : inputs) s.requires_grad = false;
        return *this;
    }
    OpCase& in_place() {
        inplace = true;
        return *this;
    }
    OpCase& no_parity() {
        parity = false;
        return *this;
    }
    OpCase& tol32(double atol, double rtol) {
        f32 = {atol, rtol};
        return *this;
    }
    OpCase& grad_tol(double atol, double rtol) {
        grad.atol = atol;
        grad.rtol = rtol;
        return *this;
    }
    OpCase& grad_eps(double eps) {  // the finite-difference step
        grad.eps = eps;
        return *this;
    }
    OpCase& flop_count(std::function<double(const Inputs&)> f) {
        flops = std::move(f);
        return *this;
    }
};

using Registry = std::vector<OpCase>;

/// Appends a case to the registry and returns it for the builder calls.
inline OpCase& add(Registry& r, std::string op, std::string name) {
    r.push_back(OpCase{});
    r.back().op = std::move(op);
    r.back().name = std::move(name);
    return r.back();
}

// ---- inputs: base tensors and their views ---------------------------------------------------

inline const char* domain_name(Domain d) {
    switch (d) {
        case Domain::Randn:
            return "randn";
        case Domain::Uniform:
            return "uniform";
        case Domain::Positive:
            return "positive";
        case Domain::Away0:
            return "away0";
        case Domain::Distinct:
            return "distinct";
        case Domain::Unit:
            return "unit";
        case Domain::Mask:
            return "mask";
        case Domain::SmallInt:
            return "small_int";
        case Domain::Bool:
            return "bool";
        case Domain::Index:
            return "index";
        case Domain::Int64:
            return "int64";
    }
    return "?";
}

inline const char* layout_name(Layout l) {
    switch (l) {
        case Layout::Contiguous:
            return "contiguous";
        case Layout::Transposed:
            return "transposed";
        case Layout::Sliced:
            return "sliced";
        case Layout::Expanded:
            return "expanded";
    }
    return "?";
}

inline Shape InputSpec::base_shape() const {
    Shape b = shape;
    const std::size_t n = b.size();
    switch (layout) {
        case Layout::Contiguous:
            break;
        case Layout::Transposed:
            FBSEG_CHECK(n >= 2, "harness: a transposed input needs rank >= 2, got ", shape_str(shape));
            std::swap(b[n - 2], b[n - 1]);
            break;
        case Layout::Sliced:
            FBSEG_CHECK(n >= 1, "harness: a sliced input needs rank >= 1");
            b[n - 1] = 2 * b[n - 1] + 1;
            break;
        case Layout::Expanded:
            FBSEG_CHECK(n >= 1, "harness: an expanded input needs rank >= 1");
            b[0] = 1;
            break;
    }
    return b;
}

/// The view the op sees, made from the contiguous base (differentiable: grads reach the base).
inline Tensor apply_layout(const Tensor& base, const InputSpec& s) {
    const std::int64_t last = base.dim() - 1;
    switch (s.layout) {
        case Layout::Contiguous:
            return base;
        case Layout::Transposed:
            return base.transpose(last - 1, last);
        case Layout::Sliced:
            return base.slice(last, 1, base.size(last), 2);
        case Layout::Expanded:
            return base.expand(s.shape);
    }
    return base;
}

/// FNV-1a of a case id: each case and input gets its own reproducible stream.
inline std::uint64_t seed_of(const std::string& id, std::size_t input) {
    std::uint64_t h = 1469598103934665603ull;
    for (char c : id) h = (h ^ std::uint8_t(c)) * 1099511628211ull;
    return h + input;
}

/// The base tensor of one input, as float64 values following the domain, converted to `dtype`.
inline Tensor make_base(const InputSpec& s, DType float_dtype, std::uint64_t seed) {
    const Shape shape = s.base_shape();
    const std::int64_t n = numel_of(shape);
    Generator gen(seed);
    std::uint64_t counter = 0;
    auto u = [&] { return gen.uniform<double>(counter++); };
    std::vector<double> v(std::size_t(n), 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
        double& x = v[std::size_t(i)];
        switch (s.domain) {
            case Domain::Randn:
                x = gen.normal<double>(counter++);
                break;
            case Domain::Uniform:
                x = -1 + 2 * u();
                break;
            case Domain::Positive:
                x = 0.5 + 1.5 * u();
                break;
            case Domain::Away0:
                x = (u() < 0.5 ? -1.0 : 1.0) * (0.3 + 1.2 * u());
                break;
            case Domain::Distinct:
                x = 0.1 * double(i - n / 2) + 0.025 * u();
                break;
            case Domain::Unit:
                x = u();
                break;
            case Domain::Mask:
            case Domain::Bool:
                x = u() < 0.5 ? 0.0 : 1.0;
                break;
            case Domain::SmallInt:
                x = std::floor(5 * u()) - 2;
                break;
            case Domain::Index:
                x = std::floor(double(s.high) * u());
                break;
            case Domain::Int64:
                x = std::floor(7 * u()) - 3;
                break;
        }
    }
    if (s.domain == Domain::Distinct)  // Fisher-Yates: distinct values in random order
        for (std::int64_t i = n - 1; i > 0; --i)
            std::swap(v[std::size_t(i)], v[std::size_t(std::min<std::int64_t>(i, std::int64_t(u() * double(i + 1))))]);
    return from_vector(v, shape, TensorOptions(s.dtype(float_dtype)));
}

/// Input k of a case in a mode: bases (leaves, contiguous) and the views the op sees.
struct PreparedInputs {
    std::vector<Tensor> bases;
    Inputs views;
};

/// Makes the views of `bases`; an in-place case gets a clone of input 0 when a graph is recorded
/// (autograd refuses in-place writes into leaves and into views that take part in a graph).
inline Inputs views_of(const OpCase& c, const std::vector<Tensor>& bases) {
    Inputs views;
    for (std::size_t k = 0; k < bases.size(); ++k) views.push_back(apply_layout(bases[k], c.inputs[k]));
    if (c.inplace && !views.empty() && views[0].requires_grad()) views[0] = views[0].clone();
    return views;
}

inline std::vector<Tensor> make_bases(const OpCase& c, DType float_dtype, bool with_grad) {
    std::vector<Tensor> bases;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        const InputSpec& s = c.inputs[k];
        Tensor b = make_base(s, float_dtype, seed_of(c.id(), k));
        if (with_grad && c.differentiable && s.is_floating() && s.requires_grad) b.set_requires_grad(true);
        bases.push_back(b);
    }
    return bases;
}

/// Runs a case on given bases.
inline Outputs run_case(const OpCase& c, const std::vector<Tensor>& bases) { return c.fn(views_of(c, bases), c.attrs); }

/// Bytes read and written by one call (for GB/s): inputs as the op sees them plus outputs.
inline double bytes_moved(const Inputs& inputs, const Outputs& outputs) {
    double bytes = 0;
    for (const Tensor& t : inputs) bytes += double(t.numel()) * double(element_size(t.dtype()));
    for (const Tensor& t : outputs)
        if (t.defined()) bytes += double(t.numel()) * double(element_size(t.dtype()));
    return bytes;
}

}  // namespace fbseg::harness
