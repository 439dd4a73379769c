#!/usr/bin/env python3
"""PyTorch -> fbseg: writes a PyTorch state_dict as an fbseg "weights" file (safetensors).

The file contract (what fbseg's io::load_weights reads, and what io::save_weights writes):

  weights file     a safetensors file whose tensors are the PyTorch state_dict entries under their
                   PyTorch keys, unchanged ("encoder.layer1.0.conv1.weight"). Floating-point tensors
                   are F32 (see --dtype), integer buffers keep their type (num_batches_tracked is
                   I64). __metadata__ (all values strings):
                     format             "pt" (safetensors' own convention)
                     fbseg.format       "weights"
                     fbseg.model        an fbseg model name, when the architecture is known:
                                        resnet18-unet, resnet34-unet or efficientnet-b0-unet
                                        (= smp.Unet("resnet18" | "resnet34" | "timm-efficientnet-b0",
                                        encoder_weights=None, in_channels, classes))
                     fbseg.in_channels, fbseg.classes   with fbseg.model
                     fbseg.source       where the tensors came from (file, or library:name:weights)
  checkpoint file  (written by fbseg's training) "fbseg.format": "checkpoint"; the model's tensors
                   under the prefix "model.", the optimizer's under "optimizer."; the same
                   fbseg.model / fbseg.in_channels / fbseg.classes metadata. tools/to_torch.py reads
                   both kinds.

Sources (exactly one):

  FILE.pth|.pt|.bin|.ckpt   a state_dict saved with torch.save, possibly wrapped as
                            {"state_dict": ...}, {"model": ...} or {"model_state_dict": ...}; read
                            with torch.load(weights_only=True), which runs no pickle code
  FILE.pth --allow-pickle   a whole pickled model (torch.save(model)); torch.load(weights_only=False)
                            runs the file's pickle code, so only for files you trust. For an smp Unet
                            the architecture metadata comes from its config.
  FILE.safetensors          re-export (e.g. to rename keys or fill the metadata)
  --torchvision NAME        torchvision's ImageNet weights (resnet18, resnet34, ...; --weights picks
                            the enum member, default DEFAULT) from the local torch hub cache
                            ($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints)
  --timm NAME               timm's pretrained weights (efficientnet_b0, ...) from the local Hugging
                            Face cache ($HF_HUB_CACHE, default ~/.cache/huggingface/hub) or the
                            torch hub cache
  --smp-encoder NAME        an smp encoder's pretrained weights (resnet34, timm-efficientnet-b0;
                            --weights, default imagenet) from the local Hugging Face cache

Nothing is ever downloaded (HF_HUB_OFFLINE is set): a missing file is an error that names the path
it looked for. The by-name sources export the network's own state_dict (torchvision's and timm's
include the classifier, fc.* / classifier.*); fbseg's Unets hold an encoder under "encoder.", so
the usual export for a pretrained encoder is

    python3 tools/export_torch.py --torchvision resnet34 --drop 'fc.*' --prefix-add encoder. -o resnet34_imagenet.safetensors

and fbseg loads it into make_model("resnet34-unet", ...) non-strictly (the decoder keeps its own
initialisation): io::load_weights(model, path, {.strict = false}). For in_channels other than 3,
nn::adapt_input_channels (the load option .adapt_input_channels = {"encoder.conv1.weight"}) adapts the first conv as smp does.

Key edits, applied in this order: --prefix-strip P (keys that start with P lose it, e.g. "module."
from DataParallel), --drop GLOB (fnmatch on the stripped key; repeatable), --prefix-add P.

Metadata: --model/--in-channels/--classes set fbseg.model etc. When --model is given the
state_dict is checked against smp's model of that name (keys and shapes; an error if they differ).
Without --model, a state_dict of a whole smp Unet is matched against fbseg's models, and when one
fits exactly its name, in_channels and classes are recorded (say --no-infer to leave them out).

Workflow for a machine without internet (where fbseg trains): on a machine with internet and
PyTorch, fill the cache or export there,

    pip install -r tools/requirements.txt
    python3 -c "import torchvision; torchvision.models.resnet34(weights='DEFAULT')"   # fills the cache
    python3 tools/export_torch.py --torchvision resnet34 --drop 'fc.*' --prefix-add encoder. -o r34.safetensors

then copy r34.safetensors (or the cache folder) to the training machine, where fbseg needs no Python:
load it with io::load_weights and train. Back to PyTorch/ONNX with tools/to_torch.py.

Usage:
    python3 tools/export_torch.py SOURCE -o OUT.safetensors [--allow-pickle] [--prefix-strip P]
        [--drop GLOB]... [--prefix-add P] [--model NAME --in-channels C --classes K] [--dtype float32]
    python3 tools/export_torch.py --torchvision resnet18 -o r18.safetensors [--weights IMAGENET1K_V1]
    python3 tools/export_torch.py --timm efficientnet_b0 --drop 'classifier.*' -o b0.safetensors
    python3 tools/export_torch.py --smp-encoder timm-efficientnet-b0 --prefix-add encoder. -o e.safetensors

As a module (tools/make_transfer_fixtures.py, tools/check_transfer.py):
    from export_torch import export_state_dict, fbseg_metadata
    export_state_dict(model.state_dict(), path, fbseg_metadata("resnet34-unet", 3, 1, source="..."))
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pathlib
import struct
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download (before huggingface_hub is imported)

# fbseg model name -> smp encoder name (smp.Unet(encoder, encoder_weights=None, in_channels, classes))
FBSEG_SMP_ENCODERS = {
    "resnet18-unet": "resnet18",
    "resnet34-unet": "resnet34",
    "efficientnet-b0-unet": "timm-efficientnet-b0",
}
# smp.Unet's defaults, which fbseg's named models use
SMP_UNET_DEFAULTS = {"encoder_depth": 5, "decoder_channels": (256, 128, 64, 32, 16), "decoder_attention_type": None,
                     "decoder_interpolation": "nearest", "decoder_use_norm": "batchnorm", "aux_params": None}
DTYPES = ("float32", "float64", "keep")


class ExportError(Exception):
    """A user-facing error: printed without a traceback."""


# ---- metadata and writing ------------------------------------------------------------------------


def fbseg_metadata(model: str | None = None, in_channels: int | None = None, classes: int | None = None,
                   source: str | None = None, fmt: str = "weights") -> dict:
    """The __metadata__ of the file contract (module docstring)."""
    meta = {"format": "pt", "fbseg.format": fmt}
    if model is not None:
        if model == "unet":
            pass  # the classic UNet has no smp twin, but its name is still an fbseg model
        elif model not in FBSEG_SMP_ENCODERS:
            raise ExportError(f"unknown fbseg model '{model}'; known: unet, {', '.join(FBSEG_SMP_ENCODERS)}")
        meta["fbseg.model"] = model
    if in_channels is not None:
        meta["fbseg.in_channels"] = str(int(in_channels))
    if classes is not None:
        meta["fbseg.classes"] = str(int(classes))
    if source:
        meta["fbseg.source"] = source
    return meta


def convert_dtype(state: dict, dtype: str = "float32") -> dict:
    """Detached, contiguous CPU copies; floating tensors cast to `dtype` ("keep": unchanged)."""
    import torch

    if dtype not in DTYPES:
        raise ExportError(f"--dtype must be one of {', '.join(DTYPES)}, not '{dtype}'")
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"state_dict entry '{key}' is a {type(value).__name__}, not a tensor")
        t = value.detach().to("cpu")
        if t.is_floating_point() and dtype != "keep":
            t = t.to(getattr(torch, dtype))
        out[key] = t.contiguous().clone()  # clone: safetensors refuses tensors that share storage
    return out


def canonical_safetensors(data: bytes) -> bytes:
    """The same safetensors file with its __metadata__ keys sorted.

    The safetensors package writes the metadata in hash-map order, which changes from run to run;
    sorting it makes a rerun byte-identical (the tensor entries keep their order and offsets).
    """
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads the header to a multiple of 8 with spaces
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def export_state_dict(state_dict: dict, path, metadata: dict | None = None, dtype: str = "float32") -> dict:
    """Writes `state_dict` to `path` as an fbseg weights file; returns the tensors written.

    `metadata` is merged over fbseg_metadata() (format "pt", fbseg.format "weights"). The bytes come
    from the safetensors package (metadata keys then sorted, canonical_safetensors), and are written
    to a temporary name, flushed and renamed, so a reader never sees half a file.
    """
    tensors = convert_dtype(state_dict, dtype)
    meta = fbseg_metadata()
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    write_safetensors(tensors, path, meta)
    return tensors


def write_safetensors(tensors: dict, path, metadata: dict) -> int:
    """Any {key: tensor} as safetensors (the package's bytes, canonical_safetensors), atomically;
    returns the file size."""
    from safetensors.torch import save

    data = canonical_safetensors(save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(data)


# ---- sources -------------------------------------------------------------------------------------


def is_state_dict(obj) -> bool:
    import torch

    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(obj) -> tuple[dict, str]:
    """The state_dict inside what torch.load returned: itself, or under state_dict/model/model_state_dict."""
    if is_state_dict(obj):
        return dict(obj), ""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and is_state_dict(obj[key]):
                return dict(obj[key]), f"['{key}']"
    raise ExportError("the file holds no state_dict (a dict of tensors, possibly under 'state_dict', "
                      "'model_state_dict' or 'model')")


def smp_unet_metadata(model) -> dict:
    """fbseg.model/in_channels/classes for a pickled smp Unet whose config is one of fbseg's models."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "Unet" or not isinstance(config, dict):
        return {}
    names = {enc: name for name, enc in FBSEG_SMP_ENCODERS.items()}
    name = names.get(config.get("encoder_name"))
    different = [k for k, v in SMP_UNET_DEFAULTS.items() if k in config and _normalise(config[k]) != _normalise(v)]
    if config.get("activation") is not None:
        print(f"note: the model's activation '{config['activation']}' is not part of the weights; fbseg's "
              "models output logits", file=sys.stderr)
    if name is None or different:
        print(f"note: smp Unet(encoder '{config.get('encoder_name')}'{', ' if different else ''}"
              f"{', '.join(f'{k}={config[k]}' for k in different)}) is not one of fbseg's named models; "
              "fbseg.model is left out", file=sys.stderr)
        return {"not_fbseg": True}  # known, and not inferable from the keys (e.g. bilinear upsampling)
    return {"model": name, "in_channels": config["in_channels"], "classes": config["classes"]}


def _normalise(v):
    return list(v) if isinstance(v, (tuple, list)) else v


def load_file(path: pathlib.Path, allow_pickle: bool) -> tuple[dict, dict]:
    """(state_dict, metadata hints) from a .pth/.pt/.bin/.ckpt or .safetensors file."""
    import torch

    if not path.is_file():
        raise ExportError(f"no such file: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata() or {}
        hints = {k[len("fbseg."):]: v for k, v in meta.items() if k in ("fbseg.model", "fbseg.in_channels", "fbseg.classes")}
        return state, hints
    if allow_pickle:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
        if isinstance(obj, torch.nn.Module):
            return obj.state_dict(), smp_unet_metadata(obj)
        return unwrap_state_dict(obj)[0], {}
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError with a long explanation
        raise ExportError(f"{path}: torch.load(weights_only=True) refused it ({type(e).__name__}: the file holds "
                          "more than tensors and plain containers, e.g. a whole pickled model). If you trust the "
                          "file, rerun with --allow-pickle.") from None
    state, where = unwrap_state_dict(obj)
    if where:
        print(f"note: the state_dict is {path.name}{where}", file=sys.stderr)
    return state, {}


def torch_hub_checkpoint(url: str) -> pathlib.Path:
    import torch

    return pathlib.Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])


