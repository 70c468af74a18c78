#include "formats/orbax/orbax_format.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "formats/flax_msgpack/flax_codec.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/orbax/orbax_sharding.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_lazy_array.h"
#include "io/mapped_file.h"
#include "kvstore/directory_store.h"

namespace ckpt::orbax {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kTmpMarker = ".orbax-checkpoint-tmp";

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}
bool isDir(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}

Result<std::string> readText(const fs::path& p, std::uint64_t maxBytes = 256ULL << 20) {
    // Checkpoint files are read only where they are: a link out of their directory is refused.
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::openInside(p.parent_path(), p));
    if (mapped->bytes().size() > maxBytes) {
        return unsupportedError("'" + p.string() + "' is larger than " +
                                std::to_string(maxBytes) + " bytes");
    }
    return std::string(reinterpret_cast<const char*>(mapped->bytes().data()),
                       mapped->bytes().size());
}

bool isItemDir(const fs::path& dir) {
    return isFile(dir / "_METADATA") || isFile(dir / "manifest.ocdbt") ||
           isFile(dir / "checkpoint");
}

bool isUnfinished(const std::string& name) { return name.find(kTmpMarker) != std::string::npos; }

// JSON (from a JsonCheckpointHandler item) as a tree: objects → dicts, arrays → lists.
NodePtr jsonToNode(const json& j) {
    switch (j.type()) {
        case json::value_t::object: {
            std::vector<DictEntry> entries;
            for (const auto& [k, v] : j.items()) entries.push_back({k, jsonToNode(v)});
            return Node::makeDict(std::move(entries));
        }
        case json::value_t::array: {
            std::vector<NodePtr> items;
            for (const auto& v : j) items.push_back(jsonToNode(v));
            return Node::makeList(std::move(items));
        }
        case json::value_t::string: return Node::makeString(j.get<std::string>());
        case json::value_t::boolean: return Node::makeScalar(Scalar::fromBool(j.get<bool>()));
        case json::value_t::number_integer: return Node::makeScalar(Scalar::fromInt64(j.get<std::int64_t>()));
        case json::value_t::number_unsigned: {
            const auto u = j.get<std::uint64_t>();
            if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
                return Node::makeScalar(Scalar::fromInt64(static_cast<std::int64_t>(u)));
            }
            return Node::makeScalar(Scalar::fromUInt64(u));
        }
        case json::value_t::number_float: return Node::makeScalar(Scalar::fromFloat64(j.get<double>()));
        default: return Node::makeNone();
    }
}

// A mutable builder for the nested containers described by `_METADATA` key paths.
// The tree as _METADATA's key paths describe it, before it becomes Nodes. Nodes live in a
// BuildArena (a 100,000-leaf tree has ~110,000 of them: one allocation each cost more than the
// rest of building it) and own their key; a wide level indexes its children by key.
struct BuildNode {
    bool sequence = false;
    bool leaf = false;
    NodePtr value;
    std::string key;  // this node's key in its parent
    std::vector<BuildNode*> children;
    // key -> child, built once a level is wide (most levels have a few keys: a map each would
    // cost more than scanning them). Views of the children's own keys, which do not move.
    std::unordered_map<std::string_view, BuildNode*> index;
    static constexpr std::size_t kIndexFrom = 16;
};

class BuildArena {
public:
    BuildNode& root() { return m_root; }

    // The child of `parent` under `key`, created (taking the key) if new.
    BuildNode* child(BuildNode& parent, std::string&& key) {
        if (parent.children.size() < BuildNode::kIndexFrom) {
            for (BuildNode* c : parent.children) {
                if (c->key == key) return c;
            }
        } else {
            if (parent.index.empty()) {
                parent.index.reserve(parent.children.size() * 2);
                for (BuildNode* c : parent.children) parent.index.emplace(c->key, c);
            }
            if (auto it = parent.index.find(key); it != parent.index.end()) return it->second;
        }
        BuildNode* c = &m_nodes.emplace_back();
        c->key = std::move(key);
        parent.children.push_back(c);
        if (!parent.index.empty()) parent.index.emplace(c->key, c);
        return c;
    }

private:
    BuildNode m_root;
    std::deque<BuildNode> m_nodes;  // stable addresses
};

