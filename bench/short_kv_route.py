"""Where SDPA overtakes the quantized kernel as the key sequence gets short (sageattention/_short_kv.py), on this GPU.

Each shape's calls are timed in one process, in rounds of alternating order (sageattention.bench.time_rounds):
`sageattn` forced onto its kernel (SAGEATTENTION_SHORT_KV_SDPA=0), `sageattn` forced onto SDPA (=1000000000: the
route's own code, Python included; calls the route never takes, such as GQA, stay on the kernel), `sageattn` as
shipped (auto), the function the route calls (`sdpa_fallback`, sageattention/_fallback.py, for any call), and PyTorch
SDPA called directly, with its default choice of backend and with cuDNN or flash forced. Each `sageattn` variant
starts from an empty call cache, so its first (warm-up) call decides under its own setting.

    python bench/short_kv_route.py [--out bench/results/short_kv_route_GPU] [--rounds R]
                                   [--quick | --self | --gqa | --grid | --edges | --decode]

Prints one line per shape (microseconds per call, the kernel's time over `sdpa_fallback`'s, and the path `sageattn`
takes as shipped); writes OUT.md and OUT.json (rows: shape, layout, dtype, backend, us, tops, auto_path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from sageattention import _call_cache, _short_kv  # noqa: E402
from sageattention._fallback import _bottom_right_mask, sdpa_attention  # noqa: E402
from sageattention.bench import (  # noqa: E402
    add_timing_arguments, check_timing_arguments, env_line, environment, rounds_phrase, sageattn_path, time_ms,
    time_rounds)

KV_LENS = (77, 128, 256, 512, 1024)
# (head dim, batch, heads, query length): SD 1.5 (D40) / SDXL (D64) cross-attention levels, Wan2.1's (D128), and
# one each of the other native head dims.
SHAPES = ((40, 2, 8, 4096), (64, 2, 10, 1024), (64, 2, 10, 4096), (64, 1, 24, 16384), (128, 2, 10, 4096),
          (128, 1, 40, 32760), (256, 1, 16, 4096))
QUICK = ((64, 2, 10, 4096), (128, 1, 40, 32760))
# --self: self-attention (as many keys as queries), causal and not, at these (head dim, batch, heads) and lengths.
SELF_SHAPES = ((64, 2, 20), (128, 2, 24))
SELF_LENS = (256, 512, 1024, 1536, 2048)
# --gqa: causal self-attention of LLM prefills (head dim, batch, Q heads, K/V heads): Llama-3.1-8B, Qwen2.5-7B.
GQA_SHAPES = ((128, 1, 32, 8), (128, 1, 28, 4))
# --grid: calls past 1 024 keys whose whole work (B H Nq Nkv D, halved for causal) is small, where the quantized
# path's fixed costs may still lose: (head dim, batch, Q heads, K/V heads, queries, keys, causal). LLM prefills
# (GQA, causal) up to 8K, small self-attention batches up to 8K, few queries against long keys, and larger batches
# at 1.5K-2K, so that the work on either side of a turnover is covered.
GRID_CASES = (
    *((128, 1, 32, 8, n, n, True) for n in (2048, 3072, 4096, 6144, 8192)),
    *((128, 1, 28, 4, n, n, True) for n in (3072, 4096)),
    *((64, 1, 24, 24, n, n, c) for n in (2048, 4096, 8192) for c in (False, True)),
    *((128, 1, 24, 24, n, n, c) for n in (2048, 4096, 8192) for c in (False, True)),
    *((128, 2, 24, 24, n, n, False) for n in (3072, 4096)),
    *((128, 1, 32, 32, nq, nkv, False) for nq in (128, 512, 2048) for nkv in (4096, 16384)),
    *((64, 2, 10, 10, 4096, nkv, False) for nkv in (3072, 4096)),
    *((d, 4, 32, 32, n, n, c) for d in (64, 128) for n in (1536, 2048) for c in (False, True)),
    *((256, 1, 16, 16, 4096, nkv, False) for nkv in (3072, 4096)),
)
# --edges: each of sageattention/_short_kv.py's sm90 regions checked inside (at other batches and heads than the
# shapes it was drawn from) and just outside, and the head dims a region leaves out; same tuple as GRID_CASES. The
# first measurement of the regions' first draft (bench/results/short_kv_edges_draft_h100_s37.md) ran other edges.
EDGE_CASES = (
    (256, 2, 16, 16, 2048, 2048, True), (128, 8, 32, 32, 2048, 2048, True), (64, 4, 32, 32, 3072, 3072, True),
    (64, 4, 32, 32, 4096, 4096, True),
    (128, 2, 40, 40, 2048, 2048, False), (64, 2, 40, 40, 2048, 2048, False), (128, 3, 32, 32, 2048, 2048, False),
    (64, 2, 10, 10, 8192, 1536, False), (128, 1, 24, 24, 3072, 1536, False), (64, 1, 24, 24, 16384, 1536, False),
    (128, 1, 32, 32, 1024, 8192, False), (128, 8, 32, 32, 1024, 4096, False), (128, 1, 32, 8, 256, 16384, False),
    (128, 1, 32, 32, 1024, 3072, False), (128, 1, 32, 32, 1536, 8192, False), (128, 1, 32, 8, 1, 32768, False),
    (64, 4, 32, 32, 512, 8192, False), (64, 1, 32, 8, 128, 16384, False), (256, 2, 16, 16, 512, 4096, False),
    (64, 1, 32, 32, 1024, 8192, False), (256, 1, 16, 16, 1024, 8192, False),
)
# --decode: --queries queries per sequence (default one, a decode step) against a cache of keys, with is_causal=True
# (bottom-right: one query sees every key, more need a mask tensor in SDPA) and without; same tuple as GRID_CASES.
DECODE_SHAPES = ((128, 1, 32, 8, 32768), (128, 8, 32, 8, 8192), (64, 4, 32, 32, 4096))


def decode_cases(queries: str) -> list[tuple[int, int, int, int, int, int, bool]]:
    return [(d, b, h, hkv, int(nq), nkv, c) for d, b, h, hkv, nkv in DECODE_SHAPES for nq in queries.split(",")
            for c in (True, False)]


SAGE = {"kernel": "0", "route": "1000000000", "auto": "auto"}


@contextlib.contextmanager
def knob(value: str) -> Iterator[None]:
    old = os.environ.get(_short_kv.KNOB)
    os.environ[_short_kv.KNOB] = value
    _call_cache.clear()
    try:
        yield
    finally:
        _call_cache.clear()
        if old is None:
            os.environ.pop(_short_kv.KNOB, None)
        else:
            os.environ[_short_kv.KNOB] = old


def kept_pairs(nq: int, nkv: int, causal: bool) -> float:
    """Query-key pairs a call computes: all of them, half for causal with equal lengths (the package's convention),
    and under the bottom-right mask otherwise (query i of nq sees nkv - nq + i + 1 keys, at least none)."""
    if not causal:
        return nq * nkv
    if nq == nkv:
        return nq * nkv / 2
    return nq * nkv - nq * (nq - 1) // 2 if nq < nkv else nkv * (nkv + 1) // 2


def tops(b: int, h: int, nq: int, nkv: int, d: int, causal: bool, us: float) -> float:
    """4 B H D per kept query-key pair, per second, in TOPS."""
    return round(4 * b * h * kept_pairs(nq, nkv, causal) * d / (us * 1e-6) / 1e12, 2)


def hnd(x: torch.Tensor, layout: str) -> torch.Tensor:
    return x if layout == "HND" else x.transpose(1, 2)


def calls(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: str,
          causal: bool) -> dict[str, Callable[[], object]]:
    qh, kh, vh = hnd(q, layout), hnd(k, layout), hnd(v, layout)
    gqa = qh.shape[1] != kh.shape[1]
    nq, nkv = qh.shape[2], kh.shape[2]
    # SDPA's causal is top-left, ours bottom-right: the same with equal lengths; one query sees every key; other
    # lengths need the mask as a tensor.
    sdpa_causal = causal and nq == nkv
    mask = _bottom_right_mask(nq, nkv, q.device) if causal and 1 < nq != nkv else None

    def sdpa(backend: SDPBackend | None) -> Callable[[], object]:
        def direct() -> object:
            return F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, is_causal=sdpa_causal, enable_gqa=gqa)

        def forced() -> object:
            with sdpa_kernel([backend]):
                return direct()
        return direct if backend is None else forced

    out: dict[str, Callable[[], object]] = {
        f"sageattn_{name}": (lambda: sageattention.sageattn(q, k, v, tensor_layout=layout, is_causal=causal))
        for name in SAGE}
    scale = 1.0 / math.sqrt(q.shape[-1])
    out["sdpa_fallback"] = lambda: sdpa_attention(q, k, v, tensor_layout=layout, is_causal=causal, sm_scale=scale,
                                                  return_lse=False)
    out.update(sdpa_default=sdpa(None), sdpa_cudnn=sdpa(SDPBackend.CUDNN_ATTENTION),
               sdpa_flash=sdpa(SDPBackend.FLASH_ATTENTION))
    return out


def timer(warmup_ms: float, rep_ms: float) -> Callable[[str, Callable[[], object]], float | None]:
    def run(name: str, fn: Callable[[], object]) -> float | None:
        setting = SAGE.get(name.removeprefix("sageattn_")) if name.startswith("sageattn_") else None
        try:
            with knob(setting) if setting is not None else contextlib.nullcontext():
                return time_ms(fn, warmup_ms, rep_ms)
        except RuntimeError as exc:  # a forced SDPA backend that refuses the shape
            print(f"  {name}: {str(exc).splitlines()[0][:100]}", flush=True)
            return None
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="OUT.md / OUT.json (default: print only)")
    ap.add_argument("--quick", action="store_true", help="two shapes only")
    ap.add_argument("--kv", default=",".join(map(str, KV_LENS)), help="key counts of the cross-attention shapes")
    ap.add_argument("--self", action="store_true", help="self-attention shapes, causal and not, instead")
    ap.add_argument("--gqa", action="store_true", help="causal GQA self-attention (LLM prefill shapes) instead")
    ap.add_argument("--grid", action="store_true", help="calls past 1 024 keys of small total work instead")
    ap.add_argument("--edges", action="store_true", help="the routing regions' edges (sageattention/_short_kv.py)")
    ap.add_argument("--decode", action="store_true", help="decode steps (one query), causal and not, instead")
    ap.add_argument("--queries", default="1", help="--decode: query counts per sequence")
    ap.add_argument("--layouts", default="HND,NHD")
    ap.add_argument("--dtypes", default="float16")
    add_timing_arguments(ap)
    args = ap.parse_args()
    check_timing_arguments(ap, args)
    env = environment()
    print(env_line(env), flush=True)
    rows: list[dict[str, object]] = []
    names = [*(f"sageattn_{s}" for s in SAGE), "sdpa_fallback", "sdpa_default", "sdpa_cudnn", "sdpa_flash"]
    columns = ["D", "B", "H", "Hkv", "Nq", "Nkv", "causal", "layout", "dtype", *(f"{n} us" for n in names),
               "kernel / fallback", "auto path"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    if args.self:
        cases = [(d, b, h, h, n, n, c) for d, b, h in SELF_SHAPES for n in SELF_LENS for c in (False, True)]
    elif args.gqa:
        cases = [(d, b, h, hkv, n, n, True) for d, b, h, hkv in GQA_SHAPES for n in SELF_LENS]
    elif args.decode:
        cases = decode_cases(args.queries)
    elif args.grid or args.edges:
        cases = list(GRID_CASES if args.grid else EDGE_CASES)
    else:
        cases = [(d, b, h, h, nq, int(nkv), False) for d, b, h, nq in (QUICK if args.quick else SHAPES)
                 for nkv in args.kv.split(",")]
    for d, b, h, hkv, nq, nkv, causal in cases:
        for layout in args.layouts.split(","):
            for dtype_name in args.dtypes.split(","):
                dtype = getattr(torch, dtype_name)
                torch.manual_seed(0)

                def draw(heads: int, n: int) -> torch.Tensor:
                    shape = (b, heads, n, d) if layout == "HND" else (b, n, heads, d)
                    return torch.randn(shape, device="cuda", dtype=dtype)

                q, k, v = draw(h, nq), draw(hkv, nkv), draw(hkv, nkv)
                fns = calls(q, k, v, layout, causal)
                times = time_rounds(fns, args.rounds, timer(args.warmup_ms, args.rep_ms))
                us = {name: (1e3 * sum(t) / len(t) if t else float("nan")) for name, t in times.items()}
                ratio = us["sageattn_kernel"] / us["sdpa_fallback"]
                with knob("auto"):
                    path = sageattn_path(fns["sageattn_auto"])
                cells = " | ".join(f"{us.get(n, float('nan')):.1f}" for n in fns)
                lines.append(f"| {d} | {b} | {h} | {hkv} | {nq} | {nkv} | {int(causal)} | {layout} | {dtype_name} "
                             f"| {cells} | {ratio:.2f} | {path} |")
                print(lines[-1], flush=True)
                for name, value in us.items():
                    rows.append(dict(backend=name, device=env["device_name"], dtype=dtype_name, batch=b, heads=h,
                                     kv_heads=hkv, seqlen=nq, kv_len=nkv, headdim=d, layout=layout, causal=causal,
                                     kernel_only=False, us=value, tops=tops(b, h, nq, nkv, d, causal, value),
                                     auto_path=path))
                del q, k, v, fns
    if args.out:
        head = (f"# Short key sequences: `sageattn`'s kernel against SDPA\n\n{env_line(env)[2:]}, sageattention "
                f"{env['sageattention']}\n\nMicroseconds per call{rounds_phrase(args.rounds)}, window timer (warm-up "
                f"{args.warmup_ms:g} ms, {args.rep_ms:g} ms timed). `bench/short_kv_route.py`; the `auto` column is "
                f"the rule of this checkout's sageattention/_short_kv.py.\n\n")
        with open(args.out + ".md", "w") as f:
            f.write(head + "\n".join(lines) + "\n")
        with open(args.out + ".json", "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
