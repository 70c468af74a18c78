#include "formats/zarr/zarr_chunk.h"

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "formats/zarr/zarr_codecs.h"

namespace ckpt::zarr {

namespace {

constexpr std::uint64_t kMissing = std::numeric_limits<std::uint64_t>::max();

// Clips the wanted region of `view` to a chunk of `shape`; false when nothing is wanted.
bool clipRegion(const Shape& shape, const OutView& view, std::vector<std::int64_t>& lo,
                std::vector<std::int64_t>& hi) {
    const std::size_t rank = shape.size();
    lo.resize(rank);
    hi.resize(rank);
    for (std::size_t d = 0; d < rank; ++d) {
        lo[d] = std::max<std::int64_t>(view.lo[d], 0);
        hi[d] = std::min<std::int64_t>(view.hi[d], shape[d]);
        if (lo[d] >= hi[d]) return false;
    }
    return true;
}

std::byte* destination(const OutView& view, const std::vector<std::int64_t>& x) {
    std::byte* p = view.base;
    for (std::size_t d = 0; d < x.size(); ++d) p += (x[d] - view.lo[d]) * view.stride[d];
    return p;
}

// Calls fn(x) for the first element of every row (last dimension) of [lo, hi), in C order.
// For rank 0, calls fn once with no coordinates.
template <typename Fn>
void forEachRow(const std::vector<std::int64_t>& lo, const std::vector<std::int64_t>& hi, Fn&& fn) {
    const std::size_t rank = lo.size();
    std::vector<std::int64_t> x = lo;
    if (rank == 0) {
        fn(x);
        return;
    }
    while (true) {
        fn(x);
        std::size_t d = rank - 1;
        while (true) {
            if (d == 0) return;
            --d;
            if (++x[d] < hi[d]) break;
            x[d] = lo[d];
        }
    }
}

// Copies the wanted part of a decoded C-ordered chunk `src` of `shape` into `view`.
void copyRegion(const std::byte* src, const Shape& shape, std::size_t item, const OutView& view) {
    std::vector<std::int64_t> lo, hi;
    if (!clipRegion(shape, view, lo, hi)) return;
    const std::size_t rank = shape.size();
    std::vector<std::int64_t> srcStride(rank);
    std::int64_t s = static_cast<std::int64_t>(item);
    for (std::size_t d = rank; d-- > 0;) {
        srcStride[d] = s;
        s *= shape[d];
    }
    const auto itemBytes = static_cast<std::int64_t>(item);
    forEachRow(lo, hi, [&](const std::vector<std::int64_t>& x) {
        std::int64_t offset = 0;
        for (std::size_t d = 0; d < rank; ++d) offset += x[d] * srcStride[d];
        const std::byte* from = src + offset;
        std::byte* to = destination(view, x);
        if (rank == 0) {
            std::memcpy(to, from, item);
            return;
        }
        const std::int64_t n = hi[rank - 1] - lo[rank - 1];
        const std::int64_t dstStep = view.stride[rank - 1];
        if (dstStep == itemBytes) {
            std::memcpy(to, from, static_cast<std::size_t>(n * itemBytes));
        } else {
            for (std::int64_t i = 0; i < n; ++i) {
                std::memcpy(to + i * dstStep, from + i * itemBytes, item);
            }
        }
    });
}

OutView permuteView(const OutView& view, const std::vector<std::size_t>& order) {
    OutView out;
    out.base = view.base;
    const std::size_t rank = order.size();
    out.lo.resize(rank);
    out.hi.resize(rank);
    out.stride.resize(rank);
    for (std::size_t e = 0; e < rank; ++e) {
        out.lo[e] = view.lo[order[e]];
        out.hi[e] = view.hi[order[e]];
        out.stride[e] = view.stride[order[e]];
    }
    return out;
}

std::uint64_t loadU64(const std::byte* p, Endian endian) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        const std::size_t shift = endian == Endian::kLittle ? 8 * i : 8 * (7 - i);
        v |= std::to_integer<std::uint64_t>(p[i]) << shift;
    }
    return v;
}

