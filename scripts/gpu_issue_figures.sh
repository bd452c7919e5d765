#!/usr/bin/env bash
# GPU host: the open issues' speed figures with the tree's code, every backend in one process (python -m
# sageattention.bench, two rounds in both orders): issue #4's sm90 shapes and issue #3's mma.sync kernels at D 64/128,
# N 4K-16K, causal and not, beside SDPA cuDNN and flash and the sm90 kernel's INT8-PV and 16-bit PV forms; D=256
# apart. On an H200 it also measures the short-KV regions' edges and grid (sageattention/_short_kv.py was drawn on
# H100s only).
# Carry .wheelhouse (one main-job wheel: its modules are unpacked into the checkout; the Python is the tree's), and
# AB (a module built off the device, e.g. .variants_x/ab_C_sm90.abi3.so.xz, placed over the wheel's as ab_modules does)
# when the tree's code of that module is newer than the wheel's.
# usage: SESSION=s39 [AB=...] bash scripts/gpu_issue_figures.sh   (results named issues_<h100|h200|gpu>_<SESSION>, to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/issue-figures}
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | grep -oiE "H100|H200" | head -1)
NAME=issues_$(echo "${card:-gpu}" | tr A-Z a-z)_${SESSION:-run}
mkdir -p "$OUT"
log=$OUT/$NAME.log
source scripts/ab_modules.sh
if [ -n "${AB:-}" ]; then ab_modules "$AB" "$log" || exit; else wheel_modules "$log" || exit; fi
timing="--rounds 2 --warmup-ms 50 --rep-ms 200"
main="sageattn,sage_fp8_sm90_fp32_kernel,sage_int8_sm90,sdpa_cudnn,sdpa_flash,sage_fp16_cuda,sage_fp16_cuda_kernel"
main="$main,sage_fp8_cuda,sage_fp8_cuda_kernel,sage_fp16_sm90"
timeout 320 python3 -m sageattention.bench --seqlens 4096,8192,16384 --headdims 64,128 --causal 0,1 \
  --backends "$main" $timing --out "$OUT" --name "$NAME" 2>&1 | grep -v -i warn | tail -60 | tee -a "$log"
timeout 150 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 256 --causal 0,1 \
  --backends sageattn,sage_fp8_sm90_fp32_kernel,sage_int8_sm90,sage_fp16_sm90,sdpa_cudnn,sdpa_flash,sage_fp16_cuda $timing --out "$OUT" --name "${NAME}_d256" \
  2>&1 | grep -v -i warn | tail -20 | tee -a "$log"
if [ "$card" = H200 ]; then
  route="--layouts HND --rounds 2 --warmup-ms 20 --rep-ms 60"
  timeout 170 python3 bench/short_kv_route.py --out "$OUT/short_kv_edges_${NAME}" --edges --dtypes float16 $route \
    2>&1 | grep -v -i warn | tee -a "$log"
  timeout 120 python3 bench/short_kv_route.py --out "$OUT/short_kv_grid_${NAME}" --grid $route \
    2>&1 | grep -v -i warn | tee -a "$log"
fi
exit 0
