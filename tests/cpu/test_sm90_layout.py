"""CPU checks of the sm90 kernel's host-side conventions (no GPU needed)."""

from __future__ import annotations

import pytest
import torch

from sageattention.kernels import sm90


def test_fragment_key_order_is_a_permutation_within_32():
    order = sm90.fragment_key_order(256)
    assert sorted(order.tolist()) == list(range(256))
    assert bool(((order // 32) == (torch.arange(256) // 32)).all())


def test_fragment_key_order_matches_the_wgmma_a_fragment():
    # A thread (g, t) of the S accumulator holds keys 8b + 2t + e (b: n8 block, e: element) of each
    # 16; the 8-bit A fragment wants k = 4t + i. Token 16h + 8b + 2t + e must sit at 16h + 4t + 2b + e.
    order = sm90.fragment_key_order(32)
    for h in range(2):
        for b in range(2):
            for t in range(4):
                for e in range(2):
                    assert int(order[16 * h + 8 * b + 2 * t + e]) == 16 * h + 4 * t + 2 * b + e


def test_group_specs_follow_the_accumulator_fragment():
    q, k = sm90.group_specs("per_thread")
    assert (q.block, q.period, q.stride) == (16, 8, 1)
    assert (k.block, k.period, k.stride) == (128, 8, 2)
    q, k = sm90.group_specs("per_warp")
    assert (q.block, k.block, q.groups, k.groups) == (16, 128, 1, 1)
    with pytest.raises(ValueError, match="per_thread"):
        sm90.group_specs("per_block")


def test_head_dims():
    assert [sm90.padded_head_dim(d) for d in (32, 64, 80, 128)] == [64, 64, 128, 128]
    with pytest.raises(NotImplementedError, match="mma.sync"):
        sm90.padded_head_dim(256)
