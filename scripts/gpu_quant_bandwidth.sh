#!/usr/bin/env bash
# Device script (~10 min on an H200 with every step; SANITIZE=0 and NCU_LABELS of three ~6 min): A/B builds of the mma
# families' quantization passes against the modules carried in sageattention/ (no build here). Written for the
# twenty-fifth session's question (why the passes reached ~40 % of the memory bandwidth; bench/mma_notes.md,
# twenty-fifth and twenty-sixth sessions):
#   1. bench/quant_bandwidth_probe.cu, compiled here: the pass's bytes under several structures, beside a copy;
#   2. per build in $VARIANTS/LABEL/ (_C_mma_fp16.abi3.so.xz and _C_mma_fp8.abi3.so.xz): the fused-op GPU tests (bits
#      against the separate ops of the core module, and which kernels ran);
#   3. bench/quant_pair_ab.py over the carried modules ("base") and each build, two rounds in alternating order;
#   4. ncu of the paired kernels at B4 H32 N4K D64 (occupancy, DRAM throughput, warp stalls) for the labels in
#      NCU_LABELS (default: base and every build);
#   5. memcheck and racecheck of the mma sweep with the build SANITIZE names (default: the first build; 0: none), ~3 min.
# Keep $OUT to a few files: a device call returns only so many (the per-build logs are concatenated at the end).
# The carried modules are restored at the end.
# usage (repository root): OUT=dir [VARIANTS=.variants_ab] [SANITIZE=0|LABEL] [NCU_LABELS="base LABEL"] \
#   bash scripts/gpu_quant_bandwidth.sh
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_quant_bandwidth_out}
VARIANTS=${VARIANTS:-.variants_ab}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__)"
  nvcc --version | tail -1; } 2>&1 | tee "$OUT/env.log"

# 1. the probe: Q+K of B4 H32 at 4K and 1K tokens, and of SDXL's 4K level (B2 H10)
if nvcc -O3 -std=c++17 -arch=sm_90a -o /tmp/quant_bandwidth_probe bench/quant_bandwidth_probe.cu 2>/tmp/probe_build.log; then
  for shape in "4096 128" "1024 128" "4096 20"; do
    timeout 60 /tmp/quant_bandwidth_probe $shape 2>&1 | tee -a "$OUT/probe.log"
  done
else
  tail -5 /tmp/probe_build.log
fi

labels=()
for dir in "$VARIANTS"/*/; do [ -d "$dir" ] && labels+=("$(basename "$dir")"); done
saved=$OUT/.carried
mkdir -p "$saved"
cp sageattention/_C_mma_fp16.abi3.so sageattention/_C_mma_fp8.abi3.so "$saved/"
restore() { cp "$saved"/_C_mma_*.abi3.so sageattention/ && rm -rf "$saved"; }
trap restore EXIT
use() {  # LABEL (base: the carried modules)
  if [ "$1" = base ]; then cp "$saved"/_C_mma_*.abi3.so sageattention/; return; fi
  for fam in mma_fp16 mma_fp8; do
    xz -dc "$VARIANTS/$1/_C_$fam.abi3.so.xz" > "sageattention/_C_$fam.abi3.so" || { echo "$1: no $fam module"; return 1; }
  done
}

# 2. tests of each build
for l in "${labels[@]}"; do
  use "$l" || exit 1
  echo "== $l" | tee -a "$OUT/tests.log"
  timeout 120 python3 -m pytest -m gpu tests/gpu/test_mma_fused_op.py -q -p no:cacheprovider 2>&1 | tail -3 \
    | tee -a "$OUT/tests.log"
done

# 3. kernel times, alternating
for rnd in 1 2; do
  order=(base "${labels[@]}")
  [ $rnd = 2 ] && order=($(printf '%s\n' "${order[@]}" | tac))
  for l in "${order[@]}"; do
    use "$l" && timeout 90 python3 bench/quant_pair_ab.py "$l" --out "$OUT" --round $rnd > /tmp/ab_run.log 2>&1 \
      || tail -3 /tmp/ab_run.log
    cat /tmp/ab_run.log >> "$OUT/ab_runs.log"
  done
done
python3 bench/quant_pair_ab.py --summary "$OUT/quant_pair_ab.jsonl" | tee "$OUT/ab_summary.md"

# 4. ncu at B4 H32 N4K D64, FP16 PV (the second call's paired kernels)
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -n "$NCU" ]; then
  for l in ${NCU_LABELS:-base ${labels[*]}}; do
    use "$l" || continue
    timeout 120 "$NCU" --clock-control none -k regex:"quant_int8_pair_kernel|channel_partial_pair_kernel" \
      --launch-skip 2 --launch-count 2 --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section WarpStateStats --section MemoryWorkloadAnalysis \
      python3 -c "
import torch, sageattention
q, k, v = (torch.randn(4, 32, 4096, 64, device='cuda', dtype=torch.float16) for _ in range(3))
for _ in range(2): sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v)
torch.cuda.synchronize()" > /tmp/ncu_one.txt 2>&1 || tail -5 /tmp/ncu_one.txt
    { echo "== $l"; cat /tmp/ncu_one.txt; } >> "$OUT/ncu.txt"
    grep -E "^\s+(Memory Throughput|DRAM Throughput|Duration|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|Block Limit)" \
      /tmp/ncu_one.txt | sed "s/^/$l: /"
  done
else
  echo "no ncu on this machine"
fi

# 5. sanitizers with one build: SANITIZE names it (0: none); default the first staged one, else the first
san=${SANITIZE:-}
[ -z "$san" ] && [ ${#labels[@]} -gt 0 ] && san=${labels[0]}
if [ -n "$san" ] && [ "$san" != 0 ]; then
  use "$san" || exit 1
  for tool in memcheck racecheck; do
    timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 | tail -3 \
      | sed "s/^/$san $tool: /" | tee -a "$OUT/sanitize.log"
  done
fi
