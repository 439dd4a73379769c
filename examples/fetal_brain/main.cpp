// fbseg: the application. Commands (docs/application.md):
//   fbseg synth --modality mri|us --out DIR --count N [--seed S]   the phantom as a dataset on disk
//   fbseg check DATA [--format auto|folder|hc18|csv|bids]          read a dataset, print it, list problems
//   fbseg train [--data phantom|DATA] [--model M] ... --out RUN    train; fbseg train --resume RUN continues
//   mpirun -np N fbseg train ...                                   the same, data parallel on N ranks (docs/scaling.md)
//   fbseg eval --model RUN DATA|val|phantom                        score a run's predictions per case and class
//   fbseg predict --model RUN INPUT... --out DIR                   label maps, overlays, HC18's CSV
//   fbseg report RUN                                               RUN/report.html (train writes it too)
//   fbseg summary MODEL [--in-channels N] [--classes K]            a model's layers and parameter names
// Options come from the command line or from a config file (--config FILE, CLI11's TOML/INI form).
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include <fbseg/fbseg.hpp>
#ifdef FBSEG_APP_MPI
#include <fbseg/distributed/mpi.hpp>
#endif
#ifdef FBSEG_APP_NCCL
#include <fbseg/distributed/nccl.hpp>
#endif

#include "check_command.hpp"
#include "eval_command.hpp"
#include "predict_command.hpp"
#include "recipes.hpp"
#include "report.hpp"
#include "synth_command.hpp"
#include "train_command.hpp"

