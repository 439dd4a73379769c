// train_command.hpp - `fbseg train`: train a segmentation model and keep everything about the run
// in one folder (docs/application.md, "fbseg train").
//
//   RUN_DIR/config.json       the resolved options, the command line, the build, the device,
//                             threads, and a hash of the dataset's subjects
//   RUN_DIR/split.json        which subjects train and which validate (never one on both sides)
//   RUN_DIR/metrics.csv       one row per epoch: losses, validation Dice per class, lr, seconds
//   RUN_DIR/last.safetensors  the run after its last finished epoch: model, optimizer, schedule,
//                             random state (written atomically: a crash keeps the previous one)
//   RUN_DIR/best.safetensors  the same, at the epoch of the best mean validation Dice
//   RUN_DIR/log.txt           what was printed
//   RUN_DIR/summary.json      the best epoch and its validation Dice per class
//
// Exact resume: `fbseg train --resume RUN_DIR [--epochs N]` reads config.json and last.safetensors
// and goes on from the next epoch. Batches depend only on (seed, epoch) (data/loader.hpp), and
// the checkpoint restores the weights, the optimizer's moments, the schedule and the generators
// bit for bit, so a resumed run writes the same metrics.csv as one left alone (a test compares).
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <fbseg/fbseg.hpp>
#include <nlohmann/json.hpp>

#include "init_weights.hpp"
#include "open_dataset.hpp"

