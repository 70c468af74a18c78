// Byte-level zarr codecs: bounded decompression (zstd, gzip/zlib), the crc32c suffix, byte-order
// swapping, and a growable byte buffer that reports allocation failure as a Status.
//
// Pure functions over byte spans, no I/O, thread-safe. Every decoder is told the most bytes it may
// produce (or the exact count) and returns Corruption when the input disagrees, so a hostile chunk
// cannot make us allocate beyond what the metadata allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "ckpt/core/status.h"
#include "formats/zarr/zarr_metadata.h"

namespace ckpt::zarr {

// An owning byte buffer with uninitialised contents; allocation failure is an error, not a throw.
class ByteBuffer {
public:
    static Result<ByteBuffer> allocate(std::size_t size);
    std::byte* data() { return m_data.get(); }
    const std::byte* data() const { return m_data.get(); }
    std::size_t size() const { return m_size; }
    // Shrinks the visible size (never grows).
    void truncate(std::size_t size) { m_size = size < m_size ? size : m_size; }
    std::span<const std::byte> bytes() const { return {m_data.get(), m_size}; }

private:
    std::unique_ptr<std::byte[]> m_data;
    std::size_t m_size = 0;
};

// The CRC-32C of zarr v3's crc32c codec and shard index (same function as OCDBT's).
std::uint32_t crc32c(std::span<const std::byte> data);
// Reads a little-endian u32 (the crc32c suffix).
std::uint32_t loadU32le(const std::byte* p);

// How much a decoder may produce.
struct OutputLimit {
    std::uint64_t bytes = 0;
    bool exact = false;  // output must be exactly `bytes` long
};

// Decodes one or more concatenated zstd frames. Frames without a content-size field are fine.
Result<ByteBuffer> zstdDecode(std::span<const std::byte> input, OutputLimit limit);

// Decodes one or more concatenated zstd frames into `out`, which they must fill exactly
// (Corruption otherwise; `out` may then hold partial data). Reuses one decoder per thread.
Status zstdDecodeInto(std::span<const std::byte> input, std::span<std::byte> out);

using ReleaseFn = std::function<void(std::span<const std::byte>)>;

// A zstd stream decoded forward on demand, so that reading a large chunk slab after slab decodes
// it once. `consumed` (optional) is told about each stretch of input the decoder is done with,
// so a mapped input's pages can be released while streaming. Not thread-safe.
class ZstdCursor {
public:
    static Result<std::unique_ptr<ZstdCursor>> create(std::span<const std::byte> input,
                                                      ReleaseFn consumed = {});
    ~ZstdCursor();
    ZstdCursor(const ZstdCursor&) = delete;
    ZstdCursor& operator=(const ZstdCursor&) = delete;

    std::uint64_t position() const;  // decoded bytes passed so far
    std::span<const std::byte> input() const;
    // Fills `out` with decoded bytes [offset, offset + out.size()); offset >= position() (what
    // lies between is decoded and dropped). Corruption when the stream is corrupt or too short.
    Status read(std::uint64_t offset, std::span<std::byte> out);
    // Corruption unless the stream ends exactly at position().
    Status expectEnd();

private:
    ZstdCursor();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Decodes a gzip member (gzip = true) or a zlib stream. Unsupported when built without zlib.
Result<ByteBuffer> zlibDecode(std::span<const std::byte> input, bool gzip, OutputLimit limit);
// True when this build can decode gzip/zlib.
bool haveZlib();

// The most bytes `codec` can produce from `n` input bytes (saturating at UINT64_MAX).
std::uint64_t encodedBound(const BytesCodec& codec, std::uint64_t n);
// The most bytes `chain` can produce for a chunk of `shape` with `item` bytes per element
// (saturating). Bounds every intermediate decode buffer.
std::uint64_t maxEncodedBytes(const CodecChain& chain, const Shape& shape, std::size_t item);

// Undoes the bytes -> bytes codecs `codecs` (last first). `innerLimit` limits the output of the
// first codec, i.e. the array -> bytes representation; outputs of later codecs are limited by
// encodedBound(). `view` points into `owned` when a codec produced new bytes, else into `input`.
struct DecodedBytes {
    ByteBuffer owned;
    std::span<const std::byte> view;
};
Result<DecodedBytes> decodeBytesCodecs(std::span<const BytesCodec> codecs,
                                       std::span<const std::byte> input, OutputLimit innerLimit);

// Swaps each `unit`-byte word of `data` in place (unit 2, 4 or 8).
void byteSwapInPlace(std::span<std::byte> data, std::size_t unit);

}  // namespace ckpt::zarr
