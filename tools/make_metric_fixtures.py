#!/usr/bin/env python3
"""Generates tests/fixtures/metrics.safetensors: reference values for fbseg's metrics
(include/fbseg/metrics/), read by tests/test_metrics.cpp.

Segmentation cases ("seg<k>.*"): pairs of label maps (2D and 3D, binary and multi-class; random,
ellipses, rings, two blobs, masks on the image border, empty masks) with their spacing and, per
class of "seg<k>.classes":
  .dice              MONAI's Dice (DiceMetric's DiceHelper.compute_channel, default
                     ignore_empty=True) on float64 one-hot tensors, in float64; checked against
                     DiceMetric(include_background=True, reduction="none")'s float32 output
  .hd95_monai        MONAI compute_hausdorff_distance(percentile=95, directed=False, spacing=...)
  .assd_monai        MONAI compute_average_surface_distance(symmetric=True, spacing=...)
                     (both float32 inside MONAI: its surface distances are cast to float32)
  .hd95, .assd       the same algorithm in float64: MONAI's own get_mask_edges, scipy's KDTree
                     distances between the scaled edge coordinates (MONAI's CPU path), then
                     numpy.percentile(.., 95) ("linear") and the mean of both directed sets; NaN
                     where a mask is empty (MONAI itself gives NaN for HD95 and inf for ASSD when
                     one mask is empty, NaN when both are: kept in .hd95_monai/.assd_monai)
Ellipse cases ("ell<k>.*"): filled ellipses drawn with cv2.ellipse on HC18-sized 540 x 800 images
(stored as one [first, last] column run per row: a filled ellipse is convex), some with a hole and
an extra blob; .true = [cx, cy, a, b, angle_deg] as drawn; .contour = cv2.findContours(RETR_EXTERNAL,
CHAIN_APPROX_NONE) points of the largest contour (x, y); .cv_fit and .cv_direct = cv2.fitEllipse and
cv2.fitEllipseDirect on it as [cx, cy, a, b, angle_rad] (a >= b, angle of the a-axis from +x
towards +y in [0, pi)); .pixel_size; .hc_cv = Ramanujan's perimeter of .cv_fit in mm.
Point-fit cases ("pts<k>.*"): noisy points of known ellipses (float32 values) with
cv2.fitEllipseDirect's fit.

    python3 tools/make_metric_fixtures.py [--out tests/fixtures/metrics.safetensors]

The values are reproducible (seeded); the order of the metadata entries in the file header may
differ between runs (the safetensors writer does not sort them).

Versions: tools/requirements.txt (monai, opencv-python-headless, scipy, numpy, torch, safetensors).
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

import cv2
import monai
import numpy as np
import scipy
import torch
from monai.metrics import DiceMetric, compute_average_surface_distance, compute_hausdorff_distance
from monai.metrics.meandice import DiceHelper
from monai.metrics.utils import get_mask_edges
from safetensors.numpy import save_file
from scipy.spatial import KDTree

REPO = Path(__file__).resolve().parent.parent
MAX_BYTES = 300_000

warnings.filterwarnings("ignore")  # MONAI warns on every empty mask; the fixture records them


def ellipse_mask(shape, center, axes, angle_deg):
    """A filled ellipse (2D) with float centre/axes, by the implicit equation at pixel centres."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    t = math.radians(angle_deg)
    u = (xx - center[0]) * math.cos(t) + (yy - center[1]) * math.sin(t)
    v = -(xx - center[0]) * math.sin(t) + (yy - center[1]) * math.cos(t)
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1.0


