#include "formats/ocdbt/ocdbt_store.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "io/mapped_file.h"

namespace ckpt::ocdbt {

namespace {

constexpr std::size_t kMaxCachedFiles = 4096;
// A list() that visits more nodes than this is walking a malicious DAG (the same child under
// many parents), not a real checkpoint.
constexpr std::size_t kMaxNodeVisits = std::size_t{1} << 22;
constexpr std::size_t kMaxVersions = std::size_t{1} << 24;

bool startsWith(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The smallest string greater than every string starting with `prefix`; nullopt if none.
std::optional<std::string> prefixEnd(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
    if (end.empty()) return std::nullopt;
    end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    return end;
}

std::string quoteBytes(std::string_view s) {
    std::string out = "'";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    out += "'";
    return out;
}

std::string where(std::string_view what, const IndirectDataReference& ref) {
    return std::string(what) + " in file " + quoteBytes(ref.file->fullPath()) + " at offset " +
           std::to_string(ref.offset);
}

// The base path is part of the key: it is the transitive path of the node's own table, so the
// same bytes reached through a different base path decode to different child paths.
std::string cacheKey(const IndirectDataReference& ref) {
    return ref.file->basePath + '\n' + ref.file->relativePath + '\n' +
           std::to_string(ref.offset) + ':' + std::to_string(ref.length);
}

}  // namespace

struct OcdbtStore::ListState {
    std::string_view prefix;
    std::optional<std::string> end;  // exclusive upper bound of keys with `prefix`
    std::vector<OcdbtEntryInfo> out;
    std::size_t visits = 0;
};

Status checkDataFilePath(std::string_view path) {
    if (path.empty()) return corruptionError("empty data file path");
    if (path.find('\0') != std::string_view::npos) {
        return corruptionError("data file path " + quoteBytes(path) + " contains a NUL byte");
    }
    if (path.front() == '/') {
        return corruptionError("data file path " + quoteBytes(path) + " is absolute");
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t slash = path.find('/', start);
        const std::string_view seg = path.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (seg == "..") {
            return corruptionError("data file path " + quoteBytes(path) +
                                   " escapes the database directory");
        }
        if (seg.empty() || seg == ".") {
            return corruptionError("data file path " + quoteBytes(path) + " is not normalized");
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return okStatus();
}

OcdbtStore::OcdbtStore(std::filesystem::path dir, const Options& options)
    : m_dir(std::move(dir)), m_nodeCacheCapacity(options.nodeCacheBytes) {}

OcdbtStore::~OcdbtStore() = default;

std::string OcdbtStore::dbContext() const {
    return "OCDBT database at '" + m_dir.string() + "'";
}

std::string OcdbtStore::describe() const {
    return dbContext();
}

Result<std::shared_ptr<const OcdbtStore>> OcdbtStore::open(const std::filesystem::path& dir,
                                                           const Options& options) {
    std::shared_ptr<OcdbtStore> store(new OcdbtStore(dir, options));
    CKPT_RETURN_IF_ERROR(store->loadManifest().withContext(store->dbContext()));
    // Decode the current root now, so that a missing data directory or a damaged root node is
    // reported when the checkpoint is opened rather than at the first read.
    if (const auto* v = store->latestVersion(); v && !v->root.location.isMissing()) {
        auto root = store->loadChecked(v->root.location, v->rootHeight, {});
        if (!root.isOk()) return root.status().withContext(store->dbContext());
    }
    return std::shared_ptr<const OcdbtStore>(std::move(store));
}

Status OcdbtStore::loadManifest() {
    std::error_code ec;
    if (!std::filesystem::is_directory(m_dir, ec)) {
        return notFoundError("no such directory");
    }
    {
        auto file = io::MappedFile::openInside(m_dir, m_dir / "manifest.ocdbt");
        if (!file.isOk()) {
            if (file.status().code() == StatusCode::kNotFound) {
                return notFoundError("manifest.ocdbt is missing ('" +
                                     (m_dir / "manifest.ocdbt").string() + "')");
            }
            return file.status();
        }
        auto manifest = decodeManifest((*file)->bytes());
        if (!manifest.isOk()) return manifest.status().withContext("manifest.ocdbt");
        m_manifest = std::move(*manifest);
    }
    if (m_manifest.config.manifestKind == ManifestKind::kNumbered) {
        // The versions live in manifest.<16 hex>; the highest number is current (tensorstore
        // reads only that one and fails if it is damaged, so do we).
        std::optional<std::uint64_t> newest;
        for (std::filesystem::directory_iterator it(m_dir, ec), end; !ec && it != end;
             it.increment(ec)) {
            const auto gen = parseNumberedManifestName(it->path().filename().string());
            if (gen && (!newest || *gen > *newest)) newest = gen;
        }
        if (ec) return ioError("cannot list '" + m_dir.string() + "': " + ec.message());
        if (newest) {
            m_manifestFile = numberedManifestName(*newest);
            auto file = io::MappedFile::openInside(m_dir, m_dir / m_manifestFile);
            if (!file.isOk()) return file.status().withContext(m_manifestFile);
            auto manifest = decodeManifest((*file)->bytes());
            if (!manifest.isOk()) return manifest.status().withContext(m_manifestFile);
            if (manifest->config.manifestKind != ManifestKind::kSingle) {
                return corruptionError(m_manifestFile +
                                       ": a numbered manifest must be of the "
                                       "single kind");
            }
            if (manifest->latestVersion()->generationNumber != *newest) {
                return corruptionError(m_manifestFile + ": holds generation " +
                                       std::to_string(manifest->latestVersion()->generationNumber) +
                                       ", not the one its name gives");
            }
            m_manifest = std::move(*manifest);
            m_manifest.config.manifestKind = ManifestKind::kNumbered;
        }
    }
    m_limits = nodeDecodeLimits(m_manifest.config);
    return okStatus();
}

Result<std::shared_ptr<const io::MappedFile>> OcdbtStore::mapFile(
    const std::string& relativePath) const {
    {
        std::lock_guard lock(m_fileMutex);
        if (auto it = m_files.find(relativePath); it != m_files.end()) return it->second;
    }
    CKPT_RETURN_IF_ERROR(checkDataFilePath(relativePath));
    CKPT_ASSIGN_OR_RETURN(auto file, io::MappedFile::openInside(m_dir, m_dir / relativePath));
    std::lock_guard lock(m_fileMutex);
    if (m_files.size() >= kMaxCachedFiles) m_files.clear();  // mappings in use stay alive
    m_files.emplace(relativePath, file);
    return file;
}

Result<std::span<const std::byte>> OcdbtStore::fileRange(
    const std::string& relativePath, std::uint64_t offset, std::uint64_t length,
    std::shared_ptr<const io::MappedFile>& keep) const {
    CKPT_ASSIGN_OR_RETURN(keep, mapFile(relativePath));
    const auto bytes = keep->bytes();
    if (offset > bytes.size() || length > bytes.size() - offset) {
        return corruptionError("byte range [" + std::to_string(offset) + ", " +
                               std::to_string(offset) + " + " + std::to_string(length) +
                               ") lies beyond the end of the " + std::to_string(bytes.size()) +
                               "-byte file");
    }
    return bytes.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
}

Result<std::shared_ptr<const BtreeNode>> OcdbtStore::loadNode(
    const IndirectDataReference& ref) const {
    const std::string key = cacheKey(ref);
    {
        std::lock_guard lock(m_nodeMutex);
        if (auto it = m_nodeIndex.find(key); it != m_nodeIndex.end()) {
            m_lru.splice(m_lru.begin(), m_lru, it->second);
            return it->second->node;
        }
    }
    std::shared_ptr<const io::MappedFile> keep;
    auto bytes = fileRange(ref.file->fullPath(), ref.offset, ref.length, keep);
    if (!bytes.isOk()) return bytes.status().withContext(where("B+tree node", ref));
    auto decoded = decodeBtreeNode(*bytes, ref.file->basePath, m_limits);
    if (!decoded.isOk()) return decoded.status().withContext(where("B+tree node", ref));
    auto node = std::make_shared<const BtreeNode>(std::move(*decoded));

    const std::size_t size = node->estimatedBytes();
    if (size <= m_nodeCacheCapacity) {
        std::lock_guard lock(m_nodeMutex);
        if (m_nodeIndex.find(key) == m_nodeIndex.end()) {
            m_lru.push_front(CacheSlot{key, node, size});
            m_nodeIndex.emplace(key, m_lru.begin());
            m_nodeCacheBytes += size;
            while (m_nodeCacheBytes > m_nodeCacheCapacity) {
                m_nodeCacheBytes -= m_lru.back().bytes;
                m_nodeIndex.erase(m_lru.back().key);
                m_lru.pop_back();
            }
        }
    }
    return std::shared_ptr<const BtreeNode>(std::move(node));
}

Result<std::shared_ptr<const BtreeNode>> OcdbtStore::loadChecked(
    const IndirectDataReference& ref, std::uint8_t height, std::string_view inclusiveMin) const {
    CKPT_ASSIGN_OR_RETURN(auto node, loadNode(ref));
    const Status s = validateBtreeNodeReference(*node, height, inclusiveMin);
    if (!s.isOk()) return s.withContext(where("B+tree node", ref));
    return node;
}

Result<std::string> OcdbtStore::readValue(const LeafNodeEntry& entry,
                                          const kv::ByteRange& range) const {
    const std::uint64_t size = entry.valueSize();
    if (range.offset > size) {
        return corruptionError("byte range starts at " + std::to_string(range.offset) +
                               ", past the end of the " + std::to_string(size) + "-byte value");
    }
    const std::uint64_t length = range.length.value_or(size - range.offset);
    if (length > size - range.offset) {
        return corruptionError("byte range [" + std::to_string(range.offset) + ", +" +
                               std::to_string(length) + ") runs past the end of the " +
                               std::to_string(size) + "-byte value");
    }
    if (const auto* inlineValue = std::get_if<std::string>(&entry.value)) {
        return inlineValue->substr(static_cast<std::size_t>(range.offset),
                                   static_cast<std::size_t>(length));
    }
    const auto& ref = std::get<IndirectDataReference>(entry.value);
    if (ref.length == 0) return std::string();  // nothing to read, whatever the file
    std::shared_ptr<const io::MappedFile> keep;
    // Check the whole value lies in the file even when only part of it is wanted.
    auto whole = fileRange(ref.file->fullPath(), ref.offset, ref.length, keep);
    if (!whole.isOk()) return whole.status().withContext(where("value", ref));
    const auto part =
        whole->subspan(static_cast<std::size_t>(range.offset), static_cast<std::size_t>(length));
    return std::string(reinterpret_cast<const char*>(part.data()), part.size());
}

Result<std::optional<std::string>> OcdbtStore::read(std::string_view key,
                                                    const kv::ByteRange& range) const {
    std::shared_ptr<const BtreeNode> holder;
    CKPT_ASSIGN_OR_RETURN(const LeafNodeEntry* entry, findEntry(key, holder));
    if (!entry) return std::optional<std::string>();
    auto value = readValue(*entry, range);
    if (!value.isOk()) {
        return value.status().withContext("reading key " + quoteBytes(key)).withContext(dbContext());
    }
    return std::optional<std::string>(std::move(*value));
}

namespace {
// Holds a mapped data file for a value handed out without a copy; drops the value's pages from
// the process when released.
struct MappedValue {
    std::shared_ptr<const io::MappedFile> file;
    std::span<const std::byte> bytes;
    MappedValue(std::shared_ptr<const io::MappedFile> f, std::span<const std::byte> b)
        : file(std::move(f)), bytes(b) {}
    MappedValue(const MappedValue&) = delete;
    MappedValue& operator=(const MappedValue&) = delete;
    ~MappedValue() { file->dropPages(bytes); }
};
}  // namespace

Result<std::optional<kv::SharedBytes>> OcdbtStore::readShared(std::string_view key) const {
    std::shared_ptr<const BtreeNode> holder;
    CKPT_ASSIGN_OR_RETURN(const LeafNodeEntry* entry, findEntry(key, holder));
    if (!entry) return std::optional<kv::SharedBytes>();
    const auto* ref = std::get_if<IndirectDataReference>(&entry->value);
    if (!ref || ref->length == 0) return kv::KvStore::readShared(key);
    std::shared_ptr<const io::MappedFile> keep;
    auto bytes = fileRange(ref->file->fullPath(), ref->offset, ref->length, keep);
    if (!bytes.isOk()) {
        return bytes.status()
            .withContext(where("value", *ref))
            .withContext("reading key " + quoteBytes(key))
            .withContext(dbContext());
    }
    auto value = std::make_shared<const MappedValue>(std::move(keep), *bytes);
    const std::span<const std::byte> span = value->bytes;
    const io::MappedFile* file = value->file.get();
    return std::optional<kv::SharedBytes>(kv::SharedBytes{
        std::move(value), span, [file](std::span<const std::byte> part) { file->dropPages(part); }});
}

Result<const LeafNodeEntry*> OcdbtStore::findEntry(std::string_view key,
                                                   std::shared_ptr<const BtreeNode>& holder) const {
    const auto* version = latestVersion();
    if (!version || version->root.location.isMissing()) return nullptr;
    const auto fail = [&](const Status& s) {
        return s.withContext("reading key " + quoteBytes(key)).withContext(dbContext());
    };
    std::shared_ptr<const BtreeNode> parent;  // keeps `ref` and `inclusiveMin` alive
    const IndirectDataReference* ref = &version->root.location;
    std::uint8_t height = version->rootHeight;
    std::string_view inclusiveMin;
    std::string_view rest = key;
    for (;;) {
        auto loaded = loadChecked(*ref, height, inclusiveMin);
        if (!loaded.isOk()) return fail(loaded.status());
        std::shared_ptr<const BtreeNode> node = std::move(*loaded);
        if (node->isLeaf()) {
            const LeafNodeEntry* entry = findLeafEntry(*node, rest);
            holder = std::move(node);
            return entry;
        }
        const InteriorNodeEntry* entry = findInteriorEntry(*node, rest);
        if (!entry || !startsWith(rest, entry->subtreeCommonPrefix())) return nullptr;
        rest.remove_prefix(entry->subtreeCommonPrefixLength);
        inclusiveMin = entry->childInclusiveMin();
        ref = &entry->child.location;
        height = static_cast<std::uint8_t>(node->height - 1);
        parent = std::move(node);
    }
}

Status OcdbtStore::visit(const BtreeNodeReference& ref, std::uint8_t height,
                         const std::string& prefix, std::string_view inclusiveMin,
                         const std::string* upper, ListState& st) const {
    if (++st.visits > kMaxNodeVisits) {
        return corruptionError("the B+tree references more than " + std::to_string(kMaxNodeVisits) +
                               " nodes");
    }
    CKPT_ASSIGN_OR_RETURN(const auto node, loadChecked(ref.location, height, inclusiveMin));
    if (node->isLeaf()) {
        for (const auto& e : node->leafEntries) {
            std::string full = prefix + e.key;
            if (!startsWith(full, st.prefix)) continue;
            if (!st.out.empty() && full <= st.out.back().key) {
                return corruptionError(where("B+tree node", ref.location) + ": key " +
                                       quoteBytes(full) +
                                       " is out of order with the keys before it");
            }
            OcdbtEntryInfo info;
            info.key = std::move(full);
            info.size = e.valueSize();
            if (const auto* r = std::get_if<IndirectDataReference>(&e.value)) {
                info.isInline = false;
                info.dataFile = r->file->fullPath();
                info.offset = r->offset;
            }
            st.out.push_back(std::move(info));
        }
        return okStatus();
    }
    const auto& entries = node->interiorEntries;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        std::string lower = prefix + e.key;
        if (st.end && lower >= *st.end) break;  // this and all later children are past the prefix
        std::string childUpper;
        const std::string* upperPtr = upper;
        if (i + 1 < entries.size()) {
            childUpper = prefix + entries[i + 1].key;
            upperPtr = &childUpper;
        }
        if (upperPtr && *upperPtr <= st.prefix) continue;  // wholly before the prefix
        std::string childPrefix = prefix + std::string(e.subtreeCommonPrefix());
        if (!startsWith(childPrefix, st.prefix) && !startsWith(st.prefix, childPrefix)) continue;
        CKPT_RETURN_IF_ERROR(visit(e.child, static_cast<std::uint8_t>(node->height - 1),
                                   childPrefix, e.childInclusiveMin(), upperPtr, st));
    }
    return okStatus();
}

Result<std::vector<OcdbtEntryInfo>> OcdbtStore::listEntries(std::string_view prefix) const {
    const auto* version = latestVersion();
    if (!version || version->root.location.isMissing()) return std::vector<OcdbtEntryInfo>();
    ListState st;
    st.prefix = prefix;
    st.end = prefixEnd(prefix);
    const Status s = visit(version->root, version->rootHeight, std::string(), {}, nullptr, st);
    if (!s.isOk()) return s.withContext("listing " + quoteBytes(prefix)).withContext(dbContext());
    return std::move(st.out);
}

Result<std::vector<std::string>> OcdbtStore::list(std::string_view prefix) const {
    CKPT_ASSIGN_OR_RETURN(auto entries, listEntries(prefix));
    std::vector<std::string> keys;
    keys.reserve(entries.size());
    for (auto& e : entries) keys.push_back(std::move(e.key));
    return keys;
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> OcdbtStore::listSizes(
    std::string_view prefix) const {
    CKPT_ASSIGN_OR_RETURN(auto entries, listEntries(prefix));
    std::vector<std::pair<std::string, std::uint64_t>> out;
    out.reserve(entries.size());
    for (auto& e : entries) out.emplace_back(std::move(e.key), e.size);
    return out;
}

Status OcdbtStore::collectVersions(const VersionNodeReference& ref,
                                   std::vector<BtreeGenerationReference>& out,
                                   std::size_t& visits) const {
    if (++visits > kMaxNodeVisits) return corruptionError("too many version nodes");
    std::shared_ptr<const io::MappedFile> keep;
    auto bytes =
        fileRange(ref.location.file->fullPath(), ref.location.offset, ref.location.length, keep);
    if (!bytes.isOk()) return bytes.status().withContext(where("version node", ref.location));
    auto node = decodeVersionTreeNode(*bytes, ref.location.file->basePath, m_limits);
    if (!node.isOk()) return node.status().withContext(where("version node", ref.location));
    Status s = validateVersionTreeNodeReference(*node, m_manifest.config.versionTreeArityLog2, ref);
    if (!s.isOk()) return s.withContext(where("version node", ref.location));
    if (node->height == 0) {
        if (out.size() + node->leafEntries.size() > kMaxVersions) {
            return corruptionError("more than " + std::to_string(kMaxVersions) + " versions");
        }
        out.insert(out.end(), node->leafEntries.begin(), node->leafEntries.end());
        return okStatus();
    }
    for (const auto& child : node->interiorEntries) {
        CKPT_RETURN_IF_ERROR(collectVersions(child, out, visits));
    }
    return okStatus();
}

Result<std::vector<BtreeGenerationReference>> OcdbtStore::allVersions() const {
    std::vector<BtreeGenerationReference> out;
    std::size_t visits = 0;
    for (const auto& ref : m_manifest.versionTreeNodes) {
        const Status s = collectVersions(ref, out, visits);
        if (!s.isOk()) return s.withContext(dbContext());
    }
    out.insert(out.end(), m_manifest.versions.begin(), m_manifest.versions.end());
    for (std::size_t i = 1; i < out.size(); ++i) {
        if (out[i].generationNumber <= out[i - 1].generationNumber) {
            return corruptionError("version tree: generation " +
                                   std::to_string(out[i].generationNumber) + " follows " +
                                   std::to_string(out[i - 1].generationNumber))
                .withContext(dbContext());
        }
    }
    return out;
}

Result<kv::KvStorePtr> openOcdbtStore(const std::filesystem::path& dir) {
    CKPT_ASSIGN_OR_RETURN(auto store, OcdbtStore::open(dir));
    return kv::KvStorePtr(std::move(store));
}

}  // namespace ckpt::ocdbt
