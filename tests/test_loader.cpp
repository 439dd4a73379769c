// Tests of the batch loader (include/fbseg/data/loader.hpp, batch.hpp) and the subject splits
// (include/fbseg/data/split.hpp), suite "loader". The datasets are made in memory here: each
// pixel's value is a known function of (sample index, pixel), so a batch's content can be checked
// against the dataset without the loader's help. Determinism is checked by comparing the runs
// bit for bit (1 worker against 4, a resumed epoch against an uninterrupted one), never against
// numbers copied from a run.
#include <doctest/doctest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fbseg/data/batch.hpp"
#include "fbseg/data/loader.hpp"
#include "fbseg/data/split.hpp"
#include "fbseg/data/augment/presets.hpp"
#include "fbseg/data/hc18.hpp"
#include "fbseg/data/phantom/write.hpp"
#include "support/check.hpp"
#include "support/temp_dir.hpp"

namespace loader_tests {  // a namespace of its own: the test files are compiled as one unity source

using namespace fbseg;
using namespace fbseg::data;
namespace fs = std::filesystem;
using fbseg::test::values;

namespace {

/// Strings joined (detail::str: no std::string operator+, on which GCC 12 -O3 warns falsely).
using fbseg::detail::str;

/// Three-digit zero-padded number: 7 -> "007".
std::string pad3(std::size_t i) {
    std::string s = std::to_string(i);
    s.insert(0, s.size() < 3 ? 3 - s.size() : 0, '0');
    return s;
}

/// n samples, image [1, H, W] with pixel (y, x) of sample i = i + 0.01 (y W + x), label 1 where
/// x >= W / 2 (0 elsewhere), id "sNNN", subject "subj" + i / 3. Counts its get() calls.
/// Optional: a sample that fails to read, a sample of another size, a delay per read.
class ToyDataset : public Dataset {
public:
    explicit ToyDataset(std::size_t n, std::int64_t h = 6, std::int64_t w = 5) : n_(n), h_(h), w_(w) {}
    std::size_t size() const override { return n_; }
    Sample get(std::size_t i) const override {
        ++reads;
        if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        FBSEG_CHECK(i != fail_index, "ToyDataset: /data/s", pad3(i), ".png is corrupt");
        const std::int64_t h = i == odd_size_index ? h_ + 1 : h_, w = w_;
        Sample s;
        s.image = make_image(1, h, w);
        float* p = s.image.data_ptr<float>();
        for (std::int64_t k = 0; k < h * w; ++k) p[k] = float(double(i) + 0.01 * double(k));
        if (with_labels) {
            s.label = make_label(h, w);
            std::int64_t* l = s.label.data_ptr<std::int64_t>();
            for (std::int64_t y = 0; y < h; ++y)
                for (std::int64_t x = 0; x < w; ++x) l[y * w + x] = x >= w / 2 ? 1 : 0;
        }
        s.id = str("s", pad3(i));
        s.subject = subject(i);
        s.original_size = {h, w};
        s.spacing_mm = std::array<double, 2>{0.1 * double(i + 1), 0.2};
        return s;
    }
    std::string subject(std::size_t i) const override { return str("subj", i / 3); }

