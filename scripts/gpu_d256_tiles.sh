#!/usr/bin/env bash
# GPU host (fortieth session): the mma.sync kernels at head dim 256 with 32-key K/V tiles (the tree) against the
# 64-key tiles of the builds before, and the f16 accumulators' cost on a GPU whose fp32 accumulator is full rate.
# Carry .wheelhouse (the tree's main-job wheel) and .variants_d256 (ab_C_mma_fp16.abi3.so.xz from 2.3.0.dev432 and
# ab_C_mma_fp8.abi3.so.xz from dev435: 64-key tiles). The kernels changed, so their tests come first:
#   1. the tests this session added or changed;
#   2. D=256 kernel alone and end to end beside SDPA flash and cuDNN, modules tree / 64-key / tree (SIDES; each run is
#      one process of python -m sageattention.bench, two rounds in both orders);
#   3. every GPU test (SUITE_S seconds at most);
#   4. unless NO_ACCUMS: D=64/128 FP16-PV "fp32" against "fp16+fp32" and "fp16", kernel alone and end to end.
# usage: [SIDES="tree k64"] [SUITE_S=300] [NO_ACCUMS=1] bash scripts/gpu_d256_tiles.sh   (logs, bench rows to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/d256-tiles}
mkdir -p "$OUT"
log=$OUT/d256_tiles.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
for f in fp16 fp8; do
  cp sageattention/_C_mma_$f.abi3.so /tmp/tree_C_mma_$f.abi3.so
  xz -dc .variants_d256/ab_C_mma_$f.abi3.so.xz > /tmp/k64_C_mma_$f.abi3.so
done
timing="--rounds 2 --warmup-ms 50 --rep-ms 200"
echo "=== this session's tests" | tee -a "$log"
timeout 120 python3 -m pytest -m gpu tests/gpu/test_api_gpu.py tests/gpu/test_mma_attention.py -q -rs -p no:cacheprovider \
  -k "grid_dimension or half_rate or f16_accumulators or blocks or accumulation or head_dims or d256 or lse" 2>&1 \
  | tail -8 | tee -a "$log"
d256="sage_fp16_cuda_kernel,sage_fp16_cuda_fp16f32_kernel,sage_fp16_cuda,sage_fp8_cuda_kernel,sage_fp8_cuda"
d256="$d256,sdpa_flash,sdpa_cudnn"
for side in ${SIDES:-tree k64 tree}; do
  for f in fp16 fp8; do cp /tmp/${side}_C_mma_$f.abi3.so sageattention/_C_mma_$f.abi3.so; done
  n=$((n + 1))  # here, not inside the pipeline below, whose subshell would drop it
  echo "=== D256 modules: $side" | tee -a "$log"
  timeout 120 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 256 --causal 0,1 --backends "$d256" \
    $timing --out "$OUT" --name "d256_${side}_$n" 2>&1 | grep -v -i warn | tail -34 | tee -a "$log"
done
for f in fp16 fp8; do cp /tmp/tree_C_mma_$f.abi3.so sageattention/_C_mma_$f.abi3.so; done
echo "=== every GPU test" | tee -a "$log"
timeout ${SUITE_S:-300} python3 -m pytest -m gpu tests/gpu -q -rs -p no:cacheprovider 2>&1 | tail -12 | tee -a "$log"
if [ -z "$NO_ACCUMS" ]; then
  echo "=== FP16-PV accumulations, D64/D128" | tee -a "$log"
  timeout 100 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 64,128 --causal 0 \
    --backends sage_fp16_cuda_kernel,sage_fp16_cuda_fp16f32_kernel,sage_fp16_cuda_fp16_kernel,sage_fp16_cuda,sage_fp16_cuda_fp16f32 \
    $timing --out "$OUT" --name fp16_accums 2>&1 | grep -v -i warn | tail -30 | tee -a "$log"
fi
exit 0
