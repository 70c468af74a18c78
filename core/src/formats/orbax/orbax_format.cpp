#include "formats/orbax/orbax_format.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "formats/flax_msgpack/flax_codec.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_array.h"
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
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::open(p));
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
struct BuildNode {
    bool sequence = false;
    bool leaf = false;
    NodePtr value;
    std::vector<std::pair<std::string, std::unique_ptr<BuildNode>>> children;
    std::unordered_map<std::string, BuildNode*> index;  // key -> child, for wide levels

    BuildNode* child(const std::string& key) {
        if (auto it = index.find(key); it != index.end()) return it->second;
        children.emplace_back(key, std::make_unique<BuildNode>());
        BuildNode* c = children.back().second.get();
        index.emplace(key, c);
        return c;
    }
};

Result<NodePtr> finish(const BuildNode& b, KeyPath& path, const std::string& source) {
    if (b.leaf) return b.value;
    if (b.sequence) {
        // Orbax restores SEQUENCE levels as lists, items in index order.
        std::vector<std::pair<std::int64_t, const BuildNode*>> ordered;
        for (const auto& [k, c] : b.children) {
            std::int64_t index = -1;
            auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), index);
            if (ec != std::errc() || p != k.data() + k.size() || index < 0) {
                return corruptionError(source + ": at key path " + describeKeyPath(path) +
                                       ": sequence key '" + k + "' is not an index");
            }
            ordered.emplace_back(index, c.get());
        }
        std::sort(ordered.begin(), ordered.end(),
                  [](const auto& a, const auto& c) { return a.first < c.first; });
        std::vector<NodePtr> items;
        for (const auto& [index, c] : ordered) {
            path.push_back(std::to_string(index));
            CKPT_ASSIGN_OR_RETURN(NodePtr n, finish(*c, path, source));
            path.pop_back();
            items.push_back(std::move(n));
        }
        return Node::makeList(std::move(items));
    }
    std::vector<DictEntry> entries;
    for (const auto& [k, c] : b.children) {
        path.push_back(k);
        CKPT_ASSIGN_OR_RETURN(NodePtr n, finish(*c, path, source));
        path.pop_back();
        entries.push_back({k, std::move(n)});
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
    BuildNode root;
    for (const std::string& param : params) {
        BuildNode* node = &root;
        KeyPath path;
        std::size_t start = 0;
        while (!param.empty() && start <= param.size()) {
            const std::size_t dot = std::min(param.find('.', start), param.size());
            path.push_back(param.substr(start, dot - start));
            if (node->leaf) break;
            node = node->child(path.back());
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
    KeyPath path;
    CKPT_ASSIGN_OR_RETURN(result.tree, finish(root, path, dir.string()));
    if (params.size() == 1 && params[0].empty()) result.tree = root.value;
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
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::open(file));
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

Result<ItemResult> openPyTreeItem(const fs::path& dir) {
    const fs::path metaPath = dir / "_METADATA";
    if (!isFile(metaPath)) {
        if (isFile(dir / "checkpoint")) return openAggregateItem(dir);
        return inferPyTreeItem(dir);
    }
    CKPT_ASSIGN_OR_RETURN(std::string metaText, readText(metaPath));
    CKPT_ASSIGN_OR_RETURN(TreeMetadata meta, parseTreeMetadata(metaText, metaPath.string()));

    const bool ocdbt = meta.useOcdbt.value_or(isFile(dir / "manifest.ocdbt"));
    CKPT_ASSIGN_OR_RETURN(kv::KvStorePtr store, openItemStore(dir, ocdbt));

    // Plain json: looked up once per string leaf (ordered_json's lookup is linear).
    std::optional<nlohmann::json> strings;
    zarr::MetadataCache metadataCache;  // arrays repeat the same few zarr.json documents
    ItemResult result;
    BuildNode root;
    for (const LeafMetadata& leaf : meta.leaves) {
        KeyPath path;
        for (const auto& k : leaf.path) path.push_back(k.key);
        const std::string where = metaPath.string() + ": at key path " + describeKeyPath(path);
        BuildNode* node = &root;
        for (std::size_t i = 0; i < leaf.path.size(); ++i) {
            if (node->leaf) return corruptionError(where + ": a leaf has children");
            node->sequence = leaf.path[i].type == KeyType::kSequence;
            node = node->child(leaf.path[i].key);
        }
        if (!node->children.empty()) return corruptionError(where + ": a container is also a leaf");
        node->leaf = true;
        const std::string& type = leaf.valueType;
        const std::string param = leaf.paramName();
        if (type == "jax.Array" || type == "np.ndarray" || type == "scalar") {
            auto leafNode = [&]() -> Result<NodePtr> {
                auto array = zarr::openZarrArray(store, param.empty() ? "" : param + "/",
                                                 formatKeyPath(path), &metadataCache);
                if (!array.isOk()) return array.status().withContext(where);
                if (type != "scalar") return Node::makeArray(*array);
                // A Python or numpy scalar stored as a 0-d array; its value is read when asked.
                if ((*array)->elementCount() != 1) {
                    return corruptionError(where + ": scalar stored with shape " +
                                           formatShape((*array)->shape()));
                }
                return Node::makeLazyScalar(*array);
            }();
            if (leafNode.isOk()) {
                node->value = *leafNode;
            } else {
                // One unreadable leaf (missing or corrupt array metadata, an unknown codec) must
                // not hide the rest of the tree: show it as None carrying the error.
                result.warnings.push_back(leafNode.status().toString());
                node->value = Node::makeNone()->withAttributes(
                    {{"error", leafNode.status().toString()}});
            }
        } else if (type == "string") {
            if (!strings) {
                const fs::path sp = dir / "_strings.json";
                CKPT_ASSIGN_OR_RETURN(std::string text, readText(sp));
                nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
                if (j.is_discarded() || !j.is_object()) {
                    return corruptionError("'" + sp.string() + "' is not a JSON object");
                }
                strings = std::move(j);
            }
            auto it = strings->find(param);
            if (it == strings->end() || !it->is_string()) {
                return corruptionError(where + ": no string '" + param + "' in _strings.json");
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
            result.warnings.push_back("key path " + describeKeyPath(path) + ": value type '" + type +
                                      "' is not understood; shown as None");
            node->value = Node::makeNone();
        }
    }
    KeyPath path;
    CKPT_ASSIGN_OR_RETURN(result.tree, finish(root, path, metaPath.string()));
    if (meta.leaves.size() == 1 && meta.leaves[0].path.empty()) result.tree = root.value;
    result.properties.emplace_back("storage", ocdbt ? "OCDBT" : "directory per array");
    result.properties.emplace_back("array metadata", meta.useZarr3.value_or(false) ? "zarr v3" : "zarr v2");
    if (meta.customMetadataJson != "null") {
        result.properties.emplace_back("custom metadata", meta.customMetadataJson);
    }
    return result;
}

// A non-PyTree item: JSON handler files (`<item>/metadata` or `<item>/data.json`).
Result<NodePtr> openJsonItem(const fs::path& dir) {
    // JsonCheckpointHandler's default file name is "metadata"; v1 writes "data.json"; the
    // manager's metrics item is "metrics/metrics".
    for (const std::string& name : {std::string("metadata"), std::string("data.json"),
                                   dir.filename().string()}) {
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
