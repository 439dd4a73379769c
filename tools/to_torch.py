#!/usr/bin/env python3
"""fbseg -> PyTorch: loads an fbseg weights or checkpoint file into its smp Unet, saves it, exports ONNX.

Input: a safetensors file of the transfer contract (see tools/export_torch.py):

  weights file     "fbseg.format": "weights"; tensors under their PyTorch keys
  checkpoint file  "fbseg.format": "checkpoint"; the model's tensors under "model." (the optimizer's
                   under "optimizer." are ignored)

(A file without fbseg.format counts as a checkpoint when its keys start with "model.".)

The architecture, first found of:
  1. --model NAME --in-channels C --classes K
  2. --arch FILE: the fbseg.model of FILE's metadata, or its architecture description (below)
  3. the input's own metadata: fbseg.model, fbseg.in_channels, fbseg.classes, or a description

    fbseg model            PyTorch model
    resnet18-unet          smp.Unet("resnet18", encoder_weights=None, in_channels=C, classes=K)
    resnet34-unet          smp.Unet("resnet34", ...)
    efficientnet-b0-unet   smp.Unet("timm-efficientnet-b0", ...)
    unet                   (the classic UNet has no smp twin: an error)

An architecture description (the metadata of tools/make_transfer_fixtures.py's .io files and of
tools/make_e2e_fixtures.py's fixtures) is model "smp-unet", in_channels, classes,
decoder_channels "a,b,c,d,e", and encoder "resnet" (encoder_layers "3,4,6,3", encoder_stem_width,
encoder_widths "w1,w2,w3,w4": torchvision's BasicBlock ResNet, rebuilt narrower as
make_e2e_fixtures.py does) or encoder "efficientnet" (encoder_channel_multiplier,
encoder_depth_multiplier: smp's timm EfficientNetEncoder as dump_smp_keys.py registers it).

The tensors are loaded with model.load_state_dict(strict=True): every key must be there with its
shape. Then, in eval mode:

  -o OUT.pt                 torch.save(model.state_dict(), OUT.pt)
  --save-model MODEL.pt     torch.save(model, MODEL.pt) (the whole pickled module; load it with
                            torch.load(..., weights_only=False) where smp is installed)
  --onnx OUT.onnx           torch.onnx.export (TorchScript exporter, opset 17, input "input"
                            [N, C, H, W] and output "logits" with dynamic N, H, W), checked with
                            onnxruntime when it is installed: the largest |ORT - torch| on a random
                            input of another size than the traced one
  --check-against ORIG      every tensor of the loaded model equals ORIG's (a weights or checkpoint
                            file) bit for bit, with the same dtype: the round trip PyTorch -> fbseg
                            -> PyTorch changed nothing. Exit status 1 when not.

Usage:
    python3 tools/to_torch.py run/checkpoint_best.safetensors -o model.pt --onnx model.onnx
    python3 tools/to_torch.py resaved.safetensors --check-against exported.safetensors
    python3 tools/to_torch.py W.safetensors --arch tests/fixtures/transfer_resnet.io.safetensors -o m.pt

As a module: read_model_tensors(path), arch_from_metadata(meta), arch_metadata(arch), build_smp_unet(arch),
compare_bitwise(state, reference), export_onnx(model, in_channels, path).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

from export_torch import FBSEG_SMP_ENCODERS, layout_differences  # noqa: E402

ONNX_OPSET = 17


class ToTorchError(Exception):
    """A user-facing error: printed without a traceback."""


# ---- reading -------------------------------------------------------------------------------------


def read_safetensors(path) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file."""
    from safetensors import safe_open

    path = pathlib.Path(path)
    if not path.is_file():
        raise ToTorchError(f"no such file: {path}")
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def read_model_tensors(path) -> tuple[dict, dict, str]:
    """(the model's tensors under their PyTorch keys, metadata, "weights" | "checkpoint")."""
    tensors, meta = read_safetensors(path)
    kind = meta.get("fbseg.format")
    if kind is None:
        kind = "checkpoint" if tensors and all(k.startswith(("model.", "optimizer.")) for k in tensors) else "weights"
    if kind == "weights":
        return tensors, meta, kind
    if kind != "checkpoint":
        raise ToTorchError(f"{path}: fbseg.format '{kind}' is neither 'weights' nor 'checkpoint'")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    other = [k for k in tensors if not k.startswith(("model.", "optimizer."))]
    if other:
        print(f"note: {path}: {len(other)} tensors outside model.* and optimizer.* ignored (e.g. {other[0]})",
              file=sys.stderr)
    if not model:
        raise ToTorchError(f"{path}: a checkpoint without model.* tensors")
    return model, meta, kind


