#!/usr/bin/env python3
"""Writes the NIfTI fixtures of tests/test_nifti.cpp (tests/fixtures/nifti/) with nibabel, and
nibabel's own reading of them (get_fdata() values, img.affine, zooms) into
tests/fixtures/nifti/reference.safetensors, so the C++ test compares fbseg's reader with nibabel.

    python3 tools/make_nifti_fixtures.py        # rerun to regenerate; output is deterministic

Files (volumes of shape (i, j, k) = (5, 4, 3) unless said otherwise):
  dt_<type>.nii          every supported datatype, little-endian NIfTI-1
  be_<type>.nii[.gz]     big-endian (nibabel header .as_byteswapped('>'))
  n2_*.nii[.gz]          NIfTI-2, both byte orders
  scaled.nii.gz          int16 with scl_slope 0.5, scl_inter -10 (patched into the header bytes)
  slope_zero.nii         scl_slope 0, scl_inter 5: "no scaling" (the standard, nibabel)
  four_d.nii.gz          (5, 4, 3, 3) int16, pixdim[4] = 2.5
  oblique.nii            sform_code 2 (an oblique affine) and a different qform (code 1)
  qform_only.nii.gz      qform_code 1, sform_code 0
  no_xform.nii           qform_code 0 and sform_code 0 (the standard's method 1)
  pixdim_zero.nii        pixdim[2] = 0: spacing unknown
  unsupported_int64.nii, unsupported_complex64.nii   refused datatypes
  labels_feta.nii.gz     uint8 labels 0..7 (FeTA's seven tissues)
  labels_nine.nii.gz     uint8 labels with a 9 at voxel (i, j, k) = (2, 1, 0)
  labels_half.nii        float32 labels with 2.5 at voxel (4, 3, 2)
  bids/                  a BIDS/FeTA tree: sub-001 and sub-002 (with ses-01) T2w + dseg
  bids_missing/          sub-001 complete, sub-002 without its dseg
  bids_mismatch/         sub-001 whose dseg has another shape, sub-002 whose dseg has another affine
reference.safetensors holds, per file NAME: NAME.data (float64 get_fdata(), nibabel's [i, j, k]
axis order), NAME.affine (float64 4x4 img.affine), NAME.zooms (float64 header zooms); for
no_xform also no_xform.method1 (diag(pixdim[1..3]), the standard's method 1); and the
normalisation reference norm.input / norm.clip / norm.mean / norm.std / norm.out and
norm.mask_* (numpy float64: np.percentile linear, np.std ddof 0).
"""
import gzip
import os
import struct
import sys

import nibabel as nib
import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nifti")
SHAPE = (5, 4, 3)
refs = {}


def affine_oblique():
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = rot @ np.diag([0.8, 0.6, 3.5])
    a[:3, 3] = [-12.5, 20.25, -7.0]
    return a


def base_affine(zooms=(0.8, 0.6, 3.5), offset=(-10.0, 5.0, 2.5)):
    a = np.diag(list(zooms) + [1.0])
    a[:3, 3] = offset
    return a


def values(dtype, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        v = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64)
        flat = v.reshape(-1)
        flat[0], flat[1] = info.min, info.max  # the extremes
        return v.astype(dt)
    v = rng.normal(0, 1000, size=shape).astype(dt)
    v.reshape(-1)[0] = 1.0e38  # near float32's largest
    v.reshape(-1)[1] = 1.0 / 3.0  # rounded to float32 when stored as float64
    return v


def record(name, path, extra_method1=False):
    img = nib.load(path)
    refs[name + ".data"] = np.ascontiguousarray(img.get_fdata(dtype=np.float64))
    refs[name + ".affine"] = np.ascontiguousarray(img.affine.astype(np.float64))
    refs[name + ".zooms"] = np.asarray(img.header.get_zooms(), dtype=np.float64)
    if extra_method1:
        refs[name + ".method1"] = np.diag(list(np.asarray(img.header["pixdim"][1:4], dtype=np.float64)) + [1.0])


def save(img, name, fname=None):
    path = os.path.join(ROOT, fname or name)
    nib.save(img, path)
    return path


def nifti1(data, affine, endian="<", cls=nib.Nifti1Image, qform_code=1, sform_code=1):
    hdr = cls.header_class(endianness=endian)
    img = cls(data, affine, hdr)
    img.set_qform(affine, code=qform_code)
    img.set_sform(affine, code=sform_code)
    img.header.set_data_dtype(data.dtype.newbyteorder(endian) if data.dtype.itemsize > 1 else data.dtype)
    return img