def ellipsoid(shape, center, radii):
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]].astype(np.float64)
    return ((zz - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2 + ((xx - center[2]) / radii[2]) ** 2 <= 1


def seg_cases(rng):
    """(name, pred, ref, spacing, classes) with integer label maps."""
    cases = []
    s = (48, 64)
    a = ellipse_mask(s, (30, 22), (20, 12), 25)
    b = ellipse_mask(s, (33, 24), (18, 13), 40)
    cases.append(("ellipses", a, b, [0.7, 0.3], [1]))
    ring = ellipse_mask(s, (32, 24), (18, 16), 0) & ~ellipse_mask(s, (32, 24), (9, 8), 0)
    disc = ellipse_mask(s, (31, 23), (17, 15), 10)
    cases.append(("ring_vs_disc", ring, disc, [1.0, 1.0], [1]))
    two = ellipse_mask(s, (14, 14), (8, 6), 0) | ellipse_mask(s, (48, 34), (9, 7), 30)
    one = ellipse_mask(s, (15, 15), (9, 6), 5)
    cases.append(("two_blobs_vs_one", two, one, [0.5, 0.5], [1]))
    noise_p = rng.random((24, 30)) < 0.35
    noise_r = rng.random((24, 30)) < 0.35
    cases.append(("random", noise_p, noise_r, [1.3, 0.6], [1]))
    border = np.zeros(s, bool)
    border[0:20, 0:30] = True  # touches the image border
    border2 = np.zeros(s, bool)
    border2[3:25, 0:26] = True
    cases.append(("border", border, border2, [1.0, 2.0], [1]))
    empty = np.zeros(s, bool)
    cases.append(("empty_pred", empty, a, [1.0, 1.0], [1]))
    cases.append(("empty_ref", a, empty, [1.0, 1.0], [1]))
    cases.append(("both_empty", empty, empty, [1.0, 1.0], [1]))
    single_p = np.zeros((9, 9), bool)
    single_p[4, 4] = True
    single_r = np.zeros((9, 9), bool)
    single_r[1, 6] = True
    cases.append(("single_voxels", single_p, single_r, [2.0, 0.5], [1]))
    # 3D, anisotropic spacing (thick slices)
    s3 = (12, 40, 36)
    p3 = ellipsoid(s3, (5.5, 19, 17), (4.5, 14, 12))
    r3 = ellipsoid(s3, (6.2, 21, 16), (4.0, 13, 13))
    cases.append(("ellipsoids_3d", p3, r3, [3.0, 0.8, 0.5], [1]))
    rp = rng.random((8, 14, 12)) < 0.3
    rr = rng.random((8, 14, 12)) < 0.3
    cases.append(("random_3d", rp, rr, [2.5, 1.0, 0.7], [1]))
    # multi-class label maps: 1 = head, 2 = brain inside it, 3 = absent in the reference
    lp = np.zeros(s, np.int64)
    lp[ellipse_mask(s, (32, 24), (24, 18), 15)] = 1
    lp[ellipse_mask(s, (31, 24), (14, 10), 15)] = 2
    lp[40:44, 2:6] = 3
    lr = np.zeros(s, np.int64)
    lr[ellipse_mask(s, (33, 25), (23, 18), 20)] = 1
    lr[ellipse_mask(s, (33, 25), (13, 11), 20)] = 2
    cases.append(("multiclass", lp, lr, [0.6, 0.6], [1, 2, 3]))
    l3p = np.zeros(s3, np.int64)
    l3p[p3] = 1
    l3p[ellipsoid(s3, (5.5, 19, 17), (2.5, 7, 6))] = 2
    l3r = np.zeros(s3, np.int64)
    l3r[r3] = 1
    l3r[ellipsoid(s3, (6, 20, 16), (2.0, 6, 7))] = 2
    cases.append(("multiclass_3d", l3p, l3r, [3.0, 0.8, 0.5], [1, 2]))
    return cases


def onehot(label_map, classes, dtype):
    return torch.tensor(np.stack([label_map == c for c in classes])[None].astype(dtype))


def f64_surface(pred, ref, spacing):
    """MONAI's algorithm in float64: (hd95, assd), NaN when a mask is empty."""
    if not pred.any() or not ref.any():
        return math.nan, math.nan
    ep, er = get_mask_edges(pred, ref)  # numpy in, numpy out (crop=True, as MONAI's metrics)
    sc = np.asarray(spacing, np.float64)
    cp = np.argwhere(ep).astype(np.float64) * sc
    cr = np.argwhere(er).astype(np.float64) * sc
    d_pr = KDTree(cr, leafsize=32).query(cp, k=1)[0]
    d_rp = KDTree(cp, leafsize=32).query(cr, k=1)[0]
    hd95 = max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))
    assd = np.concatenate([d_pr, d_rp]).mean()
    return float(hd95), float(assd)


