#!/usr/bin/env bash
# Device script: scripts/gpu_mma_variants.sh (each build's GPU tests, then kernel-only TOPS in one process per
# build, two rounds in reverse order) over builds of the mma modules made on the CPU machine and carried
# xz-compressed in $VARIANTS/LABEL/ (one _C_mma_fp16 or _C_mma_fp8 per label; the other modules, the in-tree build, in
# sageattention/), then, for each label not named base*, its family's varlen and fused-op tests, memcheck of the mma
# and varlen sweeps and racecheck of the mma sweep. Used for the D=64 A/Bs of bench/mma_notes.md ("Twenty-third
# session": builds with SAGE_MMA_D64_CTAS / SAGE_MMA_ROLL_QK / SAGE_MMA_Q_REGS, switches since removed).
# usage (repository root): OUT=dir VARIANTS=dir bash scripts/gpu_mma_variants_checked.sh [LABEL...]  (default: all)
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_mma_variants_checked_out}
VARIANTS=${VARIANTS:?set VARIANTS to a folder of LABEL/_C_mma_*.abi3.so.xz builds}
mkdir -p "$OUT"
labels=("$@")
[ ${#labels[@]} -eq 0 ] && labels=($(ls -d "$VARIANTS"/*/ | xargs -n1 basename))
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"; } 2>&1 \
  | tee "$OUT/env.log"

OUT=$OUT/ab VARIANTS=$VARIANTS bash scripts/gpu_mma_variants.sh "${labels[@]}"

for fam in mma_fp16 mma_fp8; do cp "sageattention/_C_$fam.abi3.so" "$OUT/.carried_$fam.so"; done
trap 'for fam in mma_fp16 mma_fp8; do cp "$OUT/.carried_$fam.so" "sageattention/_C_$fam.abi3.so" && rm -f "$OUT/.carried_$fam.so"; done' EXIT
for l in "${labels[@]}"; do
  case "$l" in base*) continue ;; esac
  if [ -f "$VARIANTS/$l/_C_mma_fp16.abi3.so.xz" ]; then fam=mma_fp16; sel="f16pv or fp16pv"
  elif [ -f "$VARIANTS/$l/_C_mma_fp8.abi3.so.xz" ]; then fam=mma_fp8; sel="f8pv or fp8pv"
  else echo "$l: no module"; continue; fi
  xz -dc "$VARIANTS/$l/_C_$fam.abi3.so.xz" > "sageattention/_C_$fam.abi3.so"
  echo "== $l ($fam)" | tee -a "$OUT/checks.log"
  timeout 150 python3 -m pytest -m gpu tests/gpu/test_varlen_mma.py tests/gpu/test_mma_fused_op.py -k "$sel" \
    -q -p no:cacheprovider 2>&1 | tail -2 | tee -a "$OUT/checks.log"
  for sweep in "memcheck bench/mma_sanitize_sweep.py" "memcheck bench/varlen_sanitize_sweep.py" \
               "racecheck bench/mma_sanitize_sweep.py"; do
    set -- $sweep
    timeout 240 compute-sanitizer --tool "$1" --error-exitcode 9 python3 "$2" 2>&1 | tail -2 \
      | sed "s|^|$l $1 $2: |" | tee -a "$OUT/checks.log"
  done
  cp "$OUT/.carried_$fam.so" "sageattention/_C_$fam.abi3.so"
done
