#!/usr/bin/env bash
# GPU host: for each sm90 build in .variants/<label>/_C_sm90.abi3.so, the kernel-only A/B
# (bench/sm90_variant_ab.py) and an ncu profile of one D128 N=8K launch: the details page as text and
# the per-SASS-instruction page (stall samples) as CSV.   usage: bash scripts/gpu_sm90_profile.sh
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-profile}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$OUT/ab.log"
ncu --version | tail -1 | tee -a "$OUT/ab.log"
for dir in .variants/*/; do
  label=$(basename "$dir")
  cp "$dir/_C_sm90.abi3.so" sageattention/_C_sm90.abi3.so
  timeout 100 python3 bench/sm90_variant_ab.py "$label" 2>&1 | tee -a "$OUT/ab.log"
  timeout 150 ncu -k regex:attn_fwd -s 1 -c 1 --set full --import-source no -o "/tmp/rep_$label" \
    python3 bench/sm90_profile.py > "/tmp/ncu_$label.log" 2>&1 || tail -5 "/tmp/ncu_$label.log"
  ncu -i "/tmp/rep_$label.ncu-rep" --page details > "$OUT/ncu_${label}_details.txt" 2>&1
  ncu -i "/tmp/rep_$label.ncu-rep" --page source --csv --print-source sass 2>&1 | xz -6 > "$OUT/ncu_${label}_sass.csv.xz"
done
