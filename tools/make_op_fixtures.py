#!/usr/bin/env python3
"""Generates tests/fixtures/ops.safetensors: PyTorch reference values for fbseg's op parity tests.

Each case is a PyTorch expression over inputs in0, in1, ... (float32 unless noted). For every
case the file holds, under the keys "<case>.<what>":

    in0, in1, ...   the inputs (float32; where()'s condition is BOOL)
    out             the output (I64 for index outputs such as argmax)
    out1            a second output where there is one (the indices of max/min along a dim)
    gout            a random upstream gradient for `out` (only when `out` is differentiable)
    grad0, ...      the gradient of each floating input, from torch.autograd.backward(out, gout)

The safetensors __metadata__ maps "case.<case>" to a JSON object {"expr", "inputs", "outputs",
"grads"} (the expression verbatim, for readers of a failing test), plus "torch_version", "numpy_version",
"generator" and "cases" (the case names, comma-separated, in order). tests/test_parity.cpp
rebuilds each expression with fbseg, including its non-contiguous views.

Inputs are seeded per case (torch.manual_seed of a CRC32 of the case name), so adding or removing
a case changes no other case, and the file is written by this script itself (sorted JSON header),
so rerunning it gives byte-identical output for a given torch version.

    python3 tools/make_op_fixtures.py [--out tests/fixtures/ops.safetensors]
"""

from __future__ import annotations

import argparse
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent

# ---- input makers: each is a callable (shape) -> tensor, drawn from the case's seeded generator --


def randn(*shape):
    return ("randn", shape)


def pos(*shape):
    """Positive, away from 0: for log, sqrt, pow 0.5 and divisors."""
    return ("pos", shape)


def away0(*shape):
    """Either sign, |x| >= 0.2: for abs (no kink at 0) and divisors."""
    return ("away0", shape)


def ints(*shape):
    """Small integers as float32: many ties, for the tie-breaking rules of max/min/maximum."""
    return ("ints", shape)


def with_zeros(*shape):
    """randn with every third element set to exactly 0 (the kink of relu / leaky_relu)."""
    return ("with_zeros", shape)


def with_bounds(*shape):
    """randn with some elements set exactly to +-0.5 (clamp's bounds)."""
    return ("with_bounds", shape)


def boolean(*shape):
    return ("bool", shape)


def make_input(kind: str, shape: tuple) -> torch.Tensor:
    if kind == "randn":
        return torch.randn(shape)
    if kind == "pos":
        return torch.rand(shape) * 1.5 + 0.25
    if kind == "away0":
        sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
        return sign * (torch.rand(shape) + 0.2)
    if kind == "ints":
        return torch.randint(-2, 3, shape).to(torch.float32)
    if kind == "with_zeros":
        x = torch.randn(shape).flatten()
        x[::3] = 0.0
        return x.reshape(shape)
    if kind == "with_bounds":
        x = torch.randn(shape).flatten()
        x[::4] = 0.5
        x[1::5] = -0.5
        return x.reshape(shape)
    if kind == "bool":
        return torch.rand(shape) < 0.5
    raise ValueError(kind)


# ---- the cases: (name, input makers, expression over in0, in1, ...) -----------------------------
# The expression is evaluated with torch, F (torch.nn.functional) and the inputs in scope. Keep
# names stable: tests/test_parity.cpp has one entry per name.

