#!/usr/bin/env bash
# GPU host (forty-first session): how much of the FP8-PV kernels' error is e4m3's, and every GPU test at the tree's
# last commit.
#   1. bench/mma_accuracy.py --fp64-only at D 128 and 256 with sharper inputs (Q x 2, Q x 3) beside randn and offset K,
#      every mma.sync variant and `sageattn` (on sm_90 the wgmma kernel);
#   2. bench/pv_format_error.py on the GPU (float64 products, 32 heads), Q x 1 / 2 / 3: the formats alone, no kernel;
#   3. every GPU test (SUITE_S seconds at most).
# Carry .wheelhouse (one main-job wheel: its modules are unpacked into the checkout; the Python is the tree's).
# usage: [SUITE_S=330] bash scripts/gpu_accuracy_formats.sh   (logs and tables to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/accuracy-formats}
mkdir -p "$OUT"
log=$OUT/accuracy_formats.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
echo "=== kernels against float64" | tee -a "$log"
timeout 150 python3 bench/mma_accuracy.py --fp64-only --fp64-head-dims 128,256 --q-scales 2,3 2>&1 \
  | grep -v -i warn | tee "$OUT/mma_accuracy_sharp.md" | tee -a "$log"
for s in 1 2 3; do
  echo "=== formats alone, Q x $s" | tee -a "$log"
  timeout 60 python3 bench/pv_format_error.py --device cuda --heads 32 --sharpness $s \
    --out "$OUT/pv_format_error_gpu_q$s" 2>&1 | tee -a "$log"
done
echo "=== every GPU test" | tee -a "$log"
timeout ${SUITE_S:-330} python3 -m pytest -m gpu tests/gpu -q -rs -p no:cacheprovider 2>&1 | tail -12 | tee -a "$log"
exit 0
