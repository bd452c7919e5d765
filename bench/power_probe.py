"""SM clock, board power and the driver's clock-limit reasons while one workload runs back to back:
does a kernel run into the power limit, and how do its TOPS move as the clock settles?

    python bench/power_probe.py [--seconds S] [--shapes D:N[:c],...] [--only kernel,sageattn,cudnn,quant]
                                [--backends NAME,...]

Per shape: the sm90 kernel alone (pre-quantized operands), the whole `sageattn` call, cuDNN SDPA and the fused
quantization pass (--only: a subset of these; --backends, not with --only: backends of
`python -m sageattention.bench` instead), each S seconds (default 3) back to back after 1 s idle. nvidia-smi samples every 50 ms in the
background; each phase prints the TOPS of single calls right after the idle second (burst: calls 2-4, each
between two events), its TOPS over the first 0.3 s and over the rest, and the median SM clock, power draw and
limit-reason bits of the samples after its first 0.5 s (bit 0x4: software power cap; 0x20/0x40: thermal
slowdowns; 0x1: idle).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from sageattention.bench import BACKENDS  # noqa: E402
from bench.sm90_e2e_ab import parse_shapes  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

DEFAULT_WORKLOADS = ("kernel", "sageattn", "cudnn", "quant")
FIELDS = "timestamp,clocks.sm,power.draw,temperature.gpu"
REASON_FIELDS = ("clocks_event_reasons.active", "clocks_throttle_reasons.active")


def reason_field() -> str | None:
    for field in REASON_FIELDS:
        probe = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"], capture_output=True,
                               text=True, check=False)
        if probe.returncode == 0 and "Field" not in probe.stdout:
            return field
    return None


def burst_tops(fn: Callable[[], object], ops: float) -> float:
    """Median TOPS of calls 2-4 after an idle GPU (call 1 takes the clock up from idle)."""
    fn()
    times = []
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return ops / (sorted(times)[1] / 1e3) / 1e12


def run_phase(fn: Callable[[], object], seconds: float, ops: float) -> tuple[float, float, float, float]:
    """Back-to-back calls for `seconds`; TOPS over the first 0.3 s and over the rest, wall start and end."""
    torch.cuda.synchronize()
    t0 = time.time()
    marks = []  # (wall time, calls so far) at each synchronization
    calls = 0
    while time.time() - t0 < seconds:
        for _ in range(4):
            fn()
        calls += 4
        torch.cuda.synchronize()
        marks.append((time.time(), calls))
    t1 = time.time()
    early = next((m for m in marks if m[0] - t0 >= 0.3), marks[-1])
    tops_early = early[1] * ops / (early[0] - t0) / 1e12
    tops_late = (calls - early[1]) * ops / max(t1 - early[0], 1e-9) / 1e12
    return tops_early, tops_late, t0, t1


def default_workloads(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n: int, causal: bool,
                      work: float) -> tuple[tuple[str, Callable[[], object], float], ...]:
    """(name, call, ops) of DEFAULT_WORKLOADS for one shape; the quantization pass counts no ops."""
    ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)

    def sdpa_cudnn() -> object:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.CUDNN_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    return (("kernel", kernel_only(q, ops, n, causal, False), work),
            ("sageattn", lambda: sageattention.sageattn(q, k, v, is_causal=causal), work),
            ("cudnn", sdpa_cudnn, work),
            ("quant", lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False), 0.0))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SM clock, board power and limit reasons per workload.")
    parser.add_argument("--seconds", type=float, default=3.0, help="back-to-back seconds per workload")
    parser.add_argument("--shapes", type=parse_shapes, default=((128, 8192, False),), help="D:N[:c],...")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--only", type=lambda x: x.split(","), default=list(DEFAULT_WORKLOADS),
                       help=f"a subset of {','.join(DEFAULT_WORKLOADS)}")
    group.add_argument("--backends", type=lambda x: x.split(","), default=[],
                       help="backends of python -m sageattention.bench instead of the default workloads")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")
    if not set(args.only) <= set(DEFAULT_WORKLOADS):
        parser.error(f"--only: expected names from {DEFAULT_WORKLOADS}, got {args.only}")
    unknown = [name for name in args.backends if name not in BACKENDS]
    if unknown:
        parser.error(f"--backends: unknown {unknown}; known: {sorted(BACKENDS)}")
    return args


def main() -> None:
    args = parse_args(sys.argv[1:])
    seconds, shapes, only, names = args.seconds, args.shapes, args.only, args.backends
    field = reason_field()
    query = FIELDS + (f",{field}" if field else "")
    with tempfile.NamedTemporaryFile("w+", suffix=".csv") as log:
        smi = subprocess.Popen(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-lms", "50"],
                               stdout=log, stderr=subprocess.DEVNULL)
        phases = []
        try:
            b, h = 4, 32
            for d, n, causal in shapes:
                torch.manual_seed(0)
                q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
                work = flops(b, h, n, d, causal)
                if names:
                    workloads = tuple((name, BACKENDS[name].make(q, k, v, causal, "HND"), work) for name in names)
                else:
                    workloads = tuple(w for w in default_workloads(q, k, v, n, causal, work) if w[0] in only)
                for name, fn, w in workloads:
                    fn()
                    time.sleep(1.0)
                    burst = burst_tops(fn, w)
                    early, late, t0, t1 = run_phase(fn, seconds, w)
                    phases.append((f"D{d}{'c' if causal else ''}-{n // 1024}K {name}", burst, early, late, t0, t1))
                del q, k, v, workloads
        finally:
            time.sleep(0.2)
            smi.terminate()
            smi.wait()
        log.seek(0)
        samples = []
        for line in log:
            parts = [p.strip() for p in line.split(",")]
            try:
                stamp = time.mktime(time.strptime(parts[0].split(".")[0], "%Y/%m/%d %H:%M:%S"))
                stamp += float("0." + parts[0].split(".")[1]) if "." in parts[0] else 0.0
                samples.append((stamp, float(parts[1]), float(parts[2]), float(parts[3]),
                                parts[4] if len(parts) > 4 else "n/a"))
            except (ValueError, IndexError):
                continue
    print(f"{torch.cuda.get_device_name()}  limit-reason field: {field}  samples: {len(samples)}")
    for label, burst, early, late, t0, t1 in phases:
        window = [s for s in samples if t0 + 0.5 <= s[0] <= t1]
        if not window:
            print(f"{label:<18} TOPS burst {burst:6.1f}, {early:6.1f} -> {late:6.1f}  (no samples)")
            continue

        def median(i: int) -> float:
            return sorted(s[i] for s in window)[len(window) // 2]  # noqa: B023

        reasons = sorted({s[4] for s in window})
        tops = f"TOPS burst {burst:6.1f}, {early:6.1f} -> {late:6.1f}" if late > 0 else f"{'-':>35}"
        print(f"{label:<18} {tops}  clock {median(1):6.0f} MHz  power {median(2):5.0f} W  temp {median(3):3.0f} C  "
              f"reasons {','.join(reasons)}", flush=True)


if __name__ == "__main__":
    main()
