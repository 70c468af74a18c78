// `ckpt shards PATH KEYPATH`: how one leaf was sharded when it was saved (ckpt/core/sharding.h)
// — the recorded mesh and partition spec, and every shard with its index ranges, storage key,
// writing process and the devices that held it. Also the one-line sharding summary `ckpt tree`,
// `show` and `info` print. Functions over ckpt_core writing to the given streams; main.cpp only
// parses arguments.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "ckpt/core/sharding.h"
#include "commands.h"

namespace ckpt::cli {

struct ShardsArgs {
    SourceArgs source;
    std::string keyPath;
    bool json = false;
};

// 0, or 1 with the error (file and key path) on `err` — also when the leaf's sharding record is
// damaged, or the leaf is not an array of a format that records shards.
int runShards(const ShardsArgs& args, std::ostream& out, std::ostream& err);

// "P('x', None) on mesh {'x': 4}, 4 shards of (2, 6)" for a leaf split into several shards;
// nullopt otherwise, and when the record cannot be read.
std::optional<std::string> shardingSummary(const ArraySource& source);

// "[0:2, 0:6]".
std::string formatShardIndex(const Selection& index);

}  // namespace ckpt::cli
