#include "array/minifloat.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace ckpt {

const MiniFloat* miniFloatLayout(DType dtype) {
    switch (dtype) {
        case DType::kFloat16: return &kFloat16;
        case DType::kBFloat16: return &kBFloat16;
        case DType::kFloat8E4M3FN: return &kE4M3FN;
        case DType::kFloat8E5M2: return &kE5M2;
        case DType::kFloat8E4M3FNUZ: return &kE4M3FNUZ;
        case DType::kFloat8E5M2FNUZ: return &kE5M2FNUZ;
        case DType::kFloat8E4M3B11FNUZ: return &kE4M3B11FNUZ;
        case DType::kFloat8E4M3: return &kE4M3;
        case DType::kFloat8E3M4: return &kE3M4;
        case DType::kFloat4E2M1FN: return &kE2M1FN;
        default: return nullptr;
    }
}

double decodeMiniFloat(std::uint32_t bits, const MiniFloat& f) {
    const int total = 1 + f.exponentBits + f.mantissaBits;
    const std::uint32_t signBit = 1U << (total - 1);
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t manMask = (1U << f.mantissaBits) - 1;
    const bool negative = (bits & signBit) != 0;
    const std::uint32_t exponent = (bits >> f.mantissaBits) & expMask;
    const std::uint32_t mantissa = bits & manMask;
    switch (f.special) {
        case MiniFloatSpecials::kIeee:
            if (exponent == expMask) {
                if (mantissa == 0) {
                    return negative ? -std::numeric_limits<double>::infinity()
                                    : std::numeric_limits<double>::infinity();
                }
                return std::numeric_limits<double>::quiet_NaN();
            }
            break;
        case MiniFloatSpecials::kFiniteNanAllOnes:
            if (exponent == expMask && mantissa == manMask) {
                return std::numeric_limits<double>::quiet_NaN();
            }
            break;
        case MiniFloatSpecials::kFiniteNanNegZero:
            if (bits == signBit) return std::numeric_limits<double>::quiet_NaN();
            break;
        case MiniFloatSpecials::kFiniteOnly: break;
    }
    double magnitude = 0;
    if (exponent == 0) {
        magnitude = std::ldexp(static_cast<double>(mantissa), 1 - f.bias - f.mantissaBits);
    } else {
        magnitude = std::ldexp(static_cast<double>(mantissa | (1U << f.mantissaBits)),
                               static_cast<int>(exponent) - f.bias - f.mantissaBits);
    }
    return negative ? -magnitude : magnitude;
}

namespace {

std::uint32_t miniFloatNan(const MiniFloat& f, bool negative) {
    const int total = 1 + f.exponentBits + f.mantissaBits;
    const std::uint32_t signBit = 1U << (total - 1);
    const std::uint32_t sign = negative ? signBit : 0;
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t manMask = (1U << f.mantissaBits) - 1;
    switch (f.special) {
        case MiniFloatSpecials::kIeee:
            return sign | (expMask << f.mantissaBits) | (1U << (f.mantissaBits - 1));
        case MiniFloatSpecials::kFiniteNanAllOnes: return sign | (expMask << f.mantissaBits) | manMask;
        case MiniFloatSpecials::kFiniteNanNegZero: return signBit;
        case MiniFloatSpecials::kFiniteOnly: return 0;  // no NaN: +0, as documented
    }
    return signBit;
}

}  // namespace

double miniFloatMax(const MiniFloat& f) {
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t manMask = (1U << f.mantissaBits) - 1;
    std::uint32_t exponent = expMask;
    std::uint32_t mantissa = manMask;
    switch (f.special) {
        case MiniFloatSpecials::kIeee: exponent = expMask - 1; break;
        case MiniFloatSpecials::kFiniteNanAllOnes: mantissa = manMask - 1; break;
        case MiniFloatSpecials::kFiniteNanNegZero:
        case MiniFloatSpecials::kFiniteOnly: break;
    }
    return std::ldexp(static_cast<double>(mantissa | (1U << f.mantissaBits)),
                      static_cast<int>(exponent) - f.bias - f.mantissaBits);
}

// Round to nearest, ties to even (the default floating-point environment makes nearbyint do
// exactly that); overflow gives ±inf, or NaN where the format has no infinity (ml_dtypes'
// non-saturating conversion).
std::uint32_t encodeMiniFloat(double x, const MiniFloat& f) {
    const int total = 1 + f.exponentBits + f.mantissaBits;
    const std::uint32_t signBit = 1U << (total - 1);
    const bool negative = std::signbit(x);
    if (std::isnan(x)) return miniFloatNan(f, negative);
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t sign = negative ? signBit : 0;
    const auto overflow = [&]() -> std::uint32_t {
        if (f.special == MiniFloatSpecials::kIeee) return sign | (expMask << f.mantissaBits);
        if (f.special == MiniFloatSpecials::kFiniteOnly) return sign | (signBit - 1);  // max
        return miniFloatNan(f, negative);
    };
    const double a = std::fabs(x);
    if (std::isinf(a)) return overflow();
    const std::uint32_t unsignedZeroSign = f.special == MiniFloatSpecials::kFiniteNanNegZero ? 0 : sign;
    if (a == 0) return unsignedZeroSign;
    const int m = f.mantissaBits;
    const int e = std::ilogb(a);
    std::uint32_t bits = 0;
    double rounded = 0;
    if (e + f.bias < 1) {
        // Subnormal range: multiples of 2^(1 - bias - m). Rounding up to 2^m lands exactly on the
        // smallest normal, whose bit pattern is the same integer.
        const int quantum = 1 - f.bias - m;
        const double n = std::nearbyint(std::ldexp(a, -quantum));
        bits = static_cast<std::uint32_t>(n);
        rounded = std::ldexp(n, quantum);
    } else {
        int exponent = e;
        double n = std::nearbyint(std::ldexp(a, m - e));
        if (n >= std::ldexp(1.0, m + 1)) {
            n = std::ldexp(1.0, m);
            ++exponent;
        }
        rounded = std::ldexp(n, exponent - m);
        if (rounded > miniFloatMax(f)) return overflow();
        bits = (static_cast<std::uint32_t>(exponent + f.bias) << m) |
               (static_cast<std::uint32_t>(n) - (1U << m));
    }
    if (bits == 0) return unsignedZeroSign;
    return sign | bits;
}

}  // namespace ckpt
