// fbseg/data/nifti_dataset.hpp - 2D training samples from 3D NIfTI volumes: NiftiSliceDataset (a
// list of (image, label) volume pairs) and BidsDataset (a BIDS / FeTA folder tree).
//
// Each volume is cut into slices along one axis (default: its coarsest, see volume_slice.hpp);
// sample index = position in the concatenation of every volume's slices, in the order given.
// A sample: image float32 [1, H, W] (normalised per volume when asked), label int64 [H, W] (or
// undefined without a label volume), spacing_mm the slice's in-plane {row, col} spacing from the
// header, id "<subject> z=071", subject = the volume's subject, source = the image path,
// original_size {H, W}.
//
// Checked up front (constructor, and check()): every file's header reads; an image and its label
// volume have the same shape and the same affine (max |A - B| <= 1e-4 max(1, max |A|)); for
// BidsDataset, every T2w has its dseg. Volumes are read lazily, on the first get() of one of their
// slices, and kept in a cache bounded by `cache_bytes` (least recently used out first). get() is
// safe from several threads: a volume is read once even when several threads ask for it at the same
// time (the others wait for it), and a failed read is reported to each caller and retried later.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/core/error.hpp"
#include "fbseg/core/tensor.hpp"
#include "fbseg/data/nifti.hpp"
#include "fbseg/data/normalize.hpp"
#include "fbseg/data/sample.hpp"
#include "fbseg/data/volume_slice.hpp"

namespace fbseg::data {

/// One image volume, its label volume ("" when there is none: inference) and its subject.
struct NiftiVolumePair {
    std::string image = {};
    std::string label = {};
    /// The split unit; "" means the image file's name without .nii / .nii.gz.
    std::string subject = {};
    /// The prefix of the samples' ids ("sub-001" in "sub-001 z=071"); "" means the subject.
    std::string name = {};
};

struct NiftiSliceOptions {
    /// The slicing axis (0 = z, 1 = y, 2 = x) for every volume; empty: each volume's coarsest.
    std::optional<int> axis = {};
    /// Leave out slices whose label is all background. For training only, never for evaluation
    /// (it changes what is measured): off by default.
    bool skip_empty_label_slices = false;
    /// Per-volume normalisation before slicing (normalize.hpp); empty: keep the scaled values.
    std::optional<NormalizeOptions> normalize = {};
    LabelSet labels = LabelSet::binary_mask();
    /// The 3D volume of 4D image files (NiftiReadOptions::channel).
    std::int64_t channel = 0;
    /// The cache of decoded volumes: at most this many bytes (at least the volume being used).
    std::int64_t cache_bytes = std::int64_t(1) << 30;
};

class NiftiSliceDataset : public Dataset {
public:
    explicit NiftiSliceDataset(std::vector<NiftiVolumePair> volumes, NiftiSliceOptions options = {})
        : options_(std::move(options)), state_(std::make_shared<Cache>()) {
        FBSEG_CHECK(!volumes.empty(), "NiftiSliceDataset: no volumes");
        FBSEG_CHECK(!options_.axis || (*options_.axis >= 0 && *options_.axis <= 2),
                    "NiftiSliceDataset: axis must be 0 (z), 1 (y) or 2 (x) but is ", *options_.axis);
        for (auto& v : volumes) {
            if (v.subject.empty()) v.subject = stem(v.image);
            if (v.name.empty()) v.name = v.subject;
            entries_.push_back(Entry{v, {}, 0, 0});
        }
        std::vector<Volume> headers;
        for (auto& entry : entries_) {
            entry.header = read_nifti_header(entry.pair.image);
            headers.push_back(entry.header);
        }
        check_pairs(headers);
        for (std::size_t e = 0; e < entries_.size(); ++e) {
            Entry& entry = entries_[e];
            entry.axis = options_.axis ? *options_.axis : coarsest_axis(entry.header.spacing_mm);
            entry.num_slices = entry.header.shape[std::size_t(entry.axis)];
            std::vector<char> keep(std::size_t(entry.num_slices), 1);
            if (options_.skip_empty_label_slices && !entry.pair.label.empty()) {
                const Tensor labels = read_nifti_labels(entry.pair.label, options_.labels);
                for (std::int64_t s = 0; s < entry.num_slices; ++s) {
                    const Tensor sl = slice(labels, entry.axis, s);
                    const auto* p = sl.data_ptr<std::int64_t>();
                    bool any = false;
                    for (std::int64_t i = 0, n = sl.numel(); i < n && !any; ++i) any = p[i] != 0;
                    keep[std::size_t(s)] = any;
                }
            }
            for (std::int64_t s = 0; s < entry.num_slices; ++s)
                if (keep[std::size_t(s)]) index_.push_back({e, s});
        }
    }

