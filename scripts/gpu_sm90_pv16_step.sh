#!/usr/bin/env bash
# GPU host (forty-second session): the 16-bit PV kernel's softmax step, 128 keys (the tree's default,
# .variants_pv16/ab_C_sm90.abi3.so.xz, as scripts/gpu_sm90_pv16.sh) against STEP keys (default 192; built here from the
# tree with -DSAGE_SM90_F16_STEP_KEYS, which changes only the 16-bit PV kernels): the kernels' durations in the call
# (bench/sm90_pv16_breakdown.py), two rounds in both orders; the 128-key build's accuracy at the shape
# (bench/mma_accuracy.py --fp64-only); then the 16-bit PV tests on the STEP build.
# usage: [STEP=192] bash scripts/gpu_sm90_pv16_step.sh   (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv16-step}
STEP=${STEP:-192}
mkdir -p "$OUT"
log=$OUT/sm90_pv16_step.log
source scripts/ab_modules.sh
ab_modules .variants_pv16/ab_C_sm90.abi3.so.xz "$log" || exit
cp sageattention/_C_sm90.abi3.so /tmp/k128.so
cp sageattention/_build_config.py /tmp/build_config.py
NVCC_APPEND_FLAGS=-DSAGE_SM90_F16_STEP_KEYS=$STEP SAGEATTENTION_FAMILIES=sm90 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 \
  SAGEATTENTION_VERSION=2.3.0.dev0 timeout 400 python3 setup.py build_ext --inplace --build-temp /tmp/bstep \
  > "$OUT/build_step.log" 2>&1 || { echo "build failed" | tee -a "$log"; tail -20 "$OUT/build_step.log"; exit 1; }
grep -o "attn_fwd_kernel[^']*ELi[12]EEEv[^']*', [0-9]* bytes spill stores, [0-9]* bytes spill loads" "$OUT/build_step.log" \
  | sed 's/EEEv14CUtensorMap[^,]*//' | sort -u | tee -a "$log"
cp sageattention/_C_sm90.abi3.so /tmp/k$STEP.so
cp /tmp/build_config.py sageattention/_build_config.py
shapes=128:4096,128:8192,128:16384,128:16384:c,64:16384
for r in 1 2; do
  order="128 $STEP"; [ $r = 2 ] && order="$STEP 128"
  for k in $order; do
    cp /tmp/k$k.so sageattention/_C_sm90.abi3.so
    timeout 60 python3 bench/sm90_pv16_breakdown.py --shapes $shapes 2>&1 | grep pv16 | sed "s/^/[step $k round $r] /" \
      | tee -a "$log"
  done
done
cp /tmp/k128.so sageattention/_C_sm90.abi3.so
timeout 90 python3 bench/mma_accuracy.py --fp64-only 2>&1 | grep -i "fp64\|rel L1\|---\|16-bit\|sageattn\|fp16-pv per_thread fp32" \
  | tee -a "$log"
cp /tmp/k$STEP.so sageattention/_C_sm90.abi3.so
echo "=== 16-bit PV tests, step $STEP" | tee -a "$log"
timeout 120 python3 -m pytest tests/gpu/test_sm90_pv16.py -q --tb=line -rs -p no:cacheprovider 2>&1 | tail -3 | tee -a "$log"
exit 0
