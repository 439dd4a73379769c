#!/usr/bin/env python3
"""fbseg's NIfTI reader and writer against nibabel, on every NIfTI file nibabel ships in its own test
data (nibabel/tests/data/*.nii*), on fbseg's committed fixtures (tests/fixtures/nifti) and on
nifti_clib's example file when installed (/usr/share/doc/libnifti2-2/examples/).

For each file, the C++ program fbseg_nifti_dump (tools/nifti_check) reads every 3D volume with
fbseg::data::read_nifti and writes them to a .safetensors; this script loads the file with nibabel
and compares:
  shape     fbseg [C, Z, Y, X] with nibabel's shape (X, Y, Z, dims 4..7): C = prod(dims 4..7)
  values    fbseg's float32 against float32(nibabel get_fdata()), per voxel: exactly equal (fbseg
            scales in float64, as nibabel, then rounds), transposed ([k, j, i] vs [i, j, k]) and with
            volume c = nibabel's dims 4..7 flattened in Fortran order (t fastest); NaN and inf float
            voxels, which nifti_clib sets to 0 on reading, are counted apart
  spacing   where pixdim[1..3] are all > 0: as below; otherwise fbseg must say "unknown" (NaN)
  spacing   fbseg {sz, sy, sx} with nibabel's header zooms[2], zooms[1], zooms[0]
  affine    fbseg's Volume::affine() with nibabel's img.affine, |a - b| <= 1e-5 max(1, max|b|);
            when qform_code = sform_code = 0 nibabel returns an Analyze-style centred affine and
            fbseg the NIfTI standard's method 1 diag(pixdim): then compared with diag(pixdim)
A file fbseg refuses is listed with the reason (nibabel's CIFTI-2 file row_major.dconn.nii is
refused on purpose: a matrix over grayordinates, not a volume). Then, for each readable file with
one volume, fbseg_nifti_dump writes a prediction (labels (i + 2j + 3k) mod 7) with that file's
geometry, and nibabel must read it with the same affine (1e-5), the same zooms and those labels
(uint8).

Exit status: 0 all compared files match and every refusal is an expected one; 1 otherwise; 77 when
nibabel, numpy or safetensors is missing or the dump program was not built (skipped).

    python3 tools/check_nifti_nibabel.py --dump build/debug/tools/nifti_check/fbseg_nifti_dump
"""
import argparse
import glob
import os
import subprocess
import sys

try:
    import nibabel as nib
    import numpy as np
    from safetensors.numpy import load_file
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (pip install -r tools/requirements.txt)")
    sys.exit(77)

EXPECTED_REFUSALS = {
    "row_major.dconn.nii": "CIFTI-2",
    "unsupported_int64.nii": "unsupported datatype",
    "unsupported_complex64.nii": "unsupported datatype",
    "labels_half.nii": None,  # readable as an image; refused only as labels (tested in C++)
}


def compare(dump, path, work):
    """Returns (status, detail): status 'match', 'mismatch' or 'refused'."""
    out = os.path.join(work, os.path.basename(path) + ".safetensors")
    r = subprocess.run([dump, "read", path, out], capture_output=True, text=True)
    if r.returncode == 3:
        return "refused", r.stdout.strip().replace("refused: ", "")
    if r.returncode != 0:
        return "mismatch", f"fbseg_nifti_dump failed ({r.returncode}): {r.stderr.strip()}"
    ours = load_file(out)
    img = nib.load(path)
    ref = img.get_fdata(dtype=np.float64)
    shape = ref.shape
    c = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    ref4 = ref.reshape(shape[:3] + (c,), order="F") if len(shape) != 3 else ref[..., None]
    if len(shape) < 3:
        ref4 = ref.reshape(tuple(shape) + (1,) * (3 - len(shape)) + (1,))
    want = np.transpose(ref4, (3, 2, 1, 0)).astype(np.float32)  # [C, Z, Y, X]
    data = ours["data"]
    problems = []
    if data.shape != want.shape:
        return "mismatch", f"shape {data.shape} vs nibabel {want.shape}"
    # nifti_clib sets NaN and +-inf float voxels to 0 when it reads them (nifti_read_buffer); nibabel
    # keeps them. Counted apart, not as a mismatch.
    fixed = ~np.isfinite(want) & (data == 0)
    bad = ~((data == want) | fixed)
    if bad.any():
        problems.append(f"{int(bad.sum())} of {bad.size} voxels differ (max |d| {np.nanmax(np.abs(data - want)):.3g})")
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=np.float64)
    zooms = np.concatenate([zooms, np.ones(3 - len(zooms))])
    spacing = ours["spacing"]
    with nib.openers.ImageOpener(path) as f:  # the header as stored (nib.load fixes pixdim 0 to 1)
        stored = type(img.header).from_fileobj(f, check=False)
    raw = np.asarray(stored["pixdim"][1:4], dtype=np.float64)
    if not (np.isfinite(raw) & (raw > 0)).all():  # fbseg: unknown; nibabel: replaced by 1
        if not np.isnan(spacing).all():
            problems.append(f"spacing {spacing} but pixdim[1..3] = {raw} (expected unknown)")
    elif not np.allclose(spacing, zooms[::-1], rtol=1e-7, atol=0):
        problems.append(f"spacing {spacing} vs nibabel zooms reversed {zooms[::-1]}")
    hdr = img.header
    if int(hdr["qform_code"]) == 0 and int(hdr["sform_code"]) == 0:
        expected_aff = np.diag(list(np.asarray(hdr["pixdim"][1:4], dtype=np.float64)) + [1.0])
        aff_note = " (no xform: method 1)"
    else:
        expected_aff = img.affine
        aff_note = ""
    tol = 1e-5 * max(1.0, np.abs(expected_aff).max())
    d = np.abs(ours["affine"] - expected_aff).max()
    if d > tol:
        problems.append(f"affine differs by {d:.3g}{aff_note}")
    if problems:
        return "mismatch", "; ".join(problems)
    note = f", {int(fixed.sum())} non-finite voxels read as 0 by nifti_clib" if fixed.any() else ""
    return "match", f"shape {tuple(data.shape)}, {want.size} voxels equal{note}, affine within {d:.2g}{aff_note}"


