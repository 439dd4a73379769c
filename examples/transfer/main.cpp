// examples/transfer: does pretraining help? A run, start to end, of the transfer-learning path of
// docs/transfer-learning.md on two synthetic tasks (synthetic_tasks.hpp):
//
//   1. pretrain a small ResNet UNet on task A ("fetal MRI-like", fresh images every epoch),
//   2. export its encoder alone, as a torchvision/timm encoder file would be,
//   3. fine-tune on task B ("ultrasound-like", a few labelled images) twice, from the same seed
//      and in the same data order: (a) from random initialisation, (b) with the encoder loaded
//      from the exported file,
//   4. after every epoch, measure the validation Dice of both, and write the two curves as CSV.
//
//   fbseg_transfer_demo [options]          (--help lists them with their defaults)
//
// Steps 3-4 run --repeats times, each repeat with its own labelled set, initial weights, data order
// and flips (seeds seed, seed + 1, ...), so that the comparison does not rest on one lucky draw;
// the validation set is the same for all. The pretraining randomises contrast (inversion) and noise
// model (multiplicative speckle) of task A, so that the encoder learns the anatomy rather than one
// modality's look; docs/transfer-learning.md shows what happens without it.
//
// --encoder FILE skips pretraining and fine-tunes from an encoder file exported by an earlier run
// (or any file with the encoder's keys), to try fine-tuning recipes without pretraining again.
//
// The output folder (default build/transfer_demo) receives transfer_curves.csv (epoch,
// dice_random, dice_pretrained: means over the repeats; then each repeat's pair),
// encoder_pretrained.safetensors, and samples/*.pgm (a few images of each task with their labels;
// tools/plot_transfer_samples.py and tools/plot_transfer_curves.py make the figures).
// Exit status: 0 when the run completed and the CSV reads back, 1 on a failed run, 2 on bad
// arguments. Whether pretraining won is reported, not asserted.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fbseg/fbseg.hpp"
#include "synthetic_tasks.hpp"

using namespace fbseg;
using namespace transfer_demo;

namespace {

struct Config {
    // Pretraining on task A.
    std::int64_t epochs_pretrain = 16;    // each over fresh task-A images
    std::int64_t pretrain_images = 1024;  // task-A images per pretraining epoch
    std::int64_t batch_pretrain = 16;
    double pretrain_lr = 3e-3;      // AdamW, warmup + cosine
    double pretrain_invert = 0.5;   // probability of inverting a task-A image's contrast
    double pretrain_speckle = 0.5;  // probability of multiplying a task-A image by speckle
    // Fine-tuning on task B.
    std::int64_t epochs_finetune = 30;
    std::int64_t train_images = 16;  // the small labelled task-B set
    std::int64_t batch_finetune = 4;
    double lr = 8e-3;                // AdamW, constant; the best of those tried for random init
    double encoder_lr_mult = 1.0;    // pretrained run: encoder lr = lr * this
    std::int64_t freeze_epochs = 0;  // pretrained run: encoder frozen in the first N epochs
    std::int64_t repeats = 5;        // fine-tuning pairs, each with its own labelled set and seed
    // Both.
    std::int64_t val_images = 64;  // each task's fixed validation set
    double target = 0.95;          // the validation Dice whose first epoch is reported
    std::uint64_t seed = 2024;
    std::string out = "build/transfer_demo";
    std::string encoder;   // skip pretraining: fine-tune from this encoder file
    bool verbose = false;  // one line per fine-tuning epoch
    bool quick = false;
};

const char* const kUsage =
    "usage: fbseg_transfer_demo [options]\n"
    "  pretraining:  --epochs-pretrain N (16)  --pretrain-images N (1024)  --pretrain-lr LR (0.003)\n"
    "                --pretrain-invert P (0.5)  --pretrain-speckle P (0.5)  --encoder FILE (skip it)\n"
    "  fine-tuning:  --epochs-finetune N (30)  --train-images N (16)  --lr LR (0.008)\n"
    "                --encoder-lr-mult M (1)  --freeze-epochs N (0)  --repeats N (5)\n"
    "  both:         --val-images N (64)  --target D (0.95)  --seed S (2024)  --out DIR (build/transfer_demo)\n"
    "                --verbose  --quick (a seconds-long smoke run)\n";

/// A non-negative integer (parse_count) or number (parse_real) spelling all of `v`; else
/// std::invalid_argument (std::out_of_range when it does not fit).
std::int64_t parse_count(const std::string& v) {
    std::size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used != v.size() || n < 0) throw std::invalid_argument(v);
    return std::int64_t(n);
}
double parse_real(const std::string& v) {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size() || !(d >= 0)) throw std::invalid_argument(v);
    return d;
}

