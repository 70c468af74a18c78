#include "formats/ocdbt/manifest.h"

#include <zstd.h>

#include <algorithm>
#include <cstdio>

#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/data_file_table.h"

namespace ckpt::ocdbt {

namespace {
constexpr std::size_t kManifestMaxDecodedBytes = 64u << 20;
}  // namespace

std::string Config::uuidHex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : uuid) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0xF];
    }
    return out;
}

Result<Config> decodeConfig(ByteReader& r) {
    Config c;
    CKPT_ASSIGN_OR_RETURN(const auto uuid, r.readBytes(16, "config.uuid"));
    for (std::size_t i = 0; i < 16; ++i) c.uuid[i] = std::to_integer<std::uint8_t>(uuid[i]);
    CKPT_ASSIGN_OR_RETURN(const std::uint8_t kind, r.readU8("config.manifest_kind"));
    if (kind > 1) return corruptionError("config: invalid manifest_kind " + std::to_string(kind));
    c.manifestKind = static_cast<ManifestKind>(kind);
    CKPT_ASSIGN_OR_RETURN(c.maxInlineValueBytes, r.readVarint32("config.max_inline_value_bytes"));
    CKPT_ASSIGN_OR_RETURN(c.maxDecodedNodeBytes, r.readVarint32("config.max_decoded_node_bytes"));
    CKPT_ASSIGN_OR_RETURN(c.versionTreeArityLog2, r.readU8("config.version_tree_arity_log2"));
    if (c.versionTreeArityLog2 == 0 || c.versionTreeArityLog2 > kMaxVersionTreeArityLog2) {
        return corruptionError("config: version_tree_arity_log2 " +
                               std::to_string(c.versionTreeArityLog2) + " outside [1, " +
                               std::to_string(kMaxVersionTreeArityLog2) + "]");
    }
    CKPT_ASSIGN_OR_RETURN(const std::uint32_t method, r.readVarint32("config.compression_method"));
    switch (method) {
        case 0:
            c.compression = CompressionMethod::kNone;
            break;
        case 1: {
            c.compression = CompressionMethod::kZstd;
            CKPT_ASSIGN_OR_RETURN(c.zstdLevel, r.readI32Le("config.zstd_level"));
            // riegeli accepts zstd's own range of levels.
            if (c.zstdLevel < ZSTD_minCLevel() || c.zstdLevel > ZSTD_maxCLevel()) {
                return corruptionError("config: zstd level " + std::to_string(c.zstdLevel) +
                                       " outside [" + std::to_string(ZSTD_minCLevel()) + ", " +
                                       std::to_string(ZSTD_maxCLevel()) + "]");
            }
            break;
        }
        default:
            return corruptionError("config: invalid compression method " + std::to_string(method));
    }
    return c;
}

Result<Manifest> decodeManifest(std::span<const std::byte> encoded) {
    CKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                          decodeEnvelope(encoded, kManifestMagic, kManifestMaxDecodedBytes));
    return decodeManifestBody(env.body);
}

Result<Manifest> decodeManifestBody(std::span<const std::byte> body) {
    ByteReader r(body);
    Manifest m;
    CKPT_ASSIGN_OR_RETURN(m.config, decodeConfig(r));
    if (m.config.manifestKind == ManifestKind::kSingle) {
        ExpansionBudget budget(kManifestMaxDecodedBytes);
        CKPT_ASSIGN_OR_RETURN(const DataFileTable table, decodeDataFileTable(r, "", budget));
        auto versions = readVersionTreeLeafEntries(r, table, m.config.versionTreeArityLog2);
        if (!versions.isOk()) return versions.status().withContext("inline versions");
        m.versions = std::move(*versions);
        auto nodes = readVersionTreeInteriorEntries(
            r, table, maxVersionTreeHeight(m.config.versionTreeArityLog2),
            /*withHeight=*/true, /*impliedHeight=*/0);
        if (!nodes.isOk()) return nodes.status().withContext("version nodes");
        m.versionTreeNodes = std::move(*nodes);
        CKPT_RETURN_IF_ERROR(validateManifestVersionNodes(
            m.config.versionTreeArityLog2, m.versions.back().generationNumber, m.versionTreeNodes));
    }
    CKPT_RETURN_IF_ERROR(r.expectEnd("manifest body"));
    return m;
}

void writeConfig(ByteWriter& w, const Config& c) {
    for (std::uint8_t b : c.uuid) w.writeU8(b);
    w.writeU8(static_cast<std::uint8_t>(c.manifestKind));
    w.writeVarint(c.maxInlineValueBytes);
    w.writeVarint(c.maxDecodedNodeBytes);
    w.writeU8(c.versionTreeArityLog2);
    w.writeVarint(static_cast<std::uint64_t>(c.compression));
    if (c.compression == CompressionMethod::kZstd) w.writeI32Le(c.zstdLevel);
}

Result<std::vector<std::byte>> encodeManifestBody(const Manifest& m) {
    ByteWriter w;
    writeConfig(w, m.config);
    if (m.config.manifestKind == ManifestKind::kSingle) {
        DataFileTableBuilder table;
        addVersionTreeFiles(table, m.versions);
        addVersionTreeFiles(table, m.versionTreeNodes);
        CKPT_RETURN_IF_ERROR(table.finalize(w));
        writeVersionTreeLeafEntries(w, table, m.versions);
        writeVersionTreeInteriorEntries(w, table, m.versionTreeNodes, /*withHeight=*/true);
    } else if (!m.versions.empty() || !m.versionTreeNodes.empty()) {
        return invalidArgumentError("a numbered-kind manifest.ocdbt holds only the config");
    }
    std::vector<std::byte> body = w.take();
    // Whatever the decoder would refuse is the caller's mistake: check by decoding.
    if (auto decoded = decodeManifestBody(body); !decoded.isOk()) {
        return invalidArgumentError("invalid manifest: " + decoded.status().message());
    }
    return body;
}

Result<std::vector<std::byte>> encodeManifest(const Manifest& m) {
    CKPT_ASSIGN_OR_RETURN(const auto body, encodeManifestBody(m));
    return encodeEnvelope(kManifestMagic, body,
                          m.config.compression == CompressionMethod::kZstd
                              ? EnvelopeCompression::kZstd
                              : EnvelopeCompression::kNone,
                          m.config.zstdLevel);
}

DecodeLimits nodeDecodeLimits(const Config& config) {
    const std::size_t wanted = std::size_t{2} * config.maxDecodedNodeBytes +
                               config.maxInlineValueBytes + (std::size_t{1} << 20);
    return DecodeLimits{std::min(wanted, kHardMaxDecodedBytes)};
}

std::string numberedManifestName(std::uint64_t generation) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "manifest.%016llx", static_cast<unsigned long long>(generation));
    return buf;
}

std::optional<std::uint64_t> parseNumberedManifestName(std::string_view name) {
    constexpr std::string_view kPrefix = "manifest.";
    if (name.size() != kPrefix.size() + 16 || name.substr(0, kPrefix.size()) != kPrefix) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char ch : name.substr(kPrefix.size())) {
        unsigned d = 0;
        if (ch >= '0' && ch <= '9') {
            d = static_cast<unsigned>(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            d = static_cast<unsigned>(ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            d = static_cast<unsigned>(ch - 'A' + 10);
        } else {
            return std::nullopt;
        }
        v = (v << 4) | d;
    }
    if (v == 0) return std::nullopt;
    return v;
}

}  // namespace ckpt::ocdbt
