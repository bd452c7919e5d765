"""Which CUDA kernels a call launched, for tests that check a launch plan as well as its results."""

from __future__ import annotations

from typing import Callable

import torch


def profiled_names(fn: Callable[[], object]) -> list[str]:
    """Names of the events the CUDA profiler saw while `fn` ran: the launched kernels' (demangled, with template
    arguments, one per launch) among the runtime calls' and the ops'. Match kernels by a name no op or runtime call
    contains."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [e.name for e in prof.events()]


def template_arguments(name: str) -> list[str]:
    """A demangled kernel name's template arguments: 'void f<64, false, 2>(P)' -> ['64', 'false', '2']."""
    return name.split(">(")[0].split("<", 1)[1].split(", ")


def cta_budget(name: str) -> str:
    """The CTAs-per-SM budget (MIN_BLOCKS, the fourth template argument) of an mma.sync attention kernel's name:
    'void sage::mma::attn_kernel<64, false, (sage::mma::PvAccum)0, 2, 1>(...)' -> '2'."""
    return template_arguments(name)[3]
