// The "npz" format: numpy's zip of .npy arrays (np.savez / np.savez_compressed). Layout,
// key flattening and the structure sidecar entry: FORMAT.md.
#pragma once

#include <cstdint>
#include <memory>

#include "ckpt/core/format.h"
#include "formats/npz/zip_codec.h"

namespace ckpt::npz {

// The zip entry where our writer records the exact tree (numpy.load lists it but never parses it).
inline constexpr const char* kStructureEntry = "__ckpt_studio_tree__.json";

std::unique_ptr<FormatReader> makeNpzReader();
std::unique_ptr<FormatWriter> makeNpzWriter();

// The writer with an explicit zip64 threshold (tests force a small one to exercise zip64).
Status writeNpz(const NodePtr& tree, const std::filesystem::path& target,
                const WriteOptions& options, std::uint64_t zip64Threshold = kZip64Limit);

}  // namespace ckpt::npz
