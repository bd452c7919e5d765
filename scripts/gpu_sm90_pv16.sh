#!/usr/bin/env bash
# GPU host (forty-second session): the sm90 kernel with 16-bit PV (sageattn_qk_int8_pv_fp16_cuda_sm90) on the
# main-job wheel's modules (.wheelhouse) with this tree's _C_sm90 over them (AB, default
# .variants_pv16/ab_C_sm90.abi3.so.xz, built here: SAGEATTENTION_FAMILIES=sm90 TORCH_CUDA_ARCH_LIST=9.0 python3 setup.py
# build_ext --inplace --build-temp /tmp/bsm90; xz -c sageattention/_C_sm90.abi3.so > AB). Its tests; the kernel end
# to end beside the FP8 one, the mma.sync FP16-PV kernel and cuDNN in one process; the FP8 sm90 tests (its kernel
# template gained the PV type); memcheck of the sm90 sweep (which calls the 16-bit PV kernel too).
# usage: [AB=...] [CAUSAL=0,1] [SEQLENS=4096,8192,16384] bash scripts/gpu_sm90_pv16.sh   (logs, bench rows to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv16}
mkdir -p "$OUT"
log=$OUT/sm90_pv16.log
source scripts/ab_modules.sh
ab_modules "${AB:-.variants_pv16/ab_C_sm90.abi3.so.xz}" "$log" || exit
echo "=== 16-bit PV tests" | tee -a "$log"
timeout ${PV16_S:-150} python3 -m pytest tests/gpu/test_sm90_pv16.py tests/gpu/test_compile_gpu.py -k "pv16 or fp16_cuda_sm90" -q --maxfail=8 --tb=line -rs -p no:cacheprovider \
  2>&1 | tail -25 | tee -a "$log"
echo "=== bench" | tee -a "$log"
backends="sageattn,sage_fp8_sm90_fp32_kernel,sage_fp16_sm90,sage_fp16_cuda,sdpa_cudnn"
timeout ${BENCH_S:-150} python3 -m sageattention.bench --seqlens ${SEQLENS:-4096,8192,16384} --headdims 64,128 \
  --causal ${CAUSAL:-0,1} --backends "$backends" --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" --name sm90_pv16 \
  2>&1 | grep -v -i warn | grep "|" | tee -a "$log"
timeout ${BREAK_S:-60} python3 bench/sm90_pv16_breakdown.py 2>&1 | grep -v -i warn | tee -a "$log"
echo "=== sm90 FP8 tests" | tee -a "$log"
timeout ${FP8_S:-100} python3 -m pytest tests/gpu/test_sm90.py tests/gpu/test_sm90_fused_op.py -q --tb=line -rs \
  -p no:cacheprovider 2>&1 | tail -6 | tee -a "$log"
timeout ${SAN_S:-80} compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py 2>&1 \
  | tail -2 | sed "s/^/memcheck sm90_sanitize_sweep: /" | tee -a "$log"
exit 0
