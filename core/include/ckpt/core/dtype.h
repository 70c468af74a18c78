// The element types a checkpoint array can hold, named as numpy / ml_dtypes name them.
//
// Conversion to double is for display and statistics; storage always keeps the original bits.
// Everything here is pure and thread-safe.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ckpt {

enum class DType : std::uint8_t {
    kBool,
    kInt8,
    kInt16,
    kInt32,
    kInt64,
    kUInt8,
    kUInt16,
    kUInt32,
    kUInt64,
    kFloat16,
    kBFloat16,
    kFloat32,
    kFloat64,
    kComplex64,
    kComplex128,
    kFloat8E4M3FN,
    kFloat8E5M2,
    kFloat8E4M3FNUZ,
    kFloat8E5M2FNUZ,
    kFloat8E4M3B11FNUZ,
    kFloat8E4M3,
    kFloat8E3M4,
    kFloat8E8M0FNU,
    // Sub-byte types, one element per byte as ml_dtypes holds them in memory (and TensorStore
    // stores them): the value in the low bits, the high bits zero.
    kInt2,
    kInt4,
    kUInt2,
    kUInt4,
    kFloat4E2M1FN,
};

enum class DTypeKind { kBool, kSignedInt, kUnsignedInt, kFloat, kComplex };

struct DTypeInfo {
    DType dtype;
    std::string_view name;  // numpy's dtype.name: "float32", "bfloat16", "float8_e4m3fn", ...
    std::size_t itemSize;   // bytes per element
    DTypeKind kind;
};

// Every dtype, in enum order.
std::span<const DTypeInfo> allDTypes();
const DTypeInfo& dtypeInfo(DType dtype);
inline std::string_view dtypeName(DType dtype) { return dtypeInfo(dtype).name; }
inline std::size_t itemSize(DType dtype) { return dtypeInfo(dtype).itemSize; }
// Accepts numpy names ("float32", "bfloat16", "bool").
std::optional<DType> dtypeFromName(std::string_view name);

inline bool isFloating(DType d) { return dtypeInfo(d).kind == DTypeKind::kFloat; }
inline bool isComplex(DType d) { return dtypeInfo(d).kind == DTypeKind::kComplex; }
inline bool isInteger(DType d) {
    auto k = dtypeInfo(d).kind;
    return k == DTypeKind::kSignedInt || k == DTypeKind::kUnsignedInt;
}

// One element at `p` (little-endian, itemSize(dtype) bytes). For complex dtypes toDouble gives
// the real part. Integers beyond 2^53 lose precision in toDouble; use the integer accessors.
double elementToDouble(DType dtype, const std::byte* p);
std::complex<double> elementToComplex(DType dtype, const std::byte* p);
std::int64_t elementToInt64(DType dtype, const std::byte* p);    // integers and bool only
std::uint64_t elementToUInt64(DType dtype, const std::byte* p);  // integers and bool only

// Converts `count` consecutive elements to doubles (real parts for complex dtypes).
void elementsToDoubles(DType dtype, const std::byte* src, std::size_t count, double* dst);

}  // namespace ckpt
