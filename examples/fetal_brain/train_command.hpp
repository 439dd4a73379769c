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
#include <filesystem>
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

/// Lines printed to the console and to log.txt.
class Log {
public:
    explicit Log(const std::filesystem::path& path) : file_(path, std::ios::app) {
        FBSEG_CHECK(file_.good(), "train: cannot write '", path.string(), "'");
    }
    void line(const std::string& text) {
        std::cout << text << std::endl;
        file_ << text << '\n';
        file_.flush();
    }

private:
    std::ofstream file_;
};

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
    FBSEG_CHECK(o.workers >= 0 && o.threads >= 0 && o.patience >= 0, "train: --workers, --threads and --patience ",
                "must be >= 0");
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

inline std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, const std::vector<Tensor>& params) {
    if (o.optimizer == "sgd")
        return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = o.lr, .momentum = 0.99,
                                                                      .weight_decay = o.weight_decay, .nesterov = true});
    if (o.optimizer == "adam")
        return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
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

inline int run_train(TrainOptions options, const std::string& command_line, bool epochs_given) {
    namespace fs = std::filesystem;
    using namespace train_detail;
    std::int64_t start_epoch = 0;
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
        const int epochs = options.epochs;
        const std::string resume = options.resume;
        options = train_options_from_json(j.at("options"), config.string());
        options.resume = resume;
        options.out = dir.string();
        if (epochs_given) options.epochs = epochs;  // a finished run may be extended
        resumed = io::read_checkpoint(last.string());
        start_epoch = std::stoll(resumed.info.at("epoch")) + 1;
    }
    check_options(options);
    if (options.threads > 0) set_num_threads(options.threads);
    const bool binary = options.classes == "binary";
    const Device device = options.device == "cuda" ? cuda_device(0) : kCPU;

    const fs::path run = options.out;
    std::error_code ec;
    fs::create_directories(run, ec);
    FBSEG_CHECK(!ec && fs::is_directory(run), "train: cannot create the run folder '", run.string(), "' (",
                ec.message(), ")");
    Log log(run / "log.txt");

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
                                              .transform = train_transform});
    data::DataLoader val_loader(val_set, {.batch_size = options.batch_size, .shuffle = false, .drop_last = false,
                                          .num_workers = options.workers, .prefetch = 0, .seed = options.seed,
                                          .transform = val_transform});

    // ---- model, optimizer, schedule ------------------------------------------------------------
    manual_seed(options.seed);
    auto model = models::make_model(options.model, 1, out_channels);
    model->to(device);
    std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(options, model->parameters());
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
                 std::to_string(options.epochs));
    }

    // ---- the run folder ------------------------------------------------------------------------
    nlohmann::json config = nlohmann::json::object();  // (built key by key: a braced list of pairs
    config["options"] = to_json(options);               // can turn into an array of arrays)
    config["command_line"] = command_line;
    config["fbseg_commit"] = FBSEG_APP_GIT_COMMIT;
    config["build"] = FBSEG_APP_BUILD_FLAGS;
    config["device"] = device.is_cuda() ? "cuda:0" : "cpu";
    config["threads"] = num_threads();
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
    {
        std::ofstream out(run / "config.json");
        out << config.dump(2) << '\n';
        FBSEG_CHECK(out.good(), "train: cannot write '", (run / "config.json").string(), "'");
    }
    if (options.resume.empty()) data::write_split(run / "split.json", split, *dataset);

    // metrics.csv: rewritten with the rows of the epochs before start_epoch kept (a resumed run
    // continues the file; rows of epochs that are done again are dropped).
    const fs::path metrics_path = run / "metrics.csv";
    std::vector<std::string> kept_rows;
    {
        std::ifstream in(metrics_path);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line) && std::int64_t(kept_rows.size()) < start_epoch) kept_rows.push_back(line);
    }
    std::ofstream metrics(metrics_path, std::ios::trunc);
    metrics << "epoch,train_loss,val_loss";
    for (const auto& [name, value] : scored) metrics << ",val_dice_" << name;
    metrics << ",val_dice_mean,lr,seconds,images_per_s\n";
    for (const auto& row : kept_rows) metrics << row << '\n';
    metrics.flush();

    log.line("train: " + std::to_string(train_set.size()) + " training and " + std::to_string(val_set.size()) +
             " validation samples (" + std::to_string(split.train.subjects.size()) + " and " +
             std::to_string(split.val.subjects.size()) + " subjects), model " + options.model + " (" +
             std::to_string(model->num_parameters(true)) + " parameters), " + options.device + ", " +
             std::to_string(num_threads()) + " threads");
    interrupted().store(false);
    std::signal(SIGINT, on_sigint);
    const bool tty = isatty(STDOUT_FILENO);

    auto save = [&](const fs::path& path, std::int64_t epoch) {
        io::Metadata info = {{"epoch", std::to_string(epoch)},
                             {"best_dice", io::format_double(best_dice)},
                             {"best_epoch", std::to_string(best_epoch)},
                             {"stale_epochs", std::to_string(stale_epochs)},
                             {"model", options.model},
                             {"out_channels", std::to_string(out_channels)}};
        io::put_generator(info, "default", default_generator());
        io::save_checkpoint(path.string(), io::make_checkpoint(*model, optimizer.get(),
                                                                 schedule ? schedule->state_dict() : optim::StateDict{},
                                                                 info));
    };

    Validation last_validation;
    for (std::int64_t epoch = start_epoch; epoch < options.epochs; ++epoch) {
        const auto epoch_start = std::chrono::steady_clock::now();
        model->train();
        double loss_sum = 0;
        std::int64_t images = 0, step = 0;
        data::Epoch batches = train_loader.epoch(epoch);
        for (const data::Batch& batch : batches) {
            if (interrupted().load()) break;
            const Tensor x = batch.images.to(device);
            const Tensor target = make_target(batch.labels, binary, device);
            optimizer->zero_grad();
            const Tensor loss = compute_loss(options.loss, model->forward(x), target);
            const double value = loss.item<double>();
            if (!std::isfinite(value)) {
                log.line("train: the loss is " + std::to_string(value) + " at epoch " + std::to_string(epoch + 1) +
                         ", step " + std::to_string(step + 1) + "; stopping. The last good checkpoint is " +
                         (run / "last.safetensors").string() + " (try a lower --lr)");
                return 1;
            }
            loss.backward();
            optimizer->step();
            if (schedule) schedule->step();
            loss_sum += value * double(batch.images.size(0));
            images += batch.images.size(0);
            ++step;
            if (tty) {
                const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
                std::cout << "\repoch " << epoch + 1 << "/" << options.epochs << "  step " << step << "/"
                          << steps_per_epoch << "  loss " << std::fixed << std::setprecision(4) << loss_sum / double(images)
                          << "  " << std::setprecision(1) << double(images) / s << " img/s  eta "
                          << std::setprecision(0) << s / double(step) * double(steps_per_epoch - step) << " s   "
                          << std::flush;
            }
        }
        if (tty) std::cout << "\r" << std::string(78, ' ') << "\r" << std::flush;
        if (interrupted().load()) {
            log.line("train: interrupted during epoch " + std::to_string(epoch + 1) + "; the run is saved after epoch " +
                     std::to_string(epoch) + ". Resume with: fbseg train --resume " + run.string());
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
            v.loss = val_loss / double(std::max<std::int64_t>(val_images, 1));
            for (std::size_t k = 0; k < scored.size(); ++k)
                v.dice.push_back(dice_count[k] ? dice_sum[k] / dice_count[k] : std::nan(""));
        }
        last_validation = v;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        const double lr = optimizer->param_groups()[0].get("lr");
        const double mean_dice = v.mean_dice();
        metrics << epoch + 1 << ',' << io::format_double(loss_sum / double(std::max<std::int64_t>(images, 1))) << ','
                << io::format_double(v.loss);
        for (double d : v.dice) metrics << ',' << io::format_double(d);
        metrics << ',' << io::format_double(mean_dice) << ',' << io::format_double(lr) << ',' << std::fixed
                << std::setprecision(3) << seconds << ',' << std::setprecision(2) << double(images) / train_seconds
                << std::defaultfloat << '\n';
        metrics.flush();

        const bool better = !std::isnan(mean_dice) && mean_dice > best_dice;
        if (better) {
            best_dice = mean_dice;
            best_epoch = epoch;
            stale_epochs = 0;
        } else {
            ++stale_epochs;
        }
        save(run / "last.safetensors", epoch);
        if (better) fs::copy_file(run / "last.safetensors", run / "best.safetensors", fs::copy_options::overwrite_existing);
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
    std::ofstream(run / "summary.json") << summary.dump(2) << '\n';
    log.line("train: done; best validation Dice " + std::to_string(best_dice) + " at epoch " +
             std::to_string(best_epoch + 1) + "; the run is in " + run.string());
    return 0;
}

}  // namespace fbseg::app
