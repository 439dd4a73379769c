#!/usr/bin/env python3
"""Figure of the transfer demo's two synthetic tasks: a few images of task A ("fetal MRI-like")
and task B ("ultrasound-like"), each shown plain and with its label overlaid.

Reads the PGM files fbseg_transfer_demo writes into <out>/samples (task_a_<i>.pgm,
task_a_<i>_label.pgm, task_b_...) and writes one PNG.

    python3 tools/plot_transfer_samples.py [build/transfer_demo/samples] [docs/images/transfer_tasks.png]
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_pgm(path):
    """An 8-bit binary PGM (P5) as a float array in [0, 1]."""
    data = Path(path).read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval, separated by whitespace
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    if fields[0] != b"P5":
        raise ValueError(f"{path}: not a binary PGM")
    width, height, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    pixels = np.frombuffer(data[pos + 1:pos + 1 + width * height], dtype=np.uint8)
    return pixels.reshape(height, width).astype(np.float32) / maxval


def main():
    samples = Path(sys.argv[1] if len(sys.argv) > 1 else "build/transfer_demo/samples")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/images/transfer_tasks.png")
    n = len(list(samples.glob("task_a_*_label.pgm")))
    if n == 0:
        sys.exit(f"no samples in {samples}: run fbseg_transfer_demo first")
    tasks = [("a", "Task A: fetal MRI-like", "label: brain"), ("b", "Task B: ultrasound-like", "label: head")]
    fig, axes = plt.subplots(4, n, figsize=(1.6 * n + 0.9, 7.0), squeeze=False)
    for t, (task, title, label_title) in enumerate(tasks):
        for i in range(n):
            image = read_pgm(samples / f"task_{task}_{i}.pgm")
            label = read_pgm(samples / f"task_{task}_{i}_label.pgm")
            top, bottom = axes[2 * t][i], axes[2 * t + 1][i]
            top.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            bottom.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            bottom.imshow(np.ma.masked_where(label < 0.5, label), cmap="autumn", alpha=0.45, interpolation="nearest")
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
            if i == 0:
                top.set_ylabel(title, fontsize=9)
                bottom.set_ylabel(label_title, fontsize=9)
    fig.suptitle("The two synthetic tasks (64 x 64 pixels; label in red)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=85)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
