#!/usr/bin/env bash
# tools/make_report_picture.sh - docs/images/report.png: the top of the report.html that
# `bash tools/run.sh demo` writes (runs/demo), rendered by headless Chromium and scaled with PIL.
#     bash tools/run.sh demo && bash tools/make_report_picture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -s runs/demo/report.html ] || { echo "make_report_picture: run 'bash tools/run.sh demo' first" >&2; exit 1; }
shot=$(mktemp --suffix=.png)
trap 'rm -f "$shot"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$shot" --window-size=1100,1900 \
  "file://$PWD/runs/demo/report.html" 2>/dev/null
python3 - "$shot" docs/images/report.png <<'PY'
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
img = img.quantize(colors=256, method=Image.Quantize.FASTOCTREE)  # a palette PNG: half the bytes
img.save(sys.argv[2], optimize=True)
print(sys.argv[2], img.size)
PY
