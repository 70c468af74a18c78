// A zarr array whose metadata is read on first use. Opening a 100,000-leaf Orbax checkpoint
// eagerly read and parsed 100,000 zarr.json documents (OCDBT lookups included) before the tree
// could be shown; a LazyZarrArray costs two strings until something asks for its dtype, shape,
// storage or data, and then opens the real source once (openZarrArray) and forwards to it.
//
// A failed open is remembered: metadataStatus() gives the error (with `errorContext` and the
// key path), dtype() is uint8, shape() is {0}, storage() describes the error and every read
// fails with it. metadataLoaded() never blocks.
//
// Ownership: the source keeps the store and the shared MetadataCache alive. Thread-safety: every
// const member may be called from several threads at once; the first use opens exactly once
// (std::call_once) and the others wait for it.
#pragma once

#include <memory>
#include <string>

#include "ckpt/core/array_source.h"
#include "formats/zarr/zarr_array.h"
#include "kvstore/kvstore.h"

namespace ckpt::zarr {

// `prefix` and `displayName` as for openZarrArray. `errorContext` (e.g. the `_METADATA` path,
// shared by every leaf of a checkpoint) starts every error message: "<context>: at key path
// 'a/b': zarr array 'a/b' (...): ...". `cache` may be null.
ArraySourcePtr makeLazyZarrArray(kv::KvStorePtr store, std::string prefix, std::string displayName,
                                 std::shared_ptr<MetadataCache> cache,
                                 std::shared_ptr<const std::string> errorContext);

}  // namespace ckpt::zarr
