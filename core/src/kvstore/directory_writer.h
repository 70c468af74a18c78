// A KvWriter over a plain directory: key "a/b/c" becomes the file <root>/a/b/c.
//
// put() creates parent directories and writes the file (never replacing an existing file);
// commit() fsyncs every written file and every directory that gained an entry, so after an OK
// commit the whole set is durable. The writer is meant for a fresh staging directory that the
// caller renames into place (house rule: never edit in place); it does not make the individual
// files atomic. Not thread-safe (see KvWriter).
#pragma once

#include <filesystem>
#include <memory>

#include "kvstore/kv_writer.h"

namespace ckpt::kv {

// Opens (creating it and its parents if needed) the directory `root` for writing.
// Keys must be relative '/'-separated paths without empty, "." or ".." segments and without
// NUL bytes; put() rejects others as InvalidArgument. A key whose file already exists on disk
// is AlreadyExists; a key put twice through this writer is InvalidArgument.
Result<std::unique_ptr<KvWriter>> openDirectoryWriter(const std::filesystem::path& root);

}  // namespace ckpt::kv
