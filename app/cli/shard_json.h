// JSON of a leaf's sharding for `ckpt shards --json` and `ckpt show --json` (inside ckpt_cli
// only: nlohmann is a private dependency of the CLI library).
#pragma once

#include <nlohmann/json.hpp>

#include "ckpt/core/sharding.h"

namespace ckpt::cli {

// {"global_shape", "shard_shape", "shard_count", "sharding": null | {"type", "mesh_shape",
// "axis_names", "device_ids", "partition_spec" (per dimension null, a name or a list of names),
// "partition_spec_text"} | {"type", "device"}, "item_processes"[, "processes", "shards": [{"start",
// "stop", "key", "stored", "process", "devices"}]], "notes"}; the shards with `withShards`.
nlohmann::ordered_json shardingJson(const LeafSharding& sharding, bool withShards);

}  // namespace ckpt::cli
