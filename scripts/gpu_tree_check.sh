#!/usr/bin/env bash
# GPU host check of the working tree with extension modules built elsewhere and carried in
# sageattention/ (build here: TORCH_CUDA_ARCH_LIST=9.0 python3 setup.py build_ext --inplace):
#   1. all GPU tests;  2. quantization bandwidth, A/B against a reference wheel in DIR (optional);
#   3. the benchmark sweep (python -m sageattention.bench) into $OUT, unless SWEEP=0;
#   4. memcheck sweeps (mma.sync variants, sm90 both accumulations, packed sequences) and memcheck / racecheck of the
#      core quantization ops.
# usage: [SWEEP=0] bash scripts/gpu_tree_check.sh [REFERENCE_WHEEL_DIR]      (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/tree-check}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  python3 -m sageattention | grep -A5 '"kernels"'; } 2>&1 | tee "$OUT/env.txt"
timeout 300 python3 -m pytest tests/gpu -m gpu -q -rs -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -8
if [ -n "$1" ]; then
  python3 -m pip install -q --no-deps --no-index --target /tmp/ref "$1"/sageattention-*.whl && mkdir -p /tmp/refbench \
    && cp bench/quant_bench.py /tmp/refbench/ \
    && (cd /tmp/refbench && PYTHONPATH=/tmp/ref timeout 60 python3 quant_bench.py) 2>&1 | sed 's/^/[reference] /' | tee "$OUT/quant_ab.log"
fi
timeout 60 python3 bench/quant_bench.py 2>&1 | sed 's/^/[tree] /' | tee -a "$OUT/quant_ab.log"
if [ "${SWEEP:-1}" != 0 ]; then
  timeout 280 python3 -m sageattention.bench --warmup-ms 50 --rep-ms 200 --out "$OUT" --name sweep_h100 2>&1 \
    | tee "$OUT/bench.log" | grep -vE "^\s*$" | tail -40
fi
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 \
  | tail -2 | tee "$OUT/memcheck.log"
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/sm90_sanitize_sweep.py 2>&1 | tail -2 | tee -a "$OUT/memcheck.log"
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/varlen_sanitize_sweep.py 2>&1 \
  | tail -2 | tee -a "$OUT/memcheck.log"
for tool in memcheck racecheck; do
  timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 python3 bench/core_quant_sanitize_sweep.py 2>&1 \
    | tail -2 | sed "s/^/$tool: /" | tee -a "$OUT/memcheck.log"
done
