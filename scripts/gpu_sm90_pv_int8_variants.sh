#!/usr/bin/env bash
# GPU host (forty-third session): compile-time choices of the sm90 kernels, A/B on the device. The base is the
# main-job wheel's modules, or with AB set this tree's _C_sm90 over them (as scripts/gpu_sm90_pv_int8.sh); each variant
# (VARIANTS) is the tree's sm90 module with its macros, built here or taken prebuilt from $PREBUILT/NAME.so.xz. The
# INT8-PV kernel's row sums by wgmma and skipped shifts were measured this way before they became its code, then the
# same two for the e4m3 loop (forty-fourth session: slower, dropped). Each variant's tests (TESTS: pytest arguments),
# then the kernels' durations in the call (bench/sm90_pv16_breakdown.py --calls CALLS), two rounds, the builds in
# forward then reverse order, with the e4m3 kernel of the base beside them.
# usage: VARIANTS="name:-DA=1 both:-DA=1,-DB=1 ..." [AB=...xz] [PREBUILT=.variants_x] [CALLS=e4m3] [TESTS="..."]
#        [SHAPES=D:N[:c],...] bash scripts/gpu_sm90_pv_int8_variants.sh
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/sm90-pv-int8-variants}
mkdir -p "$OUT"
log=$OUT/sm90_pv_int8_variants.log
VARIANTS=${VARIANTS:?"name each build: VARIANTS=\"name:-DMACRO=1[,-DOTHER=1] ...\" (see the header)"}
CALLS=${CALLS:-e4m3}
TESTS=${TESTS:-"tests/gpu/test_sm90.py -k accuracy_vs_fp64"}  # the oracle tests model the default loop
source scripts/ab_modules.sh
if [ -n "${AB:-}" ]; then ab_modules "$AB" "$log" || exit; else wheel_modules "$log" || exit; fi
build_sm90_variants "$log"
for name in $names; do
  [ "$name" = base ] && continue
  [ -f /tmp/mod_$name.so ] || continue
  cp /tmp/mod_$name.so sageattention/_C_sm90.abi3.so
  echo "=== $name: tests ($TESTS)" | tee -a "$log"
  timeout ${TEST_S:-90} python3 -m pytest ${TESTS%% -k *} -k "${TESTS#* -k }" -q --maxfail=4 --tb=line \
    -p no:cacheprovider 2>&1 | grep -E "passed|failed|FAILED|assert|Error" | tail -8 | sed "s/^/[$name] /" | tee -a "$log"
done
breakdown_rounds "$log" "$CALLS" e4m3,int8
exit 0
