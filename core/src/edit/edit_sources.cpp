#include "edit/edit_sources.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "ckpt/core/edit.h"
#include "edit/element_cast.h"

namespace ckpt {

namespace {

// A cast reads its source in blocks of at most this many source bytes (whole leading rows).
constexpr std::uint64_t kCastBlockBytes = 16ULL << 20;

std::string valueOutOfRange(const EditValue& value, DType dtype) {
    return "value " + editValueText(value) + " does not fit " + std::string(dtypeName(dtype));
}

// The largest value of an integer dtype (bool: 1), exactly.
std::uint64_t maxValue(DType dtype) {
    switch (dtype) {
        case DType::kInt64: return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        case DType::kUInt64: return std::numeric_limits<std::uint64_t>::max();
        default: return static_cast<std::uint64_t>(edit::intRange(dtype).maxExclusive) - 1;
    }
}

// float32 -> bfloat16 with round to nearest even, the hot path of "cast to bfloat16".
void float32ToBFloat16(const std::byte* src, std::byte* dst, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, src + i * 4, 4);
        std::uint16_t out = 0;
        if ((bits & 0x7FFFFFFFU) > 0x7F800000U) {
            out = static_cast<std::uint16_t>(((bits >> 16) & 0x8000U) | 0x7FC0U);
        } else {
            const std::uint32_t bias = 0x7FFFU + ((bits >> 16) & 1U);
            out = static_cast<std::uint16_t>((bits + bias) >> 16);
        }
        std::memcpy(dst + i * 2, &out, 2);
    }
}

}  // namespace

std::string editValueText(const EditValue& value) {
    if (const bool* b = std::get_if<bool>(&value)) return *b ? "True" : "False";
    if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return std::to_string(*u);
    const double d = std::get<double>(value);
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    return Scalar::fromFloat64(d).toText();
}

Result<Scalar> scalarFromValue(DType dtype, const EditValue& value, bool native) {
    if (dtype == DType::kFloat4E2M1FN || dtype == DType::kFloat8E8M0FNU) {
        return unsupportedError("values of " + std::string(dtypeName(dtype)) +
                                " cannot be set");
    }
    std::array<std::byte, 16> bits{};
    if (dtype == DType::kBool || isInteger(dtype)) {
        // Exact: the value must be an integer within the dtype's range.
        const edit::IntRange range = edit::intRange(dtype);
        bool fits = false;
        std::uint64_t raw = 0;
        if (const bool* b = std::get_if<bool>(&value)) {
            fits = true;
            raw = *b ? 1 : 0;
        } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
            fits = *i >= 0 ? static_cast<std::uint64_t>(*i) <= maxValue(dtype)
                           : *i >= static_cast<std::int64_t>(range.min);
            raw = static_cast<std::uint64_t>(*i);
        } else if (const auto* u = std::get_if<std::uint64_t>(&value)) {
            fits = *u <= maxValue(dtype);
            raw = *u;
        } else {
            const double d = std::get<double>(value);
            fits = std::isfinite(d) && std::trunc(d) == d && d >= range.min &&
                   d < range.maxExclusive;
            if (fits) {
                raw = d < 0 ? static_cast<std::uint64_t>(static_cast<std::int64_t>(d))
                            : static_cast<std::uint64_t>(d);
            }
        }
        if (!fits) return invalidArgumentError(valueOutOfRange(value, dtype));
        const std::size_t size = itemSize(dtype);
        if (dtype == DType::kInt2 || dtype == DType::kInt4) {
            raw &= dtype == DType::kInt2 ? 0x3U : 0xFU;  // low bits, high bits zero
        }
        std::memcpy(bits.data(), &raw, size);
        return Scalar::fromBits(dtype, std::span<const std::byte>(bits.data(), size), native);
    }
    double d = 0;
    if (const bool* b = std::get_if<bool>(&value)) {
        d = *b ? 1.0 : 0.0;
    } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
        d = static_cast<double>(*i);
    } else if (const auto* u = std::get_if<std::uint64_t>(&value)) {
        d = static_cast<double>(*u);
    } else {
        d = std::get<double>(value);
    }
    edit::encodeDouble(dtype, d, bits.data());
    return Scalar::fromBits(dtype, std::span<const std::byte>(bits.data(), itemSize(dtype)),
                            native);
}

Result<Scalar> castScalar(const Scalar& value, DType to) {
    CKPT_RETURN_IF_ERROR(edit::checkCastTarget(to));
    std::array<std::byte, 16> bits{};
    edit::castElement(value.dtype(), value.bits().data(), to, bits.data());
    return Scalar::fromBits(to, std::span<const std::byte>(bits.data(), itemSize(to)),
                            value.isNative());
}