CASES = [
    # unary
    ("neg", [randn(3, 4)], "torch.neg(in0)"),
    ("exp", [randn(3, 4)], "torch.exp(in0)"),
    ("log", [pos(3, 4)], "torch.log(in0)"),
    ("sqrt", [pos(3, 4)], "torch.sqrt(in0)"),
    ("abs", [away0(3, 4)], "torch.abs(in0)"),
    ("relu", [with_zeros(3, 4)], "torch.relu(in0)"),
    ("leaky_relu", [with_zeros(3, 4)], "F.leaky_relu(in0, 0.1)"),
    ("sigmoid", [randn(3, 4)], "torch.sigmoid(in0 * 4)"),
    ("tanh", [randn(3, 4)], "torch.tanh(in0)"),
    ("pow3", [randn(3, 4)], "torch.pow(in0, 3)"),
    ("pow0_5", [pos(3, 4)], "torch.pow(in0, 0.5)"),
    ("square", [randn(3, 4)], "torch.square(in0)"),
    ("clamp", [with_bounds(4, 5)], "torch.clamp(in0, -0.5, 0.5)"),
    ("clamp_min", [randn(3, 4)], "torch.clamp(in0, min=0.2)"),
    ("clamp_max", [randn(3, 4)], "torch.clamp(in0, max=-0.1)"),
    # binary, with broadcasting
    ("add_bcast", [randn(2, 3, 4), randn(3, 1)], "torch.add(in0, in1)"),
    ("add_scalar_tensor", [randn(2, 3), randn()], "torch.add(in0, in1)"),
    ("sub_bcast", [randn(3, 1), randn(2, 3, 4)], "torch.sub(in0, in1)"),
    ("mul_bcast", [randn(2, 1, 4), randn(3, 1)], "torch.mul(in0, in1)"),
    ("div_bcast", [randn(2, 3, 4), away0(4)], "torch.div(in0, in1)"),
    ("div_bcast_both", [randn(1, 3), away0(2, 1)], "torch.div(in0, in1)"),
    ("maximum_bcast", [randn(2, 3, 4), randn(3, 1)], "torch.maximum(in0, in1)"),
    ("minimum_bcast", [randn(2, 3, 4), randn(3, 1)], "torch.minimum(in0, in1)"),
    ("maximum_ties", [ints(3, 4), ints(3, 4)], "torch.maximum(in0, in1)"),
    ("minimum_ties", [ints(3, 4), ints(3, 4)], "torch.minimum(in0, in1)"),
    # reductions
    ("sum_all", [randn(2, 3, 4)], "torch.sum(in0)"),
    ("sum_dims", [randn(2, 3, 4)], "torch.sum(in0, dim=(0, 2))"),
    ("sum_keepdim", [randn(2, 3, 4)], "torch.sum(in0, dim=1, keepdim=True)"),
    ("sum_neg_dim", [randn(2, 3, 4)], "torch.sum(in0, dim=-1)"),
    ("mean_all", [randn(2, 3, 4)], "torch.mean(in0)"),
    ("mean_dims", [randn(2, 3, 4)], "torch.mean(in0, dim=(0, 2))"),
    ("mean_keepdim", [randn(2, 3, 4)], "torch.mean(in0, dim=-1, keepdim=True)"),
    ("max_dim", [randn(2, 3, 4)], "torch.max(in0, dim=1)"),
    ("max_dim_keepdim", [randn(2, 3, 4)], "torch.max(in0, dim=-1, keepdim=True)"),
    ("min_dim", [randn(2, 3, 4)], "torch.min(in0, dim=0)"),
    ("max_all", [randn(3, 4)], "torch.max(in0)"),
    ("min_all", [randn(3, 4)], "torch.min(in0)"),
    ("max_all_ties", [ints(3, 4)], "torch.max(in0)"),
    ("min_all_ties", [ints(3, 4)], "torch.min(in0)"),
    ("argmax_dim", [randn(2, 3, 4)], "torch.argmax(in0, dim=1)"),
    ("argmax_keepdim", [randn(2, 3, 4)], "torch.argmax(in0, dim=-1, keepdim=True)"),
    ("argmax_all", [randn(3, 4)], "torch.argmax(in0)"),
    ("var_all", [randn(2, 3, 4)], "torch.var(in0)"),
    ("var_dims", [randn(2, 3, 4)], "torch.var(in0, dim=(0, 2))"),
    ("var_c0_keepdim", [randn(2, 3, 4)], "torch.var(in0, dim=1, correction=0, keepdim=True)"),
    # matrix products
    ("matmul_2d", [randn(3, 4), randn(4, 5)], "torch.matmul(in0, in1)"),
    ("matmul_batched", [randn(2, 3, 4), randn(2, 4, 5)], "torch.matmul(in0, in1)"),
    ("matmul_batch_rhs_2d", [randn(2, 3, 4), randn(4, 5)], "torch.matmul(in0, in1)"),
    ("matmul_batch_bcast", [randn(2, 1, 3, 4), randn(3, 4, 2)], "torch.matmul(in0, in1)"),
    ("matmul_vec_vec", [randn(4), randn(4)], "torch.matmul(in0, in1)"),
    ("matmul_mat_vec", [randn(3, 4), randn(4)], "torch.matmul(in0, in1)"),
    ("matmul_vec_mat", [randn(4), randn(4, 5)], "torch.matmul(in0, in1)"),
    ("matmul_batched_vec", [randn(2, 3, 4), randn(4)], "torch.matmul(in0, in1)"),
    ("matmul_vec_batched", [randn(4), randn(2, 4, 3)], "torch.matmul(in0, in1)"),
    ("bmm", [randn(2, 3, 4), randn(2, 4, 2)], "torch.bmm(in0, in1)"),
    # softmax
    ("softmax_dim1", [randn(2, 3, 4)], "torch.softmax(in0, dim=1)"),
    ("softmax_last", [randn(2, 3, 4)], "torch.softmax(in0, dim=-1)"),
    ("log_softmax_dim1", [randn(2, 3, 4)], "torch.log_softmax(in0, dim=1)"),
    ("log_softmax_last", [randn(2, 3, 4)], "torch.log_softmax(in0, dim=-1)"),
    # joining and padding
    ("concat_dim0", [randn(2, 3), randn(1, 3), randn(3, 3)], "torch.cat([in0, in1, in2], dim=0)"),
    ("concat_dim1", [randn(2, 3, 4), randn(2, 2, 4)], "torch.cat([in0, in1], dim=1)"),
    ("concat_last", [randn(2, 3), randn(2, 1)], "torch.cat([in0, in1], dim=-1)"),
    ("stack_dim0", [randn(2, 3), randn(2, 3), randn(2, 3)], "torch.stack([in0, in1, in2], dim=0)"),
    ("stack_last", [randn(2, 3), randn(2, 3)], "torch.stack([in0, in1], dim=-1)"),
    ("pad_last", [randn(2, 3, 4)], "F.pad(in0, (1, 2))"),
    ("pad_2d_value", [randn(2, 3, 4)], "F.pad(in0, (1, 0, 2, 1), value=0.5)"),
    ("pad_negative", [randn(2, 3, 4)], "F.pad(in0, (-1, 2, 1, -1))"),
    ("pad_crop_only", [randn(2, 3, 4)], "F.pad(in0, (-1, -1, 0, -1))"),
    ("pad_3dims", [randn(2, 3, 4)], "F.pad(in0, (1, 1, 0, 2, 1, 0))"),
    ("where_bcast", [boolean(3, 1), randn(2, 3, 4), randn(4)], "torch.where(in0, in1, in2)"),
    # views and copies (their backward maps the gradient back to the input's layout)
    ("view_reshape", [randn(2, 3, 4)], "in0.reshape(4, 6)"),
    ("view_flatten", [randn(2, 3, 4)], "in0.flatten(1)"),
    ("view_squeeze_unsqueeze", [randn(3, 1, 4)], "in0.squeeze(1).unsqueeze(0)"),
    ("view_squeeze_all", [randn(1, 3, 1, 2)], "in0.squeeze()"),
    ("view_narrow", [randn(3, 5)], "in0.narrow(1, 1, 3)"),
    ("view_select_neg", [randn(3, 4)], "in0.select(0, -1)"),
    ("view_transpose_contiguous", [randn(2, 3, 4)], "in0.transpose(0, 2).contiguous()"),
    ("to_float64", [randn(3, 4)], "in0.to(torch.float64)"),
    # in place, on a clone (fbseg, like PyTorch, refuses in-place ops on leaves that require grad)
    ("inplace_add", [randn(2, 3, 4), randn(4)], "in0.clone().add_(in1)"),
    ("inplace_sub", [randn(2, 3, 4), randn(3, 1)], "in0.clone().sub_(in1)"),
    ("inplace_mul", [randn(2, 3, 4), randn(3, 1)], "in0.clone().mul_(in1)"),
    ("inplace_div", [randn(2, 3, 4), away0(4)], "in0.clone().div_(in1)"),
    ("inplace_mul_into_plain", [randn(3, 4)], "torch.full((3, 4), 2.0).mul_(in0)"),
    ("inplace_neg", [randn(3, 4)], "in0.clone().neg_()"),
    ("inplace_exp", [randn(3, 4)], "in0.clone().exp_()"),
    ("inplace_sqrt", [pos(3, 4)], "in0.clone().sqrt_()"),
    ("inplace_relu", [with_zeros(3, 4)], "in0.clone().relu_()"),
    ("inplace_leaky_relu", [with_zeros(3, 4)], "F.leaky_relu_(in0.clone(), 0.1)"),
    ("inplace_sigmoid", [randn(3, 4)], "in0.clone().sigmoid_()"),
    ("inplace_tanh", [randn(3, 4)], "in0.clone().tanh_()"),
    ("inplace_chain", [randn(3, 4), randn(4)], "torch.mul(in0, 2.0).mul_(in1).tanh_()"),
    # non-contiguous inputs: permuted, sliced (with a step and an offset), expanded, selected
    ("nc_permute_exp", [randn(2, 3, 4)], "torch.exp(in0.permute(2, 0, 1))"),
    ("nc_permute_sigmoid", [randn(3, 4)], "torch.sigmoid(in0.t())"),
    ("nc_slice_tanh", [randn(3, 6)], "torch.tanh(in0[:, ::2])"),
    ("nc_expand_relu", [randn(3, 1)], "torch.relu(in0.expand(3, 4))"),
    ("nc_permute_add", [randn(4, 3), randn(3, 4)], "torch.add(in0.permute(1, 0), in1)"),
    ("nc_slice_mul", [randn(3, 6), randn(3, 1)], "torch.mul(in0[:, ::2], in1)"),
    ("nc_slice_offset_sub", [randn(4, 7), randn(3, 3)], "torch.sub(in0[1:, 1::2], in1)"),
    ("nc_expand_mul", [randn(1, 4), randn(3, 4)], "torch.mul(in0.expand(3, 4), in1)"),
    ("nc_expand_div", [randn(2, 3, 4), away0(3, 1)], "torch.div(in0, in1.expand(2, 3, 4))"),
    ("nc_expand_maximum", [randn(3, 1), randn(3, 4)], "torch.maximum(in0.expand(3, 4), in1)"),
    ("nc_select_mul", [randn(3, 4), randn(3)], "torch.mul(in0[:, 1], in1)"),
    ("nc_permute_sum", [randn(2, 3, 4)], "torch.sum(in0.permute(2, 0, 1), dim=1)"),
    ("nc_slice_sum", [randn(3, 8)], "torch.sum(in0[:, 1::2], dim=0)"),
    ("nc_expand_sum", [randn(3, 1)], "torch.sum(in0.expand(3, 4), dim=0)"),
    ("nc_permute_mean", [randn(2, 3, 4)], "torch.mean(in0.permute(1, 2, 0), dim=-1, keepdim=True)"),
    ("nc_slice_var", [randn(6, 4)], "torch.var(in0[::2, :], dim=0)"),
    ("nc_permute_max_dim", [randn(2, 3, 4)], "torch.max(in0.permute(2, 1, 0), dim=1)"),
    ("nc_slice_min_all", [randn(4, 6)], "torch.min(in0[1:, ::3])"),
    ("nc_permute_argmax", [randn(2, 3, 4)], "torch.argmax(in0.permute(0, 2, 1), dim=1)"),
    ("nc_permute_matmul", [randn(4, 3), randn(4, 5)], "torch.matmul(in0.t(), in1)"),
    ("nc_rhs_t_matmul", [randn(3, 4), randn(5, 4)], "torch.matmul(in0, in1.t())"),
    ("nc_slice_matmul", [randn(3, 8), randn(4, 2)], "torch.matmul(in0[:, ::2], in1)"),
    ("nc_expand_matmul", [randn(3, 4), randn(2, 4, 2)], "torch.matmul(in0.expand(2, 3, 4), in1)"),
    ("nc_permute_softmax", [randn(2, 3, 4)], "torch.softmax(in0.permute(0, 2, 1), dim=1)"),
    ("nc_slice_log_softmax", [randn(3, 8)], "torch.log_softmax(in0[:, ::2], dim=-1)"),
    ("nc_expand_softmax", [randn(1, 4)], "torch.softmax(in0.expand(3, 4), dim=-1)"),
    ("nc_expand_concat", [randn(1, 3), randn(2, 3)], "torch.cat([in0.expand(2, 3), in1], dim=0)"),
    ("nc_permute_stack", [randn(3, 2), randn(2, 3)], "torch.stack([in0.t(), in1], dim=1)"),
    ("nc_permute_pad", [randn(4, 3)], "F.pad(in0.permute(1, 0), (1, -1, 0, 1))"),
    ("nc_slice_where", [boolean(3, 3), randn(3, 6), randn(3, 1)], "torch.where(in0, in1[:, ::2], in2)"),
    ("nc_permute_reshape_mul", [randn(2, 3), randn(6)], "torch.mul(in0.t().reshape(-1), in1)"),
]