// Consumes `b` (its keys are moved into the nodes). `path` holds the keys down to `b`, for
// error messages only.
Result<NodePtr> finish(BuildNode& b, std::vector<const std::string*>& path,
                       const std::string& source) {
    if (b.leaf) return std::move(b.value);
    const auto keyPath = [&] {
        KeyPath out;
        for (const std::string* k : path) out.push_back(*k);
        return out;
    };
    if (b.sequence) {
        // Orbax restores SEQUENCE levels as lists, items in index order.
        std::vector<std::pair<std::int64_t, BuildNode*>> ordered;
        ordered.reserve(b.children.size());
        for (BuildNode* c : b.children) {
            const std::string& k = c->key;
            std::int64_t index = -1;
            auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), index);
            if (ec != std::errc() || p != k.data() + k.size() || index < 0) {
                return corruptionError(source + ": at key path " + describeKeyPath(keyPath()) +
                                       ": sequence key '" + k + "' is not an index");
            }
            ordered.emplace_back(index, c);
        }
        std::sort(ordered.begin(), ordered.end(),
                  [](const auto& x, const auto& y) { return x.first < y.first; });
        std::vector<NodePtr> items;
        items.reserve(ordered.size());
        for (const auto& [index, c] : ordered) {
            path.push_back(&c->key);
            CKPT_ASSIGN_OR_RETURN(NodePtr n, finish(*c, path, source));
            path.pop_back();
            items.push_back(std::move(n));
        }
        return Node::makeList(std::move(items));
    }
    std::vector<DictEntry> entries;
    entries.reserve(b.children.size());
    for (BuildNode* c : b.children) {
        path.push_back(&c->key);
        CKPT_ASSIGN_OR_RETURN(NodePtr n, finish(*c, path, source));
        path.pop_back();
        entries.push_back({std::move(c->key), std::move(n)});
    }
    return Node::makeDict(std::move(entries));
}

struct ItemResult {
    NodePtr tree;
    std::vector<std::pair<std::string, std::string>> properties;
    std::vector<std::string> warnings;
};

Result<kv::KvStorePtr> openItemStore(const fs::path& dir, bool ocdbt) {
    if (ocdbt) {
        auto s = ocdbt::openOcdbtStore(dir);
        if (!s.isOk()) return s.status().withContext("opening Orbax item '" + dir.string() + "'");
        return s;
    }
    return kv::openDirectoryStore(dir);
}

// Without _METADATA, Orbax itself needs the caller's target tree. For browsing we infer the
// structure as Orbax does for legacy per-array directories: every stored array's param name,
// split on '.', is a path of dict keys (list indices and names containing '.' are not
// recoverable this way; the result says so in a warning).
Result<ItemResult> inferPyTreeItem(const fs::path& dir) {
    const bool ocdbt = isFile(dir / "manifest.ocdbt");
    CKPT_ASSIGN_OR_RETURN(kv::KvStorePtr store, openItemStore(dir, ocdbt));
    CKPT_ASSIGN_OR_RETURN(std::vector<std::string> keys, store->list());
    std::vector<std::string> params;
    for (const std::string& key : keys) {
        for (std::string_view meta : {"/.zarray", "/zarr.json"}) {
            if (key.size() > meta.size() && key.compare(key.size() - meta.size(), meta.size(), meta) == 0) {
                params.push_back(key.substr(0, key.size() - meta.size()));
            }
        }
        if (key == ".zarray" || key == "zarr.json") params.emplace_back();
    }
    if (params.empty()) {
        return notFoundError("'" + dir.string() +
                             "' has no _METADATA and no arrays to infer a structure from");
    }
    params.erase(std::unique(params.begin(), params.end()), params.end());
    BuildArena arena;
    BuildNode& root = arena.root();
    for (const std::string& param : params) {
        BuildNode* node = &root;
        KeyPath path;
        std::size_t start = 0;
        while (!param.empty() && start <= param.size()) {
            const std::size_t dot = std::min(param.find('.', start), param.size());
            path.push_back(param.substr(start, dot - start));
            if (node->leaf) break;
            node = arena.child(*node, std::string(path.back()));
            start = dot + 1;
        }
        if (node->leaf || !node->children.empty()) {
            return corruptionError("'" + dir.string() + "': array '" + param +
                                   "' collides with another array's name");
        }
        auto array = zarr::openZarrArray(store, param.empty() ? "" : param + "/", formatKeyPath(path));
        if (!array.isOk()) return array.status().withContext("'" + dir.string() + "'");
        node->leaf = true;
        node->value = Node::makeArray(*array);
    }
    ItemResult result;
    std::vector<const std::string*> keyPath;
    CKPT_ASSIGN_OR_RETURN(result.tree, finish(root, keyPath, dir.string()));  // a root leaf too
    result.properties.emplace_back("storage", ocdbt ? "OCDBT" : "directory per array");
    result.warnings.push_back("'" + dir.string() +
                              "' has no _METADATA: the structure was inferred from array names "
                              "(lists appear as dicts keyed by index; scalars and strings are not "
                              "shown)");
    return result;
}

