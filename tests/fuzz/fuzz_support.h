// Shared pieces of the fuzz targets (libFuzzer; see run_fuzz.sh): an in-memory KvStore, and a
// walk that reads every leaf of a decoded tree the way the GUI and CLI do, so that lazy decoding
// (chunks, scalars) is exercised too. Errors are the expected outcome for most inputs; crashes,
// hangs, leaks and sanitizer reports are what the fuzzer looks for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ckpt/core/stats.h"
#include "ckpt/core/tree.h"
#include "kvstore/kvstore.h"

namespace ckpt::fuzz {

inline std::span<const std::byte> bytesOf(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const std::byte*>(data), size};
}

class MemoryStore final : public kv::KvStore {
public:
    std::map<std::string, std::string, std::less<>> values;

    Result<std::optional<std::string>> read(std::string_view key,
                                            const kv::ByteRange& range = {}) const override {
        const auto it = values.find(key);
        if (it == values.end()) return std::optional<std::string>();
        const std::string& v = it->second;
        if (range.offset > v.size() || (range.length && *range.length > v.size() - range.offset)) {
            return corruptionError("range past the end of '" + std::string(key) + "'");
        }
        const std::size_t n = range.length ? static_cast<std::size_t>(*range.length)
                                           : v.size() - static_cast<std::size_t>(range.offset);
        return std::optional<std::string>(v.substr(static_cast<std::size_t>(range.offset), n));
    }
    Result<std::vector<std::string>> list(std::string_view prefix = {}) const override {
        std::vector<std::string> out;
        for (const auto& [key, value] : values) {
            if (key.rfind(prefix, 0) == 0) out.push_back(key);
        }
        return out;
    }
    std::string describe() const override { return "fuzz memory store"; }
};

// Arrays larger than this are not read: a few bytes can declare a 384 GiB array whose chunks are
// all unwritten (HDF5 then returns its fill value), or an 8 MiB one in 2 million one-element
// chunks (libhdf5 spends ~3.5 us per chunk: 7 s), and streaming that is slow, not wrong.
inline constexpr std::uint64_t kMaxFuzzReadBytes = 1ULL << 20;
inline constexpr std::uint64_t kMaxFuzzReadElements = 1ULL << 16;

// Reads every array (whole and through computeStats; up to the bounds above) and scalar under
// `root`.
inline void readEverything(const NodePtr& root) {
    if (!root) return;
    walkTree(root, [](const KeyPath&, const Node& node) {
        if (node.kind() == NodeKind::kArray && node.array()) {
            std::uint64_t bytes = itemSize(node.array()->dtype());
            for (const std::int64_t d : node.array()->shape()) {
                const auto n = static_cast<std::uint64_t>(d < 0 ? 0 : d);
                bytes = n != 0 && bytes > kMaxFuzzReadBytes / n ? kMaxFuzzReadBytes + 1 : bytes * n;
            }
            if (bytes > kMaxFuzzReadBytes ||
                bytes / itemSize(node.array()->dtype()) > kMaxFuzzReadElements) {
                return true;
            }
            static_cast<void>(node.array()->readAll());
            static_cast<void>(computeStats(*node.array()));
        } else if (node.kind() == NodeKind::kScalar) {
            static_cast<void>(node.loadScalar());
        }
        return true;
    });
}

}  // namespace ckpt::fuzz
