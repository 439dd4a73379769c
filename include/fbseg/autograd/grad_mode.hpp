// fbseg/autograd/grad_mode.hpp - the switch that decides whether ops record a graph.
#pragma once

namespace fbseg {

namespace detail {
inline thread_local bool grad_enabled = true;
}

/// True when ops record backward nodes (the default). False inside a NoGradGuard.
inline bool is_grad_enabled() { return detail::grad_enabled; }

/// While alive, ops on this thread record no graph (inference, optimizer updates, the backward
/// pass itself). Restores the previous mode on destruction, so guards nest.
class NoGradGuard {
public:
    NoGradGuard() : previous_(detail::grad_enabled) { detail::grad_enabled = false; }
    ~NoGradGuard() { detail::grad_enabled = previous_; }
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

}  // namespace fbseg
