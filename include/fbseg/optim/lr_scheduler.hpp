// fbseg/optim/lr_scheduler.hpp - learning-rate schedules, as torch.optim.lr_scheduler.
//
// A scheduler changes the "lr" of every parameter group of an optimizer. As in PyTorch, the
// constructor records each group's current lr as its base lr b and immediately sets the lr for
// step s = 0; each step() then advances s by one and sets the lr for the new s. Call it after
// optimizer.step(), once per epoch or once per iteration, whichever the schedule is counted in.
// The lrs are computed in closed form from (b, s) (docs/training.md has every formula):
//
//   StepLR            b * gamma^floor(s / step_size)
//   MultiStepLR       b * gamma^(number of milestones <= s)
//   ExponentialLR     b * gamma^s
//   PolynomialLR      b * (1 - min(s, total_iters) / total_iters)^power
//   WarmupCosineLR    b (s + 1) / W                                   for s < W (linear warmup)
//                     m + (b - m) (1 + cos(pi (s - W) / (T - W))) / 2  for W <= s < T
//                     m                                               for s >= T
//   ReduceLROnPlateau lr <- max(lr * factor, min_lr) when the metric stopped improving
//
// A scheduler holds a reference to its optimizer, which must outlive it.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "fbseg/optim/optimizer.hpp"

namespace fbseg::optim {

class LRScheduler {
public:
    virtual ~LRScheduler() = default;
    LRScheduler(const LRScheduler&) = delete;
    LRScheduler& operator=(const LRScheduler&) = delete;

    /// Advances one step and sets every group's lr.
    void step() {
        ++last_epoch_;
        apply();
    }

    /// Number of step() calls since construction (0 right after it).
    std::int64_t last_epoch() const { return last_epoch_; }
    const std::vector<double>& base_lrs() const { return base_lrs_; }
    /// The lrs this scheduler set last, one per group.
    const std::vector<double>& get_last_lr() const { return last_lrs_; }
    /// The lr of group `group` at step `s` (pure: changes nothing).
    virtual double lr_at(std::size_t group, std::int64_t s) const = 0;

    /// "last_epoch", "base_lrs.<g>" and "last_lr.<g>".
    StateDict state_dict() const {
        StateDict out;
        out.scalars["last_epoch"] = double(last_epoch_);
        for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
            out.scalars["base_lrs." + std::to_string(g)] = base_lrs_[g];
            out.scalars["last_lr." + std::to_string(g)] = last_lrs_[g];
        }
        return out;
    }
    /// Restores a state_dict() and sets the groups' lrs to the restored last lrs, so a resumed
    /// run continues with exactly the lr it would have had.
    void load_state_dict(const StateDict& state) {
        const std::size_t n = base_lrs_.size();
        std::vector<double> base(n), last(n);
        auto get = [&](const std::string& key) {
            auto it = state.scalars.find(key);
            FBSEG_CHECK(it != state.scalars.end(), "LRScheduler.load_state_dict: missing key '", key, "'");
            return it->second;
        };
        const double epoch = get("last_epoch");
        for (std::size_t g = 0; g < n; ++g) {
            base[g] = get("base_lrs." + std::to_string(g));
            last[g] = get("last_lr." + std::to_string(g));
        }
        FBSEG_CHECK(state.scalars.size() == 1 + 2 * n, "LRScheduler.load_state_dict: the state has ",
                    state.scalars.size(), " entries; expected ", 1 + 2 * n, " for ", n, " parameter group(s)");
        last_epoch_ = std::int64_t(epoch);
        base_lrs_ = base;
        last_lrs_ = last;
        for (std::size_t g = 0; g < n; ++g) optimizer_.param_groups()[g].set_lr(last_lrs_[g]);
    }

protected:
    /// Records the base lrs. Derived constructors check their arguments, then call apply() (the
    /// base constructor cannot: lr_at is not callable before the derived object exists).
    explicit LRScheduler(Optimizer& optimizer) : optimizer_(optimizer) {
        for (const auto& g : optimizer.param_groups()) base_lrs_.push_back(g.lr());
        last_lrs_ = base_lrs_;
    }

    /// Sets every group's lr to lr_at(group, last_epoch).
    void apply() {
        auto& groups = optimizer_.param_groups();
        FBSEG_CHECK(groups.size() == base_lrs_.size(), "LRScheduler: the optimizer has ", groups.size(),
                    " parameter groups but the scheduler was made for ", base_lrs_.size());
        for (std::size_t g = 0; g < groups.size(); ++g) {
            last_lrs_[g] = lr_at(g, last_epoch_);
            groups[g].set_lr(last_lrs_[g]);
        }
    }

