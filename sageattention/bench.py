"""Attention speed, side by side in one process: ``python -m sageattention.bench``.

Backends are entries of ``BACKENDS`` (name -> Backend): each ``make(q, k, v, causal, layout)``
returns a zero-argument callable that does the timed work (or raises ``Unavailable`` with the
reason). End-to-end backends time the whole call, quantization included; ``kernel_only`` ones
quantize once outside the timed region. Add a kernel with one ``register(...)`` line.

TOPS = 4 * B * H * N^2 * D / time (halved for causal). Times are medians of CUDA-event timings
(triton.testing.do_bench when triton is installed). Writes ``bench.md``, ``bench.json`` (a list of
rows) and ``bench.png`` (TOPS vs N per backend) into --out. Real models' shapes (GQA, cross-attention, odd
lengths and head dims): ``python -m sageattention.bench_models``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import math
import os
import pathlib
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch


class Unavailable(RuntimeError):
    """The backend cannot run here (not built, wrong GPU, SDPA backend refused the shape)."""


@dataclasses.dataclass
class Backend:
    name: str
    make: Callable[..., Callable[[], object]]
    kernel_only: bool = False
    description: str = ""


BACKENDS: dict[str, Backend] = {}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}  # what --dtype takes


def register(name: str, make: Callable[..., Callable[[], object]], kernel_only: bool = False, description: str = "") -> None:
    BACKENDS[name] = Backend(name, make, kernel_only, description)


# --- SDPA -------------------------------------------------------------------------------------


def _sdpa(kind: str) -> Callable[..., Callable[[], object]]:
    def make(q, k, v, causal, layout):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                   "efficient": SDPBackend.EFFICIENT_ATTENTION}[kind]
        qh, kh, vh = (x if layout == "HND" else x.transpose(1, 2) for x in (q, k, v))
        gqa = qh.shape[1] != kh.shape[1]  # grouped-query attention: each KV head serves several query heads

        def fn():
            with sdpa_kernel(backend):
                return torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, is_causal=causal, enable_gqa=gqa)

        try:
            fn()
        except RuntimeError as exc:  # the backend refused this shape/dtype/GPU
            raise Unavailable(str(exc).splitlines()[0]) from exc
        return fn

    return make


register("sdpa_flash", _sdpa("flash"), description="torch SDPA, FlashAttention-2 backend")
register("sdpa_cudnn", _sdpa("cudnn"), description="torch SDPA, cuDNN backend")
register("sdpa_efficient", _sdpa("efficient"), description="torch SDPA, memory-efficient backend")


# --- sageattention ------------------------------------------------------------------------------


def _sageattn(q, k, v, causal, layout):
    try:
        from sageattention import sageattn
    except ImportError as exc:
        raise Unavailable(f"sageattention.sageattn not importable: {exc}") from exc
    return lambda: sageattn(q, k, v, tensor_layout=layout, is_causal=causal)


register("sageattn", _sageattn, description="sageattn() auto-dispatch, end to end")

# Explicit mma.sync kernels: (family, fp8 PV, pv_accum_dtype).
MMA_VARIANTS = {
    "sage_fp16_cuda": ("mma_fp16", False, "fp32"),
    "sage_fp16_cuda_fp16f32": ("mma_fp16", False, "fp16+fp32"),
    "sage_fp16_cuda_fp16": ("mma_fp16", False, "fp16"),
    "sage_fp8_cuda": ("mma_fp8", True, "fp32+fp32"),
    "sage_fp8_cuda_fp32": ("mma_fp8", True, "fp32"),
    "sage_fp8_cuda_fp32f16": ("mma_fp8", True, "fp32+fp16"),
}


def _mma(family: str, fp8: bool, accum: str, kernel_only: bool) -> Callable[..., Callable[[], object]]:
    def make(q, k, v, causal, layout):
        from sageattention import _lib
        from sageattention.kernels import mma

        if not _lib.load(family):
            raise Unavailable(_lib.error(family) or f"{family} not built")
        if fp8 and torch.cuda.get_device_capability(q.device) < (8, 9):
            raise Unavailable("FP8 MMA needs sm_89+")
        if accum == "fp32+fp16" and not mma.fp8_f16_accum_available():
            raise Unavailable("this build lacks the f16-accumulating FP8 MMA (built with nvcc < 12.8)")
        problem = mma.smem_problem(q, q.shape[-1], fp8)
        if problem is not None:
            raise Unavailable(problem)
        sm_scale = 1.0 / math.sqrt(q.shape[-1])
        opts = {"tensor_layout": layout, "is_causal": causal, "qk_quant_gran": "per_thread", "sm_scale": sm_scale,
                "pv_accum_dtype": accum, "smooth_k": True, "smooth_v": False, "return_lse": False}
        if not kernel_only:
            fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
            return lambda: fn(q, k, v, **opts)
        p = mma.quantize(q, k, v, tensor_layout=layout, qk_quant_gran="per_thread", fp8_pv=fp8, smooth_k=True,
                         smooth_v=False, pv_accum_dtype=accum)
        return lambda: mma.attend(p, is_causal=causal, sm_scale=sm_scale, pv_accum_dtype=accum, return_lse=False)

    return make


for _name, (_fam, _fp8, _acc) in MMA_VARIANTS.items():
    register(_name, _mma(_fam, _fp8, _acc, False), description=f"{_name} pv_accum={_acc}, end to end")
    register(_name + "_kernel", _mma(_fam, _fp8, _acc, True), kernel_only=True,
             description=f"{_name} pv_accum={_acc}, pre-quantized inputs")


def _sm90_kernel_for(q: torch.Tensor, accum: str, pv16: bool = False, pv_int8: bool = False) -> None:
    """Raises Unavailable unless this GPU and build run the sm90 kernel (pv16: its 16-bit PV form; pv_int8: its INT8
    PV form) at q's head dim."""
    from sageattention import _lib
    from sageattention.kernels import sm90

    if torch.cuda.get_device_capability(q.device) != (9, 0):
        raise Unavailable("the wgmma kernel needs sm_90")
    if not _lib.load("sm90"):
        raise Unavailable(_lib.error("sm90") or "sm90 not built")
    if pv16 and not sm90._has_pv16_op():
        raise Unavailable("this sm90 build has no 16-bit PV kernel")
    if pv_int8 and not sm90._has_pv_int8_op():
        raise Unavailable("this sm90 build has no INT8-PV kernel")
    try:
        sm90.kv_block(q.shape[-1], accum, pv16=pv16)
    except NotImplementedError as exc:
        raise Unavailable(str(exc)) from exc


