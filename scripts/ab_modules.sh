# Sourced by the GPU device scripts that run on the main job's wheel (scripts/gpu_mma_*.sh that name it,
# scripts/gpu_short_kv_route.sh), from the checkout's root.
# wheel_modules LOG: the main-job wheel's modules (.wheelhouse, exactly one wheel) into sageattention/, then the run's
# header (date, GPU, driver, power limit, torch) as the first lines of LOG.
# ab_modules AB_XZ LOG: that, then the A/B build's module over its family's (AB_XZ, e.g.
# .variants_swz/ab_C_mma_fp16.abi3.so.xz -> sageattention/_C_mma_fp16.abi3.so).
# usage: wheel_modules LOG || exit;  ab_modules AB_XZ LOG || exit
wheel_modules() {
  local log=$1 wheels
  wheels=$(ls .wheelhouse/sageattention-*.whl 2>/dev/null)
  if [ -z "$wheels" ]; then
    echo "missing .wheelhouse/*.whl: build it as the calling script's header says" >&2
    return 2
  fi
  if [ "$(echo "$wheels" | wc -l)" -gt 1 ]; then  # the modules must be the tree's: never guess among builds
    echo "more than one wheel in .wheelhouse: $(echo $wheels); keep only the main job's latest" >&2
    return 2
  fi
  python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, '.') for n in z.namelist()
    if n.startswith('sageattention/_C') or n.endswith('_build_config.py')]" "$wheels" || return 1
  { date -u; nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; } 2>&1 | tee "$log"
  return 0  # the header is informative: a missing nvidia-smi does not stop the run
}

ab_modules() {
  local ab=$1 log=$2 module
  if [ ! -f "$ab" ]; then
    echo "missing $ab: build it as the calling script's header says" >&2
    return 2
  fi
  wheel_modules "$log" || return
  module=$(basename "$ab" .xz)
  xz -dc "$ab" > "sageattention/${module#ab}" || return 1
  return 0
}
