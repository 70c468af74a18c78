#include "edit/element_cast.h"

#include "array/minifloat.h"

#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace ckpt::edit {

namespace {

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
    if (const MiniFloat* f = miniFloatLayout(dtype)) return miniFloatMax(*f);
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
    const MiniFloat* f = miniFloatLayout(to);
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
