#!/usr/bin/env bash
# GPU host: quantization kernels of the working tree (extension modules carried in sageattention/):
# GPU tests, bandwidth A/B against a reference wheel in DIR, Nsight Compute sections, sm90 e2e bench.
# usage: bash scripts/gpu_quant_check.sh REFERENCE_WHEEL_DIR      (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/quant-check}
mkdir -p "$OUT"
timeout 200 python3 -m pytest tests/gpu -m gpu -q -x -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -4
python3 -m pip install -q --no-deps --no-index --target /tmp/ref "$1"/sageattention-*.whl && mkdir -p /tmp/refbench \
  && cp bench/quant_bench.py /tmp/refbench/ \
  && (cd /tmp/refbench && PYTHONPATH=/tmp/ref timeout 60 python3 quant_bench.py) 2>&1 | sed 's/^/[reference] /' | tee "$OUT/quant_ab.log"
timeout 60 python3 bench/quant_bench.py 2>&1 | sed 's/^/[tree] /' | tee -a "$OUT/quant_ab.log"
timeout 150 ncu -k regex:"quant|channel" -c 8 --section SpeedOfLight --section Occupancy --section LaunchStats \
  --section WarpStateStats --section MemoryWorkloadAnalysis python3 bench/quant_profile.py > "$OUT/ncu_quant.txt" 2>&1
grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Theoretical Occ|Stall|Block Limit" \
  "$OUT/ncu_quant.txt" | grep -vE "^\s*$" | head -90
timeout 200 python3 bench/sm90_bench.py --quick --out "$OUT/sm90_bench.json" 2>&1 | grep -E "^D" | tee "$OUT/sm90_bench.log"
