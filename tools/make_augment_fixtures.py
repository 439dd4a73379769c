#!/usr/bin/env python3
"""Generates tests/fixtures/augment.safetensors: reference outputs of OpenCV, Albumentations and
MONAI for fbseg's deterministic augmentation functions (include/fbseg/data/augment/), read by
tests/test_augment.cpp.

The input is one smooth float32 image "img" [H, W] = [32, 40] (sines and a Gaussian blob, values
in [0, 1]) and a multi-class label map "label" [32, 40] (blocks of the values 0..7, uint8). Keys:
  flip.h, flip.v              cv2.flip(img, 1), cv2.flip(img, 0)
  affine.M                    the forward 2x3 matrix (float64) given to warpAffine
  affine.rot                  cv2.getRotationMatrix2D(((W-1)/2, (H-1)/2), 17, 1.1)
  affine.const / .reflect     cv2.warpAffine(img, M, (W, H), INTER_LINEAR, BORDER_CONSTANT value
                              0.25 / BORDER_REFLECT_101)
  affine.label                cv2.warpAffine(label, M, (W, H), INTER_NEAREST, BORDER_CONSTANT 0)
  resize.up / .down           cv2.resize(img, (51, 45) / (23, 17), INTER_LINEAR)
  resize.up_label/.down_label cv2.resize(label, ..., INTER_NEAREST_EXACT)
  blur.s13 / .s27             cv2.GaussianBlur(img, (0, 0), 1.3 / 2.7) (BORDER_REFLECT_101)
  blur.kernel13               cv2.getGaussianKernel(11, 1.3, CV_32F)
  bc                          Albumentations RandomBrightnessContrast.apply(img, alpha=1.4,
                              beta=0.15) (albucore.multiply_add, clipped to [0, 1])
  gamma                       MONAI AdjustContrast(gamma=1.7)(img[None])[0]
  bias.coeffs, bias           MONAI RandBiasField(degree=3): _generate_random_field((H, W), 3,
                              coeffs) applied as img * exp(field)
  elastic.noise [2, H, W]     uniform(-1, 1) noise; elastic.map_x/.map_y: Albumentations'
                              recipe on each field separately (cv2.GaussianBlur((0, 0), sigma=3,
                              BORDER_REPLICATE) * alpha=5 + the identity grid)
  grid.steps_x/.steps_y       1 + U(-0.3, 0.3), num_steps = 4; grid.map_x/.map_y:
                              fgeometric.normalize_grid_distortion_steps + generate_grid

    python3 tools/make_augment_fixtures.py [--out tests/fixtures/augment.safetensors]

Versions: tools/requirements.txt (opencv-python-headless, albumentations, monai, numpy, torch,
safetensors).
"""

from __future__ import annotations

import argparse
import os

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.augmentations.geometric import functional as fgeometric
from monai.transforms import AdjustContrast, RandBiasField
from safetensors.numpy import save_file

H, W = 32, 40


def make_image() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    v = 0.35 + 0.2 * np.sin(x / 4.0) * np.cos(y / 5.0) + 0.4 * np.exp(-((x - 24) ** 2 + (y - 12) ** 2) / 60.0)
    return np.clip(v, 0, 1).astype(np.float32)


def make_label() -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    rng = np.random.default_rng(5)
    for v in range(1, 8):
        r0, c0 = rng.integers(0, H - 8), rng.integers(0, W - 8)
        lab[r0:r0 + rng.integers(5, 12), c0:c0 + rng.integers(5, 14)] = v
    return lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "augment.safetensors"))
    args = ap.parse_args()

    img, label = make_image(), make_label()
    out: dict[str, np.ndarray] = {"img": img, "label": label}
    out["flip.h"] = cv2.flip(img, 1)
    out["flip.v"] = cv2.flip(img, 0)

    # Affine: rotation 17 deg, scale 1.1 about the centre, a shear and a shift.
    rot = cv2.getRotationMatrix2D(((W - 1) / 2, (H - 1) / 2), 17.0, 1.1)
    out["affine.rot"] = rot.astype(np.float64)
    m = rot.copy()
    m[0, 1] += 0.12
    m[1, 0] -= 0.05
    m[:, 2] += [1.7, -2.3]
    out["affine.M"] = m
    out["affine.const"] = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                         borderValue=0.25)
    out["affine.reflect"] = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    out["affine.label"] = cv2.warpAffine(label, m, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                         borderValue=0)

    # Resize (dsize is (width, height)).
    out["resize.up"] = cv2.resize(img, (51, 45), interpolation=cv2.INTER_LINEAR)
    out["resize.down"] = cv2.resize(img, (23, 17), interpolation=cv2.INTER_LINEAR)
    out["resize.up_label"] = cv2.resize(label, (51, 45), interpolation=cv2.INTER_NEAREST_EXACT)
    out["resize.down_label"] = cv2.resize(label, (23, 17), interpolation=cv2.INTER_NEAREST_EXACT)

    out["blur.s13"] = cv2.GaussianBlur(img, (0, 0), 1.3)
    out["blur.s27"] = cv2.GaussianBlur(img, (0, 0), 2.7)
    out["blur.kernel13"] = cv2.getGaussianKernel(11, 1.3, ktype=cv2.CV_32F).reshape(-1)

    bc = A.RandomBrightnessContrast(p=1.0)
    out["bc"] = np.asarray(bc.apply(img, alpha=1.4, beta=0.15), np.float32)

    out["gamma"] = np.asarray(AdjustContrast(gamma=1.7)(torch.from_numpy(img[None].copy()))[0], np.float32)

    coeffs = np.array([0.05, -0.08, 0.03, 0.1, 0.02, -0.04, 0.07, 0.01, -0.06, 0.09])
    field = RandBiasField(degree=3)._generate_random_field((H, W), 3, coeffs.tolist())
    out["bias.coeffs"] = coeffs
    out["bias"] = (img * np.exp(field)).astype(np.float32)

    rng = np.random.default_rng(11)
    noise = rng.uniform(-1, 1, size=(2, H, W)).astype(np.float32)
    out["elastic.noise"] = noise
    alpha, sigma = 5.0, 3.0
    fields = [cv2.GaussianBlur(noise[i].copy(), (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) * alpha for i in range(2)]
    xx, yy = np.meshgrid(np.arange(W), np.arange(H))
    out["elastic.map_x"] = (xx + fields[0]).astype(np.float32)
    out["elastic.map_y"] = (yy + fields[1]).astype(np.float32)

    num_steps = 4
    steps_x = [1 + v for v in rng.uniform(-0.3, 0.3, num_steps + 1)]
    steps_y = [1 + v for v in rng.uniform(-0.3, 0.3, num_steps + 1)]
    out["grid.steps_x"] = np.array(steps_x)
    out["grid.steps_y"] = np.array(steps_y)
    norm = fgeometric.normalize_grid_distortion_steps((H, W), num_steps, list(steps_x), list(steps_y))
    map_x, map_y = fgeometric.generate_grid((H, W), list(norm["steps_x"]), list(norm["steps_y"]), num_steps)
    out["grid.map_x"] = map_x.astype(np.float32)
    out["grid.map_y"] = map_y.astype(np.float32)

    out = {k: np.ascontiguousarray(v) for k, v in out.items()}
    meta = {"opencv": cv2.__version__, "albumentations": A.__version__, "monai": __import__("monai").__version__}
    save_file(out, args.out, metadata=meta)
    print(f"wrote {args.out}: {len(out)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
