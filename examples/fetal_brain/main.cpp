// fbseg: the application. Commands (docs/application.md):
//   fbseg synth --modality mri|us --out DIR --count N [--seed S]   the phantom as a dataset on disk
//   fbseg check DATA [--format auto|folder|hc18|csv|bids]          read a dataset, print it, list problems
// Options come from the command line or from a config file (--config FILE, CLI11's TOML/INI form).
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include <fbseg/fbseg.hpp>

#include "check_command.hpp"
#include "synth_command.hpp"

int main(int argc, char** argv) {
    CLI::App app{"fbseg: fetal brain and head segmentation"};
    app.set_config("--config", "", "read options from a config file (TOML or INI)");
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

    CLI11_PARSE(app, argc, argv);
    try {
        if (*synth_cmd) return fbseg::app::run_synth(synth);
        if (*check_cmd) return fbseg::app::run_check(check);
    } catch (const std::exception& e) {
        std::cerr << "fbseg: error: " << e.what() << "\n";
        return 1;
    }
    return 2;
}
