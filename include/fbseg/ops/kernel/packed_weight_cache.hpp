// fbseg/ops/kernel/packed_weight_cache.hpp - a convolution's packed weights, kept between
// inference calls.
//
// The direct convolution (ops/cpu/direct_conv_kernels.hpp) first copies the weights into the
// order its register tiles read them. In training the weights change at every step, so that copy
// is part of the step; in inference they do not, and at batch 1 the copy was ~9% of a
// resnet34-unet inference (24 M weights read and written per image). So the conv2d seam, when no
// graph is recorded (NoGradGuard), asks this cache for the packed weights:
//   key:   the weight storage's uid and version (core/storage.hpp: every in-place write, an
//          optimizer step included, bumps the version; a new storage never reuses a uid), the
//          weight's address, the layer's shape and the kernel table (instruction set) that packs;
//   hit:   the packed copy, shared (std::shared_ptr: an evicted entry lives until its last user
//          is done);
//   miss:  packs (outside the lock), then keeps the copy, replacing the entry of the same
//          storage, and evicts the least recently used entries beyond kPackedCacheBytes.
// Thread-safe: one mutex around the list; two threads that miss at once both pack and the later
// insert wins (the two copies are identical). Memory: about one packed copy of the weights of
// the models run under NoGradGuard, at most kPackedCacheBytes; clear_packed_weight_cache() frees it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "fbseg/core/tensor.hpp"
#include "fbseg/ops/cpu/kernel_table.hpp"

namespace fbseg::kernel {

/// The most bytes of packed weights kept (512 MiB: the packed weights of the largest model here,
/// resnet34-unet, take 98 MB).
inline constexpr std::size_t kPackedCacheBytes = std::size_t(512) << 20;

namespace packed_cache_detail {

struct Key {
    std::uint64_t storage_uid = 0, version = 0;
    const void* data = nullptr;  // the weight's first element (the storage offset included)
    std::int64_t c_out = 0, c_in = 0, kh = 0, kw = 0, values = 0;
    const void* table = nullptr;  // the kernel table that packs (its instruction set) and dtype
    bool operator==(const Key&) const = default;
};

struct Entry {
    Key key;
    std::shared_ptr<const void> packed;
    std::size_t bytes = 0;
};

struct Cache {
    std::mutex mutex;
    std::list<Entry> entries;  // most recently used first
    std::size_t bytes = 0;
};

inline Cache& cache() {
    static Cache c;  // one per program (an inline function's static)
    return c;
}

}  // namespace packed_cache_detail

/// The weights of conv2d geometry `g` packed as `kernels` packs them (values: its
/// conv_packed_size(g), > 0), from the cache or freshly packed. `weight` is contiguous, on the CPU.
template <typename T>
std::shared_ptr<const T[]> packed_conv_weights(const ConvGeometry& g, const Tensor& weight,
                                               const cpu::GemmKernels<T>& kernels, std::int64_t values) {
    using namespace packed_cache_detail;
    const Key key{weight.storage()->uid(), weight.storage()->version(), weight.raw_data(), g.c_out, g.c_in,
                  g.kh,                    g.kw,                          values,            &kernels};
    Cache& c = cache();
    {
        const std::lock_guard<std::mutex> lock(c.mutex);
        for (auto it = c.entries.begin(); it != c.entries.end(); ++it) {
            if (it->key != key) continue;
            c.entries.splice(c.entries.begin(), c.entries, it);  // most recently used
            return std::static_pointer_cast<const T[]>(it->packed);
        }
    }
    std::shared_ptr<T[]> packed(new T[std::size_t(values)]);
    kernels.conv_pack_weights(g, weight.data_ptr<T>(), packed.get());
    const std::size_t bytes = std::size_t(values) * sizeof(T);
    const std::lock_guard<std::mutex> lock(c.mutex);
    for (auto it = c.entries.begin(); it != c.entries.end();) {  // an older version of this weight
        if (it->key.storage_uid == key.storage_uid && it->key.data == key.data && it->key.table == key.table) {
            c.bytes -= it->bytes;
            it = c.entries.erase(it);
        } else {
            ++it;
        }
    }
    c.entries.push_front(Entry{key, packed, bytes});
    c.bytes += bytes;
    while (c.bytes > kPackedCacheBytes && c.entries.size() > 1) {
        c.bytes -= c.entries.back().bytes;
        c.entries.pop_back();
    }
    return packed;
}

/// Frees every kept packed weight (they are rebuilt on the next inference call).
inline void clear_packed_weight_cache() {
    packed_cache_detail::Cache& c = packed_cache_detail::cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    c.entries.clear();
    c.bytes = 0;
}

/// How many packed weights the cache holds, and their bytes (tests, benchmarks).
inline std::pair<std::size_t, std::size_t> packed_weight_cache_size() {
    packed_cache_detail::Cache& c = packed_cache_detail::cache();
    const std::lock_guard<std::mutex> lock(c.mutex);
    return {c.entries.size(), c.bytes};
}

}  // namespace fbseg::kernel
