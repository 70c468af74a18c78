#include "formats/ocdbt/btree.h"

#include <algorithm>

#include "formats/ocdbt/byte_reader.h"
#include "formats/ocdbt/byte_writer.h"

namespace ckpt::ocdbt {

namespace {

Status atEntry(const Status& s, std::size_t i) {
    return s.withContext("entry " + std::to_string(i));
}

// Reads the key columns shared by leaf and interior nodes: key_prefix_length[n-1],
// key_suffix_length[n], (interior only) subtree_common_prefix_length[n], then the suffix bytes.
template <typename Entry>
Status readKeys(ByteReader& r, std::vector<Entry>& entries, ExpansionBudget& budget) {
    const std::size_t n = entries.size();
    std::vector<std::uint16_t> prefixLen(n, 0), suffixLen(n, 0);
    for (std::size_t i = 1; i < n; ++i) {
        auto v = r.readVarint16("key_prefix_length");
        if (!v.isOk()) return atEntry(v.status(), i);
        prefixLen[i] = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint16("key_suffix_length");
        if (!v.isOk()) return atEntry(v.status(), i);
        suffixLen[i] = *v;
    }
    if constexpr (std::is_same_v<Entry, InteriorNodeEntry>) {
        for (std::size_t i = 0; i < n; ++i) {
            auto v = r.readVarint16("subtree_common_prefix_length");
            if (!v.isOk()) return atEntry(v.status(), i);
            entries[i].subtreeCommonPrefixLength = *v;
        }
    }
    std::size_t prevLen = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (prefixLen[i] > prevLen) {
            return corruptionError("entry " + std::to_string(i) + ": key prefix length " +
                                   std::to_string(prefixLen[i]) +
                                   " exceeds the previous key's length " + std::to_string(prevLen));
        }
        const std::size_t keyLen = std::size_t{prefixLen[i]} + suffixLen[i];
        if (keyLen > kMaxKeyLength) {
            return corruptionError("entry " + std::to_string(i) + ": key length " +
                                   std::to_string(keyLen) + " exceeds " +
                                   std::to_string(kMaxKeyLength));
        }
        if constexpr (std::is_same_v<Entry, InteriorNodeEntry>) {
            if (entries[i].subtreeCommonPrefixLength > keyLen) {
                return corruptionError("entry " + std::to_string(i) +
                                       ": subtree common prefix length " +
                                       std::to_string(entries[i].subtreeCommonPrefixLength) +
                                       " exceeds the key length " + std::to_string(keyLen));
            }
        }
        prevLen = keyLen;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto suffix = r.readString(suffixLen[i], "key_suffix");
        if (!suffix.isOk()) return atEntry(suffix.status(), i);
        CKPT_RETURN_IF_ERROR(budget.take(std::size_t{prefixLen[i]} + suffixLen[i], "keys"));
        std::string& key = entries[i].key;
        if (i > 0) {
            const std::string_view prev = entries[i - 1].key;
            // The new key shares prefixLen bytes with the previous one; it sorts after it iff its
            // suffix sorts after the rest of the previous key.
            if (prev.substr(prefixLen[i]) >= *suffix) {
                return corruptionError("entry " + std::to_string(i) +
                                       ": keys are not strictly increasing");
            }
            key.reserve(std::size_t{prefixLen[i]} + suffixLen[i]);
            key.assign(prev.substr(0, prefixLen[i]));
        }
        key.append(*suffix);
    }
    return okStatus();
}

Status readStatistics(ByteReader& r, std::vector<InteriorNodeEntry>& entries) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto v = r.readVarint64("num_keys");
        if (!v.isOk()) return atEntry(v.status(), i);
        entries[i].child.statistics.numKeys = *v;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto v = r.readVarint64("num_tree_bytes");
        if (!v.isOk()) return atEntry(v.status(), i);
        entries[i].child.statistics.numTreeBytes = *v;
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
        auto v = r.readVarint64("num_indirect_value_bytes");
        if (!v.isOk()) return atEntry(v.status(), i);
        entries[i].child.statistics.numIndirectValueBytes = *v;
    }
    return okStatus();
}

