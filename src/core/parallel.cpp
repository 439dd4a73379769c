// src/core/parallel.cpp - the thread pool's state, once per program (see core/parallel.hpp): the
// copies of parallel_for inside the per-instruction-set kernels (src/cpu/) share it with the rest.
#define FBSEG_DEFINE_POOL_STATE
#include "fbseg/core/parallel.hpp"