# ---- running a case -----------------------------------------------------------------------------


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def run_case(name, makers, expr):
    """Returns (tensors {suffix: tensor}, metadata dict) for one case."""
    torch.manual_seed(seed_of(name))
    inputs = [make_input(kind, shape) for kind, shape in makers]
    leaves = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    scope = {"torch": torch, "F": F}
    scope.update({f"in{i}": x for i, x in enumerate(leaves)})
    result = eval(expr, scope)  # noqa: S307 - the expressions are the constants above
    outputs = list(result) if isinstance(result, tuple) else [result]

    tensors = {f"in{i}": x for i, x in enumerate(inputs)}
    for k, y in enumerate(outputs):
        tensors["out" if k == 0 else f"out{k}"] = y.detach()
    grads = []
    if outputs[0].requires_grad:
        gout = torch.randn(outputs[0].shape, dtype=outputs[0].dtype)
        tensors["gout"] = gout
        diff = [x for x in leaves if x.requires_grad]
        computed = torch.autograd.grad(outputs[0], diff, gout, allow_unused=False)
        it = iter(computed)
        for i, x in enumerate(leaves):
            if x.requires_grad:
                tensors[f"grad{i}"] = next(it)
                grads.append(i)
    for suffix, t in tensors.items():
        # A reference that is all rounding noise (a gradient that is 0 in exact arithmetic) cannot
        # be matched to a relative 1e-5: such a case must be reworded.
        if t.is_floating_point() and t.numel() > 0:
            scale = t.abs().max().item()
            assert scale == 0 or scale > 1e-3, f"{name}.{suffix}: max |value| {scale} is rounding noise"
    meta = {"expr": expr, "inputs": len(inputs), "outputs": len(outputs), "grads": grads}
    return tensors, meta


