#!/usr/bin/env bash
# ctest app_train_resume: `fbseg train` on the ultrasound phantom writes a complete run folder; a
# run interrupted in the middle of an epoch (SIGINT sent by the program itself at a chosen step, and
# a real Ctrl-C from outside) and resumed writes the same metrics.csv, bit for bit apart from the
# timing columns, as the run left alone; a finished run is extended with --epochs; --init and
# --recipe seed do what they say; and bad input fails before any training with a message that
# says what is wrong.
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

# the same run interrupted in the middle of its second epoch (FBSEG_STOP_AFTER_STEPS makes the
# program send itself SIGINT after that many steps: 3 steps per epoch here, so step 4 is the
# first step of epoch 2), then --resume: it goes on from the next batch
status=0
FBSEG_STOP_AFTER_STEPS=4 "$fbseg" train "${common[@]}" --epochs 2 --out "$work/split" >"$work/interrupted.log" 2>&1 || status=$?
[ "$status" -eq 130 ] || fail "an interrupted run should exit with 130, got $status: $(cat "$work/interrupted.log")"
grep -q "interrupted at epoch 2, step 1 of 3" "$work/interrupted.log" || fail "where it stopped: $(cat "$work/interrupted.log")"
grep -q "Resume with: fbseg train --resume" "$work/interrupted.log" || fail "no resume hint: $(cat "$work/interrupted.log")"
[ "$(wc -l <"$work/split/metrics.csv")" -eq 2 ] || fail "after the interruption metrics.csv should have 1 row"
"$fbseg" train --resume "$work/split" >"$work/resume.log" || fail "train --resume exited $?"
grep -q "resuming .* at epoch 2 of 2, step 2 of 3" "$work/resume.log" || fail "--resume did not say where: $(cat "$work/resume.log")"
# every column but the two timing ones (seconds, images_per_s) must be identical
same_metrics() {
  cut -d, -f1-6 "$1/metrics.csv" >"$work/a"
  cut -d, -f1-6 "$2/metrics.csv" >"$work/b"
  cmp -s "$work/a" "$work/b" || fail "a resumed run ($2) differs from one left alone:
$(diff "$work/a" "$work/b")"
}
same_metrics "$work/whole" "$work/split"
cmp -s "$work/whole/split.json" "$work/split/split.json" || fail "the split differs between the runs"

# a real Ctrl-C from outside, whenever it lands, also resumes to the same numbers
"$fbseg" train "${common[@]}" --epochs 2 --out "$work/signal" >"$work/signal.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do  # until epoch 1 is saved (at most 60 s)
  grep -q "^epoch 1/2" "$work/signal/log.txt" 2>/dev/null && break
  sleep 0.1
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 130 ] || [ "$status" -eq 0 ] || fail "Ctrl-C should exit with 130 (or 0 if it came after the end), got $status"
"$fbseg" train --resume "$work/signal" >/dev/null || fail "train --resume after Ctrl-C exited $?"
same_metrics "$work/whole" "$work/signal"

# the loss fell and validation Dice is a number in [0, 1]
awk -F, 'NR == 3 { if (!($4 >= 0 && $4 <= 1)) exit 1 }' "$work/whole/metrics.csv" || fail "val Dice out of [0, 1]"

# a finished run: --resume alone changes nothing; --epochs extends it by one more row
cp "$work/whole/metrics.csv" "$work/before.csv"
out=$("$fbseg" train --resume "$work/whole") || fail "--resume of a finished run exited $?"
grep -q "has finished (2 of 2 epochs)" <<<"$out" || fail "--resume of a finished run: $out"
cmp -s "$work/before.csv" "$work/whole/metrics.csv" || fail "--resume of a finished run changed metrics.csv"
"$fbseg" train --resume "$work/whole" --epochs 3 >"$work/extend.log" || fail "--resume --epochs 3 exited $?"
grep -q "extended from 2 to 3 epochs" "$work/extend.log" || fail "extension not logged: $(cat "$work/extend.log")"
[ "$(wc -l <"$work/whole/metrics.csv")" -eq 4 ] || fail "an extended run should have 3 rows"
head -3 "$work/whole/metrics.csv" | cut -d, -f1-6 >"$work/a"
cut -d, -f1-6 "$work/before.csv" >"$work/b"
cmp -s "$work/a" "$work/b" || fail "extending a run rewrote its earlier rows"

# --init: a new run from the first run's checkpoint loads every tensor of the same model
"$fbseg" train "${common[@]}" --epochs 1 --init "$work/whole/best.safetensors" --init-strict --out "$work/init" \
  >"$work/init.log" 2>&1 || fail "train --init exited $?: $(cat "$work/init.log")"
grep -q "^init: .*loaded [1-9][0-9]*, missing 0" "$work/init.log" || fail "--init did not load everything: $(cat "$work/init.log")"
grep -q '"init": ".*best.safetensors"' "$work/init/config.json" || fail "config.json does not record --init"

