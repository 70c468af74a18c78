// OcdbtWriter: writes a new single-generation OCDBT database that TensorStore (and so Orbax)
// reads, through the kv::KvWriter interface (FORMAT.md §8).
//
// put() keeps small values (<= max_inline_value_bytes) in memory and appends larger ones to a
// data file `d/<32 random hex digits>` as they arrive, keeping only the key and (offset, length),
// so a checkpoint much larger than memory can be written. commit() sorts the keys, writes the
// B+tree (leaves, then interior levels up to one root; every node a zstd-compressed envelope
// with a CRC-32C) to a data file, fsyncs the data files and directories, and finally writes
// `manifest.ocdbt` (config + one inline version, generation 1) atomically. Until commit()
// returns OK there is no manifest, so nothing is a database yet; a writer destroyed without
// commit removes the data files it created.
//
// Ownership and threads: the writer owns its open data file; it is driven by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/manifest.h"
#include "kvstore/kv_writer.h"

namespace ckpt::ocdbt {

// The config Orbax writes: max_inline_value_bytes 1024, max_decoded_node_bytes 100000000,
// version_tree_arity_log2 4, zstd level 0, manifest kind single, uuid random (fresh each call).
Config orbaxCompatibleConfig();

struct OcdbtWriterOptions {
    // The database config (its uuid is replaced by a random one; the manifest kind must be
    // single).
    Config config = orbaxCompatibleConfig();
    // A node is split when it would hold more entries than this (>= 4) ...
    std::size_t maxNodeEntries = 1024;
    // ... or when its estimated body would exceed this many bytes (capped at half of
    // config.maxDecodedNodeBytes).
    std::size_t targetNodeBytes = std::size_t{1} << 20;
};

class OcdbtWriter final : public kv::KvWriter {
public:
    // Starts a database in `dir`, which must be absent (it is created, parents included) or an
    // empty directory: AlreadyExists otherwise.
    static Result<std::unique_ptr<OcdbtWriter>> create(const std::filesystem::path& dir,
                                                       const OcdbtWriterOptions& options);

    ~OcdbtWriter() override;
    OcdbtWriter(const OcdbtWriter&) = delete;
    OcdbtWriter& operator=(const OcdbtWriter&) = delete;

    // InvalidArgument for a key longer than 65535 bytes, a key already put, or a put after
    // commit(); IoError when the data file cannot be written (the writer is then unusable).
    Status put(std::string_view key, std::string_view value) override;
    // Puts a key whose value stays where another database wrote it: `length` bytes at `offset`
    // of data file `file` (relative to this database's directory, e.g. base path
    // "ocdbt.process_1/", relative path "d/<hex>" — how Orbax's merged tree refers to the
    // process databases). The file is not read or checked here. Same refusals as put().
    Status putReference(std::string_view key, DataFileIdPtr file, std::uint64_t offset,
                        std::uint64_t length);
    // Writes the tree and the manifest. Once only; the writer is finished whatever the outcome.
    Status commit() override;

    const std::filesystem::path& directory() const { return m_dir; }

private:
    class DataFile;
    struct OutOfLine {
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
    };
    struct ChildRef;

    OcdbtWriter(std::filesystem::path dir, const OcdbtWriterOptions& options);
    Status commitImpl();
    Result<DataFile*> valueFile();
    using EntryValue = std::variant<std::string, OutOfLine, IndirectDataReference>;
    // The new entry for `key` (put and putReference): refused after commit, for an over-long
    // key, or for a key already written.
    Result<EntryValue*> newEntry(std::string_view key);
    Result<std::vector<ChildRef>> writeLeaves(DataFile& file);
    Result<std::vector<ChildRef>> writeInteriorLevel(DataFile& file,
                                                     const std::vector<ChildRef>& children,
                                                     std::uint8_t height);
    Status fail(Status s);

    std::filesystem::path m_dir;
    OcdbtWriterOptions m_options;
    std::map<std::string, EntryValue> m_entries;
    std::unique_ptr<DataFile> m_values;
    std::vector<std::filesystem::path> m_createdFiles;
    bool m_createdDir = false;
    bool m_createdDataDir = false;
    bool m_finished = false;  // committed, or failed for good
    bool m_committed = false;
};

// The KvWriter zarr writers use for an OCDBT checkpoint item: an Orbax-compatible database.
Result<std::unique_ptr<kv::KvWriter>> createOcdbtWriter(const std::filesystem::path& dir);

}  // namespace ckpt::ocdbt
