// Writing one array as a zarr v2 or v3 array the way TensorStore writes it for
// orbax-checkpoint 0.12.8 (tensorstore 0.1.86), so that Orbax restores it: metadata JSON with
// the same members, member order and spelling, C-order little-endian chunks compressed with
// zstd, every chunk written, and in v3 each chunk wrapped in a `sharding_indexed` shard holding
// exactly one inner chunk. FORMAT.md beside this file lists what Orbax writes and how it was
// checked.
//
// The metadata and chunk encoders are pure functions (no I/O, thread-safe). writeZarrArray()
// reads the source one chunk at a time, so memory stays at about one chunk plus its compressed
// copy; it only puts keys and never commits the writer (the caller commits once per checkpoint).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/array_source.h"
#include "ckpt/core/cancel.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"
#include "kvstore/kv_writer.h"

struct ZSTD_CCtx_s;  // zstd.h's ZSTD_CCtx

namespace ckpt::zarr {

// Orbax's zstd levels: TensorStore's zarr v2 `zstd` compressor default (1) and Orbax's explicit
// zarr v3 `zstd` codec level (3).
inline constexpr int kOrbaxZstdLevelV2 = 1;
inline constexpr int kOrbaxZstdLevelV3 = 3;

// Buffers a writer thread reuses from chunk to chunk (and array to array), so that large chunks
// are not freshly allocated — and page-faulted in — every time. Not shared between threads.
// A growable byte buffer that, unlike std::string and std::vector, does not zero what it grows
// into: zstd writes its output there, so a chunk's compress bound is not cleared every time.
class EncodeBuffer {
public:
    // `n` writable bytes (contents kept up to size()); may throw bad_alloc.
    char* reserve(std::size_t n);
    void setSize(std::size_t n) { m_size = n; }
    void append(const char* p, std::size_t n);
    std::size_t size() const { return m_size; }
    std::string_view view() const { return {m_data.get(), m_size}; }

private:
    std::unique_ptr<char[]> m_data;
    std::size_t m_capacity = 0;
    std::size_t m_size = 0;
};

struct ZarrScratch {
    std::vector<std::byte> chunk;
    EncodeBuffer encoded;
    std::shared_ptr<::ZSTD_CCtx_s> zstd;  // a compression context, made on first use
    // The last metadata text made, for what it was made: a tree of many leaves of one shape
    // (layers, heads) reuses it instead of building and dumping a JSON document per array.
    struct MetadataKey {
        DType dtype{};
        Shape shape, chunkShape;
        int zarrVersion = 0, level = 0;
        bool compress = false, v3Sharding = false;
        bool operator==(const MetadataKey&) const = default;
    };
    std::optional<MetadataKey> metadataFor;
    std::string metadata;
};

struct ZarrWriteOptions {
    int zarrVersion = 2;  // 2 (`.zarray`, Orbax use_zarr3=False) or 3 (`zarr.json`)
    // The chunk grid (in v3: the shard shape). Empty = the whole array as one chunk, as Orbax
    // writes numpy arrays, scalars and single-device jax arrays; zero-sized dimensions then get
    // chunk size 1 (Orbax's rule). Otherwise same rank as the array, every entry >= 1; edge
    // chunks may be ragged (stored full size, padded with zeros, like TensorStore).
    Shape chunkShape;
    bool compress = true;          // false: v2 `"compressor":null`, v3 no zstd codec
    std::optional<int> zstdLevel;  // nullopt = Orbax's level for the version (1 for v2, 3 for v3)
    // Orbax 0.10+ passes store_data_equal_to_fill_value=true: every chunk is written, even all
    // zeros. false = leave out chunks whose bytes are all zero (TensorStore's default).
    bool writeChunksEqualToFill = true;
    // v3 only: wrap each chunk in `sharding_indexed` with one inner chunk of the same shape, as
    // Orbax does. false = plain `bytes` (+ `zstd`) codecs.
    bool v3Sharding = true;
    // Called after each chunk with the array's bytes done so far and its total (a save of one
    // large array can then report progress as it goes).
    ProgressFn progress;
    // Reused buffers (optional; owned by the caller, one per thread).
    ZarrScratch* scratch = nullptr;
    // Multi-process saves: only the chunks whose grid index this accepts are written (unset:
    // every chunk), and the metadata key only when `writeMetadata` (one process writes it).
    std::function<bool(const std::vector<std::int64_t>& gridIndex)> chunkFilter;
    bool writeMetadata = true;
};

// The zarr v2 dtype string TensorStore writes ("<f4", "|b1", "bfloat16", "float8_e4m3fn") and the
// zarr v3 data_type name ("float32", "bool"). Unsupported for dtypes TensorStore 0.1.86 cannot
// store (float8_e4m3).
Result<std::string> zarrV2DTypeString(DType dtype);
Result<std::string> zarrV3DataTypeName(DType dtype);

// The options with defaults resolved for an array of `shape` (chunk shape, zstd level), or
// InvalidArgument when they do not fit the array.
Result<ZarrWriteOptions> resolveWriteOptions(DType dtype, const Shape& shape,
                                             const ZarrWriteOptions& options);

// The `.zarray` / `zarr.json` text TensorStore writes for these (resolved) options: compact JSON,
// members in TensorStore's (sorted) order.
Result<std::string> zarrMetadataJson(DType dtype, const Shape& shape,
                                     const ZarrWriteOptions& resolved);

// Encodes one full chunk (C-order little-endian elements of the whole chunk shape, padding
// included) into its stored value under the resolved options: zstd frame, and in v3 with
// sharding the one-entry shard index and its CRC-32C.
// encodeZarrChunk into `out` (replacing its contents, keeping its capacity).
Status encodeZarrChunkInto(std::span<const std::byte> chunkBytes, const ZarrWriteOptions& resolved,
                           EncodeBuffer& out);
Result<std::string> encodeZarrChunk(std::span<const std::byte> chunkBytes,
                                    const ZarrWriteOptions& resolved);

// Writes the array `source` under `prefix` ("params.kernel/", or "" for the store's root; a
// missing trailing '/' is added): every chunk key (C order of the grid) and then the metadata
// key. Reads the source chunk by chunk through source.read(). Errors name the prefix and key;
// Cancelled when `cancel` fires between chunks (the keys already put stay put).
Status writeZarrArray(kv::KvWriter& out, std::string_view prefix, const ArraySource& source,
                      const ZarrWriteOptions& options, const CancelToken* cancel = nullptr);

}  // namespace ckpt::zarr
