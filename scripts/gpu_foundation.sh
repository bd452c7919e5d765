#!/usr/bin/env bash
# Device-side check of the foundation: build core for sm_90a there, run the quantization GPU tests.
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$OUT/device.txt"
python3 -c "import torch,sys;print(torch.__version__, torch.version.cuda, sys.version)" | tee -a "$OUT/device.txt"
TORCH_CUDA_ARCH_LIST=9.0 SAGEATTENTION_FAMILIES=core MAX_JOBS=16 python3 setup.py build_ext --inplace > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
python3 -m pytest tests/gpu/test_quant.py -m gpu -q -x 2>&1 | tee "$OUT/test_quant.log"
