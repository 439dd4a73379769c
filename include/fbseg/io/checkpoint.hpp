// fbseg/io/checkpoint.hpp - one .safetensors file that holds everything a training run needs to
// continue exactly where it stopped: what the application's exact resume rests on.
//
//   io::Metadata info{{"epoch", "12"}, {"step", "4800"}};
//   io::put_generator(info, "default", default_generator());
//   io::save_checkpoint("run/checkpoint_last.safetensors",
//                       io::make_checkpoint(*model, &optimizer, scheduler.state_dict(), info));
//   ...
//   io::Checkpoint c = io::load_checkpoint("run/checkpoint_last.safetensors", *model, &optimizer,
//                                          [&](const optim::StateDict& s) { scheduler.load_state_dict(s); });
//   io::get_generator(c.info, "default", default_generator());
//
// Layout of the file (docs/transfer-learning.md lists it too):
//   tensors   "model.<state_dict key>"        parameters and buffers, their own dtypes
//             "optimizer.<key>"               per-parameter buffers ("optimizer.state.3.exp_avg")
//   metadata  "fbseg.format": "checkpoint", "fbseg.checkpoint_version": "1"
//             "optimizer.name"                "Adam", "SGD", ... ("" when there is none)
//             "optimizer.<key>"               per-parameter numbers and group hyper-parameters
//                                             ("optimizer.state.3.step", "optimizer.param_groups.0.lr")
//             "scheduler.<key>"               the LR schedule's numbers
//             "info.<key>"                    the caller's strings: epoch, step, RNG states, the
//                                             loader's position, the configuration
// Numbers are written in the shortest decimal form that reads back to the same double
// (std::to_chars), so a resumed run continues with bit-identical learning rates and step counts.
//
// Saving goes through save_safetensors: temporary file, fsync, rename. A crash (even SIGKILL)
// mid-write leaves the previous checkpoint whole. Loading checks the file, then loads the model
// (which checks every key and shape before writing), then the optimizer and scheduler; if either
// of those refuses its state, the model is put back as it was, so a failed load changes nothing.
#pragma once

#include <charconv>
#include <functional>
#include <string>
#include <system_error>

#include "fbseg/core/generator.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/optim/optimizer.hpp"

namespace fbseg::io {

inline constexpr const char* kCheckpointVersion = "1";

/// A checkpoint in memory.
struct Checkpoint {
    nn::NamedTensors model;     // the model's state_dict
    std::string optimizer_name;  // "" when the checkpoint has no optimizer
    optim::StateDict optimizer;
    optim::StateDict scheduler;  // scalars only
    Metadata info;               // the caller's strings
};

/// A double as the shortest string that reads back to the same value.
inline std::string format_double(double v) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    FBSEG_CHECK(ec == std::errc(), "format_double: cannot format ", v);
    return std::string(buf, end);
}

/// Parses a string written by format_double; `what` names it in the error.
inline double parse_double(const std::string& s, const std::string& what) {
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    FBSEG_CHECK(ec == std::errc() && end == s.data() + s.size() && !s.empty(), what, ": '", s, "' is not a number");
    return v;
}

/// Records a generator's seed and position under "rng.<name>.seed" / "rng.<name>.offset".
inline void put_generator(Metadata& info, const std::string& name, const Generator& generator) {
    info["rng." + name + ".seed"] = std::to_string(generator.seed());
    info["rng." + name + ".offset"] = std::to_string(generator.offset());
}

/// Restores a generator recorded by put_generator.
inline void get_generator(const Metadata& info, const std::string& name, Generator& generator) {
    auto read = [&](const std::string& key) {
        const auto it = info.find(key);
        FBSEG_CHECK(it != info.end(), "checkpoint: no generator state '", key, "'");
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
        FBSEG_CHECK(ec == std::errc() && end == it->second.data() + it->second.size(), "checkpoint: '", key, "' = '",
                    it->second, "' is not an unsigned integer");
        return v;
    };
    const std::uint64_t seed = read("rng." + name + ".seed"), offset = read("rng." + name + ".offset");
    generator.manual_seed(seed);
    generator.set_offset(offset);
}

/// Captures the state of a run (the tensors are cloned: training may go on while it is saved).
inline Checkpoint make_checkpoint(const nn::Module& model, const optim::Optimizer* optimizer = nullptr,
                                  const optim::StateDict& scheduler = {}, const Metadata& info = {}) {
    NoGradGuard no_grad;
    Checkpoint c;
    for (const auto& [key, t] : model.state_dict()) c.model.emplace_back(key, t.clone());
    if (optimizer) {
        c.optimizer_name = optimizer->name();
        c.optimizer = optimizer->state_dict();
        for (auto& [key, t] : c.optimizer.tensors) t = t.detach().clone();
    }
    c.scheduler = scheduler;
    c.info = info;
    return c;
}

