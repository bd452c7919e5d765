#!/usr/bin/env bash
# GPU host (forty-third session): the sm90 kernel with INT8 PV (sageattn_qk_int8_pv_int8_cuda_sm90) on the main-job
# wheel's modules (.wheelhouse) with this tree's _C_sm90 over them (AB, default .variants_int8/ab_C_sm90.abi3.so.xz,
# built on the CPU machine: SAGEATTENTION_FAMILIES=sm90 TORCH_CUDA_ARCH_LIST=9.0 python3 setup.py build_ext --build-lib
# L --build-temp T; xz -c L/sageattention/_C_sm90.abi3.so > AB). Its tests; accuracy against float64 at the issues'
# shape beside the other kernels; the kernel end to end beside `sageattn` (e4m3 PV), the 16-bit PV kernel and cuDNN
# in one process; the FP8 sm90 tests (the fused quantization gained the s8 V); memcheck of the sm90 sweep.
# usage: [AB=...] [SEQLENS=4096,8192,16384] bash scripts/gpu_sm90_pv_int8.sh   (logs, bench rows to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv-int8}
mkdir -p "$OUT"
log=$OUT/sm90_pv_int8.log
source scripts/ab_modules.sh
ab_modules "${AB:-.variants_int8/ab_C_sm90.abi3.so.xz}" "$log" || exit
echo "=== INT8-PV tests" | tee -a "$log"
timeout ${TEST_S:-200} python3 -m pytest tests/gpu/test_sm90_pv_int8.py tests/gpu/test_compile_gpu.py -k "int8" -q \
  --maxfail=8 --tb=short -rs -p no:cacheprovider 2>&1 | tail -40 | tee -a "$log"
echo "=== accuracy vs float64 (B4 H32 N4096)" | tee -a "$log"
timeout ${ACC_S:-60} python3 bench/mma_accuracy.py --fp64-only 2>&1 | grep -E "^\||^#" | grep -v -- "-pv " \
  | tee -a "$log"
echo "=== bench" | tee -a "$log"
backends="sageattn,sage_int8_sm90,sage_fp16_sm90,sdpa_cudnn"
timeout ${BENCH_S:-170} python3 -m sageattention.bench --seqlens ${SEQLENS:-4096,8192,16384} --headdims 64,128 \
  --causal 0,1 --backends "$backends" --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" --name sm90_pv_int8 \
  2>&1 | grep -v -i warn | grep "|" | tee -a "$log"
timeout ${BREAK_S:-60} python3 bench/sm90_pv16_breakdown.py --calls e4m3,int8 2>&1 | grep -v -i warn | tee -a "$log"
echo "=== sm90 FP8 tests" | tee -a "$log"
timeout ${FP8_S:-120} python3 -m pytest tests/gpu/test_sm90.py tests/gpu/test_sm90_fused_op.py tests/gpu/test_quant_qkv_sm90.py -q --tb=line -rs \
  -p no:cacheprovider 2>&1 | tail -6 | tee -a "$log"
timeout ${SAN_S:-90} compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py 2>&1 \
  | tail -2 | sed "s/^/memcheck sm90_sanitize_sweep: /" | tee -a "$log"
exit 0
