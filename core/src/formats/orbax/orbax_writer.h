// Writes a pytree as an Orbax checkpoint that orbax-checkpoint restores unchanged:
// a PyTree item directory (StandardCheckpointer layout: _METADATA, OCDBT + zarr v2 arrays,
// _strings.json, _sharding, _CHECKPOINT_METADATA), committed the way Orbax commits
// (temporary directory, commit_success.txt, rename).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ckpt/core/format.h"

namespace ckpt::orbax {

std::unique_ptr<FormatWriter> makeOrbaxWriter();

// An item JsonCheckpointHandler writes: `<step>/<name>/<fileName>` holding `text` (user items use
// the file name "metadata"; CheckpointManager's metrics item is "metrics/metrics").
struct JsonItem {
    std::string name;
    std::string fileName;
    std::string text;
};

// One CheckpointManager step as Orbax commits it: every item is written into
// `<stepDir>.orbax-checkpoint-tmp` (PyTree items as StandardCheckpointHandler directories, JSON
// items as JsonCheckpointHandler files), then `_CHECKPOINT_METADATA` naming each item's handler,
// `commit_success.txt`, and one rename to `stepDir`. A crash leaves only the temporary directory,
// which neither Orbax nor listManagerSteps counts as a step. Progress covers the tree items' bytes.
Status writeManagerStep(const std::filesystem::path& stepDir,
                        const std::vector<std::pair<std::string, NodePtr>>& trees,
                        const std::vector<JsonItem>& jsonItems, const WriteOptions& options);

// Deletes a committed step so that no reader ever lists it half deleted: it is renamed to a
// temporary name (`<step>.orbax-checkpoint-tmp-deleting-<ns>`) first, then removed. A crash
// between the two leaves a temporary directory, which Orbax's tmp cleanup and our next retention
// pass (finishInterruptedDeletions) remove.
Status deleteStep(const std::filesystem::path& stepDir);

// deleteStep's first half: the rename (durable, instant). Returns the temporary path to remove,
// or an empty path when `stepDir` does not exist.
Result<std::filesystem::path> detachStep(const std::filesystem::path& stepDir);

// Whether `path` is named as detachStep names a step (`<step>.orbax-checkpoint-tmp-deleting-<ns>`).
bool isDetachedStep(const std::filesystem::path& path);

// Finishes the deletions a crash interrupted: removes every `<step>.orbax-checkpoint-tmp-deleting-
// <ns>` directly under `root` (a deletion is decided once the step is renamed; finishing it is
// always right). Called before retention deletes more steps; errors are ignored (best effort).
void finishInterruptedDeletions(const std::filesystem::path& root);

}  // namespace ckpt::orbax
