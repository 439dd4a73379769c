#!/usr/bin/env python3
"""Weight-transfer fixtures: small smp Unets with random weights, exported for fbseg to load and run.

Writes, under tests/fixtures/ (each file under 1 MiB, byte-identical on a rerun with the same seed):

  transfer_<name>.weights.safetensors   the model's state_dict as an fbseg weights file, written by
                                        tools/export_torch.py's export_state_dict (the contract is
                                        in its docstring): F32 tensors, I64 num_batches_tracked
  transfer_<name>.io.safetensors        "input"        x ~ N(0, 1) [2, C, 64, 64], float32
                                        "eval.logits"  model.eval(); model(x) under no_grad, float32
                                        __metadata__: how to rebuild the model in fbseg
                                          model "smp-unet", encoder "resnet" | "efficientnet",
                                          encoder_layers, encoder_stem_width, encoder_widths (resnet),
                                          encoder_channel_multiplier, encoder_depth_multiplier
                                          (efficientnet), decoder_channels, in_channels, classes,
                                          input_shape, seed, torch/smp/timm versions, smp_constructor
                                        (tools/to_torch.py reads the same description: --arch)

for two models that run the code of the full-size ones, narrower:

  resnet        smp.Unet over smp's ResNetEncoder with torchvision BasicBlocks in resnet34's layout
                (layers 3/4/6/3), stem 8, stages 8/16/24/32 (registered with smp by
                make_e2e_fixtures.register_reduced_encoder), decoder 16/16/8/8/8, in_channels 3,
                classes 2
  efficientnet  smp.Unet over smp's timm EfficientNetEncoder with channel_multiplier 0.25 and
                depth_multiplier 0.3 (registered by dump_smp_keys.register_scaled_efficientnet:
                stem 8, stages 8/8/16/24/32/48/80, repeats 1/1/1/1/1/2/1, head 320), decoder
                16/16/8/8/8, in_channels 1, classes 1

Weights: smp's and timm's own initialisation under torch.manual_seed(seed), then every conv bias
N(0, 0.1^2) (they start at 0), every BatchNorm as make_e2e_fixtures.randomise_batchnorm (weight
U(0.5, 1.5), bias N(0, 0.2^2), running_mean N(0, 0.2^2), running_var U(0.5, 2)) and its
num_batches_tracked a random integer in [1, 1000], so that eval mode is no identity anywhere and
every tensor, integers included, must arrive intact.

  transfer_adapt.safetensors   smp's first-conv adaptation (encoders/_utils.patch_first_conv with
                               pretrained=True, reached through encoder.set_in_channels(n) of a real
                               smp resnet18 encoder whose conv1 weight was set to "adapt.in"):
                                 adapt.in   [64, 3, 7, 7] ~ N(0, 1)
                                 adapt.1    [64, 1, 7, 7]  w.sum(1, keepdim=True): in float32 and in
                                            order, (w[:, 0] + w[:, 1]) + w[:, 2] (summing in
                                            double and rounding once differs in 705 of the 3136
                                            elements, by up to 4.8e-7)
                                 adapt.N    [64, N, 7, 7]  for N = 2, 4, 5: channel i = w[:, i % 3],
                                            times 3 / N, in float32 with the factor rounded to
                                            float32 first (w * float(3 / N); for N = 5 this differs
                                            from rounding the exact product or computing w * 3 / 5)

Usage (versions pinned in tools/requirements.txt; a CPU build of torch is enough):
    python3 tools/make_transfer_fixtures.py [--out-dir tests/fixtures] [--seed 1]
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import sys
import warnings

TOOLS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

from export_torch import export_state_dict, fbseg_metadata, write_safetensors  # noqa: E402
from make_e2e_fixtures import randomise_batchnorm  # noqa: E402
from to_torch import arch_metadata, build_smp_unet  # noqa: E402

ROOT = TOOLS.parent
SEED = 1
FIXTURE_LIMIT = 1 << 20  # each committed fixture stays under 1 MiB
INPUT_HW = (64, 64)
REDUCED = {
    "resnet": {"encoder": "resnet", "layers": [3, 4, 6, 3], "stem_width": 8, "widths": [8, 16, 24, 32],
               "decoder_channels": [16, 16, 8, 8, 8], "in_channels": 3, "classes": 2},
    "efficientnet": {"encoder": "efficientnet", "channel_multiplier": 0.25, "depth_multiplier": 0.3,
                     "decoder_channels": [16, 16, 8, 8, 8], "in_channels": 1, "classes": 1},
}
ADAPT_CHANNELS = (1, 2, 4, 5)


def versions() -> dict:
    import segmentation_models_pytorch as smp
    import timm
    import torch

    return {"torch_version": torch.__version__, "smp_version": smp.__version__, "timm_version": timm.__version__}


def randomise(model, seed: int) -> None:
    """Conv biases, BatchNorm affine parameters and statistics, num_batches_tracked (see docstring)."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    randomise_batchnorm(model, gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.fill_(int(torch.randint(1, 1001, (), generator=gen)))


