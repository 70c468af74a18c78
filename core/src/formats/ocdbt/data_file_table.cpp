#include "formats/ocdbt/data_file_table.h"

#include <algorithm>

namespace ckpt::ocdbt {

namespace {

std::size_t common(std::string_view a, std::string_view b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
}

Status atIndex(const Status& s, std::string_view column, std::uint64_t i) {
    return s.withContext(std::string(column) + "[" + std::to_string(i) + "]");
}

}  // namespace

Result<DataFileTable> decodeDataFileTable(ByteReader& r, std::string_view transitivePath,
                                          ExpansionBudget& budget) {
    if (transitivePath.size() > kMaxPathLength) {
        return corruptionError("data file table: transitive path of " +
                               std::to_string(transitivePath.size()) + " bytes is too long");
    }
    const std::size_t maxPathLength = kMaxPathLength - transitivePath.size();
    CKPT_ASSIGN_OR_RETURN(const std::uint64_t numFiles,
                          r.readVarint64("data file table: num_files"));
    // Each file has at least a suffix-length and a base-length byte.
    if (numFiles > r.remaining() / 2) {
        return r.error("data file table: num_files",
                       std::to_string(numFiles) + " files cannot fit in the " +
                           std::to_string(r.remaining()) + " bytes left");
    }
    const auto n = static_cast<std::size_t>(numFiles);
    std::vector<std::uint16_t> prefixLen(n, 0), suffixLen(n, 0), baseLen(n, 0);
    for (std::size_t i = 1; i < n; ++i) {
        auto v = r.readVarint16("data file table");
        if (!v.isOk()) return atIndex(v.status(), "path_prefix_length", i);
        prefixLen[i] = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint16("data file table");
        if (!v.isOk()) return atIndex(v.status(), "path_suffix_length", i);
        suffixLen[i] = *v;
    }
    for (std::size_t i = 0; i < n; ++i) {
        auto v = r.readVarint16("data file table");
        if (!v.isOk()) return atIndex(v.status(), "base_path_length", i);
        baseLen[i] = *v;
        const std::size_t pathLen = std::size_t{prefixLen[i]} + suffixLen[i];
        if (pathLen > maxPathLength) {
            return corruptionError("data file table: path " + std::to_string(i) + " of " +
                                   std::to_string(pathLen) + " bytes exceeds " +
                                   std::to_string(maxPathLength));
        }
        if (baseLen[i] > pathLen) {
            return corruptionError("data file table: base_path_length[" + std::to_string(i) +
                                   "] = " + std::to_string(baseLen[i]) + " exceeds path length " +
                                   std::to_string(pathLen));
        }
        // The shared prefix may run into the relative part only when both base paths have the
        // same length (the encoder only does so when they are equal).
        if (i > 0 && prefixLen[i] > std::min(baseLen[i - 1], baseLen[i]) &&
            baseLen[i] != baseLen[i - 1]) {
            return corruptionError("data file table: path_prefix_length[" + std::to_string(i) +
                                   "] = " + std::to_string(prefixLen[i]) +
                                   " runs past a base path of different length");
        }
    }
    DataFileTable table;
    table.reserve(n);
    std::string prev;
    for (std::size_t i = 0; i < n; ++i) {
        if (prefixLen[i] > prev.size()) {
            return corruptionError("data file table: path_prefix_length[" + std::to_string(i) +
                                   "] = " + std::to_string(prefixLen[i]) +
                                   " exceeds the previous path's length " +
                                   std::to_string(prev.size()));
        }
        auto suffix = r.readString(suffixLen[i], "data file table: path_suffix");
        if (!suffix.isOk()) return atIndex(suffix.status(), "path_suffix", i);
        std::string path = prev.substr(0, prefixLen[i]);
        path.append(*suffix);
        CKPT_RETURN_IF_ERROR(budget.take(transitivePath.size() + path.size(), "data file table"));
        auto id = std::make_shared<DataFileId>();
        id->basePath.reserve(transitivePath.size() + baseLen[i]);
        id->basePath.append(transitivePath);
        id->basePath.append(path, 0, baseLen[i]);
        id->relativePath = path.substr(baseLen[i]);
        table.push_back(std::move(id));
        prev = std::move(path);
    }
    return table;
}

Result<DataFileIdPtr> readDataFileId(ByteReader& r, const DataFileTable& table,
                                     std::string_view what) {
    const std::size_t start = r.position();
    CKPT_ASSIGN_OR_RETURN(const std::uint64_t index, r.readVarint64(what));
    if (index >= table.size()) {
        return corruptionError(std::string(what) + " at byte " + std::to_string(start) +
                               ": data file index " + std::to_string(index) +
                               " is outside the table of " + std::to_string(table.size()) +
                               " files");
    }
    return table[static_cast<std::size_t>(index)];
}

Result<std::vector<IndirectDataReference>> readIndirectDataReferences(ByteReader& r,
                                                                      const DataFileTable& table,
                                                                      std::size_t count,
                                                                      bool allowMissing) {
    // Three varints per reference.
    if (count > r.remaining() / 3) {
        return r.error("references", std::to_string(count) + " references cannot fit in the " +
                                         std::to_string(r.remaining()) + " bytes left");
    }
    std::vector<IndirectDataReference> refs(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto f = readDataFileId(r, table, "data_file_id");
        if (!f.isOk()) return atIndex(f.status(), "reference", i);
        refs[i].file = std::move(*f);
    }
    for (std::size_t i = 0; i < count; ++i) {
        auto v = r.readVarint64("data_file_offset");
        if (!v.isOk()) return atIndex(v.status(), "reference", i);
        refs[i].offset = *v;
    }
    for (std::size_t i = 0; i < count; ++i) {
        auto v = r.readVarint64("data_file_length");
        if (!v.isOk()) return atIndex(v.status(), "reference", i);
        refs[i].length = *v;
    }
    for (std::size_t i = 0; i < count; ++i) {
        const auto& ref = refs[i];
        if (allowMissing && ref.isMissing()) continue;
        if (ref.offset > IndirectDataReference::kMissing - ref.length) {
            return corruptionError("reference[" + std::to_string(i) + "]: offset " +
                                   std::to_string(ref.offset) + " + length " +
                                   std::to_string(ref.length) + " overflows");
        }
    }
    return refs;
}

void DataFileTableBuilder::add(const DataFileId& id) {
    m_files.emplace(std::make_pair(id.basePath, id.relativePath), 0);
}

Status DataFileTableBuilder::finalize(ByteWriter& w) {
    w.writeVarint(m_files.size());
    if (m_files.empty()) return okStatus();
    std::vector<std::size_t> prefixLen;
    prefixLen.reserve(m_files.size());
    const std::pair<std::string, std::string>* prev = nullptr;
    std::uint64_t index = 0;
    for (auto& [id, slot] : m_files) {
        if (id.first.size() + id.second.size() > kMaxPathLength) {
            return invalidArgumentError("data file path '" + id.first + id.second +
                                        "' is longer than " + std::to_string(kMaxPathLength) +
                                        " bytes");
        }
        slot = index++;
        std::size_t n = 0;
        if (prev) {
            n = common(prev->first, id.first);
            if (prev->first.size() == id.first.size() && n == id.first.size()) {
                n += common(prev->second, id.second);
            }
            w.writeVarint(n);
        }
        prefixLen.push_back(n);
        prev = &id;
    }
    std::size_t i = 0;
    for (const auto& [id, slot] : m_files) {
        w.writeVarint(id.first.size() + id.second.size() - prefixLen[i++]);
    }
    for (const auto& [id, slot] : m_files) w.writeVarint(id.first.size());
    i = 0;
    for (const auto& [id, slot] : m_files) {
        const std::size_t n = prefixLen[i++];
        const std::size_t fromBase = std::min(n, id.first.size());
        w.writeString(std::string_view(id.first).substr(fromBase));
        w.writeString(std::string_view(id.second).substr(n - fromBase));
    }
    return okStatus();
}

std::uint64_t DataFileTableBuilder::indexOf(const DataFileId& id) const {
    const auto it = m_files.find(std::make_pair(id.basePath, id.relativePath));
    return it == m_files.end() ? 0 : it->second;
}

void writeIndirectDataReferences(ByteWriter& w, const DataFileTableBuilder& table,
                                 std::span<const IndirectDataReference> refs) {
    for (const auto& ref : refs) w.writeVarint(table.indexOf(*ref.file));
    for (const auto& ref : refs) w.writeVarint(ref.offset);
    for (const auto& ref : refs) w.writeVarint(ref.length);
}

}  // namespace ckpt::ocdbt
