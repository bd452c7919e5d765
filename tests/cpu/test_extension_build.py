"""Checks on the compiled extension modules, when present (CI builds them; set
SAGEATTENTION_REQUIRE_BUILD=1 to make a missing build a failure instead of a skip)."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

PKG = pathlib.Path(__file__).resolve().parents[2] / "sageattention"
SOS = sorted(PKG.glob("_C*.so"))


def _require_build() -> None:
    if not SOS:
        if os.environ.get("SAGEATTENTION_REQUIRE_BUILD") == "1":
            pytest.fail("no compiled sageattention/_C*.so, but SAGEATTENTION_REQUIRE_BUILD=1")
        pytest.skip("extension not built in this checkout (python setup.py build_ext --inplace)")


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # nvidia-cuda-cuobjdump wheels put it under site-packages/nvidia/cu*/bin.
    for base in map(pathlib.Path, sys.path):
        for cand in base.glob(f"nvidia/cu*/bin/{name}"):
            return str(cand)
    return None


def build_config() -> dict:
    from sageattention._build_config import BUILD_CONFIG

    return BUILD_CONFIG


def test_every_module_is_abi3_named_and_listed() -> None:
    _require_build()
    cfg = build_config()
    names = {p.name.split(".")[0] for p in SOS}
    assert names == set(cfg["modules"])
    assert all(p.name.endswith(".abi3.so") for p in SOS)


def test_cubins_match_the_planned_archs() -> None:
    _require_build()
    cuobjdump = find_tool("cuobjdump")
    if cuobjdump is None:
        pytest.fail("cuobjdump not found: pip install 'nvidia-cuda-cuobjdump' (the .ci/run script does)")
    cfg = build_config()
    module_family = {"_C": "core", "_C_mma_fp16": "mma_fp16", "_C_mma_fp8": "mma_fp8", "_C_sm90": "sm90"}
    for so in SOS:
        out = subprocess.run([cuobjdump, "--list-elf", str(so)], capture_output=True, text=True, check=True).stdout
        found = set(re.findall(r"\.(sm_\d+a?)\.cubin", out))
        assert found == set(cfg["families"][module_family[so.name.split(".")[0]]]), (so.name, out)


def test_no_libtorch_cxx_symbols() -> None:
    _require_build()
    # The stable ABI means only C shim symbols (aoti_torch_*, torch_*) are imported from libtorch:
    # a mangled c10::/at::/torch:: reference would tie the wheel to one torch version.
    for so in SOS:
        out = subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True, check=True).stdout
        mangled = [line.split()[-1] for line in out.splitlines() if re.search(r"\b_ZN?K?(3c10|2at|5torch)", line)]
        assert not mangled, f"{so.name} imports libtorch C++ symbols: {mangled[:5]}"
        assert "aoti_torch_" in out


def test_abi3audit_clean() -> None:
    _require_build()
    abi3audit = shutil.which("abi3audit")
    if abi3audit is None:
        pytest.fail("abi3audit not installed: pip install abi3audit (the .ci/run script does)")
    res = subprocess.run([abi3audit, "--strict", "--assume-minimum-abi3", "3.10", "-s", *map(str, SOS)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 ABI violations" in re.sub(r"\s+", " ", res.stdout + res.stderr)


def test_sm90_kv_block_reports_the_compiled_softmax_steps() -> None:
    _require_build()
    if "_C_sm90" not in build_config()["modules"]:
        pytest.skip("this build has no sm90 module")
    import torch

    from sageattention.kernels import sm90

    # Two-level: one 128-key quantization block per step; single-level: longer steps of whole
    # 64-key V boxes, at most one wgmma N (256).
    assert sm90.kv_block(64, "fp32+fp32") == sm90.kv_block(128, "fp32+fp32") == sm90.CTA_K
    for d in (32, 64, 96, 128):
        step = sm90.kv_block(d, "fp32")
        assert step % 64 == 0 and sm90.CTA_K <= step <= 256
    assert sm90.kv_block(32, "fp32") == sm90.kv_block(64, "fp32")
    with pytest.raises(ValueError, match="fp32\\+fp32"):
        sm90.kv_block(64, "fp16")
    with pytest.raises(RuntimeError, match="head_dim_padded must be 64, 128 or 256"):
        torch.ops.sageattention.sm90_kv_block(96, True)
    # Head dim 256: single level only, in 128-key steps (O takes 128 registers per thread).
    assert sm90.kv_block(160, "fp32") == sm90.kv_block(256, "fp32") == 128
    with pytest.raises(NotImplementedError, match='pv_accum_dtype="fp32"'):
        sm90.kv_block(256, "fp32+fp32")
    with pytest.raises(RuntimeError, match='pv_accum_dtype=\\"fp32\\" only'):
        torch.ops.sageattention.sm90_kv_block(256, True)


def _sass_functions(so: pathlib.Path, cuobjdump: str) -> dict[str, list[tuple[int, str]]]:
    """Each kernel's SASS instructions as (address, text without the encoding comment), by mangled name."""
    out = subprocess.run([cuobjdump, "--dump-sass", str(so)], capture_output=True, text=True, check=True).stdout
    funcs: dict[str, list[tuple[int, str]]] = {}
    current = None
    for line in out.splitlines():
        if "Function :" in line:
            current = line.split("Function :")[1].strip()
            funcs[current] = []
        elif current is not None:
            m = re.search(r"/\*([0-9a-f]{4,6})\*/\s+(.*?);", line)
            if m:
                funcs[current].append((int(m.group(1), 16), m.group(2).strip()))
    return funcs


