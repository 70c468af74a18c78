// A parsed msgpack document as a light tree of values that point back into the input bytes.
//
// Pure byte codec: no I/O. Strings, binaries and ext payloads are (offset, size) views into the
// parsed buffer, so parsing a checkpoint does not copy array data. Parsing is bounded: nesting
// depth and the total number of values are limited, and every declared length is checked
// against the bytes present before it is used (msgpack-cxx's visitor parser does the byte-level
// work; this file adapts it and never lets it throw).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::flax {

enum class MpType { kNil, kBool, kInt, kUInt, kFloat32, kFloat64, kStr, kBin, kExt, kArray, kMap };

std::string_view mpTypeName(MpType type);

struct MpValue {
    MpType type = MpType::kNil;
    bool boolean = false;
    std::int64_t i = 0;        // kInt (negative values)
    std::uint64_t u = 0;       // kUInt (non-negative values)
    double f = 0;              // kFloat32 / kFloat64
    std::size_t offset = 0;    // kStr / kBin / kExt: payload offset in the buffer
    std::size_t size = 0;      // kStr / kBin / kExt: payload size (ext: without the type byte)
    std::int8_t extType = 0;   // kExt
    // kArray: the items; kMap: keys and values interleaved (k0, v0, k1, v1, ...).
    std::vector<MpValue> children;

    bool isInteger() const { return type == MpType::kInt || type == MpType::kUInt; }
};

struct MpLimits {
    std::size_t maxDepth = 512;
    std::size_t maxValues = 16u << 20;  // about 1 GiB of parse tree at most
};

// Parses exactly one msgpack value spanning all of `bytes`. Errors are Corruption statuses that
// give the byte offset; callers add the file name.
Result<MpValue> parseMsgpack(std::span<const std::byte> bytes, const MpLimits& limits = {});

inline std::string_view viewOf(std::span<const std::byte> buffer, const MpValue& v) {
    return {reinterpret_cast<const char*>(buffer.data()) + v.offset, v.size};
}

}  // namespace ckpt::flax
