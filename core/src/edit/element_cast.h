// Element conversions between dtypes for edits: one element's bits in, one element's bits out,
// with the rounding and overflow rules documented at ckpt::makeCastSource (edit.h).
//
// Pure functions, thread-safe.
#pragma once

#include <cstddef>

#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt::edit {

// OK when `to` is a dtype edits can produce (not the sub-byte types or float8_e8m0fnu).
Status checkCastTarget(DType to);

// Converts one element at `src` (dtype `from`) into `dst` (itemSize(to) bytes). `to` must pass
// checkCastTarget.
void castElement(DType from, const std::byte* src, DType to, std::byte* dst);

// Writes `value` rounded to nearest-even into `dst` as one element of the floating or complex
// dtype `to` (overflow to ±inf, or NaN for formats without infinities).
void encodeDouble(DType to, double value, std::byte* dst);

// The largest finite value of a floating dtype.
double maxFinite(DType dtype);

// The range of an integer dtype (bool: 0..1), as doubles (int64/uint64 bounds are exact powers
// of two: the maximum is given as 2^63 / 2^64, exclusive).
struct IntRange {
    double min;
    double maxExclusive;
};
IntRange intRange(DType dtype);

}  // namespace ckpt::edit
