#include "ckpt/core/dtype.h"

#include "array/minifloat.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace ckpt {

static_assert(std::endian::native == std::endian::little,
              "ckpt_core assumes a little-endian host (checkpoint bytes are little-endian)");

namespace {

constexpr std::array<DTypeInfo, 28> kDTypes = {{
    {DType::kBool, "bool", 1, DTypeKind::kBool},
    {DType::kInt8, "int8", 1, DTypeKind::kSignedInt},
    {DType::kInt16, "int16", 2, DTypeKind::kSignedInt},
    {DType::kInt32, "int32", 4, DTypeKind::kSignedInt},
    {DType::kInt64, "int64", 8, DTypeKind::kSignedInt},
    {DType::kUInt8, "uint8", 1, DTypeKind::kUnsignedInt},
    {DType::kUInt16, "uint16", 2, DTypeKind::kUnsignedInt},
    {DType::kUInt32, "uint32", 4, DTypeKind::kUnsignedInt},
    {DType::kUInt64, "uint64", 8, DTypeKind::kUnsignedInt},
    {DType::kFloat16, "float16", 2, DTypeKind::kFloat},
    {DType::kBFloat16, "bfloat16", 2, DTypeKind::kFloat},
    {DType::kFloat32, "float32", 4, DTypeKind::kFloat},
    {DType::kFloat64, "float64", 8, DTypeKind::kFloat},
    {DType::kComplex64, "complex64", 8, DTypeKind::kComplex},
    {DType::kComplex128, "complex128", 16, DTypeKind::kComplex},
    {DType::kFloat8E4M3FN, "float8_e4m3fn", 1, DTypeKind::kFloat},
    {DType::kFloat8E5M2, "float8_e5m2", 1, DTypeKind::kFloat},
    {DType::kFloat8E4M3FNUZ, "float8_e4m3fnuz", 1, DTypeKind::kFloat},
    {DType::kFloat8E5M2FNUZ, "float8_e5m2fnuz", 1, DTypeKind::kFloat},
    {DType::kFloat8E4M3B11FNUZ, "float8_e4m3b11fnuz", 1, DTypeKind::kFloat},
    {DType::kFloat8E4M3, "float8_e4m3", 1, DTypeKind::kFloat},
    {DType::kFloat8E3M4, "float8_e3m4", 1, DTypeKind::kFloat},
    {DType::kFloat8E8M0FNU, "float8_e8m0fnu", 1, DTypeKind::kFloat},
    {DType::kInt2, "int2", 1, DTypeKind::kSignedInt},
    {DType::kInt4, "int4", 1, DTypeKind::kSignedInt},
    {DType::kUInt2, "uint2", 1, DTypeKind::kUnsignedInt},
    {DType::kUInt4, "uint4", 1, DTypeKind::kUnsignedInt},
    {DType::kFloat4E2M1FN, "float4_e2m1fn", 1, DTypeKind::kFloat},
}};

// A sub-byte integer in the low `bits` bits of a byte (the high bits are ignored).
std::int64_t signedLowBits(std::uint8_t byte, int bits) {
    const int mask = (1 << bits) - 1;
    const int v = byte & mask;
    return (v & (1 << (bits - 1))) != 0 ? v - (1 << bits) : v;
}

template <typename T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

double e8m0ToDouble(std::uint8_t bits) {
    // Unsigned, exponent only: 2^(e-127); 0xFF is NaN.
    if (bits == 0xFF) return std::numeric_limits<double>::quiet_NaN();
    return std::ldexp(1.0, static_cast<int>(bits) - 127);
}

}  // namespace

std::span<const DTypeInfo> allDTypes() { return kDTypes; }

const DTypeInfo& dtypeInfo(DType dtype) { return kDTypes[static_cast<std::size_t>(dtype)]; }

std::optional<DType> dtypeFromName(std::string_view name) {
    for (const auto& info : kDTypes) {
        if (info.name == name) return info.dtype;
    }
    return std::nullopt;
}

std::complex<double> elementToComplex(DType dtype, const std::byte* p) {
    switch (dtype) {
        case DType::kComplex64:
            return {static_cast<double>(load<float>(p)), static_cast<double>(load<float>(p + 4))};
        case DType::kComplex128:
            return {load<double>(p), load<double>(p + 8)};
        default:
            return {elementToDouble(dtype, p), 0.0};
    }
}

