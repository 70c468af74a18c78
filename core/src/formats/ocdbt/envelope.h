// The envelope around every encoded OCDBT object (manifest, version-tree node, B+tree node):
// magic, total length, format version, compression, body, CRC-32C trailer (FORMAT.md §2).
//
// Pure byte codec, no I/O; encodeEnvelope is the inverse of decodeEnvelope. Decoding checks magic,
// length and checksum before it decompresses anything, and never produces a body larger than the
// caller's limit (zstd frames are decoded into a bounded buffer, whatever size their header
// declares). Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::ocdbt {

inline constexpr std::uint32_t kManifestMagic = 0x0CDB3A2Au;
inline constexpr std::uint32_t kVersionTreeNodeMagic = 0x0CDB1234u;
inline constexpr std::uint32_t kBtreeNodeMagic = 0x0CDB20DEu;

// The only format version of all three objects.
inline constexpr std::uint32_t kFormatVersion = 0;

// magic (4) + length (8) + version (>= 1) + compression (>= 1) + crc (4).
inline constexpr std::size_t kMinEnvelopeBytes = 18;

// No decoded body may ever exceed this, whatever a config allows.
inline constexpr std::size_t kHardMaxDecodedBytes = std::size_t{256} << 20;

// How much memory decoding one object may produce: the decompressed body, and separately the
// bytes that prefix compression expands into (keys and data file paths can repeat up to 64 KiB of
// the previous entry for one byte of input, so a small hostile node could otherwise ask for
// gigabytes). Both are capped by `maxDecodedBytes`.
struct DecodeLimits {
    std::size_t maxDecodedBytes = kHardMaxDecodedBytes;
};

enum class EnvelopeCompression : std::uint8_t { kNone = 0, kZstd = 1 };

struct EnvelopeHeader {
    std::uint32_t magic = 0;
    std::uint64_t length = 0;  // of the whole object, header and CRC included
    std::uint32_t version = 0;
    EnvelopeCompression compression = EnvelopeCompression::kNone;
    std::uint32_t crc32c = 0;  // as stored in the trailer (already verified when decoded)
};

struct DecodedEnvelope {
    EnvelopeHeader header;
    std::vector<std::byte> body;  // decompressed
};

// Decodes `encoded` (exactly one object) whose magic must be `expectedMagic`; the body may not
// exceed `maxBodyBytes` (clamped to kHardMaxDecodedBytes). Errors are Corruption statuses.
Result<DecodedEnvelope> decodeEnvelope(std::span<const std::byte> encoded,
                                       std::uint32_t expectedMagic, std::size_t maxBodyBytes);

// Encodes one object: header, `body` (compressed as a single zstd frame with its content size
// when `compression` is kZstd; level 0 is zstd's default, as riegeli uses it), CRC-32C trailer.
// The inverse of decodeEnvelope. Fails (Internal) only if zstd does.
Result<std::vector<std::byte>> encodeEnvelope(std::uint32_t magic, std::span<const std::byte> body,
                                              EnvelopeCompression compression, int zstdLevel);

// Decompresses exactly one zstd frame filling all of `frame`, producing at most `maxBytes`.
Result<std::vector<std::byte>> zstdDecompressBounded(std::span<const std::byte> frame,
                                                     std::size_t maxBytes);

}  // namespace ckpt::ocdbt
