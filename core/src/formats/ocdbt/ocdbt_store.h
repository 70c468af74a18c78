// OcdbtStore: a read-only KvStore over a TensorStore OCDBT database directory, as Orbax writes
// it under a checkpoint item (`manifest.ocdbt`, `d/…`, `ocdbt.process_<p>/…`).
//
// open() reads the manifest (following numbered manifests when the config says so), takes the
// latest version and decodes its root B+tree node, so a checkpoint with a missing or damaged
// manifest, data directory or root fails at open with a message naming the file. read() descends
// the tree to one key; list() walks the subtrees that can hold the prefix. Data files are mapped
// read-only and kept open; decoded nodes are kept in a bounded LRU cache.
//
// Ownership and threads: the store owns its mappings and caches; every const member may be
// called from several threads at once (the caches are mutex-guarded, everything else is fixed
// after open). Values are returned as copies, so they outlive the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ckpt/core/status.h"
#include "formats/ocdbt/btree.h"
#include "formats/ocdbt/manifest.h"
#include "kvstore/kvstore.h"

namespace ckpt::io {
class MappedFile;
}

namespace ckpt::ocdbt {

// One key of a listing, with where its value lives.
struct OcdbtEntryInfo {
    std::string key;
    std::uint64_t size = 0;
    bool isInline = true;
    std::string dataFile;      // out-of-line values: path relative to the database directory
    std::uint64_t offset = 0;  // out-of-line values: byte offset in `dataFile`
};

class OcdbtStore final : public kv::KvStore {
public:
    struct Options {
        std::size_t nodeCacheBytes = std::size_t{128} << 20;
    };

    // Opens the database in `dir`. NotFound when the directory or its manifest.ocdbt is absent
    // or the root node's data file is missing; Corruption for damaged contents.
    static Result<std::shared_ptr<const OcdbtStore>> open(const std::filesystem::path& dir,
                                                          const Options& options);
    static Result<std::shared_ptr<const OcdbtStore>> open(const std::filesystem::path& dir) {
        return open(dir, Options{});
    }

    ~OcdbtStore() override;
    OcdbtStore(const OcdbtStore&) = delete;
    OcdbtStore& operator=(const OcdbtStore&) = delete;

    Result<std::optional<std::string>> read(std::string_view key,
                                            const kv::ByteRange& range = {}) const override;
    // Out-of-line values come straight from the mapped data file; their pages are dropped from
    // the process when the last holder of the bytes lets go.
    Result<std::optional<kv::SharedBytes>> readShared(std::string_view key) const override;
    Result<std::vector<std::string>> list(std::string_view prefix = {}) const override;
    Result<std::vector<std::pair<std::string, std::uint64_t>>> listSizes(
        std::string_view prefix = {}) const override;
    std::string describe() const override;

    // Like list(), with value sizes and locations.
    Result<std::vector<OcdbtEntryInfo>> listEntries(std::string_view prefix = {}) const;

    // Every committed version, oldest first, reading version-tree nodes for the older ones.
    Result<std::vector<BtreeGenerationReference>> allVersions() const;

    const std::filesystem::path& directory() const { return m_dir; }
    const Config& config() const { return m_manifest.config; }
    // The single-kind manifest in use (for a numbered database, the newest numbered one).
    const Manifest& manifest() const { return m_manifest; }
    // "manifest.ocdbt" or "manifest.<16 hex>".
    const std::string& manifestFile() const { return m_manifestFile; }
    // The version served by read()/list(); nullptr for a numbered database with no version yet.
    const BtreeGenerationReference* latestVersion() const { return m_manifest.latestVersion(); }

private:
    // The leaf entry under `key` (null if absent); `holder` keeps it alive.
    Result<const LeafNodeEntry*> findEntry(std::string_view key,
                                           std::shared_ptr<const BtreeNode>& holder) const;
    struct CacheSlot {
        std::string key;
        std::shared_ptr<const BtreeNode> node;
        std::size_t bytes = 0;
    };
    struct ListState;

    OcdbtStore(std::filesystem::path dir, const Options& options);

    Status loadManifest();
    std::string dbContext() const;
    Result<std::shared_ptr<const io::MappedFile>> mapFile(const std::string& relativePath) const;
    Result<std::span<const std::byte>> fileRange(const std::string& relativePath,
                                                 std::uint64_t offset, std::uint64_t length,
                                                 std::shared_ptr<const io::MappedFile>& keep) const;
    Result<std::shared_ptr<const BtreeNode>> loadNode(const IndirectDataReference& where) const;
    Result<std::shared_ptr<const BtreeNode>> loadChecked(const IndirectDataReference& where,
                                                         std::uint8_t height,
                                                         std::string_view inclusiveMin) const;
    Result<std::string> readValue(const LeafNodeEntry& entry, const kv::ByteRange& range) const;
    Status visit(const BtreeNodeReference& ref, std::uint8_t height, const std::string& prefix,
                 std::string_view inclusiveMin, const std::string* upper, ListState& st) const;
    Status collectVersions(const VersionNodeReference& ref,
                           std::vector<BtreeGenerationReference>& out, std::size_t& visits) const;

    std::filesystem::path m_dir;
    std::string m_manifestFile = "manifest.ocdbt";
    Manifest m_manifest;
    DecodeLimits m_limits;
    std::size_t m_nodeCacheCapacity;

    mutable std::mutex m_fileMutex;
    mutable std::unordered_map<std::string, std::shared_ptr<const io::MappedFile>> m_files;

    mutable std::mutex m_nodeMutex;
    mutable std::list<CacheSlot> m_lru;  // most recently used first
    mutable std::unordered_map<std::string, std::list<CacheSlot>::iterator> m_nodeIndex;
    mutable std::size_t m_nodeCacheBytes = 0;
};

// Checks a data file path from the database before it is opened: relative, no empty, "." or
// ".." segments, no NUL bytes — so nothing outside the database directory is ever read.
Status checkDataFilePath(std::string_view path);

// The KvStore the zarr layer uses for an OCDBT checkpoint item directory.
Result<kv::KvStorePtr> openOcdbtStore(const std::filesystem::path& dir);

}  // namespace ckpt::ocdbt
