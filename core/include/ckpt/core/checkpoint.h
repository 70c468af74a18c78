// Checkpoint: an opened checkpoint — its tree plus what the format knows about it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ckpt/core/tree.h"

namespace ckpt {

// One step of a run directory (flax `checkpoint_<step>` files, Orbax step directories).
struct StepEntry {
    std::string name;             // the directory entry, e.g. "checkpoint_1000"
    std::string step;             // the step as written, e.g. "1000", "0.5"
    std::filesystem::path path;
    bool complete = true;         // false for temporary / unfinished saves
};

struct Checkpoint {
    std::string format;            // registry name: "flax", ...
    std::string layout;            // human text: "single file", "step directory", ...
    std::filesystem::path path;    // what was actually opened (a file or an item directory)
    std::filesystem::path root;    // what the caller passed
    NodePtr tree;
    std::vector<StepEntry> steps;  // for run directories; empty otherwise
    std::optional<std::string> step;  // which step `path` is, when known
    // Format facts for display ("msgpack bytes" -> "1234"), in a stable order.
    std::vector<std::pair<std::string, std::string>> properties;
    std::vector<std::string> warnings;  // partial successes worth telling the user
};

}  // namespace ckpt