Result<ArraySourcePtr> makeCastSource(ArraySourcePtr source, DType to) {
    if (!source) return invalidArgumentError("no source to cast");
    CKPT_RETURN_IF_ERROR(edit::checkCastTarget(to));
    return ArraySourcePtr(std::make_shared<edit::CastSource>(std::move(source), to));
}

Result<ArraySourcePtr> makeConstantSource(DType dtype, Shape shape, const EditValue& value) {
    CKPT_RETURN_IF_ERROR(checkedByteSize(dtype, shape).status());
    CKPT_ASSIGN_OR_RETURN(Scalar element, scalarFromValue(dtype, value));
    std::array<std::byte, 16> bits{};
    std::memcpy(bits.data(), element.bits().data(), element.bits().size());
    std::string description = "constant " + editValueText(value);
    if (value == EditValue{std::int64_t{0}}) description = "zeros";
    if (value == EditValue{std::int64_t{1}}) description = "ones";
    return ArraySourcePtr(std::make_shared<edit::ConstantSource>(dtype, std::move(shape), bits,
                                                                 std::move(description)));
}

Result<ArraySourcePtr> makePatchedSource(ArraySourcePtr source,
                                         const std::vector<CellEdit>& cells) {
    if (!source) return invalidArgumentError("no source to patch");
    const DType dtype = source->dtype();
    const Shape& shape = source->shape();
    std::map<std::uint64_t, std::array<std::byte, 16>> patches;
    ArraySourcePtr base = source;
    if (const auto* patched = dynamic_cast<const edit::PatchedSource*>(source.get())) {
        // Patching a patched array adds to its patches rather than stacking another layer.
        base = patched->source();
        for (const auto& p : patched->patches()) patches[p.flatIndex] = p.bits;
    }
    for (std::size_t c = 0; c < cells.size(); ++c) {
        const CellEdit& cell = cells[c];
        if (cell.index.size() != shape.size()) {
            return invalidArgumentError("cell " + std::to_string(c) + ": index of rank " +
                                        std::to_string(cell.index.size()) +
                                        " for an array of shape " + formatShape(shape));
        }
        std::uint64_t flat = 0;
        for (std::size_t d = 0; d < shape.size(); ++d) {
            if (cell.index[d] < 0 || cell.index[d] >= shape[d]) {
                return invalidArgumentError(
                    "cell " + std::to_string(c) + ": index " + std::to_string(cell.index[d]) +
                    " is out of range in dimension " + std::to_string(d) + " of shape " +
                    formatShape(shape));
            }
            flat = flat * static_cast<std::uint64_t>(shape[d]) +
                   static_cast<std::uint64_t>(cell.index[d]);
        }
        auto element = scalarFromValue(dtype, cell.value);
        if (!element.isOk()) {
            return element.status().withContext("cell " + std::to_string(c));
        }
        std::array<std::byte, 16> bits{};
        std::memcpy(bits.data(), element->bits().data(), element->bits().size());
        patches[flat] = bits;
    }
    std::vector<edit::PatchedSource::Patch> list;
    list.reserve(patches.size());
    for (const auto& [flat, bits] : patches) list.push_back({flat, bits});
    return ArraySourcePtr(std::make_shared<edit::PatchedSource>(std::move(base), std::move(list)));
}

namespace {

// `selection` without dimension `axis`.
Selection dropAxis(const Selection& selection, std::size_t axis) {
    Selection inner = selection;
    inner.start.erase(inner.start.begin() + static_cast<std::ptrdiff_t>(axis));
    inner.count.erase(inner.count.begin() + static_cast<std::ptrdiff_t>(axis));
    return inner;
}

Shape dropDimension(Shape shape, std::size_t axis) {
    shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
    return shape;
}

Shape insertDimension(Shape shape, std::size_t axis, std::int64_t extent) {
    shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis), extent);
    return shape;
}

}  // namespace