# Hopper wgmma kernel (csrc/sm90), end to end and pre-quantized: pv_accum "fp32+fp32" (two-level) and "fp32"
# (single level: sageattn's default on sm_90, and the only one at head dim 256).
def _sm90(kernel_only: bool, accum: str) -> Callable[..., Callable[[], object]]:
    def make(q, k, v, causal, layout):
        from sageattention.kernels import sm90

        _sm90_kernel_for(q, accum)
        sm_scale = 1.0 / math.sqrt(q.shape[-1])
        if not kernel_only:
            return lambda: sm90.qk_int8_pv_fp8_sm90(
                q, k, v, tensor_layout=layout, is_causal=causal, qk_quant_gran="per_thread", sm_scale=sm_scale,
                pv_accum_dtype=accum, smooth_k=True, smooth_v=False, return_lse=False)
        ops = sm90.quantize(q, k, v, layout, "per_thread", True, False)
        kv_len = k.shape[2] if layout == "HND" else k.shape[1]
        code = 0 if layout == "HND" else 1
        return lambda: torch.ops.sageattention.qk_int8_pv_fp8_sm90(
            q, ops["q_int8"], ops["q_scale"], ops["k_int8"], ops["k_scale"], ops["v_fp8"], ops["v_scale"], None,
            code, kv_len, causal, True, sm_scale, False, accum == "fp32+fp32")

    return make


