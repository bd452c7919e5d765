"""Attention calls of real models, as (batch, heads, lengths, head dim): what ``python -m sageattention.bench_models``
times. Token counts follow each model's published configuration; ``derivation`` shows the arithmetic so a reader
can check it. Batch 2 where the usual pipeline runs classifier-free guidance as one batch; ``dtype`` is the one
the model's reference pipeline runs in."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelShape:
    model: str
    layer: str
    batch: int
    heads: int
    kv_heads: int
    q_len: int
    kv_len: int
    headdim: int
    causal: bool
    dtype: str  # what the model usually runs in
    derivation: str

    @property
    def label(self) -> str:
        return f"{self.model}, {self.layer}"

    def flops(self) -> float:
        """4·B·H·Nq·Nkv·D, counting only the scores a causal mask keeps (bottom-right aligned)."""
        if not self.causal:
            kept = self.q_len * self.kv_len
        else:  # row i sees keys j <= i + (kv_len - q_len)
            offset = self.kv_len - self.q_len
            kept = sum(max(0, min(self.kv_len, i + offset + 1)) for i in range(self.q_len))
        return 4.0 * self.batch * self.heads * kept * self.headdim


MODEL_SHAPES: tuple[ModelShape, ...] = (
    ModelShape("SD 1.5, 512x512", "self-attention, first level", 2, 8, 8, 4096, 4096, 40, False, "fp16",
               "latent 64x64 = 4096 tokens; 320 channels / 8 heads = D40 (padded to 64)"),
    ModelShape("SD 1.5, 512x512", "cross-attention to CLIP", 2, 8, 8, 4096, 77, 40, False, "fp16",
               "4096 image tokens attend to 77 text tokens"),
    ModelShape("SDXL, 1024x1024", "self-attention, 64x64 level", 2, 10, 10, 4096, 4096, 64, False, "fp16",
               "latent 128x128 downsampled to 64x64 = 4096 tokens; 640 channels / 10 heads"),
    ModelShape("SDXL, 1024x1024", "self-attention, 32x32 level", 2, 20, 20, 1024, 1024, 64, False, "fp16",
               "32x32 = 1024 tokens; 1280 channels / 20 heads"),
    ModelShape("SDXL, 1024x1024", "cross-attention to CLIP", 2, 10, 10, 4096, 77, 64, False, "fp16",
               "4096 image tokens attend to 77 text tokens"),
    ModelShape("SD3 medium, 1024x1024", "joint attention", 2, 24, 24, 4429, 4429, 64, False, "fp16",
               "latent 128x128, patch 2 -> 4096 image tokens + 77 CLIP + 256 T5 = 4429; 1536 / 24 heads"),
    ModelShape("FLUX.1-dev, 1024x1024", "joint attention", 1, 24, 24, 4608, 4608, 128, False, "bf16",
               "latent 128x128, patch 2 -> 4096 image tokens + 512 T5 = 4608; 3072 / 24 heads"),
    ModelShape("CogVideoX-5B, 720x480, 49 frames", "joint attention", 2, 48, 48, 17776, 17776, 64, False, "bf16",
               "latent 13 x 60 x 90, patch 2 -> 13 x 30 x 45 = 17550 + 226 text = 17776; 3072 / 48 heads"),
    ModelShape("Wan2.1-T2V-14B, 832x480, 81 frames", "self-attention", 1, 40, 40, 32760, 32760, 128, False, "bf16",
               "latent 21 x 60 x 104, patch 1x2x2 -> 21 x 30 x 52 = 32760; 5120 / 40 heads"),
    ModelShape("Wan2.1-T2V-14B, 832x480, 81 frames", "cross-attention to T5", 1, 40, 40, 32760, 512, 128, False, "bf16",
               "32760 video tokens attend to 512 text tokens"),
    ModelShape("HunyuanVideo, 1280x720, 129 frames", "joint attention", 1, 24, 24, 119056, 119056, 128, False, "bf16",
               "latent 33 x 90 x 160, patch 2 -> 33 x 45 x 80 = 118800 + 256 text = 119056; 3072 / 24 heads"),
    ModelShape("Llama-3.1-8B", "prefill, 8K tokens", 1, 32, 8, 8192, 8192, 128, True, "bf16",
               "32 query heads share 8 KV heads (GQA 4:1), D128, causal"),
    ModelShape("Qwen2.5-7B", "prefill, 32K tokens", 1, 28, 4, 32768, 32768, 128, True, "bf16",
               "28 query heads share 4 KV heads (GQA 7:1), D128, causal"),
)


def select(only: str | None) -> tuple[ModelShape, ...]:
    """The shapes whose label contains ``only`` (case-insensitive); all of them for None."""
    if not only:
        return MODEL_SHAPES
    picked = tuple(s for s in MODEL_SHAPES if only.lower() in s.label.lower())
    if not picked:
        known = sorted({s.model for s in MODEL_SHAPES})
        raise ValueError(f"--only {only!r} matches no model shape; models: {'; '.join(known)}")
    return picked