/// Parses argv into `cfg`; returns false (after printing why) on a bad argument.
bool parse_args(int argc, char** argv, Config& cfg) {
    using Setter = std::function<void(const std::string&)>;
    const auto count = [](std::int64_t& field) -> Setter {
        return [&field](const std::string& v) { field = parse_count(v); };
    };
    const auto real = [](double& field) -> Setter { return [&field](const std::string& v) { field = parse_real(v); }; };
    const auto text = [](std::string& field) -> Setter { return [&field](const std::string& v) { field = v; }; };
    const std::map<std::string, Setter> valued = {
        {"--epochs-pretrain", count(cfg.epochs_pretrain)},
        {"--pretrain-images", count(cfg.pretrain_images)},
        {"--pretrain-lr", real(cfg.pretrain_lr)},
        {"--pretrain-invert", real(cfg.pretrain_invert)},
        {"--pretrain-speckle", real(cfg.pretrain_speckle)},
        {"--encoder", text(cfg.encoder)},
        {"--epochs-finetune", count(cfg.epochs_finetune)},
        {"--train-images", count(cfg.train_images)},
        {"--lr", real(cfg.lr)},
        {"--encoder-lr-mult", real(cfg.encoder_lr_mult)},
        {"--freeze-epochs", count(cfg.freeze_epochs)},
        {"--repeats", count(cfg.repeats)},
        {"--val-images", count(cfg.val_images)},
        {"--target", real(cfg.target)},
        {"--seed", [&cfg](const std::string& v) { cfg.seed = std::uint64_t(parse_count(v)); }},
        {"--out", text(cfg.out)},
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quick") {
            // A seconds-long smoke run: every step runs, on tiny sizes (later options still apply).
            cfg.quick = true;
            cfg.epochs_pretrain = 1, cfg.pretrain_images = 32, cfg.epochs_finetune = 2;
            cfg.train_images = 8, cfg.val_images = 8, cfg.repeats = 2;
        } else if (a == "--verbose") {
            cfg.verbose = true;
        } else if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            std::exit(0);
        } else if (const auto it = valued.find(a); it == valued.end()) {
            std::cerr << "fbseg_transfer_demo: unknown argument '" << a << "'\n" << kUsage;
            return false;
        } else if (i + 1 >= argc) {
            std::cerr << "fbseg_transfer_demo: '" << a << "' needs a value\n" << kUsage;
            return false;
        } else {
            const std::string v = argv[++i];
            try {
                it->second(v);
            } catch (const std::exception&) {
                std::cerr << "fbseg_transfer_demo: bad value '" << v << "' for " << a << "\n";
                return false;
            }
        }
    }
    if (cfg.epochs_finetune < 1 || cfg.train_images < 1 || cfg.val_images < 1 || cfg.pretrain_images < 1 ||
        cfg.repeats < 1) {
        std::cerr << "fbseg_transfer_demo: epochs-finetune, train-images, val-images, pretrain-images and repeats "
                     "must be >= 1\n";
        return false;
    }
    return true;
}

// ---- data ---------------------------------------------------------------------------------------

/// Independent random streams of one run, derived from --seed.
enum Stream : std::uint64_t {
    kTrainA = 1,
    kValA = 2,
    kTrainB = 3,
    kValB = 4,
    kOrderA = 5,
    kOrderB = 6,
    kFlipB = 7,
    kAugA = 8,
    kInitB = 9
};
std::uint64_t stream_seed(std::uint64_t seed, Stream s) { return Generator::for_sample(seed, 0x7EA5F, s).seed(); }

