#!/usr/bin/env bash
# GPU host, working tree with carried extension modules: sm90 persistent grid correctness (all sm90
# tests, memcheck with few CTAs), persistent vs one-CTA-per-item A/B, then all GPU tests.   usage: bash scripts/gpu_persistent_check.sh   (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/persistent-check}
mkdir -p "$OUT"
timeout 150 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x -p no:cacheprovider 2>&1 | tee "$OUT/tests.log" | tail -3
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py 2>&1 | tail -2 | tee "$OUT/memcheck.log"
for round in 1 2; do
  timeout 100 python3 bench/sm90_variant_ab.py "persistent-$round" 2>&1 | grep -v accuracy | tee -a "$OUT/ab.log"
  SAGEATTENTION_SM90_PERSISTENT=0 timeout 100 python3 bench/sm90_variant_ab.py "per-item-$round" 2>&1 | grep -v accuracy | tee -a "$OUT/ab.log"
done
timeout 150 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider 2>&1 | tee -a "$OUT/tests.log" | tail -3
