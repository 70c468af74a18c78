// Helpers for the edit tests: a source that counts its reads, float arrays from values, and
// bit access to one element.
#pragma once

#include <atomic>
#include <cstring>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/tree.h"

namespace ckpt::test {

// Wraps an in-memory array and counts readInto calls (to prove untouched leaves stay unread).
class CountingSource final : public ArraySource {
public:
    explicit CountingSource(Array array) : m_inner(makeMemorySource(std::move(array))) {}
    DType dtype() const override { return m_inner->dtype(); }
    const Shape& shape() const override { return m_inner->shape(); }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        ++m_reads;
        return m_inner->readInto(selection, out, cancel);
    }
    int reads() const { return m_reads.load(); }

private:
    ArraySourcePtr m_inner;
    mutable std::atomic<int> m_reads{0};
};

template <typename T>
Array arrayFrom(DType dtype, Shape shape, const std::vector<T>& values) {
    Array a = Array::allocate(dtype, std::move(shape)).value();
    std::memcpy(a.bytes().data(), values.data(), values.size() * sizeof(T));
    return a;
}

template <typename T>
std::vector<T> valuesOf(const ArraySource& source) {
    Array a = source.readAll().value();
    std::vector<T> out(a.elementCount());
    std::memcpy(out.data(), a.bytes().data(), a.byteSize());
    return out;
}

}  // namespace ckpt::test