def _opcode(text: str) -> str:
    """An instruction's opcode without its predicate and modifiers: '@!P0 LDL.LU R0, [R1]' -> 'LDL'."""
    return re.sub(r"^@!?U?P\w+\s+", "", text).split(None, 1)[0].split(".", 1)[0]


def _wgmma_loops(ins: list[tuple[int, str]]) -> list[list[str]]:
    """Bodies of the innermost conditional backward branches that enclose a wgmma: the consumer loops over K/V
    steps. The loop over work items around them is left out, and so are the unconditional jumps back from the
    out-of-line barrier-wait paths that ptxas places after the kernel's exit."""
    index = {addr: i for i, (addr, _) in enumerate(ins)}
    spans = []
    for i, (addr, text) in enumerate(ins):
        m = re.match(r"@!?U?P\d\s+BRA.*?0x([0-9a-f]+)", text)
        target = int(m.group(1), 16) if m else addr
        if target < addr and target in index:
            start = index[target]
            if any("GMMA" in t for _, t in ins[start:i + 1]):
                spans.append((start, i))
    inner = [(a, b) for a, b in spans if not any((a, b) != (c, d) and a <= c and d <= b for c, d in spans)]
    return [[t for _, t in ins[a:b + 1]] for a, b in inner]


def test_sm90_consumer_loops_issue_wgmma_without_spills_or_moved_descriptors() -> None:
    """The SASS properties bench/NOTES.md measured: every sm90 attention kernel's consumer loop issues IGMMA
    (QK) and QGMMA (PV; HGMMA in the 16-bit PV kernels, IGMMA .U8.S8 in the INT8-PV ones), touches no local memory, and keeps its ring indices and wgmma descriptors in uniform
    registers: at most 8 R2UR per loop at D64/D128, 16 at D256 (the Q descriptor of each QK wgmma; the D64
    single-level loops hold Q in registers instead, and their IGMMAs take it as a register operand). A value ptxas
    cannot prove warp-uniform (the causal step count read from shared memory, eleventh session) made it 24-28 and
    cost causal 4-7 %. The non-causal two-level loops keep 16-24: the shuffle that removes them measured 2-3 %
    slower there."""
    _require_build()
    if "_C_sm90" not in build_config()["modules"]:
        pytest.skip("this build has no sm90 module")
    cuobjdump = find_tool("cuobjdump")
    if cuobjdump is None:
        pytest.fail("cuobjdump not found: pip install 'nvidia-cuda-cuobjdump' (the .ci/run script does)")
    funcs = _sass_functions(PKG / "_C_sm90.abi3.so", cuobjdump)
    kernels = {name: ins for name, ins in funcs.items() if "attn_fwd_kernel" in name}
    # D 64/128 x causal x fp16/bf16 x accumulation, + multicast, + D256 single level, + 16-bit PV, + INT8 PV
    assert len(kernels) >= 28, sorted(funcs)
    pv_types = {re.search(r"ELi(\d+)EEEv", name).group(1) for name in kernels}
    assert {"0", "1", "2", "3"} <= pv_types, sorted(kernels)
    for name, ins in kernels.items():
        # attn_fwd_kernel<D, CAUSAL, OutT, kTwoLevel, kMC, kVarlen, kQR, kPv>
        m = re.search(r"attn_fwd_kernelILi(\d+)ELb([01])E.+?Lb([01])ELb([01])ELb([01])ELi(\d+)ELi(\d+)EEEv", name)
        assert m, name
        causal, two_level = m.group(2) == "1", m.group(3) == "1"
        pv16, pv_int8 = m.group(7) in ("1", "2"), m.group(7) == "3"
        q_mode, pv_mma = int(m.group(6)), "HGMMA" if pv16 else "IGMMA" if pv_int8 else "QGMMA"
        # The D256 non-causal varlen kernels keep one 4-byte value in local memory across the step (one STL and
        # one LDL per 702 instructions, an L1 round trip): they hold the sequence's lengths in registers beside
        # a 128-register O. Measured as a whole, that op is faster than the runs path (bench/NOTES.md, "Head dim
        # 256"); any other kernel, or more than that, fails.
        spill_allowance = 1 if (m.group(5) == "1" and m.group(1) == "256" and not causal) else 0
        # The D256 INT8-PV loops (O 128 registers, its row sums 4 more) keep one value or two in local memory: 2-3
        # L1 accesses per ~740-instruction step.
        if m.group(7) == "3" and m.group(1) == "256":
            spill_allowance = 3
        loops = _wgmma_loops(ins)
        assert loops, f"{name}: no loop issues a wgmma"
        main = {_opcode(t) for t in max(loops, key=len)}
        assert {"IGMMA", pv_mma} <= main, name
        if pv_int8:
            assert any(".U8.S8" in t for t in max(loops, key=len)), name
        for body in loops:
            for op in ("LDL", "STL"):
                spills = [t for t in body if _opcode(t) == op]
                assert len(spills) <= spill_allowance, f"{name}: local memory in a wgmma loop: {spills[:4]}"
            r2ur = sum(_opcode(t) == "R2UR" for t in body)
            # The Q descriptor: two R2UR (64 bits) per QK wgmma, D / 32 of them per step (8 at D256).
            limit = 2 * max(4, int(m.group(1)) // 32)
            # INT8 PV's causal D128 loops move one value more (a predicated R2UR at the loop top, from ptxas'
            # schedule of the longer softmax), not a descriptor.
            limit += 1 if pv_int8 and causal else 0
            if causal or not two_level:
                assert r2ur <= limit, f"{name}: {r2ur} R2UR in a {len(body)}-instruction wgmma loop"
        # Where the QK batch takes Q from (bench/NOTES.md, "Q in registers"): the D64 single-level loops and the 16-bit
        # PV loops hold it in registers (the kernel's kQR; IGMMA's A operand is a register), every other loop reads it
        # from shared memory (a descriptor).
        igmma = [t for t in max(loops, key=len) if _opcode(t) == "IGMMA" and ".S8.S8" in t]  # QK (PV is U8.S8)
        q_in_registers = q_mode != 0 and m.group(1) != "256" and not two_level  # the two-level loop reads smem
        assert q_in_registers == (not two_level and (m.group(1) == "64" or (pv16 and m.group(1) != "256"))), name
        from_registers = [bool(re.search(r"IGMMA\.\S+ R\d+, R\d+, gdesc", t)) for t in igmma]
        assert all(r == q_in_registers for r in from_registers), f"{name}: {igmma}"


# FP8 mma.sync, native or emulated, per arch: the fact `sageattn`'s routing rests on (sageattention._device).
_FP8_MMA_PROBE = r"""
#include "common/mma/ptx.cuh"
__global__ void fp8_mma_probe(float* out, const uint32_t* in) {
  float d[4] = {0.f, 0.f, 0.f, 0.f};
  const uint32_t a[4] = {in[0], in[1], in[2], in[3]};
  sage::mma::mma_e4m3_16832_f32(d, a, in[4], in[5]);
  for (int i = 0; i < 4; ++i) out[threadIdx.x * 4 + i] = d[i];
}
"""


def _fp8_mma_archs() -> list[str]:
    from ci import archs

    return [a for a in archs.SUPPORTED_ARCHS if archs.parse_version(a) >= (8, 9)]


@pytest.mark.parametrize("arch", _fp8_mma_archs())
def test_fp8_mma_is_native_exactly_where_sageattn_routes_to_fp8_pv(arch: str, tmp_path: pathlib.Path) -> None:
    # nvcc lowers the project's e4m3 mma.sync wrapper to a QMMA where the tensor cores have it, and to F2FP unpacks
    # into f16 HMMAs where they do not (sm_90, sm_100): there the FP8-PV kernel is the slower one, so `sageattn`
    # must prefer FP16 PV (bench/mma_notes.md, "Thirty-ninth session").
    from ci import archs, toolkit
    from sageattention import _device

    nvcc, cuobjdump = find_tool("nvcc"), find_tool("cuobjdump")
    if nvcc is None or cuobjdump is None:
        if os.environ.get("SAGEATTENTION_REQUIRE_BUILD") == "1":
            pytest.fail("nvcc and cuobjdump are needed (the build has nvcc; pip install nvidia-cuda-cuobjdump)")
        pytest.skip("needs nvcc and cuobjdump to compile and read the probe")
    found = toolkit.nvcc_release(pathlib.Path(nvcc).parent.parent)
    if found is None:
        pytest.fail(f"{nvcc} --version names no release")
    release = archs.parse_version(found)
    if release < archs.min_nvcc(arch):
        pytest.skip(f"nvcc {release[0]}.{release[1]} cannot compile {arch} (needs {archs.min_nvcc(arch)})")
    target = archs.parse_arch_list(arch)[0]
    src = tmp_path / "probe.cu"
    src.write_text(_FP8_MMA_PROBE)
    cubin = tmp_path / "probe.cubin"
    csrc = pathlib.Path(__file__).resolve().parents[2] / "csrc"
    if not csrc.is_dir():
        pytest.skip("needs the checkout's csrc/ (the project's mma wrappers)")
    subprocess.run([nvcc, "-cubin", f"-arch={target.sm}", "-O3", f"-I{csrc}", "-o", str(cubin), str(src)],
                   check=True, capture_output=True, text=True)
    sass = subprocess.run([cuobjdump, "--dump-sass", str(cubin)], capture_output=True, text=True, check=True).stdout
    native = "QMMA" in sass
    assert native or ("F2FP" in sass and "HMMA" in sass), sass  # one of the two lowerings
    assert native == _device.fp8_mma_native((target.major, target.minor)), f"{arch}: QMMA in SASS = {native}"
    families = _device.preferred_families((target.major, target.minor))
    assert "mma_fp8" in families  # the explicit FP8-PV kernel stays available everywhere it compiles
    if (target.major, target.minor) != (9, 0):
        assert families[0] == ("mma_fp8" if native else "mma_fp16"), families


def test_mma_attn_smem_ops_report_what_fits_a_99_kb_block() -> None:
    # sm_86, sm_89 and sm_12x give a block at most 101 376 bytes (99 KB) and an SM 102 400, with 1 KB reserved per
    # block (CUDA's per-compute-capability limits). kernels/mma.smem_problem declines what does not fit.
    _require_build()
    modules = build_config()["modules"]
    if "_C_mma_fp16" not in modules or "_C_mma_fp8" not in modules:
        pytest.skip("this build has no mma.sync modules")
    import torch

    from sageattention import _lib

    assert _lib.load("mma_fp16") and _lib.load("mma_fp8"), _lib.error("mma_fp16") or _lib.error("mma_fp8")
    ops = torch.ops.sageattention
    f16 = {d: ops.mma_f16_attn_smem(d) for d in (64, 128, 256)}
    f8 = {d: ops.mma_f8_attn_smem(d) for d in (64, 128, 256)}
    per_block, per_sm = 101376, 102400
    assert max(*f16.values(), *f8.values()) <= per_block, (f16, f8)  # every kernel runs there
    # The D=256 FP16-PV kernel takes 32-key K/V tiles so that two CTAs (255 registers each) share an SM of sm_80
    # (167 936 bytes) and of sm_90; with 64-key tiles it took 119 808 bytes and one CTA filled those SMs.
    assert 2 * (f16[256] + 1024) <= 167936, f16
    # The D=64 kernels are built for 3 CTAs per SM (__launch_bounds__): 3 must fit those SMs, or the build's
    # register budget (168, with spills) would buy nothing.
    assert 3 * (max(f16[64], f8[64]) + 1024) <= per_sm, (f16, f8)
    with pytest.raises(RuntimeError, match="head_dim_padded must be 64, 128 or 256"):
        ops.mma_f16_attn_smem(96)
