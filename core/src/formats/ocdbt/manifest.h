// The OCDBT manifest (FORMAT.md §3): the database configuration and the version tree's top.
//
// `manifest.ocdbt` holds either everything (kind "single": config, data file table, the newest
// versions inline, references to version-tree nodes for older ones), or, for kind "numbered",
// only the config; the versions then live in `manifest.<16 hex digits>` files, each a complete
// single-kind manifest, the highest-numbered one being current. Pure byte codec, no I/O; the
// encode functions are the decoders' inverses.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/byte_writer.h"
#include "formats/ocdbt/envelope.h"
#include "formats/ocdbt/version_tree.h"

namespace ckpt::ocdbt {

enum class ManifestKind : std::uint8_t { kSingle = 0, kNumbered = 1 };
enum class CompressionMethod : std::uint8_t { kNone = 0, kZstd = 1 };

struct Config {
    std::array<std::uint8_t, 16> uuid{};
    ManifestKind manifestKind = ManifestKind::kSingle;
    std::uint32_t maxInlineValueBytes = 100;      // tensorstore default
    std::uint32_t maxDecodedNodeBytes = 8 << 20;  // tensorstore default
    std::uint8_t versionTreeArityLog2 = 4;
    CompressionMethod compression = CompressionMethod::kZstd;
    std::int32_t zstdLevel = 0;  // only meaningful for kZstd

    std::string uuidHex() const;
};

struct Manifest {
    Config config;
    // Empty for a config-only (numbered) manifest; otherwise 1..2^arity versions, oldest first.
    std::vector<BtreeGenerationReference> versions;
    // References to version-tree nodes holding older versions, highest (oldest) first.
    std::vector<VersionNodeReference> versionTreeNodes;

    bool isConfigOnly() const { return versions.empty(); }
    // The current version: the last inline one (nullptr for a config-only manifest).
    const BtreeGenerationReference* latestVersion() const {
        return versions.empty() ? nullptr : &versions.back();
    }
};

// Reads the config fields at the reader's position.
Result<Config> decodeConfig(ByteReader& reader);

// Decodes an encoded manifest (envelope included). Errors are Corruption statuses.
Result<Manifest> decodeManifest(std::span<const std::byte> encoded);
// Decodes a manifest body (what the envelope wraps).
Result<Manifest> decodeManifestBody(std::span<const std::byte> body);

// Writes the config fields (decodeConfig's inverse).
void writeConfig(ByteWriter& writer, const Config& config);
// Encodes a manifest body / the whole object (magic 0x0CDB3A2A, compressed as the config says).
// A single-kind manifest needs 1..2^arity versions; InvalidArgument for anything the decoder
// would reject.
Result<std::vector<std::byte>> encodeManifestBody(const Manifest& manifest);
Result<std::vector<std::byte>> encodeManifest(const Manifest& manifest);

// Limits for decoding this database's nodes: the config's max_decoded_node_bytes with slack
// (tensorstore splits nodes by an estimate, not by their exact encoded size), never above
// kHardMaxDecodedBytes.
DecodeLimits nodeDecodeLimits(const Config& config);

// "manifest.000000000000002a" for generation 42.
std::string numberedManifestName(std::uint64_t generation);
// The generation of a numbered manifest file name (16 hex digits, non-zero), else nullopt.
std::optional<std::uint64_t> parseNumberedManifestName(std::string_view fileName);

}  // namespace ckpt::ocdbt
