#include "formats/ocdbt/version_tree.h"

#include <string>

namespace ckpt::ocdbt {

namespace {

Status atEntry(const Status& s, std::size_t i) {
    return s.withContext("version " + std::to_string(i));
}

Result<std::size_t> readCount(ByteReader& r, std::size_t maxEntries) {
    CKPT_ASSIGN_OR_RETURN(const std::uint64_t n, r.readVarint64("num_entries"));
    if (n > maxEntries) {
        return r.error("num_entries",
                       std::to_string(n) + " exceeds the maximum of " + std::to_string(maxEntries));
    }
    if (n > r.remaining()) {
        return r.error("num_entries", std::to_string(n) + " entries cannot fit in the " +
                                          std::to_string(r.remaining()) + " bytes left");
    }
    return static_cast<std::size_t>(n);
}

Status readStats(ByteReader& r, std::vector<BtreeGenerationReference>& e) {
    for (std::size_t i = 0; i < e.size(); ++i) {
        auto v = r.readVarint64("num_keys");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].root.statistics.numKeys = *v;
    }
    for (std::size_t i = 0; i < e.size(); ++i) {
        auto v = r.readVarint64("num_tree_bytes");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].root.statistics.numTreeBytes = *v;
    }
    for (std::size_t i = 0; i < e.size(); ++i) {
        auto v = r.readVarint64("num_indirect_value_bytes");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].root.statistics.numIndirectValueBytes = *v;
    }
    return okStatus();
}

Status validateLeafEntries(std::uint8_t arityLog2, const std::vector<BtreeGenerationReference>& e) {
    const std::size_t maxEntries = std::size_t{1} << arityLog2;
    if (e.empty() || e.size() > maxEntries) {
        return corruptionError("version leaf holds " + std::to_string(e.size()) +
                               " versions, outside [1, " + std::to_string(maxEntries) + "]");
    }
    for (std::size_t i = 0; i < e.size(); ++i) {
        if (e[i].root.location.isMissing()) {
            if (e[i].rootHeight != 0) {
                return corruptionError("version " + std::to_string(i) +
                                       ": empty tree with non-zero root height");
            }
            if (e[i].root.statistics != BtreeNodeStatistics{}) {
                return corruptionError("version " + std::to_string(i) +
                                       ": empty tree with non-zero statistics");
            }
        }
        if (e[i].generationNumber == 0) {
            return corruptionError("version " + std::to_string(i) + ": generation number is 0");
        }
        if (i > 0 && e[i].generationNumber <= e[i - 1].generationNumber) {
            return corruptionError("version " + std::to_string(i) +
                                   ": generation numbers are not strictly increasing");
        }
    }
    // All generations of one leaf lie in [last - (last - 1) % 2^arity, last].
    const std::uint64_t last = e.back().generationNumber;
    const std::uint64_t minGen = last - (last - 1) % (std::uint64_t{1} << arityLog2);
    if (e.front().generationNumber < minGen) {
        return corruptionError("generations " + std::to_string(e.front().generationNumber) + ".." +
                               std::to_string(last) +
                               " do not fit in one version leaf (which starts at " +
                               std::to_string(minGen) + ")");
    }
    return okStatus();
}

}  // namespace

std::uint64_t VersionTreeNode::lastGenerationNumber() const {
    if (height == 0) return leafEntries.empty() ? 0 : leafEntries.back().generationNumber;
    return interiorEntries.empty() ? 0 : interiorEntries.back().generationNumber;
}

Result<std::vector<BtreeGenerationReference>> readVersionTreeLeafEntries(ByteReader& r,
                                                                         const DataFileTable& table,
                                                                         std::uint8_t arityLog2) {
    CKPT_ASSIGN_OR_RETURN(const std::size_t n, readCount(r, std::size_t{1} << arityLog2));
    std::vector<BtreeGenerationReference> e(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint64("generation_number");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].generationNumber = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readU8("root_height");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].rootHeight = *v;
    }
    CKPT_ASSIGN_OR_RETURN(auto refs,
                          readIndirectDataReferences(r, table, n, /*allowMissing=*/true));
    for (std::size_t i = 0; i < n; ++i) e[i].root.location = std::move(refs[i]);
    CKPT_RETURN_IF_ERROR(readStats(r, e));
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readU64Le("commit_time");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].commitTimeNs = *v;
    }
    CKPT_RETURN_IF_ERROR(validateLeafEntries(arityLog2, e));
    return e;
}