def check_write(dump, path, work):
    out = os.path.join(work, "pred_" + os.path.basename(path).replace(".nii.gz", ".nii") + ".gz")
    r = subprocess.run([dump, "write", path, out], capture_output=True, text=True)
    if r.returncode != 0:
        return f"write failed: {r.stderr.strip()}"
    ref, pred = nib.load(path), nib.load(out)
    problems = []
    hdr = ref.header
    no_xform = int(hdr["qform_code"]) == 0 and int(hdr["sform_code"]) == 0
    if not no_xform:
        d = np.abs(pred.affine - ref.affine).max()
        if d > 1e-5 * max(1.0, np.abs(ref.affine).max()):
            problems.append(f"affine differs by {d:.3g}")
    if pred.header["qform_code"] != hdr["qform_code"] or pred.header["sform_code"] != hdr["sform_code"]:
        problems.append("xform codes differ")
    if not np.allclose(pred.header.get_zooms()[:3], ref.header.get_zooms()[:3]):
        problems.append("zooms differ")
    if pred.get_data_dtype() != np.uint8:
        problems.append(f"dtype {pred.get_data_dtype()}")
    i, j, k = np.meshgrid(*[np.arange(n) for n in ref.shape[:3]], indexing="ij")
    if not np.array_equal(np.asarray(pred.dataobj), (i + 2 * j + 3 * k) % 7):
        problems.append("labels differ")
    return "; ".join(problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="the fbseg_nifti_dump program")
    ap.add_argument("--work-dir", default="build/nifti_check")
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "nifti"))
    args = ap.parse_args()
    if not os.path.isfile(args.dump):
        print(f"skipped: {args.dump} was not built (configure with nibabel, numpy and safetensors installed)")
        return 77
    os.makedirs(args.work_dir, exist_ok=True)
    nib_dir = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
    groups = [("nibabel " + nib.__version__ + " tests/data", sorted(glob.glob(os.path.join(nib_dir, "*.nii*")))),
              ("fbseg fixtures", sorted(glob.glob(os.path.join(args.fixtures, "*.nii*"))))]
    # nifti_clib's own example (Debian's libnifti2-2 ships it), when present.
    extra = sorted(glob.glob("/usr/share/doc/libnifti2-2/examples/*.nii*"))
    if extra:
        groups.append(("nifti_clib example", extra))
    failed = False
    for title, files in groups:
        counts = {"match": 0, "mismatch": 0, "refused": 0}
        writes = 0
        print(f"== {title}: {len(files)} files")
        for path in files:
            name = os.path.basename(path)
            status, detail = compare(args.dump, path, args.work_dir)
            counts[status] += 1
            expected = EXPECTED_REFUSALS.get(name)
            if status == "refused" and not (expected and expected in detail):
                failed = True
                status = "REFUSED (unexpected)"
            if status == "mismatch":
                failed = True
                status = "MISMATCH"
            print(f"  {name:32s} {status:9s} {detail}")
            if status == "match" and len(nib.load(path).shape) == 3:
                problem = check_write(args.dump, path, args.work_dir)
                writes += 1
                if problem:
                    failed = True
                    print(f"  {'':32s} WRITE     {problem}")
        print(f"  -> {counts['match']} match, {counts['mismatch']} mismatch, {counts['refused']} refused; "
              f"{writes} predictions written by fbseg read back by nibabel")
    print("FAILED" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
