"""Fake (meta) implementations of the C++ ops so torch.compile can trace them.

Each family registers its fakes right after its module loads (``_lib.load``); kernel families add
theirs through ``register_family_fakes``.
"""

from __future__ import annotations

from typing import Callable

import torch

from sageattention._layout import round_up

_registered: set[str] = set()
_FAMILY_FAKES: dict[str, Callable[[], None]] = {}


def register_family_fakes(family: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def deco(fn: Callable[[], None]) -> Callable[[], None]:
        _FAMILY_FAKES[family] = fn
        return fn

    return deco


def register_fakes(family: str) -> None:
    """Register a loaded family's fakes once; a family whose fakes are not defined yet stays pending."""
    if family in _registered:
        return
    if family == "core":
        _core_fakes()
    elif family in _FAMILY_FAKES:
        _FAMILY_FAKES[family]()
    else:
        return
    _registered.add(family)


def _bhnd(x: torch.Tensor, layout: int) -> tuple[int, int, int, int]:
    b, a1, a2, d = x.shape
    return (b, a1, a2, d) if layout == 0 else (b, a2, a1, d)


def v_fp8_fake(v: torch.Tensor, tensor_layout: int, pad_multiple: int,
               head_dim_padded: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What both V quantizers return: e4m3 V^T [B, H, D_pad, N_pad] and per-channel scales [B, H, D_pad]."""
    b, h, n, _d = _bhnd(v, tensor_layout)
    n_pad = round_up(n, pad_multiple)
    return (
        v.new_empty((b, h, head_dim_padded, n_pad), dtype=torch.float8_e4m3fn),
        v.new_empty((b, h, head_dim_padded), dtype=torch.float32),
    )


def _core_fakes() -> None:
    @torch.library.register_fake("sageattention::channel_stats")
    def _(x: torch.Tensor, tensor_layout: int, centered: bool) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, _n, d = _bhnd(x, tensor_layout)
        return x.new_empty((b, h, d), dtype=torch.float32), x.new_empty((b, h, d), dtype=torch.float32)

    @torch.library.register_fake("sageattention::quant_int8")
    def _(
        x: torch.Tensor, tensor_layout: int, block_size: int, group_period: int, group_stride: int,
        head_dim_padded: int, pad_multiple: int, mean: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, n, _d = _bhnd(x, tensor_layout)
        n_pad = round_up(n, max(block_size, pad_multiple))
        groups = group_period // group_stride
        return (
            x.new_empty((b, h, n_pad, head_dim_padded), dtype=torch.int8),
            x.new_empty((b, h, n_pad // block_size * groups), dtype=torch.float32),
        )

    @torch.library.register_fake("sageattention::quant_v_fp8")
    def _(
        v: torch.Tensor, tensor_layout: int, pad_multiple: int, head_dim_padded: int, scale_max: float,
        absmax: torch.Tensor, mean: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return v_fp8_fake(v, tensor_layout, pad_multiple, head_dim_padded)
