// ArraySource: lazy, chunk-aware access to one array's elements, wherever they are stored.
//
// dtype, shape and chunk grid are known without reading data. read() of a selection touches only
// what that selection needs. Formats, casts, edits and shards all implement this interface, so
// previews and writers never care where bytes come from.
//
// Thread-safety: every const member may be called from several threads at once.
// Ownership: sources are shared (std::shared_ptr<const ArraySource>); a source keeps whatever it
// reads from (a mapped file, a store) alive.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/cancel.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt {

// A hyperslab: for each dimension, the first index and how many elements (stride 1).
struct Selection {
    std::vector<std::int64_t> start;
    std::vector<std::int64_t> count;

    static Selection all(const Shape& shape);
    std::uint64_t elementCount() const;
    // Checks rank and bounds against `shape`.
    Status validate(const Shape& shape) const;
};

// Where and how the elements are stored, for display ("details" pane, `ckpt info`).
struct StorageInfo {
    std::string format;                 // "flax msgpack", "zarr v2", ...
    std::string file;                   // the file holding the bytes, if one
    std::string location;               // e.g. "byte offset 1234"
    std::vector<std::string> codecs;    // e.g. {"zstd(level=1)"}; empty = raw
    Shape chunkShape;                   // storage chunking; empty = not chunked
    std::uint64_t storedBytes = 0;      // bytes on disk (after compression), 0 if unknown
};

class ArraySource {
public:
    virtual ~ArraySource() = default;

    virtual DType dtype() const = 0;
    virtual const Shape& shape() const = 0;

    // Sources whose metadata (dtype, shape, chunking) is read on first use, such as the arrays
    // of a large Orbax checkpoint, report here whether it has been read: metadataLoaded() never
    // blocks, so a GUI thread can show "…" instead of waiting on disk. metadataStatus() reads it
    // if needed (blocking) and gives the error when it could not be read; such a source then
    // has dtype uint8 and shape {0} (nothing to allocate), and every read fails with that error.
    // Any other member may also trigger the read. Defaults: always loaded, always OK.
    virtual bool metadataLoaded() const { return true; }
    virtual Status metadataStatus() const { return {}; }

    // The natural unit of reading: the storage chunk, or for contiguous storage a slab sized to
    // keep memory bounded. forEachChunk() walks this grid.
    virtual Shape chunkShape() const;
    virtual StorageInfo storage() const;

    // Reads `selection` into `out` (C order, little-endian), which must hold exactly
    // selection.elementCount() * itemSize(dtype()) bytes. The selection is already validated.
    virtual Status readInto(const Selection& selection, std::span<std::byte> out,
                            const CancelToken* cancel) const = 0;

    // The whole array's bytes (C order, little-endian) when they already sit in memory for as
    // long as the source lives (in-memory arrays, snapshots), so that a writer can encode them in
    // place instead of copying them out first; std::nullopt otherwise (the default).
    virtual std::optional<std::span<const std::byte>> residentBytes() const { return std::nullopt; }

    std::uint64_t elementCount() const;
    std::uint64_t byteSize() const;

    // Validates the selection, allocates and reads.
    Result<Array> read(const Selection& selection, const CancelToken* cancel = nullptr) const;
    Result<Array> readAll(const CancelToken* cancel = nullptr) const;

    // Calls `fn` for each block of the chunk grid in C order, with the block's selection and its
    // data. Stops at the first non-OK status from `fn`, or on cancel.
    using ChunkFn = std::function<Status(const Selection&, const Array&)>;
    Status forEachChunk(const ChunkFn& fn, const CancelToken* cancel = nullptr,
                        const ProgressFn& progress = {}) const;
};

using ArraySourcePtr = std::shared_ptr<const ArraySource>;

// A source over an in-memory array (used for demo data, edits and tests).
ArraySourcePtr makeMemorySource(Array array);

// Calls fn(srcOffsetBytes, runBytes) for each maximal contiguous run of the hyperslab `sel` in a
// C-ordered array of `shape` with `item` bytes per element, in C order of the selection.
void forEachContiguousRun(const Shape& shape, std::size_t item, const Selection& sel,
                          const std::function<void(std::size_t, std::size_t)>& fn);

// Reads the whole array in C order as consecutive blocks of at most about `maxBlockBytes`
// (at least one element), calling fn with each block's bytes. Concatenated, the blocks are the
// array's C-order bytes; used by writers that stream contiguous data.
Status forEachCOrderBlock(const ArraySource& source, std::uint64_t maxBlockBytes,
                          const std::function<Status(std::span<const std::byte>)>& fn,
                          const CancelToken* cancel = nullptr);

// Copies the hyperslab `sel` out of a C-ordered buffer of `shape`, `item` bytes per element.
// The chunking of contiguous C-order data read in slabs: whole trailing dimensions and as many
// leading rows as fit in `slabBytes` (at least one). Rank 0 gives the empty shape.
Shape rowSlabChunkShape(DType dtype, const Shape& shape, std::uint64_t slabBytes);

void copyHyperslab(const std::byte* src, const Shape& shape, std::size_t item, const Selection& sel,
                   std::byte* dst);

}  // namespace ckpt
