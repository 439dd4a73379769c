// src/ops/ops.cpp - the ops' own functions (add, relu, sum, conv2d and the rest of
// include/fbseg/ops/*.hpp), compiled once. A program built against libfbseg sees their
// declarations only (ops/op_library.hpp); this file defines FBSEG_DEFINE_OPS before any fbseg
// header, so here the headers give the definitions, with the maps, autograd nodes and loops they
// instantiate.
#define FBSEG_DEFINE_OPS 1

#include "fbseg/tensor.hpp"
