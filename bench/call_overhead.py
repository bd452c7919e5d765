"""Host-side cost of one `sageattn` call vs its GPU time (is a short call CPU-bound?), and where the
host time goes.

    python bench/call_overhead.py            B=4 H=32 shapes, then a cProfile of 200 calls at N=1K
    python bench/call_overhead.py --layers   small shapes (SDXL/SD1.5-sized calls) beside SDPA, and the host
                                             time of each layer of a call: the two custom ops alone, the sm90
                                             wrapper (quantize + launch), the explicit entry point, sageattn
    python bench/call_overhead.py --mma-layers  the same shapes on the mma.sync paths (sm_80+; FP8 PV sm_89+): the
                                             separate ops (quantize + attend) against the fused op
                                             (sageattn_mma_f16 / sageattn_mma_f8) alone and behind the entry point
    python bench/call_overhead.py --graphs   the same shapes as a stack of 20 attention layers, eager and
                                             replayed from one CUDA graph, sageattn beside SDPA (what a
                                             host-bound model gains from torch.compile(mode="reduce-overhead")),
                                             then torch.profiler's host-time split of the two custom ops
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.append(".")  # after PYTHONPATH, so that an A/B can point it at another copy of the package
import sageattention  # noqa: E402
from bench.sm90_e2e_ab import back_to_back_ms  # noqa: E402


def host_and_gpu_us(fn: Callable[[], object], reps: int = 200) -> tuple[float, float]:
    """Host microseconds per call (the loop's own wall time, no syncs inside) and the GPU timeline per call."""
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    host = (time.perf_counter() - t0) / reps
    e.record()
    e.synchronize()
    return host * 1e6, a.elapsed_time(e) * 1e3 / reps


def big_shapes() -> None:
    for n, d in ((1024, 128), (2048, 128), (4096, 128), (1024, 64)):
        q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        host, wall = host_and_gpu_us(lambda: sageattention.sageattn(q, k, v), reps=50)
        print(f"N={n} D={d}: host {host:7.1f} us/call, GPU-timeline {wall:7.1f} us/call"
              f" -> {'CPU-bound' if host > 0.9 * wall else 'GPU-bound'}", flush=True)
    q, k, v = (torch.randn(4, 32, 1024, 128, device="cuda", dtype=torch.float16) for _ in range(3))
    profile(lambda: sageattention.sageattn(q, k, v), 200, cumulative=True)


def profile(fn: Callable[[], object], calls: int, cumulative: bool = False) -> None:
    """cProfile of `calls` calls: by internal time, and by cumulative time too if asked."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    torch.cuda.synchronize()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    if cumulative:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


# (label, B, H, N, D): SDXL at 1024 px runs 4096-token and 1024-token self-attention at D=64 (CFG batch 2)
LAYER_SHAPES = (("tiny B1 H1 N128 D64", 1, 1, 128, 64), ("SDXL-like B2 H20 N1024 D64", 2, 20, 1024, 64),
                ("SDXL-like B2 H10 N4096 D64", 2, 10, 4096, 64), ("B2 H24 N4096 D128", 2, 24, 4096, 128),
                ("B1 H24 N1024 D128", 1, 24, 1024, 128))


def attention_op(q: torch.Tensor, ops: dict[str, torch.Tensor | None], scale: float) -> object:
    """The sm90 attention op alone on operands from sm90.quantize (NHD q, per-thread scales, fp32 accumulation)."""
    return torch.ops.sageattention.qk_int8_pv_fp8_sm90(
        q, ops["q_int8"], ops["q_scale"], ops["k_int8"], ops["k_scale"], ops["v_fp8"], ops["v_scale"], None,
        1, q.shape[1], False, True, scale, False, False)


def print_runs(label: str, runs: dict[str, Callable[[], object]], width: int) -> None:
    """Host and GPU-timeline microseconds per call of each run, one line each under the shape's label."""
    print(f"# {label}", flush=True)
    for name, fn in runs.items():
        host, wall = host_and_gpu_us(fn)
        print(f"  {name:{width}s} host {host:7.1f} us/call  GPU timeline {wall:7.1f} us/call"
              f"  ({'host-bound' if host > 0.9 * wall else 'GPU-bound'})", flush=True)


def layers() -> None:
    from sageattention.kernels import sm90

    print(f"# sageattention from {sageattention.__file__}", flush=True)
    for label, b, h, n, d in LAYER_SHAPES:
        q, k, v = (torch.randn(b, n, h, d, device="cuda", dtype=torch.float16) for _ in range(3))
        scale = d ** -0.5
        qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))
        ops = sm90.quantize(q, k, v, "NHD", "per_thread", True, False)

        def quant_op() -> object:
            return torch.ops.sageattention.quant_qkv_sm90(q, k, v, 1, True, True, False, sm90.padded_head_dim(d))

        runs = {
            "quant op alone": quant_op,
            "attention op alone": lambda: attention_op(q, ops, scale),
            # the path before sageattn_sm90: eight operands through Python
            "two ops (quantize + attention op)": lambda: attention_op(
                q, sm90.quantize(q, k, v, "NHD", "per_thread", True, False), scale),
            "fused op alone (sageattn_sm90)": lambda: torch.ops.sageattention.sageattn_sm90(
                q, k, v, 1, False, True, True, False, scale, False, False),
            "sm90 wrapper (quantize + op)": lambda: sm90.qk_int8_pv_fp8_sm90(
                q, k, v, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_thread", sm_scale=scale,
                pv_accum_dtype="fp32", smooth_k=True, smooth_v=False, return_lse=False),
            "sageattn_qk_int8_pv_fp8_cuda_sm90": lambda: sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90(
                q, k, v, tensor_layout="NHD", pv_accum_dtype="fp32"),
            "sageattn": lambda: sageattention.sageattn(q, k, v, tensor_layout="NHD"),
            "SDPA (default backend)": lambda: F.scaled_dot_product_attention(qt, kt, vt),
        }
        print_runs(label, runs, 36)
    q, k, v = (torch.randn(1, 128, 1, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    print("# cProfile, 500 calls of sageattn at B1 H1 N128 D64")
    profile(lambda: sageattention.sageattn(q, k, v, tensor_layout="NHD"), 500)


def mma_layers() -> None:
    """Host time of the mma.sync paths at the layer shapes: what kernels/mma.py ran before the fused ops (quantize's
    two to five op calls + attend), the fused op alone, and the explicit entry point (which takes the fused op)."""
    from sageattention.kernels import mma

    print(f"# sageattention from {sageattention.__file__}; {torch.cuda.get_device_name()}", flush=True)
    families = [(False, "fp32", sageattention.sageattn_qk_int8_pv_fp16_cuda)]
    if torch.cuda.get_device_capability() >= (8, 9):
        families.append((True, "fp32+fp32", sageattention.sageattn_qk_int8_pv_fp8_cuda))
    for label, b, h, n, d in LAYER_SHAPES:
        q, k, v = (torch.randn(b, n, h, d, device="cuda", dtype=torch.float16) for _ in range(3))
        scale = d ** -0.5
        runs: dict[str, Callable[[], object]] = {}
        for fp8, accum, entry in families:
            pv = "FP8 PV" if fp8 else "FP16 PV"

            def separate(fp8: bool = fp8, accum: str = accum) -> object:
                p = mma.quantize(q, k, v, tensor_layout="NHD", qk_quant_gran="per_thread", fp8_pv=fp8, smooth_k=True,
                                 smooth_v=False, pv_accum_dtype=accum)
                return mma.attend(p, is_causal=False, sm_scale=scale, pv_accum_dtype=accum, return_lse=False)

            def fused(fp8: bool = fp8, accum: str = accum) -> object:
                if fp8:
                    return torch.ops.sageattention.sageattn_mma_f8(q, k, v, 1, False, True, True, False, scale,
                                                                   mma.FP8_PV_ACCUM[accum], mma.FP8_E4M3_MAX, False)
                return torch.ops.sageattention.sageattn_mma_f16(q, k, v, 1, False, True, True, scale,
                                                                mma.FP16_PV_ACCUM[accum], False)

            runs[f"{pv}: separate ops (quantize + attend)"] = separate
            runs[f"{pv}: fused op alone"] = fused
            runs[f"{pv}: {entry.__name__}"] = lambda entry=entry, accum=accum: entry(
                q, k, v, tensor_layout="NHD", pv_accum_dtype=accum)
        print_runs(label, runs, 48)


def stack_us(fn: Callable[[], object], graph: bool, reps: int = 30) -> float:
    """GPU-timeline microseconds per call of fn, run as a stack: eagerly, or replayed from one CUDA graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    run = fn
    if graph:
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        run = g.replay
    return back_to_back_ms(run, reps) * 1e3


def graphs(n_layers: int = 20) -> None:
    """Per-layer time of a stack of n_layers attention calls, eager vs one CUDA graph; sageattn vs SDPA."""
    print(f"# sageattention {sageattention.__version__} from {sageattention.__file__}; {torch.cuda.get_device_name()}; "
          f"torch {torch.__version__}; {n_layers} layers per stack; us per layer (GPU timeline)", flush=True)
    print(f"{'shape':30s} {'sage eager':>11s} {'sage graph':>11s} {'SDPA eager':>11s} {'SDPA graph':>11s}")
    for label, b, h, n, d in LAYER_SHAPES:
        q, k, v = (torch.randn(b, n, h, d, device="cuda", dtype=torch.float16) for _ in range(3))
        qt, kt, vt = (t.transpose(1, 2) for t in (q, k, v))

        def sage() -> None:
            for _ in range(n_layers):
                sageattention.sageattn(q, k, v, tensor_layout="NHD")

        def sdpa() -> None:
            for _ in range(n_layers):
                F.scaled_dot_product_attention(qt, kt, vt)

        row = [stack_us(fn, graph) / n_layers for fn in (sage, sdpa) for graph in (False, True)]
        print(f"{label:30s} {row[0]:11.1f} {row[1]:11.1f} {row[2]:11.1f} {row[3]:11.1f}", flush=True)
    ops_profile()


def ops_profile() -> None:
    """torch.profiler's host-time split of the two custom ops at a tiny shape (self time per child op)."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    from sageattention.kernels import sm90

    q, k, v = (torch.randn(1, 128, 1, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    ops = sm90.quantize(q, k, v, "NHD", "per_thread", True, False)

    def both() -> None:
        torch.ops.sageattention.quant_qkv_sm90(q, k, v, 1, True, True, False, 64)
        attention_op(q, ops, 0.125)

    for _ in range(50):
        both()
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(500):
            both()
    torch.cuda.synchronize()
    print("# torch.profiler, 500 calls of each op at B1 H1 N128 D64 (host time; the profiler adds its own)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    if "--layers" in sys.argv[1:]:
        layers()
    elif "--mma-layers" in sys.argv[1:]:
        mma_layers()
    elif "--graphs" in sys.argv[1:]:
        graphs()
    else:
        big_shapes()