# ---- architecture --------------------------------------------------------------------------------


def _ints(text: str, key: str) -> list[int]:
    try:
        return [int(v) for v in str(text).split(",")]
    except ValueError:
        raise ToTorchError(f"metadata '{key}' = '{text}' is not a comma-separated list of integers") from None


def arch_from_metadata(meta: dict) -> dict | None:
    """The architecture a file's metadata names (fbseg.model, or a description); None if none."""
    if meta.get("fbseg.model"):
        arch = {"fbseg_model": meta["fbseg.model"]}
        for key in ("in_channels", "classes"):
            if f"fbseg.{key}" in meta:
                arch[key] = int(meta[f"fbseg.{key}"])
        return arch
    if meta.get("model") != "smp-unet":
        return None
    try:
        arch = {"encoder": meta["encoder"], "in_channels": int(meta["in_channels"]), "classes": int(meta["classes"]),
                "decoder_channels": _ints(meta["decoder_channels"], "decoder_channels")}
        if arch["encoder"] == "resnet":
            arch.update(layers=_ints(meta["encoder_layers"], "encoder_layers"),
                        stem_width=int(meta["encoder_stem_width"]),
                        widths=_ints(meta["encoder_widths"], "encoder_widths"))
        elif arch["encoder"] == "efficientnet":
            arch.update(channel_multiplier=float(meta["encoder_channel_multiplier"]),
                        depth_multiplier=float(meta["encoder_depth_multiplier"]))
        else:
            raise ToTorchError(f"metadata: encoder '{arch['encoder']}' is neither 'resnet' nor 'efficientnet'")
    except KeyError as e:
        raise ToTorchError(f"metadata: the smp-unet description lacks {e}") from None
    return arch


def arch_metadata(arch: dict) -> dict:
    """The metadata that names an architecture (the inverse of arch_from_metadata)."""
    if "fbseg_model" in arch:
        return {"fbseg.model": arch["fbseg_model"], "fbseg.in_channels": str(arch["in_channels"]),
                "fbseg.classes": str(arch["classes"])}
    meta = {"model": "smp-unet", "encoder": arch["encoder"], "in_channels": str(arch["in_channels"]),
            "classes": str(arch["classes"]), "decoder_channels": ",".join(map(str, arch["decoder_channels"]))}
    if arch["encoder"] == "resnet":
        meta.update(encoder_layers=",".join(map(str, arch["layers"])), encoder_stem_width=str(arch["stem_width"]),
                    encoder_widths=",".join(map(str, arch["widths"])))
    else:
        meta.update(encoder_channel_multiplier=repr(float(arch["channel_multiplier"])),
                    encoder_depth_multiplier=repr(float(arch["depth_multiplier"])))
    return meta


def describe(arch: dict) -> str:
    if "fbseg_model" in arch:
        return f"{arch['fbseg_model']} (in_channels {arch.get('in_channels')}, classes {arch.get('classes')})"
    enc = (f"resnet layers {arch['layers']} stem {arch['stem_width']} widths {arch['widths']}"
           if arch["encoder"] == "resnet" else
           f"efficientnet channel x{arch['channel_multiplier']:g} depth x{arch['depth_multiplier']:g}")
    return (f"smp Unet over {enc}, decoder {arch['decoder_channels']} (in_channels {arch['in_channels']}, "
            f"classes {arch['classes']})")


