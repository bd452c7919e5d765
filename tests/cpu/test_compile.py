"""torch.compile traces each public entry point as one opaque op (sageattention/_compile.py).

On the CPU the op's implementation takes the SDPA path (sageattn, varlen) or raises the kernels' error
(explicit entry points), which is enough to check the routing, the fakes, the shapes under dynamic
shapes and that argument errors keep their eager messages. The GPU twin (tests/gpu/test_compile_gpu.py)
checks the kernels and CUDA graphs.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import pytest
import torch

import sageattention
from sageattention import core

pytestmark = pytest.mark.filterwarnings("ignore:sageattention.*using torch SDPA instead")


class Recorder:
    """A Dynamo backend that records the ops of every graph it is given and runs the graph as is."""

    def __init__(self) -> None:
        self.graphs = 0
        self.ops: list[str] = []
        self.entries: list[str] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        self.graphs += 1
        for node in gm.graph.nodes:
            if node.op == "call_function":
                self.ops.append(str(node.target))
                if str(node.target).startswith("sageattention.attention"):
                    self.entries.append(node.args[0])
        return gm.forward


@pytest.fixture(autouse=True)
def fresh_dynamo() -> None:
    torch._dynamo.reset()
    core._warned.clear()


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float32)


@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("return_lse", [False, True])
def test_sageattn_is_one_op_in_a_full_graph(layout: str, return_lse: bool) -> None:
    q, k, v = rand(2, 4, 33, 64), rand(2, 4, 33, 64), rand(2, 4, 33, 64)
    if layout == "NHD":
        k, v = rand(2, 47, 2, 64), rand(2, 47, 2, 64)  # GQA and qo_len != kv_len
        q = rand(2, 33, 4, 64)
    else:
        k, v = rand(2, 2, 47, 64), rand(2, 2, 47, 64)

    def f(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
        return sageattention.sageattn(q, k, v, tensor_layout=layout, is_causal=True, return_lse=return_lse)

    rec = Recorder()
    got = torch.compile(f, fullgraph=True, backend=rec)(q, k, v)
    want = f(q, k, v)
    assert rec.graphs == 1 and rec.entries == ["sageattn"]
    assert [op for op in rec.ops if op.startswith("sageattention.")] == ["sageattention.attention"]
    if return_lse:
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert got[1].shape == (2, 4, 33)
    else:
        assert torch.equal(got, want)


def test_dynamic_shapes_compile_once() -> None:
    rec = Recorder()
    f = torch.compile(lambda q, k, v: sageattention.sageattn(q, k, v, return_lse=True), backend=rec, dynamic=True)
    for n, m in ((40, 60), (70, 130), (9, 5)):
        q, k, v = rand(1, 2, n, 32), rand(1, 2, m, 32), rand(1, 2, m, 32)
        out, lse = f(q, k, v)
        want, want_lse = sageattention.sageattn(q, k, v, return_lse=True)
        assert out.shape == (1, 2, n, 32) and lse.shape == (1, 2, n)
        assert torch.equal(out, want) and torch.equal(lse, want_lse)
    assert rec.graphs == 1


def test_options_reach_the_eager_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = core.sageattn

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: Any) -> Any:
        if not torch.compiler.is_compiling():
            seen.update(kw)
        return real(q, k, v, **kw)

    monkeypatch.setattr(core, "sageattn", spy)
    q = rand(1, 2, 16, 64)
    torch.compile(lambda q: sageattention.sageattn(q, q, q, scale=0.5, qk_quant_gran="per_warp", smooth_v=True),
                  fullgraph=True, backend="aot_eager")(q)
    # scale is resolved into sm_scale at trace time; options left open (None) are not passed: the entry's defaults
    assert seen == {"tensor_layout": "HND", "is_causal": False, "sm_scale": 0.5, "return_lse": False,
                    "dropout_p": 0.0, "qk_quant_gran": "per_warp", "smooth_v": True}


def test_attn_mask_goes_through_the_op() -> None:
    q, k, v = rand(1, 2, 9, 16), rand(1, 2, 11, 16), rand(1, 2, 11, 16)
    mask = torch.rand(9, 11) > 0.3
    mask[:, 0] = True
    rec = Recorder()
    got = torch.compile(lambda q, k, v, m: sageattention.sageattn(q, k, v, attn_mask=m), fullgraph=True,
                        backend=rec)(q, k, v, mask)
    assert rec.entries == ["sageattn"]
    assert torch.equal(got, sageattention.sageattn(q, k, v, attn_mask=mask))


def test_triton_entry_with_attn_mask_is_one_op() -> None:
    # Its mask path is SDPA with a warning, which Dynamo cannot trace in a full graph.
    q = rand(1, 2, 9, 16)
    mask = torch.rand(9, 9) > 0.3
    mask[:, 0] = True
    rec = Recorder()
    fn = sageattention.sageattn_qk_int8_pv_fp16_triton
    got = torch.compile(lambda q, m: fn(q, q, q, attn_mask=m), fullgraph=True, backend=rec)(q, mask)
    assert rec.entries == ["sageattn_qk_int8_pv_fp16_triton"]
    assert torch.equal(got, fn(q, q, q, attn_mask=mask))


@pytest.mark.parametrize("entry", ["sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp8_cuda",
                                   "sageattn_qk_int8_pv_fp8_cuda_sm90", "sageattn_qk_int8_pv_fp16_cuda_sm90",
                                   "sageattn_qk_int8_pv_int8_cuda_sm90", "sageattn_qk_int8_pv_fp16_triton"])
def test_explicit_entry_points_trace_to_the_op_and_keep_their_errors(entry: str) -> None:
    fn = getattr(sageattention, entry)
    q = rand(1, 2, 16, 64)
    rec = Recorder()
    with pytest.raises(ValueError, match="inputs on cpu, the kernels need CUDA tensors"):
        torch.compile(lambda q: fn(q, q, q, is_causal=True), fullgraph=True, backend=rec)(q)
    assert rec.entries == [entry]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tensor_layout": "BHSD"}, ValueError, "tensor_layout must be 'HND'"),
        ({"sm_scale": float("nan")}, ValueError, "sm_scale must be finite"),
        ({"qk_quant_gran": "per_block"}, ValueError, "qk_quant_gran"),
        ({"window": 3}, TypeError, r"unexpected keyword argument\(s\) \['window'\]"),
        ({"is_causal": "yes"}, TypeError, "is_causal"),
    ],
)
def test_argument_errors_keep_their_eager_messages(kwargs: dict[str, Any], error: type, match: str) -> None:
    q = rand(1, 2, 16, 64)
    fn = sageattention.sageattn_qk_int8_pv_fp16_cuda if "qk_quant_gran" in kwargs else sageattention.sageattn
    with pytest.raises(error, match=match):
        fn(q, q, q, **kwargs)
    with pytest.raises(error, match=match):  # a graph break on the error: Dynamo re-runs the frame eagerly
        torch.compile(lambda q: fn(q, q, q, **kwargs), backend="eager")(q)


def pack(lengths: list[int], heads: int = 2, d: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    return rand(sum(lengths), heads, d), cu


def test_varlen_is_one_op_and_compiles_once_over_packs() -> None:
    rec = Recorder()

    def f(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, n: int) -> Any:
        return sageattention.sageattn_varlen(q, k, v, cu, cu, n, n, is_causal=True, return_lse=True)

    compiled = torch.compile(f, fullgraph=True, backend=rec, dynamic=True)
    for lengths in ([5, 17, 17, 3], [40, 1, 9]):
        q, cu = pack(lengths)
        k, v = rand(*q.shape), rand(*q.shape)
        out, lse = compiled(q, k, v, cu, max(lengths))
        want, want_lse = f(q, k, v, cu, max(lengths))
        assert torch.equal(out, want) and torch.equal(lse, want_lse)
        assert lse.shape == (2, sum(lengths))
    assert rec.graphs == 1
    assert [op for op in rec.ops if op.startswith("sageattention.")] == ["sageattention.varlen_attention"]


@pytest.mark.skipif(not hasattr(torch.Tag, "cudagraph_unsafe"), reason="this torch has no cudagraph_unsafe tag")
def test_varlen_op_is_marked_cudagraph_unsafe() -> None:
    # It reads cu_seqlens on the host: a CUDA graph capture of it would fail, inductor must not try.
    assert torch.Tag.cudagraph_unsafe in torch.ops.sageattention.varlen_attention.default.tags
    assert torch.Tag.cudagraph_unsafe not in torch.ops.sageattention.attention.default.tags


def test_varlen_rejects_attn_mask_and_unknown_options() -> None:
    q, cu = pack([4, 4])
    with pytest.raises(TypeError, match="takes no attn_mask: cu_seqlens_q/cu_seqlens_k separate the sequences"):
        sageattention.sageattn_varlen(q, q, q, cu, cu, 4, 4, attn_mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['window'\]"):
        sageattention.sageattn_varlen(q, q, q, cu, cu, 4, 4, window=2)
    with pytest.raises(ValueError, match="disagree"):
        sageattention.sageattn_varlen(q, q, q, cu, cu, 4, 4, sm_scale=0.1, scale=0.2)


def test_varlen_scale_alias() -> None:
    q, cu = pack([6, 3])
    k, v = rand(*q.shape), rand(*q.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = sageattention.sageattn_varlen(q, k, v, cu, cu, 6, 6, scale=0.3)
        b = sageattention.sageattn_varlen(q, k, v, cu, cu, 6, 6, sm_scale=0.3)
        c = sageattention.sageattn_varlen(q, k, v, cu, cu, 6, 6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ops_pass_opcheck() -> None:
    q, k, v = rand(1, 2, 9, 16), rand(1, 2, 12, 16), rand(1, 2, 12, 16)
    options = (None, None, None, None, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lse in (False, True):
            torch.library.opcheck(torch.ops.sageattention.attention.default,
                                  ("sageattn", q, k, v, "HND", True, 0.25, lse, *options))
        qp, cu = pack([3, 6])
        torch.library.opcheck(torch.ops.sageattention.varlen_attention.default,
                              (qp, qp, qp, cu, cu, 6, 6, False, None, True, True, None, None, None, None))


def test_backward_through_the_compiled_op_is_a_clear_error() -> None:
    # The kernels are inference-only: the compiled op must not hand back "no gradient" silently. Tracing a model
    # whose inputs require grad still works (inference without no_grad); backward raises.
    q = rand(1, 2, 9, 16).requires_grad_()
    out = torch.compile(lambda q: sageattention.sageattn(q, q * 2, q), fullgraph=True, backend="aot_eager")(q)
    assert torch.equal(out.detach(), sageattention.sageattn(q.detach(), q.detach() * 2, q.detach()))
    with pytest.raises(RuntimeError, match="sageattention has no backward: its 8-bit kernels are inference-only"):
        out.sum().backward()
    qp, cu = pack([4, 5])
    qp.requires_grad_()
    out, lse = torch.compile(lambda q, c: sageattention.sageattn_varlen(q, q, q, c, c, 5, 5, return_lse=True),
                             fullgraph=True, backend="aot_eager")(qp, cu)
    with pytest.raises(RuntimeError, match="no backward"):
        (out.sum() + lse.sum()).backward()