def load_torchvision(name: str, weights: str | None) -> tuple[dict, str]:
    import torch
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        raise ExportError(f"torchvision has no model '{name}'") from None
    member = enum.DEFAULT if weights in (None, "DEFAULT") else getattr(enum, weights, None)
    if member is None:
        raise ExportError(f"torchvision {name}: no weights '{weights}'; known: {', '.join(m.name for m in enum)}")
    path = torch_hub_checkpoint(member.url)
    if not path.is_file():
        raise ExportError(f"torchvision {name} ({member.name}) is not in the local cache: {path} does not exist. "
                          f"On a machine with internet run  python3 -c \"import torchvision; "
                          f"torchvision.models.{name}(weights='{member.name}')\"  and copy {path.name} to "
                          f"{path.parent} (or set TORCH_HOME), or export there with this script.")
    model = torchvision.models.get_model(name, weights=None)
    model.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
    return model.state_dict(), f"torchvision:{name}:{member.name} ({path.name})"


def hf_cached(repo_id: str, filenames, revision: str | None = None) -> pathlib.Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(found, str) and os.path.isfile(found):
            return pathlib.Path(found)
    return None


def hf_cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def load_timm(name: str) -> tuple[dict, str]:
    import timm

    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as e:
        raise ExportError(f"timm: {e}") from None
    cfg = model.pretrained_cfg
    looked = []
    path = None
    if cfg.get("hf_hub_id"):
        path = hf_cached(cfg["hf_hub_id"], ("model.safetensors", "pytorch_model.bin"))
        looked.append(f"{hf_cache_dir()}/models--{cfg['hf_hub_id'].replace('/', '--')}")
    if path is None and cfg.get("url"):
        candidate = torch_hub_checkpoint(cfg["url"])
        looked.append(str(candidate))
        path = candidate if candidate.is_file() else None
    if path is None:
        raise ExportError(f"timm {name}: no pretrained weights in the local cache (looked in {' and '.join(looked)}). "
                          f"On a machine with internet run  python3 -c \"import timm; timm.create_model('{name}', "
                          "pretrained=True)\"  and copy its cache here, or export there with this script.")
    # timm loads the file itself (with the model's own key filter, if it has one)
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    return model.state_dict(), f"timm:{name}:{cfg.get('tag') or ''} ({path.name})"


