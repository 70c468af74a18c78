// Flax msgpack: the byte codec between a pytree and the bytes that flax.serialization writes.
//
// Pure apart from the ByteSink it writes to: decoding works on a byte span (a mapped file or a
// test buffer) and returns a tree whose array sources point into that span, kept alive by
// `owner`. FORMAT.md beside this file describes the layout.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ckpt/core/format.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt::flax {

// Flax's chunking threshold (flax.serialization.MAX_CHUNK_SIZE).
inline constexpr std::uint64_t kFlaxMaxChunkBytes = 1ULL << 30;
inline constexpr std::string_view kChunkedArrayKey = "__msgpack_chunked_array__";

// Decodes a whole flax msgpack document. `sourceName` (the file path) starts every error message;
// errors name the key path. Array leaves read lazily from `bytes`, which `owner` keeps alive.
// `release`, when given (for memory-mapped input), is called with stretches of `bytes` a large
// array read has copied out, so that their pages leave the process (io::MappedFile::dropPages).
using ReleaseFn = std::function<void(std::span<const std::byte>)>;
Result<NodePtr> decodeFlaxTree(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                               std::string_view sourceName, ReleaseFn release = {});

class ByteSink {
public:
    virtual ~ByteSink() = default;
    virtual Status write(std::span<const std::byte> bytes) = 0;
};

// Encodes `root` as flax.serialization.msgpack_serialize would (see WriteOptions for the
// sequence encoding and the chunking threshold), pulling array data from each leaf's source.
Status encodeFlaxTree(const NodePtr& root, ByteSink& sink, const WriteOptions& options);

}  // namespace ckpt::flax