double elementToDouble(DType dtype, const std::byte* p) {
    const auto u8 = [&] { return std::to_integer<std::uint8_t>(p[0]); };
    switch (dtype) {
        case DType::kBool: return u8() != 0 ? 1.0 : 0.0;
        case DType::kInt8: return load<std::int8_t>(p);
        case DType::kInt16: return load<std::int16_t>(p);
        case DType::kInt32: return load<std::int32_t>(p);
        case DType::kInt64: return static_cast<double>(load<std::int64_t>(p));
        case DType::kUInt8: return u8();
        case DType::kUInt16: return load<std::uint16_t>(p);
        case DType::kUInt32: return load<std::uint32_t>(p);
        case DType::kUInt64: return static_cast<double>(load<std::uint64_t>(p));
        case DType::kFloat16: return decodeMiniFloat(load<std::uint16_t>(p), kFloat16);
        case DType::kBFloat16: {
            const std::uint32_t bits = static_cast<std::uint32_t>(load<std::uint16_t>(p)) << 16;
            return static_cast<double>(std::bit_cast<float>(bits));
        }
        case DType::kFloat32: return static_cast<double>(load<float>(p));
        case DType::kFloat64: return load<double>(p);
        case DType::kComplex64: return static_cast<double>(load<float>(p));
        case DType::kComplex128: return load<double>(p);
        case DType::kFloat8E4M3FN: return decodeMiniFloat(u8(), kE4M3FN);
        case DType::kFloat8E5M2: return decodeMiniFloat(u8(), kE5M2);
        case DType::kFloat8E4M3FNUZ: return decodeMiniFloat(u8(), kE4M3FNUZ);
        case DType::kFloat8E5M2FNUZ: return decodeMiniFloat(u8(), kE5M2FNUZ);
        case DType::kFloat8E4M3B11FNUZ: return decodeMiniFloat(u8(), kE4M3B11FNUZ);
        case DType::kFloat8E4M3: return decodeMiniFloat(u8(), kE4M3);
        case DType::kFloat8E3M4: return decodeMiniFloat(u8(), kE3M4);
        case DType::kFloat8E8M0FNU: return e8m0ToDouble(u8());
        case DType::kInt2: return static_cast<double>(signedLowBits(u8(), 2));
        case DType::kInt4: return static_cast<double>(signedLowBits(u8(), 4));
        case DType::kUInt2: return u8() & 0x3;
        case DType::kUInt4: return u8() & 0xF;
        case DType::kFloat4E2M1FN: return decodeMiniFloat(u8() & 0xFU, kE2M1FN);
    }
    return std::numeric_limits<double>::quiet_NaN();
}

std::int64_t elementToInt64(DType dtype, const std::byte* p) {
    switch (dtype) {
        case DType::kBool: return std::to_integer<std::uint8_t>(p[0]) != 0 ? 1 : 0;
        case DType::kInt8: return load<std::int8_t>(p);
        case DType::kInt16: return load<std::int16_t>(p);
        case DType::kInt32: return load<std::int32_t>(p);
        case DType::kInt64: return load<std::int64_t>(p);
        case DType::kUInt8: return std::to_integer<std::uint8_t>(p[0]);
        case DType::kUInt16: return load<std::uint16_t>(p);
        case DType::kUInt32: return load<std::uint32_t>(p);
        case DType::kUInt64: return static_cast<std::int64_t>(load<std::uint64_t>(p));
        case DType::kInt2: return signedLowBits(std::to_integer<std::uint8_t>(p[0]), 2);
        case DType::kInt4: return signedLowBits(std::to_integer<std::uint8_t>(p[0]), 4);
        case DType::kUInt2: return std::to_integer<std::uint8_t>(p[0]) & 0x3;
        case DType::kUInt4: return std::to_integer<std::uint8_t>(p[0]) & 0xF;
        default: return static_cast<std::int64_t>(elementToDouble(dtype, p));
    }
}

std::uint64_t elementToUInt64(DType dtype, const std::byte* p) {
    if (dtype == DType::kUInt64) return load<std::uint64_t>(p);
    return static_cast<std::uint64_t>(elementToInt64(dtype, p));
}

void elementsToDoubles(DType dtype, const std::byte* src, std::size_t count, double* dst) {
    const std::size_t item = itemSize(dtype);
    switch (dtype) {
        case DType::kFloat32:
            for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<double>(load<float>(src + i * 4));
            return;
        case DType::kFloat64:
            std::memcpy(dst, src, count * sizeof(double));
            return;
        case DType::kBFloat16:
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint32_t bits = static_cast<std::uint32_t>(load<std::uint16_t>(src + i * 2)) << 16;
                dst[i] = static_cast<double>(std::bit_cast<float>(bits));
            }
            return;
        default:
            for (std::size_t i = 0; i < count; ++i) dst[i] = elementToDouble(dtype, src + i * item);
    }
}

}  // namespace ckpt