for _name, _acc in (("sage_fp8_sm90", "fp32+fp32"), ("sage_fp8_sm90_fp32", "fp32")):
    register(_name, _sm90(False, _acc), description=f"sm90 wgmma kernel pv_accum={_acc}, end to end")
    register(_name + "_kernel", _sm90(True, _acc), kernel_only=True,
             description=f"sm90 wgmma kernel pv_accum={_acc}, pre-quantized inputs")


# The sm90 kernel's other PV types, end to end, each one op: 16-bit PV (sageattn_qk_int8_pv_fp16_cuda_sm90, Q/K
# quantized, V read in place) and INT8 PV (sageattn_qk_int8_pv_int8_cuda_sm90, Q/K INT8 and V s8).
def _sm90_pv(wrapper: str, accum: str) -> Callable[..., Callable[[], object]]:
    def make(q, k, v, causal, layout):
        from sageattention.kernels import sm90

        _sm90_kernel_for(q, "fp32", pv16=wrapper == "qk_int8_pv16_sm90", pv_int8=wrapper == "qk_int8_pv_int8_sm90")
        fn, sm_scale = getattr(sm90, wrapper), 1.0 / math.sqrt(q.shape[-1])
        return lambda: fn(q, k, v, tensor_layout=layout, is_causal=causal, qk_quant_gran="per_thread",
                          sm_scale=sm_scale, pv_accum_dtype=accum, smooth_k=True, smooth_v=False, return_lse=False)

    return make


register("sage_fp16_sm90", _sm90_pv("qk_int8_pv16_sm90", "fp32"),
         description="sm90 wgmma kernel, INT8 QK + 16-bit PV, end to end")
register("sage_int8_sm90", _sm90_pv("qk_int8_pv_int8_sm90", "int32"),
         description="sm90 wgmma kernel, INT8 QK + INT8 PV, end to end")


# --- timing and reporting -----------------------------------------------------------------------


