// Opening one zarr array (v2 `.zarray` or v3 `zarr.json`) stored in a KvStore as a lazy
// ArraySource: metadata is read once when opening; readInto() reads, decodes and copies only the
// chunks a selection intersects, filling chunks that are absent with the fill value.
//
// Ownership: the returned source keeps the store alive. Thread-safety: the source is immutable
// after opening; every const member may run on several threads at once (the store must allow
// concurrent reads, as every KvStore does).
#pragma once

#include <memory>
#include <string>

#include "ckpt/core/array_source.h"
#include "ckpt/core/status.h"
#include "kvstore/kvstore.h"

namespace ckpt::zarr {

// Opens the array whose metadata is `<prefix>.zarray` (zarr v2) or `<prefix>zarr.json` (zarr v3)
// in `store`; a non-empty prefix without a trailing '/' gets one. When both exist, zarr.json
// wins. `displayName` (e.g. "params.kernel") names the array in every error message.
// Errors: NotFound when neither metadata key exists; Corruption for malformed metadata;
// Unsupported for valid metadata this reader cannot decode (structured dtypes, filters, ...).
// Chunks whose codec is unavailable (blosc, bz2, gzip without zlib) fail when read, so the
// array's dtype and shape can still be shown.
//
// `cache`, when given, remembers parsed metadata by its exact text: checkpoints repeat the same
// few metadata documents for thousands of arrays (every layer's kernel has the same zarr.json),
// and parsing them dominated opening a 100,000-leaf checkpoint. Safe to share between threads.
class MetadataCache;
Result<ArraySourcePtr> openZarrArray(kv::KvStorePtr store, std::string prefix,
                                     std::string displayName, MetadataCache* cache = nullptr);

class MetadataCache {
public:
    MetadataCache();
    ~MetadataCache();
    MetadataCache(const MetadataCache&) = delete;
    MetadataCache& operator=(const MetadataCache&) = delete;

    struct Impl;  // defined in zarr_array.cpp
    Impl* impl() const { return m_impl.get(); }

private:
    std::unique_ptr<Impl> m_impl;
};

}  // namespace ckpt::zarr
