// fbseg/nn.hpp - layers, losses, optimizers and schedules (with fbseg/tensor.hpp).
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/tensor.hpp"

#include "fbseg/nn/container.hpp"
#include "fbseg/nn/fusion.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/layers.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/nn/module.hpp"
#include "fbseg/optim/adam.hpp"
#include "fbseg/optim/clip.hpp"
#include "fbseg/optim/lr_scheduler.hpp"
#include "fbseg/optim/optimizer.hpp"
#include "fbseg/optim/sgd.hpp"
