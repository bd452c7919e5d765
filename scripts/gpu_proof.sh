#!/usr/bin/env bash
# Portability proof on the GPU host: install a wheel built elsewhere (e.g. the CPU machine's Python
# 3.11 / torch 2.14.1 build) without rebuilding, and run the GPU tests against the installed copy.
#   usage: bash scripts/gpu_proof.sh DIR_WITH_WHEEL   (writes logs to $OUT when set)
set -o pipefail
export PYTHONUNBUFFERED=1
WHEELDIR=${1:?usage: gpu_proof.sh DIR_WITH_WHEEL}
OUT=${OUT:-/tmp/proof-out}
mkdir -p "$OUT"
REPO=$(pwd)
python3 -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELDIR"/sageattention-*.whl || exit 1
# Run from a copy of the tests so `import sageattention` finds the installed wheel, not the checkout.
rm -rf /tmp/pt && mkdir -p /tmp/pt && cp -r "$REPO/tests" "$REPO/pyproject.toml" /tmp/pt/ && cd /tmp/pt || exit 1
export PYTHONPATH=/tmp/site:/tmp/pt
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  ls "$REPO/$WHEELDIR"/sageattention-*.whl 2>/dev/null || ls "$WHEELDIR"/sageattention-*.whl
  python3 -m sageattention
} 2>&1 | tee "$OUT/proof_env.txt"
python3 -m pytest tests/gpu -m gpu -q -rs ${PYTEST_K:+-k "$PYTEST_K"} 2>&1 | tee "$OUT/proof_pytest.log" | tail -25