def load_smp_encoder(name: str, weights: str | None) -> tuple[dict, str]:
    import segmentation_models_pytorch as smp
    from safetensors.torch import load_file as load_safetensors

    weights = weights or "imagenet"
    if name not in smp.encoders.encoders:
        raise ExportError(f"smp has no encoder '{name}' (tu-* encoders: use --timm with the timm name)")
    settings = smp.encoders.encoders[name]["pretrained_settings"].get(weights)
    if settings is None:
        known = ", ".join(smp.encoders.encoders[name]["pretrained_settings"])
        raise ExportError(f"smp encoder {name}: no weights '{weights}'; known: {known}")
    path = hf_cached(settings["repo_id"], ("model.safetensors",), revision=settings["revision"])
    if path is None:
        raise ExportError(f"smp encoder {name} ({weights}) is not in the local cache: no "
                          f"{hf_cache_dir()}/models--{settings['repo_id'].replace('/', '--')}/snapshots/"
                          f"{settings['revision']}/model.safetensors. On a machine with internet run  python3 -c "
                          f"\"import segmentation_models_pytorch as smp; smp.Unet('{name}', encoder_weights='{weights}')\"  "
                          "and copy its Hugging Face cache here, or export there with this script.")
    encoder = smp.encoders.get_encoder(name, in_channels=3, weights=None)
    encoder.load_state_dict(load_safetensors(str(path)))
    return encoder.state_dict(), f"smp:{name}:{weights} ({settings['repo_id']}@{settings['revision'][:12]})"


