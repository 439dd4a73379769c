#!/usr/bin/env bash
# ctest app_synth_check: `fbseg synth` writes each phantom to disk and `fbseg check` reads it back
# as training would; then a damaged copy makes `fbseg check` fail and name the damage.
# Usage: app_synth_check.sh PATH/TO/fbseg
set -euo pipefail
fbseg=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_synth_check: $*" >&2; exit 1; }

# ultrasound in HC18's layout
"$fbseg" synth --modality us --out "$work/us" --count 6 --test-count 2 --height 108 --width 160 --seed 1 >/dev/null
[ -f "$work/us/training_set/005_HC_Annotation.png" ] || fail "synth us: no 005_HC_Annotation.png"
[ -f "$work/us/test_set_pixel_size.csv" ] || fail "synth us: no test_set_pixel_size.csv"
head -1 "$work/us/training_set_pixel_size_and_HC.csv" | grep -qx "filename,pixel size(mm),head circumference (mm)" \
  || fail "synth us: HC18's CSV header is not exact"
out=$("$fbseg" check "$work/us") || fail "check us: exit $? on a clean dataset: $out"
grep -q "(HC18)" <<<"$out" || fail "check us: format not detected as HC18: $out"
grep -q "^samples   6 (6 read), 6 subjects" <<<"$out" || fail "check us: wrong counts: $out"
grep -q "^sizes     108x160 (6)" <<<"$out" || fail "check us: wrong sizes: $out"
grep -q "^HC        6 samples" <<<"$out" || fail "check us: head circumferences not found: $out"
grep -q "^problems  none" <<<"$out" || fail "check us: problems reported on a clean dataset: $out"

# the same seed writes the same files
"$fbseg" synth --modality us --out "$work/us2" --count 6 --test-count 2 --height 108 --width 160 --seed 1 >/dev/null
cmp -s "$work/us/training_set/003_HC.png" "$work/us2/training_set/003_HC.png" || fail "synth us: not deterministic"

# MRI as BIDS NIfTI and PNG slices, FeTA's labels (128 x 128: pixels of 1.0-1.8 mm, finer than the 3 mm
# slices, so every volume is sliced along z, its coarsest axis)
"$fbseg" synth --modality mri --out "$work/mri" --count 2 --slices 4 --height 128 --width 128 --seed 2 >/dev/null
out=$("$fbseg" check "$work/mri") || fail "check mri: exit $? on a clean dataset: $out"
grep -q "(BIDS (NIfTI))" <<<"$out" || fail "check mri: format not detected as BIDS: $out"
grep -q "^samples   8 (8 read), 2 subjects" <<<"$out" || fail "check mri: wrong counts: $out"
grep -q "white_matter" <<<"$out" || fail "check mri: FeTA's classes not listed: $out"
out=$("$fbseg" check "$work/mri/png") || fail "check mri png: exit $?: $out"
grep -q "^samples   8 (8 read)" <<<"$out" || fail "check mri png: wrong counts: $out"

# damage: a missing annotation and a truncated frame are named, and the exit status is 1
rm "$work/us/training_set/002_HC_Annotation.png"
if out=$("$fbseg" check "$work/us"); then fail "check: a missing annotation passed: $out"; fi
grep -q "002_HC" <<<"$out" || fail "check: the missing annotation is not named: $out"
cp -r "$work/us2" "$work/us3"
head -c 100 "$work/us2/training_set/004_HC.png" > "$work/us3/training_set/004_HC.png"
if out=$("$fbseg" check "$work/us3"); then fail "check: a truncated PNG passed: $out"; fi
grep -q "004_HC.png" <<<"$out" || fail "check: the truncated PNG is not named: $out"
echo "app_synth_check: passed"
