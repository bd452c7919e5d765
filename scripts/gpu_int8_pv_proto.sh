#!/usr/bin/env bash
# GPU host (forty-first session; measured twice, dropped: bench/NOTES.md, "An INT8-PV prototype"): the INT8-PV
# prototype against the FP16-PV and FP8-PV mma.sync kernels. .variants_int8/ab_C{,_mma_fp8}.abi3.so.xz are the tree
# with bench/patches/mma_int8_pv_proto.patch built with -DSAGE_PV_INT8_PROTO=1: their FP8 "fp32+fp32" kernels run u8 P
# (scaled per softmax sub-tile by its row max) against s8 V (per channel) with an integer accumulator per sub-tile,
# and their V quantization writes s8; every other FP8 accumulation of those modules is wrong (without the macro the
# patch leaves every kernel's SASS as it was). The two measured builds took 32-key sub-tiles (the patch's first form,
# commit 358548b) and 64-key ones (an uncommitted knob of the experiment); on today's tree the patch takes 64, as the
# FP8 kernels now do. Build on the CPU machine (the in-place modules are then the variant's: restore them from the wheel
# after, _build_config.py included):
#   git apply bench/patches/mma_int8_pv_proto.patch && NVCC_APPEND_FLAGS=-DSAGE_PV_INT8_PROTO=1 \
#     TORCH_CUDA_ARCH_LIST=9.0 SAGEATTENTION_FAMILIES=mma_fp8 SAGEATTENTION_VERSION=2.3.0 MAX_JOBS=2 \
#     python3 setup.py build_ext --inplace --build-temp build/int8pv
#   git apply -R bench/patches/mma_int8_pv_proto.patch
#   mkdir -p .variants_int8 && for m in _C _C_mma_fp8; do xz -c sageattention/$m.abi3.so \
#     > .variants_int8/ab$m.abi3.so.xz; done
# Carry .wheelhouse and .variants_int8 (VARIANTS names another such directory; TAG names the bench tables). Modules:
# tree, prototype, tree (SIDES), each one process of python -m sageattention.bench (kernel alone and end to end, FP16
# PV beside it), then the prototype's accuracy against float64 (its "fp8-pv ... fp32+fp32" rows; the other FP8 rows
# are meaningless there).
# usage: [SIDES="tree int8 tree"] [VARIANTS=.variants_int8] [TAG=] bash scripts/gpu_int8_pv_proto.sh   (to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/int8-pv}
mkdir -p "$OUT"
log=$OUT/int8_pv_proto.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
for m in _C _C_mma_fp8; do
  cp sageattention/$m.abi3.so /tmp/tree$m.abi3.so
  xz -dc ${VARIANTS:-.variants_int8}/ab$m.abi3.so.xz > /tmp/int8$m.abi3.so || exit
done
backends="sage_fp16_cuda_kernel,sage_fp8_cuda_kernel,sage_fp16_cuda,sage_fp8_cuda"
n=0
for side in ${SIDES:-tree int8 tree}; do
  for m in _C _C_mma_fp8; do cp /tmp/$side$m.abi3.so sageattention/$m.abi3.so; done
  n=$((n + 1))  # here, not inside the pipeline below, whose subshell would drop it
  echo "=== modules: $side" | tee -a "$log"
  timeout 150 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 64,128 --causal 0 --backends "$backends" \
    --rounds 2 --warmup-ms 50 --rep-ms 200 --out "$OUT" --name "int8pv${TAG}_${side}_$n" 2>&1 | grep -v -i warn \
    | tail -24 | tee -a "$log"
  if [ "$side" = int8 ]; then
    echo "=== prototype accuracy (fp8-pv fp32+fp32 rows = INT8 PV)" | tee -a "$log"
    timeout 120 python3 bench/mma_accuracy.py --fp64-only --q-scales 3 2>&1 | grep -v -i warn | tee -a "$log"
  fi
done
for m in _C _C_mma_fp8; do cp /tmp/tree$m.abi3.so sageattention/$m.abi3.so; done
exit 0
