#include "formats/ocdbt/byte_writer.h"

namespace ckpt::ocdbt {

void ByteWriter::writeU32Be(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        writeU8(static_cast<std::uint8_t>((v >> shift) & 0xFFu));
    }
}

void ByteWriter::writeU32Le(std::uint32_t v) {
    for (unsigned i = 0; i < 4; ++i) writeU8(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu));
}

void ByteWriter::writeU64Le(std::uint64_t v) {
    for (unsigned i = 0; i < 8; ++i) writeU8(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu));
}

void ByteWriter::writeVarint(std::uint64_t v) {
    while (v >= 0x80u) {
        writeU8(static_cast<std::uint8_t>((v & 0x7Fu) | 0x80u));
        v >>= 7;
    }
    writeU8(static_cast<std::uint8_t>(v));
}

void ByteWriter::writeBytes(std::span<const std::byte> bytes) {
    m_bytes.insert(m_bytes.end(), bytes.begin(), bytes.end());
}

void ByteWriter::writeString(std::string_view s) {
    writeBytes(std::as_bytes(std::span<const char>(s.data(), s.size())));
}

std::size_t varintLength(std::uint64_t v) {
    std::size_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        ++n;
    }
    return n;
}

}  // namespace ckpt::ocdbt