using Make = Sample (*)(Generator);

/// Images 0 .. n-1 of epoch `epoch` of the stream `seed`, each z-scored.
std::vector<Sample> make_set(Make make, std::uint64_t seed, std::uint64_t epoch, std::int64_t n) {
    std::vector<Sample> set;
    for (std::int64_t i = 0; i < n; ++i) {
        set.push_back(make(Generator::for_sample(seed, epoch, std::uint64_t(i))));
        normalise(set.back().image);
    }
    return set;
}

/// A random permutation of [0, n) (Fisher-Yates) from one generator.
std::vector<std::size_t> permutation(std::size_t n, Generator gen) {
    Draws r(std::move(gen));
    std::vector<std::size_t> p(n);
    std::iota(p.begin(), p.end(), std::size_t(0));
    for (std::size_t i = n; i > 1; --i) std::swap(p[i - 1], p[std::size_t(r.uniform() * double(i)) % i]);
    return p;
}

/// The samples set[idx[0..n)] as images and labels [n, 1, kSize, kSize].
void to_batch(const std::vector<Sample>& set, const std::vector<std::size_t>& idx, Tensor& images, Tensor& labels) {
    std::vector<float> im, lb;
    im.reserve(idx.size() * kPixels), lb.reserve(idx.size() * kPixels);
    for (auto i : idx) {
        im.insert(im.end(), set[i].image.begin(), set[i].image.end());
        lb.insert(lb.end(), set[i].label.begin(), set[i].label.end());
    }
    const Shape shape{std::int64_t(idx.size()), 1, kSize, kSize};
    images = from_vector(im, shape), labels = from_vector(lb, shape);
}

// ---- model, training, evaluation ----------------------------------------------------------------

/// A reduced-width smp ResNet-18 UNet: the same module tree as smp.Unet("resnet18") with 1 input
/// channel, at a quarter of the encoder's widths and a fraction of the decoder's.
std::shared_ptr<models::SmpUnet> make_model() {
    auto encoder = std::make_shared<models::ResNetEncoder>(
        models::ResNetEncoderOptions({2, 2, 2, 2}).in_channels(1).stem_width(16).widths({16, 32, 64, 128}));
    return std::make_shared<models::SmpUnet>(
        encoder, models::SmpUnetOptions().decoder_channels({64, 32, 16, 16, 8}).classes(1), "resnet18-mini-unet");
}

/// One epoch over `set` in the order `order`, in batches of `batch`; returns the mean loss.
double train_epoch(nn::UnaryModule& model, optim::Optimizer& optimizer, optim::LRScheduler* scheduler,
                   const std::vector<Sample>& set, const std::vector<std::size_t>& order, std::int64_t batch) {
    double total = 0;
    std::int64_t steps = 0;
    for (std::size_t first = 0; first < order.size(); first += std::size_t(batch)) {
        const std::size_t last = std::min(order.size(), first + std::size_t(batch));
        Tensor images, labels;
        to_batch(set,
                 std::vector<std::size_t>(order.begin() + std::ptrdiff_t(first), order.begin() + std::ptrdiff_t(last)),
                 images, labels);
        optimizer.zero_grad();
        Tensor loss = nn::bce_dice_loss(model.forward(images), labels);
        loss.backward();
        optimizer.step();
        if (scheduler != nullptr) scheduler->step();
        total += loss.item<double>();
        ++steps;
    }
    return total / double(steps);
}

