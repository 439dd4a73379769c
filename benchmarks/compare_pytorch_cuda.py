#!/usr/bin/env python3
"""fbseg's CUDA training step beside PyTorch's on the same GPU, for the three models users train.

For each model: fbseg_model_step_cuda (benchmarks/model_step.cpp built with the CUDA kernels) and
the same step in PyTorch (forward, BCE + Dice, backward, AdamW), median of --steps after
--warmup, both synchronised before the clock stops. PyTorch runs in strict FP32 (TF32 off for
cuDNN and cuBLAS, as fbseg's default kernels are plain FP32), cudnn.benchmark on, NCHW and
channels_last, eager; the ratio is against PyTorch's faster layout.

    python3 benchmarks/compare_pytorch_cuda.py --binary gpu-carry/bin/fbseg_model_step_cuda

The smp models need segmentation_models_pytorch (tools/gpu_check.sh installs a carried wheel).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# (model, in_channels, batch, size): the configurations
MODELS = [("unet", 1, 8, 256), ("resnet34-unet", 1, 16, 256), ("efficientnet-b0-unet", 1, 16, 128)]


def torch_worker(args):
    import torch
    from compare_pytorch import bce_dice, torch_model

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    if args.model == "efficientnet-b0-unet":
        import segmentation_models_pytorch as smp
        net = smp.Unet("efficientnet-b0", encoder_weights=None, in_channels=args.in_channels, classes=1)
    else:
        net = torch_model(args.model, args.in_channels)
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    net = net.cuda().to(memory_format=fmt)
    images = torch.randn(args.batch, args.in_channels, args.size, args.size, device="cuda").to(memory_format=fmt)
    masks = (torch.rand(args.batch, 1, args.size, args.size, device="cuda") > 0.5).float()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)

    loss_fn = bce_dice

    times = []
    net.train()
    torch.cuda.reset_peak_memory_stats()
    for s in range(args.warmup + args.steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(net(images), masks).backward()
        opt.step()
        torch.cuda.synchronize()
        if s >= args.warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"framework": "pytorch", "torch": torch.__version__, "model": args.model, "layout": args.layout,
                      "gpu": torch.cuda.get_device_name(0), "median_s": times[len(times) // 2],
                      "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}))


def run_json(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["exit %d" % proc.returncode]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", help="fbseg_model_step_cuda (required)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--models", default=",".join(m[0] for m in MODELS))
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--layout", default="nchw", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--in-channels", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    if not args.binary:
        p.error("--binary is required (the fbseg_model_step_cuda program)")

    rows = []
    header = (f"{'model':<22} {'batch':>5} {'size':>5} {'fbseg ms':>9} {'torch ms':>9} {'layout':>14} {'ratio':>6} "
              f"{'fbseg MiB':>10} {'torch MiB':>10}")
    print(header)
    print("-" * len(header))
    for model, cin, batch, size in MODELS:
        if model not in args.models.split(","):
            continue
        common = ["--model", model, "--batch", str(batch), "--size", str(size), "--in-channels", str(cin),
                  "--steps", str(args.steps), "--warmup", str(args.warmup)]
        ours = run_json([args.binary, "--device", "cuda", "--mode", "train"] + common)
        refs = [run_json([sys.executable, os.path.abspath(__file__), "--torch-worker", "--layout", layout] + common)
                for layout in ("nchw", "channels_last")]
        good = [r for r in refs if "median_s" in r]
        best = min(good, key=lambda r: r["median_s"]) if good else {"error": [r.get("error") for r in refs]}
        rows.append({"model": model, "batch": batch, "size": size, "fbseg": ours, "pytorch": refs})
        if "median_s" in ours and "median_s" in best:
            print(f"{model:<22} {batch:>5} {size:>5} {ours['median_s'] * 1e3:>9.2f} {best['median_s'] * 1e3:>9.2f} "
                  f"{best['layout']:>14} {ours['median_s'] / best['median_s']:>6.2f} {ours['peak_gpu_mib']:>10.0f} "
                  f"{best['peak_gpu_mib']:>10.0f}", flush=True)
        else:
            print(f"{model:<22} fbseg: {ours.get('error', 'ok')}  pytorch: {best.get('error', 'ok')}", flush=True)
    print("ratio = fbseg / PyTorch's faster layout (lower is better for fbseg); strict FP32 on both sides")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