def build_smp_unet(arch: dict):
    """The smp Unet of an architecture (fresh weights, smp's initialisation)."""
    import segmentation_models_pytorch as smp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # smp deprecates the timm- encoder names
        if "fbseg_model" in arch:
            name = arch["fbseg_model"]
            if name == "unet":
                raise ToTorchError("fbseg's classic 'unet' has no smp/PyTorch twin; only resnet18-unet, resnet34-unet "
                                   "and efficientnet-b0-unet convert")
            if name not in FBSEG_SMP_ENCODERS:
                raise ToTorchError(f"unknown fbseg model '{name}'; known: {', '.join(FBSEG_SMP_ENCODERS)}")
            if arch.get("in_channels") is None or arch.get("classes") is None:
                raise ToTorchError(f"{name}: in_channels and classes are not known (--in-channels, --classes)")
            return smp.Unet(FBSEG_SMP_ENCODERS[name], encoder_weights=None, in_channels=arch["in_channels"],
                            classes=arch["classes"])
        if arch["encoder"] == "resnet":
            from make_e2e_fixtures import REDUCED_ENCODER_NAME, register_reduced_encoder

            register_reduced_encoder(arch)  # reads stem_width, widths, layers
            encoder = REDUCED_ENCODER_NAME
        else:
            from dump_smp_keys import register_scaled_efficientnet

            encoder = register_scaled_efficientnet(arch["channel_multiplier"], arch["depth_multiplier"])
        return smp.Unet(encoder, encoder_weights=None, in_channels=arch["in_channels"], classes=arch["classes"],
                        decoder_channels=tuple(arch["decoder_channels"]))


def resolve_arch(args, meta: dict) -> dict:
    """The architecture by the precedence of the module docstring."""
    if args.model:
        same = meta.get("fbseg.model") == args.model  # then the file's in_channels and classes apply
        arch = arch_from_metadata(meta) if same else {"fbseg_model": args.model}
    elif args.arch:
        arch = arch_from_metadata(read_safetensors(args.arch)[1])
        if arch is None:
            raise ToTorchError(f"--arch {args.arch}: its metadata names no architecture")
    else:
        arch = arch_from_metadata(meta)
        if arch is None:
            raise ToTorchError("the file's metadata names no architecture (no fbseg.model): give --model, "
                               "--in-channels and --classes, or --arch FILE")
    if args.in_channels is not None:
        arch["in_channels"] = args.in_channels
    if args.classes is not None:
        arch["classes"] = args.classes
    return arch


# ---- checks and export ---------------------------------------------------------------------------


def compare_bitwise(state: dict, reference: dict) -> list[str]:
    """Differences between two {key: tensor}: missing/extra keys, dtype, shape, or any bit of any value."""
    import torch

    problems = [f"missing {k}" for k in reference if k not in state]
    problems += [f"extra {k}" for k in state if k not in reference]
    for key, ref in reference.items():
        if key not in state:
            continue
        t = state[key].detach().cpu()
        if t.dtype != ref.dtype:
            problems.append(f"{key}: dtype {t.dtype} vs {ref.dtype}")
        elif t.shape != ref.shape:
            problems.append(f"{key}: shape {list(t.shape)} vs {list(ref.shape)}")
        else:
            a = t.contiguous().reshape(-1).view(torch.uint8)
            b = ref.contiguous().reshape(-1).view(torch.uint8)
            if not torch.equal(a, b):
                diff = (t.double() - ref.double()).abs().max().item() if t.is_floating_point() else float("nan")
                problems.append(f"{key}: values differ (max |diff| {diff:.3g})")
    return problems


