#!/usr/bin/env bash
# GPU host: Nsight Compute on the mma.sync FP16-PV fp32-O attention kernel, kernel alone (pre-quantized inputs), D=64
# against D=128 at B4 H32 N16K: where the D=64 kernel's warps stall (issue #3's D=64 gap; bench/mma_notes.md,
# "Thirty-second session"). The wheel in DIR is installed into /tmp/site, so the profile is of the shipped kernels.
# usage: bash scripts/gpu_mma_d64_profile.sh DIR     (logs to $OUT/mma_profile_d{64,128}.log)
#        bash scripts/gpu_mma_d64_profile.sh DIR source   (the SourceCounters section's per-SASS-instruction table as
#        CSV, $OUT/mma_source_d{64,128}.csv, to place the excess shared wavefronts and global sectors)
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/mma-profile}
mkdir -p "$OUT"
W=$(ls "${1:?usage: gpu_mma_d64_profile.sh DIR}"/sageattention-*.whl | head -1)
python3 -m pip install -q --no-deps --no-index --target /tmp/site "$W" || exit 1
cd /tmp  # away from the checkout, whose sageattention/ (no compiled modules) would shadow the installed one
# The kernel-only benchmark call that ncu profiles (plus --headdims D --name dD).
bench=(python3 -m sageattention.bench --seqlens 16384 --causal 0 --backends sage_fp16_cuda_kernel --rounds 1
  --warmup-ms 20 --rep-ms 20 --out /tmp/ncu-bench)
if [ "${2:-}" = source ]; then
  # Saved report first, then the source page from it: the page's flags cannot spoil the (expensive) profile.
  for d in 64 128; do
    PYTHONPATH=/tmp/site timeout 200 ncu --clock-control none -k regex:attn_kernel --launch-skip 5 --launch-count 1 \
      --section=SourceCounters --section=MemoryWorkloadAnalysis -f -o /tmp/mma_src_d$d \
      "${bench[@]}" --headdims $d --name d$d > "$OUT/mma_source_d$d.err" 2>&1
    echo "D=$d profile: rc=$?"
    ncu --import /tmp/mma_src_d$d.ncu-rep --page source --csv --print-source sass > "$OUT/mma_source_d$d.csv" \
      2>> "$OUT/mma_source_d$d.err"
    echo "D=$d source table: rc=$? $(grep -c . "$OUT/mma_source_d$d.csv") lines"
    ncu --import /tmp/mma_src_d$d.ncu-rep --page details --print-details all >> "$OUT/mma_source_d$d.err" 2>&1
  done
  ls -la /tmp/mma_src_d*.ncu-rep
  exit 0
fi
sections=(SpeedOfLight ComputeWorkloadAnalysis InstructionStats LaunchStats Occupancy SchedulerStats WarpStateStats
  SourceCounters MemoryWorkloadAnalysis)
for d in 64 128; do
  # The bench's warm-up launches the kernel many times; skip a few and profile one (every section replays it).
  PYTHONPATH=/tmp/site timeout 240 ncu --clock-control none -k regex:attn_kernel --launch-skip 5 --launch-count 1 \
    "${sections[@]/#/--section=}" "${bench[@]}" --headdims $d --name d$d > "$OUT/mma_profile_d$d.log" 2>&1
  echo "D=$d: rc=$? $(grep -c . "$OUT/mma_profile_d$d.log") lines"
done
