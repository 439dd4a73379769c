// fbseg/core/tensor.hpp - the Tensor handle and what it points to.
//
// A Tensor is a cheap handle: a shared pointer to a TensorImpl. Copying a Tensor aliases it
// (both handles see the same data and the same autograd history); clone() copies the data.
// A TensorImpl is a *view* of a Storage: shape, strides (in elements) and an offset say which
// elements of the storage it covers and in what order. See docs/tensor.md.
//
// Member functions that compute (views, copies, backward) are defined in ops/ headers and
// ops/tensor_methods.hpp; include "fbseg/fbseg.hpp" to get all of them.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/core/device.hpp"
#include "fbseg/core/dtype.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/storage.hpp"
#include "fbseg/ops/method_list.hpp"

namespace fbseg {

namespace autograd {
class Node;
}

struct ValuesIndices;  // values and int64 indices of max(dim), topk (ops/reduce.hpp)

/// What the factories create: dtype, device and whether the result is a leaf that needs a grad.
///   zeros({2, 3}, TensorOptions().dtype(DType::Float64).requires_grad(true))
struct TensorOptions {
    DType dtype_ = DType::Float32;
    Device device_ = kCPU;
    bool requires_grad_ = false;

    TensorOptions() = default;
    TensorOptions(DType d) : dtype_(d) {}  // NOLINT: implicit, so zeros({2}, DType::Int64) reads well
    TensorOptions(Device d) : device_(d) {}  // NOLINT
    TensorOptions& dtype(DType d) { dtype_ = d; return *this; }
    TensorOptions& device(Device d) { device_ = d; return *this; }
    TensorOptions& requires_grad(bool r = true) { requires_grad_ = r; return *this; }
};

/// The state behind a Tensor handle.
struct TensorImpl {
    std::shared_ptr<Storage> storage;
    Shape sizes;
    Shape strides;
    std::int64_t offset = 0;  // in elements
    DType dtype = DType::Float32;

    // ---- autograd metadata (docs/autograd.md) ----
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;             // accumulated gradient of a leaf
    std::shared_ptr<autograd::Node> grad_fn;      // the node that made this tensor (null for a leaf)
    std::uint32_t output_nr = 0;                  // which output of grad_fn this tensor is
    std::weak_ptr<autograd::Node> grad_accumulator;  // the AccumulateGrad node of a leaf, if alive
    bool is_view = false;                         // shares storage with the tensor it was made from
    std::uint64_t view_history_version = 0;       // storage's history_version when the view was made
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    /// A new, uninitialised, contiguous tensor (the factories in ops/factory.hpp fill it).
    /// Running out of memory is an fbseg::Error naming the shape, not a std::bad_alloc.
    static Tensor empty(const Shape& shape, const TensorOptions& options = {}) {
        for (auto d : shape) FBSEG_CHECK(d >= 0, "empty: negative size in shape ", shape_str(shape));
        // bytes = element size * d0 * d1 * ..., every product checked: a wrapped product would
        // become a tiny buffer and then a heap overflow.
        std::int64_t bytes = std::int64_t(element_size(options.dtype_));
        for (auto d : shape)
            bytes = checked_mul(bytes, d, detail::str("empty: a ", dtype_name(options.dtype_), " tensor of shape ",
                                                      shape_str(shape)));
        auto impl = std::make_shared<TensorImpl>();
        try {
            impl->storage = std::make_shared<Storage>(std::size_t(bytes), options.device_);
        } catch (const std::bad_alloc&) {
            FBSEG_FAIL("empty: cannot allocate ", bytes, " bytes for a ", dtype_name(options.dtype_), " ",
                       shape_str(shape), " tensor on ", options.device_.str(), " (out of memory)");
        } catch (const Error& e) {
            FBSEG_FAIL("empty: cannot allocate ", bytes, " bytes for a ", dtype_name(options.dtype_), " ",
                       shape_str(shape), " tensor on ", options.device_.str(), ": ", e.what());
        }
        impl->sizes = shape;
        impl->strides = contiguous_strides(shape);
        impl->dtype = options.dtype_;
        Tensor t(std::move(impl));
        if (options.requires_grad_) t.set_requires_grad(true);
        return t;
    }

