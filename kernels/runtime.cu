// kernels/runtime.cu - devices, copies and the caching allocator behind fbseg::cuda::allocate.
//
// Why cache? cudaMalloc and cudaFree are slow (cudaFree also waits for the whole GPU to finish),
// and a training step frees and re-allocates tensors of the same sizes every iteration. So a
// freed block is not given back to the driver: it goes into a per-device free list, and the next
// request of a similar size takes it back without any CUDA call.
//
// Buckets: request sizes are rounded up so that nearby sizes share blocks:
//     bytes <  1 MiB  ->  a multiple of 512 bytes
//     bytes >= 1 MiB  ->  a multiple of 2 MiB
// The free list maps a block size to the blocks of that size. A request takes the smallest
// cached block that is large enough (best fit), but never one more than twice its rounded size,
// so a small tensor does not pin a huge block. Blocks are never split or merged.
//
// Reuse is safe without events because every kernel and copy in fbseg runs on the default stream
// of its device: work queued later on that stream (a kernel writing a reused block) always runs
// after work queued earlier (the kernels that read the block before it was freed).
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda_check.cuh"

namespace fbseg::cuda {

// ---- devices --------------------------------------------------------------------------------

int device_count() {
    // Asked once: the set of visible devices cannot change while the process runs. Without a
    // driver or a GPU, cudaGetDeviceCount returns an error (e.g. cudaErrorInsufficientDriver or
    // cudaErrorNoDevice); we clear it and report 0 devices instead of failing.
    static const int count = [] {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        return n;
    }();
    return count;
}

bool is_available() { return device_count() > 0; }

void synchronize(int device) {
    detail::DeviceGuard guard(device, "synchronize");
    FBSEG_CUDA_CHECK(cudaDeviceSynchronize());
}

// ---- the caching allocator ------------------------------------------------------------------

namespace {

constexpr std::size_t kSmallRounding = 512;                // small blocks: multiples of 512 B
constexpr std::size_t kLargeThreshold = 1u << 20;          // requests from 1 MiB up are "large"
constexpr std::size_t kLargeRounding = 2u << 20;           // large blocks: multiples of 2 MiB
constexpr std::size_t kMaxRequest = std::size_t(1) << 62;  // keeps the rounding from overflowing

std::size_t round_up(std::size_t bytes, std::size_t multiple) { return (bytes + multiple - 1) / multiple * multiple; }

/// The size of the block that serves a request of `bytes` (its bucket).
std::size_t block_size_for(std::size_t bytes) {
    return bytes < kLargeThreshold ? round_up(bytes, kSmallRounding) : round_up(bytes, kLargeRounding);
}

/// Everything the allocator knows about one device.
struct DeviceCache {
    std::map<std::size_t, std::vector<void*>> free_blocks;  // block size -> cached blocks
    std::unordered_map<void*, std::size_t> live_blocks;     // pointer handed out -> block size
    AllocatorStats stats;
};

class CachingAllocator {
public:
    explicit CachingAllocator(int num_devices) : caches_(std::size_t(num_devices)) {}

    void* allocate(std::size_t bytes, int device) {
        if (bytes == 0) return nullptr;  // an empty tensor owns no memory
        detail::DeviceGuard guard(device, "allocate");
        FBSEG_CHECK(bytes <= kMaxRequest, "allocate: cannot allocate ", bytes, " bytes on cuda:", device,
                    ": the request is larger than any GPU memory");
        const std::size_t size = block_size_for(bytes);

        std::lock_guard<std::mutex> lock(mutex_);
        DeviceCache& cache = caches_[std::size_t(device)];
        Block block = take_cached_block(cache, size);
        if (block.ptr == nullptr) block = Block{malloc_with_retry(cache, bytes, size, device), size};
        cache.live_blocks.emplace(block.ptr, block.size);
        cache.stats.allocated_bytes += block.size;
        cache.stats.peak_allocated_bytes = std::max(cache.stats.peak_allocated_bytes, cache.stats.allocated_bytes);
        return block.ptr;
    }

    void deallocate(void* ptr, int device) {
        if (ptr == nullptr) return;
        detail::check_device_index(device, "deallocate");
        std::lock_guard<std::mutex> lock(mutex_);
        DeviceCache& cache = caches_[std::size_t(device)];
        const auto live = cache.live_blocks.find(ptr);
        FBSEG_CHECK(live != cache.live_blocks.end(), "deallocate: pointer ", ptr,
                    " was not returned by fbseg::cuda::allocate on cuda:", device, " or was already freed");
        const std::size_t block = live->second;
        cache.live_blocks.erase(live);
        cache.free_blocks[block].push_back(ptr);
        cache.stats.allocated_bytes -= block;
        cache.stats.cached_bytes += block;
    }