    Optimizer& optimizer_;
    std::vector<double> base_lrs_;
    std::vector<double> last_lrs_;
    std::int64_t last_epoch_ = 0;
};

/// Multiplies the lr by gamma every step_size steps.
class StepLR : public LRScheduler {
public:
    StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1)
        : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
        FBSEG_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
        apply();
    }
    double lr_at(std::size_t g, std::int64_t s) const override {
        return base_lrs_[g] * std::pow(gamma_, double(s / step_size_));
    }

private:
    std::int64_t step_size_;
    double gamma_;
};

/// Multiplies the lr by gamma at each milestone (a milestone listed twice counts twice).
class MultiStepLR : public LRScheduler {
public:
    MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1)
        : LRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
        std::sort(milestones_.begin(), milestones_.end());
        apply();
    }
    double lr_at(std::size_t g, std::int64_t s) const override {
        const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), s) - milestones_.begin();
        return base_lrs_[g] * std::pow(gamma_, double(passed));
    }

private:
    std::vector<std::int64_t> milestones_;
    double gamma_;
};

/// Multiplies the lr by gamma every step.
class ExponentialLR : public LRScheduler {
public:
    ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) { apply(); }
    double lr_at(std::size_t g, std::int64_t s) const override { return base_lrs_[g] * std::pow(gamma_, double(s)); }

private:
    double gamma_;
};

/// Decays the lr polynomially to 0 over total_iters steps, then keeps it at 0.
class PolynomialLR : public LRScheduler {
public:
    PolynomialLR(Optimizer& optimizer, std::int64_t total_iters = 5, double power = 1.0)
        : LRScheduler(optimizer), total_iters_(total_iters), power_(power) {
        FBSEG_CHECK(total_iters > 0, "PolynomialLR: total_iters must be positive, got ", total_iters);
        apply();
    }
    double lr_at(std::size_t g, std::int64_t s) const override {
        const double done = double(std::min(s, total_iters_)) / double(total_iters_);
        return base_lrs_[g] * std::pow(1.0 - done, power_);
    }

private:
    std::int64_t total_iters_;
    double power_;
};

/// Linear warmup over warmup_steps steps, then a half cosine from the base lr down to min_lr at
/// total_steps, then min_lr (see the header comment for the formula).
class WarmupCosineLR : public LRScheduler {
public:
    WarmupCosineLR(Optimizer& optimizer, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr = 0.0)
        : LRScheduler(optimizer), warmup_(warmup_steps), total_(total_steps), min_lr_(min_lr) {
        FBSEG_CHECK(warmup_steps >= 0 && total_steps > warmup_steps, "WarmupCosineLR: need 0 <= warmup_steps (",
                    warmup_steps, ") < total_steps (", total_steps, ")");
        apply();
    }
    double lr_at(std::size_t g, std::int64_t s) const override {
        const double b = base_lrs_[g];
        if (s < warmup_) return b * double(s + 1) / double(warmup_);
        if (s >= total_) return min_lr_;
        const double progress = double(s - warmup_) / double(total_ - warmup_);
        return min_lr_ + (b - min_lr_) * 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
    }

private:
    std::int64_t warmup_, total_;
    double min_lr_;
};

enum class PlateauMode { Min, Max };
enum class ThresholdMode { Rel, Abs };

struct ReduceLROnPlateauOptions {
    PlateauMode mode = PlateauMode::Min;     // Min: lower metric is better (a loss); Max: a Dice score
    double factor = 0.1;                     // new lr = lr * factor
    std::int64_t patience = 10;              // bad steps tolerated before reducing
    double threshold = 1e-4;                 // what counts as an improvement (see threshold_mode)
    ThresholdMode threshold_mode = ThresholdMode::Rel;
    std::int64_t cooldown = 0;               // steps to wait after a reduction before counting again
    std::vector<double> min_lr = {0.0};      // one value for all groups, or one per group
    double eps = 1e-8;                       // reductions smaller than eps are skipped
};

