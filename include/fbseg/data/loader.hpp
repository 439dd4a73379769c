// fbseg/data/loader.hpp - the batch loader: a Dataset read in a seeded order, each sample passed
// through a transform (the augmentation), stacked into Batches by worker threads that run ahead of
// the training step by a bounded number of batches.
//
//   DataLoader loader(dataset, {.batch_size = 8, .num_workers = 4, .seed = 42, .transform = augment});
//   for (std::int64_t e = 0; e < epochs; ++e)
//       for (Batch& batch : loader.epoch(e)) step(batch.images, batch.labels);
//
// Determinism (docs/data.md): epoch e visits the samples in the order of a Fisher-Yates
// shuffle drawn from a stream of its own, keyed by (seed, epoch); batch b holds positions
// [b B, (b + 1) B) of that order; sample i's transform draws from Rng::for_sample(seed, epoch, i).
// Nothing depends on which worker builds a batch or when, so the batches (content and order) are
// the same for any number of workers, and epoch(e, k) starts at batch k with exactly the batches
// an uninterrupted epoch would give from there (exact resume).
//
// Threads: each Epoch owns its workers (std::thread, not the compute pool of core/parallel.hpp,
// which the training step uses). Workers take batch numbers in increasing order under one mutex,
// never more than `prefetch` batches ahead of the consumer, and file each finished batch (or its
// exception) under that mutex; next() waits for batch number `next` and hands batches out in
// order. A worker's ops run inline (the worker counts as a parallel region), so loading does not
// compete with the training step for the pool. ~Epoch stops the workers and joins them, also in
// the middle of an epoch. The Dataset's get() and the transform are called from several threads at
// once: both must only read shared state (sample.hpp's Dataset contract).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/core/generator.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/batch.hpp"
#include "fbseg/data/random.hpp"
#include "fbseg/data/sample.hpp"

namespace fbseg::data {

/// A sample's augmentation: changes the sample in place, drawing from its own stream.
using Transform = std::function<void(Sample&, Rng&)>;

struct LoaderOptions {
    std::int64_t batch_size = 1;
    bool shuffle = true;       // false: dataset order, every epoch
    bool drop_last = false;    // true: a last batch of fewer than batch_size samples is left out
    int num_workers = 0;       // 0: batches are built on the calling thread, in next()
    int prefetch = 0;          // batches in flight (taken by a worker, not yet handed out); 0: 2 per worker
    std::uint64_t seed = 0;    // the shuffle and every transform draw from it
    Transform transform = {};  // optional; called from the worker threads
    // Data parallel (docs/scaling.md): of every global batch of batch_size samples, this process
    // (rank `rank` of `world_size`) reads only its contiguous share, positions
    // [floor(r m / W), floor((r + 1) m / W)) of the batch's m samples. The order, the transforms'
    // draws and the batch boundaries are those of one process, so the ranks' shares together are
    // exactly one process's batch. Every global batch must hold at least W samples.
    int rank = 0;
    int world_size = 1;
};

/// The order in which epoch `epoch` visits the samples 0..n-1: Fisher-Yates from the last
/// position down, for i = n-1 .. 1: j = integer(i + 1), swap(order[i], order[j]), with the draws
/// of a stream keyed by mix64(mix64(seed ^ "SHUFFLE") ^ epoch) (a stream no sample's
/// transform uses). shuffle = false: 0..n-1.
inline std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch, bool shuffle) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    if (!shuffle || n < 2) return order;
    constexpr std::uint64_t kShuffleSalt = 0x53485546464C45ull;  // "SHUFFLE"
    Rng rng(Generator(detail::mix64(detail::mix64(seed ^ kShuffleSalt) ^ epoch)));
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[std::size_t(rng.integer(std::int64_t(i) + 1))]);
    return order;
}

class DataLoader;

/// One epoch's batches, in order: next() until it returns nothing, or a range-for. Owns the
/// worker threads of the epoch; destroying it (also before the end) stops and joins them.
class Epoch {
public:
    Epoch(Epoch&&) noexcept = default;
    Epoch& operator=(Epoch&&) noexcept = default;
    Epoch(const Epoch&) = delete;
    Epoch& operator=(const Epoch&) = delete;
    ~Epoch() {
        if (state_) state_->stop();
    }

    /// The next batch, or nothing at the end of the epoch. A failure while building a batch
    /// (reading a sample, its transform, stacking) is thrown here, in batch order, as an
    /// fbseg::Error naming the sample's index and id; the epoch is over after it.
    std::optional<Batch> next() { return state_->next(); }

    std::int64_t num_batches() const { return state_->num_batches; }
    /// The batch number next() gives next.
    std::int64_t position() const { return state_->position(); }

