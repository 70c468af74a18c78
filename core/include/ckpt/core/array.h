// Array: an owning, typed, C-ordered, little-endian buffer of elements.
//
// Arrays are what an ArraySource hands out. They own their bytes and are movable, not copyable
// (use clone()). Not thread-safe for concurrent mutation; concurrent reads are fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt {

using Shape = std::vector<std::int64_t>;

// The number of elements of `shape`; an error for negative dimensions or when the product
// overflows 2^63.
Result<std::uint64_t> checkedElementCount(const Shape& shape);
// Elements times item size, with the same checks.
Result<std::uint64_t> checkedByteSize(DType dtype, const Shape& shape);
// "(5, 3)", "()".
std::string formatShape(const Shape& shape);

class Array {
public:
    Array() = default;
    Array(Array&&) noexcept = default;
    Array& operator=(Array&&) noexcept = default;
    Array(const Array&) = delete;
    Array& operator=(const Array&) = delete;

    // An array of `shape` with uninitialised contents; fails on overflow or when the size
    // exceeds `maxBytes` (0: the process's read limit, maxReadBytes()).
    static Result<Array> allocate(DType dtype, Shape shape, std::uint64_t maxBytes = 0);
    // An array of `shape` holding a copy of `bytes` (which must be exactly the right size).
    static Result<Array> fromBytes(DType dtype, Shape shape, std::span<const std::byte> bytes);

    DType dtype() const { return m_dtype; }
    const Shape& shape() const { return m_shape; }
    std::uint64_t elementCount() const { return m_elements; }
    std::size_t byteSize() const { return m_size; }

    std::span<std::byte> bytes() { return {m_data.get(), m_size}; }
    std::span<const std::byte> bytes() const { return {m_data.get(), m_size}; }
    const std::byte* elementPtr(std::uint64_t index) const {
        return m_data.get() + index * itemSize(m_dtype);
    }
    double toDouble(std::uint64_t index) const { return elementToDouble(m_dtype, elementPtr(index)); }

    Array clone() const;

    // The default read limit: no single array allocation above 64 GiB.
    static constexpr std::uint64_t kDefaultMaxBytes = 64ULL << 30;
    // The limit allocate() applies by default: kDefaultMaxBytes, or the environment variable
    // CKPT_MAX_READ_BYTES (a byte count, with an optional K/M/G/T suffix: "8G") when it is set
    // and valid; read once. A hostile header declaring more is refused before any allocation.
    static std::uint64_t maxReadBytes();
    // A CKPT_MAX_READ_BYTES value: a positive byte count with an optional K/M/G/T suffix. The
    // error names the text.
    static Result<std::uint64_t> parseMaxReadBytes(std::string_view text);
    // The same syntax for any byte-count setting; the error names `variable` and the text.
    static Result<std::uint64_t> parseByteCount(std::string_view variable, std::string_view text);
    // An error when CKPT_MAX_READ_BYTES is set but is not a byte count (maxReadBytes() then
    // ignores it), for front ends to report at start.
    static Status maxReadBytesSetting();

private:
    DType m_dtype = DType::kFloat32;
    Shape m_shape;
    std::uint64_t m_elements = 0;
    std::size_t m_size = 0;
    std::unique_ptr<std::byte[]> m_data;
};

}  // namespace ckpt
