// The tree crash_writer writes and tst_crash_consistency checks: every value is `version`, in a
// few leaves large enough that a write takes a few milliseconds (several chunks in Orbax).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>

#include "ckpt/core/array.h"
#include "ckpt/core/tree.h"

namespace ckpt::test {

inline NodePtr crashFilled(DType dtype, Shape shape, std::int64_t version) {
    Array a = Array::allocate(dtype, std::move(shape)).value();
    for (std::uint64_t i = 0; i < a.elementCount(); ++i) {
        if (dtype == DType::kFloat32) {
            const auto v = static_cast<float>(version);
            std::memcpy(a.bytes().data() + i * 4, &v, 4);
        } else {
            const auto v = static_cast<std::int32_t>(version);
            std::memcpy(a.bytes().data() + i * 4, &v, 4);
        }
    }
    return Node::makeArray(makeMemorySource(std::move(a)));
}

inline NodePtr crashTree(std::int64_t version) {
    return Node::makeDict({
        {"params", Node::makeDict({{"w", crashFilled(DType::kFloat32, {512, 256}, version)},
                                   {"b", crashFilled(DType::kFloat32, {256}, version)}})},
        {"step", crashFilled(DType::kInt32, {}, version)},
    });
}

// The single version every value of `root` holds, or nullopt when they disagree (a torn
// checkpoint) or a value cannot be read.
inline std::optional<std::int64_t> crashVersion(const NodePtr& root) {
    std::optional<std::int64_t> seen;
    bool consistent = true;
    walkTree(root, [&](const KeyPath&, const Node& node) {
        if (!consistent || node.kind() != NodeKind::kArray) return consistent;
        auto data = node.array()->readAll();
        if (!data.isOk()) {
            consistent = false;
            return false;
        }
        for (std::uint64_t i = 0; i < data->elementCount() && consistent; ++i) {
            std::int64_t v = 0;
            if (data->dtype() == DType::kFloat32) {
                float f = 0;
                std::memcpy(&f, data->bytes().data() + i * 4, 4);
                v = static_cast<std::int64_t>(f);
            } else {
                std::int32_t n = 0;
                std::memcpy(&n, data->bytes().data() + i * 4, 4);
                v = n;
            }
            if (seen && *seen != v) consistent = false;
            seen = v;
        }
        return consistent;
    });
    if (!consistent) return std::nullopt;
    return seen;
}

}  // namespace ckpt::test
