// Writes a pytree as an Orbax checkpoint that orbax-checkpoint restores unchanged:
// a PyTree item directory (StandardCheckpointer layout: _METADATA, OCDBT + zarr v2 arrays,
// _strings.json, _sharding, _CHECKPOINT_METADATA), committed the way Orbax commits
// (temporary directory, commit_success.txt, rename).
#pragma once

#include <memory>

#include "ckpt/core/format.h"

namespace ckpt::orbax {

std::unique_ptr<FormatWriter> makeOrbaxWriter();

}  // namespace ckpt::orbax
