#!/usr/bin/env python3
"""Generates tests/fixtures/newops.safetensors: PyTorch reference values for the ops added by the
"what a PyTorch user reaches for" work (argmin, any/all, round, cumsum, flip, repeat, chunk/split,
gather, masked_fill, topk, cross_entropy, mse_loss, l1_loss, and sums over expanded dims).

The file layout is the one of tools/make_op_fixtures.py (keys "<case>.in0", ".out", ".out1",
".gout", ".grad0"..., metadata "case.<case>" = {"expr", "inputs", "outputs", "grads"}), written by
that script's deterministic safetensors writer; tests/test_newops.cpp rebuilds each expression
with fbseg and compares element by element, |fbseg - torch| <= atol + rtol |torch|.
This script adds input kinds for int64 indices and class targets.

    python3 tools/make_newop_fixtures.py [--out tests/fixtures/newops.safetensors]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_op_fixtures as base  # noqa: E402  (seed_of, write_safetensors, the float input kinds)

REPO = Path(__file__).resolve().parent.parent

randn, pos, ints, boolean = base.randn, base.pos, base.ints, base.boolean


def distinct(*shape):
    """A random permutation of 0.1 * k plus small noise: no ties (argmin, topk)."""
    return ("distinct", shape)


def halves(*shape):
    """Values k / 2 for integers k, half of them exactly at .5: round's ties to even."""
    return ("halves", shape)


def index(hi, *shape):
    """int64 in [0, hi)."""
    return ("index", shape, hi)


def target(classes, *shape, ignore=None):
    """int64 class indices in [0, classes), a quarter of them set to `ignore` when given."""
    return ("target", shape, classes, ignore)


def weight(*shape):
    """Positive class weights that take no gradient (torch's nll_loss refuses one for weight)."""
    return ("weight", shape)


def make_input(maker) -> torch.Tensor:
    kind, shape = maker[0], maker[1]
    if kind == "weight":
        return base.make_input("pos", shape)
    if kind == "distinct":
        n = int(np.prod(shape)) if shape else 1
        return (0.1 * torch.randperm(n).to(torch.float32) + 0.02 * torch.rand(n) - 0.05 * n).reshape(shape)
    if kind == "halves":
        return torch.randint(-6, 7, shape).to(torch.float32) / 2
    if kind == "index":
        return torch.randint(0, maker[2], shape)
    if kind == "target":
        classes, ignore = maker[2], maker[3]
        t = torch.randint(0, classes, shape)
        if ignore is not None:
            t = torch.where(torch.rand(shape) < 0.25, torch.full(shape, ignore), t)
        return t
    return base.make_input(kind, shape)


def weighted_cat(pieces, dim):
    """Joins split pieces, each scaled by its position + 1, so every piece's gradient differs."""
    return torch.cat([p * (i + 1) for i, p in enumerate(pieces)], dim)