namespace fbseg::app {

/// The defaults are the measured ultrasound recipe (docs/application.md, "Measured recipes").
struct TrainOptions {
    std::string data = "phantom";  // "phantom" (generated in memory) or a dataset folder / .csv
    std::string format = "auto";
    std::string modality = "us";   // phantom: us or mri
    std::size_t count = 96;        // phantom: samples
    std::string model = "unet";
    std::string classes = "binary";  // binary: foreground vs background; labels: the dataset's label set
    int epochs = 12;
    int batch_size = 8;
    int image_size = 128;            // every image is letterboxed to image_size x image_size
    std::string optimizer = "adamw";  // sgd, adam, adamw
    double lr = 2e-3;
    double weight_decay = 1e-4;
    std::string schedule = "cosine";  // constant, cosine, poly
    std::string loss = "bce+dice";    // bce, dice, bce+dice (binary); ce, ce+dice (labels)
    std::string augment = "flips";    // none, flips, default, strong
    double strength = 1.0;
    std::uint64_t seed = 0;
    std::string device = "cpu";
    int threads = 0;  // 0: FBSEG_NUM_THREADS, else every core
    int workers = 2;
    double val_fraction = 0.2;
    int patience = 0;  // epochs without a better validation Dice before stopping; 0: never stop early
    std::string out = "runs/run";
    std::string resume;  // a run folder to continue
    std::string recipe = "default";  // default, or seed (recipes.hpp); options given explicitly win
    InitOptions init;                // --init FILE and its key mapping (init_weights.hpp)
    double encoder_lr = 1.0;         // the encoder's learning rate as a multiple of --lr
    int freeze_encoder_epochs = 0;   // the encoder is frozen (BatchNorm statistics too) for these epochs
    bool sync_batchnorm = true;      // data parallel: BatchNorm statistics over every rank's share
};

inline nlohmann::json to_json(const TrainOptions& o) {
    nlohmann::json j = nlohmann::json::object();
    j["data"] = o.data;
    j["format"] = o.format;
    j["modality"] = o.modality;
    j["count"] = o.count;
    j["model"] = o.model;
    j["classes"] = o.classes;
    j["epochs"] = o.epochs;
    j["batch_size"] = o.batch_size;
    j["image_size"] = o.image_size;
    j["optimizer"] = o.optimizer;
    j["lr"] = o.lr;
    j["weight_decay"] = o.weight_decay;
    j["schedule"] = o.schedule;
    j["loss"] = o.loss;
    j["augment"] = o.augment;
    j["strength"] = o.strength;
    j["seed"] = o.seed;
    j["device"] = o.device;
    j["threads"] = o.threads;
    j["workers"] = o.workers;
    j["val_fraction"] = o.val_fraction;
    j["patience"] = o.patience;
    j["out"] = o.out;
    j["recipe"] = o.recipe;
    j["init"] = o.init.file;
    j["init_strip"] = o.init.strip_prefix;
    j["init_prefix"] = o.init.add_prefix;
    j["init_exclude"] = o.init.exclude;
    j["init_strict"] = o.init.strict;
    j["encoder_lr"] = o.encoder_lr;
    j["freeze_encoder_epochs"] = o.freeze_encoder_epochs;
    j["sync_batchnorm"] = o.sync_batchnorm;
    return j;
}

inline TrainOptions train_options_from_json(const nlohmann::json& j, const std::string& what) {
    TrainOptions o;
    try {
        o.data = j.at("data");
        o.format = j.at("format");
        o.modality = j.at("modality");
        o.count = j.at("count");
        o.model = j.at("model");
        o.classes = j.at("classes");
        o.epochs = j.at("epochs");
        o.batch_size = j.at("batch_size");
        o.image_size = j.at("image_size");
        o.optimizer = j.at("optimizer");
        o.lr = j.at("lr");
        o.weight_decay = j.at("weight_decay");
        o.schedule = j.at("schedule");
        o.loss = j.at("loss");
        o.augment = j.at("augment");
        o.strength = j.at("strength");
        o.seed = j.at("seed");
        o.device = j.at("device");
        o.threads = j.at("threads");
        o.workers = j.at("workers");
        o.val_fraction = j.at("val_fraction");
        o.patience = j.at("patience");
        o.out = j.at("out");
        // added after the first runs were made: a config.json without them had their defaults
        o.recipe = j.value("recipe", o.recipe);
        o.init.file = j.value("init", o.init.file);
        o.init.strip_prefix = j.value("init_strip", o.init.strip_prefix);
        o.init.add_prefix = j.value("init_prefix", o.init.add_prefix);
        o.init.exclude = j.value("init_exclude", o.init.exclude);
        o.init.strict = j.value("init_strict", o.init.strict);
        o.encoder_lr = j.value("encoder_lr", o.encoder_lr);
        o.freeze_encoder_epochs = j.value("freeze_encoder_epochs", o.freeze_encoder_epochs);
        o.sync_batchnorm = j.value("sync_batchnorm", o.sync_batchnorm);
    } catch (const nlohmann::json::exception& e) {
        FBSEG_FAIL(what, ": the options are incomplete or of the wrong type (", e.what(), ")");
    }
    return o;
}

namespace train_detail {

/// Set by SIGINT (Ctrl-C): the loop stops after the current step.
inline std::atomic<bool>& interrupted() {
    static std::atomic<bool> flag{false};
    return flag;
}
inline void on_sigint(int) { interrupted().store(true); }

/// Lines printed to the console and to log.txt; silent when made without a path (the ranks of a
/// data-parallel run other than rank 0).
class Log {
public:
    explicit Log(const std::filesystem::path& path) : active_(!path.empty()) {
        if (!active_) return;
        file_.open(path, std::ios::app);
        FBSEG_CHECK(file_.good(), "train: cannot write '", path.string(), "'");
    }
    void line(const std::string& text) {
        if (!active_) return;
        std::cout << text << std::endl;
        file_ << text << '\n';
        file_.flush();
    }

private:
    bool active_;
    std::ofstream file_;
};

/// Where an epoch is, for the progress line.
struct Progress {
    std::int64_t epoch = 0, epochs = 0, step = 0, steps = 0;
    std::int64_t steps_here = 0, images_here = 0;  // done by this process (a resumed epoch started later)
    double seconds_here = 0, loss = 0, dice = 0;   // dice: the running training Dice (NaN: none yet)
};

/// One progress line, redrawn in place on a terminal:
///   epoch 3/12 [#########...........]  step 5/11  loss 0.4121  dice 0.712  9.8 img/s  eta 6 s
inline void print_progress(const Progress& p) {
    constexpr int kWidth = 20;
    const int filled = int(kWidth * p.step / std::max<std::int64_t>(p.steps, 1));
    const double per_step = p.steps_here > 0 ? p.seconds_here / double(p.steps_here) : 0.0;
    std::ostringstream line;
    line << "\repoch " << p.epoch << "/" << p.epochs << " [" << std::string(std::size_t(filled), '#')
         << std::string(std::size_t(kWidth - filled), '.') << "]  step " << p.step << "/" << p.steps << "  loss "
         << std::fixed << std::setprecision(4) << p.loss << "  dice ";
    if (std::isnan(p.dice)) line << "-"; else line << std::setprecision(3) << p.dice;
    line << "  " << std::setprecision(1) << (p.seconds_here > 0 ? double(p.images_here) / p.seconds_here : 0.0)
         << " img/s  eta " << std::setprecision(0) << per_step * double(p.steps - p.step) << " s   ";
    std::cout << line.str() << std::flush;
}

/// The options checked against each other before any data is read or time is spent.
inline void check_options(const TrainOptions& o) {
    auto one_of = [](const std::string& v, std::initializer_list<const char*> set, const char* what) {
        std::string list;
        for (const char* s : set) {
            if (v == s) return;
            list += list.empty() ? s : std::string(", ") + s;
        }
        FBSEG_FAIL("train: --", what, " '", v, "' is not one of ", list);
    };
    one_of(o.classes, {"binary", "labels"}, "classes");
    one_of(o.optimizer, {"sgd", "adam", "adamw"}, "optimizer");
    one_of(o.schedule, {"constant", "cosine", "poly"}, "schedule");
    one_of(o.loss, {"bce", "dice", "bce+dice", "ce", "ce+dice"}, "loss");
    one_of(o.device, {"cpu", "cuda"}, "device");
    one_of(o.modality, {"us", "mri"}, "modality");
    const bool binary_loss = o.loss == "bce" || o.loss == "dice" || o.loss == "bce+dice";
    FBSEG_CHECK(binary_loss == (o.classes == "binary"), "train: --loss ", o.loss, " does not fit --classes ", o.classes,
                " (binary: bce, dice or bce+dice; labels: ce or ce+dice)");
    FBSEG_CHECK(o.epochs >= 1, "train: --epochs must be at least 1, got ", o.epochs);
    FBSEG_CHECK(o.batch_size >= 1, "train: --batch-size must be at least 1, got ", o.batch_size);
    FBSEG_CHECK(o.image_size >= 16 && o.image_size % 16 == 0, "train: --image-size must be a multiple of 16 (the ",
                "networks halve it four times) and at least 16, got ", o.image_size);
    FBSEG_CHECK(o.lr > 0, "train: --lr must be positive, got ", o.lr);
    FBSEG_CHECK(o.val_fraction > 0 && o.val_fraction < 1, "train: --val-fraction must be in (0, 1), got ",
                o.val_fraction);
    FBSEG_CHECK(o.workers >= 0 && o.threads >= 0 && o.patience >= 0 && o.freeze_encoder_epochs >= 0,
                "train: --workers, --threads, --patience and --freeze-encoder-epochs must be >= 0");
    FBSEG_CHECK(o.encoder_lr >= 0, "train: --encoder-lr must be >= 0, got ", o.encoder_lr);
    if (!o.init.file.empty()) {
        std::error_code ec;
        FBSEG_CHECK(std::filesystem::is_regular_file(o.init.file, ec), "train: --init '", o.init.file,
                    "' does not exist or is not a file");
    }
    if (o.device == "cuda")
        FBSEG_CHECK(cuda_is_available(), "train: --device cuda, but ",
                    cuda::registered_backend() ? "no CUDA device is available" : "this build of fbseg has no CUDA support",
                    "; use --device cpu");
}

/// FNV-1a over the dataset's size and subjects: a cheap fingerprint of what was trained on.
inline std::string dataset_fingerprint(const data::Dataset& dataset) {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const std::string& s) {
        for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    };
    mix(std::to_string(dataset.size()));
    for (std::size_t i = 0; i < dataset.size(); ++i) mix(dataset.subject(i));
    std::ostringstream out;
    out << std::hex << std::setw(16) << std::setfill('0') << h;
    return out.str();
}

inline std::unique_ptr<data::Dataset> open_training_data(const TrainOptions& o) {
    if (o.data == "phantom") {
        data::phantom::PhantomDatasetOptions p;
        p.modality = o.modality == "mri" ? data::phantom::Modality::mri : data::phantom::Modality::ultrasound;
        p.count = o.count;
        p.seed = o.seed;
        return std::make_unique<data::phantom::PhantomDataset>(p);
    }
    return open_dataset(o.data, parse_format(o.format));
}

/// The classes scored in validation: the foreground (binary), or every label but background.
inline std::vector<std::pair<std::string, std::int64_t>> scored_classes(const data::LabelSet& labels, bool binary) {
    if (binary) return {{"foreground", 1}};
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const auto& [name, value] : labels.labels)
        if (value != 0) out.emplace_back(name, value);
    return out;
}

