# Sourced by the mma.sync A/B device scripts (scripts/gpu_mma_*.sh that name it), run from the checkout's root:
# the main-job wheel's modules (.wheelhouse) into sageattention/, then the A/B build's module over its family's
# (AB_XZ, e.g. .variants_swz/ab_C_mma_fp16.abi3.so.xz -> sageattention/_C_mma_fp16.abi3.so), then the run's header
# (date, GPU, driver, power limit, torch) as the first lines of LOG.
# usage: ab_modules AB_XZ LOG || exit
ab_modules() {
  local ab=$1 log=$2 wheel wheels
  wheels=$(ls .wheelhouse/sageattention-*.whl 2>/dev/null)
  if [ -z "$wheels" ] || [ ! -f "$ab" ]; then
    echo "missing .wheelhouse/*.whl or $ab: build them as the calling script's header says" >&2
    return 2
  fi
  if [ "$(echo "$wheels" | wc -l)" -gt 1 ]; then  # the modules must be the tree's: never guess among builds
    echo "more than one wheel in .wheelhouse: $(echo $wheels); keep only the main job's latest" >&2
    return 2
  fi
  wheel=$wheels
  python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, '.') for n in z.namelist()
    if n.startswith('sageattention/_C') or n.endswith('_build_config.py')]" "$wheel" || return 1
  local module
  module=$(basename "$ab" .xz)
  xz -dc "$ab" > "sageattention/${module#ab}" || return 1
  { date -u; nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; } 2>&1 | tee "$log"
  return 0  # the header is informative: a missing nvidia-smi does not stop the run
}
