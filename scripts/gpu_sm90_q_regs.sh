#!/usr/bin/env bash
# GPU host: Q held in registers by the single-level loop (default_q_regs_mode, csrc/sm90/mainloop.cuh) against the
# kernels that keep it in shared memory. Modules built on the CPU machine and carried: .variants_qregs/ holds the A/B
# module (NVCC_APPEND_FLAGS=-DSAGE_SM90_Q_REGS_AB: every mode's kernels, SAGEATTENTION_SM90_Q_REGS=0/1/2 picks one
# per call) and prod/ the module of the tree; the other modules come from .variants_s27/ (the kernels before).
# usage: bash scripts/gpu_sm90_q_regs.sh [ab | check]      (logs to $OUT)
#   ab     1. every mode gives mode 0's bits (bench/sm90_bitwise.py); 2. the sm90 GPU tests under MODES (default 2);
#          3. bench/knob_ab.py over the three modes in one process, end to end and kernel alone, alternating rounds.
#   check  the tree's module: the same bits as .variants_s27's sm90 module, every GPU test, memcheck of the sm90 and
#          packed-sequence sweeps; then the A/B module's D64 modes through bench/knob_ab.py (SHAPES, ROUNDS).
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/q-regs}
mode=${1:-ab}
case $mode in ab | check) ;; *) echo "usage: $0 [ab | check]" >&2; exit 2 ;; esac
mkdir -p "$OUT"
log=$OUT/q_regs_$mode.log
for f in .variants_s27/*.xz; do xz -dc "$f" > "sageattention/$(basename "$f" .xz)"; done
cp .variants_s27/_build_config.py sageattention/
{ date -u; nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; } 2>&1 | tee "$log"
variants="q0:SAGEATTENTION_SM90_Q_REGS=0;q1:SAGEATTENTION_SM90_Q_REGS=1;q2:SAGEATTENTION_SM90_Q_REGS=2"
ab_module() { xz -dc .variants_qregs/_C_sm90.abi3.so.xz > sageattention/_C_sm90.abi3.so; }

if [ "$mode" = check ]; then
  timeout 200 python3 bench/sm90_bitwise.py save /tmp/bitwise.pt 2>&1 | tail -1 | tee -a "$log"
  xz -dc .variants_qregs/prod/_C_sm90.abi3.so.xz > sageattention/_C_sm90.abi3.so
  timeout 200 python3 bench/sm90_bitwise.py check /tmp/bitwise.pt 2>&1 | tail -1 | sed "s/^/[tree] bitwise: /" | tee -a "$log"
  timeout 300 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider 2>&1 | tail -1 | sed "s/^/[tree] tests: /" \
    | tee -a "$log"
  for sweep in sm90_sanitize_sweep varlen_sanitize_sweep; do
    timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 "bench/$sweep.py" 2>&1 | tail -1 \
      | sed "s/^/[tree] memcheck $sweep: /" | tee -a "$log"
  done
  ab_module
  timeout 240 python3 bench/knob_ab.py --rounds "${ROUNDS:-3}" --kernel-each --label "Q in registers, D64" \
    --variants "$variants" --shapes "${SHAPES:-64:4096,64:16384,64:16384:c,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"
  exit 0
fi

ab_module
SAGEATTENTION_SM90_Q_REGS=0 timeout 200 python3 bench/sm90_bitwise.py save /tmp/bitwise.pt 2>&1 | tail -1 | tee -a "$log"
for m in 1 2; do
  SAGEATTENTION_SM90_Q_REGS=$m timeout 200 python3 bench/sm90_bitwise.py check /tmp/bitwise.pt 2>&1 | tail -1 \
    | sed "s/^/[mode $m] bitwise: /" | tee -a "$log"
done
for m in ${MODES:-2}; do
  SAGEATTENTION_SM90_Q_REGS=$m timeout 240 python3 -m pytest tests/gpu/test_sm90.py tests/gpu/test_sm90_fused_op.py \
    tests/gpu/test_varlen_sm90.py -m gpu -q -p no:cacheprovider 2>&1 | tail -2 | sed "s/^/[mode $m] tests: /" | tee -a "$log"
done
timeout 300 python3 bench/knob_ab.py --rounds "${ROUNDS:-4}" --kernel-each --label "Q in registers (SAGE_SM90_Q_REGS)" \
  --variants "$variants" ${SHAPES:+--shapes "$SHAPES"} 2>&1 | tee -a "$log"
