#!/usr/bin/env bash
# Measured in session 32 and dropped: slower at D=64, one CTA per SM at D=128 (bench/mma_notes.md, "Thirty-second
# session"). GPU host: the mma.sync FP16-PV fp32-O kernels with two KV tiles per barrier (KV_GROUP = 2; three at
# D=64) against one (the shipped kernels): the D=64 2-CTA build and the D=128 kernel (bench/mma_notes.md,
# "Thirty-first session"). Modules built on
# the CPU machine and carried: .variants_kvg/ab_C_mma_fp16.abi3.so.xz is the tree with bench/patches/mma_kv_group.patch
# built with NVCC_APPEND_FLAGS=-DSAGE_MMA_KV_GROUP_AB (SAGEATTENTION_MMA_KV_GROUP=2 or 3 picks those kernels per
# call; its one-tile kernels are the tree's, SASS for SASS, except the D=128 causal ones, whose registers ptxas
# renumbered); the other modules from .variants_s27/ and the sm90 module from .variants_qregs/prod/.
# usage: bash scripts/gpu_mma_kv_group.sh          (logs to $OUT/kv_group.log)
#   1. bits: every call of bench/mma_bitwise.py with the 2-CTA build forced, KV_GROUP 1 against 2 (and 3 at D=64);
#   2. the mma GPU tests with KV_GROUP=2; memcheck of the mma sweep with KV_GROUP=2 and the 2-CTA build forced;
#   3. bench/knob_ab.py --backend sage_fp16_cuda, end to end and kernel alone, alternating rounds: D=64 over 1/2/3,
#      D=128 over 1/2 (the A/B build refuses 3 there).
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/kv-group}
mkdir -p "$OUT"
log=$OUT/kv_group.log
for f in .variants_s27/*.xz; do xz -dc "$f" > "sageattention/$(basename "$f" .xz)"; done
cp .variants_s27/_build_config.py sageattention/
xz -dc .variants_qregs/prod/_C_sm90.abi3.so.xz > sageattention/_C_sm90.abi3.so
xz -dc .variants_kvg/ab_C_mma_fp16.abi3.so.xz > sageattention/_C_mma_fp16.abi3.so
{ date -u; nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; } 2>&1 | tee "$log"

SAGEATTENTION_MMA_D64_CTAS=2 timeout 120 python3 bench/mma_bitwise.py SAGEATTENTION_MMA_KV_GROUP=2 2>&1 | tail -1 \
  | sed "s/^/bitwise (2-CTA build forced): /" | tee -a "$log"
SAGEATTENTION_MMA_D64_CTAS=2 timeout 90 python3 bench/mma_bitwise.py --head-dims 64 SAGEATTENTION_MMA_KV_GROUP=3 2>&1 \
  | tail -1 | sed "s/^/bitwise (2-CTA build forced): /" | tee -a "$log"
SAGEATTENTION_MMA_KV_GROUP=2 timeout 240 python3 -m pytest tests/gpu/test_mma_attention.py tests/gpu/test_mma_fused_op.py \
  tests/gpu/test_varlen_mma.py -m gpu -q -p no:cacheprovider 2>&1 | tail -3 | sed "s/^/tests (KV_GROUP=2): /" | tee -a "$log"
SAGEATTENTION_MMA_KV_GROUP=2 SAGEATTENTION_MMA_D64_CTAS=2 timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
  python3 bench/mma_sanitize_sweep.py 2>&1 | tail -1 | sed "s/^/memcheck (KV_GROUP=2, 2-CTA build): /" | tee -a "$log"
g12="g1:SAGEATTENTION_MMA_KV_GROUP=1;g2:SAGEATTENTION_MMA_KV_GROUP=2"
timeout 200 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-4}" \
  --label "mma FP16 PV D=64 (2-CTA build): KV tiles per barrier" --variants "$g12;g3:SAGEATTENTION_MMA_KV_GROUP=3" \
  --shapes "${SHAPES64:-64:4096,64:16384,64:16384:c,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"
timeout 150 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-4}" \
  --label "mma FP16 PV D=128: KV tiles per barrier" --variants "$g12" \
  --shapes "${SHAPES128:-128:4096,128:16384,128:16384:c}" 2>&1 | grep -v -i warn | tee -a "$log"
# 4. The issue's side-by-side figure at D=64 (SDPA flash and cuDNN in the same process) for each tile count, so a
#    winner's rows exist without another lease; the outputs go into one archive ($OUT returns few files).
bench_dir=$(mktemp -d)
for g in 1 2 3; do
  SAGEATTENTION_MMA_KV_GROUP=$g timeout 45 python3 -m sageattention.bench --seqlens 4096,16384 --headdims 64 \
    --causal 0 --backends sdpa_flash,sdpa_cudnn,sage_fp16_cuda,sage_fp16_cuda_kernel --rounds 2 --out "$bench_dir" \
    --name "mma_d64_kv_group$g" 2>&1 | grep -v -i warn | tail -8 | sed "s/^/bench KV_GROUP=$g: /" | tee -a "$log"
done
tar -C "$bench_dir" -czf "$OUT/kv_group_bench.tgz" .