/// Mean over images of the Dice 2|P n G| / (|P| + |G|), P = {sigmoid(logit) > 0.5} = {logit > 0}
/// (1 when both are empty), in eval mode.
double validation_dice(nn::UnaryModule& model, const std::vector<Sample>& set) {
    model.eval();
    NoGradGuard no_grad;
    double sum = 0;
    const std::size_t chunk = 16;
    for (std::size_t first = 0; first < set.size(); first += chunk) {
        std::vector<std::size_t> idx(std::min(chunk, set.size() - first));
        std::iota(idx.begin(), idx.end(), first);
        Tensor images, labels;
        to_batch(set, idx, images, labels);
        const Tensor logits = model.forward(images).contiguous();
        const float* z = logits.data_ptr<float>();
        for (std::size_t n = 0; n < idx.size(); ++n) {
            const std::vector<float>& g = set[first + n].label;
            double inter = 0, p_count = 0, g_count = 0;
            for (std::size_t i = 0; i < std::size_t(kPixels); ++i) {
                const bool p = z[n * kPixels + i] > 0.0f, t = g[i] > 0.5f;
                inter += double(p && t), p_count += double(p), g_count += double(t);
            }
            sum += p_count + g_count > 0 ? 2 * inter / (p_count + g_count) : 1.0;
        }
    }
    return sum / double(set.size());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The first epoch (1-based) whose Dice reaches `target`, if any.
std::optional<std::size_t> epochs_to(const std::vector<double>& dice, double target) {
    for (std::size_t e = 0; e < dice.size(); ++e)
        if (dice[e] >= target) return e + 1;
    return std::nullopt;
}

std::string describe_epochs(std::optional<std::size_t> e) {
    return e ? std::to_string(*e) : std::string("not reached");
}

// ---- the figure's raw material ------------------------------------------------------------------

/// Writes a kSize x kSize field as an 8-bit binary PGM, mapped linearly from [lo, hi].
void write_pgm(const std::filesystem::path& path, const std::vector<float>& f, double lo, double hi) {
    std::ofstream out(path, std::ios::binary);
    out << "P5\n" << kSize << " " << kSize << "\n255\n";
    for (float v : f) out.put(char(std::uint8_t(std::clamp((v - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5)));
    if (!out) throw Error("cannot write '" + path.string() + "'");
}

/// samples/task_a_<i>.pgm, task_a_<i>_label.pgm, and the same for task B: the first validation
/// images of each task (z-scored; shown over [-2.5, 3.5] standard deviations).
void write_samples(const std::filesystem::path& dir, const std::vector<Sample>& a, const std::vector<Sample>& b,
                   std::size_t n) {
    std::filesystem::create_directories(dir);
    for (std::size_t i = 0; i < n; ++i)
        for (const auto& [task, set] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
            if (i >= set->size()) continue;
            const std::string stem = std::string("task_") + task + "_" + std::to_string(i);
            write_pgm(dir / (stem + ".pgm"), (*set)[i].image, -2.5, 3.5);
            write_pgm(dir / (stem + "_label.pgm"), (*set)[i].label, 0.0, 1.0);
        }
}

// ---- the two phases -----------------------------------------------------------------------------

/// Pretrains a model on task A (fresh images every epoch), prints its validation Dice per epoch,
/// and returns the model.
std::shared_ptr<models::SmpUnet> pretrain(const Config& cfg, const std::vector<Sample>& val_a) {
    manual_seed(cfg.seed);
    auto model = make_model();
    optim::AdamW optimizer(model->parameters(), {.lr = cfg.pretrain_lr, .weight_decay = 1e-4});
    const std::int64_t steps_per_epoch = (cfg.pretrain_images + cfg.batch_pretrain - 1) / cfg.batch_pretrain;
    const std::int64_t total = std::max<std::int64_t>(2, cfg.epochs_pretrain * steps_per_epoch);
    optim::WarmupCosineLR scheduler(optimizer, std::min<std::int64_t>(20, total / 2), total, cfg.pretrain_lr * 0.05);
    const std::uint64_t train_seed = stream_seed(cfg.seed, kTrainA), order_seed = stream_seed(cfg.seed, kOrderA),
                        aug_seed = stream_seed(cfg.seed, kAugA);
    for (std::int64_t epoch = 0; epoch < cfg.epochs_pretrain; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        // Fresh images every epoch, each with its own augmentation stream: multiplicative speckle
        // (probability --pretrain-speckle) and contrast inversion (--pretrain-invert).
        std::vector<Sample> set;
        for (std::int64_t i = 0; i < cfg.pretrain_images; ++i) {
            Sample s = make_task_a(Generator::for_sample(train_seed, std::uint64_t(epoch), std::uint64_t(i)));
            Draws r(Generator::for_sample(aug_seed, std::uint64_t(epoch), std::uint64_t(i)));
            if (r.coin(cfg.pretrain_speckle)) {
                const Field grain = speckle_field(r);
                for (std::size_t k = 0; k < grain.size(); ++k) s.image[k] = float(s.image[k] * grain[k]);
            }
            normalise(s.image);
            if (r.coin(cfg.pretrain_invert))
                for (float& v : s.image) v = -v;
            set.push_back(std::move(s));
        }
        model->train();
        const double loss = train_epoch(
            *model, optimizer, &scheduler, set,
            permutation(set.size(), Generator::for_sample(order_seed, std::uint64_t(epoch), 0)), cfg.batch_pretrain);
        const double dice = validation_dice(*model, val_a);
        std::cout << "  pretrain epoch " << std::setw(2) << epoch + 1 << "/" << cfg.epochs_pretrain << "  loss "
                  << std::fixed << std::setprecision(4) << loss << "  val Dice (task A) " << dice << "  ("
                  << std::setprecision(1) << seconds_since(t0) << " s)" << std::defaultfloat << std::endl;
    }
    return model;
}

/// Fine-tunes a fresh model on task B with the streams of `ft_seed`; `encoder_file` empty = random
/// initialisation. Returns the validation Dice after every epoch. The two runs of one seed draw the
/// same initial weights (the decoder and head start identical; the random run keeps its random
/// encoder), the same data order and the same flips.
std::vector<double> fine_tune(const Config& cfg, std::uint64_t ft_seed, const std::string& encoder_file,
                              const std::vector<Sample>& train_b, const std::vector<Sample>& val_b) {
    manual_seed(stream_seed(ft_seed, kInitB));
    auto model = make_model();
    const bool pretrained = !encoder_file.empty();
    std::vector<optim::ParamGroup> groups;
    if (pretrained) {
        const auto report = io::load_weights(*model, encoder_file, {.strict = false, .add_prefix = "encoder."});
        std::cout << "  load_weights: " << report.summary() << "\n";
        groups = models::param_groups_by_prefix(*model, cfg.lr, {{"encoder.", cfg.encoder_lr_mult}});
    } else {
        groups.emplace_back(model->parameters());
    }
    optim::AdamW optimizer(groups, {.lr = cfg.lr, .weight_decay = 1e-4});
    const std::uint64_t order_seed = stream_seed(ft_seed, kOrderB), flip_seed = stream_seed(ft_seed, kFlipB);
    std::vector<double> dice;
    for (std::int64_t epoch = 0; epoch < cfg.epochs_finetune; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        // Augmentation: each image mirrored left-right with probability 1/2, drawn per (epoch, image).
        std::vector<Sample> set = train_b;
        for (std::size_t i = 0; i < set.size(); ++i) {
            Draws r(Generator::for_sample(flip_seed, std::uint64_t(epoch), i));
            if (r.coin()) flip_horizontal(set[i]);
        }
        if (pretrained) models::freeze_encoder_for(*model, epoch, cfg.freeze_epochs);
        model->train();  // a frozen encoder stays in eval mode
        const double loss = train_epoch(
            *model, optimizer, nullptr, set,
            permutation(set.size(), Generator::for_sample(order_seed, std::uint64_t(epoch), 0)), cfg.batch_finetune);
        dice.push_back(validation_dice(*model, val_b));
        if (cfg.verbose)
            std::cout << "  " << (pretrained ? "pretrained" : "random    ") << " epoch " << std::setw(2) << epoch + 1
                      << "/" << cfg.epochs_finetune << "  loss " << std::fixed << std::setprecision(4) << loss
                      << "  val Dice " << dice.back() << "  (" << std::setprecision(1) << seconds_since(t0) << " s)"
                      << std::defaultfloat << std::endl;
    }
    if (!cfg.verbose) {
        std::cout << "  " << (pretrained ? "pretrained" : "random    ") << " val Dice per epoch:" << std::fixed
                  << std::setprecision(3);
        for (double d : dice) std::cout << " " << d;
        std::cout << std::defaultfloat << std::endl;
    }
    return dice;
}

/// Per-epoch means over repeats.
std::vector<double> mean_curve(const std::vector<std::vector<double>>& runs) {
    std::vector<double> m(runs.front().size(), 0.0);
    for (const auto& r : runs)
        for (std::size_t e = 0; e < m.size(); ++e) m[e] += r[e] / double(runs.size());
    return m;
}

/// Writes the CSV and reads it back: returns the number of data rows found. Columns: epoch, the
/// mean Dice of each arm over the repeats, then (with several repeats) each repeat's Dice.
std::size_t write_csv(const std::filesystem::path& path, const std::vector<std::vector<double>>& random,
                      const std::vector<std::vector<double>>& pretrained) {
    const auto mr = mean_curve(random), mp = mean_curve(pretrained);
    {
        std::ofstream out(path);
        out << "epoch,dice_random,dice_pretrained";
        if (random.size() > 1)
            for (std::size_t r = 0; r < random.size(); ++r)
                out << ",dice_random_" << r + 1 << ",dice_pretrained_" << r + 1;
        out << "\n" << std::setprecision(6) << std::fixed;
        for (std::size_t e = 0; e < mr.size(); ++e) {
            out << e + 1 << "," << mr[e] << "," << mp[e];
            if (random.size() > 1)
                for (std::size_t r = 0; r < random.size(); ++r) out << "," << random[r][e] << "," << pretrained[r][e];
            out << "\n";
        }
        if (!out) throw Error("cannot write '" + path.string() + "'");
    }
    std::ifstream in(path);
    std::string line;
    std::size_t rows = 0;
    for (std::getline(in, line); std::getline(in, line);) rows += line.empty() ? 0 : 1;
    return rows;
}

int run(const Config& cfg) {
    const auto t_start = std::chrono::steady_clock::now();
    const std::filesystem::path out = cfg.out;
    std::filesystem::create_directories(out);
    std::cout << "fbseg transfer demo: seed " << cfg.seed << ", " << num_threads() << " thread(s)"
              << (cfg.quick ? ", quick smoke run" : "") << "\n"
              << "pretraining: " << cfg.epochs_pretrain << " x " << cfg.pretrain_images << " task-A images, batch "
              << cfg.batch_pretrain << ", AdamW lr " << cfg.pretrain_lr << " warmup-cosine, invert p "
              << cfg.pretrain_invert << ", speckle p " << cfg.pretrain_speckle << "\n"
              << "fine-tuning: " << cfg.repeats << " repeat(s) x " << cfg.epochs_finetune << " epochs on "
              << cfg.train_images << " task-B images, batch " << cfg.batch_finetune << ", AdamW lr " << cfg.lr
              << ", pretrained encoder lr x" << cfg.encoder_lr_mult << ", frozen " << cfg.freeze_epochs
              << " epoch(s); validation " << cfg.val_images << " images per task; target Dice " << cfg.target << "\n";
    {
        auto probe = make_model();
        std::cout << "model: resnet18-mini-unet, " << probe->num_parameters() << " parameters ("
                  << probe->encoder->num_parameters() << " in the encoder)\n";
    }

    const auto val_a = make_set(make_task_a, stream_seed(cfg.seed, kValA), 0, cfg.val_images);
    const auto val_b = make_set(make_task_b, stream_seed(cfg.seed, kValB), 0, cfg.val_images);
    write_samples(out / "samples", val_a, val_b, 4);

    double pretrain_seconds = 0, dice_a = 0;
    std::string encoder_file = cfg.encoder;
    if (encoder_file.empty()) {
        std::cout << "\n[1] pretraining on task A (fetal MRI-like): " << cfg.epochs_pretrain << " epochs of "
                  << cfg.pretrain_images << " fresh images\n";
        const auto t_pre = std::chrono::steady_clock::now();
        auto pretrained_model = pretrain(cfg, val_a);
        pretrain_seconds = seconds_since(t_pre);
        dice_a = validation_dice(*pretrained_model, val_a);
        encoder_file = (out / "encoder_pretrained.safetensors").string();
        io::save_weights(*pretrained_model->encoder, encoder_file, {{"fbseg.note", "transfer demo: task-A encoder"}});
        std::cout << "[2] exported the encoder to " << encoder_file << "\n";
    } else {
        std::cout << "\n[1, 2] no pretraining: the encoder comes from " << encoder_file << "\n";
    }

    // Each repeat draws its own labelled set, initial weights, data order and flips (seed + r); the
    // validation set is the same for all.
    const auto t_ft = std::chrono::steady_clock::now();
    std::vector<std::vector<double>> random, pretrained;
    for (std::int64_t r = 0; r < cfg.repeats; ++r) {
        const std::uint64_t ft_seed = cfg.seed + std::uint64_t(r);
        const auto train_b = make_set(make_task_b, stream_seed(ft_seed, kTrainB), 0, cfg.train_images);
        std::cout << "\n[3] fine-tuning on task B (ultrasound-like, " << cfg.train_images
                  << " labelled images), repeat " << r + 1 << "/" << cfg.repeats << " (seed " << ft_seed << ")\n"
                  << " (a) from random initialisation\n";
        random.push_back(fine_tune(cfg, ft_seed, "", train_b, val_b));
        std::cout << " (b) with the pretrained encoder (encoder lr x" << cfg.encoder_lr_mult << ", frozen for "
                  << cfg.freeze_epochs << " epoch(s))\n";
        pretrained.push_back(fine_tune(cfg, ft_seed, encoder_file, train_b, val_b));
    }
    const double finetune_seconds = seconds_since(t_ft);

    const auto csv = out / "transfer_curves.csv";
    const std::size_t rows = write_csv(csv, random, pretrained);
    const auto mr = mean_curve(random), mp = mean_curve(pretrained);
    std::cout << std::fixed << std::setprecision(4) << "\nresults (validation Dice on " << val_b.size()
              << " task-B images, threshold 0.5; " << cfg.repeats << " repeat(s))\n"
              << "  task A validation Dice after pretraining: " << (cfg.encoder.empty() ? std::to_string(dice_a) : "-")
              << "\n"
              << "  epochs to Dice >= " << cfg.target << " (mean curve):  random "
              << describe_epochs(epochs_to(mr, cfg.target)) << ",  pretrained "
              << describe_epochs(epochs_to(mp, cfg.target)) << "\n";
    if (cfg.repeats > 1) {
        std::cout << "  epochs to Dice >= " << cfg.target << " per repeat (random / pretrained):";
        for (std::size_t r = 0; r < random.size(); ++r)
            std::cout << "  " << describe_epochs(epochs_to(random[r], cfg.target)) << " / "
                      << describe_epochs(epochs_to(pretrained[r], cfg.target));
        std::cout << "\n  final Dice per repeat (random / pretrained):";
        for (std::size_t r = 0; r < random.size(); ++r)
            std::cout << "  " << random[r].back() << " / " << pretrained[r].back();
        std::cout << "\n";
    }
    std::cout << "  final Dice (epoch " << cfg.epochs_finetune << ", mean):  random " << mr.back() << ",  pretrained "
              << mp.back() << "\n"
              << "  best Dice (mean curve):  random " << *std::max_element(mr.begin(), mr.end()) << ",  pretrained "
              << *std::max_element(mp.begin(), mp.end()) << "\n"
              << std::setprecision(1) << "  time: pretraining " << pretrain_seconds << " s, fine-tuning "
              << finetune_seconds << " s, total " << seconds_since(t_start) << " s\n"
              << "  wrote " << csv.string() << " (" << rows << " rows)" << std::defaultfloat << "\n";

    bool ok = rows == mr.size();
    for (double d : mr) ok = ok && std::isfinite(d);
    for (double d : mp) ok = ok && std::isfinite(d);
    if (!ok) std::cerr << "fbseg_transfer_demo: the CSV did not read back, or a Dice is not finite\n";
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    if (!parse_args(argc, argv, cfg)) return 2;
    try {
        return run(cfg);
    } catch (const std::exception& e) {
        std::cerr << "fbseg_transfer_demo: " << e.what() << "\n";
        return 1;
    }
}