// Orbax before _METADATA (2023 and earlier) kept the structure in the `checkpoint` msgpack file
// (flax's msgpack encoding plus a tuple extension). Small values were aggregated into it; every
// other leaf is a string placeholder "PLACEHOLDER://<param name>" (or "AGGREGATED://<name>")
// naming the zarr array in the item's store.
class AggregateResolver {
public:
    AggregateResolver(fs::path dir, std::string source, ItemResult& result)
        : m_dir(std::move(dir)), m_source(std::move(source)), m_result(result) {}

    Result<NodePtr> resolve(const NodePtr& node, KeyPath& path) {
        if (node->kind() == NodeKind::kString) {
            const std::string& text = node->text();
            for (std::string_view prefix : {std::string_view("PLACEHOLDER://"),
                                            std::string_view("AGGREGATED://")}) {
                if (text.rfind(prefix, 0) == 0) return openPlaceholder(text.substr(prefix.size()), path);
            }
            return node;
        }
        if (!node->isContainer()) return node;
        std::vector<DictEntry> entries;
        std::vector<NodePtr> items;
        for (std::size_t i = 0; i < node->childCount(); ++i) {
            path.push_back(node->childKey(i));
            CKPT_ASSIGN_OR_RETURN(NodePtr child, resolve(node->child(i), path));
            path.pop_back();
            if (node->kind() == NodeKind::kDict) {
                entries.push_back({node->childKey(i), std::move(child)});
            } else {
                items.push_back(std::move(child));
            }
        }
        NodePtr out = node->kind() == NodeKind::kDict   ? Node::makeDict(std::move(entries))
                      : node->kind() == NodeKind::kList ? Node::makeList(std::move(items))
                                                        : Node::makeTuple(std::move(items));
        return node->attributes().empty() ? out : out->withAttributes(node->attributes());
    }

    bool usedStore() const { return m_store != nullptr; }
    bool ocdbt() const { return m_ocdbt; }

private:
    Result<NodePtr> openPlaceholder(const std::string& name, const KeyPath& path) {
        const std::string where = m_source + ": at key path " + describeKeyPath(path);
        auto leaf = [&]() -> Result<NodePtr> {
            if (name.empty() || !kv::isSafeRelativeKey(name)) {
                return corruptionError(where + ": placeholder names no array ('" + name + "')");
            }
            if (!m_store) {
                m_ocdbt = isFile(m_dir / "manifest.ocdbt");
                CKPT_ASSIGN_OR_RETURN(m_store, openItemStore(m_dir, m_ocdbt));
            }
            auto array = zarr::openZarrArray(m_store, name + "/", formatKeyPath(path));
            if (!array.isOk()) return array.status().withContext(where);
            return Node::makeArray(*array);
        }();
        if (leaf.isOk()) return leaf;
        // As for _METADATA checkpoints: one unreadable leaf shows as None carrying the error.
        m_result.warnings.push_back(leaf.status().toString());
        return Node::makeNone()->withAttributes({{"error", leaf.status().toString()}});
    }

