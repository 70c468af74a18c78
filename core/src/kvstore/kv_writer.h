// KvWriter: the write side of a KvStore, used by zarr writers. Values are written whole under
// their key; nothing is visible to readers until commit() returns OK (for a directory writer
// that means "all files are fsync'd"; for OCDBT, the manifest is written last).
//
// Not thread-safe: one writer is driven by one thread (callers serialise their puts).
#pragma once

#include <string>
#include <string_view>

#include "ckpt/core/status.h"

namespace ckpt::kv {

class KvWriter {
public:
    virtual ~KvWriter() = default;

    // Stores `value` under `key`. Writing the same key twice is an InvalidArgument error.
    virtual Status put(std::string_view key, std::string_view value) = 0;

    // Makes every put durable and visible. After commit() no more puts are allowed.
    virtual Status commit() = 0;
};

}  // namespace ckpt::kv
