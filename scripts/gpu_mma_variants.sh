#!/usr/bin/env bash
# Device script: A/B of builds of the mma.sync modules. Each $VARIANTS/LABEL/ holds either a
# _C_mma_fp16.abi3.so.xz or a _C_mma_fp8.abi3.so.xz (built with the A/B macros of bench/mma_notes.md);
# the other modules must already be in sageattention/. Per build: that module's GPU tests (fp16pv or
# fp8pv), then bench/mma_variant_ab.py with that kernel in its own process; then a second benchmark
# round in reverse order (clock drift check). The original modules are restored at the end.
# Usage (repository root): OUT=dir VARIANTS=.variants_mma2 scripts/gpu_mma_variants.sh [LABEL...]
#   (default VARIANTS=.variants_mma; default labels: every build in it)
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_mma_variants_out}
VARIANTS=${VARIANTS:-.variants_mma}
mkdir -p "$OUT"
for fam in mma_fp16 mma_fp8; do
  so=sageattention/_C_$fam.abi3.so
  [ -f "$so" ] && cp "$so" "$OUT/.orig_$fam.so"
done
labels=("$@")
[ ${#labels[@]} -eq 0 ] && labels=($(ls -d "$VARIANTS"/*/ | xargs -n1 basename))
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv | tee "$OUT/gpu.txt"
family() {  # LABEL -> the module its build holds (mma_fp16 or mma_fp8)
  if [ -f "$VARIANTS/$1/_C_mma_fp16.abi3.so.xz" ]; then echo mma_fp16
  elif [ -f "$VARIANTS/$1/_C_mma_fp8.abi3.so.xz" ]; then echo mma_fp8
  fi
}
install() {  # LABEL: decompress that build's module over the package's
  local fam; fam=$(family "$1"); [ -n "$fam" ] || return 1
  local so=sageattention/_C_$fam.abi3.so
  xz -dc "$VARIANTS/$1/_C_$fam.abi3.so.xz" > "$so.tmp" && mv "$so.tmp" "$so"
}
restore() {
  for fam in mma_fp16 mma_fp8; do
    [ -f "$OUT/.orig_$fam.so" ] && cp "$OUT/.orig_$fam.so" "sageattention/_C_$fam.abi3.so" && rm "$OUT/.orig_$fam.so"
  done
}
trap restore EXIT
for l in "${labels[@]}"; do
  install "$l" || { echo "$l: no module"; continue; }
  fam=$(family "$l")
  sel=fp16pv; backend=sage_fp16_cuda_kernel
  [ "$fam" = mma_fp8 ] && sel=fp8pv && backend=sage_fp8_cuda_kernel
  echo "== $l ($fam): tests" | tee -a "$OUT/tests.log"
  timeout 60 python3 -m pytest tests/gpu/test_mma_attention.py -m gpu -k $sel -q -x -p no:cacheprovider 2>&1 \
    | tail -5 | tee -a "$OUT/tests.log"
  timeout 40 python3 bench/mma_variant_ab.py "$l" --backend $backend --out "$OUT" --round 1 2>&1 \
    | tee -a "$OUT/bench.log"
done
for (( i=${#labels[@]}-1; i>=0; i-- )); do
  l=${labels[$i]}
  install "$l" || continue
  fam=$(family "$l")
  backend=sage_fp16_cuda_kernel
  [ "$fam" = mma_fp8 ] && backend=sage_fp8_cuda_kernel
  timeout 40 python3 bench/mma_variant_ab.py "$l" --backend $backend --out "$OUT" --round 2 2>&1 \
    | tee -a "$OUT/bench.log"
done
restore
python3 - "$OUT/ab.jsonl" <<'PY' | tee "$OUT/summary.txt"
import json, sys, collections
rows = [json.loads(x) for x in open(sys.argv[1])]
cfgs = sorted({(r["d"], r["n"], r["causal"]) for r in rows}, key=lambda c: (c[2], -c[0], -c[1]))
tops = collections.defaultdict(list)
for r in rows:
    tops[(r["label"], r["d"], r["n"], r["causal"])].append(r["tops"])
labels = list(dict.fromkeys(r["label"] for r in rows))
print("TOPS (round1/round2)  " + "  ".join(f"D{d} N{n // 1024}K{' c' if c else ''}" for d, n, c in cfgs))
for l in labels:
    print(f"{l:16s} " + "  ".join("/".join(f"{t:.1f}" for t in tops[(l, *c)]) for c in cfgs))
PY
