#!/usr/bin/env bash
# Staged in session 34, run in session 35 (layout 1 adopted per kernel, layout 2 dropped: bench/mma_notes.md,
# "Thirty-fifth session"; bench/patches/mma_fp8_layout.patch applies to 8033d26, before the adoption). GPU host:
# the mma.sync FP8-PV kernels (D=64 and D=128, every accumulation, and the packed-sequence ones) under three
# shared-memory layouts, in one process (bench/mma_notes.md, "Thirty-fourth session"): 0 = shipped (K in
# key_of_col<true> order on padded rows: every K ldmatrix phase meets two-way bank
# conflicts, `python bench/mma_smem_layout_check.py`), 1 = K stored in S-column order (conflict-free), 2 = that and
# every tile swizzled (each quarter-warp's copy in one 128-byte line, as FP16 PV's since 243a8fb).
# .variants_fp8l/ab_C_mma_fp8.abi3.so.xz is the tree with bench/patches/mma_fp8_layout.patch built with
# -DSAGE_MMA_FP8L_AB: SAGEATTENTION_MMA_FP8_LAYOUT=1 or 2 launches the kernels of csrc/mma_fp8/attn_layout{1,2}_*.cu
# (namespaces sage::mma_f8l1, sage::mma_f8l2); its other kernels are the tree's, SASS for SASS. The other modules
# come from the main-job wheel in .wheelhouse. Build both on the CPU machine first:
#   TORCH_CUDA_ARCH_LIST=9.0 python3 -m ci main-job                       # .wheelhouse/
#   git apply bench/patches/mma_fp8_layout.patch && NVCC_APPEND_FLAGS=-DSAGE_MMA_FP8L_AB TORCH_CUDA_ARCH_LIST=9.0 \
#     SAGEATTENTION_FAMILIES=mma_fp8 SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=2 python3 setup.py build_ext --inplace \
#     --build-temp build/fp8l && mkdir -p .variants_fp8l && xz -c sageattention/_C_mma_fp8.abi3.so \
#     > .variants_fp8l/ab_C_mma_fp8.abi3.so.xz && git apply -R bench/patches/mma_fp8_layout.patch
# then carry .wheelhouse and .variants_fp8l. Speed first (the lease may end early), then bits, sanitizers, tests, ncu.
# usage: bash scripts/gpu_mma_fp8_layout.sh          (logs to $OUT/fp8_layout.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/fp8-layout}
mkdir -p "$OUT"
log=$OUT/fp8_layout.log
source scripts/ab_modules.sh
ab_modules .variants_fp8l/ab_C_mma_fp8.abi3.so.xz "$log" || exit

# 1. Speed: the kernel alone and end to end ("fp32+fp32", sageattention.bench's sage_fp8_cuda), alternating rounds.
v="l0:SAGEATTENTION_MMA_FP8_LAYOUT=0;l1:SAGEATTENTION_MMA_FP8_LAYOUT=1;l2:SAGEATTENTION_MMA_FP8_LAYOUT=2"
timeout 240 python3 bench/knob_ab.py --backend sage_fp8_cuda --kernel-each --rounds "${ROUNDS:-3}" \
  --label "mma FP8 PV: shipped layout (l0), K in S-column order (l1), and swizzled tiles (l2)" --variants "$v" \
  --shapes "${SHAPES:-64:4096,64:16384,64:16384:c,128:4096,128:16384,128:16384:c}" 2>&1 | grep -v -i warn | tee -a "$log"
timeout 150 python3 bench/varlen_knob_ab.py --family mma_fp8 --variants "$v" --rounds 2 \
  --label "mma FP8 PV packed sequences (the build's default accumulation): the three layouts (outputs bit for bit)" \
  2>&1 | grep -v -i warn | tee -a "$log"

# 2. Bits and safety.
for l in 1 2; do
  timeout 120 python3 bench/mma_bitwise.py --fp8 SAGEATTENTION_MMA_FP8_LAYOUT=$l 2>&1 | tail -1 \
    | sed "s/^/bitwise: /" | tee -a "$log"
  SAGEATTENTION_MMA_FP8_LAYOUT=$l timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
    python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (layout $l): /" | tee -a "$log"
done
SAGEATTENTION_MMA_FP8_LAYOUT=2 timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 \
  python3 bench/mma_race_sweep.py --fp8 \
  2>&1 | tail -2 | sed "s/^/racecheck (layout 2): /" | tee -a "$log"
SAGEATTENTION_MMA_FP8_LAYOUT=2 timeout 150 python3 -m pytest tests/gpu/test_mma_attention.py \
  tests/gpu/test_mma_fused_op.py tests/gpu/test_varlen_mma.py -m gpu -q -p no:cacheprovider 2>&1 | tail -1 \
  | sed "s/^/tests (LAYOUT=2): /" | tee -a "$log"

# 3. Shared-memory bank conflicts and wavefronts of the D=128 kernel alone, per layout (one launch each).
cd /tmp
for l in 0 1 2; do
  SAGEATTENTION_MMA_FP8_LAYOUT=$l PYTHONPATH=$OLDPWD timeout 90 ncu --clock-control none -k regex:attn_kernel \
    --launch-skip 5 --launch-count 1 --section=MemoryWorkloadAnalysis_Tables --section=SourceCounters \
    python3 -m sageattention.bench --seqlens 16384 --causal 0 --backends sage_fp8_cuda_kernel --rounds 1 \
    --warmup-ms 20 --rep-ms 20 --out /tmp/ncu-bench --headdims 128 --name d128 > "$OUT/ncu_fp8_layout$l.log" 2>&1
  grep -i "bank\|excessive" "$OUT/ncu_fp8_layout$l.log" | head -6 | sed "s/^/ncu layout $l: /" | tee -a "$log"
done
exit 0
