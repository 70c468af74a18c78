#include "formats/ocdbt/crc32c.h"

#include <array>

namespace ckpt::ocdbt {

namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli polynomial

// Slicing-by-8 tables: kTables[0] is the classic byte-at-a-time table; kTables[k][b] is the CRC
// of byte b followed by k zero bytes, so eight input bytes are folded in with eight lookups.
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables makeTables() {
    Tables t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t c = b;
        for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kPolynomial : c >> 1;
        t[0][b] = c;
    }
    for (std::size_t k = 1; k < 8; ++k) {
        for (std::size_t b = 0; b < 256; ++b) {
            const std::uint32_t prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][prev & 0xFFu];
        }
    }
    return t;
}

constexpr Tables kTables = makeTables();

inline std::uint32_t byteAt(std::span<const std::byte> data, std::size_t i) {
    return std::to_integer<std::uint32_t>(data[i]);
}

}  // namespace

std::uint32_t crc32cExtend(std::uint32_t crc, std::span<const std::byte> data) {
    std::uint32_t c = ~crc;
    std::size_t i = 0;
    const std::size_t n = data.size();
    for (; i + 8 <= n; i += 8) {
        const std::uint32_t lo = c ^ (byteAt(data, i) | (byteAt(data, i + 1) << 8) |
                                      (byteAt(data, i + 2) << 16) | (byteAt(data, i + 3) << 24));
        c = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^
            kTables[5][(lo >> 16) & 0xFFu] ^ kTables[4][lo >> 24] ^
            kTables[3][byteAt(data, i + 4)] ^ kTables[2][byteAt(data, i + 5)] ^
            kTables[1][byteAt(data, i + 6)] ^ kTables[0][byteAt(data, i + 7)];
    }
    for (; i < n; ++i) c = (c >> 8) ^ kTables[0][(c ^ byteAt(data, i)) & 0xFFu];
    return ~c;
}

}  // namespace ckpt::ocdbt