    void empty_cache() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t device = 0; device < caches_.size(); ++device) {
            if (caches_[device].free_blocks.empty()) continue;
            detail::DeviceGuard guard(int(device), "empty_cache");
            release_cached_blocks(caches_[device]);
        }
    }

    AllocatorStats stats(int device) {
        detail::check_device_index(device, "allocator_stats");
        std::lock_guard<std::mutex> lock(mutex_);
        return caches_[std::size_t(device)].stats;
    }

private:
    struct Block {
        void* ptr = nullptr;
        std::size_t size = 0;
    };

    /// Best fit: the smallest cached block of at least `size` bytes and at most twice that,
    /// removed from the free list. {nullptr, 0} when there is none. The caller holds the mutex.
    static Block take_cached_block(DeviceCache& cache, std::size_t size) {
        const auto bucket = cache.free_blocks.lower_bound(size);
        if (bucket == cache.free_blocks.end() || bucket->first > 2 * size) return {};
        const Block block{bucket->second.back(), bucket->first};
        bucket->second.pop_back();
        if (bucket->second.empty()) cache.free_blocks.erase(bucket);
        cache.stats.cached_bytes -= block.size;
        return block;
    }

    /// cudaMalloc; on failure, return this device's cached blocks to the driver and try once
    /// more. The caller holds the mutex and has made `device` current.
    static void* malloc_with_retry(DeviceCache& cache, std::size_t bytes, std::size_t size, int device) {
        void* ptr = nullptr;
        ++cache.stats.num_cuda_mallocs;
        cudaError_t status = cudaMalloc(&ptr, size);
        if (status == cudaErrorMemoryAllocation && !cache.free_blocks.empty()) {
            (void)cudaGetLastError();  // clear the error so that later launch checks do not see it
            release_cached_blocks(cache);
            ++cache.stats.num_cuda_mallocs;
            status = cudaMalloc(&ptr, size);
        }
        if (status != cudaSuccess) {
            (void)cudaGetLastError();
            const AllocatorStats& s = cache.stats;
            FBSEG_FAIL("allocate: cannot allocate ", bytes, " bytes (a block of ", size, " bytes) on cuda:", device,
                       ": ", cudaGetErrorName(status), " (", cudaGetErrorString(status),
                       "); allocator stats: ", s.allocated_bytes, " bytes allocated, ", s.peak_allocated_bytes,
                       " bytes peak, ", s.cached_bytes, " bytes cached, ", s.num_cuda_mallocs, " cudaMalloc calls");
        }
        return ptr;
    }

    /// cudaFree every cached block of one device. The caller holds the mutex and has made that
    /// device current.
    static void release_cached_blocks(DeviceCache& cache) {
        // Take the blocks out of the cache first: if a cudaFree fails and throws, the rest leak
        // instead of staying in the free list, where they could be handed out or freed twice.
        const auto released = std::move(cache.free_blocks);
        cache.free_blocks.clear();
        cache.stats.cached_bytes = 0;
        for (const auto& [size, blocks] : released) {
            for (void* ptr : blocks) FBSEG_CUDA_CHECK(cudaFree(ptr));
        }
    }

    std::mutex mutex_;  // one lock for all devices: allocation is rare next to kernel work
    std::vector<DeviceCache> caches_;
};

/// The process-wide allocator. It is created on first use and deliberately never destroyed:
/// at exit the CUDA runtime may already be shut down, and the driver frees all device memory
/// of the process anyway.
CachingAllocator& the_allocator() {
    static CachingAllocator* allocator = new CachingAllocator(device_count());
    return *allocator;
}

}  // namespace

void* allocate(std::size_t bytes, int device) { return the_allocator().allocate(bytes, device); }
void deallocate(void* ptr, int device) { the_allocator().deallocate(ptr, device); }
void empty_cache() { the_allocator().empty_cache(); }
AllocatorStats allocator_stats(int device) { return the_allocator().stats(device); }

// ---- copies ---------------------------------------------------------------------------------
// cudaMemcpy on the default stream: it starts after the kernels queued before it, and the
// copies to the host return only when the data has arrived.

namespace {

void checked_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, int device, const char* op) {
    if (bytes == 0) return;
    FBSEG_CHECK(dst != nullptr && src != nullptr, op, ": null pointer for a copy of ", bytes, " bytes");
    detail::DeviceGuard guard(device, op);
    FBSEG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

}  // namespace

void copy_host_to_device(void* dst, const void* host_src, std::size_t bytes, int device) {
    checked_copy(dst, host_src, bytes, cudaMemcpyHostToDevice, device, "copy_host_to_device");
}

void copy_device_to_host(void* host_dst, const void* src, std::size_t bytes, int device) {
    checked_copy(host_dst, src, bytes, cudaMemcpyDeviceToHost, device, "copy_device_to_host");
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes, int device) {
    checked_copy(dst, src, bytes, cudaMemcpyDeviceToDevice, device, "copy_device_to_device");
}

}  // namespace fbseg::cuda
