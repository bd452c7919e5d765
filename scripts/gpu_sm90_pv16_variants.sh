#!/usr/bin/env bash
# GPU host (forty-second session): compile-time choices of the 16-bit PV kernel, A/B on the device. The main-job
# wheel's modules (.wheelhouse) are the base; each variant is the tree's sm90 module built here with one macro
# (VARIANTS, default: Q in registers at D128, two Q slots at D128, the accumulator set-up at the top of the step,
# ping-pong turns for the 16-bit PV loop; the first three move the e4m3 kernels too, which this run does not time).
# The 16-bit PV kernels' durations in the call (bench/sm90_pv16_breakdown.py --calls pv16), two rounds, the builds in
# forward then reverse order (breakdown_rounds). Four variants build side by side in ~3 min (4 jobs each).
# usage: [VARIANTS="qregs1:-DSAGE_SM90_Q_REGS=1 ..."] [SHAPES=D:N[:c],...] bash scripts/gpu_sm90_pv16_variants.sh   (logs to $OUT)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv16-variants}
mkdir -p "$OUT"
log=$OUT/sm90_pv16_variants.log
VARIANTS=${VARIANTS:-"qregs1:-DSAGE_SM90_Q_REGS=1 qslots2:-DSAGE_SM90_Q_SLOTS=2 inittop:-DSAGE_SM90_INIT_AT_END=0 pingpong:-DSAGE_SM90_PV16_PINGPONG=1"}
source scripts/ab_modules.sh
wheel_modules "$log" || exit
build_sm90_variants "$log"
breakdown_rounds "$log" pv16
exit 0
