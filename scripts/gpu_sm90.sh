#!/usr/bin/env bash
# Device-side run for the sm90 kernel: build core+sm90 for sm_90a, GPU tests, memcheck, benchmark.
# Usage (device tool): bash scripts/gpu_sm90.sh [quick|profile]
#   quick: 5 headline shapes; profile: also ncu sections of one D128 N=8K launch and a ping-pong-off
#   bench (SAGEATTENTION_SM90_PINGPONG=0); no argument: the full shape list.
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/device.txt"
TORCH_CUDA_ARCH_LIST=9.0 SAGEATTENTION_FAMILIES=core,sm90 MAX_JOBS=16 python3 setup.py build_ext --inplace \
  > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
if [ "$1" = profile ]; then
  timeout 150 ncu -k regex:attn_fwd -s 1 -c 1 --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis --section SourceCounters \
    --metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,smsp__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active \
    python3 bench/sm90_profile.py > "$OUT/ncu.txt" 2>&1; grep -E "Duration|Throughput|gmma|pipe_xu|Issued|Stall|Warp Cycles|Eligible|No Eligible|L2" "$OUT/ncu.txt" | head -40
  SAGEATTENTION_SM90_PINGPONG=0 timeout 100 python3 bench/sm90_bench.py --quick --out "$OUT/bench_nopp.json" 2>&1 | grep -E "^D" | sed 's/^/[no ping-pong] /'
fi
timeout 200 python3 -m pytest tests/gpu/test_sm90.py -m gpu -q -x 2>&1 | tail -25 | tee "$OUT/test.log"
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 1 python3 -c "
import torch, math
from sageattention.kernels import sm90
for d, c, n in [(128, True, 300), (64, False, 200)]:
    q, k, v = (torch.randn(1, 2, n, d, device='cuda', dtype=torch.float16) for _ in range(3))
    o = sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout='HND', is_causal=c, qk_quant_gran='per_thread',
        sm_scale=1/math.sqrt(d), pv_accum_dtype='fp32', smooth_k=True, smooth_v=False, return_lse=True)
torch.cuda.synchronize(); print('memcheck run ok')
" 2>&1 | tail -6 | tee "$OUT/memcheck.log"
timeout 240 python3 bench/sm90_bench.py --out "$OUT/sm90_bench.json" $([ -n "$1" ] && echo --quick) 2>&1 | tee "$OUT/bench.log"
