#!/usr/bin/env python3
"""Figure of the transfer demo's result: validation Dice per fine-tuning epoch on task B, from
random initialisation and from the encoder pretrained on task A, with the target Dice.

Reads the CSV fbseg_transfer_demo writes (epoch, dice_random, dice_pretrained: the means over
the repeats, then dice_random_<r>, dice_pretrained_<r> per repeat when there are several; those
are drawn as thin lines) and writes one PNG.

    python3 tools/plot_transfer_curves.py [build/transfer_demo/transfer_curves.csv]
                                          [docs/images/transfer_curves.png] [--target 0.95]
"""
import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def first_epoch(epochs, dice, target):
    return next((e for e, d in zip(epochs, dice) if d >= target), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", default="build/transfer_demo/transfer_curves.csv")
    parser.add_argument("png", nargs="?", default="docs/images/transfer_curves.png")
    parser.add_argument("--target", type=float, default=0.95, help="the target Dice line (default 0.95)")
    args = parser.parse_args()

    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{args.csv}: no rows")
    epochs = [int(r["epoch"]) for r in rows]
    repeats = sum(1 for k in rows[0] if k.startswith("dice_random_"))
    arms = [("random", "random initialisation", "#7f7f7f"), ("pretrained", "encoder pretrained on task A", "#d95f02")]

    fig, (ax, zoom) = plt.subplots(1, 2, figsize=(10.0, 4.0), gridspec_kw={"width_ratios": [3, 2]})
    for arm, label, colour in arms:
        mean = [float(x[f"dice_{arm}"]) for x in rows]
        hit = first_epoch(epochs, mean, args.target)
        suffix = f" (>= {args.target:g} at epoch {hit})" if hit else f" (never >= {args.target:g})"
        name = f"{label}, mean of {repeats}" if repeats > 1 else label
        for a in (ax, zoom):
            for r in range(1, repeats + 1):
                a.plot(epochs, [float(x[f"dice_{arm}_{r}"]) for x in rows], color=colour, alpha=0.25, linewidth=0.8)
            a.plot(epochs, mean, color=colour, linewidth=2.0, label=name + suffix)
            if hit:
                a.plot([hit], [mean[hit - 1]], "o", color=colour, markersize=5)
    for a in (ax, zoom):
        a.axhline(args.target, color="black", linestyle="--", linewidth=0.8)
        a.set_xlabel("fine-tuning epoch on task B")
        a.grid(alpha=0.3)
    ax.text(epochs[0], args.target + 0.005, f"target Dice {args.target:g}", fontsize=8, va="bottom")
    ax.set_ylabel("validation Dice (task B)")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Fine-tuning on the ultrasound-like task" + (f" ({repeats} repeats: thin lines)" if repeats > 1 else ""),
                 fontsize=10)
    zoom.set_xlim(min(5, epochs[-1]) - 0.5, epochs[-1] + 0.5)
    zoom.set_ylim(0.85, 1.0)
    zoom.set_title("the same, Dice 0.85 to 1", fontsize=10)
    fig.tight_layout()
    out = Path(args.png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
