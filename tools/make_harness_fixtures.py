#!/usr/bin/env python3
"""Generates tests/fixtures/harness.safetensors: PyTorch references for every case of the op harness.

The cases are not described here: `fbseg_harness --list-cases` writes the C++ registry
(tests/harness/cases/*.hpp) as JSON (id, op, inputs with shape/domain/layout, attributes), and this
script builds each case's inputs from that, runs the op through the one-line torch mapping in OPS
below, and stores per case `<id>.in<k>` (the contiguous base of input k, float32/int64/bool),
`<id>.out<k>`, `<id>.gout<k>` (a random upstream gradient for each output that requires grad) and
`<id>.grad<k>` (torch's gradient of input k's base). The metadata holds the case list and, per case,
{"outputs", "gouts", "grads"}.

References are computed in float64 from the float32 inputs and rounded to float32 once, so a test
measures fbseg's float32 error, not the sum of two implementations' rounding.

    cmake --build build/dev --target fbseg_harness
    python3 tools/make_harness_fixtures.py [--harness build/dev/tests/fbseg_harness] [--out ...]
"""
import argparse
import json
import subprocess
import sys
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_op_fixtures import write_safetensors  # noqa: E402 - the deterministic writer

REPO = Path(__file__).resolve().parent.parent


# ---- the torch side of every op: f(inputs, attrs) -> tensor or tuple ---------------------------

def other(x, a):
    """The second operand: the "scalar" attribute when the case has one, else input 1."""
    return a["scalar"] if "scalar" in a else x[1]


def dims(a):
    return a.get("dims") or None


def reduction(loss, a):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[a["reduction"]]


def dice_loss(x, t, smooth, mode, red):
    p = torch.sigmoid(x)
    d = list(range(1, x.dim())) if mode == "per_image" else list(range(x.dim()))
    inter, card = (p * t).sum(d), p.sum(d) + t.sum(d)
    loss = 1 - (2 * inter + smooth) / (card + smooth)
    return loss if mode == "batch" else {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[red]


def multiclass_dice(x, t, a):
    """MONAI's DiceLoss(softmax=True, to_onehot_y=True) written out (tests/test_losses.cpp checks
    fbseg against MONAI itself): pixels labelled ignore_index leave every sum."""
    k = x.shape[1]
    ig = a.get("ignore_index")
    keep = torch.ones_like(t, dtype=torch.bool) if ig is None else t != ig
    m = keep.unsqueeze(1).to(x.dtype)
    onehot = F.one_hot(torch.where(keep, t, 0), k).movedim(-1, 1).to(x.dtype) * m
    p = torch.softmax(x, 1) * m
    if not a["include_background"]:
        p, onehot = p[:, 1:], onehot[:, 1:]
    d = list(range(2, x.dim())) if a["mode"] == "per_image" else [0] + list(range(2, x.dim()))
    loss = 1 - (2 * (p * onehot).sum(d) + a["smooth_nr"]) / (p.sum(d) + onehot.sum(d) + a["smooth_dr"])
    return reduction(loss, a)


def focal(x, t, a):  # torchvision.ops.sigmoid_focal_loss
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** a["gamma"]
    if "alpha" in a:
        loss = (a["alpha"] * t + (1 - a["alpha"]) * (1 - t)) * loss
    return reduction(loss, a)


def interp(x, a, mode):
    kw = {"align_corners": a["align_corners"]} if mode == "bilinear" else {}
    if "scale" in a:
        return F.interpolate(x, scale_factor=a["scale"], mode=mode, **kw)
    return F.interpolate(x, size=a["size"], mode=mode, **kw)


def batch_norm(x, a):
    rm, rv = x[1].clone(), x[2].clone()
    y = F.batch_norm(x[0], rm, rv, x[3], x[4], a["training"], a["momentum"], a["eps"])
    return y, rm, rv


def conv(x, a):
    return F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, a["stride"], a["padding"], a["dilation"], a["groups"])


def conv_t(x, a):
    return F.conv_transpose2d(x[0], x[1], x[2] if len(x) > 2 else None, a["stride"], a["padding"],
                              a["output_padding"], a["groups"], a["dilation"])