def patch_header(path, fmt, offset, value):
    """Writes `value` (struct format fmt, little-endian file) at `offset` of a .nii / .nii.gz file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = bytearray(f.read())
    struct.pack_into("<" + fmt, raw, offset, value)
    if path.endswith(".gz"):
        with open(path, "wb") as f:
            f.write(gzip.compress(bytes(raw), mtime=0))
    else:
        with open(path, "wb") as f:
            f.write(raw)


def gz_deterministic(path):
    """Recompresses a .nii.gz with mtime 0 so reruns give identical bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, mtime=0))


def main():
    os.makedirs(ROOT, exist_ok=True)
    aff = base_affine()

    for i, t in enumerate(["uint8", "int8", "int16", "uint16", "int32", "float32", "float64"]):
        name = f"dt_{t}.nii"
        p = save(nifti1(values(t, seed=i), aff), name)
        record(name, p)

    for i, (t, ext) in enumerate([("int16", ".nii"), ("uint16", ".nii.gz"), ("int32", ".nii"), ("float32", ".nii.gz"),
                                  ("float64", ".nii")]):
        name = f"be_{t}{ext}"
        p = save(nifti1(values(t, seed=10 + i), aff, endian=">"), name)
        if p.endswith(".gz"):
            gz_deterministic(p)
        assert nib.load(p).header.endianness == ">"
        record(name, p)

    for i, (t, endian, ext) in enumerate([("float32", "<", ".nii"), ("int16", ">", ".nii.gz"), ("uint8", "<", ".nii.gz")]):
        name = f"n2_{t}{ext}"
        p = save(nifti1(values(t, seed=20 + i), affine_oblique(), endian=endian, cls=nib.Nifti2Image), name)
        if p.endswith(".gz"):
            gz_deterministic(p)
        assert nib.load(p).header.sizeof_hdr == 540
        record(name, p)

    # scl_slope at byte 112, scl_inter at 116 of a NIfTI-1 header.
    p = save(nifti1(values("int16", seed=30), aff), "scaled.nii.gz")
    patch_header(p, "f", 112, 0.5)
    patch_header(p, "f", 116, -10.0)
    assert nib.load(p).dataobj.slope == 0.5
    record("scaled.nii.gz", p)
    p = save(nifti1(values("int16", seed=31), aff), "slope_zero.nii")
    patch_header(p, "f", 112, 0.0)
    patch_header(p, "f", 116, 5.0)
    record("slope_zero.nii", p)

    img = nifti1(values("int16", shape=SHAPE + (3,), seed=40), aff)
    img.header.set_zooms((0.8, 0.6, 3.5, 2.5))
    p = save(img, "four_d.nii.gz")
    gz_deterministic(p)
    record("four_d.nii.gz", p)

    img = nifti1(values("float32", seed=50), affine_oblique(), sform_code=2)
    img.set_qform(base_affine((0.8, 0.6, 3.5), (1.0, 2.0, 3.0)), code=1)
    p = save(img, "oblique.nii")
    record("oblique.nii", p)
    img = nifti1(values("float32", seed=51), aff, qform_code=1, sform_code=0)
    img.set_qform(affine_oblique(), code=1)
    p = save(img, "qform_only.nii.gz")
    gz_deterministic(p)
    record("qform_only.nii.gz", p)
    img = nifti1(values("int16", seed=52), aff, qform_code=0, sform_code=0)
    p = save(img, "no_xform.nii")
    record("no_xform.nii", p, extra_method1=True)
    p = save(nifti1(values("int16", seed=53), aff), "pixdim_zero.nii")
    patch_header(p, "f", 76 + 2 * 4, 0.0)  # pixdim[2] (pixdim starts at byte 76)
    record("pixdim_zero.nii", p)

    save(nib.Nifti1Image(np.arange(60, dtype=np.int64).reshape(SHAPE), aff, dtype=np.int64), "unsupported_int64.nii")
    save(nib.Nifti1Image(np.ones(SHAPE, dtype=np.complex64), aff), "unsupported_complex64.nii")

    rng = np.random.default_rng(60)
    lab = rng.integers(0, 8, size=SHAPE).astype(np.uint8)
    p = save(nifti1(lab, aff), "labels_feta.nii.gz")
    gz_deterministic(p)
    record("labels_feta.nii.gz", p)
    lab9 = lab.copy()
    lab9[2, 1, 0] = 9
    p = save(nifti1(lab9, aff), "labels_nine.nii.gz")
    gz_deterministic(p)
    labh = lab.astype(np.float32)
    labh[4, 3, 2] = 2.5
    save(nifti1(labh, aff), "labels_half.nii")

    # BIDS / FeTA trees. Images (i, j, k) = (6, 5, 4) float32, spacing (0.8, 0.6, 3.5) mm; labels 0..7
    # with slice k = 0 empty (all background) in sub-001 (the dataset's skip-empty option).
    def bids_subject(root, sub, ses=None, dseg=True, dseg_shape=None, dseg_affine=None, seed=0):
        parts = [root, sub] + ([ses] if ses else []) + ["anat"]
        d = os.path.join(*parts)
        os.makedirs(d, exist_ok=True)
        stem = sub + (f"_{ses}" if ses else "") + "_rec-mial"
        r = np.random.default_rng(seed)
        shape = (6, 5, 4)
        im = r.normal(300, 80, size=shape).astype(np.float32)
        p = os.path.join(d, stem + "_T2w.nii.gz")
        nib.save(nifti1(im, aff), p)
        gz_deterministic(p)
        if dseg:
            lb = r.integers(0, 8, size=dseg_shape or shape).astype(np.uint8)
            lb[:, :, 0] = 0
            q = os.path.join(d, stem + "_dseg.nii.gz")
            nib.save(nifti1(lb, aff if dseg_affine is None else dseg_affine), q)
            gz_deterministic(q)
            return p, q
        return p, None

    b = os.path.join(ROOT, "bids")
    for sub, ses, seed in [("sub-001", None, 70), ("sub-002", "ses-01", 71)]:
        p, q = bids_subject(b, sub, ses, seed=seed)
        name = "bids_" + sub
        record(name + ".T2w", p)
        record(name + ".dseg", q)
    bm = os.path.join(ROOT, "bids_missing")
    bids_subject(bm, "sub-001", seed=72)
    bids_subject(bm, "sub-002", dseg=False, seed=73)
    bx = os.path.join(ROOT, "bids_mismatch")
    bids_subject(bx, "sub-001", dseg_shape=(6, 5, 3), seed=74)
    bids_subject(bx, "sub-002", dseg_affine=base_affine((0.8, 0.6, 3.5), (0.0, 0.0, 0.0)), seed=75)
    with open(os.path.join(b, "dataset_description.json"), "w") as f:
        f.write('{"Name": "fbseg NIfTI fixture", "BIDSVersion": "1.8.0"}\n')

    # Normalisation reference (float64, numpy): clip to the [0.5, 99.5] percentiles, then z-score;
    # with the mask: percentiles, mean and std over the non-zero voxels only, zero outside.
    r = np.random.default_rng(80)
    x = r.gamma(2.0, 50.0, size=(4, 6, 7))  # [Z, Y, X]
    x[:, :2, :] = 0.0  # background
    x[1, 3, 4] = 5000.0  # an outlier the clip removes
    lo, hi = np.percentile(x, [0.5, 99.5])
    c = np.clip(x, lo, hi)
    refs["norm.input"] = x
    refs["norm.clip"] = np.array([lo, hi])
    refs["norm.mean"] = np.array([c.mean()])
    refs["norm.std"] = np.array([c.std()])
    refs["norm.out"] = (c - c.mean()) / max(c.std(), 1e-8)
    m = x != 0
    lo, hi = np.percentile(x[m], [0.5, 99.5])
    c = np.clip(x, lo, hi)
    mean, std = c[m].mean(), c[m].std()
    out = np.where(m, (c - mean) / max(std, 1e-8), 0.0)
    refs["norm.mask_clip"] = np.array([lo, hi])
    refs["norm.mask_mean"] = np.array([mean])
    refs["norm.mask_std"] = np.array([std])
    refs["norm.mask_out"] = out

    save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in sorted(refs.items())},
              os.path.join(ROOT, "reference.safetensors"),
              metadata={"nibabel_version": nib.__version__, "numpy_version": np.__version__})
    total = 0
    for dirpath, _, files in os.walk(ROOT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"wrote {ROOT}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
