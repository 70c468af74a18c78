#include "ckpt/core/array_source.h"

#include <algorithm>
#include <cstring>

namespace ckpt {

Selection Selection::all(const Shape& shape) {
    Selection s;
    s.start.assign(shape.size(), 0);
    s.count = shape;
    return s;
}

std::uint64_t Selection::elementCount() const {
    std::uint64_t n = 1;
    for (std::int64_t c : count) n *= static_cast<std::uint64_t>(c);
    return n;
}

Status Selection::validate(const Shape& shape) const {
    if (start.size() != shape.size() || count.size() != shape.size()) {
        return invalidArgumentError("selection of rank " + std::to_string(start.size()) +
                                    " does not match array rank " + std::to_string(shape.size()));
    }
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (start[d] < 0 || count[d] < 0 || start[d] > shape[d] || count[d] > shape[d] - start[d]) {
            return invalidArgumentError("selection [" + std::to_string(start[d]) + ", +" +
                                        std::to_string(count[d]) + ") is out of bounds in dimension " +
                                        std::to_string(d) + " of shape " + formatShape(shape));
        }
    }
    return okStatus();
}

Shape ArraySource::chunkShape() const { return shape(); }

StorageInfo ArraySource::storage() const { return {}; }

std::uint64_t ArraySource::elementCount() const {
    auto n = checkedElementCount(shape());
    return n.isOk() ? *n : 0;
}

std::uint64_t ArraySource::byteSize() const { return elementCount() * itemSize(dtype()); }

Result<Array> ArraySource::read(const Selection& selection, const CancelToken* cancel) const {
    // An array whose metadata could not be read has shape {0}: fail rather than read nothing.
    CKPT_RETURN_IF_ERROR(metadataStatus());
    CKPT_RETURN_IF_ERROR(selection.validate(shape()));
    CKPT_ASSIGN_OR_RETURN(Array out, Array::allocate(dtype(), selection.count));
    if (out.byteSize() > 0) CKPT_RETURN_IF_ERROR(readInto(selection, out.bytes(), cancel));
    return out;
}

Result<Array> ArraySource::readAll(const CancelToken* cancel) const {
    return read(Selection::all(shape()), cancel);
}

Status ArraySource::forEachChunk(const ChunkFn& fn, const CancelToken* cancel,
                                 const ProgressFn& progress) const {
    CKPT_RETURN_IF_ERROR(metadataStatus());
    const Shape& full = shape();
    Shape chunk = chunkShape();
    if (chunk.size() != full.size()) chunk = full;
    for (std::size_t d = 0; d < full.size(); ++d) {
        if (chunk[d] <= 0) chunk[d] = std::max<std::int64_t>(full[d], 1);
        if (full[d] == 0) return okStatus();  // no elements, no chunks
    }
    const std::uint64_t total = byteSize();
    std::uint64_t done = 0;
    std::vector<std::int64_t> index(full.size(), 0);  // chunk index per dimension
    while (true) {
        if (isCancelled(cancel)) return cancelledError("cancelled");
        Selection sel;
        sel.start.resize(full.size());
        sel.count.resize(full.size());
        for (std::size_t d = 0; d < full.size(); ++d) {
            sel.start[d] = index[d] * chunk[d];
            sel.count[d] = std::min(chunk[d], full[d] - sel.start[d]);
        }
        CKPT_ASSIGN_OR_RETURN(Array block, read(sel, cancel));
        CKPT_RETURN_IF_ERROR(fn(sel, block));
        done += block.byteSize();
        if (progress) progress(done, total);
        // Advance the chunk index in C order.
        std::size_t d = full.size();
        while (d > 0) {
            --d;
            if ((index[d] + 1) * chunk[d] < full[d]) {
                ++index[d];
                break;
            }
            index[d] = 0;
            if (d == 0) return okStatus();
        }
        if (full.empty()) return okStatus();
    }
}

void forEachContiguousRun(const Shape& shape, std::size_t item, const Selection& sel,
                          const std::function<void(std::size_t, std::size_t)>& fn) {
    const std::size_t rank = shape.size();
    if (rank == 0) {
        fn(0, item);
        return;
    }
    for (std::size_t d = 0; d < rank; ++d) {
        if (sel.count[d] == 0) return;
    }
    // Dimensions [inner, rank) form one contiguous run: all of them but the first are selected
    // whole, so the run starts at the selection's offset in dimension `inner`.
    std::size_t inner = rank;
    std::size_t run = item;
    while (inner > 0) {
        const std::size_t d = inner - 1;
        run *= static_cast<std::size_t>(sel.count[d]);
        --inner;
        if (sel.start[d] != 0 || sel.count[d] != shape[d]) break;
    }
    std::vector<std::size_t> stride(rank);
    std::size_t s = item;
    for (std::size_t d = rank; d > 0; --d) {
        stride[d - 1] = s;
        s *= static_cast<std::size_t>(shape[d - 1]);
    }
    std::size_t base = 0;
    for (std::size_t d = inner; d < rank; ++d) {
        base += static_cast<std::size_t>(sel.start[d]) * stride[d];
    }
    std::vector<std::int64_t> idx(inner, 0);
    while (true) {
        std::size_t offset = base;
        for (std::size_t d = 0; d < inner; ++d) {
            offset += static_cast<std::size_t>(sel.start[d] + idx[d]) * stride[d];
        }
        fn(offset, run);
        std::size_t d = inner;
        while (true) {
            if (d == 0) return;
            --d;
            if (++idx[d] < sel.count[d]) break;
            idx[d] = 0;
        }
    }
}

