#!/usr/bin/env bash
# GPU host (~4 min on an H100 or H200): the coarse-logits pass (bench/patches/coarse_logits_pass_v4.patch;
# bench/NOTES.md, "Coarse logits") against the tree before it, nothing compiled here. Needs, under .variants_rebase/
# (carried):
#   new/   the main-job wheel's modules of the tree with the patch applied (xz, plus _build_config.py: see
#          scripts/gpu_coarse_logits.sh for the commands), run from this tree, which must hold the patch too;
#   base/  the modules of the tree without it and tree.tar.xz, that tree's Python and checks
#          (git archive REV sageattention bench scripts tests ':(exclude)bench/results' ':(exclude)bench/patches';
#          scripts/ab_modules.sh, unpack_set).
# Runs, logs under $OUT: the pass's tests (tests/gpu/test_coarse_logits.py); every other GPU test, keeping the
# failures' E lines, and the first failure again alone with its full traceback; sageattn end to end on issue #4's
# shapes and on short calls, base then new (bench/knob_ab.py, two rounds, ABBA: the pass is one more launch);
# memcheck on the pass's batch, pack, GQA/NHD, Python-quantization and alternating-head-dim tests; the base set's
# D=256 sm90 and varlen tests (the first build failed those; base passes them on the H100).
# usage (repository root): bash scripts/gpu_coarse_pass.sh   (ORDER="base new": one e2e round)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/coarse-pass}; mkdir -p "$OUT"
log=$OUT/checks.log
source scripts/ab_modules.sh
unpack_set base  # runs from its own tree (/tmp/root_base)
unpack_set new   # runs from this one
use_set base
use_set new
run_header "$log"
pytest_gpu() { timeout "$1" python3 -m pytest -m gpu -q -p no:cacheprovider "${@:2}"; }
pytest_gpu 90 tests/gpu/test_coarse_logits.py --tb=short > "$OUT/coarse.log" 2>&1
echo "coarse: $(tail -1 "$OUT/coarse.log")" >> "$log"
pytest_gpu 150 tests/gpu --tb=short -k "not test_coarse_logits" > "$OUT/suite_full.log" 2>&1
echo "suite: $(tail -1 "$OUT/suite_full.log")" >> "$log"
grep -E "^(E  |FAILED)|Error" "$OUT/suite_full.log" | head -150 > "$OUT/suite.log"
first=$(grep -m1 -oE "^FAILED [^ ]+" "$OUT/suite_full.log" | cut -d' ' -f2)
if [ -n "$first" ]; then  # the first failure in full (the E lines alone left session 51's D=256 failures unexplained)
  pytest_gpu 60 "$first" --tb=long -x > "$OUT/first_failure.log" 2>&1
  echo "first failure: $first (first_failure.log)" >> "$log"
fi
rm "$OUT/suite_full.log"
SHORT=128:256:1x8,128:1024:2x16,64:4096:1x24
for s in ${ORDER:-base new new base}; do  # two rounds, each set early and late (the clock drifts)
  in_set_root $s timeout 60 python3 bench/knob_ab.py --rounds 1 --variants "$s:" --label "$s" 2>&1 \
    | grep -v -i warn >> "$OUT/e2e.log"
  in_set_root $s timeout 40 python3 bench/knob_ab.py --rounds 1 --variants "$s:" --shapes $SHORT \
    --label "$s short" 2>&1 | grep -v -i warn >> "$OUT/e2e.log"
done
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
timeout 80 "$CS" --tool memcheck --error-exitcode 7 python3 -m pytest -m gpu tests/gpu/test_coarse_logits.py -q \
  -k "coarse_heads or packed or python_quant or alternate" -p no:cacheprovider > "$OUT/memcheck.log" 2>&1
echo "memcheck rc=$?" >> "$log"
in_set_root base pytest_gpu 100 tests/gpu/test_sm90_pv_int8.py tests/gpu/test_varlen_sm90.py \
  tests/gpu/test_varlen_mma.py --tb=no -k 256 2>&1 | tail -3 > "$OUT/base256.log"
echo "base d256: $(tail -1 "$OUT/base256.log")" >> "$log"
cat "$log"
