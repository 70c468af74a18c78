// The "orbax" format: checkpoints written by orbax-checkpoint — a PyTree item directory
// (StandardCheckpointer / PyTreeCheckpointer), a step directory with named items, or a
// CheckpointManager root of steps. Layout facts: FORMAT.md beside this file.
#pragma once

#include <filesystem>
#include <memory>

#include "ckpt/core/format.h"

namespace ckpt::orbax {

std::unique_ptr<FormatReader> makeOrbaxReader();

enum class DirectoryKind { kNone, kItem, kStep, kRoot };

// What an Orbax directory is (FORMATS.md 1.5).
DirectoryKind classifyDirectory(const std::filesystem::path& dir);

// The steps of a CheckpointManager root, oldest first; unfinished saves
// (`*.orbax-checkpoint-tmp*`) are listed with complete = false.
std::vector<StepEntry> listManagerSteps(const std::filesystem::path& root);

}  // namespace ckpt::orbax
