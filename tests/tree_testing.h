// Test helpers for formats that round-trip whole trees: deterministic arrays, exact structural
// comparison (dtypes, shapes, bits, native flags, strings) and whole-file I/O.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "ckpt/core/array.h"
#include "ckpt/core/array_source.h"
#include "ckpt/core/tree.h"

namespace ckpt::test {

inline NodePtr arrayOf(DType dtype, Shape shape, std::uint8_t seed = 1) {
    Array a = Array::allocate(dtype, std::move(shape)).value();
    auto b = a.bytes();
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::byte>(seed + i * 7);
    return Node::makeArray(makeMemorySource(std::move(a)));
}

inline std::string bytesOf(const NodePtr& node) {
    if (node->kind() == NodeKind::kScalar) {
        const Scalar value = node->loadScalar().value();
        auto bits = value.bits();
        return {reinterpret_cast<const char*>(bits.data()), bits.size()};
    }
    Array a = node->array()->readAll().value();
    return {reinterpret_cast<const char*>(a.bytes().data()), a.byteSize()};
}

// Structural equality including dtypes, shapes, bits, native flags, strings.
inline bool sameTree(const NodePtr& a, const NodePtr& b, std::string& why, const std::string& at = "") {
    if (a->kind() != b->kind()) {
        why = at + ": kind " + std::string(nodeKindName(a->kind())) + " vs " +
              std::string(nodeKindName(b->kind()));
        return false;
    }
    if (a->isContainer()) {
        if (a->childCount() != b->childCount()) {
            why = at + ": child count";
            return false;
        }
        for (std::size_t i = 0; i < a->childCount(); ++i) {
            if (a->childKey(i) != b->childKey(i)) {
                why = at + ": key " + a->childKey(i) + " vs " + b->childKey(i);
                return false;
            }
            if (!sameTree(a->child(i), b->child(i), why, at + "/" + a->childKey(i))) return false;
        }
        return true;
    }
    switch (a->kind()) {
        case NodeKind::kArray:
            if (a->array()->dtype() != b->array()->dtype() ||
                a->array()->shape() != b->array()->shape() || bytesOf(a) != bytesOf(b)) {
                why = at + ": array differs";
                return false;
            }
            return true;
        case NodeKind::kScalar:
            if (a->scalarDType() != b->scalarDType() ||
                a->loadScalar()->isNative() != b->loadScalar()->isNative() ||
                bytesOf(a) != bytesOf(b)) {
                why = at + ": scalar differs";
                return false;
            }
            return true;
        case NodeKind::kString:
        case NodeKind::kBytes:
            if (a->text() != b->text()) {
                why = at + ": text differs";
                return false;
            }
            return true;
        default:
            return true;
    }
}

inline void writeFile(const std::filesystem::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string readFile(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace ckpt::test