# ---- key edits and checks ------------------------------------------------------------------------


def edit_keys(state: dict, strip: str | None = None, drop=(), add: str | None = None) -> dict:
    """--prefix-strip, then --drop (globs on the stripped keys), then --prefix-add."""
    out = {}
    stripped = 0
    for key, value in state.items():
        if strip and key.startswith(strip):
            key = key[len(strip):]
            stripped += 1
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in drop):
            continue
        out[(add or "") + key] = value
    if strip and stripped == 0:
        raise ExportError(f"--prefix-strip '{strip}': no key starts with it (first key: '{next(iter(state))}')")
    for pattern in drop:
        if not any(fnmatch.fnmatchcase(k[len(strip):] if strip and k.startswith(strip) else k, pattern) for k in state):
            print(f"note: --drop '{pattern}' matched no key", file=sys.stderr)
    if not out:
        raise ExportError("no tensors left after --drop")
    return out


def smp_reference(model: str, in_channels: int, classes: int) -> dict:
    """{key: shape} of smp's model for an fbseg name."""
    import warnings

    import segmentation_models_pytorch as smp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # smp deprecates the timm- encoder names
        net = smp.Unet(FBSEG_SMP_ENCODERS[model], encoder_weights=None, in_channels=in_channels, classes=classes)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def layout_differences(state: dict, reference: dict) -> list[str]:
    """What differs between a state_dict and a {key: shape} reference (empty when they match)."""
    problems = [f"missing {k}" for k in reference if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in reference]
    problems += [f"{k}: shape {list(state[k].shape)} vs {list(s)}" for k, s in reference.items()
                 if k in state and tuple(state[k].shape) != s]
    return problems


