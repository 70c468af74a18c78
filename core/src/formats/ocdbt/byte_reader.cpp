#include "formats/ocdbt/byte_reader.h"

#include <string>

namespace ckpt::ocdbt {

Status ByteReader::error(std::string_view what, std::string_view problem) const {
    std::string msg(what);
    msg += " at byte ";
    msg += std::to_string(m_pos);
    msg += ": ";
    msg += problem;
    return corruptionError(std::move(msg));
}

Result<std::uint8_t> ByteReader::readU8(std::string_view what) {
    if (remaining() < 1) return error(what, "unexpected end of data");
    return std::to_integer<std::uint8_t>(m_bytes[m_pos++]);
}

Result<std::uint32_t> ByteReader::readU32Be(std::string_view what) {
    if (remaining() < 4) return error(what, "unexpected end of data");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(m_bytes[m_pos++]);
    return v;
}

Result<std::uint32_t> ByteReader::readU32Le(std::string_view what) {
    if (remaining() < 4) return error(what, "unexpected end of data");
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 4; ++i)
        v |= std::to_integer<std::uint32_t>(m_bytes[m_pos++]) << (8 * i);
    return v;
}

Result<std::int32_t> ByteReader::readI32Le(std::string_view what) {
    CKPT_ASSIGN_OR_RETURN(const std::uint32_t u, readU32Le(what));
    return static_cast<std::int32_t>(u);  // two's complement (well-defined since C++20)
}

Result<std::uint64_t> ByteReader::readU64Le(std::string_view what) {
    if (remaining() < 8) return error(what, "unexpected end of data");
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i)
        v |= std::to_integer<std::uint64_t>(m_bytes[m_pos++]) << (8 * i);
    return v;
}

Result<std::uint64_t> ByteReader::readVarint64(std::string_view what) {
    const std::size_t start = m_pos;
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 10; ++i) {
        if (remaining() < 1) {
            m_pos = start;
            return error(what, "unexpected end of data inside a varint");
        }
        const std::uint64_t b = std::to_integer<std::uint64_t>(m_bytes[m_pos++]);
        if (i == 9 && b > 1) {
            m_pos = start;
            return error(what, "varint overflows 64 bits");
        }
        v |= (b & 0x7Fu) << (7 * i);
        if ((b & 0x80u) == 0) return v;
    }
    m_pos = start;
    return error(what, "varint longer than 10 bytes");
}

Result<std::uint32_t> ByteReader::readVarint32(std::string_view what) {
    const std::size_t start = m_pos;
    std::uint32_t v = 0;
    for (unsigned i = 0; i < 5; ++i) {
        if (remaining() < 1) {
            m_pos = start;
            return error(what, "unexpected end of data inside a varint");
        }
        const std::uint32_t b = std::to_integer<std::uint32_t>(m_bytes[m_pos++]);
        if (i == 4 && b > 0x0Fu) {
            m_pos = start;
            return error(what, "varint overflows 32 bits");
        }
        v |= (b & 0x7Fu) << (7 * i);
        if ((b & 0x80u) == 0) return v;
    }
    m_pos = start;  // unreachable: the fifth byte either ends the varint or overflows
    return error(what, "varint longer than 5 bytes");
}

Result<std::uint16_t> ByteReader::readVarint16(std::string_view what) {
    const std::size_t start = m_pos;
    CKPT_ASSIGN_OR_RETURN(const std::uint32_t v, readVarint32(what));
    if (v > 0xFFFFu) {
        m_pos = start;
        return error(what, "value " + std::to_string(v) + " exceeds 65535");
    }
    return static_cast<std::uint16_t>(v);
}

Result<std::span<const std::byte>> ByteReader::readBytes(std::uint64_t n, std::string_view what) {
    if (n > remaining()) {
        return error(what,
                     std::to_string(n) + " bytes needed, " + std::to_string(remaining()) + " left");
    }
    auto out = m_bytes.subspan(m_pos, static_cast<std::size_t>(n));
    m_pos += static_cast<std::size_t>(n);
    return out;
}

Result<std::string_view> ByteReader::readString(std::uint64_t n, std::string_view what) {
    CKPT_ASSIGN_OR_RETURN(const auto bytes, readBytes(n, what));
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Status ByteReader::expectEnd(std::string_view what) const {
    if (atEnd()) return okStatus();
    return error(what, std::to_string(remaining()) + " trailing bytes");
}

Status ExpansionBudget::take(std::size_t n, std::string_view what) {
    if (n > m_left) {
        return corruptionError(std::string(what) +
                               ": decoded keys and paths exceed the node size limit");
    }
    m_left -= n;
    return okStatus();
}

}  // namespace ckpt::ocdbt
