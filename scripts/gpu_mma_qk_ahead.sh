#!/usr/bin/env bash
# Measured in session 33 and dropped: 6 % slower at D=64 16K-32K (bench/mma_notes.md, "Thirty-third session";
# bench/results/mma_qk_ahead_ab_h100_s33.log). GPU host: the mma.sync FP16-PV fp32-O D=64 kernel (2-CTA build) with
# the next KV tile's first 32 keys' QK MMAs issued one tile ahead against the shipped kernel, in one process:
# .variants_qka/ab_C_mma_fp16.abi3.so.xz is the tree with bench/patches/mma_qk_ahead.patch built with
# NVCC_APPEND_FLAGS=-DSAGE_MMA_QK_AHEAD_AB (SAGEATTENTION_MMA_QK_AHEAD=1 picks the new kernel wherever the call takes
# the 2-CTA build; its other kernels are the tree's, SASS for SASS); the other modules come from the wheel in
# .wheelhouse. Then the Nsight Compute source table of the shipped kernels (scripts/gpu_mma_d64_profile.sh).
# usage: bash scripts/gpu_mma_qk_ahead.sh          (logs to $OUT/qk_ahead.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/qk-ahead}
mkdir -p "$OUT"
log=$OUT/qk_ahead.log
source scripts/ab_modules.sh
ab_modules .variants_qka/ab_C_mma_fp16.abi3.so.xz "$log" || exit

# 1. Bits and safety, the 2-CTA build forced (small grids take the 3-CTA one).
SAGEATTENTION_MMA_D64_CTAS=2 timeout 100 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_QK_AHEAD=1 2>&1 \
  | tail -1 | sed "s/^/bitwise (2-CTA build forced): /" | tee -a "$log"
SAGEATTENTION_MMA_QK_AHEAD=1 SAGEATTENTION_MMA_D64_CTAS=2 timeout 100 compute-sanitizer --tool memcheck \
  --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (QK ahead, 2-CTA build): /" \
  | tee -a "$log"
SAGEATTENTION_MMA_QK_AHEAD=1 SAGEATTENTION_MMA_D64_CTAS=2 timeout 120 compute-sanitizer --tool racecheck \
  --error-exitcode 9 python3 bench/mma_race_sweep.py --headdims 64 2>&1 | tail -2 \
  | sed "s/^/racecheck (QK ahead): /" | tee -a "$log"
SAGEATTENTION_MMA_QK_AHEAD=1 timeout 150 python3 -m pytest tests/gpu/test_mma_attention.py -m gpu -q \
  -p no:cacheprovider 2>&1 | tail -2 | sed "s/^/tests (QK_AHEAD=1): /" | tee -a "$log"

# 2. Speed: kernel alone and end to end, alternating rounds.
timeout 200 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-4}" \
  --label "mma FP16 PV D=64 (2-CTA build): QK of the next tile's first 32 keys ahead" \
  --variants "base:SAGEATTENTION_MMA_QK_AHEAD=0;ahead:SAGEATTENTION_MMA_QK_AHEAD=1" \
  --shapes "${SHAPES64:-64:4096,64:16384,64:16384:c,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"

# 3. The staged per-instruction profile of the shipped kernels.
[ -z "${SKIP_NCU:-}" ] && bash scripts/gpu_mma_d64_profile.sh .wheelhouse source 2>&1 | tee -a "$log"
exit 0
