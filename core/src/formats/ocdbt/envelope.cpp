#include "formats/ocdbt/envelope.h"

#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/byte_writer.h"
#include "formats/ocdbt/crc32c.h"

namespace ckpt::ocdbt {

namespace {

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", v);
    return buf;
}

struct CCtxDeleter {
    void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};

struct DCtxDeleter {
    void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

}  // namespace

Result<std::vector<std::byte>> zstdDecompressBounded(std::span<const std::byte> frame,
                                                     std::size_t maxBytes) {
    maxBytes = std::min(maxBytes, kHardMaxDecodedBytes);
    const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) {
        return corruptionError("zstd: not a valid zstd frame header");
    }
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > maxBytes) {
        return corruptionError("zstd: frame declares " + std::to_string(declared) +
                               " decompressed bytes, limit is " + std::to_string(maxBytes));
    }
    std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx());
    if (!ctx) return internalError("zstd: cannot allocate a decompression context");

    // Known size: allocate exactly (plus one byte to notice a lying header). Unknown: grow.
    std::vector<std::byte> out;
    std::size_t capacity = declared != ZSTD_CONTENTSIZE_UNKNOWN
                               ? static_cast<std::size_t>(declared) + 1
                               : std::min<std::size_t>(maxBytes + 1, std::size_t{64} << 10);
    out.resize(capacity);
    ZSTD_inBuffer in{frame.data(), frame.size(), 0};
    std::size_t produced = 0;
    for (;;) {
        if (produced == out.size()) {
            if (out.size() > maxBytes) {
                return corruptionError("zstd: decompressed data exceeds the limit of " +
                                       std::to_string(maxBytes) + " bytes");
            }
            out.resize(std::min(out.size() * 2, maxBytes + 1));
        }
        ZSTD_outBuffer o{out.data(), out.size(), produced};
        const std::size_t ret = ZSTD_decompressStream(ctx.get(), &o, &in);
        produced = o.pos;
        if (ZSTD_isError(ret)) {
            return corruptionError(std::string("zstd: ") + ZSTD_getErrorName(ret));
        }
        if (produced > maxBytes) {
            return corruptionError("zstd: decompressed data exceeds the limit of " +
                                   std::to_string(maxBytes) + " bytes");
        }
        if (ret == 0) break;  // frame complete and flushed
        if (in.pos == in.size && produced < out.size()) {
            return corruptionError("zstd: frame is truncated");
        }
    }
    if (in.pos != in.size) {
        return corruptionError("zstd: " + std::to_string(in.size - in.pos) +
                               " trailing bytes after the frame");
    }
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && produced != declared) {
        return corruptionError("zstd: frame declares " + std::to_string(declared) +
                               " bytes but holds " + std::to_string(produced));
    }
    out.resize(produced);
    return out;
}

Result<DecodedEnvelope> decodeEnvelope(std::span<const std::byte> encoded,
                                       std::uint32_t expectedMagic, std::size_t maxBodyBytes) {
    maxBodyBytes = std::min(maxBodyBytes, kHardMaxDecodedBytes);
    if (encoded.size() < kMinEnvelopeBytes) {
        return corruptionError("encoded object of " + std::to_string(encoded.size()) +
                               " bytes is shorter than the minimum of " +
                               std::to_string(kMinEnvelopeBytes));
    }
    // No valid object is much larger than its body: refuse to checksum gigabytes for nothing.
    const std::size_t maxEncoded = ZSTD_compressBound(maxBodyBytes) + 64;
    if (encoded.size() > maxEncoded) {
        return corruptionError("encoded object of " + std::to_string(encoded.size()) +
                               " bytes exceeds the limit of " + std::to_string(maxEncoded));
    }
    DecodedEnvelope out;
    EnvelopeHeader& h = out.header;
    const auto covered = encoded.first(encoded.size() - 4);
    ByteReader trailer(encoded.last(4));
    CKPT_ASSIGN_OR_RETURN(h.crc32c, trailer.readU32Le("crc32c"));

    ByteReader r(covered);
    CKPT_ASSIGN_OR_RETURN(h.magic, r.readU32Be("magic"));
    if (h.magic != expectedMagic) {
        return corruptionError("magic is " + hex32(h.magic) + ", expected " + hex32(expectedMagic));
    }
    CKPT_ASSIGN_OR_RETURN(h.length, r.readU64Le("length"));
    if (h.length != encoded.size()) {
        return corruptionError("header length " + std::to_string(h.length) +
                               " does not match the object size " + std::to_string(encoded.size()));
    }
    const std::uint32_t actualCrc = crc32c(covered);
    if (actualCrc != h.crc32c) {
        return corruptionError("CRC-32C mismatch: stored " + hex32(h.crc32c) + ", computed " +
                               hex32(actualCrc));
    }
    CKPT_ASSIGN_OR_RETURN(h.version, r.readVarint32("version"));
    if (h.version > kFormatVersion) {
        return corruptionError("format version " + std::to_string(h.version) +
                               " is not supported (maximum " + std::to_string(kFormatVersion) +
                               ")");
    }
    CKPT_ASSIGN_OR_RETURN(const std::uint32_t compression, r.readVarint32("compression"));
    CKPT_ASSIGN_OR_RETURN(const auto payload, r.readBytes(r.remaining(), "payload"));
    switch (compression) {
        case 0:
            h.compression = EnvelopeCompression::kNone;
            if (payload.size() > maxBodyBytes) {
                return corruptionError("body of " + std::to_string(payload.size()) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(maxBodyBytes));
            }
            out.body.assign(payload.begin(), payload.end());
            break;
        case 1: {
            h.compression = EnvelopeCompression::kZstd;
            CKPT_ASSIGN_OR_RETURN(out.body, zstdDecompressBounded(payload, maxBodyBytes));
            break;
        }
        default:
            return corruptionError("unsupported compression format " + std::to_string(compression));
    }
    return out;
}

Result<std::vector<std::byte>> encodeEnvelope(std::uint32_t magic, std::span<const std::byte> body,
                                              EnvelopeCompression compression, int zstdLevel) {
    ByteWriter w;
    w.writeU32Be(magic);
    w.writeU64Le(0);  // length, patched below
    w.writeVarint(kFormatVersion);
    w.writeVarint(static_cast<std::uint64_t>(compression));
    std::vector<std::byte> out = w.take();
    const std::size_t headerSize = out.size();
    if (compression == EnvelopeCompression::kZstd) {
        std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
        if (!ctx) return internalError("zstd: cannot allocate a compression context");
        const std::size_t bound = ZSTD_compressBound(body.size());
        out.resize(headerSize + bound + 4);
        // ZSTD_compressCCtx writes the content size into the frame header.
        const std::size_t n = ZSTD_compressCCtx(ctx.get(), out.data() + headerSize, bound,
                                                body.data(), body.size(), zstdLevel);
        if (ZSTD_isError(n)) return internalError(std::string("zstd: ") + ZSTD_getErrorName(n));
        out.resize(headerSize + n);
    } else {
        out.insert(out.end(), body.begin(), body.end());
    }
    const std::uint64_t length = out.size() + 4;
    for (unsigned i = 0; i < 8; ++i) {
        out[4 + i] = static_cast<std::byte>((length >> (8 * i)) & 0xFFu);
    }
    const std::uint32_t crc = crc32c(out);
    for (unsigned i = 0; i < 4; ++i)
        out.push_back(static_cast<std::byte>((crc >> (8 * i)) & 0xFFu));
    return out;
}

}  // namespace ckpt::ocdbt
