"""`python -m sageattention`: print the build and runtime facts a bug report needs."""

from __future__ import annotations

import json

import torch

from sageattention import _device, build_info

# The padded head dims of the kernels, as the head dims that pad to them.
HEAD_DIM_RANGES = {64: "1-64", 128: "65-128", 256: "129-256"}


def sageattn_route(index: int) -> dict[str, str]:
    """Per range of head dims, what `sageattn` runs on GPU `index` for a plain call of enough work (the short-key
    route aside): the kernel family, or SDPA and why."""
    from sageattention import core

    family, reason = core._family_for(_device.capability(index), None)
    if family is None:
        return {dims: f"SDPA: {reason}" for dims in HEAD_DIM_RANGES.values()}
    probe = torch.empty(0, device=f"cuda:{index}")
    route = {}
    for padded, dims in HEAD_DIM_RANGES.items():
        fits, why = (family, "") if family == "sm90" else core._mma_family_that_fits(probe, padded, family)
        route[dims] = fits if fits is not None else f"SDPA: {why}"
    return route


def main() -> None:
    info = build_info()
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        cap = torch.cuda.get_device_capability(index)
        info["gpu"] = f"{torch.cuda.get_device_name(index)} (sm_{cap[0]}{cap[1]})"
        info["sageattn_by_head_dim"] = sageattn_route(index)
        # What sageattn accumulates FP16 PV in where it runs that kernel (GeForce sm_86/89: fp16+fp32).
        info["sageattn_fp16_pv_accum_dtype"] = _device.fp16_pv_accum(index)
    else:
        info["gpu"] = None
    print(json.dumps(info, indent=2, default=str))


if __name__ == "__main__":
    main()
