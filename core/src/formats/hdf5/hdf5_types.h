// Mapping between HDF5 datatypes and ckpt dtypes, and the small object helpers (attributes,
// dataspaces) shared by the HDF5 reader and writer. Every function expects the HDF5 lock held.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/dtype.h"
#include "formats/hdf5/hdf5_lib.h"

namespace ckpt::hdf5 {

// How a stored numeric datatype is read: the dtype it holds and the little-endian memory type
// H5Dread/H5Aread converts to (bit-exact: only byte order changes).
struct ReadType {
    DType dtype = DType::kUInt8;
    Handle memType;
};

// The ckpt dtype of a file datatype (bool as h5py's int8 enum, complex as h5py's {r, i}
// compound, float16, big-endian variants), or Unsupported naming the HDF5 class.
Result<ReadType> readTypeFor(hid_t fileType);

// The datatype the writer stores `dtype` as (file and memory alike, so writes copy bytes).
// bfloat16 and float8 kinds become uint16/uint8 (the caller records the true dtype).
Result<Handle> storageTypeFor(DType dtype);
// True when `dtype` is stored as raw bits of an unsigned integer with a ckpt_dtype attribute.
bool storedAsBits(DType dtype);

// Dataspace dimensions; an empty shape for a scalar dataspace. Fails for a null dataspace.
Result<Shape> spaceShape(hid_t space, std::string_view context);

// "gzip(level=4)", "shuffle", "zstd(level=3)", "fletcher32", "filter 307" for a dcpl.
std::vector<std::string> describeFilters(hid_t dcpl);

// Attribute helpers. readStringAttribute returns nullopt when the attribute is absent.
Result<std::optional<std::string>> readStringAttribute(hid_t obj, const char* name,
                                                       std::string_view context);
Result<std::optional<std::int64_t>> readIntAttribute(hid_t obj, const char* name,
                                                     std::string_view context);
Status writeStringAttribute(hid_t obj, const char* name, std::string_view value,
                            std::string_view context);
Status writeInt8Attribute(hid_t obj, const char* name, std::int8_t value, std::string_view context);

// Every attribute of `obj` whose name does not start with "ckpt_", in name order, with its
// value as readable text ("3", "0.5", "[1, 2, 3]", "hello"). Unreadable values show a
// bracketed note instead of failing.
Result<std::vector<std::pair<std::string, std::string>>> readDisplayAttributes(
    hid_t obj, std::string_view context);

// Strings of a string-typed dataset or attribute (fixed or variable length), C order.
// `isAttribute` selects H5Aread over H5Dread.
Result<std::vector<std::string>> readStrings(hid_t obj, bool isAttribute, hid_t fileType,
                                             std::uint64_t count, std::string_view context);

}  // namespace ckpt::hdf5
