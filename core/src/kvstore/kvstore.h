// KvStore: the key-value storage under zarr arrays — a plain directory, an OCDBT database, later
// object stores. Keys are '/'-separated strings ("params.kernel/.zarray", "a/c/0").
//
// Thread-safety: every const member may be called from several threads at once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::kv {

// A byte range of a value: [offset, offset + length); length nullopt = to the end.
struct ByteRange {
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length;
};

// A value's bytes without a copy: `bytes` stays valid while `owner` lives.
struct SharedBytes {
    std::shared_ptr<const void> owner;
    std::span<const std::byte> bytes;
    // Set for memory-mapped values: a streaming reader calls it with parts of `bytes` it is done
    // with, so their pages leave the process while it goes on (see io::MappedFile::dropPages).
    std::function<void(std::span<const std::byte>)> release;
};

class KvStore {
public:
    virtual ~KvStore() = default;

    // The whole value under `key` without copying it where the store can (a memory-mapped data
    // file); nullopt when the key is absent. For streaming readers of large values.
    virtual Result<std::optional<SharedBytes>> readShared(std::string_view key) const {
        CKPT_ASSIGN_OR_RETURN(std::optional<std::string> value, read(key));
        if (!value) return std::optional<SharedBytes>();
        auto text = std::make_shared<const std::string>(std::move(*value));
        const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(text->data()),
                                               text->size());
        return std::optional<SharedBytes>(SharedBytes{std::move(text), bytes, {}});
    }

    // The value under `key` (or the requested part of it); nullopt when the key is absent.
    // A range past the end of the value is a Corruption error.
    virtual Result<std::optional<std::string>> read(std::string_view key,
                                                    const ByteRange& range = {}) const = 0;

    // Every key starting with `prefix`, in ascending byte order.
    virtual Result<std::vector<std::string>> list(std::string_view prefix = {}) const = 0;

    // Every key starting with `prefix` with the size of its value in bytes (as stored: for
    // OCDBT the value's bytes, for a directory the file's), in ascending key order. The default
    // reads every value; stores override it with their own metadata.
    virtual Result<std::vector<std::pair<std::string, std::uint64_t>>> listSizes(
        std::string_view prefix = {}) const {
        CKPT_ASSIGN_OR_RETURN(std::vector<std::string> keys, list(prefix));
        std::vector<std::pair<std::string, std::uint64_t>> out;
        for (auto& key : keys) {
            CKPT_ASSIGN_OR_RETURN(auto value, read(key));
            if (value) out.emplace_back(std::move(key), value->size());
        }
        return out;
    }

    // For messages: what this store is ("OCDBT database at '/ckpt/x'").
    virtual std::string describe() const = 0;
};

using KvStorePtr = std::shared_ptr<const KvStore>;

// Whether `key` maps safely to a relative file path: non-empty, not absolute, no NUL byte, and
// no empty, "." or ".." segment (so it cannot escape the directory it is stored under).
inline bool isSafeRelativeKey(std::string_view key) {
    if (key.empty() || key.front() == '/' || key.find('\0') != std::string_view::npos) {
        return false;
    }
    std::size_t start = 0;
    while (start <= key.size()) {
        const std::size_t end = std::min(key.find('/', start), key.size());
        const std::string_view seg = key.substr(start, end - start);
        if (seg.empty() || seg == "." || seg == "..") return false;
        start = end + 1;
    }
    return true;
}

}  // namespace ckpt::kv
