#!/usr/bin/env bash
# Device script for the mma.sync kernels: build (timed, .so sizes), GPU tests, accuracy table,
# sanitizer sweep and benchmark. Usage: scripts/gpu_mma.sh STEP... (build test acc sanitize bench)
# Env: BENCH_ARGS (extra args for python -m sageattention.bench), PYTEST_ARGS, OUT (results dir).
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_mma_out}
mkdir -p "$OUT"
for step in "$@"; do
  case "$step" in
    build)
      start=$(date +%s)
      TORCH_CUDA_ARCH_LIST=${ARCHS:-9.0} SAGEATTENTION_FAMILIES=core,mma_fp16,mma_fp8 MAX_JOBS=${MAX_JOBS:-16} \
        NVCC_THREADS=2 python3 setup.py build_ext --inplace > "$OUT/build_full.log" 2>&1
      rc=$?
      { echo "build rc=$rc in $(( $(date +%s) - start )) s (archs ${ARCHS:-9.0})"; ls -l sageattention/*.so;
        grep -E "ptxas warning|error:" "$OUT/build_full.log" | sed 's/.*function .\(_ZN[^ ]*\)./\1/' | sort | uniq -c | head -40; } | tee "$OUT/build.log"
      [ $rc -eq 0 ] || { tail -40 "$OUT/build_full.log"; exit $rc; }
      ;;
    test)
      python3 -m pytest tests/gpu -m gpu -k mma -q -rfE -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 | tee "$OUT/test.log" | tail -60
      ;;
    acc)
      python3 bench/mma_accuracy.py 2>&1 | tee "$OUT/accuracy.md"
      ;;
    sanitize)
      compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 | tee "$OUT/sanitizer.log" | tail -15
      ;;
    bench)
      python3 -m sageattention.bench --out "$OUT" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log" | tail -70
      ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