/// The optimizer over the model's parameters: one group, or with --encoder-lr other than 1 two
/// (the encoder at lr * encoder_lr, the rest at lr; models/fine_tune.hpp).
inline std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, const nn::Module& model) {
    std::vector<optim::ParamGroup> groups =
        o.encoder_lr == 1.0 ? std::vector<optim::ParamGroup>{optim::ParamGroup(model.parameters())}
                            : models::param_groups_by_prefix(model, o.lr, {{"encoder.", o.encoder_lr}});
    if (o.optimizer == "sgd")
        return std::make_unique<optim::SGD>(std::move(groups), optim::SGDOptions{.lr = o.lr, .momentum = 0.99,
                                                                                 .weight_decay = o.weight_decay,
                                                                                 .nesterov = true});
    if (o.optimizer == "adam")
        return std::make_unique<optim::Adam>(std::move(groups), optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
    return std::make_unique<optim::AdamW>(std::move(groups), optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
}

inline std::unique_ptr<optim::LRScheduler> make_schedule(const TrainOptions& o, optim::Optimizer& optimizer,
                                                         std::int64_t total_steps) {
    if (o.schedule == "cosine") return std::make_unique<optim::WarmupCosineLR>(optimizer, 0, std::max<std::int64_t>(total_steps, 1));
    if (o.schedule == "poly") return std::make_unique<optim::PolynomialLR>(optimizer, std::max<std::int64_t>(total_steps, 1), 0.9);
    return nullptr;  // constant
}

/// The network's target for a batch's int64 labels [N, H, W]: float {0, 1} [N, 1, H, W] (binary:
/// every non-zero label is foreground), or the labels themselves (ce).
inline Tensor make_target(const Tensor& labels, bool binary, Device device) {
    if (binary) return gt(labels, 0.0).to(DType::Float32).unsqueeze(1).to(device);
    return labels.to(device);
}

inline Tensor compute_loss(const std::string& loss, const Tensor& logits, const Tensor& target) {
    if (loss == "bce") return nn::binary_cross_entropy_with_logits(logits, target);
    if (loss == "dice") return nn::dice_loss(logits, target);
    if (loss == "bce+dice") return nn::bce_dice_loss(logits, target);
    if (loss == "ce") return nn::cross_entropy(logits, target);
    return nn::ce_dice_loss(logits, target);
}

/// One epoch's validation: mean loss, and per scored class the mean over cases of Dice (a case
/// whose reference lacks the class is not scored for it, as MONAI's DiceMetric).
struct Validation {
    double loss = 0;
    std::vector<double> dice;  // per scored class; NaN when no case had the class
    double mean_dice() const {
        double s = 0;
        int n = 0;
        for (double d : dice)
            if (!std::isnan(d)) s += d, ++n;
        return n ? s / n : std::nan("");
    }
};

}  // namespace train_detail

/// `given(option)` says whether the command line gave "--option" (with --resume, the run's own
/// options are read from its config.json, and only --epochs, --threads, --workers and --device
/// given on the command line replace them).
///
/// `group`: the ranks of a data-parallel run (mpirun -np N fbseg train: docs/scaling.md), or a
/// SingleProcess. Every rank reads the data and runs the same steps on its share of each batch;
/// only rank 0 writes the run folder and prints.
inline int run_train(TrainOptions options, const std::string& command_line,
                     const std::function<bool(const std::string&)>& given, distributed::Communicator& group) {
    const bool epochs_given = given("--epochs");
    const bool root = group.is_root();
    const int ranks = group.size();
    namespace fs = std::filesystem;
    using namespace train_detail;
    std::int64_t start_epoch = 0;
    // A checkpoint written by Ctrl-C in the middle of an epoch: that epoch goes on from batch
    // start_batch, with the loss and image count of its first part.
    std::int64_t start_batch = 0, partial_images = 0;
    double partial_loss_sum = 0, partial_seconds = 0;
    int planned_epochs = 0;  // the epochs the run had before --epochs extended it
    io::Checkpoint resumed;
    if (!options.resume.empty()) {
        const fs::path dir = options.resume;
        const fs::path config = dir / "config.json", last = dir / "last.safetensors";
        FBSEG_CHECK(fs::exists(config) && fs::exists(last), "train --resume: '", dir.string(),
                    "' is not a run folder (expected config.json and last.safetensors in it)");
        std::ifstream in(config);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            FBSEG_FAIL("train --resume: '", config.string(), "' is not valid JSON (", e.what(), ")");
        }
        const TrainOptions command = options;
        options = train_options_from_json(j.at("options"), config.string());
        options.resume = command.resume;
        options.out = dir.string();
        planned_epochs = options.epochs;
        if (epochs_given) options.epochs = command.epochs;  // a finished run may be extended
        if (given("--threads")) options.threads = command.threads;
        if (given("--workers")) options.workers = command.workers;
        if (given("--device")) options.device = command.device;
        resumed = io::read_checkpoint(last.string());
        const auto number = [&](const char* key) {
            const auto it = resumed.info.find(key);
            FBSEG_CHECK(it != resumed.info.end(), "train --resume: '", last.string(), "' has no '", key, "' entry");
            return io::parse_double(it->second, last.string() + ": " + key);
        };
        start_epoch = std::int64_t(number("epoch")) + 1;
        if (resumed.info.count("batches_done")) {
            start_batch = std::int64_t(number("batches_done"));
            partial_loss_sum = number("partial_loss_sum");
            partial_images = std::int64_t(number("partial_images"));
            partial_seconds = number("partial_seconds");
        }
        // finished: every planned epoch done, or stopped early by --patience (then only a larger
        // --epochs goes on)
        const bool stopped_early = start_batch == 0 && options.patience > 0 &&
                                   std::int64_t(number("stale_epochs")) >= options.patience;
        FBSEG_CHECK(options.epochs >= start_epoch + (start_batch > 0 ? 1 : 0), "train --resume: --epochs ",
                    options.epochs, " is fewer than the ", start_epoch + (start_batch > 0 ? 1 : 0),
                    " epochs the run has begun");
        if ((start_epoch >= options.epochs || stopped_early) && !(epochs_given && options.epochs > planned_epochs)) {
            if (root) std::cout << "train --resume: " << dir.string() << " has finished (" << start_epoch << " of "
                      << options.epochs << " epochs" << (stopped_early ? ", stopped early" : "")
                      << "); extend it with --epochs N (N > " << std::max<std::int64_t>(start_epoch, planned_epochs)
                      << ")\n";
            return 0;
        }
    }
    check_options(options);
    if (options.threads > 0) set_num_threads(options.threads);
    const bool binary = options.classes == "binary";
    // one rank per GPU: the rank's index on its machine picks the GPU (NcclCommunicator made it current)
    const int gpu = ranks > 1 && options.device == "cuda" && cuda_device_count() > 0
                        ? distributed::local_rank() % cuda_device_count() : 0;
    const Device device = options.device == "cuda" ? cuda_device(gpu) : kCPU;
    FBSEG_CHECK(ranks == 1 || device.is_cpu() || group.reduces_on_device(), "train: ", group.describe(),
                " with --device cuda: data-parallel training on GPUs needs NCCL, and this fbseg was built without it ",
                "(NCCL is looked for in the CUDA toolkit's folders); use --device cpu");

    const fs::path run = options.out;
    if (root) {
        std::error_code ec;
        fs::create_directories(run, ec);
        FBSEG_CHECK(!ec && fs::is_directory(run), "train: cannot create the run folder '", run.string(), "' (",
                    ec.message(), ")");
    }
    Log log(root ? run / "log.txt" : fs::path());

    // ---- data -------------------------------------------------------------------------------
    const std::unique_ptr<data::Dataset> dataset = open_training_data(options);
    FBSEG_CHECK(dataset->size() >= 2, "train: the dataset has ", dataset->size(), " samples; at least 2 are needed");
    const data::LabelSet labels = dataset->label_set();
    const auto scored = scored_classes(labels, binary);
    const std::int64_t out_channels = binary ? 1 : labels.num_classes();
    const data::Split split = options.resume.empty() ? data::split_by_subject(*dataset, options.val_fraction, options.seed)
                                                     : data::read_split(run / "split.json", *dataset);
    FBSEG_CHECK(!split.train.indices.empty() && !split.val.indices.empty(), "train: the split by subject left ",
                split.train.indices.size(), " training and ", split.val.indices.size(),
                " validation samples; more subjects (or another --val-fraction) are needed");
    data::Subset train_set(*dataset, split.train.indices), val_set(*dataset, split.val.indices);
    // validation is shared out by case: rank r scores the cases r, r + N, r + 2N, ... of the split
    std::vector<std::size_t> my_val_indices;
    for (std::size_t i = std::size_t(group.rank()); i < split.val.indices.size(); i += std::size_t(ranks))
        my_val_indices.push_back(split.val.indices[i]);
    data::Subset my_val_set(*dataset, my_val_indices);
    nlohmann::json resize = nlohmann::json::object();
    resize["name"] = "resize";
    resize["height"] = options.image_size;
    resize["width"] = options.image_size;
    nlohmann::json train_config = data::augment::preset_config(options.augment);
    train_config.insert(train_config.begin(), resize);
    const auto train_transform = data::augment::Pipeline::from_json(train_config, options.strength);
    const auto val_transform = data::augment::Pipeline::from_json(nlohmann::json::array({resize}), 1.0);
    data::DataLoader train_loader(train_set, {.batch_size = options.batch_size, .shuffle = true, .drop_last = false,
                                              .num_workers = options.workers, .prefetch = 0, .seed = options.seed,
                                              .transform = train_transform, .rank = group.rank(), .world_size = ranks});
    data::DataLoader val_loader(my_val_set, {.batch_size = options.batch_size, .shuffle = false, .drop_last = false,
                                          .num_workers = options.workers, .prefetch = 0, .seed = options.seed,
                                          .transform = val_transform});

    // ---- model, optimizer, schedule ------------------------------------------------------------
    manual_seed(options.seed);
    auto model = models::make_model(options.model, 1, out_channels);
    model->to(device);
    if (!options.init.file.empty() && options.resume.empty())  // a resumed run has its weights already
        log.line("init: " + options.init.file + ": " + load_init_weights(*model, options.model, options.init));
    std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(options, *model);
    const std::int64_t steps_per_epoch = (std::int64_t(train_set.size()) + options.batch_size - 1) / options.batch_size;
    std::unique_ptr<optim::LRScheduler> schedule = make_schedule(options, *optimizer, steps_per_epoch * options.epochs);
    double best_dice = -1;
    std::int64_t best_epoch = -1, stale_epochs = 0;
    if (!options.resume.empty()) {
        io::restore_checkpoint(resumed, *model, optimizer.get(),
                               schedule ? std::function<void(const optim::StateDict&)>(
                                              [&](const optim::StateDict& s) { schedule->load_state_dict(s); })
                                        : std::function<void(const optim::StateDict&)>(),
                               (run / "last.safetensors").string());
        io::get_generator(resumed.info, "default", default_generator());
        best_dice = std::stod(resumed.info.at("best_dice"));
        best_epoch = std::stoll(resumed.info.at("best_epoch"));
        stale_epochs = std::stoll(resumed.info.at("stale_epochs"));
        log.line("resuming " + run.string() + " at epoch " + std::to_string(start_epoch + 1) + " of " +
                 std::to_string(options.epochs) +
                 (start_batch > 0 ? ", step " + std::to_string(start_batch + 1) + " of " + std::to_string(steps_per_epoch)
                                  : std::string()));
        if (options.epochs != planned_epochs && schedule)
            log.line("the run is extended from " + std::to_string(planned_epochs) + " to " +
                     std::to_string(options.epochs) + " epochs: the " + options.schedule +
                     " schedule is stretched to the new length from the next step on (docs/application.md)");
    }
    if (ranks > 1) {
        // one starting point on every rank (they built and loaded the same, but make it so), and
        // BatchNorm over the whole batch, so that N ranks compute what one process would
        distributed::broadcast_module(*model, group);
        if (options.sync_batchnorm) distributed::convert_sync_batchnorm(*model, &group);
    }

    // ---- the run folder (rank 0 writes it) -------------------------------------------------------
    nlohmann::json config = nlohmann::json::object();  // (built key by key: a braced list of pairs
    config["options"] = to_json(options);               // can turn into an array of arrays)
    config["command_line"] = command_line;
    config["fbseg_commit"] = FBSEG_APP_GIT_COMMIT;
    config["build"] = FBSEG_APP_BUILD_FLAGS;
    config["device"] = device.is_cuda() ? "cuda:0" : "cpu";
    config["threads"] = num_threads();
    config["ranks"] = ranks;  // data-parallel processes (threads is per process)
    config["dataset"] = nlohmann::json::object();
    config["dataset"]["samples"] = dataset->size();
    config["dataset"]["subjects_fnv1a"] = dataset_fingerprint(*dataset);
    config["out_channels"] = out_channels;
    config["labels"] = nlohmann::json::array();  // the classes the outputs stand for (predict writes them)
    for (const auto& [name, value] : labels.labels) {
        nlohmann::json entry = nlohmann::json::object();
        entry["name"] = name;
        entry["value"] = value;
        config["labels"].push_back(entry);
    }
    if (root) {
        std::ofstream out(run / "config.json");
        out << config.dump(2) << '\n';
        FBSEG_CHECK(out.good(), "train: cannot write '", (run / "config.json").string(), "'");
        if (options.resume.empty()) data::write_split(run / "split.json", split, *dataset);
    }

    // metrics.csv: rewritten with the rows of the epochs before start_epoch kept (a resumed run
    // continues the file; rows of epochs that are done again are dropped).
    const fs::path metrics_path = run / "metrics.csv";
    std::vector<std::string> kept_rows;
    std::ofstream metrics;  // not opened on the other ranks: their writes go nowhere
    if (root) {
        std::ifstream in(metrics_path);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line) && std::int64_t(kept_rows.size()) < start_epoch) kept_rows.push_back(line);
        in.close();
        metrics.open(metrics_path, std::ios::trunc);
    }
    metrics << "epoch,train_loss,val_loss";
    for (const auto& [name, value] : scored) metrics << ",val_dice_" << name;
    metrics << ",val_dice_mean,lr,seconds,images_per_s\n";
    for (const auto& row : kept_rows) metrics << row << '\n';
    metrics.flush();

    log.line("train: " + std::to_string(train_set.size()) + " training and " + std::to_string(val_set.size()) +
             " validation samples (" + std::to_string(split.train.subjects.size()) + " and " +
             std::to_string(split.val.subjects.size()) + " subjects), model " + options.model + " (" +
             std::to_string(model->num_parameters(true)) + " parameters), " + options.device + ", " +
             std::to_string(num_threads()) + " threads" +
             (ranks > 1 ? " per rank, " + group.describe() +
                              (options.sync_batchnorm ? ", BatchNorm synchronised" : ", BatchNorm per rank")
                        : std::string()));
    interrupted().store(false);
    std::signal(SIGINT, on_sigint);
    const bool tty = root && isatty(STDOUT_FILENO);
    // Fault injection for the tests: FBSEG_STOP_AFTER_STEPS=N sends this process SIGINT after its
    // N-th optimizer step, so that an interruption in the middle of an epoch is reproducible.
    const char* stop_env = std::getenv("FBSEG_STOP_AFTER_STEPS");
    const std::int64_t stop_after_steps = stop_env ? std::atoll(stop_env) : 0;
    std::int64_t steps_this_process = 0;

    // `epoch`: the last finished epoch (0-based; -1 before the first). A save in the middle of the
    // next epoch (Ctrl-C) adds how far it got, so that --resume goes on from the next batch.
    struct Partial {
        std::int64_t batches_done = 0, images = 0;
        double loss_sum = 0, seconds = 0;
    };
    auto save = [&](const fs::path& path, std::int64_t epoch, const Partial* partial) {
        if (!root) return;
        io::Metadata info = {{"epoch", std::to_string(epoch)},
                             {"best_dice", io::format_double(best_dice)},
                             {"best_epoch", std::to_string(best_epoch)},
                             {"stale_epochs", std::to_string(stale_epochs)},
                             {"model", options.model},
                             {"out_channels", std::to_string(out_channels)}};
        if (partial) {
            info["batches_done"] = std::to_string(partial->batches_done);
            info["partial_images"] = std::to_string(partial->images);
            info["partial_loss_sum"] = io::format_double(partial->loss_sum);
            info["partial_seconds"] = io::format_double(partial->seconds);
        }
        io::put_generator(info, "default", default_generator());
        io::save_checkpoint(path.string(), io::make_checkpoint(*model, optimizer.get(),
                                                                 schedule ? schedule->state_dict() : optim::StateDict{},
                                                                 info));
    };

    Validation last_validation;
    for (std::int64_t epoch = start_epoch; epoch < options.epochs; ++epoch) {
        // the first epoch of a resumed run may go on from the middle (a Ctrl-C checkpoint)
        const std::int64_t first_batch = epoch == start_epoch ? start_batch : 0;
        const auto epoch_start = std::chrono::steady_clock::now() -
                                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(first_batch ? partial_seconds : 0.0));
        if (options.freeze_encoder_epochs > 0) models::freeze_encoder_for(*model, epoch, options.freeze_encoder_epochs);
        model->train();
        double loss_sum = first_batch ? partial_loss_sum : 0.0;
        std::int64_t images = first_batch ? partial_images : 0, step = first_batch;
        double running_dice_sum = 0;  // the running training Dice of the progress line (mean over cases and classes)
        std::int64_t running_dice_count = 0;
        data::Epoch batches = train_loader.epoch(epoch, first_batch);
        bool stop = false;  // Ctrl-C: on every rank at the same step
        for (const data::Batch& batch : batches) {
            // this rank's images and whether it was interrupted, summed over the ranks: the global
            // batch's size, and a stop that every rank takes at the same step
            double sync[2] = {double(batch.images.size(0)), interrupted().load() ? 1.0 : 0.0};
            if (ranks > 1) group.all_reduce_sum(sync, 2);
            if (sync[1] > 0) {
                stop = true;
                break;
            }
            const double n_global = sync[0];
            const Tensor x = batch.images.to(device);
            const Tensor target = make_target(batch.labels, binary, device);
            optimizer->zero_grad();
            const Tensor logits = model->forward(x);
            const Tensor loss = compute_loss(options.loss, logits, target);
            // data parallel: each rank's mean loss counts n_local / n_global of the batch's loss
            // (distributed/data_parallel.hpp), and the printed value is the whole batch's
            const double scale = double(batch.images.size(0)) / n_global;
            double value = loss.item<double>();
            if (ranks > 1) {
                value *= scale;
                group.all_reduce_sum(&value, 1);
            }
            if (!std::isfinite(value)) {
                log.line("train: the loss is " + std::to_string(value) + " at epoch " + std::to_string(epoch + 1) +
                         ", step " + std::to_string(step + 1) + "; stopping. The last good checkpoint is " +
                         (run / "last.safetensors").string() + " (try a lower --lr)");
                return 1;
            }
            if (ranks > 1) {
                (loss * scale).backward();
                distributed::all_reduce_gradients(model->parameters(), group);
            } else {
                loss.backward();
            }
            optimizer->step();
            if (schedule) schedule->step();
            loss_sum += value * n_global;
            images += std::int64_t(n_global);
            ++step;
            if (++steps_this_process == stop_after_steps) std::raise(SIGINT);
            if (tty) {  // a progress line, redrawn in place; plain log lines only when not a terminal
                NoGradGuard no_grad;
                const Tensor pred = (binary ? gt(logits.select(1, 0), 0.0).to(DType::Int64) : argmax(logits, 1)).cpu();
                const Tensor ref = binary ? gt(batch.labels, 0.0).to(DType::Int64) : batch.labels;
                for (std::int64_t i = 0; i < pred.size(0); ++i)
                    for (const auto& [name, value] : scored) {
                        const double d = metrics::dice(pred.select(0, i), ref.select(0, i), value).value;
                        if (!std::isnan(d)) running_dice_sum += d, ++running_dice_count;
                    }
                const double here = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count() -
                                    (first_batch ? partial_seconds : 0.0);  // seconds of this process's part
                print_progress({.epoch = epoch + 1, .epochs = options.epochs, .step = step, .steps = steps_per_epoch,
                                .steps_here = step - first_batch, .images_here = images - (first_batch ? partial_images : 0),
                                .seconds_here = here, .loss = loss_sum / double(images),
                                .dice = running_dice_count ? running_dice_sum / double(running_dice_count) : std::nan("")});
            }
        }
        if (tty) std::cout << "\r" << std::string(100, ' ') << "\r" << std::flush;
        if (stop) {
            // saved where it stopped: --resume goes on from the next batch of this epoch
            const Partial partial{.batches_done = step, .images = images, .loss_sum = loss_sum,
                                  .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count()};
            save(run / "last.safetensors", epoch - 1, step > 0 ? &partial : nullptr);
            log.line("train: interrupted at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step) +
                     " of " + std::to_string(steps_per_epoch) + "; saved in " + (run / "last.safetensors").string() +
                     ". Resume with: fbseg train --resume " + run.string());
            return 130;
        }
        const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();

        // validation on whole (letterboxed) validation images
        model->eval();
        Validation v;
        {
            NoGradGuard no_grad;
            std::vector<double> dice_sum(scored.size(), 0.0);
            std::vector<int> dice_count(scored.size(), 0);
            double val_loss = 0;
            std::int64_t val_images = 0;
            for (const data::Batch& batch : val_loader.epoch(0)) {
                const Tensor x = batch.images.to(device);
                const Tensor logits = model->forward(x);
                val_loss += compute_loss(options.loss, logits, make_target(batch.labels, binary, device)).item<double>() *
                            double(batch.images.size(0));
                val_images += batch.images.size(0);
                const Tensor pred = (binary ? gt(logits.squeeze(1), 0.0).to(DType::Int64) : argmax(logits, 1)).cpu();
                const Tensor ref = binary ? gt(batch.labels, 0.0).to(DType::Int64) : batch.labels;
                for (std::int64_t i = 0; i < pred.size(0); ++i)
                    for (std::size_t k = 0; k < scored.size(); ++k) {
                        const metrics::Metric d = metrics::dice(pred.select(0, i), ref.select(0, i), scored[k].second);
                        if (!std::isnan(d.value)) dice_sum[k] += d.value, ++dice_count[k];
                    }
            }
            if (ranks > 1) {  // each rank scored its own cases: the sums over all of them
                std::vector<double> sums{val_loss, double(val_images)};
                sums.insert(sums.end(), dice_sum.begin(), dice_sum.end());
                for (int count : dice_count) sums.push_back(double(count));
                group.all_reduce_sum(sums.data(), sums.size());
                val_loss = sums[0];
                val_images = std::int64_t(sums[1]);
                for (std::size_t k = 0; k < scored.size(); ++k) {
                    dice_sum[k] = sums[2 + k];
                    dice_count[k] = int(sums[2 + scored.size() + k]);
                }
            }
            v.loss = val_loss / double(std::max<std::int64_t>(val_images, 1));
            for (std::size_t k = 0; k < scored.size(); ++k)
                v.dice.push_back(dice_count[k] ? dice_sum[k] / dice_count[k] : std::nan(""));
        }
        last_validation = v;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        const double lr = optimizer->param_groups().back().get("lr");  // the decoder's (the encoder's may be scaled)
        const double mean_dice = v.mean_dice();
        metrics << epoch + 1 << ',' << io::format_double(loss_sum / double(std::max<std::int64_t>(images, 1))) << ','
                << io::format_double(v.loss);
        for (double d : v.dice) metrics << ',' << io::format_double(d);
        metrics << ',' << io::format_double(mean_dice) << ',' << io::format_double(lr) << ',' << std::fixed
                << std::setprecision(3) << seconds << ',' << std::setprecision(2) << double(images) / train_seconds
                << std::defaultfloat << '\n';
        metrics.flush();
        if (!std::isfinite(v.loss)) {
            // finite training losses, but the model no longer is (weights or BatchNorm statistics
            // overflowed): stop before this epoch's state overwrites the last good checkpoint
            log.line("train: the validation loss is " + std::to_string(v.loss) + " after epoch " +
                     std::to_string(epoch + 1) + ": the model's weights or statistics are no longer finite; stopping. " +
                     (epoch > 0 ? "The last good checkpoint is " + (run / "last.safetensors").string() + " (epoch " +
                                      std::to_string(epoch) + ")"
                                : std::string("No epoch finished with a finite model")) +
                     " (try a lower --lr)");
            return 1;
        }

        const bool better = !std::isnan(mean_dice) && mean_dice > best_dice;
        if (better) {
            best_dice = mean_dice;
            best_epoch = epoch;
            stale_epochs = 0;
        } else {
            ++stale_epochs;
        }
        save(run / "last.safetensors", epoch, nullptr);
        if (better && root)
            fs::copy_file(run / "last.safetensors", run / "best.safetensors", fs::copy_options::overwrite_existing);
        std::ostringstream line;
        line << "epoch " << epoch + 1 << "/" << options.epochs << "  train loss " << std::setprecision(4)
             << loss_sum / double(std::max<std::int64_t>(images, 1)) << "  val loss " << v.loss << "  val Dice "
             << mean_dice << (better ? " (best)" : "") << "  lr " << lr << "  " << std::fixed << std::setprecision(1)
             << seconds << " s";
        log.line(line.str());
        if (options.patience > 0 && stale_epochs >= options.patience) {
            log.line("train: no better validation Dice for " + std::to_string(options.patience) +
                     " epochs; stopping early (best: epoch " + std::to_string(best_epoch + 1) + ")");
            break;
        }
    }
    std::signal(SIGINT, SIG_DFL);

    nlohmann::json summary = nlohmann::json::object();
    summary["best_epoch"] = best_epoch + 1;
    summary["best_val_dice_mean"] = best_dice;
    summary["last_val_loss"] = last_validation.loss;
    nlohmann::json per_class = nlohmann::json::object();
    for (std::size_t k = 0; k < scored.size() && k < last_validation.dice.size(); ++k)
        per_class[scored[k].first] = std::isnan(last_validation.dice[k]) ? nlohmann::json(nullptr)
                                                                         : nlohmann::json(last_validation.dice[k]);
    summary["last_val_dice"] = per_class;
    if (root) std::ofstream(run / "summary.json") << summary.dump(2) << '\n';
    log.line("train: done; best validation Dice " + std::to_string(best_dice) + " at epoch " +
             std::to_string(best_epoch + 1) + "; the run is in " + run.string());
    return 0;
}

}  // namespace fbseg::app