std::string formatIndex(const std::vector<std::int64_t>& g) {
    std::string s = "[";
    for (std::size_t d = 0; d < g.size(); ++d) {
        if (d > 0) s += ",";
        s += std::to_string(g[d]);
    }
    return s + "]";
}

Status decodeShardInto(const ShardingCodec& sharding, const Shape& shape,
                       std::span<const std::byte> data, const ElementFormat& format,
                       const OutView& view) {
    const std::size_t rank = shape.size();
    const Shape& sub = sharding.subChunkShape;
    Shape grid(rank);
    std::uint64_t entries = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        grid[d] = shape[d] / sub[d];
        entries *= static_cast<std::uint64_t>(grid[d]);  // <= 2^30, checked when parsing
    }
    const std::uint64_t indexBytes = sharding.indexBytes(entries);
    if (data.size() < indexBytes) {
        return corruptionError("shard of " + std::to_string(data.size()) +
                               " bytes is shorter than its " + std::to_string(indexBytes) +
                               "-byte index");
    }
    const std::span<const std::byte> index = sharding.indexAtEnd
                                                 ? data.last(static_cast<std::size_t>(indexBytes))
                                                 : data.first(static_cast<std::size_t>(indexBytes));
    if (sharding.indexCrc32c) {
        const auto body = index.first(index.size() - 4);
        if (crc32c(body) != loadU32le(index.data() + body.size()))
            return corruptionError("shard index checksum mismatch");
    }
    std::vector<std::int64_t> lo, hi;
    if (!clipRegion(shape, view, lo, hi)) return okStatus();
    std::vector<std::int64_t> gLo(rank), gHi(rank);
    for (std::size_t d = 0; d < rank; ++d) {
        gLo[d] = lo[d] / sub[d];
        gHi[d] = (hi[d] - 1) / sub[d] + 1;
    }
    Status status;
    std::vector<std::int64_t> g = gLo;
    OutView subView = view;
    const auto visit = [&]() -> Status {
        std::uint64_t k = 0;
        for (std::size_t d = 0; d < rank; ++d) {
            k = k * static_cast<std::uint64_t>(grid[d]) + static_cast<std::uint64_t>(g[d]);
        }
        const std::byte* entry = index.data() + 16 * k;
        const std::uint64_t offset = loadU64(entry, sharding.indexEndian);
        const std::uint64_t length = loadU64(entry + 8, sharding.indexEndian);
        for (std::size_t d = 0; d < rank; ++d) {
            const std::int64_t origin = g[d] * sub[d];
            subView.lo[d] = view.lo[d] - origin;
            subView.hi[d] = view.hi[d] - origin;
        }
        if (offset == kMissing && length == kMissing) {
            fillRegion(sub, format.fill, subView);
            return okStatus();
        }
        if (offset > data.size() || length > data.size() - offset) {
            return corruptionError("shard index entry " + std::to_string(k) + " (offset " +
                                   std::to_string(offset) + ", length " + std::to_string(length) +
                                   ") lies outside the shard of " + std::to_string(data.size()) +
                                   " bytes");
        }
        Status s = decodeChunkInto(
            sharding.inner, sub,
            data.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length)),
            format, subView);
        if (!s.isOk()) return s.withContext("inner chunk " + formatIndex(g));
        return okStatus();
    };
    if (rank == 0) return visit();
    while (true) {
        CKPT_RETURN_IF_ERROR(visit());
        std::size_t d = rank;
        while (true) {
            if (d == 0) return okStatus();
            --d;
            if (++g[d] < gHi[d]) break;
            g[d] = gLo[d];
        }
    }
}

}  // namespace

OutView makeOutView(std::span<std::byte> out, std::span<const std::int64_t> start,
                    std::span<const std::int64_t> count, std::span<const std::int64_t> origin,
                    std::size_t item) {
    const std::size_t rank = start.size();
    OutView v;
    v.base = out.data();
    v.lo.resize(rank);
    v.hi.resize(rank);
    v.stride.resize(rank);
    std::int64_t s = static_cast<std::int64_t>(item);
    for (std::size_t d = rank; d-- > 0;) {
        v.lo[d] = start[d] - origin[d];
        v.hi[d] = v.lo[d] + count[d];
        v.stride[d] = s;
        s *= count[d];
    }
    return v;
}