# --recipe seed: the original project's options, except those given on the command line
"$fbseg" train --recipe seed --data phantom --count 8 --image-size 32 --batch-size 4 --epochs 1 --threads 2 \
  --out "$work/seed" >/dev/null 2>&1 || fail "train --recipe seed exited $?"
python3 - "$work/seed/config.json" <<'PY' || fail "--recipe seed did not set its options"
import json, sys
o = json.load(open(sys.argv[1]))["options"]
want = {"recipe": "seed", "model": "efficientnet-b0-unet", "optimizer": "adam", "lr": 0.009, "schedule": "constant",
        "loss": "bce+dice", "augment": "flips", "weight_decay": 0.0, "modality": "us",
        "image_size": 32, "batch_size": 4, "epochs": 1}  # the last three given on the command line
bad = {k: (o[k], v) for k, v in want.items() if o[k] != v}
sys.exit(f"config.json options differ (found, wanted): {bad}" if bad else 0)
PY

# options from a config file (CLI11's TOML form); the command line still wins; an unknown key fails
printf '[train]\nepochs = 1\ncount = 8\nimage-size = 32\nthreads = 2\nlr = 0.004\n' >"$work/run.toml"
"$fbseg" --config "$work/run.toml" train --lr 0.003 --out "$work/cfg" >/dev/null || fail "train --config exited $?"
python3 - "$work/cfg/config.json" <<'PY' || fail "--config: the options were not read"
import json, sys
o = json.load(open(sys.argv[1]))["options"]
sys.exit(0 if (o["epochs"], o["count"], o["image_size"], o["lr"]) == (1, 8, 32, 0.003) else f"options: {o}")
PY
printf '[train]\nepochs = 1\nlearning-rate = 3\n' >"$work/typo.toml"
if out=$("$fbseg" --config "$work/typo.toml" train --out "$work/bad" 2>&1); then fail "an unknown config key should fail"; fi
grep -q "learning-rate" <<<"$out" || fail "an unknown config key: $out"

# bad input: a clear message and a non-zero exit, before any training
expect_error() {
  local want=$1; shift
  local out
  if out=$("$fbseg" train "$@" 2>&1); then fail "train $* should have failed"; fi
  grep -q -- "$want" <<<"$out" || fail "train $*: expected '$want' in: $out"
  if grep -q "^epoch 1" <<<"$out"; then fail "train $*: failed only after training had started"; fi
}
expect_error "does not fit --classes binary" --loss ce --out "$work/bad"
expect_error "multiple of 16" --image-size 50 --out "$work/bad"
expect_error "not one of" --optimizer lbfgs --out "$work/bad"
expect_error "is not one of default, seed" --recipe fast --out "$work/bad"
expect_error "does not exist" --data "$work/no-such-folder" --out "$work/bad"
expect_error "is not a run folder" --resume "$work/no-such-run"
expect_error "cannot change a run" --resume "$work/whole" --lr 0.1
touch "$work/a-file"
expect_error "cannot create the run folder" --out "$work/a-file/run"
expect_error "no CUDA" --device cuda --out "$work/bad"
expect_error "--init '.*' does not exist" --init "$work/no-such.safetensors" --out "$work/bad"
small=(--data phantom --count 8 --image-size 32 --threads 2)
expect_error "holds the weights of a unet, but this run trains a resnet18-unet" \
  "${small[@]}" --model resnet18-unet --init "$work/whole/best.safetensors" --out "$work/bad"
expect_error "size mismatch" "${small[@]}" --modality mri --classes labels --loss ce \
  --init "$work/whole/best.safetensors" --init-strict --out "$work/bad"
# a learning rate that blows the model up: the run stops, says why, and keeps no broken checkpoint
status=0
"$fbseg" train "${small[@]}" --epochs 3 --optimizer sgd --lr 1e6 --out "$work/blowup" >"$work/blowup.log" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "a run whose loss is not finite should exit with 1, got $status: $(cat "$work/blowup.log")"
grep -Eq "loss is (nan|-nan|inf|-inf) .*stopping" "$work/blowup.log" || fail "no stop message: $(cat "$work/blowup.log")"
grep -q "try a lower --lr" "$work/blowup.log" || fail "no advice: $(cat "$work/blowup.log")"
if [ -e "$work/blowup/last.safetensors" ]; then
  python3 - "$work/blowup/last.safetensors" <<'PY' || fail "the kept checkpoint holds non-finite numbers"
# the standard library only: an 8-byte header length, the JSON header, then the raw tensors
import array, json, math, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
bad = []
for key, t in header.items():
    if key == "__metadata__" or t["dtype"] != "F32":
        continue
    begin, end = t["data_offsets"]
    values = array.array("f", data[8 + n + begin:8 + n + end])
    if not all(math.isfinite(v) for v in values):
        bad.append(key)
sys.exit(f"non-finite tensors: {bad[:5]}" if bad else 0)
PY
fi
if ! "$fbseg" train --help >/dev/null; then fail "train --help failed"; fi
echo "app_train_resume: ok"
