#!/usr/bin/env bash
# GPU host, working tree with carried extension modules: sm90 persistent grid correctness (all sm90
# tests, memcheck with few CTAs), persistent vs one-CTA-per-item A/B, then all GPU tests.   usage: bash scripts/gpu_persistent_check.sh   (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/persistent-check}
mkdir -p "$OUT"
timeout 150 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x -p no:cacheprovider 2>&1 | tee "$OUT/tests.log" | tail -3
SAGEATTENTION_SM90_CTAS=3 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python3 -c "
import math, torch
from sageattention.kernels import sm90
for d, c, qo, kv in [(128, True, 700, 300), (64, False, 600, 600), (128, False, 1000, 257), (64, True, 300, 900)]:
    q = torch.randn(2, 4, qo, d, device='cuda', dtype=torch.float16)
    k, v = (torch.randn(2, 2, kv, d, device='cuda', dtype=torch.float16) for _ in range(2))
    for acc in ('fp32', 'fp32+fp32'):
        sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout='HND', is_causal=c, qk_quant_gran='per_thread',
            sm_scale=1 / math.sqrt(d), pv_accum_dtype=acc, smooth_k=True, smooth_v=False, return_lse=True)
torch.cuda.synchronize(); print('memcheck (3 CTAs, many items each) done')
" 2>&1 | tail -2 | tee "$OUT/memcheck.log"
for round in 1 2; do
  timeout 100 python3 bench/sm90_variant_ab.py "persistent-$round" 2>&1 | grep -v accuracy | tee -a "$OUT/ab.log"
  SAGEATTENTION_SM90_PERSISTENT=0 timeout 100 python3 bench/sm90_variant_ab.py "per-item-$round" 2>&1 | grep -v accuracy | tee -a "$OUT/ab.log"
done
timeout 150 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider 2>&1 | tee -a "$OUT/tests.log" | tail -3
