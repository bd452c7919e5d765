#!/usr/bin/env bash
# Device script (~4 min on an H100 with two rounds): a tree's modules built elsewhere against an earlier build's, and
# optional A/B builds of the mma families, with nothing compiled on the device. All four modules of each side travel
# xz-compressed (NEW and OLD: _C*.abi3.so.xz and _build_config.py); each A/B build is a folder of
# _C_mma_fp16.abi3.so.xz and _C_mma_fp8.abi3.so.xz under NEW/ (its name is the label).
#   1. every GPU test on NEW's modules (-x: the first failure stops them);
#   2. bench/quant_pair_ab.py (the fused mma ops' quantization kernels) for OLD ("base"), NEW ("final") and each A/B
#      build, and bench/quant_bench.py (the core and sm90 quantization ops) for OLD and NEW, in ROUNDS alternating
#      rounds (default "1 2");
#   3. the fused-op and packed-sequence GPU tests of each A/B build (bits against the separate ops);
#   4. memcheck of the mma sweep on NEW's modules.
# $OUT gets checks.log, quant_bench_ab.log, quant_pair_ab.jsonl and pair_ab_summary.md (a call returns few files).
# usage (repository root): OUT=dir NEW=.variants_final OLD=.variants_tree [ROUNDS="1 2"] bash scripts/gpu_modules_ab.sh
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT} NEW=${NEW:?set NEW (a folder of xz modules)} OLD=${OLD:?set OLD (a folder of xz modules)}
M=/tmp/modules_ab
rm -rf $M && mkdir -p $M/final $M/base
unpack() { for f in "$1"/*.xz; do xz -dc "$f" > "$2/$(basename "$f" .xz)"; done; }
unpack "$NEW" $M/final
unpack "$OLD" $M/base
builds=()
for dir in "$NEW"/*/; do
  [ -d "$dir" ] || continue
  l=$(basename "$dir"); builds+=("$l"); mkdir -p $M/$l && unpack "$dir" $M/$l
done
cp $M/final/*.so "$NEW/_build_config.py" sageattention/
rm -rf $M/old_tree && mkdir -p $M/old_tree && cp -r sageattention $M/old_tree/ && cp $M/base/*.so "$OLD/_build_config.py" \
  $M/old_tree/sageattention/
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/checks.log"
PYTHONPATH=$PWD timeout 120 python3 -m pytest tests/gpu -m gpu -q -p no:cacheprovider -x 2>&1 | tail -2 \
  | tee -a "$OUT/checks.log"
for rnd in ${ROUNDS:-1 2}; do
  order=(base final "${builds[@]}")
  [ "$rnd" = 2 ] && order=($(printf '%s\n' "${order[@]}" | tac))
  for l in "${order[@]}"; do
    cp $M/$l/_C_mma_fp*.so sageattention/
    timeout 40 python3 bench/quant_pair_ab.py "$l" --out "$OUT" --round "$rnd" > /tmp/pair_ab.log 2>&1 \
      || { echo "quant_pair_ab $l round $rnd failed:"; tail -3 /tmp/pair_ab.log; }
    case $l in
      base) pp=$M/old_tree ;;
      final) pp=$PWD ;;
      *) continue ;;
    esac
    (cd /tmp && PYTHONPATH=$pp timeout 40 python3 "$OLDPWD/bench/quant_bench.py" 2>&1 | sed "s/^/[$l r$rnd] /") \
      >> "$OUT/quant_bench_ab.log"
  done
done
for l in "${builds[@]}"; do
  cp $M/$l/_C_mma_fp*.so sageattention/
  echo "$l: $(PYTHONPATH=$PWD timeout 60 python3 -m pytest -m gpu tests/gpu/test_mma_fused_op.py tests/gpu/test_varlen_mma.py \
    -q -p no:cacheprovider 2>&1 | tail -1)" | tee -a "$OUT/checks.log"
done
cp $M/final/*.so sageattention/
python3 bench/quant_pair_ab.py --summary "$OUT/quant_pair_ab.jsonl" > "$OUT/pair_ab_summary.md" 2>&1
grep -A16 "quant total" "$OUT/pair_ab_summary.md"
grep -E "channel_stats|quant_v|Q mma|K \+mean" "$OUT/quant_bench_ab.log"
PYTHONPATH=$PWD timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 python3 bench/mma_sanitize_sweep.py 2>&1 \
  | tail -1 | sed "s/^/mma memcheck: /" | tee -a "$OUT/checks.log"
