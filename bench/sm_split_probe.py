"""Probe: can the quantization pass run beside the attention kernel on a split of the SMs (bench/NOTES.md, next steps,
the twenty-ninth session's idea for 8K)? Built from the existing ops, nothing new in the extension:

1. the sm90 kernel alone on pre-quantized operands with a persistent grid of n CTAs (SAGEATTENTION_SM90_CTAS=n):
   what the kernel loses on fewer SMs of a power-capped card;
2. the fused quantization pass alone, and `sageattn` (pass + kernel) as the baseline;
3. the call cut into chunks of its (batch, head) pairs: chunk 0 quantized, then each chunk's attention kernel (n CTAs)
   on one stream beside the next chunk's quantization on a second stream, ordered by events.

Measured on the H100 (bench/results/sm_split_probe_h100_s29.log): the kernel loses its missing SMs' share, and no
chunking beats one call; the idea is dropped (bench/NOTES.md, next steps).

    python bench/sm_split_probe.py [--shape D:N] [--ctas 132,124,120] [--chunks 2,4] [--rounds R] [--warmup-ms MS]
                                    [--rep-ms MS]

B4 H32 fp16 HND, non-causal; TOPS of the whole attention (4·B·H·N²·D / time), window timer, rounds in alternating
order. A probe for a decision, not a kernel: the chunked path's outputs are checked against the one-call result.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.knob_ab import with_env  # noqa: E402
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from sageattention.bench import add_timing_arguments, check_timing_arguments, time_ms, time_rounds  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

CTAS = "SAGEATTENTION_SM90_CTAS"


def with_ctas(n: int | None, fn: Callable[[], object]) -> Callable[[], object]:
    """fn on a persistent grid of n CTAs (None: the default grid)."""
    return with_env({} if n is None else {CTAS: str(n)}, {CTAS}, fn)


def quantize(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> dict:
    return sm90.quantize(q, k, v, "HND", "per_thread", True, False)


def chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunks: int,
            side: torch.cuda.Stream) -> list[torch.Tensor]:
    """Chunk c's kernel on the current stream beside chunk c+1's quantization on `side`; the chunks' outputs (not
    concatenated: a copy would add its own traffic to the timing)."""
    main = torch.cuda.current_stream()
    # (batch, head) pairs as one batch of single heads, cut into `chunks` parts (HND: views of the same memory)
    qs, ks, vs = (x.reshape(-1, 1, *x.shape[2:]).chunk(chunks) for x in (q, k, v))
    outs = []
    ops = quantize(qs[0], ks[0], vs[0])
    for c in range(chunks):
        nxt, done = None, None
        if c + 1 < chunks:
            side.wait_stream(main)  # inputs and the previous chunk's memory are ready
            with torch.cuda.stream(side):
                nxt = quantize(qs[c + 1], ks[c + 1], vs[c + 1])
                done = torch.cuda.Event()
                done.record(side)
        outs.append(kernel_only(qs[c], ops, k.shape[2], False, False)()[0])
        if done is not None:
            main.wait_event(done)
            for t in nxt.values():
                if t is not None:
                    t.record_stream(main)
            ops = nxt
    return outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="128:8192")
    ap.add_argument("--ctas", default="132,124,120")
    ap.add_argument("--chunks", default="2,4")
    add_timing_arguments(ap)
    args = ap.parse_args(argv)
    check_timing_arguments(ap, args)
    d, n = (int(x) for x in args.shape.split(":"))
    ctas = [int(x) for x in args.ctas.split(",")]
    chunk_counts = [int(x) for x in args.chunks.split(",")]
    if not torch.cuda.is_available():
        print("sm_split_probe.py needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    print(f"# {torch.cuda.get_device_name()} ({sms} SMs), torch {torch.__version__}; B4 H32 D{d} N{n} fp16 HND, "
          f"non-causal; TOPS per round and mean", flush=True)
    b, h = 4, 32
    torch.manual_seed(0)
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    ops = quantize(q, k, v)
    side = torch.cuda.Stream()
    want = sageattention.sageattn(q, k, v, tensor_layout="HND")
    for c in chunk_counts:
        got = torch.cat(with_ctas(min(ctas), lambda: chunked(q, k, v, c, side))()).view_as(want)  # noqa: B023
        torch.cuda.synchronize()
        err = float((got.float() - want.float()).abs().max())
        print(f"chunks {c}: max |chunked - sageattn| = {err:.3g}", flush=True)
    calls: dict[str, Callable[[], object]] = {"sageattn": with_ctas(None, lambda: sageattention.sageattn(
        q, k, v, tensor_layout="HND")), "pass_alone": lambda: quantize(q, k, v)}
    for m in ctas:
        calls[f"kernel_{m}"] = with_ctas(m, kernel_only(q, ops, n, False, False))
    for c in chunk_counts:
        for m in ctas:
            calls[f"chunks{c}_{m}"] = with_ctas(m, lambda c=c: chunked(q, k, v, c, side))
    times = time_rounds(calls, args.rounds, lambda name, fn: time_ms(fn, args.warmup_ms, args.rep_ms))
    ops_count = flops(b, h, n, d, False)
    for name, ms in times.items():
        mean = sum(ms) / len(ms)
        tops = " ".join(f"{ops_count / (t * 1e-3) / 1e12:6.1f}" for t in ms)
        print(f"{name:14s} {mean * 1e3:9.1f} us  TOPS {tops}  mean {ops_count / (mean * 1e-3) / 1e12:6.1f}", flush=True)
    os.environ.pop(CTAS, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