def to_dtype(x, dtype):
    if dtype == "roundtrip":  # to the other float dtype and back
        return x.to(torch.float64 if x.dtype == torch.float32 else torch.float32).to(x.dtype)
    return x.to({"int64": torch.int64, "float32": torch.float32}[dtype])


def slice_(x, a):
    index = [slice(None)] * x.dim()
    index[a["dim"]] = slice(a["start"], a["end"], a["step"])
    return x[tuple(index)]


# One line per op (in-place ops get a clone of input 0 from run_case, as in C++).
OPS = {
    # unary
    "neg": lambda x, a: -x[0], "exp": lambda x, a: torch.exp(x[0]), "log": lambda x, a: torch.log(x[0]),
    "sqrt": lambda x, a: torch.sqrt(x[0]), "abs": lambda x, a: torch.abs(x[0]), "relu": lambda x, a: F.relu(x[0]),
    "leaky_relu": lambda x, a: F.leaky_relu(x[0], a["negative_slope"]),
    "sigmoid": lambda x, a: torch.sigmoid(x[0]), "tanh": lambda x, a: torch.tanh(x[0]),
    "silu": lambda x, a: F.silu(x[0]), "pow": lambda x, a: torch.pow(x[0], a["exponent"]),
    "square": lambda x, a: torch.square(x[0]), "clamp": lambda x, a: torch.clamp(x[0], a["min"], a["max"]),
    "clamp_min": lambda x, a: torch.clamp_min(x[0], a["min"]), "clamp_max": lambda x, a: torch.clamp_max(x[0], a["max"]),
    "neg_": lambda x, a: x[0].neg_(), "exp_": lambda x, a: x[0].exp_(), "sqrt_": lambda x, a: x[0].sqrt_(),
    "relu_": lambda x, a: x[0].relu_(), "leaky_relu_": lambda x, a: F.leaky_relu_(x[0], a["negative_slope"]),
    "sigmoid_": lambda x, a: x[0].sigmoid_(), "tanh_": lambda x, a: x[0].tanh_(),
    # binary
    "add": lambda x, a: x[0] + other(x, a), "sub": lambda x, a: x[0] - other(x, a),
    "mul": lambda x, a: x[0] * other(x, a), "div": lambda x, a: x[0] / other(x, a),
    "maximum": lambda x, a: torch.maximum(x[0], x[1] + a["shift"]),
    "minimum": lambda x, a: torch.minimum(x[0], x[1] + a["shift"]),
    "add_": lambda x, a: x[0].add_(other(x, a)), "sub_": lambda x, a: x[0].sub_(other(x, a)),
    "mul_": lambda x, a: x[0].mul_(other(x, a)), "div_": lambda x, a: x[0].div_(other(x, a)),
    "gt": lambda x, a: x[0] > other(x, a), "lt": lambda x, a: x[0] < other(x, a), "ge": lambda x, a: x[0] >= other(x, a),
    "le": lambda x, a: x[0] <= other(x, a), "eq": lambda x, a: x[0] == other(x, a), "ne": lambda x, a: x[0] != other(x, a),
    # reductions
    "sum": lambda x, a: x[0].sum(dim=dims(a), keepdim=a.get("keepdim", False)),
    "mean": lambda x, a: x[0].mean(dim=dims(a), keepdim=a.get("keepdim", False)),
    "sum_to": lambda x, a: x[0].sum_to_size(a["shape"]),
    "max": lambda x, a: tuple(torch.max(x[0], a["dim"], a["keepdim"])) if "dim" in a else x[0].max(),
    "min": lambda x, a: tuple(torch.min(x[0], a["dim"], a["keepdim"])) if "dim" in a else x[0].min(),
    "argmax": lambda x, a: torch.argmax(x[0], a["dim"], a["keepdim"]) if "dim" in a else torch.argmax(x[0]),
    "var": lambda x, a: torch.var(x[0], dim=dims(a), correction=a["correction"], keepdim=a.get("keepdim", False)),
    # linear algebra, softmax, joins
    "matmul": lambda x, a: torch.matmul(x[0], x[1]), "bmm": lambda x, a: torch.bmm(x[0], x[1]),
    "softmax": lambda x, a: torch.softmax(x[0], a["dim"]), "log_softmax": lambda x, a: torch.log_softmax(x[0], a["dim"]),
    "concat": lambda x, a: torch.cat(x, a["dim"]), "stack": lambda x, a: torch.stack(x, a["dim"]),
    "pad": lambda x, a: F.pad(x[0], a["pads"], value=a["value"]),
    "where": lambda x, a: torch.where(x[0], x[1], x[2]),
    # views, copies, conversions
    "view": lambda x, a: x[0].view(a["shape"]), "reshape": lambda x, a: x[0].reshape(a["shape"]),
    "permute": lambda x, a: x[0].permute(a["dims"]), "transpose": lambda x, a: x[0].transpose(a["dim0"], a["dim1"]),
    "t": lambda x, a: x[0].t(), "slice": lambda x, a: slice_(x[0], a),
    "narrow": lambda x, a: x[0].narrow(a["dim"], a["start"], a["length"]),
    "select": lambda x, a: x[0].select(a["dim"], a["index"]), "expand": lambda x, a: x[0].expand(a["shape"]),
    "squeeze": lambda x, a: x[0].squeeze(a["dim"]) if "dim" in a else x[0].squeeze(),
    "unsqueeze": lambda x, a: x[0].unsqueeze(a["dim"]),
    "flatten": lambda x, a: x[0].flatten(a["start_dim"], a["end_dim"]), "detach": lambda x, a: x[0].detach(),
    "contiguous": lambda x, a: x[0].contiguous(), "clone": lambda x, a: x[0].clone(),
    "to_dtype": lambda x, a: to_dtype(x[0], a["dtype"]),
    "to_device": lambda x, a: x[0].to("cpu"),
    "copy_": lambda x, a: x[0].copy_(x[1]), "fill_": lambda x, a: x[0].fill_(a["value"]), "zero_": lambda x, a: x[0].zero_(),
    # factories
    "full": lambda x, a: torch.full(a["shape"], a["value"]), "zeros": lambda x, a: torch.zeros(a["shape"]),
    "ones": lambda x, a: torch.ones(a["shape"]), "full_like": lambda x, a: torch.full_like(x[0], a["value"]),
    "zeros_like": lambda x, a: torch.zeros_like(x[0]), "ones_like": lambda x, a: torch.ones_like(x[0]),
    "scalar_tensor": lambda x, a: torch.tensor(a["value"]),
    "arange": lambda x, a: torch.arange(int(a["start"]), int(a["end"]), int(a["step"]), dtype=torch.int64),
    # indexing and rearranging (ops/index.hpp, split.hpp, logical.hpp)
    "round": lambda x, a: torch.round(x[0]), "clamp_": lambda x, a: x[0].clamp_(a["min"], a["max"]),
    "clamp_min_": lambda x, a: x[0].clamp_min_(a["min"]), "clamp_max_": lambda x, a: x[0].clamp_max_(a["max"]),
    "argmin": lambda x, a: torch.argmin(x[0], a["dim"], a["keepdim"]) if "dim" in a else torch.argmin(x[0]),
    "masked_fill": lambda x, a: x[0].masked_fill(x[1], a["value"]),
    "masked_fill_": lambda x, a: x[0].masked_fill_(x[1], a["value"]),
    "gather": lambda x, a: torch.gather(x[0], a["dim"], x[1]), "cumsum": lambda x, a: torch.cumsum(x[0], a["dim"]),
    "topk": lambda x, a: tuple(torch.topk(x[0], a["k"], a["dim"], a["largest"], a["sorted"])),
    "flip": lambda x, a: torch.flip(x[0], a["dims"]), "repeat": lambda x, a: x[0].repeat(a["repeats"]),
    "chunk": lambda x, a: torch.chunk(x[0], a["chunks"], a["dim"]),
    "split": lambda x, a: torch.split(x[0], a["sizes"] if "sizes" in a else a["size"], a["dim"]),
    "any": lambda x, a: torch.any(x[0], a["dim"], a["keepdim"]) if "dim" in a else torch.any(x[0]),
    "all": lambda x, a: torch.all(x[0], a["dim"], a["keepdim"]) if "dim" in a else torch.all(x[0]),
    "cat": lambda x, a: torch.cat(x, a.get("dim", 0)),
    # layer ops
    "conv2d": conv, "conv_transpose2d": conv_t,
    "conv2d_inference": lambda x, a: F.relu(conv(x, a)) if a["act"] == "relu" else conv(x, a),
    "max_pool2d": lambda x, a: F.max_pool2d(x[0], a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"]),
    "adaptive_avg_pool2d": lambda x, a: F.adaptive_avg_pool2d(x[0], a["size"]),
    "upsample_nearest2d": lambda x, a: interp(x[0], a, "nearest"),
    "upsample_bilinear2d": lambda x, a: interp(x[0], a, "bilinear"),
    "batch_norm": batch_norm,
    # losses
    "binary_cross_entropy_with_logits": lambda x, a: F.binary_cross_entropy_with_logits(
        x[0], x[1], pos_weight=x[2] if len(x) > 2 else None, reduction=a["reduction"]),
    "dice_loss": lambda x, a: dice_loss(x[0], x[1], a["smooth"], a["mode"], a["reduction"]),
    "sigmoid_focal_loss": lambda x, a: focal(x[0], x[1], a),
    "cross_entropy": lambda x, a: F.cross_entropy(x[0], x[1], weight=x[2] if len(x) > 2 else None,
                                                  ignore_index=a["ignore_index"], reduction=a["reduction"],
                                                  label_smoothing=a["label_smoothing"]),
    "mse_loss": lambda x, a: F.mse_loss(x[0], x[1], reduction=a["reduction"]),
    "l1_loss": lambda x, a: F.l1_loss(x[0], x[1], reduction=a["reduction"]),
    "multiclass_dice_loss": lambda x, a: multiclass_dice(x[0], x[1], a),
    "ce_dice_loss": lambda x, a: a["ce_weight"] * F.cross_entropy(x[0], x[1], weight=x[2]) +
    a["dice_weight"] * multiclass_dice(x[0], x[1], {**a, "reduction": "mean"}),
    "bce_dice_loss": lambda x, a: a["bce_weight"] * F.binary_cross_entropy_with_logits(x[0], x[1]) +
    a["dice_weight"] * dice_loss(x[0], x[1], a["smooth"], a["mode"], "mean"),
}


# ---- inputs: the same domains and layouts as tests/harness/op_case.hpp ---------------------------

def seed_of(case_id: str, k: int) -> int:
    return (zlib.crc32(case_id.encode()) + k) & 0x7FFFFFFFFFFF


def make_base(spec: dict, gen: torch.Generator) -> torch.Tensor:
    shape, domain = spec["base_shape"], spec["domain"]
    n = 1
    for s in shape:
        n *= s
    u = lambda: torch.rand(shape, generator=gen, dtype=torch.float64)  # noqa: E731
    if domain == "randn":
        v = torch.randn(shape, generator=gen, dtype=torch.float64)
    elif domain == "uniform":
        v = -1 + 2 * u()
    elif domain == "positive":
        v = 0.5 + 1.5 * u()
    elif domain == "away0":
        v = torch.where(u() < 0.5, -1.0, 1.0) * (0.3 + 1.2 * u())
    elif domain == "distinct":  # 0.1 (k - n/2) + U(0, 0.025), shuffled
        k = torch.arange(n, dtype=torch.float64)
        v = (0.1 * (k - n // 2) + 0.025 * torch.rand(n, generator=gen, dtype=torch.float64))
        v = v[torch.randperm(n, generator=gen)].reshape(shape)
    elif domain == "unit":
        v = u()
    elif domain == "mask":
        v = (u() < 0.5).double()
    elif domain == "small_int":
        v = torch.floor(5 * u()) - 2
    elif domain == "bool":
        return u() < 0.5
    elif domain == "index":
        return torch.floor(spec["high"] * u()).to(torch.int64)
    elif domain == "int64":
        return (torch.floor(7 * u()) - 3).to(torch.int64)
    else:
        raise ValueError(f"unknown domain {domain}")
    return v.to(torch.float32)


def apply_layout(base: torch.Tensor, spec: dict) -> torch.Tensor:
    layout = spec["layout"]
    if layout == "contiguous":
        return base
    if layout == "transposed":
        return base.transpose(-2, -1)
    if layout == "sliced":
        return base[..., 1::2]
    if layout == "expanded":
        return base.expand(spec["shape"])
    raise ValueError(f"unknown layout {layout}")


def run_case(case: dict):
    cid = case["id"]
    bases = [make_base(s, torch.Generator().manual_seed(seed_of(cid, k))) for k, s in enumerate(case["inputs"])]
    # float64 leaves made from the float32 values: the reference is computed in float64
    leaves = [(b.double() if b.is_floating_point() else b.clone()).requires_grad_(s["requires_grad"])
              for b, s in zip(bases, case["inputs"])]
    views = [apply_layout(x, s) for x, s in zip(leaves, case["inputs"])]
    if case["inplace"]:
        views[0] = views[0].clone()
    for k, (v, s) in enumerate(zip(views, case["inputs"])):
        assert list(v.shape) == s["shape"], f"{cid}: input {k} has shape {list(v.shape)}, expected {s['shape']}"
    result = OPS[case["op"]](views, case["attrs"])
    outputs = list(result) if isinstance(result, tuple) else [result]

    tensors = {f"in{k}": b for k, b in enumerate(bases)}
    roots, gouts, seeded = [], [], []
    gen = torch.Generator().manual_seed(seed_of(cid, 1000))
    for k, y in enumerate(outputs):
        tensors[f"out{k}"] = (y.detach().float() if y.is_floating_point() else y.detach())
        if y.requires_grad:
            g = torch.randn(y.shape, generator=gen, dtype=torch.float32)
            tensors[f"gout{k}"] = g
            roots.append(y)
            gouts.append(g.double())
            seeded.append(k)
    grads = []
    if roots:
        want = [k for k, x in enumerate(leaves) if x.requires_grad]
        computed = torch.autograd.grad(roots, [leaves[k] for k in want], gouts, allow_unused=True)
        for k, g in zip(want, computed):
            tensors[f"grad{k}"] = torch.zeros_like(bases[k]) if g is None else g.float()
            grads.append(k)
    # "spec": the case as listed, so the C++ test can tell a case edited since the fixture was made
    return tensors, {"outputs": len(outputs), "gouts": seeded, "grads": grads, "spec": case}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", type=Path, default=REPO / "build" / "dev" / "tests" / "fbseg_harness")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "harness.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)

    registry = json.loads(subprocess.run([str(args.harness), "--list-cases"], check=True, capture_output=True,
                                         text=True).stdout)
    cases = [c for c in registry["cases"] if c["parity"]]
    missing = sorted({c["op"] for c in cases} - set(OPS))
    assert not missing, f"no torch mapping in OPS for: {missing}"

    tensors, metadata, failed = {}, {}, []
    for case in cases:
        try:
            case_tensors, meta = run_case(case)
        except Exception as e:  # report every broken case at once
            failed.append(f"{case['id']}: {e}")
            continue
        for suffix, t in case_tensors.items():
            tensors[f"{case['id']}.{suffix}"] = t
        metadata[f"case.{case['id']}"] = json.dumps(meta, sort_keys=True)
    assert not failed, "cases that torch cannot run:\n  " + "\n  ".join(failed)
    metadata["cases"] = json.dumps([c["id"] for c in cases])
    metadata["generator"] = "tools/make_harness_fixtures.py"
    metadata["torch_version"] = torch.__version__
    write_safetensors(args.out, tensors, metadata)

    from safetensors import safe_open  # check the file with the reference reader

    with safe_open(str(args.out), framework="pt") as f:
        assert set(f.keys()) == set(tensors), "safetensors readback: keys differ"
        for key in f.keys():
            assert torch.equal(f.get_tensor(key), tensors[key].detach()), f"safetensors readback: {key} differs"
    size = args.out.stat().st_size
    assert size < 1_000_000, f"{args.out} is {size} bytes: keep the harness fixture under 1 MB"
    print(f"wrote {args.out} ({len(cases)} cases, {len(tensors)} tensors, {size} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
