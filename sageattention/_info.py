"""build_info(): what this install was built with and what loads here (for bug reports)."""

from __future__ import annotations

from typing import Any

from sageattention import _lib, _short_kv


def build_info() -> dict[str, Any]:
    """Version, CUDA version, compiled archs, torch floor, and per-family load status."""
    import torch

    cfg = _lib._build_config()
    info: dict[str, Any] = {
        "version": cfg.get("version", version()),
        "cuda_version": cfg.get("cuda_version"),
        "local_label": cfg.get("local_label"),
        "archs": cfg.get("archs", []),
        "families": cfg.get("families", {}),
        "torch_floor": cfg.get("torch_floor"),
        "built_with_torch": cfg.get("built_with_torch"),
        "fp8_f16_accum": cfg.get("fp8_f16_accum"),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
    }
    info["kernels"] = {
        family: ("loaded" if _lib.load(family) else _lib.error(family)) for family in _lib.FAMILY_MODULES
    }
    info["short_kv_sdpa"] = _short_kv.describe()  # which calls sageattn gives to SDPA (too little work for the kernel)
    return info


def version() -> str:
    cfg = _lib._build_config()
    if "version" in cfg:
        return str(cfg["version"])
    from importlib import metadata

    try:
        return metadata.version("sageattention")
    except metadata.PackageNotFoundError:
        return "0+unknown"