def time_ms(fn: Callable[[], object], warmup_ms: float = 100, rep_ms: float = 300) -> float:
    """Median milliseconds per call."""
    try:
        from triton.testing import do_bench

        return float(do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="median"))
    except ImportError:
        pass
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    est = max(start.elapsed_time(end), 1e-3)
    for _ in range(max(1, int(warmup_ms / est))):
        fn()
    times = []
    for _ in range(max(5, int(rep_ms / est))):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def gpu_board() -> dict[str, str]:
    """Driver, board power limit and maximum SM clock of the current GPU, from nvidia-smi ("unknown" where it
    cannot say). D=128 attention runs at the power limit on an H100/H200 (bench/power_probe.py), so these two
    figures belong beside any TOPS figure."""
    fields = ("driver", "power_limit_w", "sm_clock_max_mhz")
    query = ["nvidia-smi", "--query-gpu=driver_version,power.limit,clocks.max.sm", "--format=csv,noheader,nounits"]
    uuid = str(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", ""))
    try:
        found = None
        if uuid:  # this process's GPU, whatever CUDA_VISIBLE_DEVICES maps it to
            found = subprocess.run(query + ["-i", uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"],
                                   capture_output=True, text=True, timeout=20, check=False)
        if found is None or found.returncode != 0:  # an older driver or torch: the first GPU's figures
            found = subprocess.run(query, capture_output=True, text=True, timeout=20, check=False)
        values = [v.strip() for v in found.stdout.strip().splitlines()[0].split(",")]
    except (OSError, IndexError, subprocess.SubprocessError):
        values = []
    if len(values) != len(fields):
        values = ["unknown"] * len(fields)
    return dict(zip(fields, values))


def environment() -> dict[str, str]:
    board = gpu_board()
    try:
        from sageattention._build_config import BUILD_CONFIG

        version = str(BUILD_CONFIG.get("version", "?"))
    except ImportError:
        version = "unbuilt"
    return {
        "device_name": torch.cuda.get_device_name(),
        "capability": "sm_{}{}".format(*torch.cuda.get_device_capability()),
        **board,
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "cudnn": str(torch.backends.cudnn.version()),
        "sageattention": version,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def backend_names(requested: list[str] | None, default: list[str]) -> list[str]:
    """The backends a run times: those asked for (each must be registered), else `default`."""
    names = requested or default
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backends {unknown}; known: {list(BACKENDS)}")
    return names


def env_line(env: dict[str, str]) -> str:
    """The header line a run prints before its rows: device, driver, power limit, versions, date."""
    return (f"# {env['device_name']} ({env['capability']}), driver {env['driver']}, power limit {env['power_limit_w']} "
            f"W, torch {env['torch']}, CUDA {env['cuda']}, {env['date']}")


def versions_sentence(env: dict[str, object]) -> str:
    """A report's versions: driver, board power limit and SM clock (beside any TOPS figure: bench/power_probe.py),
    torch, CUDA, cuDNN, sageattention and the date."""
    return (f"driver {env['driver']}, board power limit {env.get('power_limit_w', 'unknown')} W, SM clock max "
            f"{env.get('sm_clock_max_mhz', 'unknown')} MHz, torch {env['torch']}, CUDA {env['cuda']}, cuDNN "
            f"{env['cudnn']}, sageattention {env['sageattention']}, {env['date']}")


def write_outputs(rows: list[dict[str, object]], out: pathlib.Path, name: str,
                  render: Callable[[list[dict[str, object]]], str] | None = None) -> str:
    """Writes ``name.md`` (``render``, by default this sweep's tables) and ``name.json``; returns the markdown."""
    os.makedirs(out, exist_ok=True)
    md = (render or markdown)(rows)
    (out / f"{name}.md").write_text(md)
    (out / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    return md


OUT_OF_MEMORY = "out of memory"


def attempt(work: Callable[[], Any]) -> tuple[Any, str | None]:
    """(work(), None), or (None, why) where a backend cannot do it here: Unavailable's reason, or OUT_OF_MEMORY (the
    allocator's cache emptied for the next backend). Both the backend's set-up and its timing go through this."""
    try:
        return work(), None
    except Unavailable as exc:
        return None, str(exc)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None, OUT_OF_MEMORY


class _PathLines(logging.Handler):
    """Collects the path names of `sageattn`'s DEBUG lines ("sageattention: path=NAME ...")."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.paths: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"\bpath=(\S+)", record.getMessage())
        if found:
            self.paths.append(found.group(1))


def sageattn_path(call: Callable[[], object]) -> str:
    """Which path a `sageattn` call takes: its kernel entry point's name, or "sdpa" (a fallback, or the route for calls
    of too little work, sageattention/_short_kv.py). Runs the call once with the package's DEBUG lines on, which also
    bypasses the call cache, so the answer is the dispatch's own, not a remembered one."""
    log = logging.getLogger("sageattention")
    lines, level = _PathLines(), log.level
    log.addHandler(lines)
    log.setLevel(logging.DEBUG)
    try:
        call()
    finally:
        log.removeHandler(lines)
        log.setLevel(level)
    return lines.paths[-1] if lines.paths else "unknown"


def time_rounds(calls: dict[str, Callable[[], object]], rounds: int,
                timer: Callable[[str, Callable[[], object]], float | None]) -> dict[str, list[float]]:
    """Milliseconds of each call in `rounds` rounds, the given order and its reverse by turns; `timer(name, fn)`
    returns None for a call that cannot be timed, which then drops out of the later rounds. On a power-capped GPU a
    kernel's time depends on what ran before it (at D=64 N=16K on the H100 the same kernel read 8 % apart by its
    place in the order: bench/results/kernel_in_call_h100_s28.log), so one fixed order favours some backends; by
    turns each backend takes both ends."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            if name not in times:
                continue
            ms = timer(name, calls[name])
            if ms is None:
                del times[name]
            else:
                times[name].append(ms)
    return times


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    env = environment()
    dtype = DTYPES[args.dtype]
    names = backend_names(args.backends, list(BACKENDS))
    print(env_line(env), flush=True)
    rows: list[dict[str, object]] = []
    skipped: dict[str, str] = {}
    for d in args.headdims:
        for causal in args.causal:
            for n in args.seqlens:
                torch.manual_seed(0)
                shape = (args.batch, args.heads, n, d) if args.layout == "HND" else (args.batch, n, args.heads, d)
                q, k, v = (torch.randn(shape, device="cuda", dtype=dtype) for _ in range(3))
                flops = 4.0 * args.batch * args.heads * n * n * d * (0.5 if causal else 1.0)

                def guarded(name: str, work: Callable[[], Any]) -> Any:
                    # Unavailable skips the backend for the rest of the sweep; out of memory only this shape.
                    value, why = attempt(work)
                    if why == OUT_OF_MEMORY:
                        print(f"  {name} N={n} D={d}: out of memory", flush=True)
                    elif why is not None:
                        skipped[name] = why
                        print(f"  skip {name}: {why}", flush=True)
                    return value

                calls: dict[str, Callable[[], object]] = {}
                for name in names:
                    if name not in skipped:
                        fn = guarded(name, lambda: BACKENDS[name].make(q, k, v, causal, args.layout))
                        if fn is not None:
                            calls[name] = fn

                def timer(name: str, fn: Callable[[], object]) -> float | None:
                    return guarded(name, lambda: time_ms(fn, args.warmup_ms, args.rep_ms))

                for name, times in time_rounds(calls, args.rounds, timer).items():
                    ms = sum(times) / len(times)
                    tops = flops / (ms * 1e-3) / 1e12
                    row = {"backend": name, "device": env["device_name"], "dtype": args.dtype, "batch": args.batch,
                           "heads": args.heads, "seqlen": n, "headdim": d, "causal": causal, "layout": args.layout,
                           "kernel_only": BACKENDS[name].kernel_only, "ms": round(ms, 4), "tops": round(tops, 1),
                           "ms_rounds": [round(t, 4) for t in times],
                           **{k_: v_ for k_, v_ in env.items() if k_ != "device_name"}}
                    if name == "sageattn":
                        row["path"] = sageattn_path(calls[name])
                    rows.append(row)
                    spread = " / ".join(f"{t:.3f}" for t in times)
                    print(f"  D={d:3d} causal={int(causal)} N={n:6d} {name:28s} {ms:9.3f} ms {tops:7.1f} TOPS"
                          f"  (rounds {spread})", flush=True)
                del q, k, v, calls
                torch.cuda.empty_cache()
            write_outputs(rows, args.out, args.name)  # partial results survive an interrupted sweep
    for name, why in skipped.items():
        rows.append({"backend": name, "skipped": why, **env})
    return rows


def add_timing_arguments(ap: argparse.ArgumentParser, rounds: int = 2) -> None:
    """The window timer's options (time_ms) and the rounds (time_rounds), alike in every benchmark here; check the
    parsed values with check_timing_arguments."""
    ap.add_argument("--warmup-ms", type=float, default=100)
    ap.add_argument("--rep-ms", type=float, default=300)
    ap.add_argument("--rounds", type=int, default=rounds,
                    help="rounds per shape, the backends in forward and reverse order by turns; a row is their mean")


def check_timing_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")


def rounds_phrase(rounds: int) -> str:
    """How a row's time was taken over rounds, for a report's header ("" for one round)."""
    if rounds <= 1:
        return ""
    return f", the mean of {rounds} rounds with the backends timed in forward and reverse order by turns"


def markdown(rows: list[dict[str, object]]) -> str:
    timed = [r for r in rows if "tops" in r]
    if not timed:
        return "no results\n"
    env = timed[0]
    header = (
        f"{versions_sentence(env)}. {env['dtype']}, B={env['batch']} H={env['heads']}, "
        f"layout {env['layout']}. TOPS = 4·B·H·N²·D / time (halved for causal); time = median of CUDA-event "
        f"timings{rounds_phrase(len(env.get('ms_rounds', [1])))}. "
        "`_kernel` rows time pre-quantized inputs (no quantization passes)."
    )
    out = [f"# Attention speed: {env['device']} ({env['capability']})", "", header, ""]
    seqlens = sorted({int(r["seqlen"]) for r in timed})
    for d in sorted({int(r["headdim"]) for r in timed}):
        for causal in (False, True):
            sel = [r for r in timed if r["headdim"] == d and r["causal"] == causal]
            if not sel:
                continue
            out += [f"## D={d}, {'causal' if causal else 'non-causal'}", "",
                    "| backend | " + " | ".join(f"N={n // 1024}K" if n % 1024 == 0 else f"N={n}" for n in seqlens) + " |",
                    "|---|" + "---:|" * len(seqlens)]
            for name in dict.fromkeys(r["backend"] for r in sel):
                vals = {int(r["seqlen"]): f"{r['tops']}{'*' if r.get('path') == 'sdpa' else ''}"
                        for r in sel if r["backend"] == name}
                out.append(f"| {name} | " + " | ".join(vals.get(n, "") for n in seqlens) + " |")
            out.append("")
    if any(r.get("path") == "sdpa" for r in timed):
        out += ["\\* `sageattn` ran SDPA: a call with too little work for the 8-bit kernel to pay "
                "(sageattention/_short_kv.py).", ""]
    for r in rows:
        if "skipped" in r:
            out.append(f"- skipped {r['backend']}: {r['skipped']}")
    return "\n".join(out) + "\n"


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend, or None (saying so on stderr) where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return None
    return plt


def plot(rows: list[dict[str, object]], path: pathlib.Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    timed = [r for r in rows if "tops" in r]
    panels = sorted({(int(r["headdim"]), bool(r["causal"])) for r in timed})
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    for ax, (d, causal) in zip(axes[0], panels):
        sel = [r for r in timed if r["headdim"] == d and r["causal"] == causal]
        for name in dict.fromkeys(r["backend"] for r in sel):
            pts = sorted((int(r["seqlen"]), float(r["tops"])) for r in sel if r["backend"] == name)
            style = "--" if any(r["kernel_only"] for r in sel if r["backend"] == name) else "-"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sequence length N")
        ax.set_ylabel("TOPS")
        ax.set_title(f"D={d} {'causal' if causal else 'non-causal'}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    env = timed[0]
    fig.suptitle(f"{env['device']}, {env['dtype']} B={env['batch']} H={env['heads']}, torch {env['torch']}, {env['date']}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    ints = lambda s: [int(x) for x in s.split(",") if x]
    ap = argparse.ArgumentParser(prog="python -m sageattention.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--seqlens", type=ints, default=[1024, 2048, 4096, 8192, 16384, 32768])
    ap.add_argument("--headdims", type=ints, default=[64, 128])
    ap.add_argument("--causal", type=lambda s: [bool(int(x)) for x in s.split(",")], default=[False, True],
                    help="comma list of 0/1")
    ap.add_argument("--backends", type=lambda s: [x for x in s.split(",") if x], default=None,
                    help=f"comma list; default all: {','.join(BACKENDS)}")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--dtype", choices=list(DTYPES), default="fp16")
    ap.add_argument("--layout", choices=["HND", "NHD"], default="HND")
    add_timing_arguments(ap)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    ap.add_argument("--name", default="bench", help="file stem of the outputs")
    args = ap.parse_args(argv)
    check_timing_arguments(ap, args)
    if not torch.cuda.is_available():
        print("sageattention.bench needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    rows = run(args)
    md = write_outputs(rows, args.out, args.name)
    plot(rows, args.out / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
