// fbseg/core/parallel.hpp - one small thread pool and parallel_for.
//
// parallel_for(begin, end, grain, f) calls f(b, e) on disjoint sub-ranges that cover
// [begin, end). Every op that splits work goes through it, so there is one knob for the number of
// threads (set_num_threads, or the FBSEG_NUM_THREADS environment variable).
//
// Determinism: elementwise ops write each output once, so the split cannot change a result.
// Reductions must not depend on the split either: they combine partials over blocks whose
// boundaries depend only on the problem size (see reduce_blocks in ops/cpu/loops.hpp), never on
// the number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fbseg {
namespace detail {

inline thread_local bool in_parallel_region = false;

/// A fixed set of worker threads that run the chunks of one job at a time.
class ThreadPool {
public:
    explicit ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
        for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int num_threads() const { return num_threads_; }

    /// Runs task(i) for i in [0, num_tasks) on the workers and the calling thread; rethrows the
    /// first exception a task threw.
    void run(std::int64_t num_tasks, const std::function<void(std::int64_t)>& task) {
        std::lock_guard job_lock(job_mutex_);  // one job at a time
        {
            std::lock_guard lock(mutex_);
            task_ = &task;
            num_tasks_ = num_tasks;
            next_task_.store(0);
            pending_ = num_tasks;
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        work_on_tasks();
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
        task_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    void worker_loop() {
        std::uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
            }
            work_on_tasks();
        }
    }

    void work_on_tasks() {
        in_parallel_region = true;
        for (;;) {
            const std::int64_t i = next_task_.fetch_add(1);
            if (i >= num_tasks_) break;
            try {
                (*task_)(i);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            if (--pending_ == 0) done_.notify_all();
        }
        in_parallel_region = false;
    }

    int num_threads_;
    std::vector<std::thread> workers_;
    std::mutex job_mutex_, mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(std::int64_t)>* task_ = nullptr;
    std::atomic<std::int64_t> next_task_{0};
    std::int64_t num_tasks_ = 0, pending_ = 0;
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
};

inline int default_num_threads() {
    if (const char* env = std::getenv("FBSEG_NUM_THREADS")) {
        const int n = std::atoi(env);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

inline std::unique_ptr<ThreadPool>& pool_slot() {
    static std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(default_num_threads());
    return pool;
}

}  // namespace detail

/// Number of threads parallel_for uses.
inline int num_threads() { return detail::pool_slot()->num_threads(); }

/// Sets the number of threads (1 = everything on the calling thread). Not thread-safe: call it
/// when no op is running.
inline void set_num_threads(int n) { detail::pool_slot() = std::make_unique<detail::ThreadPool>(n); }

/// Calls f(b, e) on sub-ranges of [begin, end) of at least `grain` elements, in parallel when the
/// range is large enough and we are not already inside a parallel region.
template <typename F>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, F&& f) {
    const std::int64_t range = end - begin;
    if (range <= 0) return;
    auto& pool = *detail::pool_slot();
    const std::int64_t max_chunks = std::max<std::int64_t>(1, range / std::max<std::int64_t>(grain, 1));
    const std::int64_t chunks = std::min<std::int64_t>(pool.num_threads(), max_chunks);
    if (chunks <= 1 || detail::in_parallel_region) {
        f(begin, end);
        return;
    }
    pool.run(chunks, [&](std::int64_t i) {
        const std::int64_t b = begin + range * i / chunks, e = begin + range * (i + 1) / chunks;
        f(b, e);
    });
}

}  // namespace fbseg
