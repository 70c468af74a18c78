#include "shard_commands.h"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"
#include "shard_json.h"

namespace ckpt::cli {

namespace {

int fail(std::ostream& err, const Status& status) {
    err << "ckpt: " << status.toString() << "\n";
    return 1;
}

template <typename T>
std::string joined(const std::vector<T>& items, const char* sep = ", ") {
    std::ostringstream out;
    for (std::size_t i = 0; i < items.size(); ++i) out << (i ? sep : "") << items[i];
    return out.str();
}

}  // namespace

std::string formatShardIndex(const Selection& index) {
    std::string out = "[";
    for (std::size_t d = 0; d < index.start.size(); ++d) {
        if (d) out += ", ";
        out +=
            std::to_string(index.start[d]) + ":" + std::to_string(index.start[d] + index.count[d]);
    }
    return out + "]";
}

std::optional<std::string> shardingSummary(const ArraySource& source) {
    const ShardedArray* sharded = shardingOf(source);
    if (!sharded || !source.metadataStatus().isOk()) return std::nullopt;
    // Only split leaves are worth a mention; deciding that from the chunk grid first spares
    // reading `_sharding` (one entry per leaf of a large checkpoint) for a plain tree listing.
    const Shape& shape = source.shape();
    const Shape chunks = source.chunkShape();
    bool split = false;
    for (std::size_t d = 0; d < shape.size() && d < chunks.size(); ++d) {
        split = split || (chunks[d] > 0 && chunks[d] < shape[d]);
    }
    if (!split) return std::nullopt;
    auto s = sharded->sharding(ShardDetail::kSummary);
    if (!s.isOk()) return std::nullopt;
    std::string out;
    if (s->mesh && s->mesh->type == "NamedSharding") {
        out = s->mesh->partitionSpecText() + " on mesh " + s->mesh->meshText() + ", ";
    } else if (s->mesh) {
        out = s->mesh->type + (s->mesh->device.empty() ? "" : " " + s->mesh->device) + ", ";
    }
    out += std::to_string(s->shardCount) + (s->shardCount == 1 ? " shard" : " shards");
    if (!s->shardShape.empty()) out += " of " + formatShape(s->shardShape);
    return out;
}

namespace {

nlohmann::ordered_json meshJson(const MeshSharding& mesh) {
    using oj = nlohmann::ordered_json;
    oj j = {{"type", mesh.type}};
    if (mesh.type == "NamedSharding") {
        j["mesh_shape"] = mesh.meshShape;
        j["axis_names"] = mesh.axisNames;
        j["device_ids"] = mesh.deviceIds;
        oj spec = oj::array();
        for (const auto& axes : mesh.partitionSpec) {
            if (axes.empty()) {
                spec.push_back(nullptr);
            } else if (axes.size() == 1) {
                spec.push_back(axes[0]);
            } else {
                spec.push_back(axes);
            }
        }
        j["partition_spec"] = std::move(spec);
        j["partition_spec_text"] = mesh.partitionSpecText();
    } else {
        j["device"] = mesh.device;
    }
    return j;
}

}  // namespace

nlohmann::ordered_json shardingJson(const LeafSharding& s, bool withShards) {
    using oj = nlohmann::ordered_json;
    oj j = {{"global_shape", s.globalShape},
            {"shard_shape", s.shardShape},
            {"shard_count", s.shardCount},
            {"sharding", s.mesh ? meshJson(*s.mesh) : oj()},
            {"item_processes", s.itemProcesses}};
    if (withShards) {
        j["processes"] = s.leafProcesses;
        oj shards = oj::array();
        for (const Shard& shard : s.shards) {
            std::vector<std::int64_t> stop(shard.index.start.size());
            for (std::size_t d = 0; d < stop.size(); ++d) {
                stop[d] = shard.index.start[d] + shard.index.count[d];
            }
            shards.push_back({{"start", shard.index.start},
                              {"stop", stop},
                              {"key", shard.stored ? oj(shard.key) : oj()},
                              {"stored", shard.stored},
                              {"process", shard.process.empty() ? oj() : oj(shard.process)},
                              {"devices", shard.devices}});
        }
        j["shards"] = std::move(shards);
    }
    j["notes"] = s.notes;
    return j;
}

int runShards(const ShardsArgs& args, std::ostream& out, std::ostream& err) {
    OpenOptions options;
    options.step = args.source.step;
    auto ckpt = openCheckpoint(args.source.path, options, args.source.format);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    auto path = parseKeyPath(args.keyPath);
    if (!path.isOk()) return fail(err, path.status());
    auto node = findNode(ckpt->tree, *path);
    if (!node.isOk()) return fail(err, node.status().withContext(ckpt->path.string()));
    const std::string where = ckpt->path.string() + ": " + describeKeyPath(*path);
    if ((*node)->kind() != NodeKind::kArray) {
        return fail(err, invalidArgumentError(where + " is a " +
                                              std::string(nodeKindName((*node)->kind())) +
                                              ", not an array"));
    }
    const ArraySource& source = *(*node)->array();
    const ShardedArray* sharded = shardingOf(source);
    if (!sharded) {
        return fail(err, unsupportedError(where + ": the " + ckpt->format +
                                          " format records no shards for this array"));
    }
    auto s = sharded->sharding(ShardDetail::kFull);
    if (!s.isOk()) return fail(err, s.status().withContext(ckpt->path.string()));

    if (args.json) {
        nlohmann::ordered_json j = {{"keypath", args.keyPath},
                                    {"dtype", std::string(dtypeName(source.dtype()))}};
        j.update(shardingJson(*s, true));
        out << j.dump() << "\n";
        return 0;
    }
    out << args.keyPath << ": " << dtypeName(source.dtype()) << " " << formatShape(s->globalShape)
        << "\n";
    if (s->mesh) {
        out << "sharding  " << s->mesh->type;
        if (s->mesh->type == "NamedSharding") {
            out << " " << s->mesh->partitionSpecText() << " on mesh " << s->mesh->meshText();
            if (!s->mesh->deviceIds.empty()) out << ", devices " << joined(s->mesh->deviceIds);
        } else if (!s->mesh->device.empty()) {
            out << " on " << s->mesh->device;
        }
        out << "\n";
    } else {
        out << "sharding  not recorded\n";
    }
    out << "shards    " << s->shardCount << " of " << formatShape(s->shardShape);
    if (!s->leafProcesses.empty()) {
        out << ", written by process" << (s->leafProcesses.size() == 1 ? " " : "es ")
            << joined(s->leafProcesses);
    }
    if (!s->itemProcesses.empty())
        out << " (the item has " << s->itemProcesses.size()
            << (s->itemProcesses.size() == 1 ? " process)" : " processes)");
    out << "\n";
    std::size_t width = 5;
    for (const Shard& shard : s->shards)
        width = std::max(width, formatShardIndex(shard.index).size());
    out << std::left << std::setw(static_cast<int>(width) + 2) << "index" << std::setw(9)
        << "process" << std::setw(18) << "devices"
        << "key\n";
    for (const Shard& shard : s->shards) {
        out << std::setw(static_cast<int>(width) + 2) << formatShardIndex(shard.index)
            << std::setw(9) << (shard.process.empty() ? "?" : shard.process) << std::setw(18)
            << (shard.devices.empty() ? "-" : joined(shard.devices, ","))
            << (shard.stored ? shard.key : "(not stored: fill value)") << "\n";
    }
    out << std::right;
    for (const auto& note : s->notes) out << "note: " << note << "\n";
    return 0;
}

}  // namespace ckpt::cli
