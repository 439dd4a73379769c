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
#include <chrono>
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

// The pool's state lives in one place per program. In the compiled library (FBSEG_KERNEL_LIBRARY,
// set by the CMake target fbseg::fbseg) the two accessors below are defined once in
// src/core/parallel.cpp: the kernels compiled once per instruction set (src/cpu/) keep private
// copies of every inline function they use, and must still share this pool and this flag with
// the rest of the program. Header-only, they are inline here.

#if defined(FBSEG_KERNEL_LIBRARY)
#define FBSEG_POOL_STATE_INLINE
#else
#define FBSEG_POOL_STATE_INLINE inline
#endif

/// True on a thread that is running a parallel_for task (or that asked to run ops inline, as the
/// loader's workers do): parallel_for then runs its range on that thread, never nests.
FBSEG_POOL_STATE_INLINE bool& in_parallel_region();

class ThreadPool;
/// The program's pool (created on first use with default_num_threads()).
FBSEG_POOL_STATE_INLINE std::unique_ptr<ThreadPool>& pool_slot();

/// A fixed set of worker threads that run the chunks of one job at a time.
///
/// The hand-off, and why it is safe:
/// - run() describes its job in a Job object on its own stack frame and publishes a pointer to
///   it under `mutex_` (with a new generation number), so a worker sees either no job or a
///   complete one: nothing a worker reads is written without the lock while it may read it.
/// - A worker that wakes takes the job pointer and counts itself in `job->joined` under the
///   same lock, and leaves (decrements `joined`) under the lock too.
/// - When every task has finished, run() un-publishes the job (so no late worker can join it)
///   and then waits until `joined` is back to 0. Only then does it return and let the Job, the
///   task and everything the task refers to on the caller's stack go away. A worker that wakes
///   late simply finds no job (or the next one) and goes back to sleep.
///
/// Spinning before sleeping. A worker that finishes a job watches `generation_` for kSpin before
/// it sleeps on `wake_`, and run() watches its job's `finished` flag for as long before it sleeps
/// on `done_`. A network makes hundreds of parallel_for calls per forward pass, often back to
/// back; sleeping between them put a futex wake-up (and, in a VM, an inter-processor interrupt)
/// on the critical path of each (docs/performance.md, step 13). What is read while spinning
/// (`generation_`, `stopping_`, `finished`, `joined`) is atomic but still changed under `mutex_`
/// only, and every decision is taken again under the lock, so the hand-off above is unchanged:
/// spinning only decides when to take the lock. run() also spins for `joined` to reach 0.
class ThreadPool {
public:
    explicit ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
        for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
    }
    ~ThreadPool() {
        {
            std::lock_guard lock(mutex_);
            stopping_.store(true, std::memory_order_release);
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int num_threads() const { return num_threads_; }

    /// Runs task(i) for i in [0, num_tasks) on the workers and the calling thread; rethrows the
    /// first exception a task threw. Several threads may call run() at once: jobs run one at a
    /// time, in the order the callers get `job_mutex_`.
    void run(std::int64_t num_tasks, const std::function<void(std::int64_t)>& task) {
        std::lock_guard job_lock(job_mutex_);  // one job at a time
        Job job(task, num_tasks);
        {
            std::lock_guard lock(mutex_);
            job_ = &job;
            generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        }
        wake_.notify_all();
        work_on(job);
        spin_until([&] { return job.finished.load(std::memory_order_acquire); });
        {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [&] { return job.unfinished == 0; });
            job_ = nullptr;  // no worker can join from now on...
        }
        spin_until([&] { return job.joined.load(std::memory_order_acquire) == 0; });
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return job.joined == 0; });  // ...and those that did have left
        if (job.error) std::rethrow_exception(job.error);
    }

private:
    /// One call of run(): lives on run()'s stack frame until every worker that joined has left.
    struct Job {
        Job(const std::function<void(std::int64_t)>& t, std::int64_t n) : task(t), num_tasks(n), unfinished(n) {}
        const std::function<void(std::int64_t)>& task;
        const std::int64_t num_tasks;
        std::atomic<std::int64_t> next_task{0};  // the next task index to hand out
        std::int64_t unfinished;                 // tasks not yet finished (guarded by mutex_)
        std::atomic<bool> finished{false};       // unfinished == 0 (set under mutex_; read to spin)
        std::atomic<int> joined{0};              // workers inside work_on(*this) (changed under mutex_)
        std::exception_ptr error;                // the first exception (guarded by mutex_)
    };

    void worker_loop() {
        std::uint64_t seen = 0;
        for (;;) {
            spin_until([&] {
                return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
            });
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
            if (stopping_.load()) return;
            seen = generation_.load();
            Job* job = job_;
            if (job == nullptr) continue;  // woke after that job was finished: nothing to do
            ++job->joined;
            lock.unlock();
            work_on(*job);
            lock.lock();
            if (--job->joined == 0) done_.notify_all();
        }
    }

    /// How long a thread waits for `ready` before it sleeps (see the class comment): longer than
    /// the gap between two parallel_for calls of a network, short against a time slice.
    static constexpr std::chrono::microseconds kSpin{200};

    /// Returns when ready() is true or after about kSpin.
    template <typename Ready>
    static void spin_until(Ready&& ready) {
        const auto until = std::chrono::steady_clock::now() + kSpin;
        for (int i = 1;; ++i) {
            if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) return;
        }
    }

    /// Takes task indices from `job` until there are none left.
    void work_on(Job& job) {
        bool& in_region = in_parallel_region();
        const bool was_in_region = in_region;
        in_region = true;
        for (;;) {
            const std::int64_t i = job.next_task.fetch_add(1);
            if (i >= job.num_tasks) break;
            std::exception_ptr error;
            try {
                job.task(i);
            } catch (...) {
                error = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            if (error && !job.error) job.error = error;
            if (--job.unfinished == 0) {
                job.finished.store(true, std::memory_order_release);
                done_.notify_all();
            }
        }
        in_region = was_in_region;
    }

    int num_threads_;
    std::vector<std::thread> workers_;
    std::mutex job_mutex_, mutex_;
    std::condition_variable wake_, done_;
    Job* job_ = nullptr;                        // the published job (guarded by mutex_)
    std::atomic<std::uint64_t> generation_{0};  // bumped for every job (written under mutex_)
    std::atomic<bool> stopping_{false};         // (written under mutex_)
};

inline int default_num_threads() {
    if (const char* env = std::getenv("FBSEG_NUM_THREADS")) {
        const int n = std::atoi(env);
        if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
}

// Header-only: defined here; compiled library: in src/core/parallel.cpp only.
#if !defined(FBSEG_KERNEL_LIBRARY) || defined(FBSEG_DEFINE_POOL_STATE)
FBSEG_POOL_STATE_INLINE bool& in_parallel_region() {
    static thread_local bool flag = false;
    return flag;
}
FBSEG_POOL_STATE_INLINE std::unique_ptr<ThreadPool>& pool_slot() {
    static std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(default_num_threads());
    return pool;
}
#endif
#undef FBSEG_POOL_STATE_INLINE

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
    if (chunks <= 1 || detail::in_parallel_region()) {
        f(begin, end);
        return;
    }
    pool.run(chunks, [&](std::int64_t i) {
        const std::int64_t b = begin + range * i / chunks, e = begin + range * (i + 1) / chunks;
        f(b, e);
    });
}

}  // namespace fbseg
