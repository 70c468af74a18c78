// Zarr array metadata (v2 `.zarray`, v3 `zarr.json`) parsed into one model that the chunk decoder
// walks: shape, regular chunk grid, dtype, fill value, chunk key encoding and codec chain.
//
// Everything here is a pure function over JSON text or over the parsed model: no I/O, no
// exceptions, safe to call from any thread. Hostile metadata (bad JSON, wrong types, overflowing
// shapes, zero chunk sizes, codecs that cannot fit the chunk) is a Corruption status; metadata
// that is well formed but asks for something this reader does not implement (structured dtypes,
// blosc, filters) is Unsupported. Byte layout and sources: FORMAT.md beside this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt::zarr {

// TensorStore's limit on array rank (kMaxRank); deeper arrays are rejected as corrupt.
inline constexpr std::size_t kMaxRank = 32;
// A decoded chunk larger than this is refused: reading it would need one buffer this big.
inline constexpr std::uint64_t kMaxChunkBytes = 16ULL << 30;
// TensorStore's limit on the number of inner chunks in one shard (kMaxNumEntries).
inline constexpr std::uint64_t kMaxShardEntries = 1ULL << 30;

enum class Endian : std::uint8_t { kLittle, kBig };

// A bytes -> bytes step (zarr v3 codec, or the v2 compressor).
struct BytesCodec {
    enum class Kind : std::uint8_t { kZstd, kGzip, kZlib, kBlosc, kBz2, kCrc32c };
    Kind kind = Kind::kZstd;
    int level = 0;           // zstd / gzip / zlib / bz2 level, blosc clevel
    bool checksum = false;   // zstd content checksum flag (informational)
    std::string bloscCname;  // blosc only
    int bloscShuffle = 0;    // blosc only, as written
    // "zstd(level=1)", "crc32c", "blosc(cname=lz4, clevel=5, shuffle=-1)".
    std::string describe() const;
};

struct ShardingCodec;

// How one chunk's elements become stored bytes, in the order of decoding undone:
// elements --transpose--> encoded array --bytes/sharding--> bytes --bytesCodecs[0..n)--> stored.
struct CodecChain {
    // Composed transpose (v3 `transpose`, v2 `order: "F"`): encoded dimension e holds decoded
    // dimension order[e]. Empty = identity.
    std::vector<std::size_t> order;
    Endian endian = Endian::kLittle;                // of the `bytes` codec
    std::shared_ptr<const ShardingCodec> sharding;  // set: array -> bytes is sharding_indexed
    std::vector<BytesCodec> bytesCodecs;            // in encoding (metadata list) order
};

// zarr v3 `sharding_indexed`: a shard holds a grid of inner chunks plus an index of
// (offset, nbytes) u64 pairs, one per inner chunk in C order.
struct ShardingCodec {
    Shape subChunkShape;  // in the shard's (already transposed) coordinates
    CodecChain inner;
    bool indexAtEnd = true;  // index_location "end" (default) or "start"
    Endian indexEndian = Endian::kLittle;
    bool indexCrc32c = true;  // index_codecs end with crc32c
    // Bytes of the encoded index for `entries` inner chunks.
    std::uint64_t indexBytes(std::uint64_t entries) const {
        return entries * 16 + (indexCrc32c ? 4 : 0);
    }
};

struct ChunkKeyEncoding {
    bool v3Default = false;  // v3 "default": "c" prefix; otherwise v2 style ("0.0", rank 0 "0")
    char separator = '.';
};

struct ZarrMetadata {
    int zarrFormat = 2;
    Shape shape;
    Shape chunkShape;  // the chunk grid (outer chunks = shards in v3)
    DType dtype = DType::kFloat32;
    std::string storedDType;           // as written: "<f4", "bfloat16", "float32"
    std::vector<std::byte> fillValue;  // itemSize(dtype) bytes, little-endian
    ChunkKeyEncoding keyEncoding;
    CodecChain codecs;
};

Result<ZarrMetadata> parseZarrV2Metadata(std::string_view jsonText);
Result<ZarrMetadata> parseZarrV3Metadata(std::string_view jsonText);

// zarr v2 dtype strings ("<f4", "|b1", ">i2", "bfloat16", "float8_e4m3fn") and zarr v3 data_type
// names ("float32", "bool", "complex64"). `bigEndian` receives the v2 byte order.
Result<DType> parseZarrV2DType(std::string_view text, Endian* endian);
Result<DType> parseZarrV3DataType(std::string_view text);

// The storage key of the chunk with grid indices `index`, relative to the array's prefix:
// v2 "1.0" / "1/0" (rank 0: "0"); v3 default "c/1/0" (rank 0: "c").
std::string chunkKey(const ChunkKeyEncoding& encoding, std::span<const std::int64_t> index);

// Human-readable codec list for StorageInfo, outermost first: e.g.
// {"sharding_indexed(chunk_shape=[2,3])", "zstd(level=3)"}; empty for raw little-endian C order.
std::vector<std::string> describeCodecs(const ZarrMetadata& metadata);

// Encodes `value` into the element format of `dtype` (round to nearest even; overflow gives
// infinity, or NaN for formats without one), little-endian. Exposed for tests.
std::vector<std::byte> encodeDouble(DType dtype, double value);

}  // namespace ckpt::zarr