    std::size_t fail_index = std::size_t(-1);
    std::size_t odd_size_index = std::size_t(-1);
    bool with_labels = true;
    int delay_us = 0;
    mutable std::atomic<std::int64_t> reads{0};

private:
    std::size_t n_;
    std::int64_t h_, w_;
};

/// A random transform: adds N(0, 0.1) noise to every pixel, flips left-right with probability
/// 1/2 (image and label), and writes one more uniform draw into pixel 0 (the last draw).
void noisy_flip(Sample& s, Rng& rng) {
    const std::int64_t h = s.height(), w = s.width();
    float* p = s.image.data_ptr<float>();
    for (std::int64_t k = 0; k < h * w; ++k) p[k] += float(rng.normal(0.0, 0.1));
    if (rng.bernoulli(0.5)) {
        for (std::int64_t y = 0; y < h; ++y) std::reverse(p + y * w, p + (y + 1) * w);
        if (s.has_label()) {
            std::int64_t* l = s.label.data_ptr<std::int64_t>();
            for (std::int64_t y = 0; y < h; ++y) std::reverse(l + y * w, l + (y + 1) * w);
        }
    }
    p[0] = float(rng.uniform());
}

/// Two batches are the same: same samples in the same order, images and labels bit for bit.
bool same_batch(const Batch& a, const Batch& b) {
    if (a.ids != b.ids || a.indices != b.indices || a.batch_index != b.batch_index || a.epoch != b.epoch) return false;
    if (a.images.shape() != b.images.shape() || a.has_labels() != b.has_labels()) return false;
    if (std::memcmp(a.images.data_ptr<float>(), b.images.data_ptr<float>(), std::size_t(a.images.numel()) * 4) != 0)
        return false;
    if (a.has_labels() && std::memcmp(a.labels.data_ptr<std::int64_t>(), b.labels.data_ptr<std::int64_t>(),
                                      std::size_t(a.labels.numel()) * 8) != 0)
        return false;
    return true;
}

std::vector<Batch> all_batches(const DataLoader& loader, std::int64_t epoch, std::int64_t start = 0) {
    std::vector<Batch> out;
    for (Batch& b : loader.epoch(epoch, start)) out.push_back(std::move(b));
    return out;
}

LoaderOptions options(std::int64_t batch_size, int workers, Transform transform = {}) {
    LoaderOptions o;
    o.batch_size = batch_size;
    o.num_workers = workers;
    o.seed = 1234;
    o.transform = std::move(transform);
    return o;
}

}  // namespace

TEST_CASE("loader: 1 and 4 workers give bit-identical batches for several epochs with a random transform") {
    ToyDataset dataset(23);
    DataLoader one(dataset, options(4, 1, noisy_flip));
    DataLoader four(dataset, options(4, 4, noisy_flip));
    DataLoader inline_(dataset, options(4, 0, noisy_flip));  // built on the calling thread
    std::vector<std::vector<std::size_t>> orders;
    for (std::int64_t e = 0; e < 3; ++e) {
        const auto a = all_batches(one, e), b = all_batches(four, e), c = all_batches(inline_, e);
        REQUIRE(a.size() == 6);
        REQUIRE(b.size() == 6);
        REQUIRE(c.size() == 6);
        std::vector<std::size_t> order;
        for (std::size_t k = 0; k < a.size(); ++k) {
            CHECK(same_batch(a[k], b[k]));
            CHECK(same_batch(a[k], c[k]));
            CHECK(a[k].batch_index == std::int64_t(k));
            order.insert(order.end(), a[k].indices.begin(), a[k].indices.end());
        }
        CHECK(order == one.order(e));
        orders.push_back(order);
    }
    // the shuffle and the transform change from epoch to epoch, and the transform did run
    CHECK(orders[0] != orders[1]);
    CHECK(orders[1] != orders[2]);
    const Batch first = all_batches(one, 0)[0];
    CHECK(first.images.data_ptr<float>()[1] != float(double(first.indices[0]) + 0.01));  // noise added
    // a second loader with the same seed gives the same epoch; another seed another order
    DataLoader again(dataset, options(4, 2, noisy_flip));
    CHECK(same_batch(all_batches(again, 1)[3], all_batches(one, 1)[3]));
    LoaderOptions other = options(4, 1, noisy_flip);
    other.seed = 99;
    CHECK(DataLoader(dataset, other).order(0) != one.order(0));
}

TEST_CASE("loader: the transform of a sample depends on (seed, epoch, index) only") {
    // sample i's pixel 0 is the first uniform of Rng::for_sample(seed, epoch, i), drawn after
    // its h w normals and one bernoulli: recompute it here from the Rng alone
    ToyDataset dataset(10);
    DataLoader loader(dataset, options(3, 3, noisy_flip));
    for (std::int64_t e : {0, 5}) {
        for (const Batch& b : all_batches(loader, e)) {
            for (std::int64_t k = 0; k < b.size(); ++k) {
                Rng rng = Rng::for_sample(1234, std::uint64_t(e), b.indices[std::size_t(k)]);
                for (int j = 0; j < 6 * 5; ++j) rng.normal();
                rng.bernoulli(0.5);
                CHECK(b.images.data_ptr<float>()[k * 30] == float(rng.uniform()));
            }
        }
    }
}

TEST_CASE("loader: every sample once per epoch; batch contents, metadata and binary_target") {
    ToyDataset dataset(23);
    DataLoader loader(dataset, options(4, 2));
    CHECK(loader.num_batches() == 6);
    const auto batches = all_batches(loader, 7);
    std::multiset<std::size_t> seen;
    for (std::size_t k = 0; k < batches.size(); ++k) {
        const Batch& b = batches[k];
        CHECK(b.size() == (k < 5 ? 4 : 3));  // 23 = 5 * 4 + 3
        CHECK_SHAPE(b.images, {b.size(), 1, 6, 5});
        CHECK_SHAPE(b.labels, {b.size(), 6, 5});
        CHECK(b.epoch == 7);
        for (std::int64_t j = 0; j < b.size(); ++j) {
            const std::size_t i = b.indices[std::size_t(j)];
            seen.insert(i);
            CHECK(b.ids[std::size_t(j)] == str("s", pad3(i)));
            CHECK(b.subjects[std::size_t(j)] == str("subj", i / 3));
            CHECK(b.spacing_mm[std::size_t(j)].value()[0] == 0.1 * double(i + 1));
            CHECK(b.original_sizes[std::size_t(j)] == std::array<std::int64_t, 2>{6, 5});
            // no transform: the dataset's pixels, exactly
            const float* p = b.images.data_ptr<float>() + j * 30;
            for (std::int64_t q = 0; q < 30; ++q) REQUIRE(p[q] == float(double(i) + 0.01 * double(q)));
            const std::int64_t* l = b.labels.data_ptr<std::int64_t>() + j * 30;
            for (std::int64_t q = 0; q < 30; ++q) REQUIRE(l[q] == (q % 5 >= 2 ? 1 : 0));
        }
    }
    CHECK(seen.size() == 23);
    CHECK(std::set<std::size_t>(seen.begin(), seen.end()).size() == 23);
    // binary_target: float32 [N, 1, H, W], 1 where label > 0
    const Tensor t = binary_target(batches[0]);
    CHECK_SHAPE(t, {4, 1, 6, 5});
    CHECK(t.dtype() == DType::Float32);
    CHECK(values(t) == values(batches[0].labels.to(DType::Float32).reshape({4, 1, 6, 5})));
    // no shuffle: dataset order
    LoaderOptions plain = options(5, 0);
    plain.shuffle = false;
    const auto ordered = all_batches(DataLoader(dataset, plain), 3);
    CHECK(ordered[1].indices == std::vector<std::size_t>{5, 6, 7, 8, 9});
    // samples without label maps: labels undefined
    ToyDataset unlabelled(5);
    unlabelled.with_labels = false;
    const auto nolabels = all_batches(DataLoader(unlabelled, options(2, 1)), 0);
    CHECK_FALSE(nolabels[0].has_labels());
    CHECK_ERROR(binary_target(nolabels[0]), "binary_target", "no label maps");
}

TEST_CASE("loader: the ranks' shares of every batch are, in rank order, exactly one process's batch") {
    ToyDataset dataset(23);  // batches of 6: 6, 6, 6, 5
    DataLoader whole(dataset, options(6, 0, noisy_flip));
    for (const int world : {2, 3, 5}) {
        std::vector<std::vector<Batch>> shares;
        for (int r = 0; r < world; ++r) {
            LoaderOptions o = options(6, r % 2, noisy_flip);  // the worker count must not matter
            o.rank = r;
            o.world_size = world;
            shares.push_back(all_batches(DataLoader(dataset, o), 1));
        }
        const std::vector<Batch> reference = all_batches(whole, 1);
        for (std::size_t b = 0; b < reference.size(); ++b) {
            // rank r holds positions [floor(r m / W), floor((r + 1) m / W)) of the batch's m samples
            const auto m = std::int64_t(reference[b].indices.size());
            std::vector<std::size_t> joined;
            std::vector<Tensor> images;
            for (int r = 0; r < world; ++r) {
                const Batch& part = shares[std::size_t(r)][b];
                CHECK(std::int64_t(part.indices.size()) == (r + 1) * m / world - r * m / world);
                joined.insert(joined.end(), part.indices.begin(), part.indices.end());
                images.push_back(part.images);
            }
            CHECK(joined == reference[b].indices);
            // the same pixels: the transform's draws depend on (seed, epoch, index), not on the rank
            const Tensor joined_images = cat(images, 0).contiguous();
            REQUIRE(joined_images.shape() == reference[b].images.shape());
            CHECK(std::memcmp(joined_images.data_ptr<float>(), reference[b].images.data_ptr<float>(),
                              std::size_t(joined_images.numel()) * sizeof(float)) == 0);
        }
    }
    // a last batch smaller than the number of ranks is refused up front, naming the sizes
    LoaderOptions six = options(6, 0, noisy_flip);
    six.world_size = 6;
    CHECK_THROWS_WITH_AS(DataLoader(dataset, six), doctest::Contains("the last batch of this dataset (23 samples) has only 5"),
                         fbseg::Error);
    six.drop_last = true;
    CHECK_NOTHROW(DataLoader(dataset, six));
    LoaderOptions bad = options(6, 0, noisy_flip);
    bad.rank = 2;
    bad.world_size = 2;
    CHECK_THROWS_WITH_AS(DataLoader(dataset, bad), doctest::Contains("rank 2 of world_size 2 is not a rank"), fbseg::Error);
}

TEST_CASE("loader: drop_last leaves out the short last batch") {
    ToyDataset dataset(23);
    LoaderOptions o = options(4, 3);
    o.drop_last = true;
    DataLoader loader(dataset, o);
    CHECK(loader.num_batches() == 5);
    const auto batches = all_batches(loader, 2);
    REQUIRE(batches.size() == 5);
    std::set<std::size_t> seen;
    for (const Batch& b : batches) {
        CHECK(b.size() == 4);
        seen.insert(b.indices.begin(), b.indices.end());
    }
    CHECK(seen.size() == 20);
    // the 3 left out are the last 3 of the epoch's order
    const auto order = loader.order(2);
    for (std::size_t k = 20; k < 23; ++k) CHECK(seen.count(order[k]) == 0);
}

TEST_CASE("loader: epoch(e, k) gives exactly the batches k, k+1, ... of an uninterrupted epoch") {
    ToyDataset dataset(30);
    DataLoader full(dataset, options(4, 1, noisy_flip));
    DataLoader resumed(dataset, options(4, 3, noisy_flip));
    const auto all = all_batches(full, 4);
    REQUIRE(all.size() == 8);
    for (std::int64_t k : {1, 5, 7}) {
        const auto rest = all_batches(resumed, 4, k);
        REQUIRE(rest.size() == all.size() - std::size_t(k));
        for (std::size_t j = 0; j < rest.size(); ++j) CHECK(same_batch(rest[j], all[std::size_t(k) + j]));
    }
    CHECK(all_batches(resumed, 4, 8).empty());
    auto epoch = resumed.epoch(4, 6);
    CHECK(epoch.position() == 6);
    CHECK(epoch.next()->batch_index == 6);
    CHECK(epoch.position() == 7);
    CHECK_ERROR(resumed.epoch(4, 9), "start_batch 9", "[0, 8]");
    CHECK_ERROR(resumed.epoch(4, -1), "start_batch -1");
}

TEST_CASE("loader: workers stay at most `prefetch` batches ahead of the consumer") {
    ToyDataset dataset(40);
    LoaderOptions o = options(2, 4);
    o.prefetch = 3;
    DataLoader loader(dataset, o);
    auto epoch = loader.epoch(0);
    std::int64_t received = 0;
    while (auto b = epoch.next()) {
        ++received;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow training step
        // taken batches <= received + prefetch, each read 2 samples
        CHECK(dataset.reads.load() <= (received + 3) * 2);
    }
    CHECK(received == 20);
    CHECK(dataset.reads.load() == 40);
}

TEST_CASE("loader: an exception from sample 7 surfaces with its id and index, in batch order") {
    for (int workers : {0, 1, 4}) {
        INFO("workers ", workers);
        ToyDataset dataset(20);
        // the transform fails on sample 7: its id is known
        DataLoader loader(dataset, options(3, workers, [](Sample& s, Rng&) {
                              FBSEG_CHECK(s.id != "s007", "augment: cannot rotate ", s.id);
                          }));
        const auto order = loader.order(1);
        const auto position = std::size_t(std::find(order.begin(), order.end(), 7) - order.begin());
        const std::int64_t failing_batch = std::int64_t(position / 3);
        auto epoch = loader.epoch(1);
        for (std::int64_t b = 0; b < failing_batch; ++b) CHECK(epoch.next()->batch_index == b);
        const std::string message = test::error_of([&] { epoch.next(); });
        for (const std::string& part : std::vector<std::string>{"transform of sample 's007'", "index 7", "epoch 1",
                                                                str("batch ", failing_batch), "cannot rotate s007"})
            CHECK_MESSAGE(message.find(part) != std::string::npos, part, " not in: ", message);
        CHECK_FALSE(epoch.next().has_value());  // the epoch is over
        // reading fails on sample 7: the index and the reader's message
        dataset.fail_index = 7;
        DataLoader reader(dataset, options(3, workers));
        const std::string read_error = test::error_of([&] { all_batches(reader, 1); });
        for (const char* part : {"reading sample (index 7", "/data/s007.png is corrupt"})
            CHECK_MESSAGE(read_error.find(part) != std::string::npos, part, " not in: ", read_error);
        // destroyed right after the error (workers still busy on later batches): no hang
        auto busy = reader.epoch(1, failing_batch);
        CHECK_THROWS_AS(busy.next(), Error);
    }
}

TEST_CASE("loader: destroying an epoch mid-way stops and joins its workers") {
    ToyDataset dataset(200);
    dataset.delay_us = 500;
    DataLoader loader(dataset, options(4, 4));
    const auto start = std::chrono::steady_clock::now();
    {
        auto epoch = loader.epoch(0);
        CHECK(epoch.next().has_value());
    }  // 49 batches left: the destructor must not wait for them
    {
        auto untouched = loader.epoch(1);  // destroyed before any next()
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::int64_t reads = dataset.reads.load();
    CHECK(reads < 100);  // a few batches in flight, never the whole epoch
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(dataset.reads.load() == reads);  // nothing reads after the epochs are gone
    CHECK(seconds < 2.0);
    // a moved epoch keeps running, the moved-from one owns nothing
    auto a = loader.epoch(2);
    auto b = std::move(a);
    CHECK(b.next()->batch_index == 0);
}

TEST_CASE("loader: samples of different sizes in one batch are an error naming both") {
    ToyDataset dataset(6);
    dataset.odd_size_index = 4;  // [1, 7, 5] among [1, 6, 5]
    LoaderOptions o = options(6, 2);
    o.shuffle = false;
    DataLoader loader(dataset, o);
    CHECK_ERROR(all_batches(loader, 0), "sample 's000' (index 0)", "[1, 6, 5]", "sample 's004' (index 4)", "[1, 7, 5]",
                "one size");
    CHECK_ERROR(DataLoader(dataset, options(0, 1)), "batch_size must be >= 1");
    CHECK_ERROR(DataLoader(dataset, options(1, -1)), "num_workers must be >= 0");
    // collate on its own: labels for some samples only
    std::vector<Sample> samples = {dataset.get(0), dataset.get(1)};
    samples[1].label = Tensor();
    CHECK_ERROR(collate(samples), "sample 's000' has a label map", "sample 's001' has none");
}

// ---- splits ------------------------------------------------------------------------------------

namespace {

/// Samples with given (id, subject) pairs and 1x2x2 images.
class NamedDataset : public Dataset {
public:
    explicit NamedDataset(std::vector<std::pair<std::string, std::string>> items) : items_(std::move(items)) {}
    std::size_t size() const override { return items_.size(); }
    Sample get(std::size_t i) const override {
        Sample s;
        s.image = make_image(1, 2, 2);
        s.id = items_.at(i).first;
        s.subject = items_.at(i).second;
        return s;
    }
    std::string subject(std::size_t i) const override { return items_.at(i).second; }

private:
    std::vector<std::pair<std::string, std::string>> items_;
};

/// HC18-like: subjects "001".."0NN", frames "001_HC", "001_2HC", ... (1 to 3 per subject).
NamedDataset hc18_like(int subjects) {
    std::vector<std::pair<std::string, std::string>> items;
    for (int s = 1; s <= subjects; ++s) {
        const std::string subject = pad3(std::size_t(s));
        items.emplace_back(subject + "_HC", subject);
        for (int f = 2; f <= 1 + s % 3; ++f) items.emplace_back(str(subject, "_", f, "HC"), subject);
    }
    return NamedDataset(items);
}

/// Volume-like: subjects "sub-NNN" with 4 slices each, "sub-NNN z=000".."z=003".
NamedDataset volumes(int subjects) {
    std::vector<std::pair<std::string, std::string>> items;
    for (int s = 0; s < subjects; ++s)
        for (int z = 0; z < 4; ++z)
            items.emplace_back(str("sub-", pad3(std::size_t(s)), " z=", pad3(std::size_t(z))),
                               str("sub-", pad3(std::size_t(s))));
    return NamedDataset(items);
}

/// The checks every split must pass: no subject on both sides, every sample on exactly one
/// side, each side's indices are exactly its subjects' samples.
void check_partition(const Split& split, const Dataset& dataset) {
    std::set<std::string> train(split.train.subjects.begin(), split.train.subjects.end());
    for (const std::string& s : split.val.subjects) CHECK_MESSAGE(train.count(s) == 0, s, " is on both sides");
    std::vector<int> sides(dataset.size(), 0);
    for (const SplitSide* side : {&split.train, &split.val}) {
        const std::set<std::string> subjects(side->subjects.begin(), side->subjects.end());
        for (std::size_t i : side->indices) {
            ++sides.at(i);
            CHECK(subjects.count(dataset.subject(i)) == 1);
        }
    }
    for (std::size_t i = 0; i < sides.size(); ++i)
        CHECK_MESSAGE(sides[i] == 1, "sample ", i, " is on ", sides[i], " sides");
}

}  // namespace

TEST_CASE("loader: split_by_subject keeps every subject on one side, with the asked fraction") {
    const NamedDataset hc = hc18_like(20);  // 20 subjects, 40 frames
    const NamedDataset vol = volumes(10);   // 10 subjects, 40 slices
    for (const Dataset* d : {static_cast<const Dataset*>(&hc), static_cast<const Dataset*>(&vol)}) {
        const Split s = split_by_subject(*d, 0.2, 7);
        check_partition(s, *d);
        const std::size_t subjects = d == &hc ? 20 : 10;
        CHECK(s.val.subjects.size() == subjects / 5);  // round(0.2 S)
        CHECK(s.train.subjects.size() == subjects - subjects / 5);
        // deterministic from the seed, and the seed matters
        const Split again = split_by_subject(*d, 0.2, 7);
        CHECK(again.val.subjects == s.val.subjects);
        CHECK(again.train.indices == s.train.indices);
        bool differs = false;
        for (std::uint64_t seed = 8; seed < 12; ++seed)
            differs |= split_by_subject(*d, 0.2, seed).val.subjects != s.val.subjects;
        CHECK(differs);
    }
    // frames of one HC18 subject stay together: "001_HC" and "001_2HC" on one side
    const Split s = split_by_subject(hc, 0.5, 3);
    std::map<std::string, int> side_of_frame;
    for (std::size_t i : s.val.indices) side_of_frame[hc.get(i).id] = 1;
    for (std::size_t i : s.train.indices) side_of_frame[hc.get(i).id] = 0;
    CHECK(side_of_frame.at("002_HC") == side_of_frame.at("002_2HC"));
    CHECK(side_of_frame.at("002_HC") == side_of_frame.at("002_3HC"));
    // clamping: a tiny fraction still gives one validation subject, a large one leaves one for training
    CHECK(split_by_subject(hc, 0.01, 1).val.subjects.size() == 1);
    CHECK(split_by_subject(hc, 0.99, 1).train.subjects.size() == 1);
    CHECK_ERROR(split_by_subject(hc, 1.0, 1), "val_fraction must be in (0, 1)");
    CHECK_ERROR(split_by_subject(hc18_like(1), 0.5, 1), "1 subject(s)", "at least 2");
}

TEST_CASE("loader: k_fold folds cover every subject once, balanced by subject count") {
    const NamedDataset hc = hc18_like(23);  // 23 subjects: folds of 5, 5, 5, 4, 4
    std::map<std::string, int> fold_of;
    std::vector<std::size_t> sizes;
    for (int f = 0; f < 5; ++f) {
        const Split s = k_fold(hc, 5, f, 12345);
        check_partition(s, hc);
        CHECK(s.kind == "k_fold");
        sizes.push_back(s.val.subjects.size());
        for (const std::string& subject : s.val.subjects)
            CHECK_MESSAGE(fold_of.emplace(subject, f).second, subject, " in two folds");
        CHECK(s.train.subjects.size() + s.val.subjects.size() == 23);
    }
    CHECK(fold_of.size() == 23);
    CHECK(sizes == std::vector<std::size_t>{5, 5, 5, 4, 4});
    CHECK(k_fold(hc, 5, 2, 12345).val.indices == k_fold(hc, 5, 2, 12345).val.indices);
    // the split depends on the set of subjects, not on the order of the samples
    std::vector<std::pair<std::string, std::string>> reversed;
    for (std::size_t i = hc.size(); i-- > 0;) reversed.emplace_back(hc.get(i).id, hc.subject(i));
    CHECK(k_fold(NamedDataset(reversed), 5, 1, 12345).val.subjects == k_fold(hc, 5, 1, 12345).val.subjects);
    CHECK_ERROR(k_fold(hc, 5, 5, 1), "fold must be in [0, 5)");
    CHECK_ERROR(k_fold(hc18_like(3), 5, 0, 1), "5 folds need at least 5 subjects", "has 3");
}

TEST_CASE("loader: split.json round trip, and a split of other subjects is an error naming them") {
    const NamedDataset vol = volumes(6);
    const Split s = k_fold(vol, 3, 1, 99);
    const auto dir = std::filesystem::temp_directory_path() / str("fbseg_loader_split_", ::getpid());
    std::filesystem::create_directories(dir);
    const auto path = dir / "split.json";
    write_split(path, s, vol);
    const nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    CHECK(j.at("format") == "fbseg-split");
    CHECK(j.at("k") == 3);
    CHECK(j.at("fold") == 1);
    CHECK(j.at("val").at("subjects").size() == 2);
    CHECK(j.at("val").at("samples").size() == 8);
    CHECK(j.at("val").at("samples")[0].get<std::string>().find(" z=000") != std::string::npos);
    const Split back = read_split(path, vol);
    CHECK(back.train.subjects == s.train.subjects);
    CHECK(back.val.subjects == s.val.subjects);
    CHECK(back.train.indices == s.train.indices);
    CHECK(back.val.indices == s.val.indices);
    CHECK(back.kind == "k_fold");
    CHECK(back.seed == 99);
    // the split's subjects on a dataset that lacks two of them
    CHECK_ERROR(read_split(path, volumes(4)), "split.json", "2 subject(s) of the split are not in the dataset",
                "'sub-004'", "'sub-005'");
    // a dataset with a subject the split does not know
    CHECK_ERROR(read_split(path, volumes(7)), "on neither side", "'sub-006'");
    nlohmann::json twice = j;
    twice["train"]["subjects"].push_back(j["val"]["subjects"][0]);
    CHECK_ERROR(split_from_json(twice, vol), "listed twice");
    CHECK_ERROR(split_from_json(nlohmann::json{{"format", "other"}}, vol), "not an fbseg split");
    CHECK_ERROR(read_split(dir / "missing.json", vol), "cannot open", "missing.json");
    std::filesystem::remove_all(dir);
    // Subset: a view over the chosen samples
    const Subset val(vol, s.val.indices);
    CHECK(val.size() == 8);
    CHECK(val.get(0).id == vol.get(s.val.indices[0]).id);
    CHECK(val.subject(7) == vol.subject(s.val.indices[7]));
    CHECK_ERROR(val.get(8), "Subset: index 8", "8 samples");
    CHECK_ERROR(Subset(vol, {0, 24}), "index 24", "24 samples");
    // a loader over the subset sees exactly its samples
    std::set<std::string> ids;
    for (const Batch& b : all_batches(DataLoader(val, options(3, 2)), 0)) ids.insert(b.ids.begin(), b.ids.end());
    CHECK(ids == std::set<std::string>(j.at("val").at("samples").begin(), j.at("val").at("samples").end()));
}

TEST_CASE("loader: end to end as the README shows it: HC18 files -> split by fetus -> augmentation -> batches") {
    // The phantom written in HC18's layout stands in for the real download.
    const fbseg::test::TempDir dir("fbseg_loader_e2e");
    const fs::path root = dir.path;
    phantom::UsDatasetWriteOptions w;
    w.count = 10;
    w.seed = 3;
    w.us.height = 54;
    w.us.width = 80;
    phantom::write_us_dataset(root.string(), w);

    const Hc18Dataset hc18(root.string());
    REQUIRE(hc18.size() == 10);
    const Split split = split_by_subject(hc18, 0.2, 0);
    CHECK(split.val.indices.size() == 2);
    const Subset train(hc18, split.train.indices);
    auto config = augment::preset_config("default");
    config.insert(config.begin(), nlohmann::json{{"name", "resize"}, {"height", 32}, {"width", 32}});
    const auto pipeline = augment::Pipeline::from_json(config, 1.0);
    const LoaderOptions options{.batch_size = 4, .shuffle = true, .drop_last = false, .num_workers = 2,
                                .prefetch = 0, .seed = 0, .transform = pipeline};
    const DataLoader loader(train, options);
    std::vector<Batch> batches;
    for (const Batch& b : loader.epoch(0)) batches.push_back(b);
    REQUIRE(batches.size() == 2);  // 8 training frames in batches of 4
    std::set<std::string> seen;
    for (const Batch& b : batches) {
        CHECK(b.images.shape() == Shape{4, 1, 32, 32});
        CHECK(b.labels.shape() == Shape{4, 32, 32});
        for (double v : values(b.labels)) CHECK((v == 0 || v == 1));
        for (std::size_t k = 0; k < b.ids.size(); ++k) {
            seen.insert(b.ids[k]);
            CHECK(b.original_sizes[k] == std::array<std::int64_t, 2>{54, 80});  // the file's size travels along
            CHECK(b.head_circumference_mm[k].has_value());
        }
    }
    CHECK(seen.size() == 8);
    // the same seed with one worker: the same batches, bit for bit
    LoaderOptions one = options;
    one.num_workers = 1;
    const DataLoader again(train, one);
    std::size_t i = 0;
    for (const Batch& b : again.epoch(0)) {
        CHECK(values(b.images) == values(batches[i].images));
        CHECK(values(b.labels) == values(batches[i].labels));
        ++i;
    }
}

}  // namespace loader_tests
