#!/usr/bin/env python3
"""Side-by-side: fbseg's default augmentation pipeline and the same pipeline in Albumentations, on
one CPU thread, 256 x 256 float32 one-channel images with a label map, in one run.

  fbseg:           fbseg_bench --benchmark_filter=augment_(preset/default|step/...) (FBSEG_NUM_THREADS=1)
  Albumentations:  A.Compose of the same steps with the same probabilities and ranges
                   (cv2.setNumThreads(1), OMP/OPENBLAS threads 1), timed over --samples samples
and prints both rates (augmented samples per second, by wall-clock and by CPU time) and the ratio
fbseg / Albumentations.

The default preset (include/fbseg/data/augment/presets.hpp) and its Albumentations twin:
  hflip p .5            A.HorizontalFlip(p=.5)
  vflip p .5            A.VerticalFlip(p=.5)
  affine p .5           A.Affine(rotate=(-15, 15), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05),
                        INTER_LINEAR, mask INTER_NEAREST, BORDER_CONSTANT 0, p=.5)
  brightness_contrast   A.RandomBrightnessContrast(0.2, 0.2, p=.5)
  gamma p .3            A.RandomGamma((70, 150), p=.3) (x^gamma: not MONAI's min/max form, the same cost)
  gaussian_noise p .2   A.GaussNoise(std_range=(0, 0.03), p=.2)
Differences that favour Albumentations: its mask is uint8 (fbseg's label is int64, 8x the bytes).
Single transforms (p = 1) are compared too: affine, elastic (alpha 300, sigma 10, uniform noise,
approximate=False), grid distortion, Gaussian blur (sigma 1).

  python3 benchmarks/compare_albumentations.py [--bench build/release/benchmarks/fbseg_bench] [--samples 2000]
"""
import argparse
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [  # (fbseg benchmark name, Albumentations builder)
    ("augment_preset/default", "default"),
    ("augment_step/affine", "affine"),
    ("augment_step/elastic", "elastic"),
    ("augment_step/grid_distortion", "grid_distortion"),
    ("augment_step/gaussian_blur", "gaussian_blur"),
]


def albumentations_pipeline(name):
    import albumentations as A
    import cv2

    affine = dict(rotate=(-15, 15), scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), interpolation=cv2.INTER_LINEAR,
                  mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0)
    if name == "default":
        steps = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), A.Affine(p=0.5, **affine),
                 A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
                 A.RandomGamma(gamma_limit=(70, 150), p=0.3), A.GaussNoise(std_range=(0.0, 0.03), p=0.2)]
    elif name == "affine":
        steps = [A.Affine(p=1.0, **affine)]
    elif name == "elastic":
        steps = [A.ElasticTransform(alpha=300, sigma=10, noise_distribution="uniform", approximate=False,
                                    interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                                    border_mode=cv2.BORDER_CONSTANT, p=1.0)]
    elif name == "grid_distortion":
        steps = [A.GridDistortion(num_steps=5, distort_limit=0.3, interpolation=cv2.INTER_LINEAR,
                                  mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, p=1.0)]
    elif name == "gaussian_blur":
        steps = [A.GaussianBlur(sigma_limit=(1.0, 1.0), blur_limit=0, p=1.0)]
    else:
        raise ValueError(name)
    return A.Compose(steps, seed=1234)


def bench_sample():
    import numpy as np

    n = 256
    r, c = np.mgrid[0:n, 0:n].astype(np.float64)
    img = (0.5 + 0.4 * np.sin(r / 17.0) * np.cos(c / 23.0)).astype(np.float32)
    d = np.hypot(r - 120, c - 136)
    mask = np.select([d < 40, d < 70, d < 100], [3, 2, 1], 0).astype(np.uint8)
    return img, mask


def albumentations_rate(name, samples):
    import cv2

    cv2.setNumThreads(1)
    pipe = albumentations_pipeline(name)
    img, mask = bench_sample()
    for _ in range(20):  # warm-up
        pipe(image=img, mask=mask)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(samples):
        out = pipe(image=img, mask=mask)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    assert out["image"].shape == img.shape
    return samples / dt, samples / dc


def fbseg_rates(bench):
    env = dict(os.environ, FBSEG_NUM_THREADS="1")
    names = "|".join(case for case, _ in CASES)
    out = subprocess.run([bench, f"--benchmark_filter=^({names})(/real_time)?$", "--benchmark_format=json",
                          "--benchmark_min_time=0.5"], env=env, check=True, capture_output=True, text=True).stdout
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        assert b["time_unit"] == "us", b["time_unit"]
        rates[b["name"].removesuffix("/real_time")] = (1e6 / b["real_time"], 1e6 / b["cpu_time"])
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "release", "benchmarks", "fbseg_bench"))
    ap.add_argument("--samples", type=int, default=2000)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"

    import albumentations as A

    fb = fbseg_rates(args.bench)
    print(f"one thread, 256 x 256 float32 image + label, albumentations {A.__version__}")
    print("samples/s by wall-clock time (and by CPU time, which a busy machine disturbs less)")
    print(f"{'case':<30}{'fbseg':>16}{'albumentations':>22}{'ratio':>14}")
    for case, alb in CASES:
        a = albumentations_rate(alb, args.samples if alb == "default" else max(args.samples // 4, 100))
        f = fb.get(case, (float("nan"), float("nan")))
        print(f"{case:<30}{f[0]:>7.0f} ({f[1]:>6.0f}){a[0]:>12.0f} ({a[1]:>6.0f}){f[0] / a[0]:>7.2f} ({f[1] / a[1]:.2f})")


if __name__ == "__main__":
    main()