CASES = [
    # argmin, any / all, round
    ("argmin_dim", [distinct(2, 3, 4)], "torch.argmin(in0, dim=1)"),
    ("argmin_keepdim", [distinct(2, 3, 4)], "torch.argmin(in0, dim=-1, keepdim=True)"),
    ("argmin_all", [distinct(3, 4)], "torch.argmin(in0)"),
    ("any_all_float", [ints(3, 4)], "torch.any(in0)"),
    ("any_dim_float", [ints(3, 4)], "torch.any(in0, dim=1)"),
    ("all_dim_keepdim", [ints(3, 4)], "torch.all(in0, dim=0, keepdim=True)"),
    ("any_dim_bool", [boolean(3, 4)], "torch.any(in0, dim=-1)"),
    ("all_bool", [boolean(3, 4)], "torch.all(in0)"),
    ("round_halves", [halves(4, 5)], "torch.round(in0)"),
    ("round_randn", [randn(3, 4)], "torch.round(in0 * 3)"),
    # cumsum
    ("cumsum_dim1", [randn(2, 3, 4)], "torch.cumsum(in0, dim=1)"),
    ("cumsum_last", [randn(2, 3, 4)], "torch.cumsum(in0, dim=-1)"),
    ("cumsum_permuted", [randn(2, 3, 4)], "torch.cumsum(in0.permute(2, 0, 1), dim=0)"),
    # flip, repeat
    ("flip_last", [randn(2, 3, 4)], "torch.flip(in0, dims=(-1,))"),
    ("flip_two", [randn(2, 3, 4)], "torch.flip(in0, dims=(0, 2))"),
    ("flip_transposed", [randn(3, 4)], "torch.flip(in0.t(), dims=(0,))"),
    ("repeat_same_rank", [randn(2, 3)], "in0.repeat(2, 3)"),
    ("repeat_more_dims", [randn(2, 3)], "in0.repeat(2, 1, 2)"),
    ("repeat_transposed", [randn(2, 3)], "in0.t().repeat(1, 2)"),
    # chunk, split (each piece scaled by its position + 1, then joined)
    ("chunk_dim1", [randn(2, 7)], "weighted_cat(torch.chunk(in0, 3, dim=1), 1)"),
    ("split_size", [randn(5, 3)], "weighted_cat(torch.split(in0, 2, dim=0), 0)"),
    ("split_sizes", [randn(5, 3)], "weighted_cat(torch.split(in0, [1, 4], dim=0), 0)"),
    # gather
    ("gather_dim1", [randn(3, 5), index(5, 3, 4)], "torch.gather(in0, 1, in1)"),
    ("gather_dim0_smaller", [randn(4, 3), index(4, 2, 2)], "torch.gather(in0, 0, in1)"),
    ("gather_repeated", [randn(3, 5), index(2, 3, 6)], "torch.gather(in0, 1, in1)"),
    ("gather_3d_last", [randn(2, 3, 4), index(4, 2, 3, 2)], "torch.gather(in0, 2, in1)"),
    ("gather_transposed", [randn(5, 3), index(5, 2, 5)], "torch.gather(in0.t(), 1, in1)"),
    # masked_fill
    ("masked_fill", [randn(3, 4), boolean(3, 4)], "in0.masked_fill(in1, -1.5)"),
    ("masked_fill_bcast", [randn(2, 3, 4), boolean(4)], "in0.masked_fill(in1, 0.5)"),
    ("masked_fill_inplace", [randn(3, 4), boolean(3, 1)], "in0.clone().masked_fill_(in1, 0.25)"),
    # topk (values and int64 indices)
    ("topk_largest", [distinct(3, 6)], "torch.topk(in0, 3, dim=1)"),
    ("topk_smallest_dim0", [distinct(5, 4)], "torch.topk(in0, 2, dim=0, largest=False)"),
    ("topk_3d", [distinct(2, 5, 3)], "torch.topk(in0, 2, dim=1)"),
    # cross_entropy
    ("ce_2d", [randn(3, 4), target(4, 3)], "F.cross_entropy(in0, in1)"),
    ("ce_seg", [randn(2, 3, 4, 5), target(3, 2, 4, 5)], "F.cross_entropy(in0, in1)"),
    ("ce_weight_ignore", [randn(2, 3, 4, 5), target(3, 2, 4, 5, ignore=-100), weight(3)],
     "F.cross_entropy(in0, in1, weight=in2)"),
    ("ce_ignore255_sum", [randn(2, 3, 4, 5), target(3, 2, 4, 5, ignore=255)],
     "F.cross_entropy(in0, in1, ignore_index=255, reduction='sum')"),
    ("ce_none", [randn(2, 3, 4), target(3, 2, 4, ignore=-100)], "F.cross_entropy(in0, in1, reduction='none')"),
    ("ce_smoothing", [randn(2, 3, 4, 5), target(3, 2, 4, 5, ignore=-100)],
     "F.cross_entropy(in0, in1, label_smoothing=0.1)"),
    ("ce_smoothing_weight", [randn(2, 3, 4, 5), target(3, 2, 4, 5, ignore=-100), weight(3)],
     "F.cross_entropy(in0, in1, weight=in2, label_smoothing=0.2)"),
    ("ce_smoothing_weight_none", [randn(2, 3, 4), target(3, 2, 4, ignore=-100), weight(3)],
     "F.cross_entropy(in0, in1, weight=in2, reduction='none', label_smoothing=0.3)"),
    ("ce_smoothing_sum", [randn(3, 4), target(4, 3)], "F.cross_entropy(in0, in1, reduction='sum', label_smoothing=0.1)"),
    ("ce_unbatched", [randn(5), target(5)], "F.cross_entropy(in0, in1)"),
    ("ce_transposed", [randn(4, 3), target(4, 3)], "F.cross_entropy(in0.t(), in1)"),
    # mse_loss, l1_loss
    ("mse_mean", [randn(3, 4), randn(3, 4)], "F.mse_loss(in0, in1)"),
    ("mse_sum", [randn(3, 4), randn(3, 4)], "F.mse_loss(in0, in1, reduction='sum')"),
    ("mse_none", [randn(3, 4), randn(3, 4)], "F.mse_loss(in0, in1, reduction='none')"),
    ("l1_mean", [randn(3, 4), randn(3, 4)], "F.l1_loss(in0, in1)"),
    ("l1_sum", [randn(3, 4), randn(3, 4)], "F.l1_loss(in0, in1, reduction='sum')"),
    ("l1_none", [randn(3, 4), randn(3, 4)], "F.l1_loss(in0, in1, reduction='none')"),
    # reductions over expanded (stride-0) dims
    ("sum_expanded", [randn(1, 4)], "in0.expand(1000, 4).sum(0)"),
    ("sum_expanded_all", [randn(3, 1)], "in0.expand(2, 3, 500).sum()"),
    ("mean_expanded", [randn(3, 1)], "in0.expand(2, 3, 500).mean(dim=(0, 2))"),
]


def run_case(name, makers, expr):
    """As make_op_fixtures.run_case, with this script's input kinds and helpers in scope."""
    torch.manual_seed(base.seed_of(name))
    inputs = [make_input(m) for m in makers]
    leaves = [x.clone().requires_grad_(x.is_floating_point() and m[0] != "weight") for x, m in zip(inputs, makers)]
    scope = {"torch": torch, "F": F, "weighted_cat": weighted_cat}
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
        computed = iter(torch.autograd.grad(outputs[0], diff, gout))
        for i, x in enumerate(leaves):
            if x.requires_grad:
                tensors[f"grad{i}"] = next(computed)
                grads.append(i)
    meta = {"expr": expr, "inputs": len(inputs), "outputs": len(outputs), "grads": grads}
    return tensors, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "newops.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    tensors, metadata = {}, {}
    for name, makers, expr in CASES:
        assert name.replace("_", "").isalnum(), f"case name {name!r} must be [A-Za-z0-9_]"
        case_tensors, meta = run_case(name, makers, expr)
        for suffix, t in case_tensors.items():
            tensors[f"{name}.{suffix}"] = t
        metadata[f"case.{name}"] = json.dumps(meta, sort_keys=True)
    metadata["cases"] = ",".join(names)
    metadata["generator"] = "tools/make_newop_fixtures.py"
    metadata["torch_version"] = torch.__version__
    metadata["numpy_version"] = np.__version__
    base.write_safetensors(args.out, tensors, metadata)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({len(CASES)} cases, {len(tensors)} tensors, {size} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
