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


def last_template_argument(name: str) -> str:
    """A demangled kernel name's last template argument: 'void f<64, false, 2>(P)' -> '2'."""
    return name.split(">(")[0].rsplit(", ", 1)[1]