    class Iterator {
    public:
        using value_type = Batch;
        using difference_type = std::ptrdiff_t;
        explicit Iterator(Epoch* epoch = nullptr) : epoch_(epoch) {}
        Batch& operator*() const { return *epoch_->current_; }
        Batch* operator->() const { return &*epoch_->current_; }
        Iterator& operator++() {
            epoch_->current_ = epoch_->next();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return !epoch_->current_.has_value(); }

    private:
        Epoch* epoch_;
    };
    Iterator begin() {
        current_ = next();
        return Iterator(this);
    }
    std::default_sentinel_t end() const { return {}; }

private:
    friend class DataLoader;

    /// Everything the workers share, on the heap (so that moving the Epoch moves a pointer).
    struct State {
        const Dataset* dataset = nullptr;
        LoaderOptions options;
        std::int64_t epoch = 0;
        std::vector<std::size_t> order;
        std::int64_t num_batches = 0;
        std::int64_t window = 1;  // batches in flight at most

        struct Result {
            std::optional<Batch> batch;
            std::exception_ptr error;
        };
        std::mutex mutex;
        std::condition_variable work_cv;      // a worker may take a batch, or should stop
        std::condition_variable ready_cv;     // a batch was filed
        std::int64_t next_to_take = 0;        // (guarded by mutex)
        std::int64_t next_to_give = 0;        // (guarded by mutex)
        std::map<std::int64_t, Result> done;  // finished, not yet handed out (guarded by mutex)
        bool stopping = false;                // ~Epoch (guarded by mutex)
        bool failed = false;                  // a batch failed: take no more (guarded by mutex)
        std::vector<std::thread> workers;

        std::int64_t position() {
            std::lock_guard lock(mutex);
            return next_to_give;
        }

        /// Builds batch b: reads its samples, transforms them, stacks them. Any failure becomes
        /// an fbseg::Error naming the sample, the epoch and the batch.
        Batch build(std::int64_t b) const {
            NoGradGuard no_grad;
            const std::int64_t bs = options.batch_size;
            const std::size_t global_begin = std::size_t(b * bs);
            const std::size_t global_end = std::min(order.size(), global_begin + std::size_t(bs));
            // this rank's share of the global batch (all of it in a single process)
            const std::size_t m = global_end - global_begin, w = std::size_t(options.world_size),
                              r = std::size_t(options.rank);
            const std::size_t begin = global_begin + r * m / w, end = global_begin + (r + 1) * m / w;
            std::vector<Sample> samples;
            std::vector<std::size_t> indices;
            samples.reserve(end - begin);
            for (std::size_t pos = begin; pos < end; ++pos) {
                const std::size_t index = order[pos];
                const std::string where = detail::str("(index ", index, ", epoch ", epoch, ", batch ", b, ")");
                Sample sample;
                try {
                    sample = dataset->get(index);
                } catch (const std::exception& e) {
                    FBSEG_FAIL("DataLoader: reading sample ", where, " failed: ", e.what());
                } catch (...) {
                    FBSEG_FAIL("DataLoader: reading sample ", where, " failed with an unknown exception");
                }
                if (options.transform) {
                    // The transform may write into the tensors in place: give it copies, never
                    // the dataset's own tensors (an in-memory dataset may return aliases).
                    if (sample.image.defined()) sample.image = sample.image.clone();
                    if (sample.label.defined()) sample.label = sample.label.clone();
                    Rng rng = Rng::for_sample(options.seed, std::uint64_t(epoch), index);
                    try {
                        options.transform(sample, rng);
                    } catch (const std::exception& e) {
                        FBSEG_FAIL("DataLoader: the transform of sample '", sample.id, "' ", where,
                                   " failed: ", e.what());
                    } catch (...) {
                        FBSEG_FAIL("DataLoader: the transform of sample '", sample.id, "' ", where,
                                   " failed with an unknown exception");
                    }
                }
                samples.push_back(std::move(sample));
                indices.push_back(index);
            }
            Batch batch;
            try {
                batch = collate(samples, indices);
            } catch (const std::exception& e) {
                FBSEG_FAIL("DataLoader: batch ", b, " of epoch ", epoch, ": ", e.what());
            }
            batch.epoch = epoch;
            batch.batch_index = b;
            return batch;
        }

        Result build_result(std::int64_t b) const {
            Result r;
            try {
                r.batch = build(b);
            } catch (...) {
                r.error = std::current_exception();
            }
            return r;
        }

        void worker_loop() {
            detail::in_parallel_region() = true;  // this thread's ops run inline, not on the pool
            std::unique_lock lock(mutex);
            for (;;) {
                work_cv.wait(lock, [&] {
                    return stopping || failed || next_to_take >= num_batches || next_to_take < next_to_give + window;
                });
                if (stopping || failed || next_to_take >= num_batches) return;
                const std::int64_t b = next_to_take++;
                lock.unlock();
                Result r = build_result(b);
                lock.lock();
                if (r.error) failed = true;
                done.emplace(b, std::move(r));
                ready_cv.notify_all();
                if (failed) work_cv.notify_all();  // idle workers: nothing more to take
            }
        }

