#!/usr/bin/env python3
"""Side by side, layer by layer: fbseg's convolution kernels against PyTorch's (oneDNN) on the
three models' layer shapes, each pass (forward, backward-data, backward-weight), same threads.

compare_pytorch.py says how far apart whole training steps are; this says which layers and which
passes make up the difference. The layers are fbseg_bench's `conv_layer` table
(benchmarks/bench_models.cpp, kModelLayers), mirrored in LAYERS below; the script checks that the
two lists agree. For each layer and pass it alternates, for --rounds rounds:
  fbseg:   fbseg_bench --benchmark_filter='^conv_layer/L/P/' (the kernel table's copy for this CPU,
           through cpu::kernel_table(), without the op layer)
  PyTorch: the same convolution through torch.nn.functional.conv2d (forward) or
           torch.ops.aten.convolution_backward (the two backward passes), in NCHW and in
           channels_last, without autograd
and prints the medians over rounds, PyTorch's faster layout and the ratio fbseg / PyTorch.
Alternating in rounds keeps a drifting VM from favouring either side (docs/performance.md,
step 11). GFLOP/s counts the direct convolution's 2 N Cout Ho Wo (Cin / groups) kh kw.

  python3 benchmarks/compare_conv_layers.py [--threads 2] [--rounds 3] [--min-time 0.2] [--markdown]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

# name, batch, c_in, c_out, size, kernel, stride, groups: as kModelLayers in bench_models.cpp. A
# transposed layer is listed as the conv2d whose backward-data it is (fbseg_bench does the same).
LAYERS = [
    ("unet 3x3 32->32 @256", 8, 32, 32, 256, 3, 1, 1),
    ("unet 3x3 256->256 @32", 8, 256, 256, 32, 3, 1, 1),
    ("unet up 2x2/2 256->128 @32 (transposed)", 8, 128, 256, 64, 2, 2, 1),
    ("resnet34 stem 7x7/2 3->64 @256", 8, 3, 64, 256, 7, 2, 1),
    ("resnet34 3x3 64->64 @64", 8, 64, 64, 64, 3, 1, 1),
    ("resnet34 3x3/2 128->256 @32", 8, 128, 256, 32, 3, 2, 1),
    ("resnet34 1x1/2 128->256 @32", 8, 128, 256, 32, 1, 2, 1),
    ("resnet34 3x3 512->512 @8", 8, 512, 512, 8, 3, 1, 1),
    ("effnet stem 3x3/2 1->32 @128", 16, 1, 32, 128, 3, 2, 1),
    ("effnet 1x1 24->144 @32", 16, 24, 144, 32, 1, 1, 1),
    ("effnet 1x1 144->24 @32", 16, 144, 24, 32, 1, 1, 1),
    ("effnet dw 3x3 144 @32", 16, 144, 144, 32, 3, 1, 144),
    ("effnet dw 5x5/2 240 @32", 16, 240, 240, 32, 5, 2, 240),
    ("effnet 1x1 1152->320 @4", 16, 1152, 320, 4, 1, 1, 1),
    ("resnet34 3x3 256->256 @16", 8, 256, 256, 16, 3, 1, 1),
    ("resnet34 3x3/2 64->128 @64", 8, 64, 128, 64, 3, 2, 1),
    ("resnet34 decoder 3x3 128->32 @128", 8, 128, 32, 128, 3, 1, 1),
    ("resnet34 decoder 3x3 32->16 @256", 8, 32, 16, 256, 3, 1, 1),
]
PASSES = ["forward", "backward-data", "backward-weight"]


def geometry(layer):
    name, n, cin, cout, size, k, stride, groups = layer
    pad = 0 if k == 2 else k // 2  # as layer_geometry() in bench_models.cpp
    out = (size + 2 * pad - k) // stride + 1
    flops = 2.0 * n * cout * out * out * (cin // groups) * k * k
    return n, cin, cout, size, k, stride, pad, groups, out, flops


def fbseg_time(binary, index, pass_index, min_time):
    """Seconds per call (Google Benchmark's mean real time) and the label fbseg_bench printed."""
    cmd = [binary, f"--benchmark_filter=^conv_layer/{index}/{pass_index}/", f"--benchmark_min_time={min_time}",
           "--benchmark_format=json"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    runs = json.loads(result.stdout)["benchmarks"]
    if len(runs) != 1:
        sys.exit(f"compare_conv_layers: {' '.join(cmd)} ran {len(runs)} benchmarks, expected 1")
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[runs[0]["time_unit"]]
    return runs[0]["real_time"] * scale, runs[0].get("label", "")


def torch_time(torch, layer, pass_index, channels_last, min_time):
    """Seconds per call: the mean over calls for at least min_time, after one warm-up call."""
    n, cin, cout, size, k, stride, pad, groups, out, _ = geometry(layer)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, cin, size, size).contiguous(memory_format=fmt)
    w = torch.randn(cout, cin // groups, k, k).contiguous(memory_format=fmt)
    dy = torch.randn(n, cout, out, out).contiguous(memory_format=fmt)
    conv = torch.nn.functional.conv2d
    backward = torch.ops.aten.convolution_backward

    def call():
        if pass_index == 0:
            return conv(x, w, None, stride, pad, 1, groups)
        mask = [pass_index == 1, pass_index == 2, False]
        return backward(dy, x, w, None, [stride, stride], [pad, pad], [1, 1], False, [0, 0], groups, mask)

    with torch.no_grad():
        call()
        calls, start = 0, time.perf_counter()
        while True:
            call()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                return elapsed / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    parser.add_argument("--binary", default=os.path.join(root, "build/release/benchmarks/fbseg_bench"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--layers", default="", help="only the layers whose name matches this regular expression")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    os.environ["FBSEG_NUM_THREADS"] = str(args.threads)

    listed = subprocess.run([args.binary, "--benchmark_list_tests", "--benchmark_filter=^conv_layer/"],
                            capture_output=True, text=True, check=True).stdout.split()
    if len(listed) != len(LAYERS) * len(PASSES):
        sys.exit(f"compare_conv_layers: fbseg_bench has {len(listed)} conv_layer benchmarks, this script "
                 f"knows {len(LAYERS)} layers x {len(PASSES)} passes: update LAYERS from kModelLayers")

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}; threads: {args.threads}; median of {args.rounds} alternating rounds, "
          f"{args.min_time} s each; PyTorch {torch.__version__}")
    header = ["layer", "pass", "fbseg ms", "GFLOP/s", "torch NCHW ms", "torch CL ms", "ratio"]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("| --- | --- | " + " | ".join(["---:"] * (len(header) - 2)) + " |")
    else:
        print(f"{'layer':42s}  {'pass':15s}  {'fbseg ms':>9s}  {'GFLOP/s':>7s}  {'NCHW ms':>9s}  {'CL ms':>9s}  ratio")
    totals = {"fbseg": 0.0, "torch": 0.0}
    for index, layer in enumerate(LAYERS):
        if args.layers and not re.search(args.layers, layer[0]):
            continue
        flops = geometry(layer)[-1]
        for pass_index, pass_name in enumerate(PASSES):
            times = {"fbseg": [], "nchw": [], "cl": []}
            for _ in range(args.rounds):
                seconds, label = fbseg_time(args.binary, index, pass_index, args.min_time)
                if not label.startswith(f"{layer[0]} {pass_name}"):
                    sys.exit(f"compare_conv_layers: fbseg_bench's conv_layer/{index}/{pass_index} is '{label}', "
                             f"expected '{layer[0]} {pass_name}': update LAYERS from kModelLayers")
                times["fbseg"].append(seconds)
                times["nchw"].append(torch_time(torch, layer, pass_index, False, args.min_time))
                times["cl"].append(torch_time(torch, layer, pass_index, True, args.min_time))
            f, nchw, cl = (statistics.median(times[key]) for key in ("fbseg", "nchw", "cl"))
            best = min(nchw, cl)
            totals["fbseg"] += f
            totals["torch"] += best
            cells = [layer[0], pass_name, f"{f * 1e3:.2f}", f"{flops / f / 1e9:.0f}", f"{nchw * 1e3:.2f}",
                     f"{cl * 1e3:.2f}", f"{f / best:.2f}"]
            if args.markdown:
                print("| " + " | ".join(cells) + " |")
            else:
                print(f"{cells[0]:42s}  {cells[1]:15s}  {cells[2]:>9s}  {cells[3]:>7s}  {cells[4]:>9s}  {cells[5]:>9s}  "
                      f"{cells[6]}")
            sys.stdout.flush()
    print(f"sum over layers and passes: fbseg {totals['fbseg'] * 1e3:.1f} ms, PyTorch (faster layout per row) "
          f"{totals['torch'] * 1e3:.1f} ms, ratio {totals['fbseg'] / totals['torch']:.2f}")


if __name__ == "__main__":
    main()
