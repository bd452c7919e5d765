#!/usr/bin/env bash
# GPU host (forty-sixth session): the 16-bit PV kernel at head dim 256 (64-key steps), the tree's sm90 module over the
# main-job wheel's others. Correctness first, so that a short lease keeps it: its tests (the whole 16-bit PV file, D256
# included; the SASS check runs off the device), memcheck over the quick sanitizer sweep (every sm90 kernel form, the
# D256 16-bit PV one included); then the kernels in the call at D256 beside the e4m3 kernel
# (bench/sm90_pv16_breakdown.py, two rounds) and end to end in one process beside `sageattn`, the mma.sync FP16-PV
# kernel and cuDNN (python -m sageattention.bench).
# The module: $PREBUILT/tree.so.xz when carried (built off the device), else built here (~2.5 min).
# usage: [PREBUILT=.variants_x] bash scripts/gpu_sm90_pv16_d256.sh
#        (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv16-d256}
mkdir -p "$OUT"
log=$OUT/sm90_pv16_d256.log
source scripts/ab_modules.sh
wheel_modules "$log" || exit
VARIANTS="tree:-DSAGE_SM90_TREE_BUILD=1" build_sm90_variants "$log"
[ -f /tmp/mod_tree.so ] || { echo "no module for the tree" | tee -a "$log"; exit 1; }
cp /tmp/mod_tree.so sageattention/_C_sm90.abi3.so
echo "=== 16-bit PV tests" | tee -a "$log"
timeout 240 python3 -m pytest tests/gpu/test_sm90_pv16.py -q --maxfail=20 --tb=short -p no:cacheprovider \
  > "$OUT/pv16_tests_full.log" 2>&1
grep -E "^E  |passed|failed|FAILED" "$OUT/pv16_tests_full.log" | grep -v "Warning:" | tail -25 | tee -a "$log"
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py --quick 2>&1 \
  | tail -2 | sed "s/^/memcheck sm90_sanitize_sweep --quick: /" | tee -a "$log"
echo "=== kernels in the call, D256 (two rounds)" | tee -a "$log"
for r in 1 2; do
  timeout 60 python3 bench/sm90_pv16_breakdown.py --shapes 256:4096,256:16384,256:16384:c --calls e4m3,pv16 2>&1 \
    | grep -E "(e4m3|pv16)\]" | sed -E "s/^/[r$r] /; s/gap>[a-z_]+ -?[0-9.]+ +//g" | tee -a "$log"
done
echo "=== end to end, D256, one process" | tee -a "$log"
timeout 150 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 256 --causal 0,1 \
  --backends sageattn,sage_fp16_sm90,sage_fp16_cuda,sdpa_cudnn --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" \
  --name sm90_pv16_d256 2>&1 | grep "|" | tee -a "$log"
exit 0
