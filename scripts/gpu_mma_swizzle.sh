#!/usr/bin/env bash
# Staged in session 33 (no machine came for it). GPU host: the mma.sync FP16-PV kernels (D=64 and D=128, all three
# accumulations, and the packed-sequence "fp32" ones) with swizzled, unpadded shared-memory tiles against the shipped
# padded tiles, in one process (bench/mma_notes.md, "Thirty-third session": the padded tiles' cp.async writes take
# 10.5-15 L1 wavefronts per instruction against ncu's ideal 4). .variants_swz/ab_C_mma_fp16.abi3.so.xz is the tree with
# bench/patches/mma_swizzle.patch built with -DSAGE_MMA_SWZ_AB: SAGEATTENTION_MMA_SWIZZLE=1 launches the swizzled
# kernels (csrc/mma_fp16/attn_*_swz.cu, namespace sage::mma_swz); its other kernels are the tree's, SASS for SASS.
# The other modules come from the main-job wheel in .wheelhouse. Build both on the CPU machine first:
#   TORCH_CUDA_ARCH_LIST=9.0 python3 -m ci main-job                       # .wheelhouse/
#   git apply bench/patches/mma_swizzle.patch && NVCC_APPEND_FLAGS=-DSAGE_MMA_SWZ_AB TORCH_CUDA_ARCH_LIST=9.0 \
#     SAGEATTENTION_FAMILIES=mma_fp16 SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=2 python3 setup.py build_ext --inplace \
#     --build-temp build/swz && mkdir -p .variants_swz && xz -c sageattention/_C_mma_fp16.abi3.so \
#     > .variants_swz/ab_C_mma_fp16.abi3.so.xz && git apply -R bench/patches/mma_swizzle.patch
# then carry .wheelhouse and .variants_swz. Speed first (the lease may end early), then bits, sanitizers, tests, ncu.
# A winner is committed as bench/patches/mma_swizzle_adopt.patch (the measured kernels' SASS, varlen's included).
# usage: bash scripts/gpu_mma_swizzle.sh          (logs to $OUT/swizzle.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/swizzle}
mkdir -p "$OUT"
log=$OUT/swizzle.log
source scripts/ab_modules.sh
ab_modules .variants_swz/ab_C_mma_fp16.abi3.so.xz "$log" || exit

# 1. Speed (first: the lease may end early): kernel alone and end to end, alternating rounds.
v="pad:SAGEATTENTION_MMA_SWIZZLE=0;swz:SAGEATTENTION_MMA_SWIZZLE=1"
timeout 200 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-3}" \
  --label "mma FP16 PV D=64: padded against swizzled shared-memory tiles" --variants "$v" \
  --shapes "${SHAPES64:-64:4096,64:16384,64:16384:c,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"
timeout 150 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-3}" \
  --label "mma FP16 PV D=128: padded against swizzled shared-memory tiles" --variants "$v" \
  --shapes "${SHAPES128:-128:4096,128:16384,128:16384:c}" 2>&1 | grep -v -i warn | tee -a "$log"

timeout 150 python3 bench/varlen_knob_ab.py --variants "$v" --rounds 2 \
  --label "mma FP16 PV packed sequences: padded against swizzled shared-memory tiles (outputs compared bit for bit)" \
  2>&1 | grep -v -i warn | tee -a "$log"

# 2. Bits and safety: the 3-CTA D=64 build and D=128 (small grids), then the 2-CTA D=64 build forced.
timeout 100 python3 bench/mma_bitwise.py SAGEATTENTION_MMA_SWIZZLE=1 2>&1 | tail -1 | sed "s/^/bitwise: /" | tee -a "$log"
SAGEATTENTION_MMA_D64_CTAS=2 timeout 100 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_SWIZZLE=1 2>&1 \
  | tail -1 | sed "s/^/bitwise (2-CTA build forced): /" | tee -a "$log"
SAGEATTENTION_MMA_SWIZZLE=1 timeout 100 compute-sanitizer --tool memcheck --error-exitcode 9 \
  python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (swizzled): /" | tee -a "$log"
SAGEATTENTION_MMA_SWIZZLE=1 timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 \
  python3 bench/mma_race_sweep.py 2>&1 \
  | tail -2 | sed "s/^/racecheck (swizzled): /" | tee -a "$log"
SAGEATTENTION_MMA_SWIZZLE=1 timeout 150 python3 -m pytest tests/gpu/test_mma_attention.py tests/gpu/test_mma_fused_op.py \
  tests/gpu/test_varlen_mma.py -m gpu -q -p no:cacheprovider 2>&1 | tail -2 | sed "s/^/tests (SWIZZLE=1): /" | tee -a "$log"

# 3. Where the L1 wavefronts went: one profiled launch of each D=64 kernel alone (2-CTA build), source counters.
cd /tmp
for s in 0 1; do
  SAGEATTENTION_MMA_SWIZZLE=$s PYTHONPATH=$OLDPWD timeout 120 ncu --clock-control none -k regex:attn_kernel \
    --launch-skip 5 --launch-count 1 --section=SourceCounters --section=WarpStateStats \
    python3 -m sageattention.bench --seqlens 16384 --causal 0 --backends sage_fp16_cuda_kernel --rounds 1 \
    --warmup-ms 20 --rep-ms 20 --out /tmp/ncu-bench --headdims 64 --name d64 > "$OUT/ncu_swizzle$s.log" 2>&1
  grep -i "wavefront\|sectors\|Duration\|TOPS" "$OUT/ncu_swizzle$s.log" | head -8 | sed "s/^/ncu SWIZZLE=$s: /" | tee -a "$log"
done
exit 0