Result<ArraySourcePtr> makeStackSource(std::vector<ArraySourcePtr> members, std::int64_t axis) {
    if (members.empty()) return invalidArgumentError("nothing to stack");
    for (const ArraySourcePtr& m : members) {
        if (!m) return invalidArgumentError("no source to stack");
        CKPT_RETURN_IF_ERROR(m->metadataStatus());
    }
    const DType dtype = members.front()->dtype();
    const Shape& shape = members.front()->shape();
    if (axis < 0 || static_cast<std::size_t>(axis) > shape.size()) {
        return invalidArgumentError("cannot stack arrays of shape " + formatShape(shape) +
                                    " along axis " + std::to_string(axis) + " (0.." +
                                    std::to_string(shape.size()) + ")");
    }
    for (std::size_t k = 1; k < members.size(); ++k) {
        if (members[k]->dtype() != dtype || members[k]->shape() != shape) {
            return invalidArgumentError("cannot stack: member " + std::to_string(k) + " is " +
                                        std::string(dtypeName(members[k]->dtype())) + " " +
                                        formatShape(members[k]->shape()) + ", member 0 is " +
                                        std::string(dtypeName(dtype)) + " " + formatShape(shape));
        }
    }
    const auto stackAxis = static_cast<std::size_t>(axis);
    CKPT_RETURN_IF_ERROR(
        checkedByteSize(
            dtype, insertDimension(shape, stackAxis, static_cast<std::int64_t>(members.size())))
            .status());
    // Slices 0..N-1 of one source, cut along this axis, stack back into that source.
    const auto* first = dynamic_cast<const edit::SliceSource*>(members.front().get());
    if (first && first->axis() == stackAxis &&
        first->source()->shape()[stackAxis] == static_cast<std::int64_t>(members.size())) {
        bool whole = true;
        for (std::size_t k = 0; k < members.size() && whole; ++k) {
            const auto* slice = dynamic_cast<const edit::SliceSource*>(members[k].get());
            whole = slice && slice->source() == first->source() && slice->axis() == stackAxis &&
                    slice->index() == static_cast<std::int64_t>(k);
        }
        if (whole) return first->source();
    }
    return ArraySourcePtr(std::make_shared<edit::StackSource>(std::move(members), stackAxis));
}

Result<ArraySourcePtr> makeSliceSource(ArraySourcePtr source, std::int64_t axis,
                                       std::int64_t index) {
    if (!source) return invalidArgumentError("no source to slice");
    CKPT_RETURN_IF_ERROR(source->metadataStatus());
    const Shape& shape = source->shape();
    if (axis < 0 || static_cast<std::size_t>(axis) >= shape.size()) {
        return invalidArgumentError("an array of shape " + formatShape(shape) + " has no axis " +
                                    std::to_string(axis));
    }
    const auto sliceAxis = static_cast<std::size_t>(axis);
    if (index < 0 || index >= shape[sliceAxis]) {
        return invalidArgumentError("index " + std::to_string(index) + " is outside 0.." +
                                    std::to_string(shape[sliceAxis] - 1) + " of axis " +
                                    std::to_string(axis) + " of shape " + formatShape(shape));
    }
    // A slice of a stack along its stacking axis is the member itself.
    if (const auto* stack = dynamic_cast<const edit::StackSource*>(source.get());
        stack && stack->axis() == sliceAxis) {
        return stack->members()[static_cast<std::size_t>(index)];
    }
    return ArraySourcePtr(std::make_shared<edit::SliceSource>(std::move(source), sliceAxis, index));
}