void copyHyperslab(const std::byte* src, const Shape& shape, std::size_t item, const Selection& sel,
                   std::byte* dst) {
    forEachContiguousRun(shape, item, sel, [&](std::size_t offset, std::size_t bytes) {
        std::memcpy(dst, src + offset, bytes);
        dst += bytes;
    });
}

Status forEachCOrderBlock(const ArraySource& source, std::uint64_t maxBlockBytes,
                          const std::function<Status(std::span<const std::byte>)>& fn,
                          const CancelToken* cancel) {
    CKPT_RETURN_IF_ERROR(source.metadataStatus());
    const Shape& shape = source.shape();
    const std::uint64_t item = itemSize(source.dtype());
    if (source.elementCount() == 0) return okStatus();
    const std::size_t rank = shape.size();
    if (rank == 0) {
        CKPT_ASSIGN_OR_RETURN(Array a, source.readAll(cancel));
        return fn(a.bytes());
    }
    // Find the split axis: dimensions after it fit in one block.
    std::size_t axis = rank - 1;
    std::uint64_t innerBytes = item;  // bytes of one index step along `axis`
    while (axis > 0 && innerBytes * static_cast<std::uint64_t>(shape[axis]) <= maxBlockBytes) {
        innerBytes *= static_cast<std::uint64_t>(shape[axis]);
        --axis;
    }
    const std::int64_t step = static_cast<std::int64_t>(
        std::clamp<std::uint64_t>(maxBlockBytes / innerBytes, 1, static_cast<std::uint64_t>(shape[axis])));
    Selection sel = Selection::all(shape);
    std::vector<std::int64_t> outer(axis, 0);
    while (true) {
        for (std::size_t d = 0; d < axis; ++d) {
            sel.start[d] = outer[d];
            sel.count[d] = 1;
        }
        for (std::int64_t pos = 0; pos < shape[axis]; pos += step) {
            if (isCancelled(cancel)) return cancelledError("cancelled");
            sel.start[axis] = pos;
            sel.count[axis] = std::min(step, shape[axis] - pos);
            CKPT_ASSIGN_OR_RETURN(Array block, source.read(sel, cancel));
            CKPT_RETURN_IF_ERROR(fn(block.bytes()));
        }
        std::size_t d = axis;
        while (true) {
            if (d == 0) return okStatus();
            --d;
            if (++outer[d] < shape[d]) break;
            outer[d] = 0;
        }
    }
}

namespace {

class MemorySource final : public ArraySource {
public:
    explicit MemorySource(Array array) : m_array(std::move(array)) {}
    DType dtype() const override { return m_array.dtype(); }
    const Shape& shape() const override { return m_array.shape(); }
    StorageInfo storage() const override {
        StorageInfo info;
        info.format = "memory";
        info.storedBytes = m_array.byteSize();
        return info;
    }
    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* /*cancel*/) const override {
        copyHyperslab(m_array.bytes().data(), m_array.shape(), itemSize(m_array.dtype()), sel,
                      out.data());
        return okStatus();
    }
    std::optional<std::span<const std::byte>> residentBytes() const override {
        return m_array.bytes();
    }

private:
    Array m_array;
};

}  // namespace

ArraySourcePtr makeMemorySource(Array array) {
    return std::make_shared<MemorySource>(std::move(array));
}

Shape rowSlabChunkShape(DType dtype, const Shape& shape, std::uint64_t slabBytes) {
    if (shape.empty()) return shape;
    Shape chunk = shape;
    std::uint64_t rowBytes = itemSize(dtype);
    for (std::size_t d = 1; d < shape.size(); ++d) {
        rowBytes *= static_cast<std::uint64_t>(std::max<std::int64_t>(shape[d], 1));
    }
    chunk[0] = static_cast<std::int64_t>(
        std::clamp<std::uint64_t>(slabBytes / std::max<std::uint64_t>(rowBytes, 1), 1,
                                  static_cast<std::uint64_t>(std::max<std::int64_t>(shape[0], 1))));
    return chunk;
}

}  // namespace ckpt
