// Orbax sharding records: the `_sharding` file, the per-process OCDBT databases
// (`ocdbt.process_<id>/`) and the shard grid of each jax.Array leaf (ckpt/core/sharding.h).
//
// An item's leaves share one ItemShardingIndex, which reads `_sharding` and opens the process
// databases the first time a leaf is asked for its sharding — never at open, and a failure only
// reaches the leaf that asks. Layout facts: FORMAT.md beside this file.
//
// Thread-safety: every const member may be called from several threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/sharding.h"
#include "ckpt/core/status.h"
#include "kvstore/kvstore.h"

namespace ckpt::orbax {

// Parses one `_sharding` value (itself JSON text: {"sharding_type": "NamedSharding", "shape",
// "axis_names", "partition_spec", "device_mesh": {"mesh": nested [{"id": N}]}, ...} or
// {"sharding_type": "SingleDeviceSharding", "device_str"}). Corruption for anything else; the
// message says which field (the caller adds the file and the key path).
Result<MeshSharding> parseShardingEntry(std::string_view jsonText);

// The grid indices of a zarr chunk key relative to the array's prefix ("1.0", "1/0", "c/1/0",
// "c.1.0"; rank 0: "0" or "c"), or nullopt when `name` is not a chunk key of that rank.
std::optional<std::vector<std::int64_t>> parseChunkKey(std::string_view name, std::size_t rank);

// The process id in a path inside an Orbax item: "ocdbt.process_3/d/ab…" gives "3"; empty when
// the path is not inside a process database.
std::string processOfPath(std::string_view path);

// What the leaves of one item share: where `_sharding` is and the item's stores.
class ItemShardingIndex {
public:
    // `store`: the item's merged store (OCDBT or directory) the leaves read from.
    ItemShardingIndex(std::filesystem::path itemDir, kv::KvStorePtr store);

    // The raw `_sharding` value for a param name: nullopt when the file or the entry is absent;
    // an error (naming the file) when the file is not a JSON object of strings.
    Result<std::optional<std::string>> entry(const std::string& paramName) const;
    const std::filesystem::path& shardingFile() const { return m_shardingFile; }
    const kv::KvStorePtr& store() const { return m_store; }

    // Every `ocdbt.process_<id>` database of the item, by id (numeric ids in numeric order);
    // those that could not be opened are left out and described in `problems`.
    struct Process {
        std::string id;
        kv::KvStorePtr store;
    };
    const std::vector<Process>& processes() const;
    const std::vector<std::string>& processProblems() const;

private:
    void loadSharding() const;
    void loadProcesses() const;

    std::filesystem::path m_itemDir;
    std::filesystem::path m_shardingFile;
    kv::KvStorePtr m_store;

    mutable std::once_flag m_shardingOnce;
    mutable Status m_shardingStatus;
    mutable bool m_shardingPresent = false;
    mutable std::vector<std::pair<std::string, std::string>> m_entries;  // sorted by b64 key

    mutable std::once_flag m_processOnce;
    mutable std::vector<Process> m_processes;
    mutable std::vector<std::string> m_processProblems;
};

// Wraps an Orbax jax.Array leaf's array source (forwarding every ArraySource member) and
// describes its sharding. `keyPath` names the leaf in messages; `writeShape` is `_METADATA`'s
// record of the shard shape, when written (a difference from the chunk grid becomes a note).
ArraySourcePtr makeShardedLeafSource(ArraySourcePtr inner,
                                     std::shared_ptr<const ItemShardingIndex> index,
                                     std::string paramName, std::string keyPath,
                                     std::optional<Shape> writeShape = std::nullopt);

}  // namespace ckpt::orbax
