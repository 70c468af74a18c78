// Data file tables and references into data files (FORMAT.md §4).
//
// Every manifest, version-tree node and B+tree node starts with a table of the data files its
// entries point into; entries then name a file by its index in that table. A decoded table holds
// shared, immutable DataFileIds, so the many references of a large node share one copy of each
// path. Pure byte codec, no I/O; decoded values are plain, immutable data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/byte_reader.h"

namespace ckpt::ocdbt {

// Longest data file path, transitive prefix included (tensorstore kMaxPathLength).
inline constexpr std::size_t kMaxPathLength = 65535;

// A data file: `basePath + relativePath` is its path relative to the database directory.
// `basePath` already includes the transitive prefix of the node the table was read from; it is
// also the transitive prefix for the tables of any node read from this file.
struct DataFileId {
    std::string basePath;
    std::string relativePath;

    std::string fullPath() const { return basePath + relativePath; }
    friend bool operator==(const DataFileId&, const DataFileId&) = default;
};

using DataFileIdPtr = std::shared_ptr<const DataFileId>;
using DataFileTable = std::vector<DataFileIdPtr>;

// A byte range [offset, offset + length) of a data file. offset + length never overflows, except
// for the Missing() marker (offset = length = 2^64 - 1), which only a version's root may use,
// for an empty B+tree.
struct IndirectDataReference {
    DataFileIdPtr file;  // never null once decoded
    std::uint64_t offset = 0;
    std::uint64_t length = 0;

    static constexpr std::uint64_t kMissing = std::numeric_limits<std::uint64_t>::max();
    bool isMissing() const { return offset == kMissing && length == kMissing; }
};

// Decodes a data file table at the reader's position. `transitivePath` is the base path of the
// reference through which the enclosing node was reached ("" for the manifest); it prefixes every
// base path. Path bytes are charged to `budget`.
Result<DataFileTable> decodeDataFileTable(ByteReader& reader, std::string_view transitivePath,
                                          ExpansionBudget& budget);

// Reads a varint data file index and resolves it in `table`.
Result<DataFileIdPtr> readDataFileId(ByteReader& reader, const DataFileTable& table,
                                     std::string_view what);

// Reads the three columns (file id, offset, length) of `count` references, in that order,
// checking that offset + length does not overflow (Missing() passes only if `allowMissing`).
Result<std::vector<IndirectDataReference>> readIndirectDataReferences(ByteReader& reader,
                                                                      const DataFileTable& table,
                                                                      std::size_t count,
                                                                      bool allowMissing);

}  // namespace ckpt::ocdbt
