#!/usr/bin/env bash
# Session 35. GPU host: the FP8-PV layout A/B of scripts/gpu_mma_fp8_layout.sh (same module, .variants_fp8l, built
# as its header says from bench/patches/mma_fp8_layout.patch, which applies to 8033d26) for each accumulation:
# "fp32", "fp32+fp16" and "fp32+fp32" (sageattention.bench's sage_fp8_cuda_fp32, _fp32f16, sage_fp8_cuda), layouts 0
# (key order) and 1 (K in S-column order) only, kernel alone and end to end, D64 / D128, 4K / 16K, causal or not.
# Its result chose WarpTile::k_col_order per kernel (bench/mma_notes.md, "Thirty-fifth session").
# usage: bash scripts/gpu_mma_fp8_layout_accums.sh          (logs to $OUT/fp8_layout_accums.log; carry .wheelhouse
#        and .variants_fp8l)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/fp8-layout}
mkdir -p "$OUT"
log=$OUT/fp8_layout_accums.log
source scripts/ab_modules.sh
ab_modules .variants_fp8l/ab_C_mma_fp8.abi3.so.xz "$log" || exit
v="l0:SAGEATTENTION_MMA_FP8_LAYOUT=0;l1:SAGEATTENTION_MMA_FP8_LAYOUT=1"
for b in sage_fp8_cuda_fp32 sage_fp8_cuda_fp32f16 sage_fp8_cuda; do
  timeout 170 python3 bench/knob_ab.py --backend $b --kernel-each --rounds 2 \
    --label "mma FP8 PV $b: shipped layout (l0) and K in S-column order (l1)" --variants "$v" \
    --shapes "64:4096,64:16384,64:16384:c,128:4096,128:4096:c,128:16384,128:16384:c" 2>&1 | grep -v -i warn \
    | grep -v "kernels (us)" | tee -a "$log"
done