        std::optional<Batch> next() {
            Result r;
            {
                std::unique_lock lock(mutex);
                if (next_to_give >= num_batches) return std::nullopt;
                const std::int64_t b = next_to_give;
                if (workers.empty()) {
                    lock.unlock();
                    r = build_result(b);
                    lock.lock();
                } else {
                    ready_cv.wait(lock, [&] { return done.count(b) != 0; });
                    auto it = done.find(b);
                    r = std::move(it->second);
                    done.erase(it);
                }
                next_to_give = r.error ? num_batches : b + 1;  // after an error the epoch is over
            }
            work_cv.notify_all();  // one more batch may be taken
            if (r.error) std::rethrow_exception(r.error);
            return std::move(r.batch);
        }

        void start(int num_workers) {
            try {
                for (int w = 0; w < num_workers; ++w) workers.emplace_back([this] { worker_loop(); });
            } catch (...) {
                stop();
                throw;
            }
        }

        void stop() {
            {
                std::lock_guard lock(mutex);
                stopping = true;
            }
            work_cv.notify_all();
            for (auto& w : workers)
                if (w.joinable()) w.join();
            workers.clear();
        }
    };

    explicit Epoch(std::unique_ptr<State> state) : state_(std::move(state)) {}
    std::unique_ptr<State> state_;
    std::optional<Batch> current_;  // the range-for's current batch
};

/// Batches of a Dataset, epoch by epoch. The dataset must outlive the loader and its epochs; an
/// epoch has one consumer (one thread calls its next()).
class DataLoader {
public:
    DataLoader(const Dataset& dataset, LoaderOptions options) : dataset_(&dataset), options_(std::move(options)) {
        FBSEG_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1 but is ", options_.batch_size);
        FBSEG_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be >= 0 but is ", options_.num_workers);
        FBSEG_CHECK(options_.prefetch >= 0, "DataLoader: prefetch must be >= 0 (0: 2 per worker) but is ",
                    options_.prefetch);
        FBSEG_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size,
                    "DataLoader: rank ", options_.rank, " of world_size ", options_.world_size, " is not a rank");
        if (options_.world_size > 1) {
            // every global batch needs a sample for every rank, the last (partial) one included
            const auto n = std::int64_t(dataset.size()), b = options_.batch_size;
            const std::int64_t last = options_.drop_last || n % b == 0 ? b : n % b;
            FBSEG_CHECK(n == 0 || last >= options_.world_size, "DataLoader: ", options_.world_size,
                        " ranks share each batch of ", b, " samples, but the last batch of this dataset (", n,
                        " samples) has only ", last, "; use drop_last or another batch size");
        }
    }

    const LoaderOptions& options() const { return options_; }
    std::size_t dataset_size() const { return dataset_->size(); }

    /// Batches per epoch: floor(n / B) with drop_last, else ceil(n / B).
    std::int64_t num_batches() const {
        const auto n = std::int64_t(dataset_->size()), b = options_.batch_size;
        return options_.drop_last ? n / b : (n + b - 1) / b;
    }

    /// The sample order of epoch `epoch` (batch k is positions [k B, (k + 1) B)).
    std::vector<std::size_t> order(std::int64_t epoch) const {
        FBSEG_CHECK(epoch >= 0, "DataLoader: the epoch must be >= 0 but is ", epoch);
        return epoch_order(dataset_->size(), options_.seed, std::uint64_t(epoch), options_.shuffle);
    }

    /// Epoch `epoch` from batch `start_batch` on (0 <= start_batch <= num_batches()): exactly the
    /// batches start_batch, start_batch + 1, ... of an uninterrupted epoch. Starts the workers.
    Epoch epoch(std::int64_t epoch, std::int64_t start_batch = 0) const {
        auto state = std::make_unique<Epoch::State>();
        state->dataset = dataset_;
        state->options = options_;
        state->epoch = epoch;
        state->order = order(epoch);
        state->num_batches = num_batches();
        FBSEG_CHECK(start_batch >= 0 && start_batch <= state->num_batches, "DataLoader: start_batch ", start_batch,
                    " is outside [0, ", state->num_batches, "] (", dataset_->size(), " samples, batch_size ",
                    options_.batch_size, options_.drop_last ? ", drop_last" : "", ")");
        state->next_to_take = state->next_to_give = start_batch;
        state->window = options_.prefetch > 0 ? options_.prefetch : 2 * std::max(1, options_.num_workers);
        state->start(options_.num_workers);
        return Epoch(std::move(state));
    }

private:
    const Dataset* dataset_;
    LoaderOptions options_;
};

}  // namespace fbseg::data