/// Writes `checkpoint` to `path` atomically (see the top of this file).
inline void save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
    nn::NamedTensors tensors;
    Metadata meta{{"fbseg.format", "checkpoint"},
                  {"fbseg.checkpoint_version", kCheckpointVersion},
                  {"optimizer.name", checkpoint.optimizer_name}};
    for (const auto& [key, t] : checkpoint.model) tensors.emplace_back("model." + key, t);
    for (const auto& [key, t] : checkpoint.optimizer.tensors) tensors.emplace_back("optimizer." + key, t);
    for (const auto& [key, v] : checkpoint.optimizer.scalars) meta["optimizer." + key] = format_double(v);
    for (const auto& [key, v] : checkpoint.scheduler.scalars) meta["scheduler." + key] = format_double(v);
    for (const auto& [key, v] : checkpoint.info) meta["info." + key] = v;
    save_safetensors(path, tensors, meta);
}

/// Reads a checkpoint from an open file (every check of the safetensors reader, then the layout
/// above).
inline Checkpoint read_checkpoint(const SafetensorsReader& reader) {
    const std::string file = "checkpoint '" + reader.path() + "'";
    FBSEG_CHECK(reader.has_metadata("fbseg.format") && reader.metadata("fbseg.format") == "checkpoint", file,
                ": not an fbseg checkpoint (its metadata has no \"fbseg.format\": \"checkpoint\"; a weights file "
                "loads with io::load_weights)");
    FBSEG_CHECK(reader.has_metadata("fbseg.checkpoint_version") &&
                    reader.metadata("fbseg.checkpoint_version") == kCheckpointVersion,
                file, ": checkpoint version '",
                reader.has_metadata("fbseg.checkpoint_version") ? reader.metadata("fbseg.checkpoint_version") : "",
                "' is not the one this fbseg reads (", kCheckpointVersion, ")");
    Checkpoint c;
    c.optimizer_name = reader.has_metadata("optimizer.name") ? reader.metadata("optimizer.name") : "";
    for (const auto& key : reader.keys()) {
        if (key.rfind("model.", 0) == 0) c.model.emplace_back(key.substr(6), reader.get(key));
        else if (key.rfind("optimizer.", 0) == 0) c.optimizer.tensors[key.substr(10)] = reader.get(key);
        else FBSEG_FAIL(file, ": tensor '", key, "' is neither \"model.*\" nor \"optimizer.*\"");
    }
    for (const auto& [key, value] : reader.metadata()) {
        if (key == "optimizer.name" || key.rfind("fbseg.", 0) == 0) continue;
        if (key.rfind("optimizer.", 0) == 0)
            c.optimizer.scalars[key.substr(10)] = parse_double(value, file + ": metadata '" + key + "'");
        else if (key.rfind("scheduler.", 0) == 0)
            c.scheduler.scalars[key.substr(10)] = parse_double(value, file + ": metadata '" + key + "'");
        else if (key.rfind("info.", 0) == 0)
            c.info[key.substr(5)] = value;
        // other metadata (a tool's notes) is ignored
    }
    return c;
}

inline Checkpoint read_checkpoint(const std::string& path) { return read_checkpoint(SafetensorsReader(path)); }

/// Restores `checkpoint` into the model, and the optimizer and scheduler when given. Model keys
/// and shapes must match exactly (strict); the optimizer must be of the same kind over parameters
/// of the same shapes. On any error nothing is changed, and the error names `path`.
inline void restore_checkpoint(const Checkpoint& checkpoint, nn::Module& model, optim::Optimizer* optimizer,
                               const std::function<void(const optim::StateDict&)>& load_scheduler = {},
                               const std::string& path = "<memory>") {
    const std::string file = "checkpoint '" + path + "'";
    if (optimizer) {
        FBSEG_CHECK(!checkpoint.optimizer_name.empty(), file, " holds no optimizer state but an optimizer (",
                    optimizer->name(), ") was given to restore");
        FBSEG_CHECK(checkpoint.optimizer_name == optimizer->name(), file, " holds the state of a ",
                    checkpoint.optimizer_name, " optimizer, not of a ", optimizer->name());
    }
    NoGradGuard no_grad;
    nn::NamedTensors before;  // to put the model back if the optimizer or scheduler refuses
    for (const auto& [key, t] : model.state_dict()) before.emplace_back(key, t.clone());
    try {
        model.load_state_dict(checkpoint.model, /*strict=*/true);
    } catch (const Error& e) {
        throw Error(file + ": the model does not match: " + e.what());
    }
    const optim::StateDict optimizer_before = optimizer ? optimizer->state_dict() : optim::StateDict{};
    try {
        if (optimizer) optimizer->load_state_dict(checkpoint.optimizer);
        if (load_scheduler) load_scheduler(checkpoint.scheduler);
    } catch (const Error& e) {
        model.load_state_dict(before, /*strict=*/true);
        if (optimizer) optimizer->load_state_dict(optimizer_before);
        throw Error(file + ": " + e.what());
    }
}

/// read_checkpoint + restore_checkpoint; returns the checkpoint (its info holds epoch, step, ...).
inline Checkpoint load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer = nullptr,
                                  const std::function<void(const optim::StateDict&)>& load_scheduler = {}) {
    Checkpoint c = read_checkpoint(path);
    restore_checkpoint(c, model, optimizer, load_scheduler, path);
    return c;
}

}  // namespace fbseg::io
