#!/usr/bin/env bash
# ctest data_parallel: a small UNet trained for 6 steps (batch 4, SGD, synchronised BatchNorm)
#   - in one process without MPI (2 threads): the reference;
#   - by mpirun -np 1 (2 threads): bit for bit the reference (a group of one exchanges nothing);
#   - by mpirun -np 2 and -np 3 (1 thread each; -np 3 splits each batch 1 + 1 + 2): the same losses
#     and weights up to float rounding, |a - b| <= 1e-6 + 1e-4 |a| for every value;
#   - by mpirun -np 2 without synchronised BatchNorm: NOT within that tolerance (the control that
#     shows the comparison can fail, and why SyncBatchNorm is on).
# Usage: data_parallel.sh PATH/TO/fbseg_data_parallel_check PATH/TO/mpiexec
set -euo pipefail
check=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "data_parallel: $*" >&2; exit 1; }
# --oversubscribe: more ranks than this machine's cores; --allow-run-as-root: CI runs as root
# (both harmless otherwise); OMPI_MCA_*: Open MPI's shared-memory transport without ptrace-based
# single copy, which containers forbid.
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=("$mpiexec" --allow-run-as-root --oversubscribe)

"$check" run "$work/single.safetensors" --no-mpi --threads 2 || fail "the single-process run failed"
"${mpirun[@]}" -np 1 "$check" run "$work/np1.safetensors" --threads 2 || fail "mpirun -np 1 failed"
"${mpirun[@]}" -np 2 "$check" run "$work/np2.safetensors" --threads 1 || fail "mpirun -np 2 failed"
"${mpirun[@]}" -np 3 "$check" run "$work/np3.safetensors" --threads 1 || fail "mpirun -np 3 failed"
"${mpirun[@]}" -np 2 "$check" run "$work/nosync.safetensors" --threads 1 --no-sync-bn || fail "mpirun -np 2 --no-sync-bn failed"

"$check" compare "$work/single.safetensors" "$work/np1.safetensors" --exact || fail "-np 1 is not bit-identical to a run without MPI"
"$check" compare "$work/single.safetensors" "$work/np2.safetensors" --rtol 1e-4 --atol 1e-6 || fail "-np 2 differs from one process"
"$check" compare "$work/single.safetensors" "$work/np3.safetensors" --rtol 1e-4 --atol 1e-6 || fail "-np 3 differs from one process"
if "$check" compare "$work/single.safetensors" "$work/nosync.safetensors" --rtol 1e-4 --atol 1e-6; then
  fail "without SyncBatchNorm, -np 2 should differ from one process (the comparison cannot fail?)"
fi
echo "data_parallel: ok"