    fs::path m_dir;
    std::string m_source;
    ItemResult& m_result;
    kv::KvStorePtr m_store;
    bool m_ocdbt = false;
};

Result<ItemResult> openAggregateItem(const fs::path& dir) {
    const fs::path file = dir / "checkpoint";
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::openInside(dir, file));
    CKPT_ASSIGN_OR_RETURN(NodePtr tree, flax::decodeFlaxTree(mapped, mapped->bytes(), file.string()));
    ItemResult result;
    AggregateResolver resolver(dir, file.string(), result);
    KeyPath path;
    CKPT_ASSIGN_OR_RETURN(result.tree, resolver.resolve(tree, path));
    result.properties.emplace_back("structure", "aggregate 'checkpoint' msgpack file (pre-_METADATA Orbax)");
    if (resolver.usedStore()) {
        result.properties.emplace_back("storage", resolver.ocdbt() ? "OCDBT" : "directory per array");
    }
    return result;
}

// Builds the tree of a PyTree item from its _METADATA leaves, one at a time, in file order.
class PyTreeBuilder {
public:
    PyTreeBuilder(fs::path dir, fs::path metaPath, kv::KvStorePtr store)
        : m_dir(std::move(dir)),
          m_metaPath(std::move(metaPath)),
          m_store(std::move(store)),
          m_errorContext(std::make_shared<const std::string>(m_metaPath.string())),
          m_shardingIndex(std::make_shared<const ItemShardingIndex>(m_dir, m_store)) {}

    Status add(LeafMetadata& leaf) {
        m_path.resize(leaf.path.size());
        for (std::size_t i = 0; i < leaf.path.size(); ++i) m_path[i] = leaf.path[i].key;
        const auto where = [&] {
            return m_metaPath.string() + ": at key path " + describeKeyPath(m_path);
        };
        const std::string& type = leaf.valueType;
        std::string param = leaf.paramName();
        BuildNode* node = &m_arena->root();
        // Leaves come in flatten order: most share their parents with the leaf before, found
        // again without a lookup (the root of 100,000 leaves has 10,000 keys).
        bool samePrefix = true;
        for (std::size_t i = 0; i < leaf.path.size(); ++i) {
            if (node->leaf) return corruptionError(where() + ": a leaf has children");
            node->sequence = leaf.path[i].type == KeyType::kSequence;
            if (samePrefix && i < m_lastNodes.size() && m_lastNodes[i]->key == m_path[i]) {
                node = m_lastNodes[i];
                continue;
            }
            samePrefix = false;
            node = m_arena->child(*node, std::move(leaf.path[i].key));  // m_path keeps a copy
            if (i < m_lastNodes.size()) {
                m_lastNodes[i] = node;
            } else {
                m_lastNodes.push_back(node);
            }
        }
        m_lastNodes.resize(leaf.path.size());
        if (!node->children.empty()) {
            return corruptionError(where() + ": a container is also a leaf");
        }
        // A key path listed twice (a JSON key repeated, as Python's json keeps): the last
        // entry's value, in the first one's place.
        node->leaf = true;
        if (type == "jax.Array" || type == "np.ndarray") {
            std::string prefix;
            if (!param.empty()) {
                prefix.reserve(param.size() + 1);
                prefix.append(param).push_back('/');
            }
            std::string keyPath = formatKeyPath(m_path);
            ArraySourcePtr array = zarr::makeLazyZarrArray(m_store, std::move(prefix), keyPath,
                                                           m_metadataCache, m_errorContext);
            // Its sharding (the `_sharding` entry, the shard grid, the writing processes) is
            // read only when asked for; a damaged record never fails the open or a read.
            node->value = Node::makeArray(makeShardedLeafSource(
                std::move(array), m_shardingIndex, std::move(param), std::move(keyPath),
                std::move(leaf.writeShape)));
        } else if (type == "scalar") {
            // Scalars are few and a scalar node needs its dtype at once: opened eagerly.
            auto leafNode = [&]() -> Result<NodePtr> {
                auto array = zarr::openZarrArray(m_store, param.empty() ? "" : param + "/",
                                                 formatKeyPath(m_path), m_metadataCache.get());
                if (!array.isOk()) return array.status().withContext(where());
                // A Python or numpy scalar stored as a 0-d array; its value is read when asked.
                if ((*array)->elementCount() != 1) {
                    return corruptionError(where() + ": scalar stored with shape " +
                                           formatShape((*array)->shape()));
                }
                return Node::makeLazyScalar(*array);
            }();
            if (leafNode.isOk()) {
                node->value = *leafNode;
            } else {
                // One unreadable leaf must not hide the rest of the tree: show it as None
                // carrying the error.
                m_result.warnings.push_back(leafNode.status().toString());
                node->value =
                    Node::makeNone()->withAttributes({{"error", leafNode.status().toString()}});
            }
        } else if (type == "string") {
            if (!m_strings) {
                const fs::path sp = m_dir / "_strings.json";
                CKPT_ASSIGN_OR_RETURN(std::string text, readText(sp));
                nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
                if (j.is_discarded() || !j.is_object()) {
                    return corruptionError("'" + sp.string() + "' is not a JSON object");
                }
                m_strings = std::move(j);
            }
            auto it = m_strings->find(param);
            if (it == m_strings->end() || !it->is_string()) {
                return corruptionError(where() + ": no string '" + param + "' in _strings.json");
            }
            node->value = Node::makeString(it->get<std::string>());
        } else if (type == "None") {
            node->value = Node::makeNone();
        } else if (type == "Dict") {
            node->value = Node::makeDict({});
        } else if (type == "List") {
            node->value = Node::makeList({});
        } else if (type == "Tuple" || type == "NamedTuple") {
            node->value = Node::makeTuple({});
        } else {
            m_result.warnings.push_back("key path " + describeKeyPath(m_path) + ": value type '" +
                                        type + "' is not understood; shown as None");
            node->value = Node::makeNone();
        }
        return okStatus();
    }

