// The lazy ArraySources behind edited arrays: a cast of another source, a constant fill and a
// few cells patched over another source. Built through the factories in ckpt/core/edit.h; the
// classes are visible here for white-box tests and for merging repeated edits.
//
// Immutable after construction; every member is safe to call from several threads at once.
// Each wrapper holds its wrapped source (shared ownership) and reads it only inside readInto.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ckpt/core/array_source.h"

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

}  // namespace ckpt::edit
