// ByteWriter: appends the primitive encodings of OCDBT bodies (LEB128 varints, fixed-width
// big/little-endian integers, raw bytes) to a growing buffer — the mirror of ByteReader.
//
// Encoders built on it are pure functions; the writer always produces canonical (shortest)
// varints. Not thread-safe (a cursor); the writer owns its buffer until take() hands it over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace ckpt::ocdbt {

class ByteWriter {
public:
    std::size_t size() const { return m_bytes.size(); }
    const std::vector<std::byte>& bytes() const { return m_bytes; }
    std::vector<std::byte> take() { return std::move(m_bytes); }

    void writeU8(std::uint8_t v) { m_bytes.push_back(static_cast<std::byte>(v)); }
    void writeU32Be(std::uint32_t v);
    void writeU32Le(std::uint32_t v);
    void writeI32Le(std::int32_t v) { writeU32Le(static_cast<std::uint32_t>(v)); }
    void writeU64Le(std::uint64_t v);
    // Unsigned LEB128, shortest form (1..10 bytes).
    void writeVarint(std::uint64_t v);
    void writeBytes(std::span<const std::byte> bytes);
    void writeString(std::string_view s);

private:
    std::vector<std::byte> m_bytes;
};

// Bytes the shortest LEB128 encoding of `v` takes.
std::size_t varintLength(std::uint64_t v);

}  // namespace ckpt::ocdbt