def build_model(arch: dict, seed: int):
    """The smp Unet of `arch` (tools/to_torch.py's builder) with seeded, randomised weights."""
    import torch

    torch.manual_seed(seed)
    model = build_smp_unet(arch)
    randomise(model, seed)
    return model.eval()


def eval_io(model, arch: dict, seed: int, input_shape=(2, None) + INPUT_HW) -> dict:
    """{"input", "eval.logits"}: x ~ N(0, 1) [N, C, H, W] and the eval-mode output."""
    import torch

    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(input_shape[0], arch["in_channels"], *input_shape[2:], generator=gen)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return {"input": x, "eval.logits": logits.float()}


def smp_constructor(arch: dict) -> str:
    if "fbseg_model" in arch:
        from export_torch import FBSEG_SMP_ENCODERS

        return (f'smp.Unet("{FBSEG_SMP_ENCODERS[arch["fbseg_model"]]}", encoder_weights=None, '
                f'in_channels={arch["in_channels"]}, classes={arch["classes"]})')
    how = ("make_e2e_fixtures.register_reduced_encoder" if arch["encoder"] == "resnet"
           else "dump_smp_keys.register_scaled_efficientnet")
    return (f"smp.Unet(<encoder registered by {how}>, encoder_weights=None, in_channels={arch['in_channels']}, "
            f"classes={arch['classes']}, decoder_channels={tuple(arch['decoder_channels'])})")


def write_pair(model, arch: dict, name: str, out_dir: pathlib.Path, seed: int, source: str,
               input_shape=(2, None) + INPUT_HW) -> list[pathlib.Path]:
    """transfer_<name>.weights.safetensors and transfer_<name>.io.safetensors."""
    weights = out_dir / f"transfer_{name}.weights.safetensors"
    io = out_dir / f"transfer_{name}.io.safetensors"
    meta = fbseg_metadata(source=source)
    if "fbseg_model" in arch:
        meta = fbseg_metadata(arch["fbseg_model"], arch["in_channels"], arch["classes"], source=source)
    export_state_dict(model.state_dict(), weights, meta)
    tensors = eval_io(model, arch, seed, input_shape)
    io_meta = dict(arch_metadata(arch), **versions(), seed=str(seed), smp_constructor=smp_constructor(arch),
                   input_shape=",".join(map(str, tensors["input"].shape)), generator="tools/make_transfer_fixtures.py")
    write_safetensors(tensors, io, io_meta)
    return [weights, io]


def adapt_tensors(seed: int) -> dict:
    """smp's patch_first_conv(pretrained=True) through set_in_channels of a real smp encoder."""
    import segmentation_models_pytorch as smp
    import torch

    encoder = smp.encoders.get_encoder("resnet18", in_channels=3, weights=None)
    gen = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        encoder.conv1.weight.copy_(torch.randn(encoder.conv1.weight.shape, generator=gen))
    out = {"adapt.in": encoder.conv1.weight.detach().clone()}
    for n in ADAPT_CHANNELS:
        adapted = copy.deepcopy(encoder)
        adapted.set_in_channels(n, pretrained=True)
        out[f"adapt.{n}"] = adapted.conv1.weight.detach().clone()
    return out


def summary(path: pathlib.Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        count = sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
        return f"{path}: {len(f.keys())} tensors, {count} elements, {path.stat().st_size} bytes"


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=pathlib.Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # smp deprecates the timm- encoder names

    paths = []
    for name, arch in REDUCED.items():
        model = build_model(arch, args.seed)
        source = f"tools/make_transfer_fixtures.py: reduced {name} smp Unet, seed {args.seed}"
        paths += write_pair(model, arch, name, args.out_dir, args.seed, source)
    adapt = args.out_dir / "transfer_adapt.safetensors"
    write_safetensors(adapt_tensors(args.seed), adapt, dict(versions(), seed=str(args.seed),
                                                            generator="tools/make_transfer_fixtures.py"))
    paths.append(adapt)
    too_big = [p for p in paths if p.stat().st_size >= FIXTURE_LIMIT]
    for p in paths:
        print(summary(p))
    if too_big:
        print(f"error: over {FIXTURE_LIMIT} bytes: {', '.join(map(str, too_big))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
