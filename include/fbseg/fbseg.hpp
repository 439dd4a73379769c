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

#include "fbseg/nn/container.hpp"
#include "fbseg/nn/init.hpp"
#include "fbseg/nn/layers.hpp"
#include "fbseg/nn/loss.hpp"
#include "fbseg/nn/module.hpp"

#include "fbseg/optim/adam.hpp"
#include "fbseg/optim/clip.hpp"
#include "fbseg/optim/lr_scheduler.hpp"
#include "fbseg/optim/optimizer.hpp"
#include "fbseg/optim/sgd.hpp"

#include "fbseg/data/phantom/dataset.hpp"  // data/phantom: shapes, filters, mri, ultrasound, dataset

#include "fbseg/io/checkpoint.hpp"
#include "fbseg/io/safetensors.hpp"
#include "fbseg/io/weights.hpp"
#include "fbseg/metrics/metrics.hpp"
#include "fbseg/models/efficientnet.hpp"
#include "fbseg/models/encoder.hpp"
#include "fbseg/models/fine_tune.hpp"
#include "fbseg/models/resnet.hpp"
#include "fbseg/models/smp_unet.hpp"
#include "fbseg/models/summary.hpp"
#include "fbseg/models/unet.hpp"

// Tensor's method forms (x.exp(), x.add_(y), x.sum(1)): last, once every op is declared.
#include "fbseg/ops/method_forms.hpp"