    // Forgets every leaf added (the parse started over).
    void reset() {
        m_arena = std::make_unique<BuildArena>();
        m_result = ItemResult{};
        m_lastNodes.clear();
    }

    Result<ItemResult> finish(bool ocdbt, const TreeMetadata& meta) {
        std::vector<const std::string*> keys;
        CKPT_ASSIGN_OR_RETURN(m_result.tree,
                              orbax::finish(m_arena->root(), keys, m_metaPath.string()));
        m_result.properties.emplace_back("storage", ocdbt ? "OCDBT" : "directory per array");
        m_result.properties.emplace_back("array metadata",
                                         meta.useZarr3.value_or(false) ? "zarr v3" : "zarr v2");
        if (meta.customMetadataJson != "null") {
            m_result.properties.emplace_back("custom metadata", meta.customMetadataJson);
        }
        return std::move(m_result);
    }

private:
    fs::path m_dir;
    fs::path m_metaPath;
    kv::KvStorePtr m_store;
    // Arrays are opened lazily: their zarr metadata is read the first time something asks for
    // a dtype, a shape or data (the tree of a 100,000-leaf checkpoint is shown before that). A
    // leaf whose metadata is missing or corrupt reports it then, through metadataStatus().
    // The arrays share one cache (they repeat the same few zarr.json documents) and one context.
    std::shared_ptr<zarr::MetadataCache> m_metadataCache = std::make_shared<zarr::MetadataCache>();
    std::shared_ptr<const std::string> m_errorContext;
    std::shared_ptr<const ItemShardingIndex> m_shardingIndex;  // shared by the item's arrays
    // Plain json: looked up once per string leaf (ordered_json's lookup is linear).
    std::optional<nlohmann::json> m_strings;
    std::unique_ptr<BuildArena> m_arena = std::make_unique<BuildArena>();
    ItemResult m_result;
    KeyPath m_path;  // of the leaf being added
    std::vector<BuildNode*> m_lastNodes;  // the nodes down to the leaf added before
};

