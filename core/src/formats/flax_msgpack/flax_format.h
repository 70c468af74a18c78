// The "flax" format: legacy Flax msgpack checkpoints, as single files or as a directory of
// `checkpoint_<step>` files written by flax.training.checkpoints.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/format.h"

namespace ckpt::flax {

std::unique_ptr<FormatReader> makeFlaxReader();
std::unique_ptr<FormatWriter> makeFlaxWriter();

// flax.training.checkpoints.natural_sort: numeric substrings (signed floats) compare as numbers.
bool naturalLess(std::string_view a, std::string_view b);

// The `checkpoint_<step>` entries of `dir`, naturally sorted oldest first, as
// flax.training.checkpoints._all_checkpoints lists them (no `<prefix>tmp`, `*_gda` or
// `*.orbax-checkpoint-tmp*`).
Result<std::vector<StepEntry>> listFlaxSteps(const std::filesystem::path& dir,
                                             std::string_view prefix = "checkpoint_");

}  // namespace ckpt::flax
