#!/usr/bin/env python3
"""Writes tests/fixtures/smp_keys/<model>_in<C>.txt: the state_dict layout of smp's Unet models.

For each model of fbseg's `summary` program that has an smp counterpart, the file lists one line
per state_dict entry, in PyTorch's order,

    key [d0, d1, ...]          (scalars, e.g. num_batches_tracked, print as "[]")

then one last line "trainable parameters: N" (the number of elements of all parameters with
requires_grad). The format is exactly what `fbseg_summary MODEL --in-channels C --classes 1`
prints, so tests/test_models.cpp compares the two texts line by line.

    fbseg name             smp constructor
    resnet18-unet          smp.Unet("resnet18", encoder_weights=None, in_channels=C, classes=1)
    resnet34-unet          smp.Unet("resnet34", encoder_weights=None, in_channels=C, classes=1)
    efficientnet-b0-unet   smp.Unet("timm-efficientnet-b0", encoder_weights=None, in_channels=C, classes=1)

for C in (1, 3), and two EfficientNet encoders scaled by timm's channel and depth multipliers
(fbseg: EfficientNetEncoderOptions().channel_multiplier(m).depth_multiplier(d)):

    file                                  smp constructor
    timm-efficientnet-b3-unet_in3.txt     smp.Unet("timm-efficientnet-b3", encoder_weights=None, in_channels=3, classes=1)
                                          (m 1.2, d 1.4)
    efficientnet-c0.25-d0.3-unet_in1.txt  smp.Unet(<smp's timm EfficientNetEncoder with m 0.25, d 0.3,
                                          registered by register_scaled_efficientnet>, encoder_weights=None,
                                          in_channels=1, classes=1) (the encoder of
                                          tests/fixtures/transfer_efficientnet.*.safetensors)

"timm-efficientnet-b0" is the encoder the original Python project trained (timm's
EfficientNet blocks: conv_stem/bn1/blocks.i.j.*/conv_head/bn2); smp's other "efficientnet-b0"
(lukemelas' EfficientNet-PyTorch port, _conv_stem/_bn0/_blocks.*) has different names and is not
what fbseg reproduces.

It also writes tests/fixtures/smp_keys/forward.safetensors, a numerical check that fbseg's
models compute what smp's compute. The weights are not random: every state_dict entry k (in
order) gets, for its element j (row-major), with s = sin(0.7 j + 1.9 k + 0.3) in float64,

    conv weight [o, i, kh, kw]   s * sqrt(3 / (i kh kw))        (uniform-like, variance 1 / fan_in)
    1-D ".weight" (BatchNorm)    1 + 0.2 s
    1-D ".bias"                  0.1 s
    running_mean                 0.1 s
    running_var                  0.75 + 0.25 s
    num_batches_tracked          0

and the model runs in float64 (model.double()): in float32 the first conv's gradient through a
deep stack of training-mode BatchNorms is ill-conditioned (PyTorch's own float32 and float64
results differ by 2% there), in float64 the C++ test can demand agreement to 1e-9. The C++ test
rebuilds the weights from the same formula, so only outputs are stored (as F64). The input is
x[i] = 1.5 sin(0.05 i + 0.1) over a [2, 1, 32, 48] batch. Per model (in_channels 1, classes 1)
the file holds, under "<model>.<what>":

    train.out        the output in training mode (batch statistics; drop_path disabled), with
                     every BatchNorm's momentum set to 1, so the running statistics become the
                     batch's (mean, and unbiased variance)
    train.<key>      after that training forward: running statistics of two BatchNorms
    grad.<key>       after backward of sum(train.out * gout), gout[i] = sin(0.3 i), the gradient
                     of two weights (the first conv and the segmentation head)
    eval.out         then the output in eval mode (with those running statistics)

Generated with (also pinned in tools/requirements.txt):
    segmentation-models-pytorch==0.6.0, timm==1.0.31, torch==2.15.0 (CPU build is enough)

    python3 tools/dump_smp_keys.py [--out-dir tests/fixtures/smp_keys]
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import struct
import sys

MODELS = {
    "resnet18-unet": "resnet18",
    "resnet34-unet": "resnet34",
    "efficientnet-b0-unet": "timm-efficientnet-b0",
}
IN_CHANNELS = (1, 3)
# listing file stem -> (smp encoder name, or (channel_multiplier, depth_multiplier) to register), in_channels
SCALED_EFFICIENTNETS = {
    "timm-efficientnet-b3-unet": ("timm-efficientnet-b3", 3),
    "efficientnet-c0.25-d0.3-unet": ((0.25, 0.3), 1),
}
PARITY_SHAPE = (2, 1, 32, 48)
PARITY_KEYS = {  # per model: the buffers checked after a training forward, the weights whose grads are checked
    "resnet18-unet": (["encoder.bn1.running_mean", "decoder.blocks.4.conv2.1.running_var"],
                      ["encoder.conv1.weight", "segmentation_head.0.weight"]),
    "resnet34-unet": (["encoder.layer4.2.bn2.running_mean", "decoder.blocks.4.conv2.1.running_var"],
                      ["encoder.conv1.weight", "segmentation_head.0.weight"]),
    "efficientnet-b0-unet": (["encoder.blocks.6.0.bn3.running_var", "decoder.blocks.0.conv1.1.running_mean"],
                             ["encoder.conv_stem.weight", "segmentation_head.0.weight"]),
}


def summary_lines(model) -> list[str]:
    """The summary text of a torch module: one 'key [shape]' line per state_dict entry, then the count."""
    lines = []
    for key, value in model.state_dict().items():
        lines.append(f"{key} [{', '.join(str(d) for d in value.shape)}]")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines.append(f"trainable parameters: {trainable}")
    return lines


def register_scaled_efficientnet(channel_multiplier: float, depth_multiplier: float) -> str:
    """Registers smp's own timm EfficientNetEncoder with these multipliers; returns its smp name.

    smp registers b0..b8 with a table of out_channels; for other multipliers the table is computed
    the way timm sizes the stages: [3] + round_channels(c, m) for the stem 32 and stages 24, 40, 112,
    320 (the taps smp's encoder returns). smp's drop_path_rate stays 0.2, as for its own encoders.
    """
    import segmentation_models_pytorch as smp
    from segmentation_models_pytorch.encoders.timm_efficientnet import EfficientNetEncoder
    from timm.models.efficientnet import round_channels

    name = f"fbseg-efficientnet-c{channel_multiplier:g}-d{depth_multiplier:g}"
    smp.encoders.encoders[name] = {
        "encoder": EfficientNetEncoder,
        "pretrained_settings": {},
        "params": {
            "out_channels": [3] + [round_channels(c, channel_multiplier) for c in (32, 24, 40, 112, 320)],
            "stage_idxs": [2, 3, 5],
            "channel_multiplier": channel_multiplier,
            "depth_multiplier": depth_multiplier,
            "drop_rate": 0.2,
        },
    }
    return name


def write_scaled_listings(out_dir: pathlib.Path) -> None:
    """The summaries of SCALED_EFFICIENTNETS (default decoder, classes 1)."""
    import segmentation_models_pytorch as smp

    for stem, (encoder, channels) in SCALED_EFFICIENTNETS.items():
        if isinstance(encoder, tuple):
            encoder = register_scaled_efficientnet(*encoder)
        model = smp.Unet(encoder, encoder_weights=None, in_channels=channels, classes=1)
        lines = summary_lines(model)
        path = out_dir / f"{stem}_in{channels}.txt"
        path.write_text("\n".join(lines) + "\n")
        print(f"{path}: {len(lines) - 1} entries, {lines[-1]}, encoder out_channels {model.encoder.out_channels}",
              file=sys.stderr)


def deterministic_state(model):
    """The formula weights of the module docstring, as a state_dict."""
    import numpy as np
    import torch

    state = {}
    for k, (key, value) in enumerate(model.state_dict().items()):
        j = np.arange(value.numel(), dtype=np.float64)
        s = np.sin(0.7 * j + 1.9 * k + 0.3)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros_like(value)
            continue
        if key.endswith("running_mean"):
            v = 0.1 * s
        elif key.endswith("running_var"):
            v = 0.75 + 0.25 * s
        elif value.dim() >= 2:
            fan_in = value.numel() // value.shape[0]
            v = s * math.sqrt(3.0 / fan_in)
        elif key.endswith(".weight"):
            v = 1.0 + 0.2 * s
        else:
            v = 0.1 * s
        state[key] = torch.from_numpy(v).reshape(value.shape)
    return state


def formula(shape, a, b, scale=1.0):
    import numpy as np
    import torch

    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    return torch.from_numpy(scale * np.sin(a * i + b)).reshape(shape)


def write_safetensors(path: pathlib.Path, tensors: dict, metadata: dict) -> None:
    """A minimal safetensors writer (F64 only), sorted keys, so reruns are byte-identical."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for key in sorted(tensors):
        data = tensors[key].detach().contiguous().numpy().astype("<f8").tobytes()
        header[key] = {"dtype": "F64", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def parity_tensors(name: str, encoder: str) -> dict:
    import segmentation_models_pytorch as smp
    import torch
    from timm.layers import DropPath

    torch.manual_seed(0)
    model = smp.Unet(encoder, encoder_weights=None, in_channels=1, classes=1)
    model = model.double()
    model.load_state_dict(deterministic_state(model))
    for m in model.modules():
        if isinstance(m, DropPath):
            m.drop_prob = 0.0  # stochastic depth off, so training mode is deterministic
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0  # the training forward sets the running statistics to the batch's
    x = formula(PARITY_SHAPE, 0.05, 0.1, 1.5)
    out = {}
    model.train()
    y = model(x)
    out[f"{name}.train.out"] = y.detach()
    buffers, weights = PARITY_KEYS[name]
    state = model.state_dict()
    for key in buffers:
        out[f"{name}.train.{key}"] = state[key].clone()
    (y * formula(tuple(y.shape), 0.3, 0.0)).sum().backward()
    params = dict(model.named_parameters())
    for key in weights:
        out[f"{name}.grad.{key}"] = params[key].grad.clone()
    model.eval()
    with torch.no_grad():
        out[f"{name}.eval.out"] = model(x)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument("--out-dir", type=pathlib.Path, default=root / "tests" / "fixtures" / "smp_keys")
    args = parser.parse_args()

    import segmentation_models_pytorch as smp
    import timm
    import torch

    print(f"smp {smp.__version__}, timm {timm.__version__}, torch {torch.__version__}", file=sys.stderr)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, encoder in MODELS.items():
        for channels in IN_CHANNELS:
            model = smp.Unet(encoder, encoder_weights=None, in_channels=channels, classes=1)
            lines = summary_lines(model)
            path = args.out_dir / f"{name}_in{channels}.txt"
            path.write_text("\n".join(lines) + "\n")
            print(f"{path}: {len(lines) - 1} entries, {lines[-1]}", file=sys.stderr)
    write_scaled_listings(args.out_dir)

    tensors = {}
    for name, encoder in MODELS.items():
        tensors.update(parity_tensors(name, encoder))
    path = args.out_dir / "forward.safetensors"
    write_safetensors(path, tensors, {"smp_version": smp.__version__, "timm_version": timm.__version__,
                                      "torch_version": torch.__version__, "generator": "tools/dump_smp_keys.py"})
    print(f"{path}: {len(tensors)} tensors", file=sys.stderr)
    for key in sorted(tensors):
        if key.endswith(".out"):
            t = tensors[key]
            print(f"  {key}: mean {t.mean():.4g} std {t.std():.4g} max|.| {t.abs().max():.4g}", file=sys.stderr)

    # Sanity checks against published figures for smp.Unet("resnet34", in_channels=3, classes=1).
    text = (args.out_dir / "resnet34-unet_in3.txt").read_text().splitlines()
    assert len(text) - 1 == 278, len(text) - 1
    assert text[-1] == "trainable parameters: 24436369", text[-1]
    for line in ("encoder.layer2.0.downsample.0.weight [128, 64, 1, 1]", "decoder.blocks.0.conv1.0.weight [256, 768, 3, 3]",
                 "segmentation_head.0.weight [1, 16, 3, 3]"):
        assert line in text, line
    return 0


if __name__ == "__main__":
    sys.exit(main())
