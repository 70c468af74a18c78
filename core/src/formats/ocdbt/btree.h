// B+tree nodes (FORMAT.md §6): decoded keys, inline values and references to out-of-line values
// (leaves) or to child nodes (interior nodes).
//
// Keys are stored as each node's *relative* keys: the full key of a leaf entry is the prefix
// implied by the path from the root (the `subtreeCommonPrefix()` of every interior entry passed
// on the way) followed by `LeafNodeEntry::key`. Pure byte codec, no I/O; decoded nodes are
// immutable values, safe to share between threads. encodeBtreeNode is decodeBtreeNode's inverse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/data_file_table.h"
#include "formats/ocdbt/envelope.h"

namespace ckpt::ocdbt {

inline constexpr std::size_t kMaxKeyLength = 65535;
inline constexpr std::size_t kMaxNodeArity = std::size_t{1} << 20;
// Inline values longer than this are rejected on read (tensorstore kMaxInlineValueLength).
inline constexpr std::size_t kMaxInlineValueLength = std::size_t{1} << 20;

// Statistics of a subtree, stored with every reference to a node. Not verified on read (neither
// does tensorstore), only reported.
struct BtreeNodeStatistics {
    std::uint64_t numKeys = 0;
    std::uint64_t numTreeBytes = 0;
    std::uint64_t numIndirectValueBytes = 0;
    friend bool operator==(const BtreeNodeStatistics&, const BtreeNodeStatistics&) = default;
};

struct BtreeNodeReference {
    IndirectDataReference location;
    BtreeNodeStatistics statistics;
};

struct LeafNodeEntry {
    std::string key;  // relative key
    // Inline value bytes, or where the value lies (its length is the value's length).
    std::variant<std::string, IndirectDataReference> value;

    bool isInline() const { return std::holds_alternative<std::string>(value); }
    std::uint64_t valueSize() const;
};

struct InteriorNodeEntry {
    std::string key;  // relative key: inclusive lower bound of the child's keys
    // How many leading bytes of `key` every key below this child shares; the child's own keys
    // are relative to (parent prefix + that part).
    std::uint16_t subtreeCommonPrefixLength = 0;
    BtreeNodeReference child;

    std::string_view subtreeCommonPrefix() const {
        return std::string_view(key).substr(0, subtreeCommonPrefixLength);
    }
    // The child's inclusive lower bound, relative to the child's prefix.
    std::string_view childInclusiveMin() const {
        return std::string_view(key).substr(subtreeCommonPrefixLength);
    }
};

struct BtreeNode {
    std::uint8_t height = 0;                         // 0 = leaf
    std::vector<LeafNodeEntry> leafEntries;          // height == 0; keys strictly increasing
    std::vector<InteriorNodeEntry> interiorEntries;  // height > 0; keys strictly increasing

    bool isLeaf() const { return height == 0; }
    std::size_t size() const { return isLeaf() ? leafEntries.size() : interiorEntries.size(); }
    std::string_view firstKey() const;
    // Approximate heap footprint, for caches.
    std::size_t estimatedBytes() const;
};

// Decodes an encoded B+tree node (envelope included). `transitivePath` is the base path of the
// reference used to reach it. Errors are Corruption statuses.
Result<BtreeNode> decodeBtreeNode(std::span<const std::byte> encoded,
                                  std::string_view transitivePath, const DecodeLimits& limits);

// Decodes a node body (what the envelope wraps).
Result<BtreeNode> decodeBtreeNodeBody(std::span<const std::byte> body,
                                      std::string_view transitivePath, const DecodeLimits& limits);

// Encodes a node body: keys prefix-compressed against the previous entry, files of the entries'
// references gathered into the node's data file table (paths relative to the node's transitive
// path). InvalidArgument when the node breaks a format rule (no entries, more than
// kMaxNodeArity, keys not strictly increasing or longer than kMaxKeyLength, a subtree prefix
// longer than its key, an inline value over kMaxInlineValueLength).
Result<std::vector<std::byte>> encodeBtreeNodeBody(const BtreeNode& node);
// The body wrapped in an envelope (magic 0x0CDB20DE).
Result<std::vector<std::byte>> encodeBtreeNode(const BtreeNode& node,
                                               EnvelopeCompression compression, int zstdLevel);

// Checks what a parent expects of a child: its height, and that its first key is not below the
// parent's lower bound for it (both relative to the child's prefix).
Status validateBtreeNodeReference(const BtreeNode& node, std::uint8_t expectedHeight,
                                  std::string_view inclusiveMin);

// The leaf entry whose key equals `key`, or nullptr.
const LeafNodeEntry* findLeafEntry(const BtreeNode& node, std::string_view key);

// The interior entry whose subtree may hold `key` (the last entry whose key <= `key`), or nullptr
// when `key` sorts before every entry.
const InteriorNodeEntry* findInteriorEntry(const BtreeNode& node, std::string_view key);

}  // namespace ckpt::ocdbt
