// fbseg/metrics.hpp - segmentation metrics (Dice, HD95, head circumference in mm).
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/tensor.hpp"

#include "fbseg/metrics/metrics.hpp"
