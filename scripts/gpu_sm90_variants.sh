#!/usr/bin/env bash
# GPU host: A/B of sm90 module builds carried in .variants/<label>/_C_sm90.abi3.so (the rest of the
# extension modules in sageattention/): oracle/fp64 tests and bench/sm90_variant_ab.py per build;
# with `profile`, also an ncu profile of one D128 N=8K launch per build (bench/sm90_profile.py): the
# details page as text and the per-SASS-instruction page (stall samples) as xz-compressed CSV.
#   usage: bash scripts/gpu_sm90_variants.sh [profile]      (logs to $OUT)
#   E2E=1: bench/sm90_e2e_ab.py too (quantization ms, kernel-only and sageattn TOPS).
#   TESTS=all: the whole GPU test suite per build instead of the sm90 oracle/fp64 subset;
#   TESTS=sm90: every test of tests/gpu/test_sm90.py and test_quant_qkv_sm90.py.
#   ENV_AB="NAME=VALUE": with E2E=1, each build's end-to-end A/B again under that environment
#   (label suffix "-env"), e.g. to compare two runtime paths of one build.
#   ROUNDS=2: a second A/B round (benchmark only) over the builds in reverse order, so a drift of
#   the card's clocks during the run shows as a difference between the rounds.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/variants}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$OUT/ab.log"
[ "$1" = profile ] && ncu --version | tail -1 | tee -a "$OUT/ab.log"
ab() {  # build dir, label: install the build's module, then its A/B benchmarks (E2E=1: also end to end)
  cp "$1/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
  timeout 120 python3 bench/sm90_variant_ab.py "$2" 2>&1 | tee -a "$OUT/ab.log"
  [ "${E2E:-0}" = 1 ] && timeout 120 python3 bench/sm90_e2e_ab.py "$2" 2>&1 | tee -a "$OUT/ab.log"
  if [ "${E2E:-0}" = 1 ] && [ -n "${ENV_AB:-}" ]; then
    env "$ENV_AB" timeout 120 python3 bench/sm90_e2e_ab.py "$2-env" 2>&1 | tee -a "$OUT/ab.log"
  fi
}
for dir in .variants/*/; do
  label=$(basename "$dir")
  [ -f "$dir/_C_sm90.abi3.so" ] || xz -dk "$dir/_C_sm90.abi3.so.xz"
  cp "$dir/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
  if [ "${TESTS:-}" = all ]; then
    timeout 200 python3 -m pytest tests/gpu -m gpu -q -x -p no:cacheprovider 2>&1 | tail -1 | sed "s/^/[$label] tests: /" | tee -a "$OUT/ab.log"
  elif [ "${TESTS:-}" = sm90 ]; then
    timeout 200 python3 -m pytest tests/gpu/test_sm90.py tests/gpu/test_quant_qkv_sm90.py -m gpu -q -x -p no:cacheprovider \
      2>&1 | tail -3 | sed "s/^/[$label] tests: /" | tee -a "$OUT/ab.log"
  else
    timeout 200 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x -p no:cacheprovider \
      -k "oracle or fp64 or without_keys or faster or persistent or one_cta" 2>&1 | tail -1 | sed "s/^/[$label] tests: /" | tee -a "$OUT/ab.log"
  fi
  ab "$dir" "$label"
  [ "$1" = profile ] || continue
  timeout 150 ncu -k regex:attn_fwd -s 1 -c 1 --set full --import-source no -o "/tmp/rep_$label" \
    python3 bench/sm90_profile.py > "/tmp/ncu_$label.log" 2>&1 || tail -5 "/tmp/ncu_$label.log"
  ncu -i "/tmp/rep_$label.ncu-rep" --page details > "$OUT/ncu_${label}_details.txt" 2>&1
  ncu -i "/tmp/rep_$label.ncu-rep" --page source --csv --print-source sass 2>&1 | xz -6 > "$OUT/ncu_${label}_sass.csv.xz"
done
if [ "${ROUNDS:-1}" = 2 ]; then
  for dir in $(ls -d .variants/*/ | sort -r); do ab "$dir" "$(basename "$dir")-r2"; done
fi
