// fbseg/tensor.hpp - tensors, autograd and every op (the core of the library).
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/core/cuda_runtime.hpp"
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

#include "fbseg/ops/batch_norm.hpp"
#include "fbseg/ops/binary.hpp"
#include "fbseg/ops/conv.hpp"
#include "fbseg/ops/copy.hpp"
#include "fbseg/ops/dropout.hpp"
#include "fbseg/ops/factory.hpp"
#include "fbseg/ops/index.hpp"
#include "fbseg/ops/interpolate.hpp"
#include "fbseg/ops/join.hpp"
#include "fbseg/ops/linalg.hpp"
#include "fbseg/ops/logical.hpp"
#include "fbseg/ops/pool.hpp"
#include "fbseg/ops/reduce.hpp"
#include "fbseg/ops/softmax.hpp"
#include "fbseg/ops/split.hpp"
#include "fbseg/ops/unary.hpp"
#include "fbseg/ops/view.hpp"

#include "fbseg/autograd/engine.hpp"
#include "fbseg/ops/tensor_methods.hpp"
#include "fbseg/autograd/gradcheck.hpp"

// Tensor's method forms (x.exp(), x.add_(y), x.sum(1)): once every op is declared.
#include "fbseg/ops/method_forms.hpp"
