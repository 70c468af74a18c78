#include "formats/zarr/zarr_codecs.h"

#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <new>

#include "formats/ocdbt/crc32c.h"

#ifdef CKPT_HAVE_ZLIB
#include <zlib.h>
#endif

namespace ckpt::zarr {

namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

std::uint64_t satAdd(std::uint64_t a, std::uint64_t b) {
    return a > kU64Max - b ? kU64Max : a + b;
}
std::uint64_t satMul(std::uint64_t a, std::uint64_t b) {
    return (a != 0 && b > kU64Max / a) ? kU64Max : a * b;
}

// Grows `buf` (holding `used` valid bytes) towards `cap` bytes: doubling, at least 64 KiB.
Status grow(ByteBuffer& buf, std::size_t used, std::size_t cap) {
    std::size_t next = std::max<std::size_t>(buf.size() * 2, 64 << 10);
    next = std::min(next, cap);
    CKPT_ASSIGN_OR_RETURN(ByteBuffer bigger, ByteBuffer::allocate(next));
    if (used > 0) std::memcpy(bigger.data(), buf.data(), used);
    buf = std::move(bigger);
    return okStatus();
}

// The output buffer a decoder starts with: the exact size (+1 to notice overruns), else a guess.
Result<ByteBuffer> initialBuffer(std::size_t inputSize, OutputLimit limit, std::size_t cap) {
    std::size_t first = cap;
    if (!limit.exact) {
        const std::size_t guess =
            inputSize > cap / 4 ? cap : std::max<std::size_t>(inputSize * 4, 64 << 10);
        first = std::min(guess, cap);
    }
    return ByteBuffer::allocate(first);
}

std::size_t capFor(OutputLimit limit) {
    // One byte beyond the limit lets the decoder show that the input decodes to more.
    const std::uint64_t cap = satAdd(limit.bytes, 1);
    return cap > std::numeric_limits<std::size_t>::max() ? std::numeric_limits<std::size_t>::max()
                                                         : static_cast<std::size_t>(cap);
}

Status checkProduced(std::size_t produced, OutputLimit limit, const char* codec) {
    if (produced > limit.bytes) {
        return corruptionError(std::string(codec) + " data decodes to more than the " +
                               std::to_string(limit.bytes) + " bytes expected");
    }
    if (limit.exact && produced != limit.bytes) {
        return corruptionError(std::string(codec) + " data decodes to " + std::to_string(produced) +
                               " bytes, expected " + std::to_string(limit.bytes));
    }
    return okStatus();
}

}  // namespace

Result<ByteBuffer> ByteBuffer::allocate(std::size_t size) {
    ByteBuffer b;
    if (size > 0) {
        b.m_data.reset(new (std::nothrow) std::byte[size]);
        if (!b.m_data) {
            return ioError("cannot allocate " + std::to_string(size) + " bytes for a zarr chunk");
        }
    }
    b.m_size = size;
    return b;
}

Status zstdDecodeInto(std::span<const std::byte> input, std::span<std::byte> out) {
    // A decoder context is some 100 KiB of tables: one per thread, not one per chunk.
    thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(),
                                                                          &ZSTD_freeDCtx);
    if (!ctx) return ioError("cannot create a zstd decoder");
    ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only);
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    std::size_t pending = 1;  // ZSTD's "more to do" hint; 0 = a frame just ended
    std::byte extra{};
    while (true) {
        // Once `out` is full, one more byte of room shows whether the data goes on.
        ZSTD_outBuffer spill{&extra, 1, 0};
        ZSTD_outBuffer& target = o.pos < o.size ? o : spill;
        pending = ZSTD_decompressStream(ctx.get(), &target, &in);
        if (ZSTD_isError(pending) != 0) {
            ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only);
            return corruptionError(std::string("zstd data is corrupt: ") +
                                   ZSTD_getErrorName(pending));
        }
        if (spill.pos != 0) {
            ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only);
            return corruptionError("zstd data decodes to more than the " +
                                   std::to_string(out.size()) + " bytes expected");
        }
        if (in.pos == in.size) {
            if (pending == 0) break;         // last frame complete
            if (target.pos < target.size) {  // decoder wants more input than there is
                ZSTD_DCtx_reset(ctx.get(), ZSTD_reset_session_only);
                return corruptionError("zstd data is truncated");
            }
        }
    }
    if (o.pos != out.size()) {
        return corruptionError("zstd data decodes to " + std::to_string(o.pos) +
                               " bytes, expected " + std::to_string(out.size()));
    }
    return okStatus();
}

