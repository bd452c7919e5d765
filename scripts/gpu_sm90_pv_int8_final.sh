#!/usr/bin/env bash
# GPU host (forty-third session, short lease): the INT8-PV kernel's adopted form, the essentials in ~3 min: its tests,
# accuracy against float64 at the issues' shape and on sharper rows, D128 end to end beside `sageattn` and cuDNN,
# memcheck (--quick).
# Modules: the main-job wheel's (.wheelhouse: dev466 and later hold the adopted form), or AB's _C_sm90 over them as in
# scripts/gpu_sm90_pv_int8.sh. TESTS_ONLY=1 stops after the accuracy table.
# usage: [AB=.variants_int8/ab_C_sm90.abi3.so.xz] [TESTS_ONLY=1] bash scripts/gpu_sm90_pv_int8_final.sh
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv-int8-final}
mkdir -p "$OUT"
log=$OUT/sm90_pv_int8_final.log
source scripts/ab_modules.sh
if [ -n "$AB" ]; then ab_modules "$AB" "$log" || exit; else wheel_modules "$log" || exit; fi
echo "=== INT8-PV tests" | tee -a "$log"
timeout 100 python3 -m pytest tests/gpu/test_sm90_pv_int8.py tests/gpu/test_compile_gpu.py -k int8 -q --maxfail=30 \
  --tb=short -p no:cacheprovider > "$OUT/int8_tests_full.log" 2>&1  # every failure's assertion, beside the summary
grep -E "^E  |passed|failed|FAILED" "$OUT/int8_tests_full.log" | grep -v "Warning:" | tail -25 | tee -a "$log"
echo "=== accuracy vs float64 (B4 H32 N4096; randn, offset K, Q x 2 and x 3: sharper rows)" | tee -a "$log"
timeout 90 python3 bench/mma_accuracy.py --fp64-only --q-scales 2,3 2>&1 | grep -E "^\||^#" | grep -v -- "-pv " | tee -a "$log"
[ "${TESTS_ONLY:-0}" = 1 ] && exit 0
echo "=== bench D128" | tee -a "$log"
timeout 80 python3 -m sageattention.bench --seqlens 4096,8192,16384 --headdims 128 --causal 0,1 \
  --backends sageattn,sage_int8_sm90,sdpa_cudnn --rounds 2 --warmup-ms 50 --rep-ms 150 --out "$OUT" \
  --name sm90_pv_int8_final 2>&1 | grep -v -i warn | grep "|" | tee -a "$log"
timeout 40 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py --quick 2>&1 \
  | tail -2 | sed "s/^/memcheck sm90_sanitize_sweep --quick: /" | tee -a "$log"
exit 0