Result<std::vector<VersionNodeReference>> readVersionTreeInteriorEntries(
    ByteReader& r, const DataFileTable& table, std::size_t maxEntries, bool withHeight,
    std::uint8_t impliedHeight) {
    CKPT_ASSIGN_OR_RETURN(const std::size_t n, readCount(r, maxEntries));
    std::vector<VersionNodeReference> e(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint64("generation_number");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].generationNumber = *v;
    }
    CKPT_ASSIGN_OR_RETURN(auto refs,
                          readIndirectDataReferences(r, table, n, /*allowMissing=*/false));
    for (std::size_t i = 0; i < n; ++i) e[i].location = std::move(refs[i]);
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint64("num_generations");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].numGenerations = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readU64Le("commit_time");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].commitTimeNs = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (!withHeight) {
            e[i].height = impliedHeight;
            continue;
        }
        auto v = r.readU8("entry_height");
        if (!v.isOk()) return atEntry(v.status(), i);
        e[i].height = *v;
    }
    return e;
}

Status validateManifestVersionNodes(std::uint8_t arityLog2, std::uint64_t lastGeneration,
                                    const std::vector<VersionNodeReference>& e) {
    const std::uint8_t maxHeight = maxVersionTreeHeight(arityLog2);
    for (std::size_t i = 0; i < e.size(); ++i) {
        if (e[i].height == 0 || e[i].height > maxHeight) {
            return corruptionError("version node " + std::to_string(i) + ": height " +
                                   std::to_string(e[i].height) + " outside [1, " +
                                   std::to_string(maxHeight) + "]");
        }
        if (e[i].generationNumber == 0) {
            return corruptionError("version node " + std::to_string(i) +
                                   ": generation number is 0");
        }
        if (i > 0) {
            if (e[i].generationNumber <= e[i - 1].generationNumber) {
                return corruptionError("version node " + std::to_string(i) +
                                       ": generation numbers are not strictly increasing");
            }
            if (e[i].height >= e[i - 1].height) {
                return corruptionError("version node " + std::to_string(i) +
                                       ": heights are not strictly decreasing");
            }
        }
    }
    // Walk the heights the manifest may refer to, lowest first; each entry present must lie in
    // the generation range of its height (tensorstore ForEachManifestVersionTreeNodeRef).
    std::size_t i = e.size();
    std::uint64_t gen = (lastGeneration - 1) >> arityLog2 << arityLog2;
    for (unsigned height = 1; gen != 0 && i != 0; ++height) {
        const unsigned shift = (height + 1) * arityLog2;
        const std::uint64_t next = shift >= 64 ? 0 : (gen - 1) >> shift << shift;
        const std::uint64_t minGen = next + 1;
        const auto& entry = e[i - 1];
        if (entry.height == height) {
            --i;
            if (entry.generationNumber < minGen || entry.generationNumber > gen) {
                return corruptionError("version node " + std::to_string(i) + ": generation " +
                                       std::to_string(entry.generationNumber) + " is outside [" +
                                       std::to_string(minGen) + ", " + std::to_string(gen) +
                                       "] for height " + std::to_string(height));
            }
        }
        gen = next;
    }
    if (i != 0) {
        return corruptionError("version node " + std::to_string(i - 1) + " (generation " +
                               std::to_string(e[i - 1].generationNumber) + ", height " +
                               std::to_string(e[i - 1].height) +
                               ") is not expected given the latest generation " +
                               std::to_string(lastGeneration));
    }
    return okStatus();
}

