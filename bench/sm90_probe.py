"""Layout probe for the sm90 kernel: V = identity makes O[r, j] = P[r, j], the kernel's effective
softmax row, so row/column mix-ups in the QK or PV fragments show up as a permutation."""

import math

import torch

from sageattention.kernels import sm90

torch.manual_seed(0)
for D in (128, 64):
    n = 128
    q = (torch.randn(1, 1, n, D, device="cuda") * 2).half()
    k = (torch.randn(1, 1, n, D, device="cuda") * 2).half()
    v = torch.zeros(1, 1, n, D, device="cuda", dtype=torch.half)
    for i in range(min(n, D)):
        v[0, 0, i, i] = 1
    out = sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout="HND", is_causal=False, qk_quant_gran="per_warp",
                                   sm_scale=1 / math.sqrt(D), pv_accum_dtype="fp32", smooth_k=False,
                                   smooth_v=False, return_lse=False)[0, 0].double()
    s = (q[0, 0].double() @ k[0, 0].double().T) / math.sqrt(D)
    p = torch.softmax(s, -1)[:, :D]
    print(f"D={D} identity-map max err {float((out - p).abs().max()):.4f} (P max {float(p.max()):.3f})")
    ps = p.sort(-1).values
    os_ = out.sort(-1).values
    rowmap = [(r, int((ps - os_[r]).abs().sum(-1).argmin())) for r in range(0, 64, 1)]
    bad = [(a, b) for a, b in rowmap if a != b]
    print("  row mismatches (kernel row -> best ref row):", bad[:24])
    for r in (0, 1, 8):
        rr = dict(rowmap).get(r, r)
        colmap = [int((p[rr] - out[r, j]).abs().argmin()) for j in range(min(D, 64))]
        print(f"  row {r} col map (kernel col -> ref col):", colmap)

from sageattention import reference as R  # noqa: E402

for D in (128, 64):
    for n in (128, 256, 1024):
        for gran in ("per_warp", "per_thread"):
            q, k, v = (torch.randn(1, 2, n, D, device="cuda", dtype=torch.half) for _ in range(3))
            ops = sm90.quantize(q, k, v, "HND", gran, True, False)
            out, lse = torch.ops.sageattention.qk_int8_pv_fp8_sm90(
                q, ops["q_int8"], ops["q_scale"], ops["k_int8"], ops["k_scale"], ops["v_fp8"], ops["v_scale"], None,
                0, n, False, gran == "per_thread", 1 / math.sqrt(D), True)
            qs, ks = sm90.group_specs(gran)
            order = sm90.fragment_key_order(ops["v_fp8"].shape[-1], "cuda")
            v_std = ops["v_fp8"].view(torch.uint8)[..., order].view(torch.float8_e4m3fn)
            ref, rl = R.attention_from_quantized(ops["q_int8"], ops["q_scale"], qs, ops["k_int8"], ops["k_scale"], ks,
                                                 v_std, ops["v_scale"], qo_len=n, kv_len=n, head_dim=D,
                                                 sm_scale=1 / math.sqrt(D), block_kv=128)
            rel = R.rel_l1(out, ref)
            per_row = ((out.double() - ref).abs().sum(-1) / ref.abs().sum(-1))[0, 0]
            worst = per_row.topk(4).indices.tolist()
            print(f"oracle D={D} n={n} {gran}: rel {rel:.4f} lse err {float((lse - rl).abs().max()):.4f} worst rows {worst}")
