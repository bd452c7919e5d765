"""The sm90 INT8-PV kernel's P~ byte (csrc/sm90/mainloop.cuh, softmax_tile with kU8P): its exp2 argument is
fma(kScoreMagic + S, scale, -shift) with shift = fma(kScoreMagic, scale, m - log2 255) rounded to fp32, so at large
scales shift's rounding can lift the row's top P~ past 255.4375, whose byte wraps to 0. The kernel adds
max(|shift| * 2^-21 - headroom, 0) to shift. This emulates that fp32 arithmetic (fma as one rounding of the float64
result, exact here: the products of two 24-bit significands fit in 53 bits) over scales from ordinary to |Q| * |K|
amax of ~12 000 (bf16 values of 100 and more), and checks that the top's argument stays under kU8Top with the bump, and passes it without."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if not (ROOT / "csrc").is_dir():  # the test image carries tests/ without the sources
    pytest.skip("needs the checkout's csrc/ (the kernel's constants are read from it)", allow_module_level=True)


def _constant(path: str, name: str) -> float:
    """A `constexpr float NAME = [kU8Offset + ]LITERALf;` of the kernel sources (the one place they are defined)."""
    match = re.search(rf"constexpr float {name} = (kU8Offset \+ )?([0-9.]+)f;", (ROOT / path).read_text())
    assert match, f"{name} not found in {path}"
    value = float(np.float32(match.group(2)))
    return float(np.float32(U8_OFFSET) + np.float32(value)) if match.group(1) else value


MAGIC = _constant("csrc/common/int8_score.cuh", "kScoreMagic")
U8_OFFSET = _constant("csrc/sm90/tile.cuh", "kU8Offset")
U8_TOP = _constant("csrc/sm90/tile.cuh", "kU8Top")
f32 = np.float32


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(f32)


def top_argument(scale: np.ndarray, s_max: np.ndarray, bump: bool) -> np.ndarray:
    """exp2's argument for the row's top score S_max (an integer), as softmax_tile forms it."""
    sf = (f32(MAGIC) + s_max.astype(f32)).astype(f32)  # exact: |S| < 2^22
    tile_max = ((sf - f32(MAGIC)) * scale).astype(f32)
    m_use = np.ceil(tile_max).astype(f32)
    shift = fma32(np.full_like(scale, MAGIC), scale, (m_use - f32(U8_OFFSET)).astype(f32))
    if bump:
        extra = fma32(np.abs(shift), np.full_like(shift, 2.0**-21), np.full_like(shift, f32(U8_OFFSET) - f32(U8_TOP)))
        shift = (shift + np.maximum(extra, f32(0))).astype(f32)
    return fma32(sf, scale, -shift)


@pytest.fixture(scope="module")
def draws() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    # q_scale * k_scale * sm_scale * log2 e, up to 0.1: |Q| * |K| amax ~12 000 at D = 128. Beyond, fp32 itself spaces
    # shift's values an eighth of a power of two apart and more, for every PV type.
    scale = (10.0 ** rng.uniform(-5, -1, 200_000)).astype(f32)
    s_max = rng.integers(-(2**22) + 1, 2**22, 200_000)  # |S| <= 127^2 * 256 < 2^22
    return scale, s_max


def test_the_top_p_stays_inside_its_byte_at_every_scale(draws) -> None:
    scale, s_max = draws
    arg = top_argument(scale, s_max, bump=True)
    assert float(arg.max()) <= U8_TOP
    # The top's exponent lies in (log2 255 - 1, log2 255] (the reference max is the row max rounded up) less the bump,
    # at most |shift| * 2^-21 <= (kScoreMagic + 2^22) * 0.1 * 2^-21 (0.8) at these scales.
    assert float(arg.min()) > U8_OFFSET - 1.0 - (MAGIC + 2**22) * float(scale.max()) * 2.0**-21


def test_without_the_bump_large_scales_wrap_the_byte(draws) -> None:
    scale, s_max = draws
    arg = top_argument(scale, s_max, bump=False)
    assert float(arg.max()) > U8_TOP  # the case the kernel guards against does occur
    assert float(arg[scale < 2e-4].max()) <= U8_TOP  # ordinary scales never needed it


def test_ordinary_scales_are_not_moved(draws) -> None:
    scale, s_max = draws
    small = scale < 2.5e-4  # |shift| under ~5 000 (< 12.6e6 * 2.5e-4 + 2^22 * 2.5e-4): the bump is exactly 0
    moved = top_argument(scale[small], s_max[small], True)
    assert small.sum() > 1000 and np.array_equal(moved, top_argument(scale[small], s_max[small], False))