    /// Re-reads every header and checks that they still read and that each image and its label
    /// volume have the same shape and affine (the constructor checks this first). Safe to call
    /// while other threads call get().
    void check() const {
        std::vector<Volume> headers;
        for (const auto& entry : entries_) headers.push_back(read_nifti_header(entry.pair.image));
        check_pairs(headers);
    }

    std::size_t size() const override { return index_.size(); }

    std::string subject(std::size_t index) const override {
        FBSEG_CHECK(index < index_.size(), "NiftiSliceDataset: index ", index, " is out of range (", index_.size(),
                    " samples)");
        return entries_[index_[index].first].pair.subject;
    }

    LabelSet label_set() const override { return options_.labels; }

    Sample get(std::size_t index) const override {
        FBSEG_CHECK(index < index_.size(), "NiftiSliceDataset: index ", index, " is out of range (", index_.size(),
                    " samples)");
        const auto [e, s] = index_[index];
        const Entry& entry = entries_[e];
        const std::shared_ptr<const Decoded> vol = volume(e);
        Sample out;
        const Tensor img = slice(vol->image, entry.axis, s);
        out.image = img.reshape({1, img.shape()[0], img.shape()[1]});
        if (vol->labels.defined()) {
            const Tensor lab = slice(vol->labels, entry.axis, s);  // uint8 or int64
            if (lab.dtype() == DType::Int64) {
                out.label = lab;
            } else {
                out.label = Tensor::empty(lab.shape(), DType::Int64);
                const auto* p = static_cast<const std::uint8_t*>(lab.raw_data());
                auto* q = out.label.data_ptr<std::int64_t>();
                for (std::int64_t i = 0, n = lab.numel(); i < n; ++i) q[i] = p[i];
            }
        }
        out.spacing_mm = slice_spacing(entry.header.spacing_mm, entry.axis);
        char num[32];
        std::snprintf(num, sizeof(num), "%03lld", static_cast<long long>(s));
        out.id = detail::str(entry.pair.name, " ", axis_letter(entry.axis), "=", num);
        out.subject = entry.pair.subject;
        out.source = entry.pair.image;
        out.original_size = {img.shape()[0], img.shape()[1]};
        return out;
    }

    /// The volumes, in order, with their subjects.
    std::vector<NiftiVolumePair> volumes() const {
        std::vector<NiftiVolumePair> out;
        for (const auto& e : entries_) out.push_back(e.pair);
        return out;
    }
    /// The header of volume `v` (read at construction).
    const Volume& header(std::size_t v) const { return entries_.at(v).header; }
    /// The slicing axis of volume `v`.
    int axis(std::size_t v) const { return entries_.at(v).axis; }
    /// How many volumes are decoded in the cache now (tests, logs).
    std::size_t cached_volumes() const {
        std::lock_guard lock(state_->mutex);
        std::size_t n = 0;
        for (const auto& [k, slot] : state_->slots) n += slot.ready ? 1 : 0;
        return n;
    }
    /// How many times a volume was read from disk (tests, logs).
    std::int64_t volume_reads() const {
        std::lock_guard lock(state_->mutex);
        return state_->reads;
    }

private:
    struct Entry {
        NiftiVolumePair pair;
        Volume header;  // data undefined
        int axis = 0;
        std::int64_t num_slices = 0;
    };
    /// One decoded volume: the (normalised) image and the labels (uint8 when the classes fit).
    struct Decoded {
        Tensor image;
        Tensor labels;
        std::int64_t bytes = 0;
    };
    struct Slot {
        std::shared_future<std::shared_ptr<const Decoded>> future;
        bool ready = false;
        std::int64_t bytes = 0;
    };
    struct Cache {
        std::mutex mutex;
        std::map<std::size_t, Slot> slots;
        std::list<std::size_t> lru;  // most recently used first (ready slots only)
        std::int64_t bytes = 0;
        std::int64_t reads = 0;
    };

