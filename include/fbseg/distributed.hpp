// fbseg/distributed.hpp - data-parallel training over MPI or NCCL (the MPI communicator itself is
// in fbseg/distributed/mpi.hpp, not included here).
// A narrower header than the umbrella fbseg/fbseg.hpp (which includes this one): a program that
// needs only this part compiles faster (docs/performance.md, "Build cost").
#pragma once

#include "fbseg/nn.hpp"

#include "fbseg/distributed/data_parallel.hpp"  // data parallel; MPI: distributed/mpi.hpp (not included here)
#include "fbseg/distributed/sync_batch_norm.hpp"
