// The lazy ArraySources behind edited arrays: a cast of another source, a constant fill, a
// few cells patched over another source, N sources stacked along a new axis, one index of an
// axis sliced out of a source, and a scalar node seen as a 0-d source (for stacking scalars). Built
// through the factories in ckpt/core/edit.h; the classes are visible here for white-box tests and
// for merging repeated edits.
//
// Immutable after construction; every member is safe to call from several threads at once.
// Each wrapper holds its wrapped source (shared ownership) and reads it only inside readInto.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/tree.h"

namespace ckpt::edit {

class CastSource final : public ArraySource {
public:
    CastSource(ArraySourcePtr source, DType to);

    DType dtype() const override { return m_to; }
    const Shape& shape() const override { return m_source->shape(); }
    Shape chunkShape() const override { return m_source->chunkShape(); }
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

    const ArraySourcePtr& source() const { return m_source; }

private:
    Status readBlock(const Selection& selection, std::span<std::byte> out,
                     const CancelToken* cancel) const;
    ArraySourcePtr m_source;
    DType m_to;
};

class ConstantSource final : public ArraySource {
public:
    // `element` holds itemSize(dtype) bytes; `description` is e.g. "zeros" or "constant 1.5".
    ConstantSource(DType dtype, Shape shape, std::array<std::byte, 16> element,
                   std::string description);

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override;
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

private:
    DType m_dtype;
    Shape m_shape;
    std::array<std::byte, 16> m_element;
    std::string m_description;
};

class PatchedSource final : public ArraySource {
public:
    struct Patch {
        std::uint64_t flatIndex;  // C-order index into the whole array
        std::array<std::byte, 16> bits;
    };
    // `patches` sorted by flatIndex, without duplicates.
    PatchedSource(ArraySourcePtr source, std::vector<Patch> patches);

    DType dtype() const override { return m_source->dtype(); }
    const Shape& shape() const override { return m_source->shape(); }
    Shape chunkShape() const override { return m_source->chunkShape(); }
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

    const ArraySourcePtr& source() const { return m_source; }
    const std::vector<Patch>& patches() const { return m_patches; }

private:
    ArraySourcePtr m_source;
    std::vector<Patch> m_patches;
};

// N members of one dtype and shape stacked along a new dimension `axis` (0..rank of a member):
// element [i.., k, j..] is member k's [i.., j..]. A read forwards to the members its selection
// covers, one member at a time; nothing is read or copied ahead. The chunk grid is a member's
// with 1 inserted at `axis` (so each chunk is part of one member), except that stacked 0-d
// members form a single chunk.
class StackSource final : public ArraySource {
public:
    // `members` non-empty, all of one dtype and shape; axis <= rank (checked by makeStackSource).
    StackSource(std::vector<ArraySourcePtr> members, std::size_t axis);

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override;
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

    const std::vector<ArraySourcePtr>& members() const { return m_members; }
    std::size_t axis() const { return m_axis; }

private:
    std::vector<ArraySourcePtr> m_members;
    std::size_t m_axis;
    DType m_dtype;
    Shape m_shape;
};

// Index `index` of dimension `axis` of `source`, that dimension dropped: a (N, a, b) source
// sliced at axis 0 gives (a, b). Reads are the source's reads with that dimension fixed.
class SliceSource final : public ArraySource {
public:
    // axis < rank and index < shape[axis] (checked by makeSliceSource).
    SliceSource(ArraySourcePtr source, std::size_t axis, std::int64_t index);

    DType dtype() const override { return m_source->dtype(); }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override;
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

    const ArraySourcePtr& source() const { return m_source; }
    std::size_t axis() const { return m_axis; }
    std::int64_t index() const { return m_index; }

private:
    ArraySourcePtr m_source;
    std::size_t m_axis;
    std::int64_t m_index;
    Shape m_shape;
};

// A scalar node as a 0-d source, so that scalars stack like arrays. The value is loaded from the
// node (Node::loadScalar, lazy scalars read once) when it is first read. Unstacking a stack of
// these gives back the nodes themselves.
class ScalarNodeSource final : public ArraySource {
public:
    explicit ScalarNodeSource(NodePtr scalar);  // a kScalar node

    DType dtype() const override { return m_node->scalarDType(); }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override { return {}; }
    StorageInfo storage() const override;
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override;

    const NodePtr& node() const { return m_node; }

private:
    NodePtr m_node;
    Shape m_shape;  // always empty
};

}  // namespace ckpt::edit
