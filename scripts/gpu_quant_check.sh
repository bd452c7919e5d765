#!/usr/bin/env bash
# GPU host: quantization kernels of the working tree (extension modules carried in sageattention/):
# all GPU tests, memcheck of the quantization ops on odd shapes, memcheck / racecheck / synccheck of
# the single-pass sm90 quantizer (quant_qkv_sm90: cross-CTA rendezvous, shared-memory transpose),
# bandwidth (bench/quant_bench.py) and the sm90 quick benchmark (fused vs separate passes, e2e).
# usage: bash scripts/gpu_quant_check.sh      (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/quant-check}
mkdir -p "$OUT"
timeout 300 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -4
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python3 -c "
import torch
from sageattention import quant
from sageattention._layout import GroupSpec
for spec in (GroupSpec(16, 8, 1), GroupSpec(32, 8, 1), GroupSpec(16), GroupSpec(128, 8, 2), GroupSpec(64)):
    for n, d, dp in ((1, 40, 64), (17, 64, 64), (1000, 128, 128), (333, 256, 256)):
        x = torch.randn(2, 3, n, d, device='cuda', dtype=torch.float16)
        mean, amax = quant.channel_stats(x, 'HND', False)
        quant.quant_int8(x, 'HND', spec, dp, 128, mean)
        quant.quant_v_fp8(x, 'HND', 128, dp)
torch.cuda.synchronize(); print('quantization memcheck sweep done')
" 2>&1 | tail -2 | tee "$OUT/memcheck.log"
for tool in memcheck racecheck synccheck; do
  timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 python3 bench/quant_sanitize_sweep.py --quick 2>&1 \
    | tail -2 | sed "s/^/[$tool] /" | tee -a "$OUT/memcheck.log"
done
timeout 60 python3 bench/quant_bench.py 2>&1 | tee "$OUT/quant_bench.log"
timeout 200 python3 bench/sm90_bench.py --quick --out "$OUT/sm90_bench.json" 2>&1 | tee "$OUT/sm90_bench.log"
