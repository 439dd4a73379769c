// src/ops/seam.cpp - the device seam's kernels (include/fbseg/ops/kernel/*.hpp), compiled once.
// A program built against libfbseg sees their declarations only (ops/kernel/seam.hpp); this file
// defines FBSEG_DEFINE_SEAM before any fbseg header, so here the headers give the definitions,
// with the CPU loops they instantiate for every dtype.
#define FBSEG_DEFINE_SEAM 1

#include "fbseg/ops/kernel/optim.hpp"
#include "fbseg/tensor.hpp"
