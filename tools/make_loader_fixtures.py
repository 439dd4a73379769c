#!/usr/bin/env python3
"""Generates tests/fixtures/loader/monai_dice.safetensors: MONAI's DiceLoss and DiceCELoss values
(and one input gradient) that tests/test_losses.cpp compares nn::multiclass_dice_loss and
nn::ce_dice_loss with.

Each case stores `<case>.logits` (float32 [N, K, H, W]), `<case>.target` (int64 [N, H, W]),
`<case>.loss` (MONAI's loss computed in float64 from those float32 logits, flattened) and, for the
cases with a gradient, `<case>.grad` (d sum(loss * gout) / d logits in float64, with `<case>.gout`
the float32 upstream gradient). The metadata "cases" holds, per case, the MONAI arguments, so the
C++ test reads the options from the same place.

    python3 tools/make_loader_fixtures.py [--out tests/fixtures/loader/monai_dice.safetensors]
"""
import argparse
import json
import sys
from pathlib import Path

import monai
import torch
from monai.losses import DiceCELoss, DiceLoss

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_op_fixtures import write_safetensors  # noqa: E402 - the deterministic writer

REPO = Path(__file__).resolve().parent.parent

# name: (N, K, H, W, label values drawn from [0, high), extra labels {value: count}, MONAI kwargs)
CASES = {
    "default": (2, 4, 5, 6, 4, {}, dict(include_background=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
                                         reduction="mean")),
    "no_background_batch_none": (3, 3, 4, 4, 3, {}, dict(include_background=False, smooth_nr=1e-5, smooth_dr=1e-5,
                                                          batch=True, reduction="none")),
    # 255 is outside [0, K): MONAI masks those pixels out of every sum
    "ignore_sentinel_sum": (2, 3, 6, 5, 3, {255: 7}, dict(include_background=True, smooth_nr=0.1, smooth_dr=0.2,
                                                        batch=False, reduction="sum", ignore_index=255)),
    # 2 is a class: its pixels leave every sum, its channel stays (Dice 0.5 / (sum p_2 + 1.0))
    "ignore_class_none": (2, 4, 4, 5, 4, {}, dict(include_background=True, smooth_nr=0.5, smooth_dr=1.0, batch=False,
                                                  reduction="none", ignore_index=2)),
    # an image without class 3 anywhere: its Dice for class 3 is smooth_nr / (sum p + smooth_dr)
    "absent_class": (2, 4, 5, 5, 3, {}, dict(include_background=False, smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
                                             reduction="mean")),
    "dice_ce": (2, 3, 4, 6, 3, {}, dict(include_background=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
                                        lambda_dice=1.4, lambda_ce=0.6)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "loader" / "monai_dice.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20261127)
    tensors, meta = {}, {}
    for name, (n, k, h, w, high, extra, kwargs) in CASES.items():
        logits = (2 * torch.randn(n, k, h, w, generator=gen)).float()
        target = torch.randint(0, high, (n, h, w), generator=gen)
        for value, count in extra.items():  # place `count` pixels of `value` at random places
            flat = target.view(-1)
            flat[torch.randperm(flat.numel(), generator=gen)[:count]] = value
        x = logits.double().requires_grad_(True)
        if name == "dice_ce":
            loss_fn = DiceCELoss(softmax=True, to_onehot_y=True, **kwargs)
        else:
            loss_fn = DiceLoss(softmax=True, to_onehot_y=True, **kwargs)
        loss = loss_fn(x, target.unsqueeze(1))
        gout = torch.randn(loss.shape, generator=gen).float()
        (grad,) = torch.autograd.grad((loss * gout.double()).sum(), x)
        tensors[f"{name}.logits"] = logits
        tensors[f"{name}.target"] = target
        tensors[f"{name}.loss"] = loss.detach().reshape(-1)
        tensors[f"{name}.gout"] = gout.reshape(-1)
        tensors[f"{name}.grad"] = grad
        meta[name] = kwargs
    metadata = {"cases": json.dumps(meta, sort_keys=True), "generator": "tools/make_loader_fixtures.py",
                "monai_version": monai.__version__, "torch_version": torch.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out} ({len(CASES)} cases, {args.out.stat().st_size} bytes) with MONAI {monai.__version__}")


if __name__ == "__main__":
    main()
