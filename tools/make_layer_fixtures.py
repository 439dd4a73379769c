#!/usr/bin/env python3
"""Generates tests/fixtures/layers.safetensors: PyTorch reference values for fbseg's layer ops
(conv2d, conv_transpose2d, max_pool2d, adaptive_avg_pool2d, upsample nearest/bilinear,
batch_norm, silu), read by tests/test_layers.cpp.

Every case stores float32 tensors under the keys "<case>.<name>":

    x, w, b            the input, the weight and the bias (where the op has them)
    out                the output
    gout               a random upstream gradient for `out`
    gx, gw, gb         the gradients of x, w, b from torch.autograd.backward(out, gout)

plus, for batch_norm:

    rm0, rv0           running_mean / running_var before the call
    rm1, rv1           after one training step on x (train cases)
    x2, x3, rm3, rv3   two more training inputs and the running statistics after the three steps

The file's __metadata__ has one entry, "layers": a JSON object (sorted keys) with "cases" (the
case names, in order), "params" (each case's op and parameters), "torch_version" and
"generator"; tests/test_layers.cpp repeats the parameters in its own table. One entry, because
the safetensors writer orders metadata entries arbitrarily: with one, rerunning the script gives
byte-identical output for a given torch version. Dropout is not here: its random numbers differ from PyTorch's by design (the test
checks its statistics instead).

Inputs are seeded per case (torch.manual_seed of a CRC32 of the case name), so adding a case
changes no other case.

    python3 tools/make_layer_fixtures.py [--out tests/fixtures/layers.safetensors]
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent

tensors: dict[str, torch.Tensor] = {}
params: dict[str, dict] = {}
case_names: list[str] = []


def seed(name: str) -> None:
    torch.manual_seed(zlib.crc32(name.encode()))


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.float().detach().requires_grad_(True)


def record(name: str, case_params: dict, inputs: dict[str, torch.Tensor], out: torch.Tensor) -> None:
    """Backpropagates a random gout through `out` and stores inputs, output and gradients."""
    gout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [t for t in inputs.values() if t.requires_grad], gout)
    it = iter(grads)
    for key, t in inputs.items():
        tensors[f"{name}.{key}"] = t.detach().contiguous()
        if t.requires_grad:
            tensors[f"{name}.g{key}"] = next(it).contiguous()
    tensors[f"{name}.out"] = out.detach().contiguous()
    tensors[f"{name}.gout"] = gout.contiguous()
    params[name] = dict(case_params)
    case_names.append(name)


# ---- conv2d ----------------------------------------------------------------------------------

def conv_case(name, x_shape, w_shape, bias, stride=1, padding=0, dilation=1, groups=1):
    seed(name)
    x = leaf(torch.randn(x_shape))
    w = leaf(torch.randn(w_shape) * 0.5)
    inputs = {"x": x, "w": w}
    b = None
    if bias:
        b = leaf(torch.randn(w_shape[0]))
        inputs["b"] = b
    out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    record(name, {"op": "conv2d", "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                  "bias": bias}, inputs, out)


def conv_transpose_case(name, x_shape, w_shape, bias, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    seed(name)
    x = leaf(torch.randn(x_shape))
    w = leaf(torch.randn(w_shape) * 0.5)
    inputs = {"x": x, "w": w}
    b = None
    if bias:
        b = leaf(torch.randn(w_shape[1] * groups))
        inputs["b"] = b
    out = F.conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                             dilation=dilation)
    record(name, {"op": "conv_transpose2d", "stride": stride, "padding": padding, "output_padding": output_padding,
                  "dilation": dilation, "groups": groups, "bias": bias}, inputs, out)


# ---- pooling and interpolation ------------------------------------------------------------------

def max_pool_case(name, x_shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    seed(name)
    x = leaf(torch.randn(x_shape))
    out = F.max_pool2d(x, kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    record(name, {"op": "max_pool2d", "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
                  "ceil_mode": ceil_mode}, {"x": x}, out)


def adaptive_avg_case(name, x_shape, size):
    seed(name)
    x = leaf(torch.randn(x_shape))
    out = F.adaptive_avg_pool2d(x, size)
    record(name, {"op": "adaptive_avg_pool2d", "size": size}, {"x": x}, out)


def upsample_case(name, x_shape, mode, size=None, scale=None, align_corners=None):
    seed(name)
    x = leaf(torch.randn(x_shape))
    out = F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=align_corners)
    record(name, {"op": "interpolate", "mode": mode, "size": size, "scale": scale, "align_corners": align_corners},
           {"x": x}, out)


# ---- batch norm and silu ------------------------------------------------------------------------

def batch_norm_train_case(name, x_shape, affine=True, momentum=0.1, eps=1e-5):
    seed(name)
    c = x_shape[1]
    x = leaf(torch.randn(x_shape) * 2.0 + 0.7)
    rm = torch.randn(c) * 0.3
    rv = torch.rand(c) + 0.5
    inputs = {"x": x}
    w = b = None
    if affine:
        w = leaf(torch.rand(c) + 0.5)
        b = leaf(torch.randn(c))
        inputs.update({"w": w, "b": b})
    tensors[f"{name}.rm0"] = rm.clone()
    tensors[f"{name}.rv0"] = rv.clone()
    out = F.batch_norm(x, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
    tensors[f"{name}.rm1"] = rm.clone()
    tensors[f"{name}.rv1"] = rv.clone()
    record(name, {"op": "batch_norm", "training": True, "affine": affine, "momentum": momentum, "eps": eps},
           inputs, out)
    # Two more steps on new inputs: the running statistics after three updates.
    for step in (2, 3):
        xs = torch.randn(x_shape) * (1.0 + 0.5 * step) - 0.4 * step
        tensors[f"{name}.x{step}"] = xs
        with torch.no_grad():
            F.batch_norm(xs, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
    tensors[f"{name}.rm3"] = rm.clone()
    tensors[f"{name}.rv3"] = rv.clone()


def batch_norm_eval_case(name, x_shape, eps=1e-5):
    seed(name)
    c = x_shape[1]
    x = leaf(torch.randn(x_shape) * 2.0 + 0.7)
    rm = torch.randn(c) * 0.3
    rv = torch.rand(c) + 0.5
    w = leaf(torch.rand(c) + 0.5)
    b = leaf(torch.randn(c))
    tensors[f"{name}.rm0"] = rm.clone()
    tensors[f"{name}.rv0"] = rv.clone()
    out = F.batch_norm(x, rm, rv, w, b, training=False, eps=eps)
    record(name, {"op": "batch_norm", "training": False, "affine": True, "eps": eps}, {"x": x, "w": w, "b": b}, out)


def silu_case(name, shape):
    seed(name)
    x = leaf(torch.randn(shape) * 4.0)
    record(name, {"op": "silu"}, {"x": x}, F.silu(x))


def build() -> None:
    # conv2d: strides, padding, dilation, groups, depthwise, bias on/off, odd sizes.
    conv_case("conv_s1_p1", (2, 4, 7, 9), (6, 4, 3, 3), True, padding=1)
    conv_case("conv_s2_p1_nobias", (2, 3, 7, 9), (5, 3, 3, 3), False, stride=2, padding=1)
    conv_case("conv_dil2", (2, 3, 9, 11), (4, 3, 3, 3), True, padding=2, dilation=2)
    conv_case("conv_groups2", (2, 4, 7, 9), (6, 2, 3, 3), True, stride=(2, 1), padding=(1, 0), groups=2)
    conv_case("conv_depthwise", (2, 6, 7, 9), (6, 1, 3, 3), True, padding=1, groups=6)
    conv_case("conv_depthwise_s2_k5_mult2", (2, 4, 8, 9), (8, 1, 5, 5), False, stride=2, padding=2, groups=4)
    conv_case("conv_1x1", (2, 5, 7, 9), (3, 5, 1, 1), True)
    conv_case("conv_1x1_s2", (2, 4, 7, 9), (6, 4, 1, 1), False, stride=2)
    conv_case("conv_stem_7x7_s2", (2, 1, 16, 15), (8, 1, 7, 7), False, stride=2, padding=3)
    conv_case("conv_asym", (1, 3, 6, 5), (2, 3, 3, 1), True, stride=(1, 2), padding=(1, 0), dilation=(2, 1))
    # conv_transpose2d.
    conv_transpose_case("convt_k2_s2", (2, 4, 5, 6), (4, 3, 2, 2), True, stride=2)
    conv_transpose_case("convt_s2_p1_op1", (2, 4, 5, 6), (4, 3, 3, 3), True, stride=2, padding=1, output_padding=1)
    conv_transpose_case("convt_groups2", (2, 4, 5, 6), (4, 2, 3, 3), False, stride=2, padding=1, groups=2)
    conv_transpose_case("convt_dil2", (2, 3, 5, 6), (3, 2, 3, 3), True, padding=1, dilation=2)
    conv_transpose_case("convt_s1", (1, 3, 5, 5), (3, 4, 3, 3), False)
    conv_transpose_case("convt_asym_op", (1, 2, 4, 5), (2, 3, 3, 2), True, stride=(3, 2), padding=(1, 0),
                        output_padding=(2, 1))
    # max_pool2d.
    max_pool_case("maxpool_k2", (2, 3, 8, 10), 2)
    max_pool_case("maxpool_k3_s2_p1", (2, 3, 7, 9), 3, stride=2, padding=1)
    max_pool_case("maxpool_k3_s2_p1_ceil", (2, 3, 7, 9), 3, stride=2, padding=1, ceil_mode=True)
    max_pool_case("maxpool_k2_ceil", (2, 3, 7, 9), 2, ceil_mode=True)
    max_pool_case("maxpool_dil2", (2, 3, 9, 11), 3, stride=1, padding=1, dilation=2)
    # adaptive_avg_pool2d.
    adaptive_avg_case("aavg_1x1", (2, 3, 7, 9), (1, 1))
    adaptive_avg_case("aavg_3x5", (2, 3, 7, 9), (3, 5))
    adaptive_avg_case("aavg_up", (1, 2, 4, 5), (6, 7))
    # upsampling.
    upsample_case("nearest_size", (2, 3, 5, 7), "nearest", size=(11, 13))
    upsample_case("nearest_size_x2", (2, 3, 5, 7), "nearest", size=(10, 14))
    upsample_case("nearest_size_down", (2, 3, 5, 7), "nearest", size=(3, 4))
    upsample_case("nearest_scale2", (2, 3, 5, 7), "nearest", scale=2.0)
    upsample_case("nearest_scale1.5", (2, 3, 5, 7), "nearest", scale=1.5)
    upsample_case("bilinear_size_ac", (2, 3, 5, 7), "bilinear", size=(9, 13), align_corners=True)
    upsample_case("bilinear_size", (2, 3, 5, 7), "bilinear", size=(9, 13), align_corners=False)
    upsample_case("bilinear_size_down", (2, 3, 5, 7), "bilinear", size=(3, 4), align_corners=False)
    upsample_case("bilinear_scale2", (2, 3, 5, 7), "bilinear", scale=2.0, align_corners=False)
    upsample_case("bilinear_scale2_ac", (2, 3, 5, 7), "bilinear", scale=2.0, align_corners=True)
    upsample_case("bilinear_scale1.7", (2, 3, 5, 7), "bilinear", scale=1.7, align_corners=False)
    # batch_norm.
    batch_norm_train_case("bn_train", (4, 3, 5, 6))
    batch_norm_train_case("bn_train_noaffine_m03", (3, 4, 3, 5), affine=False, momentum=0.3, eps=1e-3)
    batch_norm_eval_case("bn_eval", (4, 3, 5, 6))
    # silu.
    silu_case("silu", (3, 17))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "layers.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)
    build()
    metadata = {"layers": json.dumps({"cases": case_names, "params": params, "torch_version": torch.__version__,
                                      "generator": "tools/make_layer_fixtures.py"}, sort_keys=True)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in sorted(tensors.items())}, str(args.out), metadata=metadata)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(case_names)} cases, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