Status validateVersionTreeInteriorEntries(std::uint8_t arityLog2, std::uint8_t height,
                                          const std::vector<VersionNodeReference>& e) {
    const std::size_t maxEntries = std::size_t{1} << arityLog2;
    if (e.empty() || e.size() > maxEntries) {
        return corruptionError("version node holds " + std::to_string(e.size()) +
                               " children, outside [1, " + std::to_string(maxEntries) + "]");
    }
    // height <= maxVersionTreeHeight(arity) keeps arity * height <= 63 - arity.
    const std::uint64_t stride = std::uint64_t{1} << (arityLog2 * height);
    for (std::size_t i = 0; i < e.size(); ++i) {
        const std::uint64_t g = e[i].generationNumber;
        if (g == 0) {
            return corruptionError("child " + std::to_string(i) + ": generation number is 0");
        }
        if (i > 0) {
            const std::uint64_t p = e[i - 1].generationNumber;
            if (g <= p) {
                return corruptionError("child " + std::to_string(i) +
                                       ": generation numbers are not strictly increasing");
            }
            if ((g - 1) / stride == (p - 1) / stride) {
                return corruptionError("child " + std::to_string(i) + ": generation " +
                                       std::to_string(g) + " belongs in the same child as " +
                                       std::to_string(p));
            }
        }
        // Mirrors tensorstore: a child's newest generation is a multiple of the stride.
        if (g % stride != 0) {
            return corruptionError("child " + std::to_string(i) + ": generation " +
                                   std::to_string(g) + " is not a multiple of " +
                                   std::to_string(stride));
        }
        const std::uint64_t maxGenerations = stride;
        if (e[i].numGenerations > maxGenerations) {
            return corruptionError(
                "child " + std::to_string(i) + ": " + std::to_string(e[i].numGenerations) +
                " generations exceed the maximum of " + std::to_string(maxGenerations));
        }
    }
    const std::uint64_t arity = std::uint64_t{1} << arityLog2;
    if ((e.back().generationNumber - 1) / stride / arity !=
        (e.front().generationNumber - 1) / stride / arity) {
        return corruptionError("children's generations do not fit in one version node");
    }
    return okStatus();
}

Result<VersionTreeNode> decodeVersionTreeNode(std::span<const std::byte> encoded,
                                              std::string_view transitivePath,
                                              const DecodeLimits& limits) {
    CKPT_ASSIGN_OR_RETURN(DecodedEnvelope env,
                          decodeEnvelope(encoded, kVersionTreeNodeMagic, limits.maxDecodedBytes));
    return decodeVersionTreeNodeBody(env.body, transitivePath, limits);
}

Result<VersionTreeNode> decodeVersionTreeNodeBody(std::span<const std::byte> body,
                                                  std::string_view transitivePath,
                                                  const DecodeLimits& limits) {
    ByteReader r(body);
    ExpansionBudget budget(limits.maxDecodedBytes);
    VersionTreeNode node;
    CKPT_ASSIGN_OR_RETURN(node.versionTreeArityLog2, r.readU8("version_tree_arity_log2"));
    if (node.versionTreeArityLog2 == 0 || node.versionTreeArityLog2 > kMaxVersionTreeArityLog2) {
        return corruptionError("version_tree_arity_log2 " +
                               std::to_string(node.versionTreeArityLog2) + " outside [1, " +
                               std::to_string(kMaxVersionTreeArityLog2) + "]");
    }
    CKPT_ASSIGN_OR_RETURN(node.height, r.readU8("height"));
    const std::uint8_t maxHeight = maxVersionTreeHeight(node.versionTreeArityLog2);
    if (node.height > maxHeight) {
        return corruptionError("version node height " + std::to_string(node.height) +
                               " exceeds the maximum of " + std::to_string(maxHeight));
    }
    CKPT_ASSIGN_OR_RETURN(const DataFileTable table,
                          decodeDataFileTable(r, transitivePath, budget));
    if (node.height == 0) {
        CKPT_ASSIGN_OR_RETURN(node.leafEntries,
                              readVersionTreeLeafEntries(r, table, node.versionTreeArityLog2));
    } else {
        CKPT_ASSIGN_OR_RETURN(
            node.interiorEntries,
            readVersionTreeInteriorEntries(r, table, std::size_t{1} << node.versionTreeArityLog2,
                                           /*withHeight=*/false,
                                           static_cast<std::uint8_t>(node.height - 1)));
        CKPT_RETURN_IF_ERROR(validateVersionTreeInteriorEntries(node.versionTreeArityLog2,
                                                                node.height, node.interiorEntries));
    }
    CKPT_RETURN_IF_ERROR(r.expectEnd("version node body"));
    return node;
}

Status validateVersionTreeNodeReference(const VersionTreeNode& node, std::uint8_t arityLog2,
                                        const VersionNodeReference& ref) {
    if (node.height != ref.height) {
        return corruptionError("expected a version node of height " + std::to_string(ref.height) +
                               ", found height " + std::to_string(node.height));
    }
    if (node.versionTreeArityLog2 != arityLog2) {
        return corruptionError("version node has arity log2 " +
                               std::to_string(node.versionTreeArityLog2) + ", the manifest " +
                               std::to_string(arityLog2));
    }
    if (node.lastGenerationNumber() != ref.generationNumber) {
        return corruptionError("version node ends at generation " +
                               std::to_string(node.lastGenerationNumber()) + ", expected " +
                               std::to_string(ref.generationNumber));
    }
    return okStatus();
}

