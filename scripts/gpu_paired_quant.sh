#!/usr/bin/env bash
# Device script for the mma families' paired quantization launches (SAGEATTENTION_MMA_PAIRED_QUANT=1,
# csrc/common/mma/quant_pair_kernels.cuh), on modules built on the CPU machine and carried in sageattention/
# (_C, _C_mma_fp16, _C_mma_fp8, _build_config.py), so that the lease spends nothing on a build:
#   1. the GPU tests of the fused mma ops (every shape and flag test runs both launch plans; the paired test checks
#      bits and which kernels ran) and of the quantization kernels;
#   2. compute-sanitizer memcheck and racecheck of the mma sweep (bench/mma_sanitize_sweep.py) with the paired
#      launches;
#   3. bench/mma_quant_profile.py --ab-paired: both plans in alternation (timeline, CUDA-graph replay, kernel split);
#   4. for each build in $VARIANTS/LABEL/ (the two mma modules as .so.xz, e.g. rows128: built with
#      NVCC_APPEND_FLAGS=-DSAGE_STATS_ROWS_PER_SLICE=128): its paired test, then the same profile; the carried
#      modules are restored at the end.
# usage (repository root): OUT=dir [VARIANTS=.variants_quant] bash scripts/gpu_paired_quant.sh
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_paired_quant_out}
VARIANTS=${VARIANTS:-.variants_quant}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  python3 -m sageattention | tail -4; } 2>&1 | tee "$OUT/env.log"

timeout 300 python3 -m pytest -m gpu tests/gpu/test_mma_fused_op.py tests/gpu/test_quant.py -q -rs -p no:cacheprovider \
  2>&1 | tail -15 | tee "$OUT/tests.log"

for tool in memcheck racecheck; do
  SAGEATTENTION_MMA_PAIRED_QUANT=1 timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 \
    python3 bench/mma_sanitize_sweep.py 2>&1 | tail -3 | sed "s/^/$tool, paired: /" | tee -a "$OUT/sanitize.log"
done

timeout 200 python3 bench/mma_quant_profile.py --ab-paired 2>&1 | tee "$OUT/profile_base.log" | tail -30

restore_dir=$OUT/.carried
mkdir -p "$restore_dir"
cp sageattention/_C_mma_fp16.abi3.so sageattention/_C_mma_fp8.abi3.so "$restore_dir/"
restore() { cp "$restore_dir"/_C_mma_*.abi3.so sageattention/ && rm -rf "$restore_dir"; }
trap restore EXIT
for dir in "$VARIANTS"/*/; do
  [ -d "$dir" ] || continue
  label=$(basename "$dir")
  for fam in mma_fp16 mma_fp8; do
    xz -dc "$dir/_C_$fam.abi3.so.xz" > "sageattention/_C_$fam.abi3.so" || { echo "$label: no $fam module"; exit 1; }
  done
  echo "== $label" | tee -a "$OUT/tests.log"
  # fold-2048 counts the launches of 256-token slices (8 per head fold); other slice sizes move that edge.
  timeout 120 python3 -m pytest -m gpu tests/gpu/test_mma_fused_op.py -k "paired and not fold-2048" -q \
    -p no:cacheprovider 2>&1 \
    | tail -4 | tee -a "$OUT/tests.log"
  timeout 200 python3 bench/mma_quant_profile.py --ab-paired 2>&1 | tee "$OUT/profile_$label.log" | tail -30
done
