#include "formats/orbax/orbax_sharding.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "ckpt/core/keypath.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/orbax/python_json.h"
#include "io/mapped_file.h"

namespace ckpt::orbax {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::string_view kProcessPrefix = "ocdbt.process_";
// `_sharding` holds one short entry per jax.Array leaf; a larger file is not Orbax's.
constexpr std::uint64_t kMaxShardingFileBytes = std::uint64_t{1} << 30;
constexpr std::size_t kMaxMeshRank = 32;

Result<std::int64_t> positiveInt(const json& j, const std::string& what) {
    if (!j.is_number_integer() || j.get<std::int64_t>() <= 0) {
        return corruptionError(what + " is not a positive integer");
    }
    return j.get<std::int64_t>();
}

// The device ids of a nested `device_mesh.mesh` list, in C order; its nesting must be the mesh.
Status collectDeviceIds(const json& j, const Shape& meshShape, std::size_t depth,
                        std::vector<std::int64_t>& out) {
    if (depth == meshShape.size()) {
        if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer()) {
            return corruptionError("device_mesh entry is not {\"id\": N}");
        }
        out.push_back(j["id"].get<std::int64_t>());
        return okStatus();
    }
    if (!j.is_array() || j.size() != static_cast<std::size_t>(meshShape[depth])) {
        return corruptionError("device_mesh does not have the mesh shape " +
                               formatShape(meshShape));
    }
    for (const json& item : j)
        CKPT_RETURN_IF_ERROR(collectDeviceIds(item, meshShape, depth + 1, out));
    return okStatus();
}

bool allDigits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Process ids in the order a reader expects: numbers numerically, then the rest by name.
bool processLess(const std::string& a, const std::string& b) {
    const bool na = allDigits(a), nb = allDigits(b);
    if (na != nb) return na;
    if (na && a.size() != b.size()) return a.size() < b.size();
    return a < b;
}

}  // namespace

Result<MeshSharding> parseShardingEntry(std::string_view jsonText) {
    const json j = json::parse(jsonText, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return corruptionError("not a JSON object");
    const auto type = j.find("sharding_type");
    if (type == j.end() || !type->is_string()) return corruptionError("no \"sharding_type\"");
    MeshSharding out;
    out.type = type->get<std::string>();
    if (out.type == "SingleDeviceSharding") {
        const auto dev = j.find("device_str");
        if (dev == j.end() || !dev->is_string()) {
            return corruptionError("SingleDeviceSharding without a \"device_str\"");
        }
        out.device = dev->get<std::string>();
        return out;
    }
    if (out.type != "NamedSharding") {
        return unsupportedError("sharding type '" + out.type +
                                "' is not described (only NamedSharding and SingleDeviceSharding)");
    }
    const auto shape = j.find("shape");
    const auto names = j.find("axis_names");
    const auto spec = j.find("partition_spec");
    if (shape == j.end() || !shape->is_array() || shape->size() > kMaxMeshRank) {
        return corruptionError("NamedSharding \"shape\" is not a list of mesh sizes");
    }
    if (names == j.end() || !names->is_array() || names->size() != shape->size()) {
        return corruptionError("NamedSharding \"axis_names\" is not one name per mesh axis");
    }
    if (spec == j.end() || !spec->is_array() || spec->size() > kMaxMeshRank) {
        return corruptionError("NamedSharding \"partition_spec\" is not a list");
    }
    for (std::size_t i = 0; i < shape->size(); ++i) {
        CKPT_ASSIGN_OR_RETURN(std::int64_t size,
                              positiveInt((*shape)[i], "mesh size " + std::to_string(i)));
        out.meshShape.push_back(size);
        if (!(*names)[i].is_string()) return corruptionError("a mesh axis name is not a string");
        out.axisNames.push_back((*names)[i].get<std::string>());
    }
    for (const json& dim : *spec) {
        std::vector<std::string> axes;
        if (dim.is_string()) {
            axes.push_back(dim.get<std::string>());
        } else if (dim.is_array()) {
            for (const json& a : dim) {
                if (!a.is_string()) return corruptionError("a partition_spec axis is not a string");
                axes.push_back(a.get<std::string>());
            }
        } else if (!dim.is_null()) {
            return corruptionError("a partition_spec entry is not null, a name or a list of names");
        }
        out.partitionSpec.push_back(std::move(axes));
    }
    if (const auto mesh = j.find("device_mesh"); mesh != j.end() && !mesh->is_null()) {
        if (!mesh->is_object() || !mesh->contains("mesh")) {
            return corruptionError("\"device_mesh\" is not {\"mesh\": [...]}");
        }
        if (out.deviceCount() > (std::uint64_t{1} << 24)) {
            return corruptionError("mesh " + formatShape(out.meshShape) + " is too large");
        }
        CKPT_RETURN_IF_ERROR(collectDeviceIds((*mesh)["mesh"], out.meshShape, 0, out.deviceIds));
    }
    return out;
}

std::optional<std::vector<std::int64_t>> parseChunkKey(std::string_view name, std::size_t rank) {
    std::string_view rest = name;
    char sep = 0;
    if (!name.empty() && name[0] == 'c' && (name.size() == 1 || name[1] == '/' || name[1] == '.')) {
        // zarr v3 default encoding: "c", "c/1/0", "c.1.0".
        if (name.size() == 1) {
            return rank == 0 ? std::optional<std::vector<std::int64_t>>(std::vector<std::int64_t>{})
                             : std::nullopt;
        }
        sep = name[1];
        rest = name.substr(2);
    } else {
        // v2 style: "1.0", "1/0"; rank 0 is "0".
        if (rank == 0) {
            return name == "0"
                       ? std::optional<std::vector<std::int64_t>>(std::vector<std::int64_t>{})
                       : std::nullopt;
        }
        sep = rest.find('/') != std::string_view::npos ? '/' : '.';
    }
    std::vector<std::int64_t> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = std::min(rest.find(sep, start), rest.size());
        const std::string_view part = rest.substr(start, end - start);
        std::int64_t v = -1;
        const auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 0) {
            return std::nullopt;
        }
        out.push_back(v);
        if (end == rest.size()) break;
        start = end + 1;
    }
    if (out.size() != rank) return std::nullopt;
    return out;
}