def infer_fbseg_model(state: dict) -> dict:
    """{model, in_channels, classes} when the state_dict is exactly one of fbseg's smp Unets, else {}."""
    head = state.get("segmentation_head.0.weight")
    first = state.get("encoder.conv1.weight", state.get("encoder.conv_stem.weight"))
    if head is None or first is None or head.dim() != 4 or first.dim() != 4:
        return {}
    in_channels, classes = int(first.shape[1]), int(head.shape[0])
    for model in FBSEG_SMP_ENCODERS:
        if not layout_differences(state, smp_reference(model, in_channels, classes)):
            return {"model": model, "in_channels": in_channels, "classes": classes}
    return {}


# ---- command line --------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=pathlib.Path, help="a .pth/.pt/.bin/.ckpt or .safetensors file")
    source.add_argument("--torchvision", metavar="NAME", help="torchvision ImageNet weights from the local cache")
    source.add_argument("--timm", metavar="NAME", help="timm pretrained weights from the local cache")
    source.add_argument("--smp-encoder", metavar="NAME", help="smp encoder weights from the local cache")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="the weights file to write")
    parser.add_argument("--weights", help="torchvision enum member (default DEFAULT) or smp weights (default imagenet)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="torch.load(weights_only=False): runs the file's pickle code (trusted files only)")
    parser.add_argument("--prefix-strip", metavar="P")
    parser.add_argument("--drop", metavar="GLOB", action="append", default=[])
    parser.add_argument("--prefix-add", metavar="P")
    parser.add_argument("--model", help="fbseg model name for the metadata (checked against smp's layout)")
    parser.add_argument("--in-channels", type=int)
    parser.add_argument("--classes", type=int)
    parser.add_argument("--no-infer", action="store_true", help="do not infer fbseg.model from the keys")
    parser.add_argument("--dtype", default="float32", choices=DTYPES, help="floating tensors (default float32)")
    return parser.parse_args(argv)


def load_source(args) -> tuple[dict, dict, str]:
    """(state_dict, metadata hints, source description) of the chosen source."""
    if args.torchvision:
        state, source = load_torchvision(args.torchvision, args.weights)
    elif args.timm:
        state, source = load_timm(args.timm)
    elif args.smp_encoder:
        state, source = load_smp_encoder(args.smp_encoder, args.weights)
    else:
        state, hints = load_file(args.file, args.allow_pickle)
        return state, hints, str(args.file.resolve())
    return state, {}, source


def resolve_metadata(args, state: dict, hints: dict) -> dict:
    """fbseg.model/in_channels/classes from the options, else the source's hints, else inference."""
    model = args.model or hints.get("model")
    in_channels = args.in_channels if args.in_channels is not None else hints.get("in_channels")
    classes = args.classes if args.classes is not None else hints.get("classes")
    if model is None and not args.no_infer and not hints.get("not_fbseg"):
        guess = infer_fbseg_model(state)
        if guess:
            print(f"fbseg.model inferred from the keys and shapes: {guess['model']} (in_channels "
                  f"{guess['in_channels']}, classes {guess['classes']}); --model sets it, --no-infer leaves it out",
                  file=sys.stderr)
            model = guess["model"]
            in_channels = guess["in_channels"] if in_channels is None else in_channels
            classes = guess["classes"] if classes is None else classes
    if model in FBSEG_SMP_ENCODERS:
        if in_channels is None or classes is None:
            raise ExportError(f"--model {model} needs --in-channels and --classes")
        problems = layout_differences(state, smp_reference(model, int(in_channels), int(classes)))
        if problems:
            shown = "; ".join(problems[:8]) + (f"; ... ({len(problems)} in all)" if len(problems) > 8 else "")
            raise ExportError(f"the tensors are not smp's {model} (in_channels {in_channels}, classes {classes}): "
                              f"{shown}")
    return {"model": model, "in_channels": in_channels, "classes": classes}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state, hints, source = load_source(args)
        state = edit_keys(state, args.prefix_strip, args.drop, args.prefix_add)
        arch = resolve_metadata(args, state, hints)
        meta = fbseg_metadata(arch["model"], arch["in_channels"], arch["classes"], source=source)
        tensors = export_state_dict(state, args.output, meta, args.dtype)
    except ExportError as e:
        print(f"export_torch: error: {e}", file=sys.stderr)
        return 2
    count = sum(t.numel() for t in tensors.values())
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    print(f"{args.output}: {len(tensors)} tensors, {count} elements ({', '.join(dtypes)}), "
          f"{args.output.stat().st_size} bytes; metadata {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
