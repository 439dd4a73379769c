// fbseg/ops/tensor_methods.hpp - Tensor members that need the whole library: autograd entry
// points, element access and printing.
#pragma once

#include <iomanip>
#include <ostream>

#include "fbseg/autograd/engine.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/op_library.hpp"

namespace fbseg {

// The Tensor members below are compiled into libfbseg when it is linked (ops/op_library.hpp).
#if FBSEG_OP_DEFINITIONS
FBSEG_OP Tensor& Tensor::set_requires_grad(bool requires_grad) {
    FBSEG_CHECK(!requires_grad || is_floating(dtype()), "set_requires_grad: only floating tensors can require grad, got ",
                describe());
    FBSEG_CHECK(is_leaf(), "set_requires_grad: ", describe(), " is not a leaf (it was computed by ", grad_fn()->name(),
                "); use detach() to make a leaf");
    checked().requires_grad = requires_grad;
    return *this;
}

FBSEG_OP Tensor Tensor::detach() const {
    Tensor out = detail::make_view(*this, shape(), strides(), offset());
    out.impl()->is_view = impl()->is_view;
    return out;
}

FBSEG_OP void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
    Tensor seed = gradient;
    if (!seed.defined()) {
        FBSEG_CHECK(numel() == 1, "backward: a gradient must be given for a non-scalar tensor ", describe(),
                    " (backward() without one is only for a single-element loss)");
        seed = ones(shape(), TensorOptions(dtype()).device(device()));
    }
    FBSEG_CHECK(seed.dtype() == dtype() && seed.device() == device(), "backward: gradient ", seed.describe(),
                " does not match the tensor ", describe());
    autograd::run_backward({*this}, {seed}, retain_graph);
}
#endif  // FBSEG_OP_DEFINITIONS

template <typename T>
std::vector<T> Tensor::to_vector() const {
    const Tensor host = detach().to(kCPU).to(dtype_v<T>).contiguous();  // reading values needs no graph
    const T* p = host.data_ptr<T>();
    return std::vector<T>(p, p + host.numel());
}

template <typename T>
T Tensor::item() const {
    FBSEG_CHECK(numel() == 1, "item: expected a tensor with one element but got ", describe());
    return to_vector<T>()[0];
}

template <typename T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
    FBSEG_CHECK(std::int64_t(index.size()) == dim(), "at: ", index.size(), " indices for a tensor of rank ", dim());
    Tensor t = detach();
    for (std::int64_t i : index) t = t.select(0, i);
    return t.item<T>();
}

// ---- the ops (defined below, or in libfbseg: ops/op_library.hpp) ----
/// Prints like PyTorch: tensor([[1.0000, 2.0000], [3.0000, 4.0000]], dtype=float32).
FBSEG_OP std::ostream& operator<<(std::ostream& out, const Tensor& t);

#if FBSEG_OP_DEFINITIONS
FBSEG_OP std::ostream& operator<<(std::ostream& out, const Tensor& t) {
    if (!t.defined()) return out << "tensor(undefined)";
    const Tensor host = t.detach().to(kCPU).contiguous();
    const Shape& shape = host.shape();
    out << "tensor(";
    const std::ios_base::fmtflags flags = out.flags();  // restored below: printing must not leave
    const std::streamsize precision = out.precision();  // std::fixed on the caller's stream
    dispatch_all(host.dtype(), "print", [&]<typename T>() {
        const T* p = host.data_ptr<T>();
        std::int64_t idx = 0;
        auto print = [&](auto&& self, std::size_t d) -> void {
            if (d == shape.size()) {
                if constexpr (std::is_floating_point_v<T>) out << std::fixed << std::setprecision(4) << p[idx++];
                else if constexpr (std::is_same_v<T, bool>) out << (p[idx++] ? "True" : "False");
                else out << std::int64_t(p[idx++]);
                return;
            }
            out << "[";
            for (std::int64_t i = 0; i < shape[d]; ++i) {
                if (i) out << ", ";
                self(self, d + 1);
            }
            out << "]";
        };
        print(print, 0);
    });
    out.flags(flags);
    out.precision(precision);
    out << ", dtype=" << dtype_name(t.dtype());
    if (!t.device().is_cpu()) out << ", device=" << t.device();
    if (t.requires_grad()) out << ", requires_grad=True";
    return out << ")";
}
#endif  // FBSEG_OP_DEFINITIONS

}  // namespace fbseg