def to_ours(rect):
    """cv2 RotatedRect ((cx, cy), (w, h), angle_deg) -> [cx, cy, a, b, angle_rad] (a >= b)."""
    (cx, cy), (w, h), ang = rect
    if w >= h:
        a, b, t = w / 2, h / 2, ang
    else:
        a, b, t = h / 2, w / 2, ang + 90.0
    t = math.radians(t % 180.0)
    return [cx, cy, a, b, t]


def ramanujan(a, b):
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def runs_of(mask):
    """[H, 2] int32: first and last column of the single run of each row, -1 -1 for empty rows."""
    out = np.full((mask.shape[0], 2), -1, np.int32)
    for r in range(mask.shape[0]):
        cols = np.flatnonzero(mask[r])
        if cols.size:
            assert cols[-1] - cols[0] + 1 == cols.size, "not one run per row"
            out[r] = [cols[0], cols[-1]]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "tests/fixtures/metrics.safetensors"))
    args = ap.parse_args()
    rng = np.random.default_rng(20240806)
    t = {}
    meta = {
        "monai": monai.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
        "scipy": scipy.__version__, "torch": torch.__version__,
    }
    worst = {"hd95": 0.0, "assd": 0.0}
    names = []
    for k, (name, pred, ref, spacing, classes) in enumerate(seg_cases(rng)):
        key = f"seg{k}"
        names.append(name)
        pred, ref = pred.astype(np.uint8), ref.astype(np.uint8)  # label maps stored as uint8 (small)
        t[f"{key}.pred"], t[f"{key}.ref"] = pred, ref
        t[f"{key}.spacing"] = np.asarray(spacing, np.float64)
        t[f"{key}.classes"] = np.asarray(classes, np.int64)
        # DiceMetric's own per-channel function in float64 (DiceMetric itself returns float32:
        # its stacking of per-channel results casts); the float32 result is checked to agree
        helper = DiceHelper(include_background=True, reduction="none", get_not_nans=False, apply_argmax=False)
        yp64, yr64 = onehot(pred, classes, np.float64), onehot(ref, classes, np.float64)
        dice = np.asarray([helper.compute_channel(yp64[0, i] > 0.5, yr64[0, i]).item() for i in range(len(classes))])
        dice32 = DiceMetric(include_background=True, reduction="none")(yp64, yr64)[0].numpy()
        assert np.allclose(dice, dice32, rtol=1e-6, atol=1e-7, equal_nan=True), (name, dice, dice32)
        t[f"{key}.dice"] = dice
        yp, yr = onehot(pred, classes, np.float32), onehot(ref, classes, np.float32)
        hd = compute_hausdorff_distance(yp, yr, include_background=True, percentile=95, spacing=spacing)
        asd = compute_average_surface_distance(yp, yr, include_background=True, symmetric=True, spacing=spacing)
        t[f"{key}.hd95_monai"] = hd[0].numpy().astype(np.float64)
        t[f"{key}.assd_monai"] = asd[0].numpy().astype(np.float64)
        h64, a64 = zip(*[f64_surface(pred == c, ref == c, spacing) for c in classes])
        t[f"{key}.hd95"], t[f"{key}.assd"] = np.asarray(h64), np.asarray(a64)
        for mine, theirs, m in ((h64, t[f"{key}.hd95_monai"], "hd95"), (a64, t[f"{key}.assd_monai"], "assd")):
            for x, y in zip(mine, theirs):
                if math.isfinite(x) and math.isfinite(y):
                    worst[m] = max(worst[m], abs(x - y) / max(1.0, abs(y)))
                else:  # MONAI's NaN/inf for an empty mask; ours is NaN
                    assert math.isnan(x) and not math.isfinite(y), (name, m, x, y)
        print(f"{key} {name}: dice {np.round(t[key + '.dice'], 6)} hd95 {np.round(h64, 6)} "
              f"(monai {np.round(t[key + '.hd95_monai'], 6)}) assd {np.round(a64, 6)}")
    print(f"float64 replication vs MONAI (float32): max |diff|/max(1,|monai|) hd95 {worst['hd95']:.3g}, "
          f"assd {worst['assd']:.3g}")
    meta["seg_cases"] = json.dumps(names)

    # ellipses on HC18-sized images (H 540, W 800), cv2.ellipse (integer params)
    ell = [  # (cx, cy, a, b, angle_deg, pixel_size, extras)
        (400, 270, 300, 220, 0, 0.10, False),
        (390, 260, 250, 180, 30, 0.15, False),
        (410, 280, 180, 150, 75, 0.20, False),
        (380, 250, 120, 100, 135, 0.25, False),
        (300, 200, 40, 25, 160, 0.30, False),
        (420, 265, 230, 170, 110, 0.12, True),  # with a hole and a second, smaller blob
    ]
    ell_worst = {}
    for k, (cx, cy, a, b, ang, px, extras) in enumerate(ell):
        key = f"ell{k}"
        img = np.zeros((540, 800), np.uint8)
        cv2.ellipse(img, (cx, cy), (a, b), ang, 0, 360, 255, -1)
        full = img.copy()
        t[f"{key}.runs"] = runs_of(full > 0)
        if extras:
            t[f"{key}.hole"] = np.asarray([cx - 20, cy - 10, cx + 20, cy + 10], np.int32)  # x0 y0 x1 y1 zeroed
            t[f"{key}.blob"] = np.asarray([40, 30, 90, 60], np.int32)                       # x0 y0 x1 y1 set
            img[cy - 10 : cy + 11, cx - 20 : cx + 21] = 0
            img[30:61, 40:91] = 255
        contours, _ = cv2.findContours(img, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        c = max(contours, key=cv2.contourArea)
        pts = c[:, 0, :].astype(np.int32)
        t[f"{key}.contour"] = pts
        fit = to_ours(cv2.fitEllipse(c))
        direct = to_ours(cv2.fitEllipseDirect(c))
        t[f"{key}.cv_fit"] = np.asarray(fit, np.float64)
        t[f"{key}.cv_direct"] = np.asarray(direct, np.float64)
        t[f"{key}.true"] = np.asarray([cx, cy, a, b, ang], np.float64)
        t[f"{key}.pixel_size"] = np.asarray([px], np.float64)
        t[f"{key}.hc_cv"] = np.asarray([ramanujan(fit[2] * px, fit[3] * px)], np.float64)
        t[f"{key}.hc_true"] = np.asarray([ramanujan(a * px, b * px)], np.float64)
        ell_worst[key] = [round(x - y, 4) for x, y in zip(fit[:4], [cx, cy, a, b])]
        print(f"{key}: true {[cx, cy, a, b, ang]} cv_fit {np.round(fit, 4)} direct {np.round(direct, 4)} "
              f"points {len(pts)} HC cv {t[key + '.hc_cv'][0]:.4f} true {t[key + '.hc_true'][0]:.4f} mm")
    # points of known ellipses with noise, float32 values
    for k, (cx, cy, a, b, ang, noise, n) in enumerate([(10.0, -4.0, 7.0, 3.0, 20.0, 0.05, 50),
                                                       (250.0, 310.0, 90.0, 60.0, 123.0, 0.8, 200),
                                                       (0.5, 0.25, 1.0, 0.9, 80.0, 0.002, 12)]):
        s = rng.uniform(0, 2 * math.pi, n)
        tt = math.radians(ang)
        x = cx + a * np.cos(s) * math.cos(tt) - b * np.sin(s) * math.sin(tt) + rng.normal(0, noise, n)
        y = cy + a * np.cos(s) * math.sin(tt) + b * np.sin(s) * math.cos(tt) + rng.normal(0, noise, n)
        p = np.stack([x, y], 1).astype(np.float32)
        t[f"pts{k}.points"] = p.astype(np.float64)
        t[f"pts{k}.cv_direct"] = np.asarray(to_ours(cv2.fitEllipseDirect(p)), np.float64)
        t[f"pts{k}.true"] = np.asarray([cx, cy, a, b, ang], np.float64)
        print(f"pts{k}: true {[cx, cy, a, b, ang]} direct {np.round(t[f'pts{k}.cv_direct'], 5)}")

    t = {k: np.ascontiguousarray(v) for k, v in t.items()}
    save_file(t, args.out, metadata=meta)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {len(t)} tensors, {size} bytes")
    assert size < MAX_BYTES, f"fixture too large: {size} bytes"


if __name__ == "__main__":
    main()
