#!/usr/bin/env python3
"""Time to a usable model: the original project's recipe in fbseg and in PyTorch + smp.

The figure users feel (issue 14): how long, on the same cores, until a model is good enough.
Both sides train the original project's recipe (fbseg's `--recipe seed`): efficientnet-b0-unet,
one input channel, 128 x 128 letterboxed frames, batch 16, Adam at a constant 0.009, weight decay
0, BCE-with-logits + soft Dice (per image, smooth 1), horizontal and vertical flips (p = 0.5
each), on the same ultrasound phantom written to disk in HC18's layout by `fbseg synth`, with the
same split (fbseg's split.json), the same thread count and the same number of loader workers.
Each side scores whole letterboxed validation frames after every epoch: Dice of (logit > 0)
against the filled head, per frame, then the mean.

Printed: the wall time (from the start of the run, data reading included, Python imports
excluded) at which validation Dice first reaches 0.90 and 0.95, the Dice of the last epoch
finished within --budget-min minutes, and the time per epoch (the median). Every epoch of both
runs is kept in <work>/epochs.json.

  fbseg:   fbseg synth --modality us --count N, then fbseg train --recipe seed; each epoch's time
           is when its line ("epoch k/E ... val Dice d ...") appears on fbseg's output.
  PyTorch: this script with --torch-worker in a fresh process: smp.Unet("timm-efficientnet-b0",
           encoder_weights=None, in_channels=1, classes=1), its own default initialisation, a
           torch Dataset that reads each PNG per item as the original did (cv2), fills the outline
           (scipy.ndimage.binary_fill_holes; an outline the border cuts open: cv2.fitEllipse, as
           fbseg's Hc18Options::FitEllipse), letterboxes (cv2.INTER_LINEAR image, nearest label,
           centred, zero padding: fbseg's data/augment/geometric.hpp) and flips.

Initial weights and random draws differ between the two, so the curves differ by more than
speed; one seed each (--seed) is one sample of that noise.

  pip install -r tools/requirements.txt
  python3 benchmarks/time_to_model.py [--threads 2] [--count 96] [--epochs 30] [--budget-min 1]
                                      [--max-min 8] [--work build/time_to_model] [--markdown]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THRESHOLDS = (0.90, 0.95)


# ---- the PyTorch side (run in its own process) ---------------------------------------------------

def torch_worker(args):
    t_start = time.perf_counter()  # after the interpreter started; imports below are counted
    import cv2
    import numpy as np
    import scipy.ndimage
    import torch
    import torch.nn.functional as F
    import segmentation_models_pytorch as smp

    t0 = time.perf_counter()  # the run starts here: imports excluded, data reading included
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    split = json.load(open(os.path.join(args.fbseg_run, "split.json")))
    folder = os.path.join(args.data, "training_set")
    size = args.image_size

    def filled_head(outline):
        filled = scipy.ndimage.binary_fill_holes(outline)
        if filled.sum() == outline.sum():  # cut open by the border: fit an ellipse (fbseg's default)
            ys, xs = np.nonzero(outline)
            ellipse = cv2.fitEllipse(np.stack([xs, ys], 1).astype(np.float32))
            canvas = np.zeros(outline.shape, np.uint8)
            cv2.ellipse(canvas, ellipse, 1, -1)
            filled = (canvas > 0) | outline
        return filled.astype(np.float32)

    def letterbox(image, label):
        h, w = image.shape
        scale = min(size / h, size / w)
        sh, sw = min(max(round(h * scale), 1), size), min(max(round(w * scale), 1), size)
        top, left = (size - sh) // 2, (size - sw) // 2
        out_i = np.zeros((size, size), np.float32)
        out_l = np.zeros((size, size), np.float32)
        out_i[top:top + sh, left:left + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_LINEAR)
        out_l[top:top + sh, left:left + sw] = cv2.resize(label, (sw, sh), interpolation=cv2.INTER_NEAREST_EXACT)
        return out_i, out_l

    class Hc18(torch.utils.data.Dataset):
        def __init__(self, ids, flips):
            self.ids, self.flips = ids, flips

        def __len__(self):
            return len(self.ids)

        def __getitem__(self, i):
            stem = self.ids[i]
            image = cv2.imread(os.path.join(folder, stem + ".png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
            outline = cv2.imread(os.path.join(folder, stem + "_Annotation.png"), cv2.IMREAD_GRAYSCALE) > 0
            image, label = letterbox(image, filled_head(outline))
            if self.flips:  # torch's generator: seeded by manual_seed, per worker by the DataLoader
                u = torch.rand(2)
                if u[0] < 0.5:
                    image, label = image[:, ::-1], label[:, ::-1]
                if u[1] < 0.5:
                    image, label = image[::-1, :], label[::-1, :]
            return torch.from_numpy(image.copy())[None], torch.from_numpy(label.copy())[None]

    loader_kw = dict(num_workers=args.workers, persistent_workers=args.workers > 0)
    train = torch.utils.data.DataLoader(Hc18(split["train"]["samples"], True), batch_size=16, shuffle=True,
                                        drop_last=False, **loader_kw)
    val = torch.utils.data.DataLoader(Hc18(split["val"]["samples"], False), batch_size=16, shuffle=False,
                                      **loader_kw)
    model = smp.Unet("timm-efficientnet-b0", encoder_weights=None, in_channels=1, classes=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.009, weight_decay=0)

    def loss_fn(logits, target):
        bce = F.binary_cross_entropy_with_logits(logits, target)
        p = torch.sigmoid(logits)
        inter = (p * target).sum((1, 2, 3))
        card = (p + target).sum((1, 2, 3))
        dice = 1 - (2 * inter + 1) / (card + 1)
        return bce + dice.mean()

    for epoch in range(1, args.epochs + 1):
        t_epoch = time.perf_counter()
        model.train()
        for x, y in train:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
        model.eval()
        scores = []
        with torch.no_grad():
            for x, y in val:
                pred = model(x) > 0
                ref = y > 0.5
                for p, r in zip(pred, ref):
                    if r.sum() == 0:
                        continue  # MONAI's rule: a frame without the class is not scored
                    scores.append(float(2 * (p & r).sum() / (p.sum() + r.sum())))
        now = time.perf_counter()
        dice = sum(scores) / len(scores)
        print(json.dumps({"epoch": epoch, "t": now - t0, "epoch_s": now - t_epoch, "dice": dice}), flush=True)
        if now - t0 > args.max_min * 60:
            break
    print(json.dumps({"imports_s": t0 - t_start, "torch": torch.__version__, "smp": smp.__version__}), flush=True)


# ---- the driver ----------------------------------------------------------------------------------

def run_fbseg(args, data, run):
    cmd = [args.fbseg, "train", "--recipe", "seed", "--data", data, "--threads", str(args.threads), "--workers",
           str(args.workers), "--epochs", str(args.epochs), "--seed", str(args.seed), "--out", run]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    epochs = []
    pattern = re.compile(r"^epoch (\d+)/\d+ .*val Dice ([0-9.eE+-]+).* ([0-9.]+) s$")
    for line in proc.stdout:
        m = pattern.match(line.strip())
        if m:
            now = time.perf_counter() - t0
            epochs.append({"epoch": int(m.group(1)), "t": now, "epoch_s": float(m.group(3)),
                           "dice": float(m.group(2))})
            print(f"  fbseg   epoch {epochs[-1]['epoch']:3d}  {now:7.1f} s  Dice {epochs[-1]['dice']:.4f}",
                  file=sys.stderr, flush=True)
            if now > args.max_min * 60:
                proc.terminate()
                break
    proc.wait()
    if not epochs:
        sys.exit(f"fbseg train printed no epoch line (exit {proc.returncode}); see {run}/log.txt")
    return epochs


def run_torch(args, data, run):
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--data", data, "--fbseg-run", run,
           "--threads", str(args.threads), "--workers", str(args.workers), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--max-min", str(args.max_min), "--image-size", str(args.image_size)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    epochs, meta = [], {}
    for line in proc.stdout:
        record = json.loads(line)
        if "epoch" in record:
            epochs.append(record)
            print(f"  PyTorch epoch {record['epoch']:3d}  {record['t']:7.1f} s  Dice {record['dice']:.4f}",
                  file=sys.stderr, flush=True)
        else:
            meta = record
    if proc.wait() != 0 or not epochs:
        sys.exit(f"the PyTorch worker failed (exit {proc.returncode})")
    return epochs, meta


def summarise(epochs, budget_s):
    def first(th):
        hit = next((e for e in epochs if e["dice"] >= th), None)
        return (hit["t"], hit["epoch"]) if hit else (None, None)

    within = [e for e in epochs if e["t"] <= budget_s]
    per_epoch = sorted(e["epoch_s"] for e in epochs)
    return {"reach": {th: first(th) for th in THRESHOLDS},
            "budget_dice": within[-1]["dice"] if within else None,
            "budget_best": max(e["dice"] for e in within) if within else None,
            "epoch_s": per_epoch[len(per_epoch) // 2], "epochs": len(epochs), "best": max(e["dice"] for e in epochs)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fbseg", default=os.path.join(ROOT, "build/release/examples/fetal_brain/fbseg"))
    p.add_argument("--work", default=os.path.join(ROOT, "build/time_to_model"))
    p.add_argument("--count", type=int, default=96, help="phantom ultrasound frames (fbseg synth --count)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="loader workers on both sides (fbseg's default)")
    p.add_argument("--epochs", type=int, default=30, help="the recipe's 30")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-min", type=float, default=1.0, help="report the Dice after this many minutes")
    p.add_argument("--max-min", type=float, default=8.0, help="stop a side after the epoch that passes this")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--fbseg-run", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    data = os.path.join(args.work, f"us{args.count}")
    if not os.path.isdir(data):
        subprocess.run([args.fbseg, "synth", "--modality", "us", "--count", str(args.count), "--seed", "0",
                        "--out", data], check=True)
    run = os.path.join(args.work, "fbseg_run")
    subprocess.run(["rm", "-rf", run], check=True)
    fb = run_fbseg(args, data, run)
    th, meta = run_torch(args, data, run)
    with open(os.path.join(args.work, "epochs.json"), "w") as f:  # every epoch of both, to look at again
        json.dump({"fbseg": fb, "torch": th, "torch_meta": meta, "args": vars(args)}, f, indent=1)
    budget_s = args.budget_min * 60
    rows = [("fbseg", summarise(fb, budget_s)), (f"PyTorch {meta.get('torch', '?')} + smp {meta.get('smp', '?')}",
                                                 summarise(th, budget_s))]

    def fmt(reach):
        t, e = reach
        return "not reached" if t is None else f"{t:.0f} s (epoch {e})"

    head = ["", "Dice >= 0.90", "Dice >= 0.95", f"Dice after {args.budget_min:g} min (best so far)",
            "time per epoch", "epochs run", "best Dice"]
    body = [[name, fmt(s["reach"][0.90]), fmt(s["reach"][0.95]),
             "-" if s["budget_dice"] is None else f"{s['budget_dice']:.4f} ({s['budget_best']:.4f})",
             f"{s['epoch_s']:.1f} s", str(s["epochs"]), f"{s['best']:.4f}"] for name, s in rows]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"time to a usable model: --recipe seed, {args.count} phantom frames (train/val as fbseg's split), "
          f"{args.threads} threads, {args.workers} workers, {cpu}")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for r in body:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
        for r in [head] + body:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    t_fb, t_th = rows[0][1]["reach"][0.95][0], rows[1][1]["reach"][0.95][0]
    if t_fb and t_th:
        print(f"ratio fbseg / PyTorch, time to Dice 0.95: {t_fb / t_th:.2f}")
    print(f"ratio fbseg / PyTorch, time per epoch: {rows[0][1]['epoch_s'] / rows[1][1]['epoch_s']:.2f}")


if __name__ == "__main__":
    main()
