#!/usr/bin/env python3
"""The weight-transfer proof: PyTorch -> fbseg -> PyTorch/ONNX on smp Unets, with figures.

For each model:

  1. PyTorch side: the smp Unet with random weights and randomised BatchNorm state (the recipe of
     tools/make_transfer_fixtures.py: smp's init under a seed, random conv biases, BatchNorm
     weight U(0.5, 1.5), bias N(0, 0.2^2), running_mean N(0, 0.2^2), running_var U(0.5, 2),
     num_batches_tracked random), exported with tools/export_torch.py's export_state_dict, and an io
     file with "input" ~ N(0, 1) and PyTorch's "eval.logits" (float32, model.eval(), no_grad).
  2. fbseg side: the C++ program fbseg_transfer_check (tools/transfer_check) builds the model from
     the io file's metadata, io::load_weights (strict), runs eval on "input", and writes its logits
     and the weights re-saved with io::save_weights.
  3. Figures of fbseg's logits a against PyTorch's b, per element:
       max abs err        max |a - b|
       max rel err        max |a - b| / max(|b|, floor), floor = REL_FLOOR * max|b|
       outside            the count of elements with |a - b| > atol + rtol |b|, rtol = RTOL,
                          atol = ATOL_SCALE * max|b|
     and, for scale, the max abs err of PyTorch's own float32 logits and of fbseg's against PyTorch
     float64 (the model converted with .double(), same weights): the float32 rounding noise.
  4. The way back: tools/to_torch.py loads fbseg's re-saved weights into the smp Unet
     (load_state_dict strict), --check-against the exported file (every tensor bit-identical, same
     dtype), and --onnx (opset 17; onnxruntime vs torch on another input size, when installed).

Modes:
  (default)   full size, not run in CI: smp.Unet("resnet34", in_channels=3, classes=1) and
              smp.Unet("timm-efficientnet-b0", in_channels=1, classes=1) (fbseg's resnet34-unet and
              efficientnet-b0-unet) on [2, C, 256, 256] (--size, --batch); files under
              build/transfer (--work-dir), about 360 MB; about 2 minutes on 2 cores
  --reduced   the committed fixtures tests/fixtures/transfer_{resnet,efficientnet}.*.safetensors
              (tools/make_transfer_fixtures.py): a few seconds; the ctest "transfer_python" runs it
              (exit 77, "skipped", when torch, smp or safetensors is not installed)

The exit status is 0 when no element is outside the tolerance, the way back is bit-identical and
the ONNX check (when run) is within ONNX_TOL * max|torch| on its input; 1 otherwise; 2 on an error.
At the end it prints a Markdown table for docs/transfer-learning.md.

Usage:
    python3 tools/check_transfer.py [--reduced] [--checker PATH] [--work-dir DIR] [--no-onnx]
The checker: the target fbseg_transfer_check, or directly
    g++ -std=c++20 -O2 -Iinclude -Itests -I/usr/include/eigen3 tools/transfer_check/main.cpp -pthread -o build/transfer_check
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import time
import warnings

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

try:  # the ctest transfer_python runs this script on every machine: without the packages, skip
    import safetensors  # noqa: E402,F401
    import segmentation_models_pytorch  # noqa: E402,F401
    import torch  # noqa: E402,F401
except ImportError as missing:
    print(f"skipped: the Python package '{missing.name}' is not installed (pip install -r tools/requirements.txt)")
    sys.exit(77)  # ctest's SKIP_RETURN_CODE

import make_transfer_fixtures as fixtures  # noqa: E402
import to_torch  # noqa: E402

ROOT = TOOLS.parent
RTOL = 1e-4
ATOL_SCALE = 1e-5  # atol = ATOL_SCALE * max|reference|
REL_FLOOR = 1e-3  # the relative error's denominator is at least REL_FLOOR * max|reference|
ONNX_TOL = 1e-4  # max|onnxruntime - torch| <= ONNX_TOL * max|torch| (on to_torch's check input)
FULL = {
    "resnet34": {"fbseg_model": "resnet34-unet", "in_channels": 3, "classes": 1},
    "efficientnet-b0": {"fbseg_model": "efficientnet-b0-unet", "in_channels": 1, "classes": 1},
}
REDUCED = ("resnet", "efficientnet")


def find_checker(given: str | None) -> pathlib.Path | None:
    if given:
        return pathlib.Path(given)
    candidates = [ROOT / "build" / "transfer_check"]
    candidates += sorted((ROOT / "build").glob("*/tools/transfer_check/fbseg_transfer_check"))
    candidates += sorted((ROOT / "build").glob("tools/transfer_check/fbseg_transfer_check"))
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


# ---- the two sides -------------------------------------------------------------------------------


def prepare_full(name: str, arch: dict, work: pathlib.Path, seed: int, shape) -> tuple[pathlib.Path, pathlib.Path]:
    """Builds, randomises and exports a full-size model; writes its io file (step 1)."""
    model = fixtures.build_model(arch, seed)
    source = f"tools/check_transfer.py: random {arch['fbseg_model']}, seed {seed}"
    weights, io = fixtures.write_pair(model, arch, name, work, seed, source, shape)
    return weights, io


def run_checker(checker: pathlib.Path, weights, io, logits, resaved) -> float:
    """fbseg_transfer_check (step 2); returns its wall time in seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(checker), str(weights), str(io), str(logits), str(resaved)], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        print(f"    fbseg: {line}")
    if proc.returncode != 0:
        raise RuntimeError(f"{checker} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds


# ---- figures -------------------------------------------------------------------------------------


def figures(a, b) -> dict:
    """Per-element comparison of fbseg's a with the reference b (float64 arithmetic)."""
    a, b = a.double(), b.double()
    if a.shape != b.shape:
        raise RuntimeError(f"fbseg logits {list(a.shape)} vs PyTorch {list(b.shape)}")
    scale = float(b.abs().max())
    diff = (a - b).abs()
    atol = ATOL_SCALE * scale
    return {
        "scale": scale,
        "max_abs": float(diff.max()),
        "max_rel": float((diff / b.abs().clamp_min(REL_FLOOR * scale)).max()),
        "outside": int((~(diff <= atol + RTOL * b.abs())).sum()),  # NaN counts as outside
        "count": b.numel(),
    }


def torch_float64_logits(weights, io):
    """PyTorch's logits in float64 (the model converted with .double()) for the same weights and input."""
    import torch

    state, _, _ = to_torch.read_model_tensors(weights)
    tensors, meta = to_torch.read_safetensors(io)
    model = to_torch.build_smp_unet(to_torch.arch_from_metadata(meta))
    model.load_state_dict(state, strict=True)
    model = model.double().eval()
    with torch.no_grad():
        return model(tensors["input"].double())


def way_back(resaved, io, weights, onnx_path) -> dict:
    """tools/to_torch.py on fbseg's re-saved weights (step 4), through its command-line entry."""
    argv = [str(resaved), "--arch", str(io), "--check-against", str(weights)]
    if onnx_path:
        argv += ["--onnx", str(onnx_path)]
    result = to_torch.run(to_torch.parse_args(argv))
    return {"identical": result["bitwise_problems"] == [], "compared": result["compared"],
            "onnx_error": result["onnx_error"], "onnx_run": bool(onnx_path)}


def check_one(name: str, checker, weights, io, work: pathlib.Path, onnx: bool) -> dict:
    from safetensors.torch import load_file

    logits_path, resaved = work / f"{name}.fbseg_logits.safetensors", work / f"{name}.fbseg_weights.safetensors"
    print(f"{name}: {weights.name}, {io.name}")
    seconds = run_checker(checker, weights, io, logits_path, resaved)
    tensors, meta = to_torch.read_safetensors(io)
    fbseg_logits = load_file(str(logits_path))["logits"]
    row = figures(fbseg_logits, tensors["eval.logits"])
    ref64 = torch_float64_logits(weights, io)
    row.update(name=name, seconds=seconds, input=list(tensors["input"].shape),
               noise=float((tensors["eval.logits"].double() - ref64).abs().max()),
               fbseg64=float((fbseg_logits.double() - ref64).abs().max()),
               params=sum(t.numel() for t in load_file(str(weights)).values() if t.is_floating_point()))
    row.update(way_back(resaved, io, weights, work / f"{name}.onnx" if onnx else None))
    print(f"    fbseg vs PyTorch: max abs err {row['max_abs']:.3g} (max|ref| {row['scale']:.3g}), max rel err "
          f"{row['max_rel']:.3g}, outside {row['outside']} of {row['count']}; against PyTorch float64: PyTorch "
          f"{row['noise']:.3g}, fbseg {row['fbseg64']:.3g}")
    return row


def passed(row: dict) -> bool:
    onnx_ok = row["onnx_error"] is None or row["onnx_error"][0] <= ONNX_TOL * row["onnx_error"][1]
    return row["outside"] == 0 and row["identical"] and onnx_ok


def table(rows: list[dict]) -> str:
    head = ("| model | float values | input | max abs err | max rel err | outside tol | max abs err vs PyTorch f64: "
            "PyTorch f32 / fbseg | way back (bit-identical) | ONNX max abs err |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        onnx = ("not run" if not r["onnx_run"] else "no onnxruntime" if r["onnx_error"] is None
                else f"{r['onnx_error'][0]:.2g} (max\\|ref\\| {r['onnx_error'][1]:.3g})")
        lines.append(f"| {r['name']} | {r['params']:,} | {'x'.join(map(str, r['input']))} | {r['max_abs']:.2g} "
                     f"(max\\|ref\\| {r['scale']:.3g}) | {r['max_rel']:.2g} | {r['outside']} of {r['count']:,} | "
                     f"{r['noise']:.2g} / {r['fbseg64']:.2g} | {'yes' if r['identical'] else 'NO'}, {r['compared']} tensors | {onnx} |")
    lines.append("\nfloat values: the elements of every floating-point tensor of the state_dict (parameters and "
                 "BatchNorm running statistics).")
    lines.append(f"Tolerance per element: |a - b| <= atol + rtol |b| with rtol {RTOL:g} and atol {ATOL_SCALE:g} "
                 f"max|b|; relative error floor {REL_FLOOR:g} max|b|.")
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="the committed fixtures (fast)")
    parser.add_argument("--checker", help="fbseg_transfer_check (default: build/transfer_check or build/*/tools/...)")
    parser.add_argument("--work-dir", type=pathlib.Path, default=ROOT / "build" / "transfer")
    parser.add_argument("--fixture-dir", type=pathlib.Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--seed", type=int, default=fixtures.SEED)
    parser.add_argument("--size", type=int, default=256, help="full size: input height and width")
    parser.add_argument("--batch", type=int, default=2, help="full size: input batch")
    parser.add_argument("--no-onnx", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # smp deprecates the timm- encoder names

    checker = find_checker(args.checker)
    if checker is None or not checker.is_file():
        print("error: fbseg_transfer_check not found; build the target fbseg_transfer_check or\n"
              "  g++ -std=c++20 -O2 -Iinclude -Itests -I/usr/include/eigen3 tools/transfer_check/main.cpp -pthread "
              "-o build/transfer_check\nand pass --checker", file=sys.stderr)
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_onnx and importlib.util.find_spec("onnx") is None:
        # torch.onnx.export needs the onnx package: without it the export is not run (as the
        # onnxruntime check is not run without onnxruntime), and the table says so.
        print("ONNX export not run: the onnx package is not installed (pip install onnx onnxruntime)")
        args.no_onnx = True
    rows = []
    try:
        if args.reduced:
            for name in REDUCED:
                weights = args.fixture_dir / f"transfer_{name}.weights.safetensors"
                io = args.fixture_dir / f"transfer_{name}.io.safetensors"
                rows.append(check_one(name, checker, weights, io, args.work_dir, not args.no_onnx))
        else:
            for name, arch in FULL.items():
                print(f"{name}: building and exporting {arch['fbseg_model']} ...")
                weights, io = prepare_full(name, arch, args.work_dir, args.seed, (args.batch, None, args.size, args.size))
                rows.append(check_one(name, checker, weights, io, args.work_dir, not args.no_onnx))
    except (RuntimeError, to_torch.ToTorchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print()
    print(table(rows))
    ok = all(passed(r) for r in rows)
    print(("PASS" if ok else "FAIL") + f": {len(rows)} models")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