std::uint32_t crc32c(std::span<const std::byte> data) {
    return ocdbt::crc32c(data);
}

std::uint32_t loadU32le(const std::byte* p) {
    return std::to_integer<std::uint32_t>(p[0]) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
           (std::to_integer<std::uint32_t>(p[2]) << 16) |
           (std::to_integer<std::uint32_t>(p[3]) << 24);
}

Result<ByteBuffer> zstdDecode(std::span<const std::byte> input, OutputLimit limit) {
    const std::size_t cap = capFor(limit);
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
    if (!ctx) return ioError("cannot create a zstd decoder");
    CKPT_ASSIGN_OR_RETURN(ByteBuffer out, initialBuffer(input.size(), limit, cap));
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    std::size_t produced = 0;
    std::size_t pending = 1;  // ZSTD's "more to do" hint; 0 = a frame just ended
    while (true) {
        if (produced == out.size()) {
            if (out.size() >= cap) break;  // more output than allowed: reported below
            CKPT_RETURN_IF_ERROR(grow(out, produced, cap));
        }
        ZSTD_outBuffer o{out.data(), out.size(), produced};
        pending = ZSTD_decompressStream(ctx.get(), &o, &in);
        produced = o.pos;
        if (ZSTD_isError(pending) != 0) {
            return corruptionError(std::string("zstd data is corrupt: ") +
                                   ZSTD_getErrorName(pending));
        }
        if (in.pos == in.size) {
            if (pending == 0) break;  // last frame complete
            if (o.pos < o.size) {     // decoder wants more input than there is
                return corruptionError("zstd data is truncated");
            }
        }
    }
    CKPT_RETURN_IF_ERROR(checkProduced(produced, limit, "zstd"));
    out.truncate(produced);
    return out;
}

struct ZstdCursor::Impl {
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx{ZSTD_createDCtx(), &ZSTD_freeDCtx};
    std::span<const std::byte> input;
    ReleaseFn consumed;
    ZSTD_inBuffer in{};
    std::size_t released = 0;
    std::uint64_t position = 0;  // decoded bytes so far
    std::size_t pending = 1;     // ZSTD's "more to do" hint; 0 = a frame just ended
    std::vector<std::byte> scratch;

    void release(bool all) {
        constexpr std::size_t kReleaseEvery = std::size_t{8} << 20;
        if (consumed && in.pos > released && (all || in.pos - released >= kReleaseEvery)) {
            consumed(input.subspan(released, in.pos - released));
            released = in.pos;
        }
    }

    // Decodes into `out` (filling it) or, with `discard`, through the scratch window.
    Status decode(std::span<std::byte> out, std::uint64_t discard) {
        constexpr std::size_t kWindow = std::size_t{1} << 20;
        std::size_t filled = 0;
        while (discard > 0 || filled < out.size()) {
            ZSTD_outBuffer o{};
            if (discard > 0) {
                if (scratch.empty()) scratch.resize(kWindow);
                o = {scratch.data(),
                     static_cast<std::size_t>(std::min<std::uint64_t>(discard, kWindow)), 0};
            } else {
                o = {out.data() + filled, out.size() - filled, 0};
            }
            pending = ZSTD_decompressStream(ctx.get(), &o, &in);
            if (ZSTD_isError(pending) != 0) {
                return corruptionError(std::string("zstd data is corrupt: ") +
                                       ZSTD_getErrorName(pending));
            }
            if (discard > 0) {
                discard -= o.pos;
            } else {
                filled += o.pos;
            }
            position += o.pos;
            release(false);
            if (o.pos == 0 && in.pos == in.size) {
                return corruptionError("zstd data ends after " + std::to_string(position) +
                                       " bytes, before the bytes wanted");
            }
        }
        return okStatus();
    }
};

Result<std::unique_ptr<ZstdCursor>> ZstdCursor::create(std::span<const std::byte> input,
                                                       ReleaseFn consumed) {
    std::unique_ptr<ZstdCursor> cursor(new ZstdCursor());
    cursor->m_impl = std::make_unique<Impl>();
    if (!cursor->m_impl->ctx) return ioError("cannot create a zstd decoder");
    cursor->m_impl->input = input;
    cursor->m_impl->consumed = std::move(consumed);
    cursor->m_impl->in = ZSTD_inBuffer{input.data(), input.size(), 0};
    return cursor;
}

ZstdCursor::ZstdCursor() = default;
ZstdCursor::~ZstdCursor() = default;

std::uint64_t ZstdCursor::position() const {
    return m_impl->position;
}
std::span<const std::byte> ZstdCursor::input() const {
    return m_impl->input;
}