// Parses _METADATA on a second thread while this one builds the tree from the leaves parsed so
// far: on two cores, opening a 100,000-leaf checkpoint takes the longer of the two, not their
// sum. Small files are parsed in line.
Result<TreeMetadata> parseAndBuild(std::string_view text, const std::string& source,
                                   PyTreeBuilder& builder) {
    constexpr std::size_t kPipelineFromBytes = std::size_t{1} << 20;
    constexpr std::size_t kBatchLeaves = 1024;
    const auto inLine = [&] {
        return parseTreeMetadata(
            text, source, [&](LeafMetadata&& leaf) { return builder.add(leaf); },
            [&] { builder.reset(); });
    };
    if (text.size() < kPipelineFromBytes) return inLine();

    struct Batch {
        std::vector<LeafMetadata> leaves;
        bool restart = false;  // forget the leaves before this batch
    };
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Batch> queue;
    bool parsed = false;
    std::atomic<bool> stop{false};
    Result<TreeMetadata> parseResult = internalError(source + ": not parsed");
    const auto parse = [&] {
        Batch batch;
        const auto hand = [&] {
            {
                std::lock_guard lock(mutex);
                queue.push_back(std::move(batch));
            }
            ready.notify_one();
            batch = Batch{};
            batch.leaves.reserve(kBatchLeaves);
        };
        batch.leaves.reserve(kBatchLeaves);
        Result<TreeMetadata> r = parseTreeMetadata(
            text, source,
            [&](LeafMetadata&& leaf) -> Status {
                if (stop.load(std::memory_order_relaxed)) return cancelledError(source);
                batch.leaves.push_back(std::move(leaf));
                if (batch.leaves.size() == kBatchLeaves) hand();
                return okStatus();
            },
            [&] {
                batch.leaves.clear();
                batch.restart = true;
                hand();
            });
        if (!batch.leaves.empty()) hand();
        {
            std::lock_guard lock(mutex);
            parseResult = std::move(r);
            parsed = true;
        }
        ready.notify_one();
    };
    std::thread parser;
    try {
        parser = std::thread(parse);
    } catch (const std::system_error&) {
        return inLine();  // no thread to be had: one after the other
    }
    Status built;
    while (true) {
        Batch batch;
        {
            std::unique_lock lock(mutex);
            ready.wait(lock, [&] { return !queue.empty() || parsed; });
            if (queue.empty()) break;
            batch = std::move(queue.front());
            queue.pop_front();
        }
        if (!built.isOk()) continue;  // drain what the parser still hands over
        if (batch.restart) builder.reset();
        for (LeafMetadata& leaf : batch.leaves) {
            built = builder.add(leaf);
            if (!built.isOk()) {
                stop = true;
                break;
            }
        }
    }
    parser.join();
    if (!built.isOk()) return built;
    return parseResult;
}

Result<ItemResult> openPyTreeItem(const fs::path& dir) {
    const fs::path metaPath = dir / "_METADATA";
    if (!isFile(metaPath)) {
        if (isFile(dir / "checkpoint")) return openAggregateItem(dir);
        return inferPyTreeItem(dir);
    }
    // Parsed straight from the mapping (a 100,000-leaf _METADATA is ~28 MB).
    CKPT_ASSIGN_OR_RETURN(auto metaFile, io::MappedFile::openInside(dir, metaPath));
    const std::string_view metaText(reinterpret_cast<const char*>(metaFile->bytes().data()),
                                    metaFile->bytes().size());
    // The arrays need their store before _METADATA says whether it is OCDBT (use_ocdbt, when
    // written at all, comes after the tree): guessed from the manifest, and checked after.
    const bool manifest = isFile(dir / "manifest.ocdbt");
    if (auto guessed = openItemStore(dir, manifest); guessed.isOk()) {
        PyTreeBuilder builder(dir, metaPath, *guessed);
        CKPT_ASSIGN_OR_RETURN(TreeMetadata meta,
                              parseAndBuild(metaText, metaPath.string(), builder));
        if (meta.useOcdbt.value_or(manifest) == manifest) return builder.finish(manifest, meta);
    }
    // Guessed wrong (or the guessed store does not open): parse, then open the store it names.
    CKPT_ASSIGN_OR_RETURN(TreeMetadata meta, parseTreeMetadata(metaText, metaPath.string()));
    const bool ocdbt = meta.useOcdbt.value_or(manifest);
    CKPT_ASSIGN_OR_RETURN(kv::KvStorePtr store, openItemStore(dir, ocdbt));
    PyTreeBuilder builder(dir, metaPath, std::move(store));
    for (LeafMetadata& leaf : meta.leaves) CKPT_RETURN_IF_ERROR(builder.add(leaf));
    return builder.finish(ocdbt, meta);
}

