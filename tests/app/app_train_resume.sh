#!/usr/bin/env bash
# ctest app_train_resume: `fbseg train` on the ultrasound phantom writes a complete run folder; a
# run interrupted with Ctrl-C during its second epoch and resumed writes the same metrics.csv, bit
# for bit apart from the timing columns, as the run left alone; and bad options fail before any
# training with a message that says what is wrong.
# Usage: app_train_resume.sh PATH/TO/fbseg
set -euo pipefail
fbseg=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_train_resume: $*" >&2; exit 1; }

common=(--data phantom --modality us --count 12 --model unet --image-size 64 --batch-size 4
        --augment default --threads 2 --workers 2 --seed 3)
"$fbseg" train "${common[@]}" --epochs 2 --out "$work/whole" >/dev/null || fail "train (2 epochs) exited $?"
for f in config.json split.json metrics.csv last.safetensors best.safetensors log.txt summary.json; do
  [ -s "$work/whole/$f" ] || fail "the run folder has no $f"
done
[ "$(wc -l <"$work/whole/metrics.csv")" -eq 3 ] || fail "metrics.csv should have a header and 2 rows: $(cat "$work/whole/metrics.csv")"
head -1 "$work/whole/metrics.csv" | grep -qx "epoch,train_loss,val_loss,val_dice_foreground,val_dice_mean,lr,seconds,images_per_s" \
  || fail "metrics.csv header: $(head -1 "$work/whole/metrics.csv")"

# the same run interrupted with Ctrl-C (SIGINT) during its second epoch, then --resume
"$fbseg" train "${common[@]}" --epochs 2 --out "$work/split" >"$work/interrupted.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do  # until epoch 1 is saved (at most 60 s)
  grep -q "^epoch 1/2" "$work/split/log.txt" 2>/dev/null && break
  sleep 0.1
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 130 ] || fail "an interrupted run should exit with 130, got $status: $(cat "$work/interrupted.log")"
grep -q "Resume with: fbseg train --resume" "$work/interrupted.log" || fail "no resume hint: $(cat "$work/interrupted.log")"
[ "$(wc -l <"$work/split/metrics.csv")" -eq 2 ] || fail "after the interruption metrics.csv should have 1 row"
"$fbseg" train --resume "$work/split" >"$work/resume.log" || fail "train --resume exited $?"
grep -q "resuming" "$work/resume.log" || fail "--resume did not say it resumed: $(cat "$work/resume.log")"
# every column but the two timing ones (seconds, images_per_s) must be identical
cut -d, -f1-6 "$work/whole/metrics.csv" >"$work/a"
cut -d, -f1-6 "$work/split/metrics.csv" >"$work/b"
cmp -s "$work/a" "$work/b" || fail "a resumed run differs from one left alone:
$(diff "$work/a" "$work/b")"
cmp -s "$work/whole/split.json" "$work/split/split.json" || fail "the split differs between the runs"

# the loss fell and validation Dice is a number in [0, 1]
awk -F, 'NR == 3 { if (!($4 >= 0 && $4 <= 1)) exit 1 }' "$work/whole/metrics.csv" || fail "val Dice out of [0, 1]"

# bad input: a clear message and a non-zero exit, before any training
expect_error() {
  local want=$1; shift
  local out
  if out=$("$fbseg" train "$@" --out "$work/bad" 2>&1); then fail "train $* should have failed"; fi
  grep -q -- "$want" <<<"$out" || fail "train $*: expected '$want' in: $out"
}
expect_error "does not fit --classes binary" --loss ce
expect_error "multiple of 16" --image-size 50
expect_error "not one of" --optimizer lbfgs
expect_error "does not exist" --data "$work/no-such-folder"
expect_error "is not a run folder" --resume "$work/no-such-run"
if ! "$fbseg" train --help >/dev/null; then fail "train --help failed"; fi
echo "app_train_resume: ok"
