#!/usr/bin/env bash
# GPU host: quick schedule A/B of sm90 module builds carried in .variants/<label>/_C_sm90.abi3.so.xz
# (the rest of the extension modules in sageattention/): bench/sm90_e2e_ab.py --kernel-only per build, ROUNDS
# rounds (default 3) alternating the build order; with BITWISE=1, also bench/sm90_bitwise.py of every
# build against the first one. A build's optional `env` file holds NAME=VALUE words for its runs. Logs to $OUT/schedule_ab.log.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/variants}
mkdir -p "$OUT"
log=$OUT/schedule_ab.log
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$log"
builds=$(ls -d .variants/*/)
for dir in $builds; do [ -f "$dir/_C_sm90.abi3.so" ] || xz -dk "$dir/_C_sm90.abi3.so.xz"; done
first=$(echo "$builds" | head -1)
if [ "${BITWISE:-0}" = 1 ]; then
  cp "$first/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
  timeout 200 python3 bench/sm90_bitwise.py save /tmp/bitwise.pt 2>&1 | tail -1 | tee -a "$log"
  for dir in $builds; do
    cp "$dir/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
    timeout 200 python3 bench/sm90_bitwise.py check /tmp/bitwise.pt 2>&1 | tail -1 | sed "s|^|[$(basename "$dir")] bitwise: |" | tee -a "$log"
  done
fi
for round in $(seq 1 "${ROUNDS:-3}"); do
  order=$builds
  [ $((round % 2)) = 0 ] && order=$(echo "$builds" | sort -r)
  for dir in $order; do
    cp "$dir/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
    # A build's optional `env` file holds NAME=VALUE words for its runs (a runtime path of the same module).
    env $(cat "$dir/env" 2>/dev/null) timeout 150 python3 bench/sm90_e2e_ab.py "$(basename "$dir")" --kernel-only 2>&1 | tail -2 | tee -a "$log"
  done
done