Status ZstdCursor::read(std::uint64_t offset, std::span<std::byte> out) {
    if (offset < m_impl->position) {
        return internalError("zstd cursor at " + std::to_string(m_impl->position) +
                             " cannot go back to " + std::to_string(offset));
    }
    CKPT_RETURN_IF_ERROR(m_impl->decode({}, offset - m_impl->position));
    return m_impl->decode(out, 0);
}

Status ZstdCursor::expectEnd() {
    Impl& s = *m_impl;
    std::byte extra{};
    while (!(s.pending == 0 && s.in.pos == s.in.size)) {
        ZSTD_outBuffer o{&extra, 1, 0};
        s.pending = ZSTD_decompressStream(s.ctx.get(), &o, &s.in);
        if (ZSTD_isError(s.pending) != 0) {
            return corruptionError(std::string("zstd data is corrupt: ") +
                                   ZSTD_getErrorName(s.pending));
        }
        if (o.pos != 0) {
            return corruptionError("zstd data decodes to more than the expected " +
                                   std::to_string(s.position) + " bytes");
        }
        if (s.in.pos == s.in.size && s.pending != 0)
            return corruptionError("zstd data is truncated");
    }
    s.release(true);
    return okStatus();
}

bool haveZlib() {
#ifdef CKPT_HAVE_ZLIB
    return true;
#else
    return false;
#endif
}

Result<ByteBuffer> zlibDecode(std::span<const std::byte> input, bool gzip, OutputLimit limit) {
#ifdef CKPT_HAVE_ZLIB
    const char* name = gzip ? "gzip" : "zlib";
    const std::size_t cap = capFor(limit);
    z_stream zs{};
    if (inflateInit2(&zs, gzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
        return ioError(std::string("cannot create a ") + name + " decoder");
    }
    struct Ender {
        z_stream* s;
        ~Ender() { inflateEnd(s); }
    } ender{&zs};
    CKPT_ASSIGN_OR_RETURN(ByteBuffer out, initialBuffer(input.size(), limit, cap));
    std::size_t consumed = 0;
    std::size_t produced = 0;
    while (true) {
        if (produced == out.size()) {
            if (out.size() >= cap) break;
            CKPT_RETURN_IF_ERROR(grow(out, produced, cap));
        }
        const std::size_t inChunk = std::min<std::size_t>(input.size() - consumed, UINT_MAX);
        const std::size_t outChunk = std::min<std::size_t>(out.size() - produced, UINT_MAX);
        // zlib's API takes non-const input; it never writes through next_in.
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data() + consumed));
        zs.avail_in = static_cast<uInt>(inChunk);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        zs.avail_out = static_cast<uInt>(outChunk);
        const int rc = inflate(&zs, Z_NO_FLUSH);
        consumed += inChunk - zs.avail_in;
        produced += outChunk - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (consumed == input.size()) break;
            if (!gzip) return corruptionError("zlib stream is followed by trailing bytes");
            if (inflateReset(&zs) != Z_OK) return corruptionError("gzip member reset failed");
            continue;  // concatenated gzip members
        }
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR) {
            return corruptionError(std::string(name) + " data is corrupt" +
                                   (zs.msg ? std::string(": ") + zs.msg : std::string()));
        }
        if (consumed == input.size() && produced < out.size()) {
            return corruptionError(std::string(name) + " data is truncated");
        }
    }
    CKPT_RETURN_IF_ERROR(checkProduced(produced, limit, name));
    out.truncate(produced);
    return out;
#else
    (void)input;
    (void)limit;
    return unsupportedError(std::string(gzip ? "gzip" : "zlib") +
                            "-compressed zarr chunks need zlib, which this build lacks");
#endif
}

std::uint64_t encodedBound(const BytesCodec& codec, std::uint64_t n) {
    // Generous versions of each library's worst-case expansion, plus 64 KiB of slack for headers
    // (gzip names, blosc block tables).
    constexpr std::uint64_t kSlack = 64 << 10;
    switch (codec.kind) {
        case BytesCodec::Kind::kZstd:  // ZSTD_COMPRESSBOUND
            return satAdd(satAdd(n, n >> 7), kSlack);
        case BytesCodec::Kind::kGzip:
        case BytesCodec::Kind::kZlib:  // deflateBound: n + n/4096 + n/16384 + ... + 13
            return satAdd(satAdd(n, n >> 10), kSlack);
        case BytesCodec::Kind::kBlosc:  // BLOSC_MAX_OVERHEAD 16 + block table
            return satAdd(satAdd(n, n >> 7), kSlack);
        case BytesCodec::Kind::kBz2:  // n * 1.01 + 600
            return satAdd(satAdd(n, n / 64), kSlack);
        case BytesCodec::Kind::kCrc32c:
            return satAdd(n, 4);
    }
    return kU64Max;
}

