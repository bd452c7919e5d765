"""Inputs past 2^31 bytes (video models' sequences: every offset in the quantization, the kernels and the epilogue
must be 64-bit) and inputs expanded along batch, heads or tokens (stride 0: MQA heads broadcast to the query heads,
one context shared by a batch), on every entry point, against float64."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import sageattention
from sageattention import reference
from tests.conftest import rel_l1
from tests.gpu.entries import ENTRIES, lse_bound, skip_unless_this_gpu_runs
from tests.gpu.varlen_checks import assert_pack_matches_fp64

pytestmark = pytest.mark.gpu

# 136 heads x 65 536 tokens x 128 channels x 2 bytes = 2.28 GB, past 2^31 = 2.15 GB; 65 536 keys is the longest call
# the INT8-PV kernel takes.
BIG_HEADS, BIG_LEN, D = 136, 65536, 128
CHECKED_HEADS = (0, BIG_HEADS // 2, BIG_HEADS - 1)


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=torch.float16)


def assert_heads_match_fp64(out: torch.Tensor, lse: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            bound: float, lse_tol: float) -> None:
    """HND tensors of batch 1: the checked heads (the last one's rows lie past 2^31 bytes) against float64."""
    for h in CHECKED_HEADS:
        ref, ref_lse = reference.attention_fp64(q[:, h:h + 1], k[:, h:h + 1], v[:, h:h + 1])
        assert rel_l1(out[:, h:h + 1], ref) < bound, f"head {h}"
        assert float((lse[:, h:h + 1].double() - ref_lse).abs().max()) < lse_tol, f"head {h}"


@pytest.fixture(autouse=True)
def _free_memory() -> Iterator[None]:
    yield
    torch.cuda.empty_cache()


@pytest.fixture
def gpu_with_16_gib() -> None:
    """The tests past 2^31 bytes hold ~10 GB at their peak (three 2.28 GB inputs, their quantized copies, the output)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    if total < 16 * 2**30:
        pytest.skip(f"needs a GPU of 16 GiB or more, this one has {total / 2**30:.1f} GiB")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.usefixtures("gpu_with_16_gib")
def test_keys_and_values_past_2_gib(entry: str) -> None:
    bound = skip_unless_this_gpu_runs(entry)
    q, k, v = rand(1, BIG_HEADS, 256, D), rand(1, BIG_HEADS, BIG_LEN, D), rand(1, BIG_HEADS, BIG_LEN, D)
    out, lse = getattr(sageattention, entry)(q, k, v, return_lse=True)
    assert_heads_match_fp64(out, lse, q, k, v, bound, lse_bound(entry))


@pytest.mark.parametrize("entry", sorted(ENTRIES))
@pytest.mark.usefixtures("gpu_with_16_gib")
def test_queries_and_output_past_2_gib(entry: str) -> None:
    bound = skip_unless_this_gpu_runs(entry)
    q, k, v = rand(1, BIG_HEADS, BIG_LEN, D), rand(1, BIG_HEADS, 256, D), rand(1, BIG_HEADS, 256, D)
    out, lse = getattr(sageattention, entry)(q, k, v, return_lse=True)
    assert_heads_match_fp64(out, lse, q, k, v, bound, lse_bound(entry))


@pytest.mark.usefixtures("gpu_with_16_gib")
def test_packed_keys_past_2_gib() -> None:
    lens_q, lens_k = [128, 128], [BIG_LEN // 2, BIG_LEN // 2]
    q, k, v = rand(sum(lens_q), BIG_HEADS, D), rand(sum(lens_k), BIG_HEADS, D), rand(sum(lens_k), BIG_HEADS, D)
    cu_q = torch.tensor([0, lens_q[0], sum(lens_q)], dtype=torch.int32, device="cuda")
    cu_k = torch.tensor([0, lens_k[0], sum(lens_k)], dtype=torch.int32, device="cuda")
    out, lse = sageattention.sageattn_varlen(q, k, v, cu_q, cu_k, max(lens_q), max(lens_k), return_lse=True)
    assert_pack_matches_fp64(out, lse, q, k, v, cu_q.tolist(), cu_k.tolist(), causal=False, rel_l1_max=0.06,
                             heads=CHECKED_HEADS)


def expanded(layout: str, axis: str, b: int, h: int, n: int, d: int) -> torch.Tensor:
    """A (b, h, n, d) tensor in `layout` whose `axis` has stride 0 (torch.expand of a size-1 dimension)."""
    dims = {"batch": 0, "heads": 1 if layout == "HND" else 2, "tokens": 2 if layout == "HND" else 1}
    shape = [b, h, n, d] if layout == "HND" else [b, n, h, d]
    base = list(shape)
    base[dims[axis]] = 1
    t = rand(*base).expand(*shape)
    assert t.stride(dims[axis]) == 0
    return t


@pytest.mark.parametrize("axis", ["batch", "heads", "tokens"])
@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_expanded_inputs_match_their_contiguous_copies(entry: str, layout: str, axis: str) -> None:
    bound = skip_unless_this_gpu_runs(entry)
    b, h, n, d = 2, 4, 1000, 64
    q = rand(b, h, n, d) if layout == "HND" else rand(b, n, h, d)
    k, v = expanded(layout, axis, b, h, n, d), expanded(layout, axis, b, h, n, d)
    fn = getattr(sageattention, entry)
    out, lse = fn(q, k, v, tensor_layout=layout, is_causal=True, return_lse=True)
    same, same_lse = fn(q, k.contiguous(), v.contiguous(), tensor_layout=layout, is_causal=True, return_lse=True)
    assert torch.isfinite(out).all()
    assert rel_l1(out, same) < 1e-3 and float((lse - same_lse).abs().max()) < 1e-3
    to_hnd = (lambda t: t) if layout == "HND" else (lambda t: t.transpose(1, 2))
    ref, _ = reference.attention_fp64(to_hnd(q), to_hnd(k), to_hnd(v), True)
    assert rel_l1(to_hnd(out), ref) < bound


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_views_of_a_fused_qkv_projection(entry: str) -> None:
    """q, k, v as slices of one [B, N, 3, H, D] projection (NHD views whose token stride is 3 * H * D), the way
    attention layers with a fused QKV linear hand them over."""
    bound = skip_unless_this_gpu_runs(entry)
    b, n, h, d = 2, 1000, 4, 64
    qkv = rand(b, n, 3, h, d)
    q, k, v = qkv.unbind(2)
    out, lse = getattr(sageattention, entry)(q, k, v, tensor_layout="NHD", is_causal=True, return_lse=True)
    ref, ref_lse = reference.attention_fp64(*(t.transpose(1, 2) for t in (q, k, v)), True)
    assert rel_l1(out.transpose(1, 2), ref) < bound
    assert float((lse.double() - ref_lse).abs().max()) < lse_bound(entry)


def test_packed_views_of_a_fused_qkv_projection() -> None:
    lens = [300, 1000, 77]
    qkv = rand(sum(lens), 3, 4, 64)
    q, k, v = qkv.unbind(1)
    cu = torch.tensor([0, 300, 1300, 1377], dtype=torch.int32, device="cuda")
    out, lse = sageattention.sageattn_varlen(q, k, v, cu, cu, max(lens), max(lens), is_causal=True, return_lse=True)
    assert_pack_matches_fp64(out, lse, q, k, v, cu.tolist(), cu.tolist(), causal=True, rel_l1_max=0.06)
