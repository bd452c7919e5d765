#!/usr/bin/env bash
# GPU host: `sageattn`'s kernel against SDPA past 1 024 keys (bench/short_kv_route.py --grid: calls of small total
# work; --edges: both sides of each region of sageattention/_short_kv.py), the route's GPU tests, and the route's
# report in `python -m sageattention`. Carry .wheelhouse (one main-job wheel: its modules, the tree's Python).
# usage: bash scripts/gpu_short_kv_regions.sh [grid] [edges] [decode] [tests] [suite]
#        (default: grid edges tests; suite: every GPU test; decode: QUERIES (default 1) queries against a cache of
#        keys, in LAYOUTS (default HND,NHD); logs and results to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/short-kv-regions}
mkdir -p "$OUT"
log=$OUT/short_kv_regions.log
steps=${*:-grid edges tests}
source scripts/ab_modules.sh
wheel_modules "$log" || exit
timing="--warmup-ms 20 --rep-ms 60"
if [[ $steps == *suite* ]]; then
  timeout 300 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs 2>&1 | tail -6 | tee -a "$log"
fi
if [[ $steps == *tests* ]]; then
  timeout 120 python3 -m pytest -q -m gpu tests/gpu/test_short_kv_gpu.py tests/gpu/test_api_gpu.py -p no:cacheprovider \
    -rs 2>&1 | tail -6 | tee -a "$log"
  python3 -m sageattention 2>&1 | grep -i -A9 short_kv | tee -a "$log"
fi
if [[ $steps == *edges* ]]; then
  timeout 240 python3 bench/short_kv_route.py --out "$OUT/short_kv_edges" --edges --layouts HND \
    --dtypes float16,bfloat16 --rounds 2 $timing 2>&1 | grep -v -i warn | tee -a "$log"
fi
if [[ $steps == *decode* ]]; then
  timeout 240 python3 bench/short_kv_route.py --out "$OUT/short_kv_decode" --decode --layouts "${LAYOUTS:-HND,NHD}" \
    --queries "${QUERIES:-1}" --rounds 2 $timing 2>&1 | grep -v -i warn | tee -a "$log"
fi
if [[ $steps == *grid* ]]; then
  timeout 240 python3 bench/short_kv_route.py --out "$OUT/short_kv_grid" --grid --layouts HND --rounds 2 $timing \
    2>&1 | grep -v -i warn | tee -a "$log"
fi
exit 0
