#!/usr/bin/env bash
# GPU host check of a wheel built elsewhere (the main job's repaired wheel, carried in DIR):
#   1. `python -m ci test-wheel W -m gpu` — exactly what release.yml's GPU legs run;
#   2. memcheck of the sm90 kernel (bench/sm90_sanitize_sweep.py: both accumulations, the multicast kernel,
#      default grid and a few CTAs or one cluster walking many work items);
#   3. compute-sanitizer over every mma.sync variant, over the fused sm90 quantization pass, over the one-op
#      varlen paths (bench/varlen_sanitize_sweep.py) and over the core quant_int8 / channel_stats kernels;
#   4. quantization bandwidth, the benchmark sweep (python -m sageattention.bench: every backend,
#      N 1K-32K, D 64/128, causal and not; table, JSON, PNG), the sm90 quick benchmark
#      (accuracy, both accumulations, kernel-only and end to end) and real models' shapes
#      (python -m sageattention.bench_models: every SDPA backend, float64 accuracy).
# usage: bash scripts/gpu_wheel_check.sh DIR [skip-bench|bench-only]   (logs to $OUT; SWEEP_NAME names the sweep files)
#   SANITIZE=sm90: only the sm90 attention memcheck (when the mma.sync and quantization modules did not change),
#   SANITIZE=none: none;
#   RACECHECK=1: also racecheck of the fused sm90 quantization pass, of the sm90 attention kernels (--quick sweeps), of
#   the core quantization kernels and of the mma families' paired quantization launches.
set -o pipefail
export PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
REPO=$(pwd)
OUT=${OUT:-/tmp/wheel-check}
mkdir -p "$OUT"
W=$(ls "$REPO/${1:?usage: gpu_wheel_check.sh DIR}"/sageattention-*.whl) || exit 2
if [ "$(echo "$W" | wc -l)" -gt 1 ]; then  # check the wheel meant, never a guess among several builds
  echo "more than one wheel in $1: $(echo $W); keep only the one to check" >&2
  exit 2
fi
SANITIZE=${SANITIZE:-all}
case $SANITIZE in all | sm90 | none) ;; *) echo "SANITIZE must be all, sm90 or none, got '$SANITIZE'" >&2; exit 2 ;; esac
case ${2:-} in "" | skip-bench | bench-only) ;; *) echo "second argument must be skip-bench or bench-only, got '$2'" >&2; exit 2 ;; esac
# bench-only writes its header to its own log, so a run after a skip-bench run keeps the test results.
header_log=$OUT/test_wheel_gpu.log
[ "$2" = bench-only ] && header_log=$OUT/bench_env.log
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  basename "$W"; } 2>&1 | tee "$header_log"
[ "$2" = bench-only ] || timeout 240 python3 -m ci test-wheel "$W" -m gpu --system-site-packages -- -q -rs 2>&1 \
  | tee -a "$OUT/test_wheel_gpu.log" | tail -12
python3 -m pip install -q --no-deps --target /tmp/site "$W" || exit 1
rm -rf /tmp/pt && mkdir -p /tmp/pt && cp -r tests bench pyproject.toml /tmp/pt/ && cd /tmp/pt || exit 1
export PYTHONPATH=/tmp/site:/tmp/pt
python3 -m sageattention | tail -6
[ "$2" = bench-only ] && SANITIZE=none
[ "$SANITIZE" = none ] || timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py 2>&1 | tail -3 | tee "$OUT/memcheck.log"
if [ "$SANITIZE" = all ]; then
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 \
    | tail -3 | tee -a "$OUT/memcheck.log"
  SAGEATTENTION_MMA_PAIRED_QUANT=0 timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 \
    python3 bench/mma_sanitize_sweep.py 2>&1 | tail -3 | sed "s/^/separate quantization launches: /" | tee -a "$OUT/memcheck.log"
  timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/quant_sanitize_sweep.py 2>&1 \
    | tail -3 | tee -a "$OUT/memcheck.log"
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/varlen_sanitize_sweep.py 2>&1 \
    | tail -3 | tee -a "$OUT/memcheck.log"
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/core_quant_sanitize_sweep.py 2>&1 \
    | tail -3 | tee -a "$OUT/memcheck.log"
else
  echo "SANITIZE=$SANITIZE: mma.sync and quantization sweeps skipped$([ "$SANITIZE" = none ] && echo ', sm90 too')" \
    | tee -a "$OUT/memcheck.log"
fi
if [ "${RACECHECK:-0}" = 1 ]; then  # racecheck is slow: the quick sweep, one call per path
  timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 python3 bench/quant_sanitize_sweep.py --quick 2>&1 \
    | tail -4 | tee -a "$OUT/memcheck.log"
  timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py --quick 2>&1 \
    | tail -4 | tee -a "$OUT/memcheck.log"
  timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 python3 bench/core_quant_sanitize_sweep.py 2>&1 \
    | tail -4 | tee -a "$OUT/memcheck.log"
  SAGEATTENTION_MMA_PAIRED_QUANT=1 timeout 300 compute-sanitizer --tool racecheck --error-exitcode 9 \
    python3 bench/mma_sanitize_sweep.py 2>&1 | tail -4 | sed 's/^/paired quantization: /' | tee -a "$OUT/memcheck.log"
fi
[ "$2" = skip-bench ] && exit 0
timeout 60 python3 bench/quant_bench.py 2>&1 | tee "$OUT/sweep.log"
timeout 280 python3 -m sageattention.bench --warmup-ms 50 --rep-ms 200 --out "$OUT" --name "${SWEEP_NAME:-sweep}" 2>&1 \
  | grep -vE "^\s*$" >> "$OUT/sweep.log"; tail -12 "$OUT/sweep.log"
timeout 150 python3 bench/sm90_bench.py --quick --out "$OUT/sm90_bench.json" 2>&1 | tee -a "$OUT/sweep.log" | grep -E "^D|accuracy"
timeout 240 python3 -m sageattention.bench_models --out "$OUT" --name "${SWEEP_NAME:-sweep}_models" 2>&1 \
  | grep -E "^\|" | tee "$OUT/models.log"