Status readLeafValues(ByteReader& r, const DataFileTable& table,
                      std::vector<LeafNodeEntry>& entries) {
    const std::size_t n = entries.size();
    std::vector<std::uint64_t> lengths(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint64("value_length");
        if (!v.isOk()) return atEntry(v.status(), i);
        lengths[i] = *v;
    }
    std::vector<std::uint8_t> kinds(n);
    std::size_t numIndirect = 0;
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readU8("value_kind");
        if (!v.isOk()) return atEntry(v.status(), i);
        kinds[i] = *v;
        if (kinds[i] > 1) {
            return corruptionError("entry " + std::to_string(i) + ": value_kind " +
                                   std::to_string(kinds[i]) + " is not 0 (inline) or 1 (indirect)");
        }
        if (kinds[i] == 0 && lengths[i] > kMaxInlineValueLength) {
            return corruptionError("entry " + std::to_string(i) + ": inline value of " +
                                   std::to_string(lengths[i]) + " bytes exceeds the maximum of " +
                                   std::to_string(kMaxInlineValueLength));
        }
        numIndirect += kinds[i];
    }
    // Out-of-line values: all file ids, then all offsets (the length is value_length).
    std::vector<IndirectDataReference> refs(numIndirect);
    for (std::size_t i = 0, k = 0; i < n; ++i) {
        if (kinds[i] != 1) continue;
        auto f = readDataFileId(r, table, "data_file_id");
        if (!f.isOk()) return atEntry(f.status(), i);
        refs[k].file = std::move(*f);
        refs[k].length = lengths[i];
        ++k;
    }
    for (std::size_t i = 0, k = 0; i < n; ++i) {
        if (kinds[i] != 1) continue;
        auto v = r.readVarint64("data_file_offset");
        if (!v.isOk()) return atEntry(v.status(), i);
        refs[k].offset = *v;
        if (refs[k].offset > IndirectDataReference::kMissing - refs[k].length) {
            return corruptionError("entry " + std::to_string(i) + ": value offset " +
                                   std::to_string(refs[k].offset) + " + length " +
                                   std::to_string(refs[k].length) + " overflows");
        }
        ++k;
    }
    for (std::size_t i = 0, k = 0; i < n; ++i) {
        if (kinds[i] == 1) {
            entries[i].value = std::move(refs[k++]);
            continue;
        }
        auto bytes = r.readString(lengths[i], "inline value");
        if (!bytes.isOk()) return atEntry(bytes.status(), i);
        entries[i].value = std::string(*bytes);
    }
    return okStatus();
}

}  // namespace

std::uint64_t LeafNodeEntry::valueSize() const {
    if (const auto* s = std::get_if<std::string>(&value)) return s->size();
    return std::get<IndirectDataReference>(value).length;
}

std::string_view BtreeNode::firstKey() const {
    if (isLeaf()) return leafEntries.empty() ? std::string_view() : leafEntries.front().key;
    return interiorEntries.empty() ? std::string_view() : interiorEntries.front().key;
}

std::size_t BtreeNode::estimatedBytes() const {
    std::size_t total = sizeof(BtreeNode);
    for (const auto& e : leafEntries) {
        total += sizeof(LeafNodeEntry) + e.key.capacity();
        if (const auto* s = std::get_if<std::string>(&e.value)) total += s->capacity();
    }
    for (const auto& e : interiorEntries) total += sizeof(InteriorNodeEntry) + e.key.capacity();
    return total;
}

