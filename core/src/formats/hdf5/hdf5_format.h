// The "hdf5" format: any HDF5 file read as a pytree (groups as dicts, datasets as lazy arrays),
// and pytrees written to HDF5 in the layout described in FORMAT.md beside this file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"

namespace ckpt::hdf5 {

std::unique_ptr<FormatReader> makeHdf5Reader();

// Checks, without libhdf5, that `file` has an HDF5 superblock and is at least as long as the
// superblock's end-of-file address: a corruption error naming the file if it was cut off.
Status checkNotTruncated(const std::filesystem::path& file);

// A multi-process save's directory (FORMAT.md, "Multi-process layout"): the master file, with
// every sharded array a virtual dataset over the `process_<i>.h5` files beside it.
inline constexpr const char* kMasterFileName = "checkpoint.h5";
std::unique_ptr<FormatWriter> makeHdf5Writer();

// The writer's chunk shape for an array: a C-order slab of whole trailing dimensions holding
// at most about `targetBytes` (at least one element per dimension). Empty for rank 0.
Shape chunkShapeFor(const Shape& shape, std::size_t item, std::uint64_t targetBytes);
inline constexpr std::uint64_t kTargetChunkBytes = 1ULL << 20;

// The link name a dict key is stored under (FORMAT.md, "Keys"): the key itself when it is a
// valid, unambiguous HDF5 link name, else the key percent-escaped.
std::string linkNameForKey(std::string_view key);

}  // namespace ckpt::hdf5