    /// Every label header against its image's header (`headers`, in entry order): one error listing
    /// every mismatch.
    void check_pairs(const std::vector<Volume>& headers) const {
        std::string problems;
        for (std::size_t e = 0; e < entries_.size(); ++e) {
            const NiftiVolumePair& pair = entries_[e].pair;
            const Volume& ih = headers[e];
            if (pair.label.empty()) continue;
            const Volume lh = read_nifti_header(pair.label);
            if (lh.shape != ih.shape) {
                problems += detail::str("\n  ", pair.name, ": the image '", pair.image, "' has [Z, Y, X] = [", ih.nz(), ", ",
                                        ih.ny(), ", ", ih.nx(), "] but the label volume '", pair.label, "' has [",
                                        lh.nz(), ", ", lh.ny(), ", ", lh.nx(), "]");
                continue;
            }
            const Matrix44 a = ih.affine(), b = lh.affine();
            double diff = 0, scale = 1;
            for (std::size_t r = 0; r < 4; ++r)
                for (std::size_t c = 0; c < 4; ++c) {
                    diff = std::max(diff, std::abs(a[r][c] - b[r][c]));
                    scale = std::max(scale, std::abs(a[r][c]));
                }
            if (!(diff <= 1e-4 * scale))
                problems += detail::str("\n  ", pair.name, ": the affines of '", pair.image, "' and '", pair.label,
                                        "' differ by up to ", diff, " (the label volume is not aligned with the image)");
        }
        FBSEG_CHECK(problems.empty(), "NiftiSliceDataset: image and label volumes do not match:", problems);
    }

    static std::string stem(const std::string& path) {
        std::string name = std::filesystem::path(path).filename().string();
        for (const char* ext : {".nii.gz", ".NII.GZ", ".nii", ".NII"})
            if (nifti_detail::ends_with(name, ext)) return name.substr(0, name.size() - std::strlen(ext));
        return name;
    }

    std::shared_ptr<const Decoded> decode(std::size_t e) const {
        const Entry& entry = entries_[e];
        auto d = std::make_shared<Decoded>();
        NiftiReadOptions ro;
        ro.channel = options_.channel;
        Volume v = read_nifti(entry.pair.image, ro);
        if (options_.normalize) normalize_volume_(v.data, *options_.normalize, entry.pair.image);
        d->image = v.data;
        if (!entry.pair.label.empty()) {
            const Tensor labels = read_nifti_labels(entry.pair.label, options_.labels);
            std::int64_t hi = 0;
            for (const auto& [name, value] : options_.labels.labels) hi = std::max(hi, value);
            if (hi <= 255 && options_.labels.num_classes() > 0) {  // values are checked: 0..hi
                d->labels = Tensor::empty(labels.shape(), DType::UInt8);
                const auto* p = labels.data_ptr<std::int64_t>();
                auto* q = static_cast<std::uint8_t*>(d->labels.raw_data());
                for (std::int64_t i = 0, n = labels.numel(); i < n; ++i) q[i] = static_cast<std::uint8_t>(p[i]);
            } else {
                d->labels = labels;
            }
        }
        d->bytes = d->image.numel() * 4 + (d->labels.defined() ? d->labels.numel() * std::int64_t(element_size(d->labels.dtype())) : 0);
        return d;
    }

    std::shared_ptr<const Decoded> volume(std::size_t e) const {
        Cache& c = *state_;
        std::unique_lock lock(c.mutex);
        auto it = c.slots.find(e);
        if (it != c.slots.end()) {
            auto future = it->second.future;
            if (it->second.ready) {
                c.lru.remove(e);
                c.lru.push_front(e);
            }
            lock.unlock();
            return future.get();  // waits while another thread reads it; rethrows its error
        }
        std::promise<std::shared_ptr<const Decoded>> promise;
        c.slots[e] = Slot{promise.get_future().share(), false, 0};
        ++c.reads;
        lock.unlock();
        std::shared_ptr<const Decoded> d;
        try {
            d = decode(e);
        } catch (...) {
            promise.set_exception(std::current_exception());
            lock.lock();
            c.slots.erase(e);  // the next get() tries again
            throw;
        }
        promise.set_value(d);
        lock.lock();
        Slot& slot = c.slots[e];
        slot.ready = true;
        slot.bytes = d->bytes;
        c.bytes += d->bytes;
        c.lru.push_front(e);
        // Evict least recently used volumes (never the one just read) while over budget.
        while (c.bytes > options_.cache_bytes && c.lru.size() > 1) {
            const std::size_t victim = c.lru.back();
            c.lru.pop_back();
            c.bytes -= c.slots[victim].bytes;
            c.slots.erase(victim);  // holders of its shared_ptr keep it alive
        }
        return d;
    }

