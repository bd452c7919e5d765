"""torch.compile and CUDA graphs on the GPU: the compiled call runs the same kernels as the eager one
(bit for bit), under dynamic shapes too, and both a manual CUDA graph capture and mode="reduce-overhead"
replay correctly with new inputs. The CPU twin is tests/cpu/test_compile.py."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

import sageattention
from sageattention import _device, _lib

pytestmark = pytest.mark.gpu

# Entry point -> (kernel family it needs, oldest capability, whether it needs exactly that capability)
ENTRIES = {
    "sageattn": (None, (8, 0), False),
    "sageattn_qk_int8_pv_fp16_cuda": ("mma_fp16", (8, 0), False),
    "sageattn_qk_int8_pv_fp16_triton": ("mma_fp16", (8, 0), False),
    "sageattn_qk_int8_pv_fp8_cuda": ("mma_fp8", (8, 9), False),
    "sageattn_qk_int8_pv_fp8_cuda_sm90": ("sm90", (9, 0), True),
    "sageattn_qk_int8_pv_fp16_cuda_sm90": ("sm90", (9, 0), True),
    "sageattn_qk_int8_pv_int8_cuda_sm90": ("sm90", (9, 0), True),
}


def entry_or_skip(name: str) -> Callable[..., Any]:
    family, cap, exact = ENTRIES[name]
    have = _device.capability(torch.cuda.current_device())
    if (have != cap) if exact else (have < cap):
        pytest.skip(f"{name} does not run on sm_{have[0]}{have[1]}")
    if family is not None and not _lib.load(family):
        pytest.skip(f"{name}: {_lib.error(family)}")
    return getattr(sageattention, name)


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=torch.float16)


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()


def same(got: Any, want: Any) -> None:
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert torch.equal(g, w), f"max |diff| {(g.float() - w.float()).abs().max().item()}"


@pytest.mark.parametrize("name", list(ENTRIES))
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize(("causal", "return_lse"), [(False, False), (True, True)])
def test_compiled_call_equals_eager(name: str, d: int, causal: bool, return_lse: bool) -> None:
    fn = entry_or_skip(name)
    q, k, v = rand(2, 300, 4, d), rand(2, 410, 2, d), rand(2, 410, 2, d)  # NHD, GQA, qo_len != kv_len

    def f(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
        return fn(q, k, v, tensor_layout="NHD", is_causal=causal, return_lse=return_lse)

    same(torch.compile(f, fullgraph=True)(q, k, v), f(q, k, v))


def test_dynamic_shapes_compile_once_and_match_eager() -> None:
    frames = torch._dynamo.testing.CompileCounterWithBackend("inductor")
    f = torch.compile(lambda q, k, v: sageattention.sageattn(q, k, v, is_causal=True, return_lse=True),
                      backend=frames, dynamic=True)
    for n in (300, 1000, 4097):
        q, k, v = rand(1, 4, n, 128), rand(1, 4, n + 7, 128), rand(1, 4, n + 7, 128)
        same(f(q, k, v), sageattention.sageattn(q, k, v, is_causal=True, return_lse=True))
    assert frames.frame_count == 1


@pytest.mark.parametrize("name", list(ENTRIES))
def test_cuda_graph_capture_replays_new_inputs(name: str) -> None:
    fn = entry_or_skip(name)
    static = [rand(2, 4, 700, 128), rand(2, 4, 900, 128), rand(2, 4, 900, 128)]

    def call() -> Any:
        return fn(*static, is_causal=True, return_lse=True)

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture: module loads, kernel attributes, caches
        for _ in range(2):
            call()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = call()
    for _ in range(3):
        fresh = [rand(*t.shape) * 3 for t in static]
        for dst, src in zip(static, fresh):
            dst.copy_(src)
        graph.replay()
        torch.cuda.synchronize()
        same(out, fn(*fresh, is_causal=True, return_lse=True))


def test_reduce_overhead_mode_replays_new_inputs() -> None:
    from torch._dynamo.utils import counters

    counters.clear()
    f = torch.compile(lambda q, k, v: sageattention.sageattn(q, k, v, tensor_layout="NHD"), mode="reduce-overhead",
                      fullgraph=True)
    for _ in range(4):  # the first calls warm up and record, the later ones replay
        q, k, v = rand(2, 1024, 8, 64), rand(2, 1024, 8, 64), rand(2, 1024, 8, 64)
        same(f(q, k, v).clone(), sageattention.sageattn(q, k, v, tensor_layout="NHD"))
    assert counters["inductor"]["cudagraph_skips"] == 0, "the graph with sageattn was not run as a CUDA graph"


def test_varlen_compiles_and_is_kept_out_of_cuda_graphs() -> None:
    lengths = [300, 300, 129, 1000]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], device="cuda", dtype=torch.int32)
    q, k, v = rand(sum(lengths), 4, 64), rand(sum(lengths), 4, 64), rand(sum(lengths), 4, 64)

    def f(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor) -> Any:
        return sageattention.sageattn_varlen(q, k, v, cu, cu, 1000, 1000, is_causal=True, return_lse=True)

    want = f(q, k, v, cu)
    same(torch.compile(f, fullgraph=True)(q, k, v, cu), want)
    torch._dynamo.reset()
    # It reads cu_seqlens on the host (cudagraph_unsafe): reduce-overhead must run it outside a capture, not fail.
    got = torch.compile(f, fullgraph=True, mode="reduce-overhead")
    for _ in range(3):
        same(tuple(t.clone() for t in got(q, k, v, cu)), want)


def test_inputs_requiring_grad_run_forward_and_refuse_backward() -> None:
    # Inference without no_grad: the compiled forward runs the kernels; a backward is a clear error, not None grads.
    q, k, v = (rand(1, 4, 512, 128).requires_grad_() for _ in range(3))
    out = torch.compile(lambda q, k, v: sageattention.sageattn(q, k, v), fullgraph=True)(q, k, v)
    with torch.no_grad():
        same(out.detach(), sageattention.sageattn(q, k, v))
    with pytest.raises(RuntimeError, match="sageattention has no backward"):
        out.float().sum().backward()
