// CRC-32C (Castagnoli): the checksum in the trailer of every OCDBT manifest and node.
//
// Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF — the same function as
// SSE4.2 `crc32`, absl::ComputeCrc32c and riegeli's Crc32cDigester. Pure function, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ckpt::ocdbt {

// Continues a CRC-32C: crc32cExtend(crc32c(a), b) == crc32c(a ‖ b).
std::uint32_t crc32cExtend(std::uint32_t crc, std::span<const std::byte> data);

inline std::uint32_t crc32c(std::span<const std::byte> data) {
    return crc32cExtend(0, data);
}

}  // namespace ckpt::ocdbt
