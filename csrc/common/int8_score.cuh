// INT8 scores as floats without a conversion instruction.
//
// I2F / I2FP run on a quarter-rate pipe (the one MUFU.EX2 needs for the softmax), one per score.
// Starting the int32 accumulator at the bits of the float 1.5 * 2^23 instead of 0 makes the result's
// bits the float 1.5 * 2^23 + S exactly, because |S| <= 127^2 * 256 < 2^22 keeps it inside that
// float's binade (every integer there is representable). Consumers then compute the logit as
// raw * mult - kScoreMagic * mult + ...; the rounding of kScoreMagic * mult moves all logits of a row
// and tile alike by <= 2^-24 * kScoreMagic * mult, under one unit of S's quantization step.
#pragma once

namespace sage {

constexpr int kScoreMagicBits = 0x4B400000;  // bits of the float 12582912 = 1.5 * 2^23
constexpr float kScoreMagic = 12582912.f;

}  // namespace sage
