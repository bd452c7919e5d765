#!/usr/bin/env bash
# GPU host (forty-first session, run once on the experiment's tree, whose -DSAGE_FP8_SUBK=64 chose 64-key sub-tiles;
# the tree now always takes them, so today this builds what the wheel holds): the mma.sync FP8-PV kernels with 64-key
# softmax sub-tiles at D <= 128 (as FP16 PV takes; the wheel's then took 32) against the wheel's, after the INT8-PV
# prototype gained 30 % from them (bench/NOTES.md, "An INT8-PV prototype"). Builds the checkout's core and mma_fp8
# modules here (16 cores), then: the FP8 mma GPU tests on them, the wheel's and the new modules each in one
# process of python -m sageattention.bench (SIDES), and the new modules' accuracy against float64.
# Carry .wheelhouse (one main-job wheel: the baseline modules).
# usage: [SIDES="k32 k64"] bash scripts/gpu_fp8_subk64.sh   (logs, bench rows to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/fp8-subk64}
mkdir -p "$OUT"
log=$OUT/fp8_subk64.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
cp sageattention/_build_config.py /tmp/wheel_build_config.py
for m in _C _C_mma_fp8; do cp sageattention/$m.abi3.so /tmp/k32$m.abi3.so; done
NVCC_APPEND_FLAGS=-DSAGE_FP8_SUBK=64 TORCH_CUDA_ARCH_LIST=9.0 SAGEATTENTION_FAMILIES=mma_fp8 \
  SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=16 timeout 300 python3 setup.py build_ext --inplace --build-temp /tmp/b64 \
  > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
cp /tmp/wheel_build_config.py sageattention/_build_config.py  # the wheel's list of families, not the build's
for m in _C _C_mma_fp8; do cp sageattention/$m.abi3.so /tmp/k64$m.abi3.so; done
grep -E "spill" "$OUT/build.log" | grep -c "attn_kernel" | sed 's/^/mma_fp8 kernels that spill: /' | tee -a "$log"
echo "=== FP8 mma GPU tests on the 64-key modules" | tee -a "$log"
timeout 150 python3 -m pytest -m gpu tests/gpu/test_mma_attention.py -q -rs -p no:cacheprovider -k "fp8" 2>&1 \
  | tail -6 | tee -a "$log"
backends="sage_fp8_cuda_kernel,sage_fp8_cuda_fp32_kernel,sage_fp8_cuda_fp32f16_kernel,sage_fp16_cuda_kernel"
n=0
for side in ${SIDES:-k32 k64}; do
  for m in _C _C_mma_fp8; do cp /tmp/$side$m.abi3.so sageattention/$m.abi3.so; done
  n=$((n + 1))
  echo "=== modules: $side" | tee -a "$log"
  timeout 120 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 64,128 --causal 0,1 --backends "$backends" \
    --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" --name "fp8_subk_${side}_$n" 2>&1 | grep -v -i warn \
    | grep "|" | tee -a "$log"
done
for m in _C _C_mma_fp8; do cp /tmp/k64$m.abi3.so sageattention/$m.abi3.so; done
echo "=== 64-key modules' accuracy" | tee -a "$log"
timeout 90 python3 bench/mma_accuracy.py --fp64-only 2>&1 | grep -E "fp8-pv|^\|---" | tee -a "$log"
for m in _C _C_mma_fp8; do cp /tmp/k32$m.abi3.so sageattention/$m.abi3.so; done
exit 0
