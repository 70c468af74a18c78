// Minifloats — float16, bfloat16, the float8 kinds and float4_e2m1fn — as bit layouts, with the
// exact decoding (bits → double) the readers use and the rounding encoder (double → bits) the
// edit layer's casts use. One table for both, so a layout is written down once.
//
// Layouts follow ml_dtypes 0.6 (float8.h, intN/float4 types); tests/interop checks all 256
// patterns of every 8-bit kind and all 65,536 of float16 and bfloat16. Pure functions,
// thread-safe.
#pragma once

#include <cstdint>

#include "ckpt/core/dtype.h"

namespace ckpt {

// How a minifloat spends its all-ones exponent and its sign bit (see ml_dtypes' float8.h).
enum class MiniFloatSpecials {
    kIeee,              // all-ones exponent: mantissa 0 = ±inf, else NaN
    kFiniteNanAllOnes,  // "fn": only S.1111.111 is NaN; no infinities
    kFiniteNanNegZero,  // "fnuz": the bit pattern of -0 is the only NaN; no infinities, no -0
    kFiniteOnly,        // float4_e2m1fn: every pattern is a finite number
};

struct MiniFloat {
    int exponentBits;
    int mantissaBits;
    int bias;
    MiniFloatSpecials special;
};

inline constexpr MiniFloat kFloat16{5, 10, 15, MiniFloatSpecials::kIeee};
inline constexpr MiniFloat kBFloat16{8, 7, 127, MiniFloatSpecials::kIeee};
inline constexpr MiniFloat kE4M3FN{4, 3, 7, MiniFloatSpecials::kFiniteNanAllOnes};
inline constexpr MiniFloat kE5M2{5, 2, 15, MiniFloatSpecials::kIeee};
inline constexpr MiniFloat kE4M3FNUZ{4, 3, 8, MiniFloatSpecials::kFiniteNanNegZero};
inline constexpr MiniFloat kE5M2FNUZ{5, 2, 16, MiniFloatSpecials::kFiniteNanNegZero};
inline constexpr MiniFloat kE4M3B11FNUZ{4, 3, 11, MiniFloatSpecials::kFiniteNanNegZero};
inline constexpr MiniFloat kE4M3{4, 3, 7, MiniFloatSpecials::kIeee};
inline constexpr MiniFloat kE3M4{3, 4, 3, MiniFloatSpecials::kIeee};
inline constexpr MiniFloat kE2M1FN{2, 1, 1, MiniFloatSpecials::kFiniteOnly};

// The layout of `dtype`, or null when it is not a minifloat (float8_e8m0fnu, an exponent-only
// scale, is not one).
const MiniFloat* miniFloatLayout(DType dtype);

// The value of `bits` (the low 1 + exponentBits + mantissaBits bits).
double decodeMiniFloat(std::uint32_t bits, const MiniFloat& f);

// `x` rounded to nearest, ties to even; overflow gives ±inf, or NaN where the format has no
// infinity (ml_dtypes' non-saturating conversion); formats without -0 give +0. kFiniteOnly
// formats (no inf, no NaN) saturate on overflow and encode NaN as +0.
std::uint32_t encodeMiniFloat(double x, const MiniFloat& f);

// The largest finite value.
double miniFloatMax(const MiniFloat& f);

}  // namespace ckpt
