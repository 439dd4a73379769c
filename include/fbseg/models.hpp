// fbseg/models.hpp - the UNets (classic, and smp-style with ResNet and EfficientNet encoders), with fbseg/nn.hpp.
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/nn.hpp"

#include "fbseg/models/efficientnet.hpp"
#include "fbseg/models/encoder.hpp"
#include "fbseg/models/fine_tune.hpp"
#include "fbseg/models/resnet.hpp"
#include "fbseg/models/smp_unet.hpp"
#include "fbseg/models/summary.hpp"
#include "fbseg/models/unet.hpp"