std::uint64_t maxEncodedBytes(const CodecChain& chain, const Shape& shape, std::size_t item) {
    std::uint64_t elements = 1;
    for (std::int64_t d : shape) elements = satMul(elements, static_cast<std::uint64_t>(d));
    std::uint64_t n = satMul(elements, item);
    if (chain.sharding) {
        const ShardingCodec& s = *chain.sharding;
        // The sharding codec sees the shape after this chain's transpose.
        Shape enc = shape;
        for (std::size_t e = 0; e < chain.order.size() && e < enc.size(); ++e) {
            enc[e] = shape[chain.order[e]];
        }
        std::uint64_t entries = 1;
        for (std::size_t d = 0; d < enc.size() && d < s.subChunkShape.size(); ++d) {
            entries = satMul(entries, static_cast<std::uint64_t>(enc[d] / s.subChunkShape[d]));
        }
        n = satAdd(satMul(entries, maxEncodedBytes(s.inner, s.subChunkShape, item)),
                   s.indexBytes(entries));
    }
    for (const BytesCodec& c : chain.bytesCodecs) n = encodedBound(c, n);
    return n;
}

Result<DecodedBytes> decodeBytesCodecs(std::span<const BytesCodec> codecs,
                                       std::span<const std::byte> input, OutputLimit innerLimit) {
    // limits[k]: most bytes decoding codec k may produce.
    std::vector<std::uint64_t> limits(codecs.size());
    for (std::size_t k = 0; k < codecs.size(); ++k) {
        limits[k] = k == 0 ? innerLimit.bytes : encodedBound(codecs[k - 1], limits[k - 1]);
    }
    DecodedBytes result;
    result.view = input;
    for (std::size_t k = codecs.size(); k-- > 0;) {
        const BytesCodec& c = codecs[k];
        const OutputLimit limit{limits[k], k == 0 && innerLimit.exact};
        switch (c.kind) {
            case BytesCodec::Kind::kCrc32c: {
                if (result.view.size() < 4) {
                    return corruptionError("crc32c data of " + std::to_string(result.view.size()) +
                                           " bytes is shorter than its checksum");
                }
                const auto body = result.view.first(result.view.size() - 4);
                if (crc32c(body) != loadU32le(result.view.data() + body.size()))
                    return corruptionError("crc32c checksum mismatch");
                result.view = body;
                break;
            }
            case BytesCodec::Kind::kZstd: {
                CKPT_ASSIGN_OR_RETURN(ByteBuffer out, zstdDecode(result.view, limit));
                result.owned = std::move(out);
                result.view = result.owned.bytes();
                break;
            }
            case BytesCodec::Kind::kGzip:
            case BytesCodec::Kind::kZlib: {
                CKPT_ASSIGN_OR_RETURN(
                    ByteBuffer out,
                    zlibDecode(result.view, c.kind == BytesCodec::Kind::kGzip, limit));
                result.owned = std::move(out);
                result.view = result.owned.bytes();
                break;
            }
            case BytesCodec::Kind::kBlosc:
                return unsupportedError("blosc-compressed zarr chunks (" + c.describe() +
                                        ") are not supported: this build has no c-blosc");
            case BytesCodec::Kind::kBz2:
                return unsupportedError("bz2-compressed zarr chunks are not supported");
        }
    }
    if (innerLimit.exact && result.view.size() != innerLimit.bytes) {
        return corruptionError("chunk holds " + std::to_string(result.view.size()) +
                               " bytes, expected " + std::to_string(innerLimit.bytes));
    }
    if (result.view.size() > innerLimit.bytes) {
        return corruptionError("chunk holds " + std::to_string(result.view.size()) +
                               " bytes, more than the " + std::to_string(innerLimit.bytes) +
                               " its shape allows");
    }
    return result;
}

void byteSwapInPlace(std::span<std::byte> data, std::size_t unit) {
    if (unit < 2) return;
    for (std::size_t i = 0; i + unit <= data.size(); i += unit) {
        std::reverse(data.begin() + static_cast<std::ptrdiff_t>(i),
                     data.begin() + static_cast<std::ptrdiff_t>(i + unit));
    }
}

}  // namespace ckpt::zarr