namespace edit {

// --- CastSource ------------------------------------------------------------------------------

CastSource::CastSource(ArraySourcePtr source, DType to) : m_source(std::move(source)), m_to(to) {}

StorageInfo CastSource::storage() const {
    StorageInfo inner = m_source->storage();
    StorageInfo info;
    info.format = "edited: cast from " + std::string(dtypeName(m_source->dtype()));
    info.file = inner.file;
    info.location = inner.format.empty() ? inner.location : inner.format;
    info.chunkShape = chunkShape();
    return info;
}

Status CastSource::readInto(const Selection& selection, std::span<std::byte> out,
                            const CancelToken* cancel) const {
    const std::size_t inItem = itemSize(m_source->dtype());
    const std::size_t outItem = itemSize(m_to);
    if (selection.count.empty() ||
        selection.elementCount() * inItem <= kCastBlockBytes || selection.count[0] <= 1) {
        return readBlock(selection, out, cancel);
    }
    // Whole leading rows at a time, so the temporary buffer stays bounded.
    const std::uint64_t rowElements = selection.elementCount() /
                                      static_cast<std::uint64_t>(selection.count[0]);
    const auto rows = static_cast<std::int64_t>(
        std::max<std::uint64_t>(1, kCastBlockBytes / std::max<std::uint64_t>(1, rowElements * inItem)));
    Selection block = selection;
    for (std::int64_t r = 0; r < selection.count[0]; r += rows) {
        block.start[0] = selection.start[0] + r;
        block.count[0] = std::min(rows, selection.count[0] - r);
        const std::size_t offset = static_cast<std::size_t>(r) * rowElements * outItem;
        const std::size_t size = static_cast<std::size_t>(block.elementCount()) * outItem;
        CKPT_RETURN_IF_ERROR(readBlock(block, out.subspan(offset, size), cancel));
    }
    return okStatus();
}

Status CastSource::readBlock(const Selection& selection, std::span<std::byte> out,
                             const CancelToken* cancel) const {
    const DType from = m_source->dtype();
    const std::size_t inItem = itemSize(from);
    const std::size_t outItem = itemSize(m_to);
    const auto count = static_cast<std::size_t>(selection.elementCount());
    std::vector<std::byte> buffer(count * inItem);
    if (!buffer.empty()) CKPT_RETURN_IF_ERROR(m_source->readInto(selection, buffer, cancel));
    if (from == DType::kFloat32 && m_to == DType::kBFloat16) {
        float32ToBFloat16(buffer.data(), out.data(), count);
        return okStatus();
    }
    for (std::size_t i = 0; i < count; ++i) {
        castElement(from, buffer.data() + i * inItem, m_to, out.data() + i * outItem);
    }
    return okStatus();
}

// --- ConstantSource --------------------------------------------------------------------------

ConstantSource::ConstantSource(DType dtype, Shape shape, std::array<std::byte, 16> element,
                               std::string description)
    : m_dtype(dtype),
      m_shape(std::move(shape)),
      m_element(element),
      m_description(std::move(description)) {}

Shape ConstantSource::chunkShape() const {
    return rowSlabChunkShape(m_dtype, m_shape, 16ULL << 20);
}

StorageInfo ConstantSource::storage() const {
    StorageInfo info;
    info.format = "edited: " + m_description;
    info.chunkShape = chunkShape();
    return info;
}

Status ConstantSource::readInto(const Selection& selection, std::span<std::byte> out,
                                const CancelToken* /*cancel*/) const {
    const std::size_t item = itemSize(m_dtype);
    const auto count = static_cast<std::size_t>(selection.elementCount());
    const bool allZero = std::all_of(m_element.begin(), m_element.begin() + static_cast<std::ptrdiff_t>(item),
                                     [](std::byte b) { return b == std::byte{0}; });
    if (allZero) {
        std::memset(out.data(), 0, count * item);
        return okStatus();
    }
    for (std::size_t i = 0; i < count; ++i) std::memcpy(out.data() + i * item, m_element.data(), item);
    return okStatus();
}

// --- PatchedSource ---------------------------------------------------------------------------

PatchedSource::PatchedSource(ArraySourcePtr source, std::vector<Patch> patches)
    : m_source(std::move(source)), m_patches(std::move(patches)) {}

StorageInfo PatchedSource::storage() const {
    StorageInfo info = m_source->storage();
    const std::string inner = info.format;
    info.format = "edited: " + std::to_string(m_patches.size()) +
                  (m_patches.size() == 1 ? " cell set" : " cells set");
    if (!inner.empty()) info.format += " over " + inner;
    info.chunkShape = chunkShape();
    return info;
}

Status PatchedSource::readInto(const Selection& selection, std::span<std::byte> out,
                               const CancelToken* cancel) const {
    CKPT_RETURN_IF_ERROR(m_source->readInto(selection, out, cancel));
    const Shape& full = shape();
    const std::size_t rank = full.size();
    const std::size_t item = itemSize(dtype());
    std::vector<std::int64_t> index(rank);
    for (const Patch& patch : m_patches) {
        // Unflatten, then check the selection contains the cell and find its offset there.
        std::uint64_t rest = patch.flatIndex;
        for (std::size_t d = rank; d > 0; --d) {
            const auto extent = static_cast<std::uint64_t>(full[d - 1]);
            index[d - 1] = static_cast<std::int64_t>(rest % extent);
            rest /= extent;
        }
        bool inside = true;
        std::uint64_t offset = 0;
        for (std::size_t d = 0; d < rank && inside; ++d) {
            const std::int64_t local = index[d] - selection.start[d];
            inside = local >= 0 && local < selection.count[d];
            offset = offset * static_cast<std::uint64_t>(selection.count[d]) +
                     static_cast<std::uint64_t>(local);
        }
        if (inside) std::memcpy(out.data() + offset * item, patch.bits.data(), item);
    }
    return okStatus();
}

// --- StackSource -----------------------------------------------------------------------------

StackSource::StackSource(std::vector<ArraySourcePtr> members, std::size_t axis)
    : m_members(std::move(members)),
      m_axis(axis),
      m_dtype(m_members.front()->dtype()),
      m_shape(insertDimension(m_members.front()->shape(), axis,
                              static_cast<std::int64_t>(m_members.size()))) {}

Shape StackSource::chunkShape() const {
    const ArraySourcePtr& member = m_members.front();
    if (member->shape().empty()) return m_shape;
    Shape chunk = member->chunkShape();
    if (chunk.size() != member->shape().size()) chunk = member->shape();
    return insertDimension(std::move(chunk), m_axis, 1);
}

StorageInfo StackSource::storage() const {
    StorageInfo inner = m_members.front()->storage();
    StorageInfo info;
    info.format = "edited: " + std::to_string(m_members.size()) + " arrays stacked along axis " +
                  std::to_string(m_axis);
    if (!inner.format.empty()) info.format += " (the first: " + inner.format + ")";
    info.file = inner.file;
    info.chunkShape = chunkShape();
    return info;
}

Status StackSource::readInto(const Selection& selection, std::span<std::byte> out,
                             const CancelToken* cancel) const {
    const Selection inner = dropAxis(selection, m_axis);
    const std::size_t innerBytes =
        static_cast<std::size_t>(inner.elementCount()) * itemSize(m_dtype);
    const std::int64_t first = selection.start[m_axis];
    const std::int64_t count = selection.count[m_axis];
    if (innerBytes == 0 || count == 0) return okStatus();
    std::size_t outer = 1;  // selected elements before the stacking axis
    for (std::size_t d = 0; d < m_axis; ++d) outer *= static_cast<std::size_t>(selection.count[d]);
    // Each member's part of the selection is `outer` runs of runBytes, spaced count runs apart.
    const std::size_t runBytes = innerBytes / outer;
    std::vector<std::byte> buffer(outer > 1 ? innerBytes : 0);
    for (std::int64_t k = 0; k < count; ++k) {
        if (isCancelled(cancel)) return cancelledError("cancelled");
        const ArraySource& member = *m_members[static_cast<std::size_t>(first + k)];
        const auto slot = static_cast<std::size_t>(k);
        if (outer == 1) {
            CKPT_RETURN_IF_ERROR(
                member.readInto(inner, out.subspan(slot * innerBytes, innerBytes), cancel));
            continue;
        }
        CKPT_RETURN_IF_ERROR(member.readInto(inner, buffer, cancel));
        for (std::size_t o = 0; o < outer; ++o) {
            std::memcpy(out.data() + (o * static_cast<std::size_t>(count) + slot) * runBytes,
                        buffer.data() + o * runBytes, runBytes);
        }
    }
    return okStatus();
}

// --- SliceSource -----------------------------------------------------------------------------

SliceSource::SliceSource(ArraySourcePtr source, std::size_t axis, std::int64_t index)
    : m_source(std::move(source)),
      m_axis(axis),
      m_index(index),
      m_shape(dropDimension(m_source->shape(), axis)) {}

Shape SliceSource::chunkShape() const {
    Shape chunk = m_source->chunkShape();
    if (chunk.size() != m_source->shape().size()) return m_shape;
    return dropDimension(std::move(chunk), m_axis);
}

StorageInfo SliceSource::storage() const {
    StorageInfo inner = m_source->storage();
    StorageInfo info;
    info.format = "edited: index " + std::to_string(m_index) + " of axis " + std::to_string(m_axis);
    if (!inner.format.empty()) info.format += " of " + inner.format;
    info.file = inner.file;
    info.chunkShape = chunkShape();
    return info;
}

Status SliceSource::readInto(const Selection& selection, std::span<std::byte> out,
                             const CancelToken* cancel) const {
    // Fixing one index of a dimension leaves the C-order layout of the rest unchanged.
    Selection outer = selection;
    outer.start.insert(outer.start.begin() + static_cast<std::ptrdiff_t>(m_axis), m_index);
    outer.count.insert(outer.count.begin() + static_cast<std::ptrdiff_t>(m_axis), 1);
    return m_source->readInto(outer, out, cancel);
}

// --- ScalarNodeSource ------------------------------------------------------------------------

ScalarNodeSource::ScalarNodeSource(NodePtr scalar) : m_node(std::move(scalar)) {}

StorageInfo ScalarNodeSource::storage() const {
    StorageInfo info;
    info.format = "scalar";
    return info;
}

Status ScalarNodeSource::readInto(const Selection& /*selection*/, std::span<std::byte> out,
                                  const CancelToken* /*cancel*/) const {
    CKPT_ASSIGN_OR_RETURN(Scalar value, m_node->loadScalar());
    std::memcpy(out.data(), value.bits().data(), std::min(out.size(), value.bits().size()));
    return okStatus();
}

}  // namespace edit

}  // namespace ckpt