// A non-PyTree item: JSON handler files (`<item>/metadata` or `<item>/data.json`).
Result<NodePtr> openJsonItem(const fs::path& dir) {
    // JsonCheckpointHandler's default file name is "metadata"; v1 writes "data.json"; the
    // manager's metrics item is "metrics/metrics".
    for (const std::string& name :
         {std::string("metadata"), std::string("data.json"), dir.filename().string()}) {
        const fs::path p = dir / name;
        if (!isFile(p)) continue;
        CKPT_ASSIGN_OR_RETURN(std::string text, readText(p));
        json j = json::parse(text, nullptr, false);
        if (j.is_discarded()) return corruptionError("'" + p.string() + "' is not valid JSON");
        return jsonToNode(j);
    }
    return unsupportedError("'" + dir.string() + "' is not an item this build reads");
}

std::vector<fs::path> itemDirs(const fs::path& stepDir) {
    std::vector<fs::path> items;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(stepDir, ec)) {
        const std::string name = e.path().filename().string();
        if (!e.is_directory(ec) || isUnfinished(name) || name.rfind('.', 0) == 0) continue;
        items.push_back(e.path());
    }
    std::sort(items.begin(), items.end());
    return items;
}

Result<Checkpoint> openStep(const fs::path& stepDir, DirectoryKind kind) {
    Checkpoint ckpt;
    ckpt.format = "orbax";
    ckpt.path = stepDir;
    ckpt.root = stepDir;
    if (kind == DirectoryKind::kItem) {
        CKPT_ASSIGN_OR_RETURN(ItemResult item, openPyTreeItem(stepDir));
        ckpt.layout = "single item";
        ckpt.tree = item.tree;
        ckpt.properties = std::move(item.properties);
        ckpt.warnings = std::move(item.warnings);
    } else {
        ckpt.layout = "step with items";
        std::vector<DictEntry> entries;
        for (const fs::path& item : itemDirs(stepDir)) {
            const std::string name = item.filename().string();
            if (isItemDir(item)) {
                CKPT_ASSIGN_OR_RETURN(ItemResult r, openPyTreeItem(item));
                entries.push_back({name, r.tree});
                for (auto& [k, v] : r.properties) ckpt.properties.emplace_back(name + ": " + k, v);
                for (auto& w : r.warnings) ckpt.warnings.push_back(name + ": " + w);
            } else {
                auto j = openJsonItem(item);
                if (!j.isOk()) {
                    ckpt.warnings.push_back("item '" + name + "' skipped: " + j.status().message());
                    continue;
                }
                entries.push_back({name, *j});
            }
        }
        std::string names;
        for (const auto& e : entries) names += (names.empty() ? "" : ", ") + e.key;
        ckpt.properties.insert(ckpt.properties.begin(), {"items", names.empty() ? "(none)" : names});
        ckpt.tree = Node::makeDict(std::move(entries));
    }
    if (isFile(stepDir / "_CHECKPOINT_METADATA")) {
        auto text = readText(stepDir / "_CHECKPOINT_METADATA");
        if (text.isOk()) {
            json j = json::parse(*text, nullptr, false);
            if (j.is_object()) {
                for (const char* key : {"item_handlers", "metrics", "custom_metadata"}) {
                    auto it = j.find(key);
                    if (it != j.end() && !it->is_null() && !(it->is_object() && it->empty())) {
                        ckpt.properties.emplace_back(key, it->dump());
                    }
                }
            } else {
                ckpt.warnings.push_back("_CHECKPOINT_METADATA is not a JSON object");
            }
        }
    }
    return ckpt;
}

class OrbaxReader final : public FormatReader {
public:
    std::string_view name() const override { return "orbax"; }