    // ---- identity and metadata ----
    bool defined() const { return impl_ != nullptr; }
    const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
    bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

    const Shape& shape() const { return checked().sizes; }
    const Shape& sizes() const { return checked().sizes; }
    const Shape& strides() const { return checked().strides; }
    std::int64_t dim() const { return std::int64_t(checked().sizes.size()); }
    std::int64_t size(std::int64_t d) const {
        FBSEG_CHECK(dim() > 0, "size: dim ", d, " was asked of a 0-dim tensor, which has no dims");
        return shape()[normalize_dim(d, dim(), "size")];
    }
    std::int64_t stride(std::int64_t d) const {
        FBSEG_CHECK(dim() > 0, "stride: dim ", d, " was asked of a 0-dim tensor, which has no dims");
        return strides()[normalize_dim(d, dim(), "stride")];
    }
    std::int64_t numel() const { return numel_of(shape()); }
    std::int64_t offset() const { return checked().offset; }
    DType dtype() const { return checked().dtype; }
    Device device() const { return checked().storage->device(); }
    bool is_cuda() const { return device().is_cuda(); }
    const std::shared_ptr<Storage>& storage() const { return checked().storage; }
    bool is_contiguous() const {
        const auto& t = checked();
        if (numel_of(t.sizes) == 0) return true;  // no elements: any strides will do (as PyTorch)
        std::int64_t expected = 1;
        for (std::size_t k = t.sizes.size(); k-- > 0;) {
            if (t.sizes[k] == 1) continue;
            if (t.strides[k] != expected) return false;
            expected *= t.sizes[k];
        }
        return true;
    }
    /// "float32 [2, 3] cpu", used by error messages.
    std::string describe() const {
        if (!defined()) return "undefined tensor";
        return std::string(dtype_name(dtype())) + " " + shape_str(shape()) + " " + device().str();
    }

    /// Address of the first element, typed, for host code: checks the dtype and that the memory
    /// is on the CPU (host code must never dereference device memory; CUDA tensors are read with
    /// .cpu() first, and kernels take device_data_ptr).
    template <typename T>
    T* data_ptr() const {
        FBSEG_CHECK(dtype() == dtype_v<T>, "data_ptr: tensor is ", dtype_name(dtype()), " but ",
                    dtype_name(dtype_v<T>), " was asked for");
        FBSEG_CHECK(device().is_cpu(), "data_ptr: ", describe(), " is not on the CPU: host code cannot read "
                    "device memory (copy it with .cpu(), or pass device_data_ptr() to a CUDA kernel)");
        return static_cast<T*>(raw_data());
    }
    /// Address of the first element, typed, on whatever device the tensor lives: for the kernel
    /// dispatchers that hand it to a CUDA kernel. Checks the dtype only.
    template <typename T>
    T* device_data_ptr() const {
        FBSEG_CHECK(dtype() == dtype_v<T>, "device_data_ptr: tensor is ", dtype_name(dtype()), " but ",
                    dtype_name(dtype_v<T>), " was asked for");
        return static_cast<T*>(raw_data());
    }
    /// Untyped address of the first element (storage base + offset), on the tensor's device:
    /// only for code that checks the device itself (the kernel dispatchers in ops/kernel/).
    void* raw_data() const {
        const auto& t = checked();
        return static_cast<char*>(t.storage->data()) + t.offset * std::int64_t(element_size(t.dtype));
    }

    // ---- element access for tests and small programs (CPU tensors; copies from CUDA) ----
    template <typename T> T item() const;
    template <typename T> T at(std::initializer_list<std::int64_t> index) const;
    template <typename T> std::vector<T> to_vector() const;