void fillRegion(const Shape& shape, std::span<const std::byte> fill, const OutView& view) {
    std::vector<std::int64_t> lo, hi;
    if (!clipRegion(shape, view, lo, hi)) return;
    const std::size_t rank = shape.size();
    const std::size_t item = fill.size();
    forEachRow(lo, hi, [&](const std::vector<std::int64_t>& x) {
        std::byte* to = destination(view, x);
        const std::int64_t n = rank == 0 ? 1 : hi[rank - 1] - lo[rank - 1];
        const std::int64_t step = rank == 0 ? 0 : view.stride[rank - 1];
        for (std::int64_t i = 0; i < n; ++i) std::memcpy(to + i * step, fill.data(), item);
    });
}

namespace {

// Chunks at least this big are decoded as a stream when a read wants one contiguous stretch;
// smaller ones are decoded whole (and checked whole) every time.
constexpr std::uint64_t kStreamingChunkBytes = std::uint64_t{8} << 20;

// Whether the region [lo, hi) of a C-ordered `shape` is one contiguous byte stretch: single
// indices up to some dimension, then any range in it, then whole dimensions.
bool regionIsContiguous(const Shape& shape, const std::vector<std::int64_t>& lo,
                        const std::vector<std::int64_t>& hi) {
    std::size_t d = 0;
    while (d < shape.size() && hi[d] - lo[d] == 1) ++d;
    for (std::size_t e = d + 1; e < shape.size(); ++e) {
        if (lo[e] != 0 || hi[e] != shape[e]) return false;
    }
    return true;
}

// Where the region [lo, hi) of a chunk lands in `view`, when it lands there as one contiguous
// C-ordered stretch (so it can be decoded in place, without a buffer and a copy); null otherwise.
std::byte* contiguousDestination(const OutView& view, const std::vector<std::int64_t>& lo,
                                 const std::vector<std::int64_t>& hi, std::size_t item) {
    std::int64_t expected = static_cast<std::int64_t>(item);
    for (std::size_t d = lo.size(); d-- > 0;) {
        const std::int64_t n = hi[d] - lo[d];
        if (n > 1 && view.stride[d] != expected) return nullptr;
        expected *= n;
    }
    return destination(view, lo);
}

// Maps the pages of `out` in one system call (MADV_POPULATE_WRITE, Linux 5.14) instead of one
// page fault per 4 KiB as the decoder first writes them; a no-op where unsupported.
void prefault(std::span<std::byte> out) {
#ifdef __linux__
    constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE, newer than some headers
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<std::uintptr_t>(out.data()) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(out.data()) + out.size()) & ~(page - 1);
    if (end > begin) {
        (void)madvise(reinterpret_cast<void*>(begin), end - begin, kPopulateWrite);
    }
#else
    (void)out;
#endif
}

}  // namespace

