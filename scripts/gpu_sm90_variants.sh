#!/usr/bin/env bash
# GPU host: A/B of sm90 module builds carried in .variants/<label>/_C_sm90.abi3.so[.xz] (the rest of the
# extension modules in sageattention/). A build's optional `env` file holds NAME=VALUE words for its
# benchmark runs (a runtime path of the same module).
#   usage: bash scripts/gpu_sm90_variants.sh [quick | profile]      (logs to $OUT)
#   (default)  per build: oracle/fp64 tests, then bench/sm90_variant_ab.py.
#     E2E=1: bench/sm90_e2e_ab.py too (quantization ms, kernel-only and sageattn TOPS).
#     TESTS=all: the whole GPU test suite per build instead of the sm90 oracle/fp64 subset;
#     TESTS=sm90: every test of tests/gpu/test_sm90.py and test_quant_qkv_sm90.py.
#     ENV_AB="NAME=VALUE": with E2E=1, each build's end-to-end A/B again under that environment
#     (label suffix "-env"), e.g. to compare two runtime paths of one build.
#     ROUNDS=2: a second A/B round (benchmark only) over the builds in reverse order, so a drift of
#     the card's clocks during the run shows as a difference between the rounds.
#   quick      the schedule A/B: no tests; bench/sm90_e2e_ab.py --kernel-only per build and round,
#              ROUNDS rounds (default 3), every other round in reverse build order. SHAPES=D:N[:c],...
#              times other shapes than the script's default set.
#     BITWISE=1: first, bench/sm90_bitwise.py of every build against the first one.
#   power      the energy A/B: no tests; bench/power_probe.py --only kernel,sageattn per build and round
#              (clock, board power and limit reasons beside the TOPS), ROUNDS rounds (default 2), every
#              other round in reverse build order. SHAPES as for quick (default 128:8192,128:16384,64:16384).
#     BITWISE=1: first, bench/sm90_bitwise.py of every build against the first one.
#   profile    the default mode plus an ncu profile of one D128 N=8K launch per build
#              (bench/sm90_profile.py): the details page as text and the per-SASS-instruction page
#              (stall samples) as xz-compressed CSV.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/variants}
mode=${1:-default}
case $mode in default | quick | power | profile) ;; *) echo "usage: $0 [quick | power | profile]" >&2; exit 2 ;; esac
mkdir -p "$OUT"
log=$OUT/ab.log
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$log"
[ "$mode" = profile ] && ncu --version | tail -1 | tee -a "$log"
builds=$(ls -d .variants/*/)
for dir in $builds; do [ -f "$dir/_C_sm90.abi3.so" ] || xz -dk "$dir/_C_sm90.abi3.so.xz"; done
use() { cp "$1/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so; }  # install one build's module
build_env() { cat "$1/env" 2>/dev/null; }

if [ "$mode" = quick ] || [ "$mode" = power ]; then
  first=$(echo "$builds" | head -1)
  if [ "${BITWISE:-0}" = 1 ]; then
    use "$first"
    timeout 200 python3 bench/sm90_bitwise.py save /tmp/bitwise.pt 2>&1 | tail -1 | tee -a "$log"
    for dir in $builds; do
      use "$dir"
      timeout 200 python3 bench/sm90_bitwise.py check /tmp/bitwise.pt 2>&1 | tail -1 |
        sed "s|^|[$(basename "$dir")] bitwise: |" | tee -a "$log"
    done
  fi
  shapes=()
  [ -n "${SHAPES:-}" ] && shapes=(--shapes "$SHAPES")
  [ "$mode" = power ] && [ -z "${SHAPES:-}" ] && shapes=(--shapes 128:8192,128:16384,64:16384)
  rounds=${ROUNDS:-3}
  [ "$mode" = power ] && rounds=${ROUNDS:-2}
  for round in $(seq 1 "$rounds"); do
    order=$builds
    [ $((round % 2)) = 0 ] && order=$(echo "$builds" | sort -r)
    for dir in $order; do
      use "$dir"
      if [ "$mode" = power ]; then
        echo "[$(basename "$dir")] round $round" | tee -a "$log"
        env $(build_env "$dir") timeout 150 python3 bench/power_probe.py --only kernel,sageattn "${shapes[@]}" \
          2>&1 | grep -v -i warn | tee -a "$log"
      else
        env $(build_env "$dir") timeout 150 python3 bench/sm90_e2e_ab.py "$(basename "$dir")" --kernel-only "${shapes[@]}" \
          2>&1 | tail -2 | tee -a "$log"
      fi
    done
  done
  exit 0
fi

ab() {  # build dir, label: install the build's module, then its A/B benchmarks (E2E=1: also end to end)
  use "$1"
  env $(build_env "$1") timeout 120 python3 bench/sm90_variant_ab.py "$2" 2>&1 | tee -a "$log"
  [ "${E2E:-0}" = 1 ] && env $(build_env "$1") timeout 120 python3 bench/sm90_e2e_ab.py "$2" 2>&1 | tee -a "$log"
  if [ "${E2E:-0}" = 1 ] && [ -n "${ENV_AB:-}" ]; then
    env "$ENV_AB" timeout 120 python3 bench/sm90_e2e_ab.py "$2-env" 2>&1 | tee -a "$log"
  fi
}
for dir in $builds; do
  label=$(basename "$dir")
  use "$dir"
  if [ "${TESTS:-}" = all ]; then
    timeout 200 python3 -m pytest tests/gpu -m gpu -q -x -p no:cacheprovider 2>&1 | tail -1 | sed "s/^/[$label] tests: /" | tee -a "$log"
  elif [ "${TESTS:-}" = sm90 ]; then
    timeout 200 python3 -m pytest tests/gpu/test_sm90.py tests/gpu/test_quant_qkv_sm90.py -m gpu -q -x -p no:cacheprovider \
      2>&1 | tail -3 | sed "s/^/[$label] tests: /" | tee -a "$log"
  else
    timeout 200 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x -p no:cacheprovider \
      -k "oracle or fp64 or without_keys or faster or persistent or one_cta" 2>&1 | tail -1 | sed "s/^/[$label] tests: /" | tee -a "$log"
  fi
  ab "$dir" "$label"
  [ "$mode" = profile ] || continue
  timeout 150 ncu -k regex:attn_fwd -s 1 -c 1 --set full --import-source no -o "/tmp/rep_$label" \
    python3 bench/sm90_profile.py > "/tmp/ncu_$label.log" 2>&1 || tail -5 "/tmp/ncu_$label.log"
  ncu -i "/tmp/rep_$label.ncu-rep" --page details > "$OUT/ncu_${label}_details.txt" 2>&1
  ncu -i "/tmp/rep_$label.ncu-rep" --page source --csv --print-source sass 2>&1 | xz -6 > "$OUT/ncu_${label}_sass.csv.xz"
done
if [ "${ROUNDS:-1}" = 2 ]; then
  for dir in $(echo "$builds" | sort -r); do ab "$dir" "$(basename "$dir")-r2"; done
fi