    int probe(const fs::path& path) const override {
        switch (classifyDirectory(path)) {
            case DirectoryKind::kItem: return 80;
            case DirectoryKind::kStep: return 70;
            case DirectoryKind::kRoot: return 60;
            case DirectoryKind::kNone: return 0;
        }
        return 0;
    }

    Result<Checkpoint> open(const fs::path& path, const OpenOptions& options) const override {
        const DirectoryKind kind = classifyDirectory(path);
        if (kind == DirectoryKind::kNone) {
            return unsupportedError("'" + path.string() + "' is not an Orbax checkpoint directory");
        }
        if (kind != DirectoryKind::kRoot) {
            if (options.step) {
                return invalidArgumentError("'" + path.string() +
                                            "' is a single checkpoint; --step needs the "
                                            "CheckpointManager root directory");
            }
            return openStep(path, kind);
        }
        std::vector<StepEntry> steps = listManagerSteps(path);
        const StepEntry* chosen = nullptr;
        for (const auto& s : steps) {
            if (options.step ? s.step == *options.step : s.complete) chosen = &s;
        }
        if (!chosen) {
            if (options.step) {
                return notFoundError("'" + path.string() + "' has no step " + *options.step);
            }
            return notFoundError("'" + path.string() + "' has no complete step");
        }
        if (!chosen->complete) {
            return invalidArgumentError("step " + chosen->step + " of '" + path.string() +
                                        "' is incomplete (an unfinished or crashed save): '" +
                                        chosen->path.string() + "'");
        }
        CKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, openStep(chosen->path, classifyDirectory(chosen->path)));
        ckpt.layout = "CheckpointManager root, " + ckpt.layout;
        ckpt.root = path;
        ckpt.step = chosen->step;
        ckpt.steps = std::move(steps);
        return ckpt;
    }
};

}  // namespace

DirectoryKind classifyDirectory(const fs::path& dir) {
    if (!isDir(dir)) return DirectoryKind::kNone;
    if (isItemDir(dir)) return DirectoryKind::kItem;
    const bool stepMarker = isFile(dir / "_CHECKPOINT_METADATA") || isFile(dir / "orbax.checkpoint");
    if (stepMarker) return DirectoryKind::kStep;
    for (const auto& s : listManagerSteps(dir)) {
        if (s.complete) return DirectoryKind::kRoot;
    }
    return DirectoryKind::kNone;
}

namespace {
// The step number of a step directory name: "<n>" or "<prefix>_<n>" (orbax _src/path/step.py,
// zero padding allowed); empty when the name is not one.
std::string stepDigits(std::string_view name) {
    std::size_t start = name.size();
    while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') --start;
    if (start == name.size()) return {};
    if (start > 0 && (start < 2 || name[start - 1] != '_')) return {};
    return std::string(name.substr(start));
}
}  // namespace

std::vector<StepEntry> listManagerSteps(const fs::path& root) {
    std::vector<std::pair<std::uint64_t, StepEntry>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root, ec)) {
        if (!e.is_directory(ec)) continue;
        const std::string name = e.path().filename().string();
        StepEntry s;
        s.name = name;
        s.path = e.path();
        const std::size_t tmp = name.find(kTmpMarker);
        if (tmp == std::string::npos) {
            s.step = stepDigits(name);
            if (s.step.empty()) continue;
            s.complete = isItemDir(e.path()) || isFile(e.path() / "_CHECKPOINT_METADATA") ||
                         isFile(e.path() / "orbax.checkpoint");
            if (!s.complete) continue;  // a numbered directory that is not a checkpoint
        } else {
            s.step = stepDigits(std::string_view(name).substr(0, tmp));
            if (s.step.empty()) continue;
            s.complete = false;
        }
        const std::string digits = s.step.substr(0, 18);
        found.emplace_back(std::stoull(digits), std::move(s));
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second.complete < b.second.complete;
    });
    std::vector<StepEntry> steps;
    for (auto& [n, s] : found) steps.push_back(std::move(s));
    return steps;
}

std::unique_ptr<FormatReader> makeOrbaxReader() { return std::make_unique<OrbaxReader>(); }

}  // namespace ckpt::orbax
