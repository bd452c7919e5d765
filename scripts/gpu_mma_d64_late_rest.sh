#!/usr/bin/env bash
# Staged and run in session 35 (not adopted: bench/mma_notes.md, "Thirty-fifth session"). GPU host: late K/V copies
# (after the first QK MMAs, as the D=128 and D=64 non-causal "fp32" batch kernels ship since fb80bfd) for the
# FP16-PV D=64 kernels that still copy right after the barrier: "fp16+fp32" and "fp16" batch (causal or not) and the
# packed-sequence "fp32" ones, against the shipped ones, in one process.
# .variants_late_rest/ab_C_mma_fp16.abi3.so.xz is the tree with bench/patches/mma_d64_late_rest.patch built with
# -DSAGE_MMA_LATE_AB: SAGEATTENTION_MMA_D64_LATE=1 launches csrc/mma_fp16/attn_d64_late_rest.cu's kernels
# (namespace sage::mma_late); its other kernels are the tree's. Build on the CPU machine first:
#   TORCH_CUDA_ARCH_LIST=9.0 python3 -m ci main-job                       # .wheelhouse/
#   git apply bench/patches/mma_d64_late_rest.patch && NVCC_APPEND_FLAGS=-DSAGE_MMA_LATE_AB TORCH_CUDA_ARCH_LIST=9.0 \
#     SAGEATTENTION_FAMILIES=mma_fp16 SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=2 python3 setup.py build_ext --inplace \
#     --build-temp build/late_rest && mkdir -p .variants_late_rest && xz -c sageattention/_C_mma_fp16.abi3.so \
#     > .variants_late_rest/ab_C_mma_fp16.abi3.so.xz && git apply -R bench/patches/mma_d64_late_rest.patch
# then carry .wheelhouse and .variants_late_rest. The patch applies to 445c906.
# usage: bash scripts/gpu_mma_d64_late_rest.sh          (logs to $OUT/d64_late_rest.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/d64-late-rest}
mkdir -p "$OUT"
log=$OUT/d64_late_rest.log
source scripts/ab_modules.sh
ab_modules .variants_late_rest/ab_C_mma_fp16.abi3.so.xz "$log" || exit

v="early:SAGEATTENTION_MMA_D64_LATE=0;late:SAGEATTENTION_MMA_D64_LATE=1"
for b in sage_fp16_cuda_fp16f32 sage_fp16_cuda_fp16; do
  timeout 90 python3 bench/knob_ab.py --backend $b --kernel-each --rounds 2 --variants "$v" \
    --label "mma FP16 PV D=64 $b: K/V copies after the barrier (early) or after the first QK MMAs (late)" \
    --shapes "${SHAPES:-64:4096,64:16384,64:16384:c}" 2>&1 | grep -v -i warn | grep -v "kernels (us)" | tee -a "$log"
done
timeout 120 python3 bench/varlen_knob_ab.py --family mma_fp16 --headdims 64 --variants "$v" --rounds 2 \
  --label "mma FP16 PV D=64 packed sequences (fp32): early or late K/V copies (outputs bit for bit)" \
  2>&1 | grep -v -i warn | tee -a "$log"

timeout 60 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_D64_LATE=1 2>&1 | tail -1 \
  | sed "s/^/bitwise: /" | tee -a "$log"
SAGEATTENTION_MMA_D64_LATE=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 \
  python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (late): /" | tee -a "$log"
SAGEATTENTION_MMA_D64_LATE=1 timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 \
  python3 bench/varlen_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck varlen (late): /" | tee -a "$log"
for a in fp16+fp32 fp16; do
  SAGEATTENTION_MMA_D64_LATE=1 timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 \
    python3 bench/mma_race_sweep.py --headdims 64 --accum $a 2>&1 | tail -1 | sed "s/^/racecheck $a (late): /" \
    | tee -a "$log"
done
exit 0