Result<BtreeNode> decodeBtreeNodeBody(std::span<const std::byte> body,
                                      std::string_view transitivePath, const DecodeLimits& limits) {
    ByteReader r(body);
    ExpansionBudget budget(limits.maxDecodedBytes);
    BtreeNode node;
    CKPT_ASSIGN_OR_RETURN(node.height, r.readU8("height"));
    CKPT_ASSIGN_OR_RETURN(const DataFileTable table,
                          decodeDataFileTable(r, transitivePath, budget));
    CKPT_ASSIGN_OR_RETURN(const std::uint32_t numEntries, r.readVarint32("num_entries"));
    if (numEntries == 0) return r.error("num_entries", "empty B+tree node");
    if (numEntries > kMaxNodeArity) {
        return r.error("num_entries", std::to_string(numEntries) + " exceeds the maximum of " +
                                          std::to_string(kMaxNodeArity));
    }
    // Every entry has at least a key_suffix_length byte; refuse counts the bytes cannot hold
    // before allocating for them.
    if (numEntries > r.remaining()) {
        return r.error("num_entries", std::to_string(numEntries) + " entries cannot fit in the " +
                                          std::to_string(r.remaining()) + " bytes left");
    }
    if (node.isLeaf()) {
        node.leafEntries.resize(numEntries);
        CKPT_RETURN_IF_ERROR(readKeys(r, node.leafEntries, budget));
        CKPT_RETURN_IF_ERROR(readLeafValues(r, table, node.leafEntries));
    } else {
        node.interiorEntries.resize(numEntries);
        CKPT_RETURN_IF_ERROR(readKeys(r, node.interiorEntries, budget));
        CKPT_ASSIGN_OR_RETURN(auto refs, readIndirectDataReferences(r, table, numEntries,
                                                                    /*allowMissing=*/false));
        for (std::size_t i = 0; i < numEntries; ++i) {
            node.interiorEntries[i].child.location = std::move(refs[i]);
        }
        CKPT_RETURN_IF_ERROR(readStatistics(r, node.interiorEntries));
    }
    CKPT_RETURN_IF_ERROR(r.expectEnd("B+tree node body"));
    return node;
}

Result<BtreeNode> decodeBtreeNode(std::span<const std::byte> encoded,
                                  std::string_view transitivePath, const DecodeLimits& limits) {
    CKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                          decodeEnvelope(encoded, kBtreeNodeMagic, limits.maxDecodedBytes));
    return decodeBtreeNodeBody(env.body, transitivePath, limits);
}

Status validateBtreeNodeReference(const BtreeNode& node, std::uint8_t expectedHeight,
                                  std::string_view inclusiveMin) {
    if (node.height != expectedHeight) {
        return corruptionError("expected a node of height " + std::to_string(expectedHeight) +
                               ", found height " + std::to_string(node.height));
    }
    if (node.firstKey() < inclusiveMin) {
        return corruptionError("first key sorts before the lower bound given by the parent node");
    }
    return okStatus();
}

const LeafNodeEntry* findLeafEntry(const BtreeNode& node, std::string_view key) {
    const auto& e = node.leafEntries;
    auto it =
        std::lower_bound(e.begin(), e.end(), key,
                         [](const LeafNodeEntry& a, std::string_view k) { return a.key < k; });
    if (it == e.end() || it->key != key) return nullptr;
    return &*it;
}

const InteriorNodeEntry* findInteriorEntry(const BtreeNode& node, std::string_view key) {
    const auto& e = node.interiorEntries;
    auto it = std::upper_bound(
        e.begin(), e.end(), key,
        [](std::string_view k, const InteriorNodeEntry& a) { return k < std::string_view(a.key); });
    if (it == e.begin()) return nullptr;
    return &*(it - 1);
}