Status decodeChunkInto(const CodecChain& chain, const Shape& shape,
                       std::span<const std::byte> stored, const ElementFormat& format,
                       const OutView& view, const ReleaseFn& consumed,
                       std::unique_ptr<ZstdCursor>* cursor) {
    const std::size_t item = format.item();
    Shape encShape = shape;
    OutView encView;
    const OutView* v = &view;
    if (!chain.order.empty()) {
        for (std::size_t e = 0; e < shape.size(); ++e) encShape[e] = shape[chain.order[e]];
        encView = permuteView(view, chain.order);
        v = &encView;
    }
    std::vector<std::int64_t> lo, hi;
    if (!clipRegion(encShape, *v, lo, hi)) return okStatus();

    const bool plainZstd = !chain.sharding && chain.bytesCodecs.size() == 1 &&
                           chain.bytesCodecs[0].kind == BytesCodec::Kind::kZstd &&
                           (chain.endian == Endian::kLittle || format.swapUnit <= 1);
    std::uint64_t chunkBytes = item;
    for (std::int64_t d : encShape) chunkBytes *= static_cast<std::uint64_t>(d);
    if (plainZstd && chunkBytes >= kStreamingChunkBytes && regionIsContiguous(encShape, lo, hi)) {
        // Decode just [first, last] of the region into a buffer shaped like it: a sub-chunk
        // whose origin is the region's first element.
        const std::size_t rank = encShape.size();
        std::uint64_t first = 0;
        std::uint64_t stride = item;
        for (std::size_t d = rank; d-- > 0;) {
            first += static_cast<std::uint64_t>(lo[d]) * stride;
            stride *= static_cast<std::uint64_t>(encShape[d]);
        }
        Shape subShape(rank);
        OutView subView = *v;
        std::uint64_t bytes = item;
        for (std::size_t d = 0; d < rank; ++d) {
            subShape[d] = hi[d] - lo[d];
            subView.lo[d] -= lo[d];
            subView.hi[d] -= lo[d];
            bytes *= static_cast<std::uint64_t>(subShape[d]);
        }
        // Decoded in place when the region is contiguous in the output too (whole chunks and
        // row slabs read into an array's own buffer): no region buffer to fault in and copy.
        std::byte* const direct = contiguousDestination(*v, lo, hi, item);
        ByteBuffer region;
        if (!direct) {
            CKPT_ASSIGN_OR_RETURN(region, ByteBuffer::allocate(bytes));
        }
        // A region reaching the chunk's end checks that the stream ends there too (a read of an
        // earlier stretch cannot see a damaged tail; every full pass over the chunk does).
        const bool toEnd = first + bytes == stride;
        std::unique_ptr<ZstdCursor> local;
        std::unique_ptr<ZstdCursor>& cur = cursor ? *cursor : local;
        if (cur && (cur->input().data() != stored.data() || cur->input().size() != stored.size() ||
                    cur->position() > first)) {
            cur.reset();
        }
        if (!cur) {
            CKPT_ASSIGN_OR_RETURN(cur, ZstdCursor::create(stored, consumed));
        }
        if (direct) prefault({direct, static_cast<std::size_t>(bytes)});
        Status s =
            cur->read(first, {direct ? direct : region.data(), static_cast<std::size_t>(bytes)});
        if (s.isOk() && toEnd) s = cur->expectEnd();
        if (!s.isOk() || toEnd) cur.reset();
        CKPT_RETURN_IF_ERROR(s);
        if (!direct) copyRegion(region.data(), subShape, item, subView);
        return okStatus();
    }
    if (plainZstd && regionIsContiguous(encShape, lo, hi)) {
        // A whole small chunk whose place in the output is contiguous: decoded in place.
        bool whole = true;
        for (std::size_t d = 0; d < encShape.size(); ++d) {
            whole = whole && lo[d] == 0 && hi[d] == encShape[d];
        }
        if (std::byte* direct = whole ? contiguousDestination(*v, lo, hi, item) : nullptr) {
            return zstdDecodeInto(stored, {direct, static_cast<std::size_t>(chunkBytes)});
        }
    }

    OutputLimit limit;
    if (chain.sharding) {
        CodecChain bare;
        bare.sharding = chain.sharding;
        limit = {maxEncodedBytes(bare, encShape, item), false};
    } else {
        std::uint64_t n = item;
        for (std::int64_t d : encShape) n *= static_cast<std::uint64_t>(d);  // <= kMaxChunkBytes
        limit = {n, true};
    }
    CKPT_ASSIGN_OR_RETURN(DecodedBytes decoded,
                          decodeBytesCodecs(chain.bytesCodecs, stored, limit));
    if (chain.sharding) return decodeShardInto(*chain.sharding, encShape, decoded.view, format, *v);

    const std::byte* src = decoded.view.data();
    if (chain.endian == Endian::kBig && format.swapUnit > 1) {
        if (decoded.owned.size() == 0 || decoded.owned.data() != decoded.view.data()) {
            CKPT_ASSIGN_OR_RETURN(ByteBuffer copy, ByteBuffer::allocate(decoded.view.size()));
            if (!decoded.view.empty())
                std::memcpy(copy.data(), decoded.view.data(), decoded.view.size());
            decoded.owned = std::move(copy);
        }
        byteSwapInPlace({decoded.owned.data(), decoded.view.size()}, format.swapUnit);
        src = decoded.owned.data();
    }
    copyRegion(src, encShape, item, *v);
    return okStatus();
}

}  // namespace ckpt::zarr
