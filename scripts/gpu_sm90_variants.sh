#!/usr/bin/env bash
# GPU host: A/B of sm90 module builds carried in .variants/<label>/_C_sm90.abi3.so (the rest of the
# extension modules in sageattention/): oracle/fp64 tests and bench/sm90_variant_ab.py per build.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/variants}
mkdir -p "$OUT"
for dir in .variants/*/; do
  label=$(basename "$dir")
  cp "$dir/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
  timeout 120 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x -p no:cacheprovider \
    -k "oracle or fp64 or without_keys or faster" 2>&1 | tail -1 | sed "s/^/[$label] tests: /" | tee -a "$OUT/ab.log"
  timeout 120 python3 bench/sm90_variant_ab.py "$label" 2>&1 | tee -a "$OUT/ab.log"
done