    // ---- views: share storage; defined in ops/view.hpp ----
    Tensor view(const Shape& shape) const;
    Tensor reshape(const Shape& shape) const;
    Tensor permute(const Shape& dims) const;
    Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
    Tensor t() const;  // transpose of a matrix
    Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
    Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
    Tensor select(std::int64_t dim, std::int64_t index) const;
    Tensor expand(const Shape& shape) const;
    Tensor squeeze() const;
    Tensor squeeze(std::int64_t dim) const;
    Tensor unsqueeze(std::int64_t dim) const;
    Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;

    // ---- copies: defined in ops/copy.hpp ----
    Tensor contiguous() const;
    Tensor clone() const;
    Tensor to(DType dtype) const;
    Tensor to(Device device) const;
    Tensor cpu() const { return to(kCPU); }
    Tensor cuda(int index = 0) const { return to(cuda_device(index)); }
    Tensor& copy_(const Tensor& src);  // in place, broadcasting src
    Tensor& fill_(double value);
    Tensor& zero_() { return fill_(0.0); }

    // ---- autograd: defined in autograd/ headers and ops/tensor_methods.hpp ----
    bool requires_grad() const { return checked().requires_grad; }
    /// Marks a leaf as needing a gradient (floating dtypes only).
    Tensor& set_requires_grad(bool requires_grad = true);
    bool is_leaf() const { return checked().grad_fn == nullptr; }
    const std::shared_ptr<autograd::Node>& grad_fn() const { return checked().grad_fn; }
    /// The accumulated gradient (undefined until a backward reached this leaf).
    Tensor grad() const { return Tensor(checked().grad); }
    void set_grad(const Tensor& grad) { checked().grad = grad.impl_; }
    /// Drops the gradient (set_to_none semantics, as PyTorch's default).
    void zero_grad() { checked().grad.reset(); }
    /// The same data with no history: the result is a leaf that does not require grad.
    Tensor detach() const;
    /// Backpropagates from this tensor. With no `gradient` the tensor must hold one element
    /// (d self / d self = 1). Frees the graph unless retain_graph is true.
    void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
    /// Number of in-place writes to this tensor's storage so far.
    std::uint64_t version() const { return checked().storage->version(); }

    // ---- method forms of the ops: x.exp(), x.add_(y), x.sum(1)... ----
    // Generated from the list in ops/method_list.hpp; each forwards to the free function of the
    // same name (definitions in ops/method_forms.hpp).
#define FBSEG_DECLARE_fn(ret, name, params, args) ret name params const;
#define FBSEG_DECLARE_inplace(ret, name, params, args) ret name params;
#define FBSEG_DECLARE_intdim(ret, name, params, args) template <std::integral I> ret name params const;
#define FBSEG_DECLARE_inttmpl(ret, name, params, args) template <std::integral I> ret name params const;
#define FBSEG_DECLARE_METHOD(kind, ret, name, params, args) FBSEG_DECLARE_##kind(ret, name, params, args)
    FBSEG_TENSOR_METHODS(FBSEG_DECLARE_METHOD)
#undef FBSEG_DECLARE_METHOD
#undef FBSEG_DECLARE_fn
#undef FBSEG_DECLARE_inplace
#undef FBSEG_DECLARE_intdim
#undef FBSEG_DECLARE_inttmpl

private:
    TensorImpl& checked() const {
        FBSEG_CHECK(impl_ != nullptr, "operation on an undefined tensor");
        return *impl_;
    }
    std::shared_ptr<TensorImpl> impl_;
};

namespace detail {
/// A new TensorImpl that views `base`'s storage with a different shape, strides and offset.
inline Tensor make_view(const Tensor& base, Shape sizes, Shape strides, std::int64_t offset) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = base.storage();
    impl->sizes = std::move(sizes);
    impl->strides = std::move(strides);
    impl->offset = offset;
    impl->dtype = base.dtype();
    impl->is_view = true;
    impl->view_history_version = impl->storage->history_version();
    return Tensor(std::move(impl));
}
}  // namespace detail

}  // namespace fbseg
