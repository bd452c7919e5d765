"""Attention speed and accuracy at real models' shapes: ``python -m sageattention.bench_models``.

Each shape of ``sageattention.model_shapes`` (diffusion and video transformers, LLM prefill with GQA) runs every
backend of ``sageattention.bench`` in one process on the current GPU, inputs drawn from randn. Rows carry the
milliseconds per call and TOPS (4·B·H·Nq·Nkv·D / time, only the kept scores counted for causal); the accuracy
columns compare ``sageattn``'s output with float64 attention on a slice of each shape (two heads, up to 512 query
rows spread over the sequence, all keys). Writes ``<name>.md``, ``<name>.json`` and ``<name>.png`` (speed-up of
``sageattn`` over the fastest SDPA backend per shape) into --out.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import torch

from sageattention import bench
from sageattention.model_shapes import ModelShape, select

DEFAULT_BACKENDS = ("sageattn", "sdpa_cudnn", "sdpa_flash", "sdpa_efficient")
SDPA_PREFIX = "sdpa_"


def inputs(s: ModelShape, dtype: torch.dtype, layout: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    def draw(heads: int, n: int) -> torch.Tensor:
        shape = (s.batch, heads, n, s.headdim) if layout == "HND" else (s.batch, n, heads, s.headdim)
        return torch.randn(shape, device="cuda", dtype=dtype)

    torch.manual_seed(0)
    return draw(s.heads, s.q_len), draw(s.kv_heads, s.kv_len), draw(s.kv_heads, s.kv_len)


def accuracy(s: ModelShape, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, out: torch.Tensor,
             layout: str) -> dict[str, float]:
    """Relative L1 and cosine of ``out`` against float64 attention, over two heads (the first and the last, so GQA
    groups differ) of batch 0 and up to 512 query rows spread evenly over the sequence."""
    heads = sorted({0, s.heads - 1})
    rows = torch.linspace(0, s.q_len - 1, min(512, s.q_len), device=q.device).round().long().unique()
    group = s.heads // s.kv_heads
    diff = ref_abs = dot = n_out = n_ref = 0.0
    for h in heads:
        def pick(x: torch.Tensor, head: int) -> torch.Tensor:
            return (x[0, head] if layout == "HND" else x[0, :, head]).double()

        qh, kh, vh, oh = pick(q, h)[rows], pick(k, h // group), pick(v, h // group), pick(out, h)[rows]
        scores = (qh @ kh.T) / math.sqrt(s.headdim)
        if s.causal:  # bottom-right aligned, as sageattn
            keys = torch.arange(s.kv_len, device=q.device)
            scores = scores.masked_fill(keys[None, :] > rows[:, None] + (s.kv_len - s.q_len), float("-inf"))
        ref = torch.softmax(scores, dim=-1) @ vh
        diff += (oh - ref).abs().sum().item()
        ref_abs += ref.abs().sum().item()
        dot += (oh * ref).sum().item()
        n_out += (oh * oh).sum().item()
        n_ref += (ref * ref).sum().item()
    return {"rel_l1": diff / ref_abs, "cos": dot / math.sqrt(n_out * n_ref)}


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    env = bench.environment()
    names = bench.backend_names(args.backends, list(DEFAULT_BACKENDS))
    shapes = select(args.only)
    print(bench.env_line(env), flush=True)
    rows: list[dict[str, object]] = []
    for s in shapes:
        dtype = args.dtype or s.dtype
        q, k, v = inputs(s, bench.DTYPES[dtype], args.layout)
        print(f"{s.label}: B={s.batch} H={s.heads}/{s.kv_heads} Nq={s.q_len} Nkv={s.kv_len} D={s.headdim}"
              f"{' causal' if s.causal else ''} {dtype}", flush=True)
        base = {"model": s.model, "layer": s.layer, "device": env["device_name"], "dtype": dtype,
                "batch": s.batch, "heads": s.heads, "kv_heads": s.kv_heads, "seqlen": s.q_len, "kv_len": s.kv_len,
                "headdim": s.headdim, "causal": s.causal, "layout": args.layout,
                **{k_: v_ for k_, v_ in env.items() if k_ != "device_name"}}
        failed: dict[str, str] = {}  # per shape: SDPA backends refuse some shapes and take others

        def guarded(name: str, work: Callable[[], Any]) -> Any:
            value, why = bench.attempt(work)
            if why is not None:
                failed[name] = why
            return value

        calls: dict[str, Callable[[], object]] = {}
        for name in names:
            fn = guarded(name, lambda: bench.BACKENDS[name].make(q, k, v, s.causal, args.layout))
            if fn is not None:
                calls[name] = fn

        def timer(name: str, fn: Callable[[], object]) -> float | None:
            return guarded(name, lambda: bench.time_ms(fn, args.warmup_ms, args.rep_ms))

        times = bench.time_rounds(calls, args.rounds, timer)
        for name in names:
            row = {"backend": name, "kernel_only": bench.BACKENDS[name].kernel_only, **base}
            if name not in times:
                rows.append({**row, "skipped": failed[name]})
                print(f"  {name:16s} skipped: {failed[name]}", flush=True)
                continue
            ms = sum(times[name]) / len(times[name])
            row.update(ms=round(ms, 4), tops=round(s.flops() / (ms * 1e-3) / 1e12, 1),
                       ms_rounds=[round(t, 4) for t in times[name]])
            if name == "sageattn":
                row["path"] = bench.sageattn_path(calls[name])
                if args.accuracy:
                    row.update({k_: round(v_, 6)
                                for k_, v_ in accuracy(s, q, k, v, calls[name](), args.layout).items()})
            rows.append(row)
            acc = f"  rel-L1 {row['rel_l1']:.4f} cos {row['cos']:.6f}" if "rel_l1" in row else ""
            path = f"  ({row['path']})" if "path" in row else ""
            print(f"  {name:16s} {ms:9.3f} ms {row['tops']:7.1f} TOPS{acc}{path}", flush=True)
        del calls, q, k, v
        torch.cuda.empty_cache()
        bench.write_outputs(rows, args.out, args.name, markdown)  # partial results survive an interrupted run
    return rows


def _shape_text(r: dict[str, object]) -> str:
    heads = f"{r['heads']}" if r["heads"] == r["kv_heads"] else f"{r['heads']}/{r['kv_heads']}"
    lens = f"{r['seqlen']}" if r["seqlen"] == r["kv_len"] else f"{r['seqlen']}x{r['kv_len']}"
    return f"B{r['batch']} H{heads} N{lens} D{r['headdim']}{' causal' if r['causal'] else ''} {r['dtype']}"


def speedups(rows: list[dict[str, object]]) -> list[tuple[str, float, str]]:
    """(label, sageattn's speed-up over the fastest SDPA backend that ran, that backend) per shape."""
    out = []
    for key in dict.fromkeys((r["model"], r["layer"]) for r in rows):
        timed = [r for r in rows if (r["model"], r["layer"]) == key and "ms" in r]
        sage = [r for r in timed if r["backend"] == "sageattn"]
        sdpa = [r for r in timed if str(r["backend"]).startswith(SDPA_PREFIX)]
        if sage and sdpa:
            best = min(sdpa, key=lambda r: float(r["ms"]))
            out.append((f"{key[0]}, {key[1]}", float(best["ms"]) / float(sage[0]["ms"]), str(best["backend"])))
    return out


def markdown(rows: list[dict[str, object]]) -> str:
    timed = [r for r in rows if "ms" in r]
    if not timed:
        return "no results\n"
    env = timed[0]
    names = list(dict.fromkeys(r["backend"] for r in rows))
    out = [f"# Attention at real models' shapes: {env['device']} ({env['capability']})", "",
           f"{bench.versions_sentence(env)}. Each model's dtype, layout {env['layout']}, randn inputs. Milliseconds "
           f"per call (median of CUDA-event timings{bench.rounds_phrase(len(env.get('ms_rounds', [1])))}), end to "
           "end (quantization included). Speed-up: the fastest SDPA backend's time over `sageattn`'s "
           "(\"`sageattn` ran SDPA\": a call with too little work for the 8-bit kernel to pay, which `sageattn` "
           "gives to SDPA, sageattention/_short_kv.py). Accuracy: `sageattn` against float64 attention on two heads "
           "and up to 512 query rows.", "",
           "| model | layer | shape | " + " | ".join(names) + " | speed-up | rel-L1 | cos |",
           "|---|---|---|" + "---:|" * (len(names) + 3)]
    ups = {label: (x, best) for label, x, best in speedups(rows)}
    for key in dict.fromkeys((r["model"], r["layer"]) for r in rows):
        sel = [r for r in rows if (r["model"], r["layer"]) == key]
        by = {r["backend"]: r for r in sel}
        cells = [str(by[n]["ms"]) if n in by and "ms" in by[n] else "—" for n in names]
        up = ups.get(f"{key[0]}, {key[1]}")
        sage = by.get("sageattn", {})
        acc = [f"{sage['rel_l1']:.4f}", f"{sage['cos']:.5f}"] if "rel_l1" in sage else ["", ""]
        on_sdpa = "; `sageattn` ran SDPA" if sage.get("path") == "sdpa" else ""
        out.append(f"| {key[0]} | {key[1]} | {_shape_text(sel[0])} | " + " | ".join(cells)
                   + f" | {f'{up[0]:.2f}x ({up[1]}{on_sdpa})' if up else ''} | " + " | ".join(acc) + " |")
    skips = [r for r in rows if "skipped" in r]
    if skips:
        out += ["", "Not run (— above):"]
        out += [f"- {r['backend']} at {r['model']}, {r['layer']}: {r['skipped']}" for r in skips]
    return "\n".join(out) + "\n"


def plot(rows: list[dict[str, object]], path: pathlib.Path) -> bool:
    plt = bench.pyplot()
    if plt is None:
        return False
    ups = speedups(rows)
    if not ups:
        return False
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(ups) + 1.5))
    labels = [u[0] for u in ups][::-1]
    values = [u[1] for u in ups][::-1]
    ax.barh(labels, values, color=["tab:green" if x >= 1 else "tab:red" for x in values])
    ax.axvline(1.0, color="black", linewidth=0.8)
    for y, x in enumerate(values):
        ax.text(x, y, f" {x:.2f}x", va="center", fontsize=8)
    ax.set_xlabel("sageattn speed-up over the fastest SDPA backend (end to end)")
    ax.tick_params(axis="y", labelsize=8)
    env = next(r for r in rows if "ms" in r)
    ax.set_title(f"{env['device']}, torch {env['torch']}, {env['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sageattention.bench_models", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="run the shapes whose 'model, layer' label contains this text")
    ap.add_argument("--backends", type=lambda s: [x for x in s.split(",") if x], default=None,
                    help=f"comma list; default {','.join(DEFAULT_BACKENDS)}; known: {','.join(bench.BACKENDS)}")
    ap.add_argument("--dtype", choices=list(bench.DTYPES), default=None, help="default: each model's own")
    ap.add_argument("--layout", choices=["HND", "NHD"], default="HND")
    ap.add_argument("--no-accuracy", dest="accuracy", action="store_false",
                    help="skip the float64 comparison of sageattn's output")
    bench.add_timing_arguments(ap)
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    ap.add_argument("--name", default="models", help="file stem of the outputs")
    ap.add_argument("--list", action="store_true", help="print the shapes and how their token counts are derived")
    args = ap.parse_args(argv)
    bench.check_timing_arguments(ap, args)
    try:
        shapes = select(args.only)
    except ValueError as exc:
        ap.error(str(exc))
    if args.list:
        for s in shapes:
            print(f"{s.label}: B={s.batch} H={s.heads}/{s.kv_heads} Nq={s.q_len} Nkv={s.kv_len} D={s.headdim}"
                  f"{' causal' if s.causal else ''} {s.dtype}\n    {s.derivation}")
        return 0
    if not torch.cuda.is_available():
        print("sageattention.bench_models needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    rows = run(args)
    md = bench.write_outputs(rows, args.out, args.name, markdown)
    plot(rows, args.out / f"{args.name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
