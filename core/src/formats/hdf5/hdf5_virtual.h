// Virtual datasets (H5D_VIRTUAL layout): the arrays of a multi-process HDF5 save, and any VDS
// h5py writes. libhdf5 resolves a VDS's source files on its own (HDF5_VDS_PREFIX, the access
// prefix, the master's directory, then the current directory; an absolute name that does not
// exist falls back to its base name), and fills whatever it cannot read with the fill value,
// silently. So we never read through the VDS: its mappings are parsed and checked once (block
// selections only; every source a plain relative name inside the master's directory; no gaps,
// no overlaps), and a read opens each intersecting source dataset itself, checks its dtype and
// shape, and reads the intersection into place. FORMAT.md, "Multi-process layout".
//
// Thread-safety: as every ArraySource; all HDF5 calls hold lockHdf5().
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ckpt/core/array_source.h"
#include "formats/hdf5/hdf5_lib.h"

namespace ckpt::hdf5 {

// An open HDF5 file shared by the sources reading from it.
struct FileRef {
    Handle file;
    std::string name;
    // The directory source files of virtual datasets are looked up in (the file's directory).
    std::filesystem::path directory;
    // The process files ("process_<i>.h5") beside a multi-process master, as process ids.
    std::vector<std::string> itemProcesses;
};

// One mapping: `block` of the virtual dataset is `source` of dataset `dataset` in `file`.
struct VirtualMapping {
    std::string file;        // as stored, "%%" unescaped; "." is the virtual dataset's own file
    std::string dataset;     // the source dataset's path, "%%" unescaped
    Selection block;         // in the virtual dataset
    Selection source;        // in the source dataset (same counts as `block`)
    bool sourceAll = false;  // the whole source dataset is mapped (its shape must be the block's)
    std::string process;     // "<i>" when `file` is "process_<i>.h5", else empty
};

inline constexpr std::size_t kMaxVirtualMappings = 65536;

// The path a stored source file name stands for, inside `directory`; Corruption for an empty,
// absolute or escaping ("..") name, Unsupported for a printf-style ("%b") one. "." is allowed
// (the caller maps it to the virtual dataset's own file).
Result<std::filesystem::path> resolveVirtualSourceFile(const std::filesystem::path& directory,
                                                       const std::string& stored);

// Corruption when the blocks overlap or leave part of `shape` unmapped.
Status checkVirtualCoverage(const std::vector<VirtualMapping>& mappings, const Shape& shape);

// Parses and checks the mappings of a virtual dataset of `shape` (its creation plist `dcpl`,
// held lock). Errors start with `context`.
Result<std::vector<VirtualMapping>> readVirtualMappings(hid_t dcpl, const Shape& shape,
                                                        const FileRef& file,
                                                        const std::string& context);

// The source reading such a dataset. `storedDType` is the file's element type (bfloat16 is
// stored as uint16), which every source dataset must have; `memType` reads it. A non-OK `error`
// (the mappings failed their checks) keeps the array's dtype and shape visible while every read
// and sharding() fail with it.
ArraySourcePtr makeVirtualSource(std::shared_ptr<FileRef> file, Handle memType, DType dtype,
                                 DType storedDType, Shape shape,
                                 std::vector<VirtualMapping> mappings, StorageInfo storage,
                                 std::string context, Status error = {});

}  // namespace ckpt::hdf5
