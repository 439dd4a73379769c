#!/usr/bin/env python3
"""Generates tests/fixtures/training.safetensors: PyTorch reference values for fbseg's training
tests (tests/test_training.cpp): losses, optimizers, gradient clipping and learning-rate schedules.

Keys (every tensor is float32 for the losses, float64 for the rest):

    loss.<case>.logits, .target      inputs ([2, 2, 4, 5]; logits include +-12 and exact zeros)
    loss.<case>.pos_weight           where the case has one ([2, 1, 1], one weight per channel)
    loss.<case>.loss                 the loss (a scalar, or the unreduced tensor for reduction none)
    loss.<case>.gout                 the upstream gradient used when the loss is not a scalar
    loss.<case>.grad                 d loss / d logits (through gout when there is one)

    optim.init.p<i>                  the four parameters before the first step (p0, p1 in group 0,
                                     p2, p3 in group 1)
    optim.grads.p<i>                 [10, ...]: the gradient given to p<i> before step k
    optim.grad_defined               [10, 4]: 0 where p<i> has no gradient at step k (it is skipped)
    optim.<config>.p<i>              [10, ...]: p<i> after each of the 10 steps

    clip.g<i>                        three gradients before clipping
    clip.<case>.norm                 [1]: what clip_grad_norm_ returned
    clip.<case>.g<i>                 the gradients after clipping

    sched.<name>.lr                  [25, 2]: the lr of the two groups after construction (row 0)
                                     and after each of 24 scheduler steps
    sched.<name>.metric              [24]: the metric fed to ReduceLROnPlateau at each step

The case parameters are in the __metadata__ ("case.<key>": JSON) for readers of a failing test;
tests/test_training.cpp repeats them. __metadata__ also holds "torch_version" and "generator".
Seeded (torch.manual_seed per section), and written by this script itself (sorted JSON header),
so rerunning it gives a byte-identical file for a given torch version.

    python3 tools/make_training_fixtures.py [--out tests/fixtures/training.safetensors]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
import struct

REPO = Path(__file__).resolve().parent.parent
SHAPE = (2, 2, 4, 5)

tensors: dict[str, torch.Tensor] = {}
metadata: dict[str, str] = {}


DTYPE_CODES = {torch.float32: "F32", torch.float64: "F64"}


def write_safetensors(path: Path) -> None:
    """The safetensors format with a sorted, compact JSON header padded to 8 bytes."""
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for key in sorted(tensors):
        data = tensors[key].numpy().tobytes()
        header[key] = {"dtype": DTYPE_CODES[tensors[key].dtype], "shape": list(tensors[key].shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def put(key: str, value: torch.Tensor) -> None:
    assert key not in tensors, key
    tensors[key] = value.detach().contiguous().clone()


# ---- losses -------------------------------------------------------------------------------------


def dice(logits, target, smooth, per_image, reduction):
    p = torch.sigmoid(logits)
    dims = tuple(range(1, logits.dim())) if per_image else tuple(range(logits.dim()))
    inter = (p * target).sum(dims)
    card = p.sum(dims) + target.sum(dims)
    loss = 1 - (2 * inter + smooth) / (card + smooth)
    if not per_image:
        return loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def focal(logits, target, alpha, gamma, reduction):
    # torchvision.ops.sigmoid_focal_loss, verbatim
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * target + (1 - alpha) * (1 - target)
        loss = alpha_t * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


LOSS_CASES = {
    # name: (kind, parameters)
    "bce_mean": ("bce", {"reduction": "mean"}),
    "bce_sum": ("bce", {"reduction": "sum"}),
    "bce_none": ("bce", {"reduction": "none"}),
    "bce_soft_mean": ("bce", {"reduction": "mean", "soft": True}),
    "bce_pw_mean": ("bce", {"reduction": "mean", "pos_weight": [2.0, 0.5]}),
    "bce_pw_sum": ("bce", {"reduction": "sum", "pos_weight": [3.0, 0.25]}),
    "bce_pw_none": ("bce", {"reduction": "none", "pos_weight": [2.0, 0.5]}),
    "dice_image_mean": ("dice", {"smooth": 1.0, "per_image": True, "reduction": "mean"}),
    "dice_image_sum": ("dice", {"smooth": 1.0, "per_image": True, "reduction": "sum"}),
    "dice_image_none": ("dice", {"smooth": 0.5, "per_image": True, "reduction": "none"}),
    "dice_batch": ("dice", {"smooth": 1.0, "per_image": False, "reduction": "mean"}),
    "dice_batch_soft": ("dice", {"smooth": 1e-3, "per_image": False, "reduction": "mean", "soft": True}),
    "focal_mean": ("focal", {"alpha": 0.25, "gamma": 2.0, "reduction": "mean"}),
    "focal_noalpha_sum": ("focal", {"alpha": -1.0, "gamma": 1.5, "reduction": "sum"}),
    "focal_none": ("focal", {"alpha": 0.6, "gamma": 3.0, "reduction": "none"}),
    "bce_dice": ("bce_dice", {"bce_weight": 0.7, "dice_weight": 0.3, "smooth": 1.0, "per_image": True}),
    "bce_dice_pw_batch": ("bce_dice", {"bce_weight": 1.0, "dice_weight": 1.0, "smooth": 1.0, "per_image": False,
                                       "pos_weight": [2.0, 0.5]}),
}


def make_losses() -> None:
    for index, (name, (kind, p)) in enumerate(LOSS_CASES.items()):
        torch.manual_seed(1000 + index)
        logits = torch.randn(SHAPE) * 3
        flat = logits.view(-1)
        flat[0], flat[7], flat[13], flat[21], flat[40] = 12.0, -12.0, 0.0, 0.0, 9.5
        target = torch.rand(SHAPE) if p.get("soft") else (torch.rand(SHAPE) < 0.4).float()
        logits.requires_grad_(True)
        pos_weight = torch.tensor(p["pos_weight"]).view(2, 1, 1) if "pos_weight" in p else None
        if kind == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction=p["reduction"])
        elif kind == "dice":
            loss = dice(logits, target, p["smooth"], p["per_image"], p["reduction"])
        elif kind == "focal":
            loss = focal(logits, target, p["alpha"], p["gamma"], p["reduction"])
        else:
            bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
            loss = p["bce_weight"] * bce + p["dice_weight"] * dice(logits, target, p["smooth"], p["per_image"], "mean")
        prefix = f"loss.{name}."
        put(prefix + "logits", logits)
        put(prefix + "target", target)
        if pos_weight is not None:
            put(prefix + "pos_weight", pos_weight)
        put(prefix + "loss", loss.reshape(-1) if loss.dim() == 0 else loss)
        if loss.dim() == 0:
            loss.backward()
        else:
            gout = torch.randn(loss.shape)
            put(prefix + "gout", gout)
            loss.backward(gout)
        put(prefix + "grad", logits.grad)
        metadata[f"case.loss.{name}"] = json.dumps({"kind": kind, **p}, sort_keys=True)


# ---- optimizers ---------------------------------------------------------------------------------

PARAM_SHAPES = [(3, 4), (5,), (2, 3), (4,)]
STEPS = 10
GRAD_SCALE = [1.0, 2.0, 0.5, 0.1, 3.0, 0.05, 1.0, 0.2, 0.01, 1.0]  # shrinking steps exercise AMSGrad


def grad_defined(step: int, i: int) -> bool:
    return not ((i == 1 and step == 0) or (i == 3 and step in (3, 4)))


# name: (optimizer class, defaults, group-1 overrides)
OPTIM_CONFIGS = {
    "sgd": (torch.optim.SGD, {"lr": 0.1}, {"lr": 0.05, "weight_decay": 0.01}),
    "sgd_momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
                     {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.0}),
    "sgd_nesterov": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
                     {"lr": 0.02, "weight_decay": 0.05}),
    "adam": (torch.optim.Adam, {"lr": 1e-2}, {"lr": 5e-3, "weight_decay": 0.1, "betas": (0.8, 0.999)}),
    "adam_amsgrad": (torch.optim.Adam, {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.01},
                     {"lr": 5e-3, "betas": (0.8, 0.99)}),
    "adamw": (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 1e-2},
              {"lr": 5e-3, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    "adamw_amsgrad": (torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 1e-2, "amsgrad": True},
                      {"lr": 5e-3, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
}


def make_optimizers() -> None:
    torch.manual_seed(2000)
    init = [torch.randn(s, dtype=torch.float64) for s in PARAM_SHAPES]
    grads = [torch.stack([torch.randn(s, dtype=torch.float64) * GRAD_SCALE[k] for k in range(STEPS)])
             for s in PARAM_SHAPES]
    mask = torch.tensor([[1.0 if grad_defined(k, i) else 0.0 for i in range(4)] for k in range(STEPS)],
                        dtype=torch.float64)
    for i in range(4):
        put(f"optim.init.p{i}", init[i])
        grads[i] = grads[i] * mask[:, i].view(-1, *([1] * len(PARAM_SHAPES[i])))
        put(f"optim.grads.p{i}", grads[i])
    put("optim.grad_defined", mask)
    for name, (cls, defaults, group1) in OPTIM_CONFIGS.items():
        params = [t.clone().requires_grad_(True) for t in init]
        opt = cls([{"params": params[:2]}, {"params": params[2:], **group1}], **defaults)
        history = [[] for _ in params]
        for k in range(STEPS):
            for i, p in enumerate(params):
                p.grad = grads[i][k].clone() if grad_defined(k, i) else None
            opt.step()
            for i, p in enumerate(params):
                history[i].append(p.detach().clone())
        for i in range(4):
            put(f"optim.{name}.p{i}", torch.stack(history[i]))
        metadata[f"case.optim.{name}"] = json.dumps({"class": cls.__name__, "defaults": defaults, "group1": group1},
                                                    sort_keys=True)


# ---- gradient clipping --------------------------------------------------------------------------

CLIP_CASES = {"l2": (1.0, 2.0), "l2_noop": (100.0, 2.0), "inf": (0.5, math.inf), "l1": (2.0, 1.0)}


def make_clip() -> None:
    torch.manual_seed(3000)
    grads = [torch.randn(s, dtype=torch.float64) for s in [(3, 4), (5,), (2, 2, 2)]]
    for i, g in enumerate(grads):
        put(f"clip.g{i}", g)
    for name, (max_norm, norm_type) in CLIP_CASES.items():
        params = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        put(f"clip.{name}.norm", norm.reshape(1).to(torch.float64))
        for i, p in enumerate(params):
            put(f"clip.{name}.g{i}", p.grad)
        metadata[f"case.clip.{name}"] = json.dumps({"max_norm": max_norm, "norm_type": str(norm_type)})


# ---- learning-rate schedules --------------------------------------------------------------------

SCHED_STEPS = 24
BASE_LRS = (0.1, 0.02)


def warmup_cosine(base: float, warmup: int, total: int, min_lr: float):
    def lr(s: int) -> float:
        if s < warmup:
            return base * (s + 1) / warmup
        if s >= total:
            return min_lr
        progress = (s - warmup) / (total - warmup)
        return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    return lambda s: lr(s) / base


SCHEDULES = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
    "multistep": lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[4, 9, 9, 15], gamma=0.3),
    "exponential": lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.85),
    "polynomial": lambda opt: torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=15, power=2.0),
    "warmup_cosine": lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, [warmup_cosine(b, 5, 20, 1e-3) for b in BASE_LRS]),
    "plateau_min": lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=2, threshold=0.01, threshold_mode="rel", cooldown=1,
        min_lr=[0.01, 0.005]),
    "plateau_max": lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs", cooldown=0, min_lr=0.001),
}

PLATEAU_METRICS = {
    "plateau_min": [1.0, 0.8, 0.7, 0.69, 0.695, 0.70, 0.68, 0.60, 0.61, 0.605, 0.603, 0.602, 0.601, 0.5, 0.51,
                    0.52, 0.53, 0.54, 0.49, 0.489, 0.488, 0.487, 0.3, 0.31],
    "plateau_max": [0.1, 0.2, 0.22, 0.23, 0.3, 0.31, 0.32, 0.33, 0.5, 0.52, 0.54, 0.6, 0.6, 0.6, 0.7, 0.71, 0.72,
                    0.73, 0.74, 0.8, 0.81, 0.82, 0.83, 0.84],
}


def make_schedules() -> None:
    for name, make in SCHEDULES.items():
        params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
        opt = torch.optim.SGD([{"params": [params[0]], "lr": BASE_LRS[0]},
                               {"params": [params[1]], "lr": BASE_LRS[1]}], lr=BASE_LRS[0])
        sched = make(opt)
        lrs = [[g["lr"] for g in opt.param_groups]]
        for k in range(SCHED_STEPS):
            opt.step()
            if name in PLATEAU_METRICS:
                sched.step(PLATEAU_METRICS[name][k])
            else:
                sched.step()
            lrs.append([g["lr"] for g in opt.param_groups])
        put(f"sched.{name}.lr", torch.tensor(lrs, dtype=torch.float64))
        if name in PLATEAU_METRICS:
            put(f"sched.{name}.metric", torch.tensor(PLATEAU_METRICS[name], dtype=torch.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "training.safetensors")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    make_losses()
    make_optimizers()
    make_clip()
    make_schedules()
    metadata["torch_version"] = torch.__version__
    metadata["generator"] = "tools/make_training_fixtures.py"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
