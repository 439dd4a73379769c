// fbseg/nn/layers.hpp - every layer module: include this to get Conv2d, ConvTranspose2d,
// BatchNorm2d, MaxPool2d, AdaptiveAvgPool2d, Upsample, the activations, Identity and dropout.
#pragma once

#include "fbseg/nn/activation.hpp"
#include "fbseg/nn/conv.hpp"
#include "fbseg/nn/dropout.hpp"
#include "fbseg/nn/norm.hpp"
#include "fbseg/nn/pool.hpp"
#include "fbseg/nn/size2.hpp"
#include "fbseg/nn/upsample.hpp"
