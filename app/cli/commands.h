// The `ckpt` commands, as functions over ckpt_core that write to the given streams and return
// the process exit status (0 success, 1 failure). main.cpp only parses arguments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ckpt/core/format.h"

namespace ckpt::cli {

struct SourceArgs {
    std::filesystem::path path;
    std::string format;               // empty = detect
    std::optional<std::string> step;  // run directories: which step
};

struct InfoArgs {
    SourceArgs source;
    bool json = false;
};

struct TreeArgs {
    SourceArgs source;
    bool json = false;
    // --sizes: per-node parameters, memory, on-disk bytes and share of the on-disk total; in
    // JSON a "rollup" object on every node.
    bool sizes = false;
    // --filter: only the nodes whose key path matches, their ancestors and the matched subtrees;
    // substring (ignoring case) unless --glob or --regex.
    std::optional<std::string> filter = std::nullopt;
    bool glob = false;
    bool regex = false;
};

struct ShowArgs {
    SourceArgs source;
    std::string keyPath;
    bool json = false;
    std::optional<std::uint64_t> maxValues;  // JSON: at most this many values
};

struct CatArgs {
    SourceArgs source;
    std::string keyPath;
    // Re-sharded read: only the block that process `processIndex` of `processCount` holds when
    // the array is split along `axis` (ckpt::processBlock).
    std::optional<std::int64_t> processIndex;
    std::optional<std::int64_t> processCount;
    std::size_t axis = 0;
};

// Writer options shared by `convert` and `apply` (see ckpt::WriteOptions).
struct WriterArgs {
    bool overwrite = false;
    std::optional<std::string> writeStep;
    int keep = 0;
    std::optional<double> keepEveryNSteps;
    std::string flaxSequences = "state-dict";
    std::uint64_t flaxMaxChunkBytes = 1ULL << 30;
    int orbaxZarr = 3;
    bool orbaxNoOcdbt = false;
    std::optional<std::uint64_t> orbaxChunkBytes;
    std::string hdf5Compression = "zstd";  // --hdf5-compression
};

struct ConvertArgs : WriterArgs {
    SourceArgs source;
    std::filesystem::path target;
    std::string to;
    std::vector<std::string> subtrees;
    // A multi-process Orbax save (ckpt/core/sharded_writer.h): this process's part.
    std::optional<int> processIndex;
    std::optional<int> processCount;
    std::string saveId;
    int shardAxis = 0;
    double barrierTimeoutSeconds = 300;
};

// `ckpt apply RECIPE SRC DST`: the recipe's edits applied in memory, then written like convert.
struct ApplyArgs : WriterArgs {
    std::filesystem::path recipe;
    SourceArgs source;
    std::filesystem::path target;
    std::string to;  // empty = the source's format
    // --reference: the tree that "reference" add steps (ckpt conform's fills) take nodes from.
    std::optional<std::filesystem::path> reference;
    std::optional<std::string> referenceStep;
};

int runInfo(const InfoArgs& args, std::ostream& out, std::ostream& err);
int runTree(const TreeArgs& args, std::ostream& out, std::ostream& err);
int runShow(const ShowArgs& args, std::ostream& out, std::ostream& err);
int runCat(const CatArgs& args, std::ostream& out, std::ostream& err);
int runConvert(const ConvertArgs& args, std::ostream& out, std::ostream& err);
// Exit 1 without writing anything when the recipe does not parse or a step fails (the message
// names the step), or when DST is SRC, inside it, or (without --write-step) a parent of it.
int runApply(const ApplyArgs& args, std::ostream& out, std::ostream& err);

// Shared by the commands that write (convert, apply, conform).
WriteOptions writeOptionsFrom(const WriterArgs& args);
// `inner` is `outer` or somewhere below it (both made absolute and normalised).
bool isSameOrInside(const std::filesystem::path& inner, const std::filesystem::path& outer);

}  // namespace ckpt::cli
