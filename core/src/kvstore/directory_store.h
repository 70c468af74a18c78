// A KvStore over a plain directory: key "a/b/c" is the file <root>/a/b/c.
#pragma once

#include <filesystem>

#include "kvstore/kvstore.h"

namespace ckpt::kv {

// Keys may not be absolute or contain "." / ".." segments; such keys read as absent.
Result<KvStorePtr> openDirectoryStore(const std::filesystem::path& root);

}  // namespace ckpt::kv
