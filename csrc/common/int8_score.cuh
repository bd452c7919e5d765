// INT8 scores as floats without a conversion instruction.
//
// A conversion per score is costly: I2F runs on the quarter-rate pipe that MUFU.EX2 needs for the
// softmax (mma.sync kernels: +15 % without it), and sm_90's I2FP still costs an issue slot on the
// softmax's critical path (sm90 kernel: +5-11 % without it). Starting the int32 accumulator at the
// bits of the float 1.5 * 2^23 instead of 0 makes the result's bits the float 1.5 * 2^23 + S
// exactly, because |S| <= 127^2 * 256 < 2^22 keeps it inside that float's binade (every integer
// there is representable). Consumers then compute the logit as
// raw * mult - kScoreMagic * mult + ...; the rounding of kScoreMagic * mult moves all logits of a
// row and tile alike by <= 2^-24 * kScoreMagic * mult, under one unit of S's quantization step.
//
// Row maxima can be taken on the bit patterns as ints: the raw scores are positive floats and a
// masked score is -inf, a negative int, so int order is float order. __vimax3_s32 (one VIMNMX3 on
// sm_90, DPX; two integer max elsewhere) then takes three at a time, as a shallow tree instead of a
// dependent FMNMX chain in front of the first exp2 of every tile.
#pragma once

namespace sage {

constexpr int kScoreMagicBits = 0x4B400000;  // bits of the float 12582912 = 1.5 * 2^23
constexpr float kScoreMagic = 12582912.f;

}  // namespace sage
