"""Tensor layouts and the quantization-group specs shared by kernels, quant ops and the reference."""

from __future__ import annotations

import dataclasses
import math

import torch

LAYOUT_CODES = {"HND": 0, "NHD": 1}
LOG2E = 1.4426950408889634
# Static FP8 offset for P~: exp2(s - m + log2(448)) lands in (0, 448], e4m3's largest finite value.
FP8_E4M3_MAX = 448.0
FP8_OFFSET = math.log2(FP8_E4M3_MAX)
U8_OFFSET = math.log2(255.0)  # the sm90 INT8-PV kernel's P~ = exp2(s - m + U8_OFFSET) in (0, 255] (csrc/sm90/tile.cuh)


def layout_code(tensor_layout: str) -> int:
    if tensor_layout not in LAYOUT_CODES:
        raise ValueError(f"tensor_layout must be 'HND' (B, H, N, D) or 'NHD' (B, N, H, D), got {tensor_layout!r}")
    return LAYOUT_CODES[tensor_layout]


def to_hnd(x: torch.Tensor, tensor_layout: str) -> torch.Tensor:
    """A (B, H, N, D) view of x (no copy)."""
    return x if layout_code(tensor_layout) == 0 else x.transpose(1, 2)


def seq_len(x: torch.Tensor, tensor_layout: str) -> int:
    """The sequence length of a 4-D tensor in this layout (without making a view: host time per call)."""
    return x.shape[2 if layout_code(tensor_layout) == 0 else 1]


def from_hnd(x: torch.Tensor, tensor_layout: str) -> torch.Tensor:
    return x if layout_code(tensor_layout) == 0 else x.transpose(1, 2)


@dataclasses.dataclass(frozen=True)
class GroupSpec:
    """INT8 scale groups: blocks of `block` tokens; token i of a block uses group (i % period) // stride.

    per-block / per-warp: period = stride = 1. per-thread under an mma m16 row fragment (Q): period 8,
    stride 1; under the n8 column fragment (K): period 8, stride 2.
    """

    block: int
    period: int = 1
    stride: int = 1

    @property
    def groups(self) -> int:
        return self.period // self.stride

    def group_of_token(self, n_pad: int, device: torch.device | None = None) -> torch.Tensor:
        """Index into the flattened [blocks * groups] scale vector for every (padded) token."""
        i = torch.arange(n_pad, device=device)
        return (i // self.block) * self.groups + (i % self.block % self.period) // self.stride


def rows_16b_aligned(x: torch.Tensor) -> bool:
    """Head dim a multiple of 8, strides (but the last) multiples of 8 elements and 16-byte aligned data: rows a
    kernel loads 16 bytes at a time (stable_op.h's rows_16b_aligned for 16-bit tensors)."""
    return x.shape[-1] % 8 == 0 and all(s % 8 == 0 for s in x.stride()[:-1]) and x.data_ptr() % 16 == 0


def round_up(x: int, m: int) -> int:
    return (x + m - 1) // m * m


def padded_head_dim(d: int) -> int:
    """Head dims run natively at 64/128/256; others are zero-padded up to the next one."""
    for native in (64, 128, 256):
        if d <= native:
            return native
    raise ValueError(f"head dim {d} is larger than 256, the largest supported")