void addVersionTreeFiles(DataFileTableBuilder& table,
                         std::span<const BtreeGenerationReference> leafEntries) {
    for (const auto& e : leafEntries) table.add(*e.root.location.file);
}

void addVersionTreeFiles(DataFileTableBuilder& table,
                         std::span<const VersionNodeReference> interiorEntries) {
    for (const auto& e : interiorEntries) table.add(*e.location.file);
}

void writeVersionTreeLeafEntries(ByteWriter& w, const DataFileTableBuilder& table,
                                 std::span<const BtreeGenerationReference> e) {
    w.writeVarint(e.size());
    for (const auto& v : e) w.writeVarint(v.generationNumber);
    for (const auto& v : e) w.writeU8(v.rootHeight);
    std::vector<IndirectDataReference> refs;
    refs.reserve(e.size());
    for (const auto& v : e) refs.push_back(v.root.location);
    writeIndirectDataReferences(w, table, refs);
    for (const auto& v : e) w.writeVarint(v.root.statistics.numKeys);
    for (const auto& v : e) w.writeVarint(v.root.statistics.numTreeBytes);
    for (const auto& v : e) w.writeVarint(v.root.statistics.numIndirectValueBytes);
    for (const auto& v : e) w.writeU64Le(v.commitTimeNs);
}

void writeVersionTreeInteriorEntries(ByteWriter& w, const DataFileTableBuilder& table,
                                     std::span<const VersionNodeReference> e, bool withHeight) {
    w.writeVarint(e.size());
    for (const auto& v : e) w.writeVarint(v.generationNumber);
    std::vector<IndirectDataReference> refs;
    refs.reserve(e.size());
    for (const auto& v : e) refs.push_back(v.location);
    writeIndirectDataReferences(w, table, refs);
    for (const auto& v : e) w.writeVarint(v.numGenerations);
    for (const auto& v : e) w.writeU64Le(v.commitTimeNs);
    if (withHeight) {
        for (const auto& v : e) w.writeU8(v.height);
    }
}

Result<std::vector<std::byte>> encodeVersionTreeNodeBody(const VersionTreeNode& node) {
    const std::uint8_t arity = node.versionTreeArityLog2;
    if (arity == 0 || arity > kMaxVersionTreeArityLog2) {
        return invalidArgumentError("version_tree_arity_log2 " + std::to_string(arity) +
                                    " outside [1, " + std::to_string(kMaxVersionTreeArityLog2) +
                                    "]");
    }
    if (node.height > maxVersionTreeHeight(arity)) {
        return invalidArgumentError("version node height " + std::to_string(node.height) +
                                    " exceeds the maximum");
    }
    if (node.height == 0) {
        const Status s = validateLeafEntries(arity, node.leafEntries);
        if (!s.isOk()) return invalidArgumentError(s.message());
    } else {
        const Status s =
            validateVersionTreeInteriorEntries(arity, node.height, node.interiorEntries);
        if (!s.isOk()) return invalidArgumentError(s.message());
    }
    ByteWriter w;
    w.writeU8(arity);
    w.writeU8(node.height);
    DataFileTableBuilder table;
    if (node.height == 0) {
        addVersionTreeFiles(table, node.leafEntries);
    } else {
        addVersionTreeFiles(table, node.interiorEntries);
    }
    CKPT_RETURN_IF_ERROR(table.finalize(w));
    if (node.height == 0) {
        writeVersionTreeLeafEntries(w, table, node.leafEntries);
    } else {
        writeVersionTreeInteriorEntries(w, table, node.interiorEntries, /*withHeight=*/false);
    }
    return w.take();
}

Result<std::vector<std::byte>> encodeVersionTreeNode(const VersionTreeNode& node,
                                                     EnvelopeCompression compression,
                                                     int zstdLevel) {
    CKPT_ASSIGN_OR_RETURN(const auto body, encodeVersionTreeNodeBody(node));
    return encodeEnvelope(kVersionTreeNodeMagic, body, compression, zstdLevel);
}

}  // namespace ckpt::ocdbt
