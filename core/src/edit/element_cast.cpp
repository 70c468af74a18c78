#include "edit/element_cast.h"

#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace ckpt::edit {

namespace {

// How a minifloat spends its all-ones exponent (mirrors core/src/array/dtype.cpp, which decodes;
// ml_dtypes' float8.h is the reference for both).
enum class Special { kIeee, kFiniteNanAllOnes, kFiniteNanNegZero };

struct MiniFloat {
    int exponentBits;
    int mantissaBits;
    int bias;
    Special special;
};

constexpr MiniFloat kFloat16{5, 10, 15, Special::kIeee};
constexpr MiniFloat kBFloat16{8, 7, 127, Special::kIeee};
constexpr MiniFloat kE4M3FN{4, 3, 7, Special::kFiniteNanAllOnes};
constexpr MiniFloat kE5M2{5, 2, 15, Special::kIeee};
constexpr MiniFloat kE4M3FNUZ{4, 3, 8, Special::kFiniteNanNegZero};
constexpr MiniFloat kE5M2FNUZ{5, 2, 16, Special::kFiniteNanNegZero};
constexpr MiniFloat kE4M3B11FNUZ{4, 3, 11, Special::kFiniteNanNegZero};
constexpr MiniFloat kE4M3{4, 3, 7, Special::kIeee};
constexpr MiniFloat kE3M4{3, 4, 3, Special::kIeee};

const MiniFloat* miniFloat(DType dtype) {
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
        default: return nullptr;
    }
}

double miniFloatMax(const MiniFloat& f) {
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t manMask = (1U << f.mantissaBits) - 1;
    std::uint32_t exponent = expMask;
    std::uint32_t mantissa = manMask;
    switch (f.special) {
        case Special::kIeee: exponent = expMask - 1; break;
        case Special::kFiniteNanAllOnes: mantissa = manMask - 1; break;
        case Special::kFiniteNanNegZero: break;
    }
    return std::ldexp(static_cast<double>(mantissa | (1U << f.mantissaBits)),
                      static_cast<int>(exponent) - f.bias - f.mantissaBits);
}

std::uint32_t miniFloatNan(const MiniFloat& f, bool negative) {
    const int total = 1 + f.exponentBits + f.mantissaBits;
    const std::uint32_t signBit = 1U << (total - 1);
    const std::uint32_t sign = negative ? signBit : 0;
    const std::uint32_t expMask = (1U << f.exponentBits) - 1;
    const std::uint32_t manMask = (1U << f.mantissaBits) - 1;
    switch (f.special) {
        case Special::kIeee:
            return sign | (expMask << f.mantissaBits) | (1U << (f.mantissaBits - 1));
        case Special::kFiniteNanAllOnes: return sign | (expMask << f.mantissaBits) | manMask;
        case Special::kFiniteNanNegZero: return signBit;
    }
    return signBit;
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
        if (f.special == Special::kIeee) return sign | (expMask << f.mantissaBits);
        return miniFloatNan(f, negative);
    };
    const double a = std::fabs(x);
    if (std::isinf(a)) return overflow();
    const std::uint32_t unsignedZeroSign = f.special == Special::kFiniteNanNegZero ? 0 : sign;
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

template <typename T>
void store(std::byte* dst, T v) {
    std::memcpy(dst, &v, sizeof(T));
}

bool isWideInteger(DType d) { return isInteger(d) || d == DType::kBool; }

}  // namespace

Status checkCastTarget(DType to) {
    switch (to) {
        case DType::kInt2:
        case DType::kInt4:
        case DType::kUInt2:
        case DType::kUInt4:
        case DType::kFloat4E2M1FN:
        case DType::kFloat8E8M0FNU:
            return unsupportedError("casting to " + std::string(dtypeName(to)) +
                                    " is not supported");
        default: return okStatus();
    }
}

double maxFinite(DType dtype) {
    if (const MiniFloat* f = miniFloat(dtype)) return miniFloatMax(*f);
    if (dtype == DType::kFloat32 || dtype == DType::kComplex64) {
        return static_cast<double>(std::numeric_limits<float>::max());
    }
    return std::numeric_limits<double>::max();
}

