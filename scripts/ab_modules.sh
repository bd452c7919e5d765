# Sourced by the GPU device scripts that run on the main job's wheel (scripts/gpu_mma_*.sh that name it,
# scripts/gpu_short_kv_route.sh; scripts/gpu_coarse_logits.sh and scripts/gpu_coarse_pass.sh for run_header and the
# module sets), from the checkout's root.
# wheel_modules LOG: the main-job wheel's modules (.wheelhouse, exactly one wheel) into sageattention/, then the run's
# header (date, GPU, driver, power limit, torch) as the first lines of LOG.
# ab_modules AB_XZ LOG: that, then the A/B build's module over its family's (AB_XZ, e.g.
# .variants_swz/ab_C_mma_fp16.abi3.so.xz -> sageattention/_C_mma_fp16.abi3.so).
# usage: wheel_modules LOG || exit;  ab_modules AB_XZ LOG || exit;  run_header LOG (the header alone)
# build_sm90_variants and breakdown_rounds (below) serve the sm90 variant scripts (scripts/gpu_sm90_*_variants.sh).
wheel_modules() {
  local log=$1 wheels
  wheels=$(ls .wheelhouse/sageattention-*.whl 2>/dev/null)
  if [ -z "$wheels" ]; then
    echo "missing .wheelhouse/*.whl: build it as the calling script's header says" >&2
    return 2
  fi
  if [ "$(echo "$wheels" | wc -l)" -gt 1 ]; then  # the modules must be the tree's: never guess among builds
    echo "more than one wheel in .wheelhouse: $(echo $wheels); keep only the main job's latest" >&2
    return 2
  fi
  python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, '.') for n in z.namelist()
    if n.startswith('sageattention/_C') or n.endswith('_build_config.py')]" "$wheels" || return 1
  run_header "$log"
}

# run_header LOG: the run's header (date, GPU, driver, power limit, torch) as the first lines of LOG. Informative
# only: a missing nvidia-smi does not stop the run.
run_header() {
  { date -u; nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; } 2>&1 | tee "$1"
  return 0
}

ab_modules() {
  local ab=$1 log=$2 module
  if [ ! -f "$ab" ]; then
    echo "missing $ab: build it as the calling script's header says" >&2
    return 2
  fi
  wheel_modules "$log" || return
  module=$(basename "$ab" .xz)
  xz -dc "$ab" > "sageattention/${module#ab}" || return 1
  echo "${module#ab}: $ab over the wheel's" | tee -a "$log"
  return 0
}

# build_sm90_variants LOG: after wheel_modules / ab_modules, keeps the module in place as /tmp/mod_base.so and builds
# the tree's sm90 module once per entry of $VARIANTS ("name:-DMACRO=1[,-DOTHER=1]": commas separate one variant's
# flags) side by side, 16 jobs shared, into /tmp/mod_NAME.so (logs in $OUT/build_NAME.log; a failure is said in LOG);
# with PREBUILT set, a variant whose $PREBUILT/NAME.so.xz exists is unpacked instead of built.
# Sets `names` ("base" and each variant's name, in order); _build_config.py is the wheel's again afterwards.
build_sm90_variants() {
  local log=$1 v name flag jobs
  cp sageattention/_C_sm90.abi3.so /tmp/mod_base.so
  cp sageattention/_build_config.py /tmp/build_config.py
  names="base"
  set -- $VARIANTS
  jobs=$(( 16 / $# ))
  for v in $VARIANTS; do
    name=${v%%:*} flag=${v#*:}; flag=${flag//,/ }
    names="$names $name"
    if [ -n "${PREBUILT:-}" ] && [ -f "$PREBUILT/$name.so.xz" ]; then  # built off the device from the same tree
      xz -dc "$PREBUILT/$name.so.xz" > /tmp/mod_$name.so && echo "$name: prebuilt $PREBUILT/$name.so.xz" | tee -a "$log"
      continue
    fi
    ( NVCC_APPEND_FLAGS="$flag" SAGEATTENTION_FAMILIES=sm90 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=$jobs \
        SAGEATTENTION_VERSION=2.3.0.dev0 timeout 400 python3 setup.py build_ext --build-lib /tmp/lib_$name \
        --build-temp /tmp/b_$name > "$OUT/build_$name.log" 2>&1 \
        && cp /tmp/lib_$name/sageattention/_C_sm90.abi3.so /tmp/mod_$name.so \
        || echo "build $name failed" | tee -a "$log" ) &
  done
  wait
  cp /tmp/build_config.py sageattention/_build_config.py
  ls -la /tmp/mod_*.so | tee -a "$log"
}

# breakdown_rounds LOG CALLS [BASE_CALLS]: after build_sm90_variants, each build's kernel durations in the call
# (bench/sm90_pv16_breakdown.py --shapes $SHAPES --calls CALLS; the base with BASE_CALLS, default CALLS), two rounds,
# the builds in forward then reverse order (the card's clock drifts over a run: each build is timed early and late).
breakdown_rounds() {
  local log=$1 calls=$2 base_calls=${3:-$2} r order name c
  local shapes=${SHAPES:-128:4096,128:8192,128:16384,128:16384:c,64:16384,64:16384:c}
  for r in 1 2; do
    order=$names; [ $r = 2 ] && order=$(echo $names | tr ' ' '\n' | tac | tr '\n' ' ')
    for name in $order; do
      [ -f /tmp/mod_$name.so ] || continue
      cp /tmp/mod_$name.so sageattention/_C_sm90.abi3.so
      c=$calls; [ "$name" = base ] && c=$base_calls
      timeout 60 python3 bench/sm90_pv16_breakdown.py --shapes $shapes --calls $c 2>&1 | grep -E "(int8|e4m3|pv16)\]" \
        | sed -E "s/^/[$name r$r] /; s/gap>[a-z_]+ -?[0-9.]+ +//g" | tee -a "$log"
    done
  done
}

# Module sets of the coarse-logits A/B scripts: .variants_rebase/SET holds _C*.so.xz and _build_config.py, and may
# hold tree.tar.xz (`git archive REV sageattention bench scripts tests`), the Python that SET runs with (a base from
# before an API change: a new op and its Python caller).
# unpack_set SET: its modules into /tmp/modules_rebase/SET, its tree (if any) into /tmp/root_SET.
# set_root SET: where SET runs from (its tree, else this checkout). use_set SET: its modules into that root's
# sageattention/. in_set_root SET CMD...: CMD from that root, with it as PYTHONPATH.
unpack_set() {
  local s=$1 f
  rm -rf "/tmp/modules_rebase/$s" && mkdir -p "/tmp/modules_rebase/$s"
  for f in ".variants_rebase/$s"/_C*.xz; do xz -dc "$f" > "/tmp/modules_rebase/$s/$(basename "$f" .xz)"; done
  cp ".variants_rebase/$s/_build_config.py" "/tmp/modules_rebase/$s/"
  if [ -f ".variants_rebase/$s/tree.tar.xz" ]; then
    rm -rf "/tmp/root_$s" && mkdir -p "/tmp/root_$s" && tar -xJf ".variants_rebase/$s/tree.tar.xz" -C "/tmp/root_$s"
  fi
}
set_root() { if [ -f ".variants_rebase/$1/tree.tar.xz" ]; then echo "/tmp/root_$1"; else echo "$PWD"; fi; }
use_set() { cp "/tmp/modules_rebase/$1"/* "$(set_root "$1")/sageattention/"; }
in_set_root() { local s=$1; shift; (cd "$(set_root "$s")" && PYTHONPATH=$PWD "$@"); }