    NiftiSliceOptions options_;
    std::vector<Entry> entries_;
    std::vector<std::pair<std::size_t, std::int64_t>> index_;  // (volume, slice)
    std::shared_ptr<Cache> state_;
};

/// BIDS / FeTA options: which files pair up, and the NiftiSliceDataset options (labels default to
/// FeTA's seven tissues).
struct BidsOptions {
    std::string image_suffix = "T2w";   // sub-XXX[_ses-YY]_..._T2w.nii.gz
    std::string label_suffix = "dseg";  // the same name with _dseg
    /// Refuse an image without its label volume (training, evaluation); false: such volumes give
    /// samples without labels (inference).
    bool require_labels = true;
    NiftiSliceOptions slices = [] {
        NiftiSliceOptions o;
        o.labels = LabelSet::feta();
        return o;
    }();
};

namespace nifti_detail {

/// The (image, label) pairs of a BIDS tree: root/sub-*/anat/ and root/sub-*/ses-*/anat/, images
/// named *_<image_suffix>.nii[.gz], labels the same name with <label_suffix>. Sorted by path.
inline std::vector<NiftiVolumePair> find_bids_pairs(const std::string& root, const BidsOptions& options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    FBSEG_CHECK(fs::is_directory(root, ec), "BidsDataset: '", root, "' is not a directory");
    std::vector<fs::path> anat_dirs;
    for (const auto& sub : fs::directory_iterator(root, ec)) {
        const std::string name = sub.path().filename().string();
        if (!sub.is_directory() || name.rfind("sub-", 0) != 0) continue;
        if (fs::is_directory(sub.path() / "anat")) anat_dirs.push_back(sub.path() / "anat");
        for (const auto& ses : fs::directory_iterator(sub.path(), ec))
            if (ses.is_directory() && ses.path().filename().string().rfind("ses-", 0) == 0 &&
                fs::is_directory(ses.path() / "anat"))
                anat_dirs.push_back(ses.path() / "anat");
    }
    std::vector<NiftiVolumePair> pairs;
    std::vector<std::string> missing;
    const std::string img_tail = "_" + options.image_suffix;
    for (const auto& dir : anat_dirs) {
        for (const auto& f : fs::directory_iterator(dir, ec)) {
            const std::string name = f.path().filename().string();
            for (const char* ext : {".nii.gz", ".nii"}) {
                const std::string tail = img_tail + ext;
                if (!ends_with(name, tail)) continue;
                const std::string base = name.substr(0, name.size() - tail.size());
                const fs::path label = dir / (base + "_" + options.label_suffix + ext);
                NiftiVolumePair p;
                p.image = f.path().string();
                p.subject = base.substr(0, base.find('_'));  // "sub-XXX"
                if (fs::exists(label)) p.label = label.string();
                else if (options.require_labels) missing.push_back(p.image + " (expected " + label.string() + ")");
                pairs.push_back(p);
                break;
            }
        }
    }
    std::sort(missing.begin(), missing.end());
    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += "\n  " + m;
        FBSEG_FAIL("BidsDataset: '", root, "': ", missing.size(), " image", missing.size() == 1 ? " has" : "s have",
                   " no ", options.label_suffix, " label volume:", list);
    }
    FBSEG_CHECK(!pairs.empty(), "BidsDataset: '", root, "': no sub-*/anat/*_", options.image_suffix,
                ".nii[.gz] files (expected the BIDS layout sub-XXX/anat/sub-XXX_..._", options.image_suffix, ".nii.gz)");
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.image < b.image; });
    // A subject with several images (sessions, reconstructions): ids use the file's name
    // ("sub-002_ses-01_rec-mial"); the subject, the split unit, stays "sub-002".
    std::map<std::string, int> count;
    for (const auto& p : pairs) ++count[p.subject];
    for (auto& p : pairs)
        if (count[p.subject] > 1) {
            const std::string name = fs::path(p.image).filename().string();
            p.name = name.substr(0, name.size() - img_tail.size() - (ends_with(name, ".gz") ? 7 : 4));
        }
    return pairs;
}

}  // namespace nifti_detail

/// The BIDS / FeTA layout: root/sub-XXX/anat/sub-XXX_*_T2w.nii.gz with sub-XXX_*_dseg.nii.gz
/// (sessions: root/sub-XXX/ses-YY/anat/). Subjects are "sub-XXX"; ids are "sub-XXX z=071", or
/// the file's name before _T2w when a subject has several images.
class BidsDataset : public NiftiSliceDataset {
public:
    explicit BidsDataset(const std::string& root, const BidsOptions& options = {})
        : NiftiSliceDataset(nifti_detail::find_bids_pairs(root, options), options.slices), root_(root) {}
    const std::string& root() const { return root_; }

private:
    std::string root_;
};

}  // namespace fbseg::data
