#!/usr/bin/env bash
# GPU host (~4 min on an H100): a coarse-logits fix (bench/NOTES.md, "Coarse logits"; v1 to v4 are patches under
# bench/patches/, none shipped, each with tests/gpu/test_coarse_logits.py; v4 has its own script too,
# scripts/gpu_coarse_pass.sh) against the kernels before it, nothing compiled here. Module sets travel xz-compressed
# with their _build_config.py under .variants_rebase/: base (the main-job wheel of the tree without the fix) and new
# (with it; run with the fix's tests in the tree), plus any others named in SETS:
#   for s in base new; do mkdir -p .variants_rebase/$s; unzip -o -d /tmp/m_$s WHEEL_$s 'sageattention/_C*' \
#     sageattention/_build_config.py; for f in /tmp/m_$s/sageattention/_C*.so; do xz -c $f > \
#     .variants_rebase/$s/$(basename $f).xz; done; cp /tmp/m_$s/sageattention/_build_config.py \
#     .variants_rebase/$s/; done
#   1. tests/gpu/test_coarse_logits.py and bench/coarse_logits_probe.py on the new set, every GPU test on it, then
#      the first two on the base set (expected to fail);
#   2. kernel-only TOPS of every set in SETS (default "base new") in processes whose order turns each round, ROUNDS
#      rounds (default 2): the mma.sync FP16-PV kernel (bench/mma_variant_ab.py; FP8 mma.sync is emulated on
#      sm_90), then sageattn and the sm90 kernel alone on issue #4's shapes (bench/knob_ab.py), the mma.sync
#      FP16-PV path end to end on them, and sageattn on short calls (SHORT_SHAPES, where a launch more shows).
# A set whose directory holds tree.tar.xz (`git archive REV sageattention bench scripts tests`) runs from that tree,
# unpacked under /tmp: a base from before an API change (a new op, its Python caller) keeps its own Python.
# PERF_ONLY=1 skips step 1, NO_BASE_CHECKS=1 its base-set part; ROUNDS=0 skips step 2; NO_MMA_KERNEL=1 skips the
# mma.sync kernel-only rows (for a change that leaves the kernels' code alone), NO_MMA_E2E=1 its end-to-end rows.
# usage (repository root): [ROUNDS=2] [SETS="base new ..."] [PERF_ONLY=1] [NO_MMA_KERNEL=1]
#   bash scripts/gpu_coarse_logits.sh
#   (logs under $OUT; the last set's modules stay in sageattention/)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/coarse-logits}
mkdir -p "$OUT"
SETS=${SETS:-base new}  # module sets under .variants_rebase: the tree's first; the tests run on "new"
source scripts/ab_modules.sh
for s in $SETS; do
  unpack_set $s
  if [ "$(set_root $s)" != "$PWD" ]; then  # a set with its own tree runs this tree's checks
    cp tests/gpu/test_coarse_logits.py tests/gpu/varlen_checks.py "$(set_root $s)/tests/gpu/"
  fi
done
log=$OUT/checks.log
run_header "$log"
coarse() {
  use_set $1
  in_set_root $1 timeout 150 python3 -m pytest -m gpu tests/gpu/test_coarse_logits.py -q --tb=line -p no:cacheprovider \
    > "$OUT/coarse_tests_$1.log" 2>&1
  echo "[$1] test_coarse_logits: $(tail -1 "$OUT/coarse_tests_$1.log")" | tee -a "$log"
  in_set_root $1 timeout 90 python3 bench/coarse_logits_probe.py $1 2>&1 | grep -v -i warn | tee -a "$OUT/probe.log"
}
if [ -z "${PERF_ONLY:-}" ]; then
  coarse new
  timeout 240 python3 -m pytest -m gpu tests/gpu -q --tb=line -p no:cacheprovider 2>&1 | tail -30 \
    > "$OUT/gpu_suite.log"
  echo "[new] all GPU tests: $(tail -1 "$OUT/gpu_suite.log")" | tee -a "$log"
  [ -z "${NO_BASE_CHECKS:-}" ] && coarse base
fi
SHORT_SHAPES=${SHORT_SHAPES:-128:256:1x8,128:1024:2x16,64:4096:1x24}
for rnd in $(seq 1 "${ROUNDS:-2}"); do
  order=$SETS; [ $((rnd % 2)) = 0 ] && order=$(printf '%s\n' $SETS | tac | xargs)
  for s in $order; do
    use_set $s
    [ -z "${NO_MMA_KERNEL:-}" ] && in_set_root $s timeout 60 python3 bench/mma_variant_ab.py $s --round $rnd \
      --out "$OUT" 2>&1 | grep -v -i warn >> "$OUT/kernels.log"
    in_set_root $s timeout 90 python3 bench/knob_ab.py --rounds 1 --variants "$s:" --label "$s round $rnd" 2>&1 \
      | grep -v -i warn >> "$OUT/e2e.log"
    [ -z "${NO_MMA_E2E:-}" ] && in_set_root $s timeout 90 python3 bench/knob_ab.py --rounds 1 --variants "$s:" \
      --backend sage_fp16_cuda --label "$s fp16 round $rnd" 2>&1 | grep -v -i warn >> "$OUT/e2e_mma_fp16.log"
    in_set_root $s timeout 60 python3 bench/knob_ab.py --rounds 1 --variants "$s:" --shapes "$SHORT_SHAPES" \
      --label "$s short round $rnd" 2>&1 | grep -v -i warn >> "$OUT/e2e_short.log"
  done
done
exit 0
