// Decoding one stored zarr chunk straight into the caller's output buffer.
//
// A chunk is decoded only as far as the wanted region needs: a shard's inner chunks outside the
// region are not decompressed, and only the intersecting elements are copied. Pure functions over
// bytes (no I/O), thread-safe. Corrupt bytes give a Corruption status that names what was wrong;
// the caller adds the array and key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/status.h"
#include "formats/zarr/zarr_codecs.h"
#include "formats/zarr/zarr_metadata.h"

namespace ckpt::zarr {

// Where the elements of a chunk go. Coordinates are the chunk's own (0 = its first element).
// The wanted region is [lo, hi) per dimension (it may reach outside the chunk; it is clipped);
// the element at coordinates x lands at base + sum((x[d] - lo[d]) * stride[d]).
struct OutView {
    std::byte* base = nullptr;
    std::vector<std::int64_t> lo;
    std::vector<std::int64_t> hi;
    std::vector<std::int64_t> stride;  // bytes, >= 0
};

// The view that places a chunk at `origin` (array coordinates) into `out`, the C-ordered buffer
// of the selection `start`/`count`, `item` bytes per element.
OutView makeOutView(std::span<std::byte> out, std::span<const std::int64_t> start,
                    std::span<const std::int64_t> count, std::span<const std::int64_t> origin,
                    std::size_t item);

// The element format the decoder produces: `fill` is one element (its size is the item size),
// little-endian; stored big-endian data is swapped in `swapUnit`-byte words (half the item for
// complex numbers, 1 = never).
struct ElementFormat {
    std::span<const std::byte> fill;
    std::size_t swapUnit = 1;
    std::size_t item() const { return fill.size(); }
};

// Writes the fill element to every wanted element of a chunk of `shape`.
void fillRegion(const Shape& shape, std::span<const std::byte> fill, const OutView& view);

// Decodes the stored bytes of a chunk of `shape` encoded with `chain` into `view`; missing inner
// chunks of shards read as the fill element.
// A plain zstd chunk of 8 MiB or more whose wanted region is one contiguous C-order stretch (row
// slabs, whole chunks) is decompressed only up to the region's end, straight into a region-sized
// buffer; `consumed` (optional) then hears about input the decoder is done with (see
// ZstdCursor). Such a read checks the stream's end only when the region reaches it.
// `cursor` (optional) carries the decoder from one such read to the next read of the same
// stored bytes further on, so slab after slab decodes the chunk once; it is reset when it cannot
// serve (other bytes, an earlier offset) and when the chunk's end is reached.
Status decodeChunkInto(const CodecChain& chain, const Shape& shape,
                       std::span<const std::byte> stored, const ElementFormat& format,
                       const OutView& view, const ReleaseFn& consumed = {},
                       std::unique_ptr<ZstdCursor>* cursor = nullptr);

}  // namespace ckpt::zarr
