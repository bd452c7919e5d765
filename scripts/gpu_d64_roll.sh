#!/usr/bin/env bash
# Device script for the D=64 FP16-PV experiment of issue #3 (bench/mma_notes.md, "Twenty-third session"): builds
# of _C_mma_fp16 made on the CPU machine and carried xz-compressed in $VARIANTS/LABEL/ (the other modules, the
# in-tree build, in sageattention/), so the lease compiles nothing:
#   base   the default build (SASS identical to the in-tree module's);
#   ctas2  -DSAGE_MMA_D64_CTAS=2: the D=64 kernels budgeted for 2 CTAs per SM (the control for roll2);
#   roll2  -DSAGE_MMA_ROLL_QK=1 -DSAGE_MMA_D64_CTAS=2: the next tile's QK inside this tile's exponentials-and-PV
#          block (at 3 CTAs it spills 368 B, so only at 2).
# 1. scripts/gpu_mma_variants.sh over the builds: each build's fp16pv tests, then kernel-only TOPS in one process
#    per build, two rounds in reverse order (summary.txt);
# 2. for the builds other than base: the varlen and fused-op fp16 tests, memcheck of the mma and varlen sweeps and
#    racecheck of the mma sweep (K is copied a tile ahead of V in roll2: a stage reused too early is a race).
# usage (repository root): OUT=dir [VARIANTS=.variants_roll] bash scripts/gpu_d64_roll.sh [LABEL...]
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_d64_roll_out}
VARIANTS=${VARIANTS:-.variants_roll}
mkdir -p "$OUT"
labels=("$@")
[ ${#labels[@]} -eq 0 ] && labels=(base ctas2 roll2)
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"; } 2>&1 \
  | tee "$OUT/env.log"

OUT=$OUT/ab VARIANTS=$VARIANTS bash scripts/gpu_mma_variants.sh "${labels[@]}"

cp sageattention/_C_mma_fp16.abi3.so "$OUT/.carried_fp16.so"
trap 'cp "$OUT/.carried_fp16.so" sageattention/_C_mma_fp16.abi3.so && rm -f "$OUT/.carried_fp16.so"' EXIT
for l in "${labels[@]}"; do
  [ "$l" = base ] && continue
  xz -dc "$VARIANTS/$l/_C_mma_fp16.abi3.so.xz" > sageattention/_C_mma_fp16.abi3.so || { echo "$l: no module"; continue; }
  echo "== $l" | tee -a "$OUT/checks.log"
  timeout 150 python3 -m pytest -m gpu tests/gpu/test_varlen_mma.py tests/gpu/test_mma_fused_op.py -k "f16pv or fp16pv" \
    -q -p no:cacheprovider 2>&1 | tail -4 | tee -a "$OUT/checks.log"
  for sweep in "memcheck bench/mma_sanitize_sweep.py" "memcheck bench/varlen_sanitize_sweep.py" \
               "racecheck bench/mma_sanitize_sweep.py"; do
    set -- $sweep
    timeout 240 compute-sanitizer --tool "$1" --error-exitcode 9 python3 "$2" 2>&1 | tail -2 \
      | sed "s|^|$l $1 $2: |" | tee -a "$OUT/checks.log"
  done
done
