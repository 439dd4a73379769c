#!/usr/bin/env python3
"""Generates tests/fixtures/readers/: small image files written with OpenCV (and PIL where OpenCV
cannot write the layout), what OpenCV reads back from them, and a tiny synthetic HC18 folder, for
fbseg's readers (include/fbseg/data/image_io.hpp, hc18.hpp), read by tests/test_readers.cpp.

Images ("img.<name>.*" in readers.safetensors), each written to tests/fixtures/readers/<name>:
  .unchanged   cv2.imread(path, IMREAD_UNCHANGED) as float32 [H, W, C] (exact integers) (OpenCV's channel order:
               B, G, R(, A)); [H, W, 1] for a grey file
  .grey        cv2.imread(path, IMREAD_GRAYSCALE | IMREAD_ANYDEPTH) as float32 [H, W] (OpenCV's
               own RGB -> grey: libpng's fixed-point conversion for PNG; libjpeg's Y for JPEG)
  .bits        [8] or [16]
Masks ("mask.<name>.values"): the integers written, int64 [H, W].
HC18 ("hc18.<id>.*"): for each training frame of tests/fixtures/readers/hc18/training_set/:
  .filled      scipy.ndimage.binary_fill_holes(annotation > 0) as uint8 [H, W] (the reference
               fbseg's fill_holes must equal)
  .ellipse     [cx, cy, a, b, angle_deg] as drawn by cv2.ellipse(thickness=1)
  .outline     the number of outline pixels
An outline cut open by the image border (open_Annotation.png): "open.scipy" = binary_fill_holes
(the bare outline), "open.cv_filled" = the same ellipse drawn by cv2.ellipse(thickness=-1).

    python3 tools/make_readers_fixtures.py [--out tests/fixtures/readers]

Seeded, so reruns give the same pixels (the PNG bytes may change with the OpenCV/zlib version).
Versions: tools/requirements.txt (opencv-python-headless, scipy, numpy, safetensors, pillow).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import zlib

import cv2
import numpy as np
import scipy.ndimage
from PIL import Image
from safetensors.numpy import save_file


def smooth(rng, h, w, c, hi):
    """A smooth random image (compresses well, JPEG-friendly) with values 0..hi."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c), dtype=np.float64)
    for k in range(c):
        a, b, p = rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.5), rng.uniform(0, 6)
        out[..., k] = 0.5 + 0.45 * np.sin(a * xx + b * yy + p)
    out += rng.uniform(-0.04, 0.04, out.shape)
    return np.clip(np.round(out * hi), 0, hi)