namespace {

/// The group `fbseg train` runs in: MPI's ranks when started by mpirun/srun (and built with MPI),
/// with NCCL summing on the GPUs for --device cuda (one rank per GPU: the machine's local rank
/// picks it), else this process alone. MPI is started only for training, only under a launcher.
std::unique_ptr<fbseg::distributed::Communicator> training_group([[maybe_unused]] int* argc,
                                                                  [[maybe_unused]] char*** argv,
                                                                  [[maybe_unused]] const std::string& device) {
#ifdef FBSEG_APP_MPI
    if (fbseg::distributed::launcher_ranks() > 0) {
        auto mpi = std::make_unique<fbseg::distributed::MpiCommunicator>(argc, argv);
#ifdef FBSEG_APP_NCCL
        if (device == "cuda" && mpi->size() > 1 && fbseg::cuda_device_count() > 0)
            return std::make_unique<fbseg::distributed::NcclCommunicator>(
                std::move(mpi), fbseg::distributed::local_rank() % fbseg::cuda_device_count());
#endif
        return mpi;
    }
#else
    if (const int ranks = fbseg::distributed::launcher_ranks(); ranks > 1)
        throw std::runtime_error("train: started by an MPI launcher with " + std::to_string(ranks) +
                                 " ranks, but this fbseg was built without MPI (install libopenmpi-dev and rebuild)");
#endif
    return std::make_unique<fbseg::distributed::SingleProcess>();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fbseg: fetal brain and head segmentation"};
    app.set_config("--config", "", "read options from a config file (TOML or INI)");
    // a key in the config file that no option has (a typo) is an error, not silently ignored;
    // subcommands made below inherit the setting
    app.allow_config_extras(CLI::config_extras_mode::error);
    app.require_subcommand(1);

    fbseg::app::SynthOptions synth;
    auto* synth_cmd = app.add_subcommand("synth", "write the MRI or ultrasound phantom as a dataset on disk");
    synth_cmd->add_option("--modality", synth.modality, "mri (BIDS NIfTI + PNG slices) or us (HC18's layout)")
        ->check(CLI::IsMember({"mri", "us"}))
        ->capture_default_str();
    synth_cmd->add_option("--out", synth.out, "output folder")->required();
    synth_cmd->add_option("--count", synth.count, "ultrasound frames, or MRI volumes")->capture_default_str();
    synth_cmd->add_option("--test-count", synth.test_count, "ultrasound: frames in test_set/ (no annotation)")
        ->capture_default_str();
    synth_cmd->add_option("--seed", synth.seed, "the phantom's seed (same seed, same files)")->capture_default_str();
    synth_cmd->add_option("--height", synth.height, "image height (0: the phantom's default)");
    synth_cmd->add_option("--width", synth.width, "image width (0: the phantom's default)");
    synth_cmd->add_option("--slices", synth.slices, "MRI: slices per volume")->capture_default_str();
    synth_cmd->add_option("--labels", synth.labels, "MRI: tissues (FeTA's 7) or brain (a mask)")
        ->check(CLI::IsMember({"tissues", "brain"}))
        ->capture_default_str();

    fbseg::app::CheckOptions check;
    auto* check_cmd = app.add_subcommand("check", "read a whole dataset as training would; print it and every problem");
    check_cmd->add_option("data", check.data, "a dataset folder (HC18, images/+masks/, BIDS) or a .csv manifest")
        ->required();
    check_cmd->add_option("--format", check.format, "auto, folder, hc18, csv or bids")
        ->check(CLI::IsMember({"auto", "folder", "hc18", "csv", "bids"}))
        ->capture_default_str();

    fbseg::app::TrainOptions train;
    auto* train_cmd = app.add_subcommand("train", "train a model; everything about the run goes to --out");
    train_cmd->add_option("--data", train.data, "phantom (generated in memory) or a dataset folder / .csv manifest")
        ->capture_default_str();
    train_cmd->add_option("--format", train.format, "auto, folder, hc18, csv or bids")->capture_default_str();
    train_cmd->add_option("--modality", train.modality, "phantom: us or mri")->capture_default_str();
    train_cmd->add_option("--count", train.count, "phantom: number of samples")->capture_default_str();
    train_cmd->add_option("--model", train.model, "unet, resnet18-unet, resnet34-unet or efficientnet-b0-unet")
        ->capture_default_str();
    train_cmd->add_option("--classes", train.classes, "binary (foreground vs background) or labels (the dataset's set)")
        ->capture_default_str();
    train_cmd->add_option("--epochs", train.epochs, "epochs (with --resume: extends the run)")
                           ->capture_default_str();
    train_cmd->add_option("--batch-size", train.batch_size, "images per step")->capture_default_str();
    train_cmd->add_option("--image-size", train.image_size, "images are letterboxed to this square size")
        ->capture_default_str();
    train_cmd->add_option("--optimizer", train.optimizer, "sgd, adam or adamw")->capture_default_str();
    train_cmd->add_option("--lr", train.lr, "learning rate")->capture_default_str();
    train_cmd->add_option("--weight-decay", train.weight_decay, "weight decay")->capture_default_str();
    train_cmd->add_option("--schedule", train.schedule, "constant, cosine or poly (per step)")->capture_default_str();
    train_cmd->add_option("--loss", train.loss, "bce, dice, bce+dice (binary); ce, ce+dice (labels)")
        ->capture_default_str();
    train_cmd->add_option("--augment", train.augment, "none, flips, default or strong")->capture_default_str();
    train_cmd->add_option("--strength", train.strength, "augmentation strength in [0, 1]")->capture_default_str();
    train_cmd->add_option("--seed", train.seed, "seed of the split, the initial weights and every batch")
        ->capture_default_str();
    train_cmd->add_option("--device", train.device, "cpu or cuda")->capture_default_str();
    train_cmd->add_option("--threads", train.threads, "CPU threads (0: FBSEG_NUM_THREADS or all cores)")
        ->capture_default_str();
    train_cmd->add_option("--workers", train.workers, "loader threads")->capture_default_str();
    train_cmd->add_option("--val-fraction", train.val_fraction, "share of subjects kept for validation")
        ->capture_default_str();
    train_cmd->add_option("--patience", train.patience, "stop after this many epochs without a better Dice (0: never)")
        ->capture_default_str();
    train_cmd->add_option("--out", train.out, "the run folder")->capture_default_str();
    train_cmd->add_option("--resume", train.resume, "a run folder to continue (its config.json and last checkpoint)");
    train_cmd->add_option("--recipe", train.recipe, "default (the measured best) or seed (the original project's)")
        ->capture_default_str();
    train_cmd->add_option("--init", train.init.file, "start from these weights (a weights file or a run's checkpoint)");
    train_cmd->add_option("--init-strip", train.init.strip_prefix, "--init: remove this prefix from the file's keys");
    train_cmd->add_option("--init-prefix", train.init.add_prefix, "--init: then prepend this (e.g. encoder.)");
    train_cmd->add_option("--init-exclude", train.init.exclude, "--init: leave out the file's keys matching these globs");
    train_cmd->add_flag("--init-strict", train.init.strict, "--init: every key and shape must match");
    train_cmd->add_option("--encoder-lr", train.encoder_lr, "the encoder's learning rate as a multiple of --lr")
        ->capture_default_str();
    train_cmd->add_option("--freeze-encoder-epochs", train.freeze_encoder_epochs,
                          "keep the encoder frozen for this many epochs")->capture_default_str();
    train_cmd->add_flag("!--no-sync-bn", train.sync_batchnorm,
                        "data parallel (mpirun): BatchNorm on each rank's share only, not on the whole batch");

    fbseg::app::EvalOptions eval;
    auto* eval_cmd = app.add_subcommand("eval", "score a trained run's predictions against a dataset's references");
    eval_cmd->add_option("--model", eval.run, "the run folder (from fbseg train)")->required();
    eval_cmd->add_option("data", eval.data, "a dataset folder or .csv, `val` (the run's validation split) or `phantom`")
        ->required();
    eval_cmd->add_option("--format", eval.format, "auto, folder, hc18, csv or bids")->capture_default_str();
    eval_cmd->add_option("--checkpoint", eval.checkpoint, "best or last")->capture_default_str();
    eval_cmd->add_option("--out", eval.out, "where summary.json and cases.csv go (default RUN/eval)");
    eval_cmd->add_option("--device", eval.device, "cpu or cuda")->capture_default_str();
    eval_cmd->add_option("--threads", eval.threads, "CPU threads (0: FBSEG_NUM_THREADS or all cores)");
    eval_cmd->add_flag("!--no-surface", eval.surface, "skip HD95 and ASSD");

    fbseg::app::PredictOptions predict;
    auto* predict_cmd = app.add_subcommand("predict", "label maps for PNG images, folders of them, or NIfTI volumes");
    predict_cmd->add_option("--model", predict.run, "the run folder (from fbseg train)")->required();
    predict_cmd->add_option("inputs", predict.inputs, "images, folders of images, or .nii/.nii.gz volumes")->required();
    predict_cmd->add_option("--out", predict.out, "output folder")->required();
    predict_cmd->add_option("--checkpoint", predict.checkpoint, "best or last")->capture_default_str();
    predict_cmd->add_option("--device", predict.device, "cpu or cuda")->capture_default_str();
    predict_cmd->add_option("--threshold", predict.threshold, "binary: foreground where the probability exceeds this")
        ->capture_default_str();
    predict_cmd->add_flag("--tta", predict.tta, "average with the horizontal and vertical flips");
    predict_cmd->add_flag("--largest-component", predict.largest_component, "keep each class's largest region");
    predict_cmd->add_option("--pixel-size", predict.pixel_size_mm, "ultrasound: mm per pixel for the HC18 CSV");
    predict_cmd->add_option("--threads", predict.threads, "CPU threads (0: FBSEG_NUM_THREADS or all cores)");

    std::string report_run, report_device = "cpu";
    auto* report_cmd = app.add_subcommand("report", "write RUN/report.html: curves, cases, gallery, provenance");
    report_cmd->add_option("run", report_run, "the run folder")->required();
    report_cmd->add_option("--device", report_device, "cpu or cuda")->capture_default_str();

    std::string summary_model;
    std::int64_t summary_in = 1, summary_classes = 1;
    auto* summary_cmd = app.add_subcommand("summary", "print a model's layers, shapes and parameter names");
    summary_cmd->add_option("model", summary_model, "unet, resnet18-unet, resnet34-unet or efficientnet-b0-unet")
        ->required();
    summary_cmd->add_option("--in-channels", summary_in, "input channels")->capture_default_str();
    summary_cmd->add_option("--classes", summary_classes, "output channels")->capture_default_str();

    CLI11_PARSE(app, argc, argv);
    std::unique_ptr<fbseg::distributed::Communicator> group;  // train only (MPI under mpirun)
    try {
        if (*synth_cmd) return fbseg::app::run_synth(synth);
        if (*check_cmd) return fbseg::app::run_check(check);
        if (*eval_cmd) return fbseg::app::run_eval(eval);
        if (*predict_cmd) return fbseg::app::run_predict(predict);
        if (*report_cmd) {
            std::cout << "report: " << fbseg::app::write_report(report_run, report_device) << "\n";
            return 0;
        }
        if (*summary_cmd) {
            fbseg::models::print_summary(std::cout, *fbseg::models::make_model(summary_model, summary_in, summary_classes));
            return 0;
        }
        if (*train_cmd) {
            const auto given = [&](const std::string& name) { return train_cmd->get_option(name)->count() > 0; };
            if (!train.resume.empty()) {
                // a resumed run keeps its own options (config.json); only these may change
                for (const CLI::Option* option : train_cmd->get_options()) {
                    const std::string name = option->get_name();
                    if (option->count() > 0 && name != "--resume" && name != "--epochs" && name != "--threads" &&
                        name != "--workers" && name != "--device" && name != "--help")
                        throw std::runtime_error("train --resume: " + name + " cannot change a run; only --epochs, "
                                                 "--threads, --workers and --device can be given with --resume");
                }
            }
            fbseg::app::apply_recipe(train.recipe, train, given);
            std::string command_line;
            for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
            group = training_group(&argc, &argv, train.device);
            const int status = fbseg::app::run_train(train, command_line, given, *group);
            if (status != 0 || !group->is_root()) return status;
            const std::string run_dir = train.resume.empty() ? train.out : train.resume;
            std::cout << "report: " << fbseg::app::write_report(run_dir, train.device) << "\n";
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "fbseg: error: " << e.what() << "\n";
        // data parallel: the other ranks would wait for this one forever; end them all
        if (group && group->size() > 1) group->abort(1);
        return 1;
    }
    return 2;
}
