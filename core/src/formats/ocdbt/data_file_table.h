// Data file tables and references into data files (FORMAT.md §4).
//
// Every manifest, version-tree node and B+tree node starts with a table of the data files its
// entries point into; entries then name a file by its index in that table. A decoded table holds
// shared, immutable DataFileIds, so the many references of a large node share one copy of each
// path. Pure byte codec, no I/O; decoded values are plain, immutable data. The encoding side
// (DataFileTableBuilder, writeIndirectDataReferences) mirrors tensorstore's DataFileTableBuilder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/byte_writer.h"

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

// Collects the data files one object's references use, then writes its table: sorted by
// (base path, relative path) in unsigned byte order, each path prefix-compressed against the
// previous one, the shared prefix running into the relative path only when both base paths are
// equal (tensorstore data_file_id_codec.cc). Ids given to the builder are relative to the
// object's own transitive path (for everything our writer produces, base path ""). Not
// thread-safe.
class DataFileTableBuilder {
public:
    void add(const DataFileId& id);
    // Writes the table. InvalidArgument if a path exceeds kMaxPathLength.
    Status finalize(ByteWriter& writer);
    // The index of a file added before finalize().
    std::uint64_t indexOf(const DataFileId& id) const;
    std::size_t size() const { return m_files.size(); }

private:
    std::map<std::pair<std::string, std::string>, std::uint64_t> m_files;
};

// Writes the three columns (file index, offset, length) of `refs`, whose files were added to
// `table` (already finalized).
void writeIndirectDataReferences(ByteWriter& writer, const DataFileTableBuilder& table,
                                 std::span<const IndirectDataReference> refs);

}  // namespace ckpt::ocdbt
