#!/usr/bin/env bash
# GPU host: where SDPA overtakes `sageattn`'s kernel as the key sequence gets short (bench/short_kv_route.py: cross-
# attention shapes up to 2K keys, self-attention causal and not up to 2K tokens, bf16), the GPU tests (all of them:
# the suite runs with the route off, tests/gpu/test_short_kv_gpu.py turns it on), and the models table.
# Carry .wheelhouse (one main-job wheel: its modules are unpacked into the checkout; the Python is the tree's).
# usage: bash scripts/gpu_short_kv_route.sh        (logs and results to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/short-kv-route}
mkdir -p "$OUT"
log=$OUT/short_kv_route.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
timeout 240 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs 2>&1 | tail -8 | tee -a "$log"
timing="--rounds 1 --warmup-ms 20 --rep-ms 60"
timeout 150 python3 bench/short_kv_route.py --out "$OUT/short_kv_route_cross" --kv 1024,1536,2048 $timing \
  2>&1 | grep -v -i warn | tee -a "$log"
timeout 120 python3 bench/short_kv_route.py --out "$OUT/short_kv_route_self" --self $timing \
  2>&1 | grep -v -i warn | tee -a "$log"
timeout 60 python3 bench/short_kv_route.py --out "$OUT/short_kv_route_bf16" --quick --layouts HND --dtypes bfloat16 \
  $timing 2>&1 | grep -v -i warn | tee -a "$log"
timeout 200 python3 -m sageattention.bench_models --rounds 2 --out "$OUT" --name models_h100_s36 \
  2>&1 | grep -v -i warn | tail -30 | tee -a "$log"
exit 0
