// fbseg/core/cpu_allocator.hpp - where CPU tensors get their memory: aligned operator new, with a
// cache of large blocks kept for reuse.
//
// Why a cache: a training step frees and re-allocates the same activation sizes every step, and
// glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh mmap. Each page
// of such a block then costs a page fault and the kernel's zeroing on first touch: measured, 12%
// of the classic UNet's step on this machine went to page faults (docs/performance.md). Freed
// blocks of at least kCpuCacheMinBytes go to a free list per size instead, and the next request
// of that size takes one back. This is PyTorch's CUDA caching allocator in its simplest form.
//
// - Sizes are rounded up to a multiple of 64 KiB, so a block fits every request within 64 KiB of
//   its size; smaller blocks go straight to operator new / delete.
// - At most FBSEG_CPU_CACHE_MB MiB (default 4096) are kept; a freed block that would pass the
//   limit is returned to the system. cpu_empty_cache() returns them all.
// - Thread-safe: one mutex around the free lists (the loader's threads allocate too).
// - Under AddressSanitizer a cached block is poisoned, so a use after free is still caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define FBSEG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FBSEG_ASAN 1
#endif
#endif
#if defined(FBSEG_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace fbseg {

/// Alignment of CPU buffers: a cache line, enough for any SIMD load.
inline constexpr std::size_t kCpuAlignment = 64;
/// Blocks from this size up are cached when freed.
inline constexpr std::size_t kCpuCacheMinBytes = std::size_t(1) << 20;
/// Cached sizes are multiples of this.
inline constexpr std::size_t kCpuCacheGranule = std::size_t(64) << 10;

/// What the cache holds now and how often it served a request.
struct CpuCacheStats {
    std::size_t cached_bytes = 0;  // freed blocks kept for reuse
    std::size_t limit_bytes = 0;   // FBSEG_CPU_CACHE_MB
    std::uint64_t hits = 0;        // requests served from the cache
    std::uint64_t misses = 0;      // requests of a cacheable size that needed a new block
};

namespace detail {

class CpuBlockCache {
public:
    CpuBlockCache() {
        std::size_t mib = 4096;
        if (const char* env = std::getenv("FBSEG_CPU_CACHE_MB")) {
            char* end = nullptr;
            const unsigned long long v = std::strtoull(env, &end, 10);
            if (end != env && *end == '\0') mib = std::size_t(v);
        }
        limit_ = mib << 20;
    }

    /// The size a request of `nbytes` occupies (0: not cached).
    static std::size_t block_size(std::size_t nbytes) {
        if (nbytes < kCpuCacheMinBytes) return 0;
        return (nbytes + kCpuCacheGranule - 1) / kCpuCacheGranule * kCpuCacheGranule;
    }

    void* allocate(std::size_t nbytes) {
        const std::size_t size = block_size(nbytes);
        if (size == 0) return ::operator new(nbytes ? nbytes : 1, std::align_val_t(kCpuAlignment));
        {
            std::lock_guard lock(mutex_);
            auto it = free_.find(size);
            if (it != free_.end() && !it->second.empty()) {
                void* p = it->second.back();
                it->second.pop_back();
                cached_ -= size;
                ++hits_;
#if defined(FBSEG_ASAN)
                ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
                return p;
            }
            ++misses_;
        }
        return ::operator new(size, std::align_val_t(kCpuAlignment));
    }

    void deallocate(void* p, std::size_t nbytes) noexcept {
        const std::size_t size = block_size(nbytes);
        if (size != 0) {
            std::unique_lock lock(mutex_);
            if (cached_ + size <= limit_) {
                try {
                    free_[size].push_back(p);
                    cached_ += size;
#if defined(FBSEG_ASAN)
                    ASAN_POISON_MEMORY_REGION(p, size);
#endif
                    return;
                } catch (...) {  // no memory for the list entry: free the block instead
                }
            }
        }
        ::operator delete(p, std::align_val_t(kCpuAlignment));
    }

    void empty() {
        std::lock_guard lock(mutex_);
        for (auto& [size, blocks] : free_)
            for (void* p : blocks) {
#if defined(FBSEG_ASAN)
                ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
                ::operator delete(p, std::align_val_t(kCpuAlignment));
            }
        free_.clear();
        cached_ = 0;
    }

    CpuCacheStats stats() {
        std::lock_guard lock(mutex_);
        return {cached_, limit_, hits_, misses_};
    }

private:
    std::mutex mutex_;
    std::unordered_map<std::size_t, std::vector<void*>> free_;  // block size -> free blocks (guarded)
    std::size_t cached_ = 0, limit_ = 0;                        // (guarded)
    std::uint64_t hits_ = 0, misses_ = 0;                       // (guarded)
};

/// The process's cache. Never destroyed: a tensor freed by another static destructor at exit must
/// still find it (the cached blocks go back to the system with the process).
inline CpuBlockCache& cpu_block_cache() {
    static CpuBlockCache* cache = new CpuBlockCache();
    return *cache;
}

}  // namespace detail

/// `nbytes` bytes aligned to kCpuAlignment; throws std::bad_alloc.
inline void* cpu_allocate(std::size_t nbytes) { return detail::cpu_block_cache().allocate(nbytes); }
/// Frees (or caches) a block from cpu_allocate(nbytes), with the same nbytes.
inline void cpu_deallocate(void* p, std::size_t nbytes) noexcept { detail::cpu_block_cache().deallocate(p, nbytes); }
/// Returns every cached block to the system.
inline void cpu_empty_cache() { detail::cpu_block_cache().empty(); }
/// The cache's size, limit and hit counts.
inline CpuCacheStats cpu_cache_stats() { return detail::cpu_block_cache().stats(); }

}  // namespace fbseg
