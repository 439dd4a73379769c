// fbseg/io.hpp - safetensors, checkpoints and weight transfer (with fbseg/nn.hpp).
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/nn.hpp"

#include "fbseg/io/checkpoint.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/io/weights.hpp"
