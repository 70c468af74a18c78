// Format readers and writers behind one registry.
//
// Adding a format means adding a FormatReader/FormatWriter pair under core/src/formats/<name>/
// and registering it in format_registry.cpp; the CLI and GUI discover formats from here.
// Readers and writers are stateless and thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/checkpoint.h"
#include "ckpt/core/status.h"

namespace ckpt {

struct OpenOptions {
    // For run directories: which step to open (as written, "1000"); default the latest.
    std::optional<std::string> step;
};

struct WriteOptions {
    // Replace an existing target (the new data is written beside it and swapped in).
    bool overwrite = false;
    // Run-directory writes (flax `checkpoint_<step>`, an Orbax CheckpointManager root): the step
    // to write; the target is then the directory. `keep` keeps that many newest checkpoints
    // (0 = keep all; Orbax's max_to_keep); `keepEveryNSteps` additionally keeps old ones spaced
    // that far apart (flax's keep_every_n_steps, Orbax's keep_period).
    std::optional<std::string> step;
    int keep = 0;
    std::optional<double> keepEveryNSteps;
    std::string prefix = "checkpoint_";
    // Flax msgpack: how lists and tuples are stored ("state-dict": maps keyed "0","1",… as
    // flax.serialization.to_state_dict writes them; "array": msgpack arrays).
    std::string sequenceEncoding = "state-dict";
    // Flax msgpack: arrays larger than this are split into flax's chunked form (flax: 2^30).
    std::uint64_t maxChunkBytes = 1ULL << 30;
    // Orbax: zarr format of the arrays (3, or 2 as orbax's v0 API writes by default) and whether
    // they live in one OCDBT database (Orbax's default since 2023) or one directory per array.
    int orbaxZarrVersion = 3;
    bool orbaxOcdbt = true;
    // Orbax: arrays larger than this are split into zarr chunks of at most this many bytes (as
    // Orbax's `chunk_byte_size` does), so no chunk of a huge array is built in memory whole.
    std::uint64_t orbaxMaxChunkBytes = std::uint64_t{64} << 20;
    // HDF5: compression of chunked datasets: "zstd" (filter 32015, as hdf5plugin), "gzip" or
    // "none"; shuffle is added before zstd/gzip for multi-byte dtypes.
    std::string hdf5Compression = "zstd";

    ProgressFn progress;
    const CancelToken* cancel = nullptr;
};

class FormatReader {
public:
    virtual ~FormatReader() = default;
    virtual std::string_view name() const = 0;
    // How sure the reader is that `path` is its format: 0 = not at all, higher = surer.
    virtual int probe(const std::filesystem::path& path) const = 0;
    virtual Result<Checkpoint> open(const std::filesystem::path& path,
                                    const OpenOptions& options) const = 0;
};

class FormatWriter {
public:
    virtual ~FormatWriter() = default;
    virtual std::string_view name() const = 0;
    // Writes `tree` to `target` atomically: readers see the old target or the complete new one.
    virtual Status write(const NodePtr& tree, const std::filesystem::path& target,
                         const WriteOptions& options) const = 0;
};

class FormatRegistry {
public:
    // The registry of every format built into ckpt_core.
    static const FormatRegistry& builtin();

    const FormatReader* reader(std::string_view name) const;
    const FormatWriter* writer(std::string_view name) const;
    std::vector<std::string> readerNames() const;
    std::vector<std::string> writerNames() const;

    // The reader with the highest probe score, or Unsupported naming the path.
    Result<const FormatReader*> detect(const std::filesystem::path& path) const;

    void add(std::unique_ptr<FormatReader> reader);
    void add(std::unique_ptr<FormatWriter> writer);

private:
    std::vector<std::unique_ptr<FormatReader>> m_readers;
    std::vector<std::unique_ptr<FormatWriter>> m_writers;
};

// Opens `path` with the named format, or with the detected one when `format` is empty.
Result<Checkpoint> openCheckpoint(const std::filesystem::path& path, const OpenOptions& options = {},
                                  std::string_view format = {});

// Writes `tree` with the named writer.
Status writeCheckpoint(const NodePtr& tree, const std::filesystem::path& target,
                       std::string_view format, const WriteOptions& options = {});

// Keeps only the subtrees at `paths` (with their ancestors), in the source's order.
Result<NodePtr> selectSubtrees(const NodePtr& root, const std::vector<KeyPath>& paths);

}  // namespace ckpt
