#!/usr/bin/env bash
# GPU host: the mma.sync FP16-PV fp32-O kernels at D=64 with the next K/V tile's copies issued after the first QK
# MMAs (kLoadLate, shipped at D=128 only) against the shipped ones, in one process, now that the tiles are swizzled
# and a copy burst costs ~4 L1 wavefronts per instruction instead of 10.5-15 (bench/mma_notes.md, "Thirty-fourth
# session"). .variants_late/ab_C_mma_fp16.abi3.so.xz is the tree with bench/patches/mma_d64_late.patch built with
# -DSAGE_MMA_LATE_AB: SAGEATTENTION_MMA_D64_LATE=1 launches the late-copy kernels (csrc/mma_fp16/attn_d64_late.cu,
# namespace sage::mma_late); its other kernels are the tree's, SASS for SASS. Also the shipped kernels' 2- against
# 3-CTA build at mid and long grids (the swizzle changed both). Build on the CPU machine first:
#   TORCH_CUDA_ARCH_LIST=9.0 python3 -m ci main-job                       # .wheelhouse/
#   git apply bench/patches/mma_d64_late.patch && NVCC_APPEND_FLAGS=-DSAGE_MMA_LATE_AB TORCH_CUDA_ARCH_LIST=9.0 \
#     SAGEATTENTION_FAMILIES=mma_fp16 SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=2 python3 setup.py build_ext --inplace \
#     --build-temp build/late && mkdir -p .variants_late && xz -c sageattention/_C_mma_fp16.abi3.so \
#     > .variants_late/ab_C_mma_fp16.abi3.so.xz && git apply -R bench/patches/mma_d64_late.patch
# then carry .wheelhouse and .variants_late. The patch applies to 243a8fb, the tree before its non-causal half was
# adopted (fb80bfd); later trees need it rebased.
# usage: bash scripts/gpu_mma_d64_late.sh          (logs to $OUT/d64_late.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/d64-late}
mkdir -p "$OUT"
log=$OUT/d64_late.log
source scripts/ab_modules.sh
ab_modules .variants_late/ab_C_mma_fp16.abi3.so.xz "$log" || exit

v="base:SAGEATTENTION_MMA_D64_LATE=0;late:SAGEATTENTION_MMA_D64_LATE=1"
timeout 200 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-3}" \
  --label "mma FP16 PV D=64: K/V copies after the barrier against after the first QK MMAs" --variants "$v" \
  --shapes "${SHAPES64:-64:4096,64:16384,64:16384:c,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"
timeout 120 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds 2 \
  --label "mma FP16 PV D=64 (shipped kernels): the 2-CTA against the 3-CTA build" \
  --variants "c2:SAGEATTENTION_MMA_D64_CTAS=2;c3:SAGEATTENTION_MMA_D64_CTAS=3" \
  --shapes "64:8192,64:16384,64:16384:c" 2>&1 | grep -v -i warn | tee -a "$log"

timeout 100 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_D64_LATE=1 2>&1 | tail -1 \
  | sed "s/^/bitwise: /" | tee -a "$log"
SAGEATTENTION_MMA_D64_CTAS=2 timeout 100 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_D64_LATE=1 \
  2>&1 | tail -1 | sed "s/^/bitwise (2-CTA build forced): /" | tee -a "$log"
SAGEATTENTION_MMA_D64_LATE=1 timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 \
  python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (late): /" | tee -a "$log"
exit 0
