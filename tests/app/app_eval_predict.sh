#!/usr/bin/env bash
# ctest app_eval_predict: a run trained for two epochs on the ultrasound phantom is scored by
# `fbseg eval` (its validation split, and fresh phantom samples) and used by `fbseg predict` on
# PNGs written by `fbseg synth`; an MRI run with FeTA's labels predicts a NIfTI volume. Checks the
# files and their shapes, not the model's quality (two epochs teach little).
# Usage: app_eval_predict.sh PATH/TO/fbseg
set -euo pipefail
fbseg=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_eval_predict: $*" >&2; exit 1; }
# width and height of a PNG from its IHDR chunk (bytes 16-23, big-endian)
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $5 * 16777216 + $6 * 65536 + $7 * 256 + $8, $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }'; }

"$fbseg" train --count 10 --image-size 32 --epochs 2 --batch-size 4 --threads 2 --seed 1 --out "$work/us" >/dev/null \
  || fail "train exited $?"

out=$("$fbseg" eval --model "$work/us" val --no-surface) || fail "eval val exited $?: $out"
grep -q "^foreground *dice " <<<"$out" || fail "eval printed no Dice row: $out"
[ -s "$work/us/eval/summary.json" ] && [ -s "$work/us/eval/cases.csv" ] || fail "eval wrote no summary.json / cases.csv"
for key in '"metric_per_case"' '"mean"' '"foreground_mean"' '"head_circumference"'; do
  grep -q "$key" "$work/us/eval/summary.json" || fail "summary.json has no $key"
done
head -1 "$work/us/eval/cases.csv" | grep -qx "case,class,dice,iou,precision,recall,hd95_mm,assd_mm,hc_pred_mm,hc_ref_mm" \
  || fail "cases.csv header: $(head -1 "$work/us/eval/cases.csv")"
"$fbseg" eval --model "$work/us" phantom --out "$work/eval2" >/dev/null || fail "eval phantom exited $?"
rows=$(($(wc -l <"$work/eval2/cases.csv") - 1))
[ "$rows" -eq 10 ] || fail "eval phantom: expected 10 cases in cases.csv, got $rows"

# predict on PNGs of another size than the training's 32 x 32: the masks keep each image's size
"$fbseg" synth --modality us --out "$work/data" --count 2 --test-count 2 --height 90 --width 130 --seed 4 >/dev/null
"$fbseg" predict --model "$work/us" "$work/data/test_set" --out "$work/pred" --tta --largest-component \
  --pixel-size 0.2 >/dev/null || fail "predict exited $?"
for f in "$work"/data/test_set/*.png; do
  name=$(basename "$f" .png)
  [ -s "$work/pred/${name}_mask.png" ] && [ -s "$work/pred/${name}_overlay.png" ] || fail "no mask/overlay for $name"
  [ "$(png_size "$work/pred/${name}_mask.png")" = "$(png_size "$f")" ] \
    || fail "$name: mask $(png_size "$work/pred/${name}_mask.png") but image $(png_size "$f")"
done
head -1 "$work/pred/hc18_submission.csv" | grep -qx "filename,center_x_mm,center_y_mm,semi_axes_a_mm,semi_axes_b_mm,angle_rad" \
  || fail "hc18_submission.csv header: $(head -1 "$work/pred/hc18_submission.csv")"
[ "$(wc -l <"$work/pred/hc18_submission.csv")" -eq 3 ] || fail "hc18_submission.csv should have 2 rows"

# an MRI run with FeTA's labels predicts a NIfTI volume with the input's header
"$fbseg" train --modality mri --classes labels --loss ce+dice --count 6 --image-size 64 --epochs 1 --batch-size 3 \
  --threads 2 --out "$work/mri" >/dev/null || fail "train mri exited $?"
"$fbseg" synth --modality mri --out "$work/mri-data" --count 1 --slices 3 --height 128 --width 128 --seed 2 >/dev/null
volume=$(find "$work/mri-data" -name '*_T2w.nii.gz' | head -1)
[ -n "$volume" ] || fail "synth mri wrote no T2w volume"
"$fbseg" predict --model "$work/mri" "$volume" --out "$work/mri-pred" >/dev/null || fail "predict nifti exited $?"
[ -s "$work/mri-pred/$(basename "$volume" .nii.gz)_dseg.nii.gz" ] || fail "no label volume for $volume"

# bad input
if out=$("$fbseg" eval --model "$work/nothing" val 2>&1); then fail "eval of a missing run should fail"; fi
grep -q "is not a trained run folder" <<<"$out" || fail "eval of a missing run: $out"
if out=$("$fbseg" predict --model "$work/us" "$work/data/training_set_pixel_size_and_HC.csv" --out "$work/p2" 2>&1); then
  fail "predict of a CSV should fail"
fi
grep -q "neither an image" <<<"$out" || fail "predict of a CSV: $out"
# an image smaller than the networks' stride (12 x 9 pixels)
python3 - "$work/tiny.png" <<'PY'  # a grey 12 x 9 PNG, written with the standard library only
import struct, sys, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
rows = b"".join(b"\x00" + bytes([128] * 12) for _ in range(9))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12, 9, 8, 0, 0, 0, 0))
open(sys.argv[1], "wb").write(png + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
if out=$("$fbseg" predict --model "$work/us" "$work/tiny.png" --out "$work/p3" 2>&1); then fail "predict of a 12 x 9 image should fail"; fi
grep -q "tiny.png' is 12 x 9 pixels; the smallest image fbseg segments is 16 x 16" <<<"$out" || fail "predict of a tiny image: $out"
# a run folder whose checkpoint does not fit its config.json (3 output channels said, 1 saved)
cp -r "$work/us" "$work/us-broken"
sed -i 's/"out_channels": 1/"out_channels": 3/' "$work/us-broken/config.json"
if out=$("$fbseg" eval --model "$work/us-broken" val 2>&1); then fail "eval of a mismatched checkpoint should fail"; fi
grep -q "us-broken/best.safetensors" <<<"$out" && grep -q "shape" <<<"$out" || fail "eval of a mismatched checkpoint: $out"
# --device cuda where no GPU (or no CUDA build) is
if ! "$fbseg" eval --model "$work/us" val --device cuda >/dev/null 2>&1; then
  out=$("$fbseg" eval --model "$work/us" val --device cuda 2>&1 || true)
  grep -q "no CUDA device is available" <<<"$out" || fail "eval --device cuda without a GPU: $out"
fi
echo "app_eval_predict: ok"
