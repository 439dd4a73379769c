#!/usr/bin/env bash
# ctest app_report: `fbseg train` writes RUN/report.html, a self-contained page (inline SVG curves,
# PNG data URIs, no script, nothing fetched from a network), and headless Chromium renders it:
# the screenshot must show the curves' line colours and the gallery's contour colours.
# Usage: app_report.sh PATH/TO/fbseg
set -euo pipefail
fbseg=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "app_report: $*" >&2; exit 1; }

"$fbseg" train --count 30 --image-size 32 --epochs 3 --batch-size 4 --threads 2 --seed 2 --out "$work/run" >"$work/train.log" \
  || fail "train exited $?"
grep -q "^report: " "$work/train.log" || fail "train did not write a report: $(cat "$work/train.log")"
html=$work/run/report.html
[ -s "$html" ] || fail "no report.html"
count() { grep -o "$1" "$html" | wc -l; }
[ "$(count '<svg')" -ge 6 ] || fail "expected at least 6 SVG charts (4 curves + 2 HC plots), found $(count '<svg')"
[ "$(count 'data:image/png;base64,')" -eq 6 ] || fail "expected 6 gallery pictures (3 best, 3 worst of 6 validation cases), found $(count 'data:image/png;base64,')"
for word in '<script' 'src="http' 'href="http' '@import' 'url(http'; do
  [ "$(count "$word")" -eq 0 ] || fail "the report is not self-contained: it has $word"
done
grep -q "Subjects on both sides: <b>0</b> (checked)" "$html" || fail "the split check is missing"
"$fbseg" report "$work/run" >/dev/null || fail "fbseg report exited $?"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "app_report: chromium not installed (tools/install_deps.sh installs it): the render check is skipped"
  exit 0
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 \
  --screenshot="$work/shot.png" --window-size=1100,2600 "file://$html" >"$work/chromium.log" 2>&1 \
  || fail "chromium exited $?: $(tail -5 "$work/chromium.log")"
[ -s "$work/shot.png" ] || fail "chromium wrote no screenshot"
if grep -E "Uncaught|CONSOLE.*(error|Error)" "$work/chromium.log"; then fail "the page logged errors"; fi
if ! python3 -c "import PIL" 2>/dev/null; then
  echo "app_report: rendered; Python's PIL is missing, so the screenshot's pixels are not inspected"
  exit 0
fi
ellipses=$(count ', ellipse: HC ')
python3 - "$work/shot.png" "$ellipses" <<'PY' || fail "the rendered page lacks what it should show"
import sys
ellipses = int(sys.argv[2])
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
px = img.load()
w, h = img.size
counts = {"train-loss blue": 0, "validation red": 0, "reference green": 0, "prediction red": 0, "non-white": 0,
          "ellipse yellow": 0}
for y in range(0, h, 2):
    for x in range(0, w, 2):
        r, g, b = px[x, y]
        if (r, g, b) != (255, 255, 255):
            counts["non-white"] += 1
        if abs(r - 31) < 30 and abs(g - 119) < 30 and abs(b - 180) < 30:
            counts["train-loss blue"] += 1
        if abs(r - 214) < 30 and abs(g - 39) < 30 and abs(b - 40) < 30:
            counts["validation red"] += 1
        if abs(r - 40) < 30 and abs(g - 220) < 30 and abs(b - 60) < 30:
            counts["reference green"] += 1
        if abs(r - 240) < 20 and abs(g - 40) < 30 and abs(b - 40) < 30:
            counts["prediction red"] += 1
        if r > 230 and abs(g - 210) < 30 and b < 60:
            counts["ellipse yellow"] += 1
# the fitted ellipses are drawn only where a prediction had one (the page says how many)
if ellipses == 0:
    del counts["ellipse yellow"]
missing = [k for k, v in counts.items() if v < (5 if k == "ellipse yellow" else 20)]
print("app_report: rendered pixels", counts)
sys.exit(1 if missing else 0)
PY
echo "app_report: ok"