std::string processOfPath(std::string_view path) {
    if (path.substr(0, kProcessPrefix.size()) != kProcessPrefix) return {};
    const std::size_t slash = path.find('/');
    if (slash == std::string_view::npos || slash == kProcessPrefix.size()) return {};
    return std::string(path.substr(kProcessPrefix.size(), slash - kProcessPrefix.size()));
}

ItemShardingIndex::ItemShardingIndex(fs::path itemDir, kv::KvStorePtr store)
    : m_itemDir(std::move(itemDir)),
      m_shardingFile(m_itemDir / "_sharding"),
      m_store(std::move(store)) {}

void ItemShardingIndex::loadSharding() const {
    std::call_once(m_shardingOnce, [this] {
        std::error_code ec;
        if (!fs::exists(m_shardingFile, ec)) return;
        m_shardingPresent = true;
        const std::string file = "'" + m_shardingFile.string() + "'";
        auto mapped = io::MappedFile::openInside(m_itemDir, m_shardingFile);
        if (!mapped.isOk()) {
            m_shardingStatus = mapped.status();
            return;
        }
        const auto bytes = (*mapped)->bytes();
        if (bytes.size() > kMaxShardingFileBytes) {
            m_shardingStatus = unsupportedError(file + " is larger than " +
                                                std::to_string(kMaxShardingFileBytes) + " bytes");
            return;
        }
        const json j =
            json::parse(reinterpret_cast<const char*>(bytes.data()),
                        reinterpret_cast<const char*>(bytes.data()) + bytes.size(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            m_shardingStatus = corruptionError(file + " is not a JSON object");
            return;
        }
        for (const auto& [key, value] : j.items()) {
            // A non-string value is kept as its JSON text: the leaf that owns it reports it.
            m_entries.emplace_back(key,
                                   value.is_string() ? value.get<std::string>() : value.dump());
        }
        std::sort(m_entries.begin(), m_entries.end());
    });
}

Result<std::optional<std::string>> ItemShardingIndex::entry(const std::string& paramName) const {
    loadSharding();
    if (!m_shardingStatus.isOk()) return m_shardingStatus;
    if (!m_shardingPresent) return std::optional<std::string>();
    const std::string key = urlsafeBase64(paramName);
    const auto it =
        std::lower_bound(m_entries.begin(), m_entries.end(), key,
                         [](const auto& e, const std::string& k) { return e.first < k; });
    if (it == m_entries.end() || it->first != key) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
}

void ItemShardingIndex::loadProcesses() const {
    std::call_once(m_processOnce, [this] {
        std::error_code ec;
        std::vector<std::pair<std::string, fs::path>> found;
        for (const auto& e : fs::directory_iterator(m_itemDir, ec)) {
            const std::string name = e.path().filename().string();
            if (name.rfind(kProcessPrefix, 0) != 0 || name.size() == kProcessPrefix.size())
                continue;
            std::error_code dirEc;
            if (!e.is_directory(dirEc)) continue;
            found.emplace_back(name.substr(kProcessPrefix.size()), e.path());
        }
        std::sort(found.begin(), found.end(),
                  [](const auto& a, const auto& b) { return processLess(a.first, b.first); });
        for (auto& [id, dir] : found) {
            auto store = ocdbt::openOcdbtStore(dir);
            if (store.isOk()) {
                m_processes.push_back({id, *store});
            } else {
                m_processProblems.push_back("process database '" + dir.string() +
                                            "' unreadable: " + store.status().toString());
            }
        }
    });
}

const std::vector<ItemShardingIndex::Process>& ItemShardingIndex::processes() const {
    loadProcesses();
    return m_processes;
}

const std::vector<std::string>& ItemShardingIndex::processProblems() const {
    loadProcesses();
    return m_processProblems;
}

namespace {

class ShardedLeafSource final : public ArraySource, public ShardedArray {
public:
    ShardedLeafSource(ArraySourcePtr inner, std::shared_ptr<const ItemShardingIndex> index,
                      std::string paramName, std::string keyPath, std::optional<Shape> writeShape)
        : m_inner(std::move(inner)),
          m_index(std::move(index)),
          m_param(std::move(paramName)),
          m_keyPath(std::move(keyPath)),
          m_writeShape(std::move(writeShape)) {}

    DType dtype() const override { return m_inner->dtype(); }
    const Shape& shape() const override { return m_inner->shape(); }
    bool metadataLoaded() const override { return m_inner->metadataLoaded(); }
    Status metadataStatus() const override { return m_inner->metadataStatus(); }
    Shape chunkShape() const override { return m_inner->chunkShape(); }
    StorageInfo storage() const override { return m_inner->storage(); }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        return m_inner->readInto(selection, out, cancel);
    }

    Result<LeafSharding> sharding(ShardDetail detail, const CancelToken* cancel) const override {
        CKPT_RETURN_IF_ERROR(m_inner->metadataStatus());
        const std::string where = "at key path " + describeKeyPathText();
        LeafSharding out;
        out.globalShape = m_inner->shape();
        const std::size_t rank = out.globalShape.size();
        out.shardShape = m_inner->chunkShape();
        if (out.shardShape.size() != rank) out.shardShape = out.globalShape;  // unchunked
        std::vector<std::int64_t> cells(rank);
        out.shardCount = 1;
        for (std::size_t d = 0; d < rank; ++d) {
            const std::int64_t block = std::max<std::int64_t>(out.shardShape[d], 1);
            cells[d] = (out.globalShape[d] + block - 1) / block;
            const auto n = static_cast<std::uint64_t>(cells[d]);
            out.shardCount =
                n != 0 && out.shardCount > UINT64_MAX / n ? UINT64_MAX : out.shardCount * n;
        }

        // Orbax records zero-length dimensions as 1 in write_shape: compare the others only.
        if (m_writeShape && m_writeShape->size() == rank &&
            std::find(out.globalShape.begin(), out.globalShape.end(), 0) == out.globalShape.end() &&
            *m_writeShape != out.shardShape) {
            out.notes.push_back("_METADATA write_shape " + formatShape(*m_writeShape) +
                                " differs from the stored chunk grid " +
                                formatShape(out.shardShape));
        }
        // The recorded jax.sharding.
        auto entry = m_index->entry(m_param);
        if (!entry.isOk()) return entry.status().withContext(where);
        if (!entry->has_value()) {
            std::error_code ec;
            out.notes.push_back(fs::exists(m_index->shardingFile(), ec)
                                    ? "no entry for '" + m_param + "' in '" +
                                          m_index->shardingFile().string() + "'"
                                    : "no _sharding file in the item");
        } else {
            auto mesh = parseShardingEntry(**entry);
            if (!mesh.isOk()) {
                return mesh.status().withContext("'" + m_index->shardingFile().string() +
                                                 "', entry '" + urlsafeBase64(m_param) + "' ('" +
                                                 m_param + "') " + where);
            }
            out.mesh = std::move(*mesh);
        }
        for (const auto& p : m_index->processes()) out.itemProcesses.push_back(p.id);
        for (const auto& problem : m_index->processProblems()) out.notes.push_back(problem);
        if (detail == ShardDetail::kSummary) return out;

        if (out.shardCount > kMaxListedShards) {
            return unsupportedError(where + ": " + std::to_string(out.shardCount) +
                                    " shards are more than the " +
                                    std::to_string(kMaxListedShards) + " a listing shows");
        }
        // Which chunks are stored, and for out-of-line OCDBT values which process database
        // holds their bytes.
        const std::string prefix = m_param.empty() ? std::string() : m_param + "/";
        struct Found {
            std::string key;
            std::string process;
        };
        std::map<std::vector<std::int64_t>, Found> stored;
        const auto addKey = [&](const std::string& key, std::string process) {
            auto idx = parseChunkKey(std::string_view(key).substr(prefix.size()), rank);
            if (!idx) return;
            for (std::size_t d = 0; d < rank; ++d) {
                if ((*idx)[d] >= cells[d]) return;
            }
            stored[std::move(*idx)] = Found{key, std::move(process)};
        };
        if (const auto* db = dynamic_cast<const ocdbt::OcdbtStore*>(m_index->store().get())) {
            auto entries = db->listEntries(prefix);
            if (!entries.isOk()) return entries.status().withContext(where);
            for (const auto& e : *entries) {
                addKey(e.key, e.isInline ? std::string() : processOfPath(e.dataFile));
            }
        } else {
            auto keys = m_index->store()->list(prefix);
            if (!keys.isOk()) return keys.status().withContext(where);
            for (const auto& key : *keys) addKey(key, {});
        }
        if (isCancelled(cancel)) return cancelledError("cancelled");
        // Values stored inline in the merged tree keep no trace of their writer there: the
        // process databases, which Orbax keeps, list the keys each process wrote.
        std::map<std::string, std::string> writer;
        for (const auto& p : m_index->processes()) {
            auto keys = p.store->list(prefix);
            if (!keys.isOk()) {
                out.notes.push_back("listing process database '" + p.id +
                                    "' failed: " + keys.status().toString());
                continue;
            }
            for (auto& key : *keys) writer.emplace(std::move(key), p.id);
        }
        const bool named = out.mesh && out.mesh->type == "NamedSharding";
        std::set<std::string, decltype(&processLess)> leafProcesses(&processLess);
        std::vector<std::int64_t> idx(rank, 0);
        for (std::uint64_t n = 0; n < out.shardCount; ++n) {
            if ((n & 1023) == 0 && isCancelled(cancel)) return cancelledError("cancelled");
            Shard shard;
            shard.index.start.resize(rank);
            shard.index.count.resize(rank);
            for (std::size_t d = 0; d < rank; ++d) {
                shard.index.start[d] = idx[d] * out.shardShape[d];
                shard.index.count[d] =
                    std::min(out.shardShape[d], out.globalShape[d] - shard.index.start[d]);
            }
            if (auto it = stored.find(idx); it != stored.end()) {
                shard.key = it->second.key;
                shard.process = it->second.process;
                if (auto w = writer.find(shard.key); w != writer.end()) shard.process = w->second;
            } else {
                shard.stored = false;
            }
            if (named) {
                auto devices = devicesHolding(*out.mesh, out.globalShape, shard.index);
                if (!devices.isOk()) {
                    return devices.status().withContext("'" + m_index->shardingFile().string() +
                                                        "' " + where);
                }
                shard.devices = std::move(*devices);
            }
            if (!shard.process.empty()) leafProcesses.insert(shard.process);
            out.shards.push_back(std::move(shard));
            for (std::size_t d = rank; d-- > 0;) {
                if (++idx[d] < cells[d]) break;
                idx[d] = 0;
            }
        }
        out.leafProcesses.assign(leafProcesses.begin(), leafProcesses.end());
        return out;
    }

private:
    std::string describeKeyPathText() const {
        auto path = parseKeyPath(m_keyPath);
        return path.isOk() ? describeKeyPath(*path) : "'" + m_keyPath + "'";
    }

    ArraySourcePtr m_inner;
    std::shared_ptr<const ItemShardingIndex> m_index;
    std::string m_param;
    std::string m_keyPath;
    std::optional<Shape> m_writeShape;
};

}  // namespace

ArraySourcePtr makeShardedLeafSource(ArraySourcePtr inner,
                                     std::shared_ptr<const ItemShardingIndex> index,
                                     std::string paramName, std::string keyPath,
                                     std::optional<Shape> writeShape) {
    return std::make_shared<ShardedLeafSource>(std::move(inner), std::move(index),
                                               std::move(paramName), std::move(keyPath),
                                               std::move(writeShape));
}

}  // namespace ckpt::orbax
