#!/usr/bin/env python3
"""Side-by-side: the same models and training step in fbseg and in PyTorch, on the CPU.

For each model and mode it runs, each in a fresh process (so peak memory is the process's own):
  fbseg:   build/release/benchmarks/fbseg_model_step --mode train|infer ...
  PyTorch: this script with --torch-worker (same model, same step, same thread count), once in
           NCHW and once in channels_last (model and input converted)
and prints fbseg's time, PyTorch's in both layouts, the ratio against PyTorch's faster layout,
and the peak memories (PyTorch's of its faster layout).

The step is the trainer's: forward in train mode, BCE-with-logits + soft Dice (per image,
smooth 1), backward, AdamW (lr 1e-3, weight decay 1e-2). Inference: eval mode, no grad, at batch
1 and at the training batch.
Models (issue 14): the classic UNet (base 32, depth 4, batch 8, 1x256x256), smp's
Unet("resnet34") (batch 8, 3x256x256) and the original project's Unet("timm-efficientnet-b0")
(batch 16, 1x128x128).

  pip install -r tools/requirements.txt
  python3 benchmarks/compare_pytorch.py [--threads N] [--steps 3] [--models unet,...] [--markdown]
FBSEG_CPU_ISA=baseline|avx2|avx512 in the environment reaches fbseg_model_step (its kernels'
instruction set, printed in the header).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (name, input channels, training batch, image size)
MODELS = [("unet", 1, 8, 256), ("resnet34-unet", 3, 8, 256), ("efficientnet-b0-unet", 1, 16, 128)]


def torch_model(name, in_channels):
    import torch.nn as nn

    if name in ("resnet34-unet", "efficientnet-b0-unet"):
        import segmentation_models_pytorch as smp

        encoder = "resnet34" if name == "resnet34-unet" else "timm-efficientnet-b0"
        return smp.Unet(encoder, encoder_weights=None, in_channels=in_channels, classes=1)

    # The classic UNet exactly as include/fbseg/models/unet.hpp builds it.
    def double_conv(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    class Up(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
            self.conv = double_conv(2 * cout, cout)

        def forward(self, x, skip):
            import torch
            return self.conv(torch.cat([self.up(x), skip], 1))

    class UNet(nn.Module):
        def __init__(self, cin, depth=4, base=32):
            super().__init__()
            w = [base << l for l in range(depth + 1)]
            self.encoder = nn.ModuleList([double_conv(cin if l == 0 else w[l - 1], w[l]) for l in range(depth + 1)])
            self.pool = nn.MaxPool2d(2)
            self.decoder = nn.ModuleList([Up(w[depth - i], w[depth - 1 - i]) for i in range(depth)])
            self.head = nn.Conv2d(base, 1, 1)

        def forward(self, x):
            skips = []
            for l, block in enumerate(self.encoder):
                if l > 0:
                    x = self.pool(x)
                x = block(x)
                if l < len(self.encoder) - 1:
                    skips.append(x)
            for i, up in enumerate(self.decoder):
                x = up(x, skips[-1 - i])
            return self.head(x)

    return UNet(in_channels)


def bce_dice(logits, target):
    """fbseg's nn::bce_dice_loss: BCE on logits plus the per-image soft Dice loss (smooth 1)."""
    import torch
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    dims = tuple(range(1, p.dim()))
    dice = 1 - (2 * (p * target).sum(dims) + 1) / (p.sum(dims) + target.sum(dims) + 1)
    return bce + dice.mean()


def torch_worker(args):
    import resource
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torch_model(args.model, args.in_channels)
    images = torch.randn(args.batch, args.in_channels, args.size, args.size)
    masks = (torch.rand(args.batch, 1, args.size, args.size) > 0.5).float()
    if args.layout == "channels_last":
        net = net.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
        masks = masks.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)

    loss_fn = bce_dice

    times = []
    for s in range(args.warmup + args.steps):
        start = time.perf_counter()
        if args.mode == "train":
            net.train()
            opt.zero_grad(set_to_none=True)
            loss_fn(net(images), masks).backward()
            opt.step()
        else:
            net.eval()
            with torch.no_grad():
                net(images)
        if s >= args.warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB on Linux
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": args.model, "mode": args.mode,
                      "layout": args.layout,
                      "threads": torch.get_num_threads(), "median_s": times[len(times) // 2], "peak_rss_mib": peak}))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--binary", default=os.path.join(ROOT, "build/release/benchmarks/fbseg_model_step"))
    p.add_argument("--models", default=",".join(m[0] for m in MODELS))
    p.add_argument("--modes", default="train,infer1,infer", help="train, infer1 (batch 1), infer (training batch)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (for benchmarks/RESULTS.md)")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--layout", default="nchw", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--in-channels", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build first (cmake --preset release && cmake --build --preset release)")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    print(f"CPU: {cpu}; threads: {args.threads}; median of {args.steps} steps after {args.warmup} warm-up; "
          f"commit {commit}; {time.strftime('%Y-%m-%d')}")
    cols = ["model", "input", "mode", "fbseg s", "torch NCHW s", "torch CL s", "ratio", "fbseg MiB", "torch MiB",
            "ratio"]
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("| " + " | ".join(["---"] * 3 + ["---:"] * (len(cols) - 3)) + " |")
    else:
        print(f"{'model':<21} {'input':<13} {'mode':<7} {'fbseg s':>8} {'NCHW s':>8} {'CL s':>8} {'ratio':>6} "
              f"{'fbseg MiB':>9} {'torch MiB':>9} {'ratio':>6}")
    wanted, modes = args.models.split(","), args.modes.split(",")
    isa_printed = False
    for model, cin, batch, size in MODELS:
        if model not in wanted:
            continue
        for mode in modes:
            b = 1 if mode == "infer1" else batch
            common = ["--model", model, "--mode", "infer" if mode.startswith("infer") else "train", "--batch", str(b),
                      "--size", str(size), "--in-channels", str(cin), "--steps", str(args.steps), "--warmup",
                      str(args.warmup), "--threads", str(args.threads)]
            ours = run_json([args.binary] + common)
            if not isa_printed:
                print(f"fbseg kernels: {ours.get('isa', '?')}")
                isa_printed = True
            refs = {layout: run_json([sys.executable, os.path.abspath(__file__), "--torch-worker", "--layout", layout]
                                     + common) for layout in ("nchw", "channels_last")}
            best = min(refs.values(), key=lambda r: r["median_s"])
            row = [model, f"{b}x{cin}x{size}x{size}", mode, f"{ours['median_s']:.3f}",
                   f"{refs['nchw']['median_s']:.3f}", f"{refs['channels_last']['median_s']:.3f}",
                   f"{ours['median_s'] / best['median_s']:.2f}", f"{ours['peak_rss_mib']:.0f}",
                   f"{best['peak_rss_mib']:.0f}", f"{ours['peak_rss_mib'] / best['peak_rss_mib']:.2f}"]
            if args.markdown:
                print("| " + " | ".join(row) + " |", flush=True)
            else:
                print(f"{row[0]:<21} {row[1]:<13} {row[2]:<7} {row[3]:>8} {row[4]:>8} {row[5]:>8} {row[6]:>6} "
                      f"{row[7]:>9} {row[8]:>9} {row[9]:>6}", flush=True)
    print("ratio = fbseg / PyTorch's faster layout (lower is better for fbseg); CL = channels_last; "
          "memory: peak resident set of each process")


if __name__ == "__main__":
    main()
