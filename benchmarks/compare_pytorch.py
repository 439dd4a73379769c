#!/usr/bin/env python3
"""Side-by-side: the same models and training step in fbseg and in PyTorch, on the CPU.

For each model it runs, each in a fresh process (so peak memory is the process's own):
  fbseg:   build/release/benchmarks/fbseg_model_step --mode train|infer ...
  PyTorch: this script with --torch-worker (same model, same step, same thread count)
and prints both step times, both inference times, both peak memories and their ratios.

The step is the trainer's: forward in train mode, BCE-with-logits + soft Dice (per image,
smooth 1), backward, AdamW (lr 1e-3, weight decay 1e-2). Inference: eval mode, no grad.
Models: the classic UNet (base 32, depth 4, batch 8, 1x256x256) and smp's Unet("resnet34")
(batch 8, 3x256x256).

  pip install -r tools/requirements.txt
  python3 benchmarks/compare_pytorch.py [--threads N] [--steps 3] [--size 256] [--batch 8]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [("unet", 1), ("resnet34-unet", 3)]


def torch_model(name, in_channels):
    import torch.nn as nn

    if name == "resnet34-unet":
        import segmentation_models_pytorch as smp

        return smp.Unet("resnet34", encoder_weights=None, in_channels=in_channels, classes=1)

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
                      "threads": torch.get_num_threads(), "median_s": times[len(times) // 2], "peak_rss_mib": peak}))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--binary", default=os.path.join(ROOT, "build/release/benchmarks/fbseg_model_step"))
    p.add_argument("--models", default=",".join(m for m, _ in MODELS))
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--mode", help=argparse.SUPPRESS)
    p.add_argument("--in-channels", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build first (cmake --preset release && cmake --build --preset release)")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    print(f"CPU: {cpu}; threads: {args.threads}; batch {args.batch}; {args.size}x{args.size}; "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    header = f"{'model':<15} {'mode':<6} {'fbseg s':>9} {'torch s':>9} {'ratio':>6} {'fbseg MiB':>10} {'torch MiB':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    wanted = args.models.split(",")
    for model, cin in MODELS:
        if model not in wanted:
            continue
        for mode in ("train", "infer"):
            common = ["--model", model, "--mode", mode, "--batch", str(args.batch), "--size", str(args.size),
                      "--in-channels", str(cin), "--steps", str(args.steps), "--warmup", str(args.warmup),
                      "--threads", str(args.threads)]
            ours = run_json([args.binary] + common)
            ref = run_json([sys.executable, os.path.abspath(__file__), "--torch-worker"] + common)
            print(f"{model:<15} {mode:<6} {ours['median_s']:>9.3f} {ref['median_s']:>9.3f} "
                  f"{ours['median_s'] / ref['median_s']:>6.2f} {ours['peak_rss_mib']:>10.0f} "
                  f"{ref['peak_rss_mib']:>10.0f} {ours['peak_rss_mib'] / ref['peak_rss_mib']:>6.2f}", flush=True)
    print("ratio = fbseg / PyTorch (lower is better for fbseg)")


if __name__ == "__main__":
    main()
