#!/usr/bin/env python3
"""Fixture for tests/test_io.cpp: a .safetensors file written by Python's `safetensors` package (not
by fbseg) holding one tensor of every dtype fbseg reads, and for each its value as torch sees it.

    x.F16, x.BF16, x.F32, x.F64      float tensors [3, 5] of random values plus the awkward ones:
                                     +-0, +-inf, NaN, the smallest subnormal and the largest finite
                                     value of the dtype
    x.I32, x.I64, x.U8, x.BOOL       integer tensors [2, 7] over the dtype's whole range (ends included)
    ref.<code>                       the same values as torch converts them: float64 for the float
                                     dtypes (every F16/BF16/F32 value is exact in float64), int64 for
                                     the integer ones, bool for BOOL
    scalar.F32                       a 0-dim tensor; empty.F32 a [0, 3] tensor
__metadata__ holds the versions and the seed.

Usage (versions pinned in tools/requirements.txt):
    python3 tools/make_io_fixtures.py        # writes tests/fixtures/io_dtypes.safetensors
"""

from __future__ import annotations

import pathlib

import safetensors
import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 9


def float_values(dtype: torch.dtype) -> torch.Tensor:
    info = torch.finfo(dtype)
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), info.smallest_normal,
                            info.tiny * 0.5 if dtype == torch.float64 else 2.0 ** -149, info.max, -info.max],
                           dtype=torch.float64)
    if dtype == torch.float16:
        special[6] = 2.0 ** -24  # the smallest half subnormal
    elif dtype == torch.bfloat16:
        special[6] = 2.0 ** -133  # the smallest bfloat16 subnormal
    elif dtype == torch.float32:
        special[6] = 2.0 ** -149
    else:
        special[6] = 2.0 ** -1074
    rest = torch.randn(15 - special.numel(), dtype=torch.float64) * 3
    return torch.cat([special, rest]).to(dtype).reshape(3, 5)


def int_values(dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bool:
        return (torch.rand(14) > 0.5).reshape(2, 7)
    info = torch.iinfo(dtype)
    ends = torch.tensor([info.min, info.max, 0], dtype=dtype)
    rest = torch.randint(int(info.min) // 2, int(info.max) // 2, (11,), dtype=torch.int64).to(dtype)
    return torch.cat([ends, rest]).reshape(2, 7)


def main() -> None:
    torch.manual_seed(SEED)
    tensors = {}
    for code, dtype in [("F16", torch.float16), ("BF16", torch.bfloat16), ("F32", torch.float32),
                        ("F64", torch.float64)]:
        x = float_values(dtype)
        tensors[f"x.{code}"] = x
        tensors[f"ref.{code}"] = x.to(torch.float64).clone()
    for code, dtype in [("I32", torch.int32), ("I64", torch.int64), ("U8", torch.uint8), ("BOOL", torch.bool)]:
        x = int_values(dtype)
        tensors[f"x.{code}"] = x
        tensors[f"ref.{code}"] = (x if dtype == torch.bool else x.to(torch.int64)).clone()
    tensors["scalar.F32"] = torch.tensor(2.5, dtype=torch.float32)
    tensors["empty.F32"] = torch.zeros(0, 3, dtype=torch.float32)
    out = ROOT / "tests" / "fixtures" / "io_dtypes.safetensors"
    save_file(tensors, str(out), metadata={"torch_version": torch.__version__,
                                           "safetensors_version": safetensors.__version__, "seed": str(SEED)})
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
