// ByteReader: a bounds-checked cursor over an in-memory OCDBT body, with the primitive
// encodings the format uses (LEB128 varints, fixed-width big/little-endian integers).
//
// Every read checks the bytes left before touching them and reports a Corruption status that
// names the field and the byte offset ("value_length[3] at byte 17: ..."); nothing here can read
// out of bounds or overflow. Not thread-safe (a cursor); the viewed bytes must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ckpt/core/status.h"

namespace ckpt::ocdbt {

class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> bytes) : m_bytes(bytes) {}

    std::size_t position() const { return m_pos; }
    std::size_t remaining() const { return m_bytes.size() - m_pos; }
    bool atEnd() const { return m_pos == m_bytes.size(); }

    Result<std::uint8_t> readU8(std::string_view what);
    Result<std::uint32_t> readU32Be(std::string_view what);
    Result<std::uint32_t> readU32Le(std::string_view what);
    Result<std::int32_t> readI32Le(std::string_view what);
    Result<std::uint64_t> readU64Le(std::string_view what);

    // Unsigned LEB128. Non-canonical (over-long) encodings are accepted, as riegeli does, but a
    // 64-bit varint may take at most 10 bytes and a 32-bit one at most 5, without overflow.
    Result<std::uint64_t> readVarint64(std::string_view what);
    Result<std::uint32_t> readVarint32(std::string_view what);
    // A 32-bit varint whose value must fit in 16 bits (key and path lengths).
    Result<std::uint16_t> readVarint16(std::string_view what);

    // The next `n` bytes as a view into the underlying buffer.
    Result<std::span<const std::byte>> readBytes(std::uint64_t n, std::string_view what);
    Result<std::string_view> readString(std::uint64_t n, std::string_view what);

    // OK when every byte has been consumed, else a Corruption status naming `what`.
    Status expectEnd(std::string_view what) const;

    // A Corruption status "<what> at byte <position>: <problem>".
    Status error(std::string_view what, std::string_view problem) const;

private:
    std::span<const std::byte> m_bytes;
    std::size_t m_pos = 0;
};

// Counts down the bytes a decoder may still allocate for prefix-expanded keys and paths.
class ExpansionBudget {
public:
    explicit ExpansionBudget(std::size_t bytes) : m_left(bytes) {}
    // Takes `n` bytes from the budget, or fails with Corruption naming `what`.
    Status take(std::size_t n, std::string_view what);
    std::size_t left() const { return m_left; }

private:
    std::size_t m_left;
};

}  // namespace ckpt::ocdbt
