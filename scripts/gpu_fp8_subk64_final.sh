#!/usr/bin/env bash
# GPU host (forty-first session): the tree with 64-key softmax sub-tiles for the FP8-PV mma.sync kernels at
# D <= 128 (the main-job wheel in .wheelhouse, carried), checked and timed: every GPU test, memcheck of the mma.sync
# sweep (and the packed-sequence one, SWEEPS), then the FP8-PV kernels beside FP16 PV (one process of python -m sageattention.bench).
# usage: [SUITE_S=200] [SWEEPS="mma_sanitize_sweep varlen_sanitize_sweep"] [CAUSAL=0,1] \
#   bash scripts/gpu_fp8_subk64_final.sh   (logs, bench rows to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/fp8-subk64-final}
mkdir -p "$OUT"
log=$OUT/fp8_subk64_final.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
echo "=== every GPU test" | tee -a "$log"
timeout ${SUITE_S:-200} python3 -m pytest -m gpu tests/gpu -q -rs -p no:cacheprovider 2>&1 | tail -4 | tee -a "$log"
for sweep in ${SWEEPS:-mma_sanitize_sweep}; do
  timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/$sweep.py 2>&1 | tail -1 \
    | sed "s/^/memcheck $sweep: /" | tee -a "$log"
done
backends="sage_fp8_cuda_kernel,sage_fp8_cuda_fp32_kernel,sage_fp8_cuda_fp32f16_kernel,sage_fp8_cuda,sage_fp16_cuda_kernel"
timeout 120 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 64,128 --causal ${CAUSAL:-0,1} --backends "$backends" \
  --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" --name fp8_subk64_final 2>&1 | grep -v -i warn | grep "|" \
  | tee -a "$log"
exit 0
