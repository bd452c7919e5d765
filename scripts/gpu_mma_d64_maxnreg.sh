#!/usr/bin/env bash
# GPU host: the mma.sync FP16-PV fp32-O D=64 kernel's 2-CTA build (shipped: 209 registers under __launch_bounds__(128,
# 2)) against the same code under __maxnreg__ caps of 184 / 200 / 224 (ptxas: 184 / 193 / 206 registers, no spill;
# KV loop 1 083 / 1 066 / 1 054 instructions against 1 053), in one process: a schedule A/B for issue #3's D=64 16K
# figure (bench/mma_notes.md, "Forty-eighth session"). Built on the CPU machine from the tree plus
# bench/patches/mma_d64_maxnreg_ab.patch (SAGEATTENTION_MMA_D64_MAXNREG=184|200|224 launches the capped kernel where
# the 2-CTA build would run; 0 or unset, the shipped one):
#   git apply bench/patches/mma_d64_maxnreg_ab.patch && TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=2 python3 -m ci main-job \
#     --wheelhouse /tmp/wh_cap && mkdir -p .variants_cap && unzip -p /tmp/wh_cap/*.whl \
#     sageattention/_C_mma_fp16.abi3.so | xz > .variants_cap/ab_C_mma_fp16.abi3.so.xz && \
#     git apply -R bench/patches/mma_d64_maxnreg_ab.patch
# then carry .wheelhouse (the main job's wheel of the tree) and .variants_cap.
# usage: bash scripts/gpu_mma_d64_maxnreg.sh          (logs to $OUT/cap_ab.log)
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/d64-maxnreg}
mkdir -p "$OUT"
log=$OUT/cap_ab.log
source scripts/ab_modules.sh
ab_modules .variants_cap/ab_C_mma_fp16.abi3.so.xz "$log" || exit
timeout 60 python3 - <<'PY' 2>&1 | grep -v -i warn | tee -a "$log"
import os, torch, sageattention as s
torch.manual_seed(0)
q, k, v = (torch.randn(4, 32, 8192, 64, device="cuda", dtype=torch.float16) for _ in range(3))
outs = {}
for cap in ("0", "184", "200", "224"):
    os.environ["SAGEATTENTION_MMA_D64_MAXNREG"] = cap
    outs[cap] = s.sageattn_qk_int8_pv_fp16_cuda(q, k, v)
print("bits equal to the shipped 2-CTA kernel:", {c: bool(torch.equal(o, outs["0"])) for c, o in outs.items()})
PY
v="base:SAGEATTENTION_MMA_D64_MAXNREG=0;c184:SAGEATTENTION_MMA_D64_MAXNREG=184"
v="$v;c200:SAGEATTENTION_MMA_D64_MAXNREG=200;c224:SAGEATTENTION_MMA_D64_MAXNREG=224"
timeout 400 python3 bench/knob_ab.py --backend sage_fp16_cuda --kernel-each --rounds "${ROUNDS:-3}" \
  --label "mma FP16 PV D=64 2-CTA build under register caps" --variants "$v" \
  --shapes "${SHAPES64:-64:8192,64:16384,64:32768}" 2>&1 | grep -v -i warn | tee -a "$log"
exit 0
