#!/usr/bin/env bash
# ctest app_tutorial: runs every ```sh block of docs/tutorial.md, in order, in an empty folder,
# with the fbseg under test first on PATH, and fails when a command fails. A block right after a
# line "<!-- app_tutorial: not run ... -->" is skipped (the build: the test is given its fbseg).
# To keep CI short, training and data are made smaller, and nothing else is changed:
#   --epochs N  ->  --epochs 1 (--epochs 2 on a line with --resume: an extension by one epoch)
#   --count N   ->  --count min(N, 12) (--count 2 on a line with --modality mri: volumes)
# Usage: app_tutorial.sh PATH/TO/fbseg
set -euo pipefail
fbseg=$(realpath "$1")
doc=$(dirname "$0")/../../docs/tutorial.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_tutorial: $*" >&2; exit 1; }

mkdir -p "$work/bin"
ln -s "$fbseg" "$work/bin/fbseg"
# the blocks, one command per line, as a script
awk '
  /^<!-- app_tutorial: not run/ { skip = 1; next }
  /^```sh$/ { inside = 1; next }
  /^```/ && inside { inside = 0; skip = 0; next }
  inside && !skip { print }
' "$doc" | sed -E \
  -e '/--resume/ s/--epochs [0-9]+/--epochs 2/' -e '/--resume/! s/--epochs [0-9]+/--epochs 1/' \
  -e '/--modality mri/ s/--count [0-9]+/--count 2/' \
  -e '/--modality mri/! s/--count ([0-9]+)/--count \1/' >"$work/commands.sh"
# --count above 12 (outside MRI lines) becomes 12
sed -E -i '/--modality mri/! s/--count (1[3-9]|[2-9][0-9]|[0-9]{3,})/--count 12/' "$work/commands.sh"
n=$(grep -c . "$work/commands.sh" || true)
[ "$n" -ge 15 ] || fail "found only $n commands in $doc; the extraction is broken"
grep -q "fbseg train" "$work/commands.sh" || fail "no fbseg train command was extracted"

cd "$work"
export PATH="$work/bin:$PATH"
while IFS= read -r command; do
  echo "\$ $command"
  bash -euo pipefail -c "$command" >"$work/out.txt" 2>&1 || { cat "$work/out.txt" >&2; fail "this command failed: $command"; }
  tail -n 3 "$work/out.txt"
done <"$work/commands.sh"

# what the tutorial says the commands leave behind
for f in runs/us/report.html runs/us/eval/summary.json runs/us/eval-new/summary.json \
         runs/us/predictions/hc18_submission.csv runs/mri/predictions/sub-001_rec-phantom_T2w_dseg.nii.gz \
         runs/us-finetune/best.safetensors runs/seed/config.json; do
  [ -s "$work/$f" ] || fail "the tutorial's commands did not write $f"
done
[ "$(wc -l <runs/us/metrics.csv)" -eq 3 ] || fail "runs/us/metrics.csv should have 2 rows after the extension"
echo "app_tutorial: ok ($n commands)"