namespace {

std::size_t commonPrefixLength(std::string_view a, std::string_view b) {
    const std::size_t n = std::min(a.size(), b.size());
    std::size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

// Writes key_prefix_length, key_suffix_length, (interior) subtree_common_prefix_length and the
// suffix bytes — the inverse of readKeys.
template <typename Entry>
Status writeKeys(ByteWriter& w, const std::vector<Entry>& entries) {
    const std::size_t n = entries.size();
    std::vector<std::size_t> prefixLen(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& key = entries[i].key;
        if (key.size() > kMaxKeyLength) {
            return invalidArgumentError("entry " + std::to_string(i) + ": key of " +
                                        std::to_string(key.size()) + " bytes exceeds " +
                                        std::to_string(kMaxKeyLength));
        }
        if (i > 0) {
            if (entries[i - 1].key >= key) {
                return invalidArgumentError("entry " + std::to_string(i) +
                                            ": keys are not strictly increasing");
            }
            prefixLen[i] = commonPrefixLength(entries[i - 1].key, key);
        }
        if constexpr (std::is_same_v<Entry, InteriorNodeEntry>) {
            if (entries[i].subtreeCommonPrefixLength > key.size()) {
                return invalidArgumentError("entry " + std::to_string(i) +
                                            ": subtree common prefix is longer than the key");
            }
        }
    }
    for (std::size_t i = 1; i < n; ++i) w.writeVarint(prefixLen[i]);
    for (std::size_t i = 0; i < n; ++i) w.writeVarint(entries[i].key.size() - prefixLen[i]);
    if constexpr (std::is_same_v<Entry, InteriorNodeEntry>) {
        for (const auto& e : entries) w.writeVarint(e.subtreeCommonPrefixLength);
    }
    for (std::size_t i = 0; i < n; ++i) {
        w.writeString(std::string_view(entries[i].key).substr(prefixLen[i]));
    }
    return okStatus();
}

}  // namespace

Result<std::vector<std::byte>> encodeBtreeNodeBody(const BtreeNode& node) {
    const std::size_t n = node.size();
    if (n == 0) return invalidArgumentError("a B+tree node needs at least one entry");
    if (n > kMaxNodeArity) {
        return invalidArgumentError("a B+tree node of " + std::to_string(n) +
                                    " entries exceeds the maximum of " +
                                    std::to_string(kMaxNodeArity));
    }
    if (node.isLeaf() != node.interiorEntries.empty() ||
        node.isLeaf() == node.leafEntries.empty()) {
        return invalidArgumentError("B+tree node entries do not match its height");
    }
    ByteWriter w;
    w.writeU8(node.height);
    DataFileTableBuilder table;
    if (node.isLeaf()) {
        for (const auto& e : node.leafEntries) {
            if (const auto* ref = std::get_if<IndirectDataReference>(&e.value))
                table.add(*ref->file);
        }
    } else {
        for (const auto& e : node.interiorEntries) table.add(*e.child.location.file);
    }
    CKPT_RETURN_IF_ERROR(table.finalize(w));
    w.writeVarint(n);
    if (node.isLeaf()) {
        const auto& entries = node.leafEntries;
        CKPT_RETURN_IF_ERROR(writeKeys(w, entries));
        for (const auto& e : entries) w.writeVarint(e.valueSize());
        for (std::size_t i = 0; i < n; ++i) {
            if (entries[i].isInline() && entries[i].valueSize() > kMaxInlineValueLength) {
                return invalidArgumentError("entry " + std::to_string(i) + ": inline value of " +
                                            std::to_string(entries[i].valueSize()) +
                                            " bytes exceeds " +
                                            std::to_string(kMaxInlineValueLength));
            }
            w.writeU8(entries[i].isInline() ? 0 : 1);
        }
        for (const auto& e : entries) {
            if (const auto* ref = std::get_if<IndirectDataReference>(&e.value)) {
                w.writeVarint(table.indexOf(*ref->file));
            }
        }
        for (const auto& e : entries) {
            if (const auto* ref = std::get_if<IndirectDataReference>(&e.value)) {
                w.writeVarint(ref->offset);
            }
        }
        for (const auto& e : entries) {
            if (const auto* v = std::get_if<std::string>(&e.value)) w.writeString(*v);
        }
    } else {
        const auto& entries = node.interiorEntries;
        CKPT_RETURN_IF_ERROR(writeKeys(w, entries));
        std::vector<IndirectDataReference> refs;
        refs.reserve(n);
        for (const auto& e : entries) refs.push_back(e.child.location);
        writeIndirectDataReferences(w, table, refs);
        for (const auto& e : entries) w.writeVarint(e.child.statistics.numKeys);
        for (const auto& e : entries) w.writeVarint(e.child.statistics.numTreeBytes);
        for (const auto& e : entries) w.writeVarint(e.child.statistics.numIndirectValueBytes);
    }
    return w.take();
}

Result<std::vector<std::byte>> encodeBtreeNode(const BtreeNode& node,
                                               EnvelopeCompression compression, int zstdLevel) {
    CKPT_ASSIGN_OR_RETURN(const auto body, encodeBtreeNodeBody(node));
    return encodeEnvelope(kBtreeNodeMagic, body, compression, zstdLevel);
}

}  // namespace ckpt::ocdbt
