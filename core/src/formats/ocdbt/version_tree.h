// The version tree (FORMAT.md §5): which B+tree root belongs to which generation (commit).
//
// The manifest holds the newest versions inline and refers to version-tree nodes for older
// ones. Leaf entries point at B+tree roots; interior entries at further version-tree nodes.
// Pure byte codec, no I/O; decoded values are immutable plain data. The write* / encode*
// functions are the inverses of the read* / decode* ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/btree.h"
#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/byte_writer.h"
#include "formats/ocdbt/data_file_table.h"
#include "formats/ocdbt/envelope.h"

namespace ckpt::ocdbt {

inline constexpr std::uint8_t kMaxVersionTreeArityLog2 = 16;

// A committed version: generation number and the root of its B+tree.
struct BtreeGenerationReference {
    BtreeNodeReference root;  // root.location.isMissing() for an empty tree
    std::uint64_t generationNumber = 0;
    std::uint8_t rootHeight = 0;
    std::uint64_t commitTimeNs = 0;  // nanoseconds since the Unix epoch
};

// A reference to a version-tree node covering a run of generations.
struct VersionNodeReference {
    IndirectDataReference location;
    std::uint64_t generationNumber = 0;  // the LATEST generation below this node
    std::uint8_t height = 0;             // of the referenced node (>= 1 from the manifest)
    std::uint64_t numGenerations = 0;
    std::uint64_t commitTimeNs = 0;  // the EARLIEST commit below this node
};

struct VersionTreeNode {
    std::uint8_t versionTreeArityLog2 = 0;
    std::uint8_t height = 0;
    std::vector<BtreeGenerationReference> leafEntries;  // height == 0
    std::vector<VersionNodeReference> interiorEntries;  // height > 0

    std::uint64_t lastGenerationNumber() const;
};

// Highest allowed version-tree node height for an arity (tensorstore GetMaxVersionTreeHeight).
inline std::uint8_t maxVersionTreeHeight(std::uint8_t arityLog2) {
    return static_cast<std::uint8_t>(63 / arityLog2 - 1);
}

// Reads a leaf entry array (the manifest's inline versions, or a leaf node's entries) and checks
// it: 1..2^arityLog2 entries, generations non-zero and strictly increasing and all in one leaf's
// range, empty roots with height 0 and zero statistics.
Result<std::vector<BtreeGenerationReference>> readVersionTreeLeafEntries(ByteReader& reader,
                                                                         const DataFileTable& table,
                                                                         std::uint8_t arityLog2);

// Reads an interior entry array of at most `maxEntries` entries; `withHeight` adds the
// entry_height column that only the manifest's version_nodes carry. Entries without that
// column get `impliedHeight`.
Result<std::vector<VersionNodeReference>> readVersionTreeInteriorEntries(
    ByteReader& reader, const DataFileTable& table, std::size_t maxEntries, bool withHeight,
    std::uint8_t impliedHeight);

// Checks the manifest's version_nodes against its newest generation (tensorstore
// ValidateManifestVersionTreeNodes).
Status validateManifestVersionNodes(std::uint8_t arityLog2, std::uint64_t lastGeneration,
                                    const std::vector<VersionNodeReference>& entries);

// Checks the entries of an interior node of `height` (tensorstore
// ValidateVersionTreeInteriorNodeEntries).
Status validateVersionTreeInteriorEntries(std::uint8_t arityLog2, std::uint8_t height,
                                          const std::vector<VersionNodeReference>& entries);

// Decodes an encoded version-tree node (envelope included).
Result<VersionTreeNode> decodeVersionTreeNode(std::span<const std::byte> encoded,
                                              std::string_view transitivePath,
                                              const DecodeLimits& limits);
// Decodes a version-tree node body (what the envelope wraps).
Result<VersionTreeNode> decodeVersionTreeNodeBody(std::span<const std::byte> body,
                                                  std::string_view transitivePath,
                                                  const DecodeLimits& limits);

// Checks a node against the reference that led to it: height, arity and newest generation.
Status validateVersionTreeNodeReference(const VersionTreeNode& node, std::uint8_t arityLog2,
                                        const VersionNodeReference& ref);

// Adds the files the entries refer to (a missing root's empty-path file included) to `table`.
void addVersionTreeFiles(DataFileTableBuilder& table,
                         std::span<const BtreeGenerationReference> leafEntries);
void addVersionTreeFiles(DataFileTableBuilder& table,
                         std::span<const VersionNodeReference> interiorEntries);

// Writes a leaf entry array (n, then the columns); `table` must already be finalized.
void writeVersionTreeLeafEntries(ByteWriter& writer, const DataFileTableBuilder& table,
                                 std::span<const BtreeGenerationReference> entries);
// Writes an interior entry array; `withHeight` adds the manifest-only entry_height column.
void writeVersionTreeInteriorEntries(ByteWriter& writer, const DataFileTableBuilder& table,
                                     std::span<const VersionNodeReference> entries,
                                     bool withHeight);

// Encodes a version-tree node body / the whole object (magic 0x0CDB1234). InvalidArgument when
// the entries break the rules the decoder checks.
Result<std::vector<std::byte>> encodeVersionTreeNodeBody(const VersionTreeNode& node);
Result<std::vector<std::byte>> encodeVersionTreeNode(const VersionTreeNode& node,
                                                     EnvelopeCompression compression,
                                                     int zstdLevel);

}  // namespace ckpt::ocdbt