def export_onnx(model, in_channels: int, path, trace_shape=(1, None, 64, 64), check_shape=(2, None, 96, 128),
                seed: int = 0) -> tuple[float, float] | None:
    """Exports the eval-mode model to ONNX; returns (max|ORT - torch|, max|torch|) on a random input
    of check_shape, or None when onnxruntime is not installed."""
    import torch

    model.eval()
    trace = torch.randn(trace_shape[0], in_channels, *trace_shape[2:])
    axes = {0: "batch", 2: "height", 3: "width"}
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (trace,), str(path), opset_version=ONNX_OPSET, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": axes, "logits": axes}, dynamo=False)
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnx check skipped: onnxruntime is not installed (pip install onnxruntime)", file=sys.stderr)
        return None
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(check_shape[0], in_channels, *check_shape[2:], generator=gen)
    with torch.no_grad():
        ref = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"input": x.numpy()})[0]
    if got.shape != ref.shape:
        raise ToTorchError(f"onnxruntime output shape {got.shape} vs torch {ref.shape}")
    return float(abs(got - ref).max()), float(abs(ref).max())


# ---- command line --------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=pathlib.Path, help="an fbseg weights or checkpoint file (.safetensors)")
    parser.add_argument("-o", "--output", type=pathlib.Path, help="torch.save(state_dict) here")
    parser.add_argument("--save-model", type=pathlib.Path, help="torch.save(model) here (pickled module)")
    parser.add_argument("--onnx", type=pathlib.Path, help="export ONNX (opset 17) here")
    parser.add_argument("--check-against", type=pathlib.Path, metavar="ORIG",
                        help="require every tensor to equal ORIG's bit for bit")
    parser.add_argument("--model", help="fbseg model name (overrides the metadata)")
    parser.add_argument("--in-channels", type=int)
    parser.add_argument("--classes", type=int)
    parser.add_argument("--arch", type=pathlib.Path, help="take the architecture from this file's metadata")
    return parser.parse_args(argv)


def run(args) -> dict:
    """Does what the arguments ask; returns {"status", "bitwise_problems" (None: not checked),
    "compared" (tensors compared), "onnx_error" (None: not exported or not checked), "model"}."""
    import torch

    state, meta, kind = read_model_tensors(args.input)
    arch = resolve_arch(args, meta)
    model = build_smp_unet(arch)
    problems = layout_differences(state, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... ({len(problems)} in all)" if len(problems) > 8 else "")
        raise ToTorchError(f"{args.input} does not fit {describe(arch)}: {shown}")
    model.load_state_dict(state, strict=True)
    model.eval()
    print(f"{args.input}: {kind}, {len(state)} tensors -> {describe(arch)}, load_state_dict(strict=True) ok")
    result = {"status": 0, "bitwise_problems": None, "compared": 0, "onnx_error": None, "model": model}
    # onnx_error: (max|onnxruntime - torch|, max|torch|), or None
    if args.check_against:
        reference = read_model_tensors(args.check_against)[0]
        problems = compare_bitwise(model.state_dict(), reference)
        result.update(bitwise_problems=problems, compared=len(reference))
        if problems:
            print(f"check-against {args.check_against}: {len(problems)} differences: " + "; ".join(problems[:10]))
            result["status"] = 1
        else:
            print(f"check-against {args.check_against}: all {len(reference)} tensors bit-identical (same dtype)")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), str(args.output))
        print(f"{args.output}: state_dict saved")
    if args.save_model:
        try:
            torch.save(model, str(args.save_model))
        except Exception as e:  # noqa: BLE001 (a locally registered encoder class cannot be pickled)
            raise ToTorchError(f"--save-model: torch.save(model) failed ({e}); save the state_dict with -o") from None
        print(f"{args.save_model}: whole model saved")
    if args.onnx:
        err = export_onnx(model, int(arch["in_channels"]), args.onnx)
        result["onnx_error"] = err
        figure = ("onnxruntime not installed, not checked" if err is None
                  else f"max |onnxruntime - torch| {err[0]:.3g} (max |torch| {err[1]:.3g})")
        print(f"{args.onnx}: ONNX opset {ONNX_OPSET}, dynamic batch/height/width; {figure}")
    return result


def main(argv=None) -> int:
    try:
        return run(parse_args(argv))["status"]
    except ToTorchError as e:
        print(f"to_torch: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