def png_low_depth(values: np.ndarray, bits: int) -> bytes:
    """A grey PNG (colour type 0) with `bits` (1, 2 or 4) bits per sample, rows packed MSB first."""
    h, w = values.shape
    per_byte = 8 // bits
    raw = b""
    for row in values:
        packed = bytearray((w + per_byte - 1) // per_byte)
        for x, v in enumerate(row):
            packed[x // per_byte] |= int(v) << (8 - bits * (x % per_byte + 1))
        raw += b"\x00" + bytes(packed)  # filter type 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bits, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "readers"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261127)
    tensors: dict[str, np.ndarray] = {}

    # ---- images --------------------------------------------------------------------------------
    images = {}
    r8 = lambda h, w, c: rng.integers(0, 256, (h, w, c), dtype=np.uint8)  # noqa: E731
    r16 = lambda h, w, c: rng.integers(0, 65536, (h, w, c), dtype=np.uint16)  # noqa: E731
    images["grey8_7x5.png"] = r8(5, 7, 1)[..., 0]
    images["grey16_33x17.png"] = r16(17, 33, 1)[..., 0]
    images["bgr8_33x17.png"] = r8(17, 33, 3)
    images["bgra8_7x5.png"] = r8(5, 7, 4)
    images["bgr16_7x5.png"] = r16(5, 7, 3)
    images["bgra16_7x5.png"] = r16(5, 7, 4)
    images["bgr8_7x5.bmp"] = r8(5, 7, 3)
    images["bgr8_33x17.jpg"] = smooth(rng, 17, 33, 3, 255).astype(np.uint8)
    images["grey8_33x17.jpg"] = smooth(rng, 17, 33, 1, 255).astype(np.uint8)[..., 0]
    for name, pixels in images.items():
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if name.endswith(".jpg") else []
        assert cv2.imwrite(os.path.join(out, name), pixels, params), name
    # Layouts OpenCV does not write: grey+alpha and palette PNGs (PIL).
    la = r8(5, 7, 2)
    Image.fromarray(la, mode="LA").save(os.path.join(out, "greyalpha8_7x5.png"))
    pal = Image.fromarray(r8(17, 33, 1)[..., 0] % 16, mode="P")
    pal.putpalette(list(r8(16, 1, 3).reshape(-1)) + [0] * (256 - 16) * 3)
    pal.save(os.path.join(out, "palette8_33x17.png"))
    names = sorted(list(images) + ["greyalpha8_7x5.png", "palette8_33x17.png"])
    for name in names:
        path = os.path.join(out, name)
        u = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        g = cv2.imread(path, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
        if u.ndim == 2:
            u = u[..., None]
        tensors[f"img.{name}.unchanged"] = u.astype(np.float32)  # exact: integers < 2^24
        tensors[f"img.{name}.grey"] = g.astype(np.float32)
        tensors[f"img.{name}.bits"] = np.array([16 if u.dtype == np.uint16 else 8], dtype=np.int64)

    # ---- masks ---------------------------------------------------------------------------------
    masks = {}
    m = np.zeros((17, 33), dtype=np.uint8)
    cv2.circle(m, (16, 8), 6, 255, -1)
    masks["mask_binary255.png"] = m
    masks["mask_multi.png"] = rng.integers(0, 4, (5, 7), dtype=np.uint8)
    masks["mask_multi16.png"] = rng.integers(0, 3, (5, 7), dtype=np.uint16)
    masks["mask_gap.png"] = np.array([[0, 1, 5], [0, 0, 1]], dtype=np.uint8)
    for name, values in masks.items():
        assert cv2.imwrite(os.path.join(out, name), values), name
        tensors[f"mask.{name}.values"] = values.astype(np.int64)
    # a 2-bit grey PNG (values 0..3), encoded by hand: OpenCV and PIL write no 2-bit grey
    two_bit = rng.integers(0, 4, (5, 7), dtype=np.uint8)
    with open(os.path.join(out, "mask_2bit.png"), "wb") as f:
        f.write(png_low_depth(two_bit, 2))
    tensors["mask.mask_2bit.png.values"] = two_bit.astype(np.int64)
    rgb_equal = rng.integers(0, 3, (5, 7), dtype=np.uint8)
    cv2.imwrite(os.path.join(out, "mask_rgb_equal.png"), np.repeat(rgb_equal[..., None], 3, axis=2))
    tensors["mask.mask_rgb_equal.png.values"] = rgb_equal.astype(np.int64)
    differ = np.repeat(rgb_equal[..., None], 3, axis=2)
    differ[2, 4] = (0, 1, 2)  # B, G, R as OpenCV writes: R=2, G=1, B=0 at row 2, column 4
    cv2.imwrite(os.path.join(out, "mask_rgb_differ.png"), differ)
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump({"background": 0, "csf": 1, "grey_matter": 2, "white_matter": 3}, f)
    # a truncated PNG: the first 60 bytes of bgr8_33x17.png
    with open(os.path.join(out, "bgr8_33x17.png"), "rb") as f:
        head = f.read(60)
    with open(os.path.join(out, "truncated.png"), "wb") as f:
        f.write(head)

    # ---- HC18 ----------------------------------------------------------------------------------
    hc = os.path.join(out, "hc18")
    shutil.rmtree(hc, ignore_errors=True)
    os.makedirs(os.path.join(hc, "training_set"))
    os.makedirs(os.path.join(hc, "test_set"))
    # (id, H, W, centre (x, y), semi-axes (a, b), angle deg, pixel size mm)
    frames = [
        ("000_HC", 70, 100, (50, 34), (36, 24), 10, 0.125),
        ("001_HC", 64, 90, (44, 31), (33, 22), -25, 0.15),
        ("001_2HC", 64, 90, (46, 30), (34, 23), 40, 0.15),
        ("002_HC", 80, 72, (35, 41), (26, 30), 0, 0.2),
    ]
    rows = ["filename,pixel size(mm),head circumference (mm)"]
    for fid, h, w, centre, axes, angle, ps in frames:
        img = smooth(rng, h, w, 1, 255).astype(np.uint8)[..., 0]
        cv2.imwrite(os.path.join(hc, "training_set", fid + ".png"), img)
        ann = np.zeros((h, w), dtype=np.uint8)
        cv2.ellipse(ann, centre, axes, angle, 0, 360, 255, thickness=1)
        cv2.imwrite(os.path.join(hc, "training_set", fid + "_Annotation.png"), ann)
        filled = scipy.ndimage.binary_fill_holes(ann > 0)
        tensors[f"hc18.{fid}.filled"] = filled.astype(np.uint8)
        tensors[f"hc18.{fid}.ellipse"] = np.array([*centre, *axes, angle], dtype=np.float64)
        tensors[f"hc18.{fid}.outline"] = np.array([int((ann > 0).sum())], dtype=np.int64)
        a, b = axes
        perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))  # Ramanujan
        rows.append(f"{fid}.png,{ps!r},{perimeter * ps:.2f}")
    with open(os.path.join(hc, "training_set_pixel_size_and_HC.csv"), "w", newline="") as f:
        f.write("\r\n".join(rows) + "\r\n")  # CRLF, as the published file
    test_rows = ["filename,pixel size(mm)"]
    for fid, ps in [("003_HC", 0.1), ("004_HC", 0.11)]:
        cv2.imwrite(os.path.join(hc, "test_set", fid + ".png"), smooth(rng, 40, 56, 1, 255).astype(np.uint8)[..., 0])
        test_rows.append(f"{fid}.png,{ps!r}")
    with open(os.path.join(hc, "test_set_pixel_size.csv"), "w", newline="") as f:
        f.write("\n".join(test_rows) + "\n")

    # an outline the left border cuts open: scipy fills nothing; fbseg fits an ellipse instead.
    # References: scipy's result (the bare outline) and the same ellipse drawn filled by OpenCV.
    ann = np.zeros((60, 80), dtype=np.uint8)
    cv2.ellipse(ann, (14, 30), (26, 17), 15, 0, 360, 255, thickness=1)
    cv2.imwrite(os.path.join(out, "open_Annotation.png"), ann)
    tensors["open.scipy"] = scipy.ndimage.binary_fill_holes(ann > 0).astype(np.uint8)
    full = np.zeros_like(ann)
    cv2.ellipse(full, (14, 30), (26, 17), 15, 0, 360, 255, thickness=-1)
    tensors["open.cv_filled"] = (full > 0).astype(np.uint8)

    save_file(tensors, os.path.join(out, "readers.safetensors"),
              metadata={"opencv_version": cv2.__version__, "scipy_version": scipy.__version__})
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: {total} bytes")


if __name__ == "__main__":
    main()
