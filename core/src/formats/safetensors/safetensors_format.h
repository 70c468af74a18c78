// The "safetensors" format: Hugging Face safetensors files (one file, or a sharded set opened
// through its `*.safetensors.index.json`). Byte layout and flattening rules: FORMAT.md.
#pragma once

#include <memory>

#include "ckpt/core/format.h"

namespace ckpt::safetensors {

// The __metadata__ key under which our writer records the exact tree structure.
inline constexpr const char* kStructureKey = "ckpt_studio.tree";

std::unique_ptr<FormatReader> makeSafetensorsReader();
std::unique_ptr<FormatWriter> makeSafetensorsWriter();

}  // namespace ckpt::safetensors