# ---- writing safetensors (done here so that the bytes are deterministic) ------------------------

DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.int64: ("I64", "<i8"),
    torch.bool: ("BOOL", "|b1"),
    torch.uint8: ("U8", "|u1"),
}


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """The format: u64 little-endian header length N, N bytes of JSON, then the raw data.
    Tensors are laid out in key order; the header is padded with spaces to a multiple of 8."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous().cpu()
        code, np_dtype = DTYPES[t.dtype]
        data = np.ascontiguousarray(t.numpy()).astype(np_dtype, copy=False).tobytes()
        header[key] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "ops.safetensors")
    args = parser.parse_args()

    torch.set_num_threads(1)  # the same reductions order on every machine
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    for name in names:
        assert name.replace("_", "").isalnum(), f"case name {name!r} must be [A-Za-z0-9_]"

    tensors, metadata = {}, {}
    for name, makers, expr in CASES:
        case_tensors, meta = run_case(name, makers, expr)
        for suffix, t in case_tensors.items():
            tensors[f"{name}.{suffix}"] = t
        metadata[f"case.{name}"] = json.dumps(meta, sort_keys=True)
    metadata["cases"] = ",".join(names)
    metadata["generator"] = "tools/make_op_fixtures.py"
    metadata["torch_version"] = torch.__version__
    metadata["numpy_version"] = np.__version__

    write_safetensors(args.out, tensors, metadata)
    # Check the file with the reference implementation of the format.
    from safetensors import safe_open

    with safe_open(str(args.out), framework="pt") as f:
        assert set(f.keys()) == set(tensors), "safetensors readback: keys differ"
        for key in f.keys():
            assert torch.equal(f.get_tensor(key), tensors[key].detach()), f"safetensors readback: {key} differs"
        assert f.metadata() == metadata
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({len(CASES)} cases, {len(tensors)} tensors, {size} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
