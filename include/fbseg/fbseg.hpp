// fbseg/fbseg.hpp - the umbrella header: include this one to get the whole CPU library. The parts
// have narrower headers of their own, quicker to compile: fbseg/tensor.hpp (tensors, autograd,
// ops), fbseg/nn.hpp (layers, losses, optimizers), fbseg/models.hpp, fbseg/data.hpp, fbseg/io.hpp,
// fbseg/metrics.hpp, fbseg/distributed.hpp.
#pragma once

#include "fbseg/tensor.hpp"
#include "fbseg/nn.hpp"
#include "fbseg/models.hpp"
#include "fbseg/data.hpp"
#include "fbseg/io.hpp"
#include "fbseg/metrics.hpp"
#include "fbseg/distributed.hpp"