IntRange intRange(DType dtype) {
    switch (dtype) {
        case DType::kBool: return {0, 2};
        case DType::kInt8: return {-128.0, 128.0};
        case DType::kInt16: return {-32768.0, 32768.0};
        case DType::kInt32: return {-2147483648.0, 2147483648.0};
        case DType::kInt64: return {-9223372036854775808.0, 9223372036854775808.0};
        case DType::kUInt8: return {0, 256.0};
        case DType::kUInt16: return {0, 65536.0};
        case DType::kUInt32: return {0, 4294967296.0};
        case DType::kUInt64: return {0, 18446744073709551616.0};
        case DType::kInt2: return {-2, 2};
        case DType::kInt4: return {-8, 8};
        case DType::kUInt2: return {0, 4};
        case DType::kUInt4: return {0, 16};
        default: return {0, 0};
    }
}

void encodeDouble(DType to, double value, std::byte* dst) {
    switch (to) {
        case DType::kFloat32: store(dst, static_cast<float>(value)); return;
        case DType::kFloat64: store(dst, value); return;
        case DType::kComplex64:
            store(dst, static_cast<float>(value));
            store(dst + 4, 0.0F);
            return;
        case DType::kComplex128:
            store(dst, value);
            store(dst + 8, 0.0);
            return;
        default: break;
    }
    const MiniFloat* f = miniFloat(to);
    if (!f) return;
    const std::uint32_t bits = encodeMiniFloat(value, *f);
    if (itemSize(to) == 2) {
        store(dst, static_cast<std::uint16_t>(bits));
    } else {
        dst[0] = static_cast<std::byte>(bits & 0xFFU);
    }
}

void castElement(DType from, const std::byte* src, DType to, std::byte* dst) {
    const std::size_t outSize = itemSize(to);
    if (from == to) {
        std::memcpy(dst, src, outSize);
        return;
    }
    if (to == DType::kBool) {
        const std::complex<double> c = elementToComplex(from, src);
        const bool nonZero = c.real() != 0 || c.imag() != 0 || std::isnan(c.real());
        dst[0] = static_cast<std::byte>(nonZero ? 1 : 0);
        return;
    }
    if (isInteger(to)) {
        std::uint64_t bits = 0;
        if (isWideInteger(from)) {
            // Two's complement: the low bytes of the 64-bit value wrap exactly as numpy does.
            bits = from == DType::kUInt64 ? elementToUInt64(from, src)
                                          : static_cast<std::uint64_t>(elementToInt64(from, src));
        } else {
            const double v = std::trunc(elementToDouble(from, src));
            const IntRange range = intRange(to);
            if (std::isnan(v)) {
                bits = 0;
            } else if (to == DType::kUInt64) {
                bits = v <= 0 ? 0
                       : v >= range.maxExclusive ? std::numeric_limits<std::uint64_t>::max()
                                                 : static_cast<std::uint64_t>(v);
            } else {
                std::int64_t i = 0;
                if (v < range.min) {
                    i = to == DType::kInt64 ? std::numeric_limits<std::int64_t>::min()
                                            : static_cast<std::int64_t>(range.min);
                } else if (v >= range.maxExclusive) {
                    i = to == DType::kInt64 ? std::numeric_limits<std::int64_t>::max()
                                            : static_cast<std::int64_t>(range.maxExclusive) - 1;
                } else {
                    i = static_cast<std::int64_t>(v);
                }
                bits = static_cast<std::uint64_t>(i);
            }
        }
        std::memcpy(dst, &bits, outSize);
        return;
    }
    if (isComplex(to)) {
        const std::complex<double> c = elementToComplex(from, src);
        if (to == DType::kComplex64) {
            store(dst, static_cast<float>(c.real()));
            store(dst + 4, static_cast<float>(c.imag()));
        } else {
            store(dst, c.real());
            store(dst + 8, c.imag());
        }
        return;
    }
    double v = 0;
    if (from == DType::kUInt64) {
        v = static_cast<double>(elementToUInt64(from, src));
    } else if (isWideInteger(from)) {
        v = static_cast<double>(elementToInt64(from, src));
    } else {
        v = elementToDouble(from, src);
    }
    encodeDouble(to, v, dst);
}

}  // namespace ckpt::edit
