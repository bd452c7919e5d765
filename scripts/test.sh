#!/usr/bin/env bash
# The README's test command: install what the tests need, build the extension in place for the
# local toolkit (one arch by default, to keep CPU-only machines fast), run pytest.
# GPU tests (marker `gpu`) skip with a reason on machines without CUDA.
#   TORCH_CUDA_ARCH_LIST  archs to build (default 9.0 = sm_90a, what CI checks)
#   PYTEST_ARGS           extra pytest arguments (e.g. "-m gpu")
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# torch first, pinned to the build that this machine kind has on local disk (CUDA 13.0 wheel).
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install -q "torch==2.14.1"
fi
"$PY" -m pip install -q "setuptools>=77" wheel ninja numpy pytest packaging abi3audit "nvidia-cuda-cuobjdump>=13.2"

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  start=$(date +%s)
  TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-2}" \
    "$PY" setup.py build_ext --inplace > build_ext.log 2>&1 || { tail -60 build_ext.log; exit 1; }
  echo "extension built in $(( $(date +%s) - start )) s (log: build_ext.log)"
  export SAGEATTENTION_REQUIRE_BUILD=1
fi

set +e
# shellcheck disable=SC2086
"$PY" -m pytest tests ${PYTEST_ARGS:-} -ra
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$rc"
