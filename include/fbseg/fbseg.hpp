// fbseg/fbseg.hpp - the umbrella header: include this one to get the whole CPU library.
#pragma once

#include "fbseg/core/device.hpp"
#include "fbseg/core/dtype.hpp"
#include "fbseg/core/error.hpp"
#include "fbseg/core/generator.hpp"
#include "fbseg/core/parallel.hpp"
#include "fbseg/core/shape.hpp"
#include "fbseg/core/storage.hpp"
#include "fbseg/core/tensor.hpp"

#include "fbseg/autograd/function.hpp"
#include "fbseg/autograd/grad_mode.hpp"
#include "fbseg/autograd/node.hpp"

#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/join.hpp"
#include "fbseg/ops/linalg.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/softmax.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/view.hpp"

#include "fbseg/autograd/engine.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/autograd/gradcheck.hpp"
