#!/usr/bin/env bash
# ctest app_data_parallel: `mpirun -np 2 fbseg train` (1 thread per rank) against `fbseg train`
# (one process, 2 threads), same options and seed: the same metrics.csv up to float rounding:
# losses and lr |a - b| <= 1e-6 + 1e-4 |a|, validation Dice within 0.005 (it thresholds the
# probabilities at 0.5, so a rounding difference flips a pixel whose logit is near 0 and moves it
# by ~0.0015 at this size); mpirun -np 1 writes exactly the
# single process's metrics.csv; only rank 0 writes (one log line per epoch); a 2-rank run
# interrupted in the middle of an epoch is resumed by ONE process to the same numbers; an error on
# the ranks ends every rank with its message (no hang).
# Usage: app_data_parallel.sh PATH/TO/fbseg PATH/TO/mpiexec
set -euo pipefail
fbseg=$1
mpiexec=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_data_parallel: $*" >&2; exit 1; }
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=("$mpiexec" --allow-run-as-root --oversubscribe)

common=(--data phantom --modality us --count 14 --model unet --image-size 32 --batch-size 4 --epochs 2
        --augment flips --workers 0 --seed 3)
"$fbseg" train "${common[@]}" --threads 2 --out "$work/single" >/dev/null || fail "one process exited $?"
"${mpirun[@]}" -np 2 "$fbseg" train "${common[@]}" --threads 1 --out "$work/np2" >"$work/np2.log" 2>&1 \
  || fail "mpirun -np 2 exited $?: $(tail -5 "$work/np2.log")"
"${mpirun[@]}" -np 1 "$fbseg" train "${common[@]}" --threads 2 --out "$work/np1" >/dev/null 2>&1 || fail "mpirun -np 1 exited $?"

grep -q "BatchNorm synchronised" "$work/np2/log.txt" || fail "the 2-rank run did not say it was data parallel: $(head -3 "$work/np2/log.txt")"
[ "$(grep -c '^epoch 1/2' "$work/np2/log.txt")" -eq 1 ] || fail "more than one rank wrote log.txt"
python3 - "$work/np2/config.json" <<'PY' || fail "config.json should record 2 ranks"
import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["ranks"] == 2 else 1)
PY

# columns 1-6 (epoch, losses, Dice, lr): equal within the tolerance (np1: exactly); columns 4-5
# (validation Dice) within an absolute 0.005
close() {  # close A B RTOL ATOL
  awk -F, -v rtol="$3" -v atol="$4" 'NR == FNR { if (FNR > 1) for (i = 2; i <= 6; ++i) a[FNR, i] = $i; next }
    FNR > 1 { for (i = 2; i <= 6; ++i) { d = a[FNR, i] - $i; if (d < 0) d = -d; r = a[FNR, i]; if (r < 0) r = -r
              allow = (i == 4 || i == 5) ? 0.005 : atol + rtol * r
              if (d > allow) { printf "row %d column %d: %s against %s\n", FNR, i, a[FNR, i], $i; bad = 1 } } }
    END { exit bad }' "$1" "$2"
}
[ "$(wc -l <"$work/np2/metrics.csv")" -eq 3 ] || fail "np2 metrics.csv should have 2 rows"
close "$work/single/metrics.csv" "$work/np2/metrics.csv" 1e-4 1e-6 || fail "mpirun -np 2 differs from one process"
cut -d, -f1-6 "$work/single/metrics.csv" >"$work/a"
cut -d, -f1-6 "$work/np1/metrics.csv" >"$work/b"
cmp -s "$work/a" "$work/b" || fail "mpirun -np 1 is not bit-identical to one process: $(diff "$work/a" "$work/b")"

# 2 ranks interrupted after their 4th step (epoch 2, step 1 of 3), resumed by one process (2 threads)
status=0
"${mpirun[@]}" -x FBSEG_STOP_AFTER_STEPS=4 -np 2 "$fbseg" train "${common[@]}" --threads 1 --out "$work/split" \
  >"$work/split.log" 2>&1 || status=$?
[ "$status" -eq 130 ] || fail "the interrupted 2-rank run should exit with 130, got $status: $(tail -5 "$work/split.log")"
grep -q "interrupted at epoch 2, step 1 of 3" "$work/split/log.txt" || fail "where it stopped: $(cat "$work/split/log.txt")"
"$fbseg" train --resume "$work/split" --threads 2 >/dev/null || fail "resume by one process exited $?"
close "$work/single/metrics.csv" "$work/split/metrics.csv" 1e-4 1e-6 || fail "a 2-rank run resumed by one process differs"
# an error on the ranks ends them all (MPI_Abort), with the message, instead of a hang
status=0
out=$(timeout 120 "${mpirun[@]}" -np 2 "$fbseg" train "${common[@]}" --device cuda --threads 1 --out "$work/cuda" 2>&1) \
  || status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "mpirun -np 2 --device cuda without GPUs should fail, not hang (status $status)"
grep -q "no CUDA device is available\|without it" <<<"$out" || fail "no clear message: $out"
echo "app_data_parallel: ok"