/// Reduces the lr when a metric has stopped improving, exactly as PyTorch's ReduceLROnPlateau:
///   better(a) = a < best (1 - threshold)   (Min, Rel)     a < best - threshold   (Min, Abs)
///               a > best (1 + threshold)   (Max, Rel)     a > best + threshold   (Max, Abs)
///   step(a): if better(a): best = a, bad = 0, else bad += 1;
///            if cooldown_counter > 0: cooldown_counter -= 1, bad = 0;
///            if bad > patience: every lr <- max(lr factor, min_lr) (unless the change is <= eps),
///                               cooldown_counter = cooldown, bad = 0.
class ReduceLROnPlateau {
public:
    explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {})
        : optimizer_(optimizer), options_(std::move(options)) {
        const std::size_t n = optimizer.param_groups().size();
        FBSEG_CHECK(options_.factor < 1.0, "ReduceLROnPlateau: factor should be < 1.0, got ", options_.factor);
        FBSEG_CHECK(options_.min_lr.size() == 1 || options_.min_lr.size() == n, "ReduceLROnPlateau: expected 1 or ", n,
                    " min_lr values, got ", options_.min_lr.size());
        if (options_.min_lr.size() == 1) options_.min_lr.assign(n, options_.min_lr[0]);
        best_ = worse();
        for (const auto& g : optimizer.param_groups()) last_lrs_.push_back(g.lr());
    }

    /// Feeds one value of the monitored metric (e.g. the validation loss of an epoch).
    void step(double metric) {
        ++last_epoch_;
        if (is_better(metric)) {
            best_ = metric;
            num_bad_epochs_ = 0;
        } else {
            ++num_bad_epochs_;
        }
        if (cooldown_counter_ > 0) {
            --cooldown_counter_;
            num_bad_epochs_ = 0;
        }
        if (num_bad_epochs_ > options_.patience) {
            auto& groups = optimizer_.param_groups();
            for (std::size_t g = 0; g < groups.size(); ++g) {
                const double old_lr = groups[g].lr();
                const double new_lr = std::max(old_lr * options_.factor, options_.min_lr[g]);
                if (old_lr - new_lr > options_.eps) groups[g].set_lr(new_lr);
            }
            cooldown_counter_ = options_.cooldown;
            num_bad_epochs_ = 0;
        }
        last_lrs_.clear();
        for (const auto& g : optimizer_.param_groups()) last_lrs_.push_back(g.lr());
    }

    const std::vector<double>& get_last_lr() const { return last_lrs_; }
    double best() const { return best_; }
    std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
    std::int64_t cooldown_counter() const { return cooldown_counter_; }
    std::int64_t last_epoch() const { return last_epoch_; }

    /// "best", "num_bad_epochs", "cooldown_counter", "last_epoch" and "last_lr.<g>".
    StateDict state_dict() const {
        StateDict out;
        out.scalars["best"] = best_;
        out.scalars["num_bad_epochs"] = double(num_bad_epochs_);
        out.scalars["cooldown_counter"] = double(cooldown_counter_);
        out.scalars["last_epoch"] = double(last_epoch_);
        for (std::size_t g = 0; g < last_lrs_.size(); ++g) out.scalars["last_lr." + std::to_string(g)] = last_lrs_[g];
        return out;
    }
    /// Restores a state_dict() (the optimizer's lrs come from the optimizer's own state).
    void load_state_dict(const StateDict& state) {
        auto get = [&](const std::string& key) {
            auto it = state.scalars.find(key);
            FBSEG_CHECK(it != state.scalars.end(), "ReduceLROnPlateau.load_state_dict: missing key '", key, "'");
            return it->second;
        };
        std::vector<double> last(last_lrs_.size());
        for (std::size_t g = 0; g < last.size(); ++g) last[g] = get("last_lr." + std::to_string(g));
        best_ = get("best");
        num_bad_epochs_ = std::int64_t(get("num_bad_epochs"));
        cooldown_counter_ = std::int64_t(get("cooldown_counter"));
        last_epoch_ = std::int64_t(get("last_epoch"));
        last_lrs_ = last;
    }

private:
    double worse() const {
        const double inf = std::numeric_limits<double>::infinity();
        return options_.mode == PlateauMode::Min ? inf : -inf;
    }
    bool is_better(double a) const {
        const double t = options_.threshold;
        const bool rel = options_.threshold_mode == ThresholdMode::Rel;
        if (options_.mode == PlateauMode::Min) return rel ? a < best_ * (1.0 - t) : a < best_ - t;
        return rel ? a > best_ * (t + 1.0) : a > best_ + t;
    }

    Optimizer& optimizer_;
    ReduceLROnPlateauOptions options_;
    double best_ = 0;
    std::int64_t num_bad_epochs_ = 0;
    std::int64_t cooldown_counter_ = 0;
    std::int64_t last_epoch_ = 0;
    std::vector<double> last_lrs_;
};

}  // namespace fbseg::optim
