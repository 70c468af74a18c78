// applyEdit / invertEdit / applyRecipe: persistent path-copying edits of immutable trees.
//
// Only the ancestors of an edited node are rebuilt (with their attributes); every other NodePtr
// of the result is the source's own.
#include "ckpt/core/edit.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "edit/edit_sources.h"

namespace ckpt {

namespace {

std::string quoted(const KeyPath& path) { return describeKeyPath(path); }

KeyPath parentOf(const KeyPath& path) { return {path.begin(), path.end() - 1}; }

KeyPath childPath(const KeyPath& parent, const std::string& key) {
    KeyPath out = parent;
    out.push_back(key);
    return out;
}

bool isPrefix(const KeyPath& prefix, const KeyPath& path) {
    if (prefix.size() > path.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (prefix[i] != path[i]) return false;
    }
    return true;
}

std::string kindText(const Node& node) { return std::string(nodeKindName(node.kind())); }

// A list/tuple index in its one decimal spelling ("0", "12"; not "01", "+1").
std::optional<std::size_t> parseIndex(std::string_view key) {
    if (key.empty() || (key.size() > 1 && key[0] == '0')) return std::nullopt;
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), value);
    if (ec != std::errc() || end != key.data() + key.size()) return std::nullopt;
    return value;
}

std::optional<std::size_t> childIndex(const Node& node, std::string_view key) {
    if (node.kind() == NodeKind::kDict) {
        const auto& entries = node.entries();
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].key == key) return i;
        }
        return std::nullopt;
    }
    if (!node.isContainer()) return std::nullopt;
    auto index = parseIndex(key);
    if (!index || *index >= node.items().size()) return std::nullopt;
    return index;
}

// A rebuilt container keeps the original's attributes.
NodePtr keepAttributes(NodePtr rebuilt, const Node& original) {
    if (original.attributes().empty()) return rebuilt;
    return rebuilt->withAttributes(original.attributes());
}

NodePtr makeContainer(NodeKind kind, std::vector<DictEntry> entries, std::vector<NodePtr> items,
                      const Node& original) {
    NodePtr rebuilt;
    switch (kind) {
        case NodeKind::kDict: rebuilt = Node::makeDict(std::move(entries)); break;
        case NodeKind::kList: rebuilt = Node::makeList(std::move(items)); break;
        default: rebuilt = Node::makeTuple(std::move(items)); break;
    }
    return keepAttributes(std::move(rebuilt), original);
}

NodePtr withChild(const Node& parent, std::size_t index, NodePtr child) {
    std::vector<DictEntry> entries = parent.entries();
    std::vector<NodePtr> items = parent.items();
    if (parent.kind() == NodeKind::kDict) {
        entries[index].value = std::move(child);
    } else {
        items[index] = std::move(child);
    }
    return makeContainer(parent.kind(), std::move(entries), std::move(items), parent);
}

// The node at `path`, or NotFound "no node at 'a/b'" (with where the walk stopped, when that is
// above the last key).
Result<NodePtr> lookup(const NodePtr& root, const KeyPath& path) {
    NodePtr node = root;
    for (std::size_t i = 0; i < path.size(); ++i) {
        const KeyPath prefix(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(i));
        std::string why;
        if (!node->isContainer()) {
            why = quoted(prefix) + " is a " + kindText(*node);
        } else if (auto index = childIndex(*node, path[i])) {
            node = node->child(*index);
            continue;
        } else if (i + 1 < path.size()) {
            why = quoted(prefix) + " has no child '" + path[i] + "'";
        }
        return notFoundError("no node at " + quoted(path) + (why.empty() ? "" : ": " + why));
    }
    return node;
}

using NodeFn = std::function<Result<NodePtr>(const NodePtr&)>;

// Replaces the node at path[depth..] under `node` by fn(it), rebuilding only the ancestors.
Result<NodePtr> updateAt(const NodePtr& node, const KeyPath& path, std::size_t depth,
                         const NodeFn& fn) {
    if (depth == path.size()) return fn(node);
    const KeyPath here(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(depth));
    std::optional<std::size_t> index = childIndex(*node, path[depth]);
    if (!index) {
        if (!node->isContainer()) {
            return notFoundError("no node at " + quoted(path) + ": " + quoted(here) + " is a " +
                                 kindText(*node));
        }
        std::string why;
        if (depth + 1 < path.size()) why = ": " + quoted(here) + " has no child '" + path[depth] + "'";
        return notFoundError("no node at " + quoted(path) + why);
    }
    const NodePtr& child = node->child(*index);
    CKPT_ASSIGN_OR_RETURN(NodePtr updated, updateAt(child, path, depth + 1, fn));
    if (updated == child) return node;
    return withChild(*node, *index, std::move(updated));
}

Result<NodePtr> updateAt(const NodePtr& root, const KeyPath& path, const NodeFn& fn) {
    return updateAt(root, path, 0, fn);
}

Status needsNonRoot(const Edit& edit) {
    if (edit.path.empty()) {
        return invalidArgumentError("cannot " + std::string(editKindName(edit.kind)) +
                                    " the root");
    }
    return okStatus();
}

// The index of the entry at `path` among its parent dict's entries; nullopt for list items.
Result<std::optional<std::int64_t>> dictPosition(const NodePtr& root, const KeyPath& path) {
    CKPT_ASSIGN_OR_RETURN(NodePtr parent, lookup(root, parentOf(path)));
    if (parent->kind() != NodeKind::kDict) return std::optional<std::int64_t>();
    auto index = childIndex(*parent, path.back());
    if (!index) return notFoundError("no node at " + quoted(path));
    return std::optional<std::int64_t>(static_cast<std::int64_t>(*index));
}

// Removes the node at `path` (not the root); gives the new root and the removed node.
Result<std::pair<NodePtr, NodePtr>> removeAt(const NodePtr& root, const KeyPath& path) {
    CKPT_ASSIGN_OR_RETURN(NodePtr removed, lookup(root, path));
    const std::string key = path.back();
    auto newRoot = updateAt(root, parentOf(path), [&](const NodePtr& parent) -> Result<NodePtr> {
        const std::size_t index = childIndex(*parent, key).value_or(0);
        std::vector<DictEntry> entries = parent->entries();
        std::vector<NodePtr> items = parent->items();
        if (parent->kind() == NodeKind::kDict) {
            entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(index));
        } else {
            items.erase(items.begin() + static_cast<std::ptrdiff_t>(index));
        }
        return makeContainer(parent->kind(), std::move(entries), std::move(items), *parent);
    });
    if (!newRoot.isOk()) return newRoot.status();
    return std::make_pair(std::move(*newRoot), std::move(removed));
}

// Inserts `node` as a new child at `path`: a free dict key (at `position`, default last) or a
// list/tuple index 0..size.
Result<NodePtr> insertAt(const NodePtr& root, const KeyPath& path, NodePtr node,
                         std::optional<std::int64_t> position) {
    if (path.empty()) return invalidArgumentError("the root already exists");
    const KeyPath parentPath = parentOf(path);
    const std::string& key = path.back();
    return updateAt(root, parentPath, [&](const NodePtr& parent) -> Result<NodePtr> {
        if (!parent->isContainer()) {
            return invalidArgumentError("cannot add " + quoted(path) + ": " + quoted(parentPath) +
                                        " is a " + kindText(*parent) + ", not a container");
        }
        std::vector<DictEntry> entries = parent->entries();
        std::vector<NodePtr> items = parent->items();
        if (parent->kind() == NodeKind::kDict) {
            if (childIndex(*parent, key)) return alreadyExistsError(quoted(path) + " already exists");
            const auto size = static_cast<std::int64_t>(entries.size());
            const std::int64_t at = position.value_or(size);
            if (at < 0 || at > size) {
                return invalidArgumentError("position " + std::to_string(at) + " for " +
                                            quoted(path) + " is outside 0.." +
                                            std::to_string(size));
            }
            entries.insert(entries.begin() + at, DictEntry{key, std::move(node)});
        } else {
            auto index = parseIndex(key);
            if (!index || *index > items.size()) {
                return invalidArgumentError("cannot add " + quoted(path) + ": '" + key +
                                            "' is not an index 0.." +
                                            std::to_string(items.size()) + " of the " +
                                            kindText(*parent) + " " + quoted(parentPath));
            }
            items.insert(items.begin() + static_cast<std::ptrdiff_t>(*index), std::move(node));
        }
        return makeContainer(parent->kind(), std::move(entries), std::move(items), *parent);
    });
}

Result<NodePtr> buildNode(const NodePtr& root, const NodeSpec& spec) {
    switch (spec.kind) {
        case NodeSpec::Kind::kDict: return Node::makeDict({});
        case NodeSpec::Kind::kList: return Node::makeList({});
        case NodeSpec::Kind::kTuple: return Node::makeTuple({});
        case NodeSpec::Kind::kNone: return Node::makeNone();
        case NodeSpec::Kind::kString: return Node::makeString(spec.text);
        case NodeSpec::Kind::kScalar: {
            CKPT_ASSIGN_OR_RETURN(Scalar value, scalarFromValue(spec.dtype, spec.value, spec.native));
            return Node::makeScalar(value);
        }
        case NodeSpec::Kind::kZeros:
        case NodeSpec::Kind::kOnes:
        case NodeSpec::Kind::kFull: {
            EditValue value = spec.value;
            if (spec.kind == NodeSpec::Kind::kZeros) value = std::int64_t{0};
            if (spec.kind == NodeSpec::Kind::kOnes) value = std::int64_t{1};
            CKPT_ASSIGN_OR_RETURN(ArraySourcePtr source,
                                  makeConstantSource(spec.dtype, spec.shape, value));
            return Node::makeArray(std::move(source));
        }
        case NodeSpec::Kind::kCopyOf: return lookup(root, spec.from);
        case NodeSpec::Kind::kReference: {
            if (!spec.reference) {
                return invalidArgumentError(
                    "the node comes from " + quoted(spec.from) +
                    " of a reference checkpoint, and none was given (ckpt apply --reference REF)");
            }
            auto node = lookup(spec.reference, spec.from);
            if (!node.isOk()) return node.status().withContext("reference");
            return node;
        }
    }
    return internalError("unknown node kind");
}

bool castable(DType d) { return d != DType::kBool; }

// Casts every numeric array and scalar under `node`; `direct` = the node the user named.
Result<NodePtr> castNode(const NodePtr& node, DType to, bool direct) {
    switch (node->kind()) {
        case NodeKind::kArray: {
            const ArraySourcePtr& source = node->array();
            if (source->dtype() == to || (!direct && !castable(source->dtype()))) return node;
            CKPT_ASSIGN_OR_RETURN(ArraySourcePtr cast, makeCastSource(source, to));
            return keepAttributes(Node::makeArray(std::move(cast)), *node);
        }
        case NodeKind::kScalar: {
            if (node->scalarDType() == to || (!direct && !castable(node->scalarDType()))) {
                return node;
            }
            CKPT_ASSIGN_OR_RETURN(Scalar value, node->loadScalar());
            CKPT_ASSIGN_OR_RETURN(Scalar cast, castScalar(value, to));
            return keepAttributes(Node::makeScalar(cast), *node);
        }
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple: {
            std::vector<DictEntry> entries = node->entries();
            std::vector<NodePtr> items = node->items();
            bool changed = false;
            for (std::size_t i = 0; i < node->childCount(); ++i) {
                const NodePtr& child = node->child(i);
                auto cast = castNode(child, to, false);
                if (!cast.isOk()) return cast.status().withContext(node->childKey(i));
                if (*cast == child) continue;
                changed = true;
                if (node->kind() == NodeKind::kDict) {
                    entries[i].value = std::move(*cast);
                } else {
                    items[i] = std::move(*cast);
                }
            }
            if (!changed) return node;
            return makeContainer(node->kind(), std::move(entries), std::move(items), *node);
        }
        default:
            if (!direct) return node;
            return invalidArgumentError("cannot cast " + kindText(*node) + " to " +
                                        std::string(dtypeName(to)));
    }
}

Result<NodePtr> convertNode(const NodePtr& node, NodeKind to) {
    if (!node->isContainer()) {
        return invalidArgumentError("cannot convert a " + kindText(*node) +
                                    "; only dicts, lists and tuples");
    }
    if (to != NodeKind::kDict && to != NodeKind::kList && to != NodeKind::kTuple) {
        return invalidArgumentError("can only convert to dict, list or tuple");
    }
    if (node->kind() == to) return node;
    std::vector<DictEntry> entries;
    std::vector<NodePtr> items;
    if (node->kind() == NodeKind::kDict) {
        const auto& source = node->entries();
        for (std::size_t i = 0; i < source.size(); ++i) {
            if (source[i].key != std::to_string(i)) {
                return invalidArgumentError(
                    "cannot convert a dict to a " + std::string(nodeKindName(to)) + ": key " +
                    std::to_string(i) + " is '" + source[i].key + "', not '" +
                    std::to_string(i) + "' (keys must be \"0\"..\"n-1\" in order)");
            }
            items.push_back(source[i].value);
        }
    } else if (to == NodeKind::kDict) {
        const auto& source = node->items();
        for (std::size_t i = 0; i < source.size(); ++i) {
            entries.push_back({std::to_string(i), source[i]});
        }
    } else {
        items = node->items();
    }
    return makeContainer(to, std::move(entries), std::move(items), *node);
}

// ---- stack / unstack ----

// "float32 (3, 4)", "int32 scalar".
std::string leafText(const Node& node) {
    if (node.kind() == NodeKind::kScalar) {
        return std::string(dtypeName(node.scalarDType())) + " scalar";
    }
    return std::string(dtypeName(node.array()->dtype())) + " " + formatShape(node.array()->shape());
}

// The number N of a key `prefix` + N (decimal digits), or nullopt for other keys. `canonical`
// is false for a spelling numpy/Flax never write ("01", or a number too large).
std::optional<std::uint64_t> layerNumber(std::string_view key, std::string_view prefix,
                                         bool& canonical) {
    canonical = true;
    if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) return std::nullopt;
    const std::string_view digits = key.substr(prefix.size());
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    canonical = ec == std::errc() && end == digits.data() + digits.size() &&
                (digits.size() == 1 || digits[0] != '0');
    return value;
}

KeyPath layerPath(const KeyPath& parent, const std::string& prefix, std::size_t k) {
    return childPath(parent, prefix + std::to_string(k));
}

// The layers' nodes at one level stacked into one node, or null after adding to `diffs` what
// differs between them (then nothing is built, but the other levels are still compared so that
// one error names every difference). paths[k] is nodes[k]'s key path, for messages.
Result<NodePtr> stackLevel(const std::vector<NodePtr>& nodes, const std::vector<KeyPath>& paths,
                           std::int64_t axis, std::vector<std::string>& diffs) {
    const Node& first = *nodes.front();
    const std::string firstPath = quoted(paths.front());
    // A scalar and a 0-d array stack alike (Orbax stores both as 0-d arrays).
    const auto numeric = [](NodeKind k) { return k == NodeKind::kArray || k == NodeKind::kScalar; };
    bool same = true;
    for (std::size_t k = 1; k < nodes.size(); ++k) {
        const NodeKind kind = nodes[k]->kind();
        if (kind != first.kind() && !(numeric(kind) && numeric(first.kind()))) {
            diffs.push_back(quoted(paths[k]) + " is a " + kindText(*nodes[k]) + " but " +
                            firstPath + " is a " + kindText(first));
            same = false;
        }
    }
    if (!same) return NodePtr();
    switch (first.kind()) {
        case NodeKind::kDict: {
            for (std::size_t k = 1; k < nodes.size(); ++k) {
                for (const DictEntry& e : first.entries()) {
                    if (!nodes[k]->findChild(e.key)) {
                        diffs.push_back(quoted(paths[k]) + " has no key '" + e.key + "' (" +
                                        firstPath + " has)");
                        same = false;
                    }
                }
                for (const DictEntry& e : nodes[k]->entries()) {
                    if (!first.findChild(e.key)) {
                        diffs.push_back(quoted(paths[k]) + " has a key '" + e.key + "' that " +
                                        firstPath + " lacks");
                        same = false;
                    }
                }
            }
            // The keys all layers have are still compared, so one error names every difference.
            std::vector<DictEntry> entries;
            for (const DictEntry& e : first.entries()) {
                std::vector<NodePtr> children;
                std::vector<KeyPath> childPaths;
                for (std::size_t k = 0; k < nodes.size(); ++k) {
                    children.push_back(nodes[k]->findChild(e.key));
                    childPaths.push_back(childPath(paths[k], e.key));
                }
                if (std::find(children.begin(), children.end(), nullptr) != children.end()) {
                    continue;
                }
                CKPT_ASSIGN_OR_RETURN(NodePtr stacked,
                                      stackLevel(children, childPaths, axis, diffs));
                if (!stacked) same = false;
                entries.push_back({e.key, std::move(stacked)});
            }
            if (!same) return NodePtr();
            return keepAttributes(Node::makeDict(std::move(entries)), first);
        }
        case NodeKind::kList:
        case NodeKind::kTuple: {
            for (std::size_t k = 1; k < nodes.size(); ++k) {
                if (nodes[k]->childCount() != first.childCount()) {
                    diffs.push_back(quoted(paths[k]) + " has " +
                                    std::to_string(nodes[k]->childCount()) + " items but " +
                                    firstPath + " has " + std::to_string(first.childCount()));
                    same = false;
                }
            }
            if (!same) return NodePtr();
            std::vector<NodePtr> items;
            for (std::size_t i = 0; i < first.childCount(); ++i) {
                std::vector<NodePtr> children;
                std::vector<KeyPath> childPaths;
                for (std::size_t k = 0; k < nodes.size(); ++k) {
                    children.push_back(nodes[k]->child(i));
                    childPaths.push_back(childPath(paths[k], std::to_string(i)));
                }
                CKPT_ASSIGN_OR_RETURN(NodePtr stacked,
                                      stackLevel(children, childPaths, axis, diffs));
                if (!stacked) same = false;
                items.push_back(std::move(stacked));
            }
            if (!same) return NodePtr();
            return makeContainer(first.kind(), {}, std::move(items), first);
        }
        case NodeKind::kNone:
            return nodes.front();
        case NodeKind::kString:
        case NodeKind::kBytes:
            diffs.push_back(firstPath + " is a " + kindText(first) + ", which cannot be stacked");
            return NodePtr();
        case NodeKind::kArray:
        case NodeKind::kScalar: {
            std::vector<ArraySourcePtr> sources;
            for (std::size_t k = 0; k < nodes.size(); ++k) {
                if (nodes[k]->kind() == NodeKind::kScalar) {
                    sources.push_back(std::make_shared<edit::ScalarNodeSource>(nodes[k]));
                    continue;
                }
                Status loaded = nodes[k]->array()->metadataStatus();
                if (!loaded.isOk()) return loaded.withContext(quoted(paths[k]));
                sources.push_back(nodes[k]->array());
            }
            const ArraySource& head = *sources.front();
            for (std::size_t k = 1; k < nodes.size(); ++k) {
                if (sources[k]->dtype() != head.dtype() || sources[k]->shape() != head.shape()) {
                    diffs.push_back(quoted(paths[k]) + " is " + leafText(*nodes[k]) + " but " +
                                    firstPath + " is " + leafText(first));
                    same = false;
                }
            }
            if (static_cast<std::size_t>(axis) > head.shape().size()) {
                diffs.push_back(firstPath + " (" + leafText(first) + ") has no axis " +
                                std::to_string(axis) + " to stack along (0.." +
                                std::to_string(head.shape().size()) + ")");
                same = false;
            }
            if (!same) return NodePtr();
            auto stacked = makeStackSource(std::move(sources), axis);
            if (!stacked.isOk()) return stacked.status().withContext(firstPath);
            return Node::makeArray(std::move(*stacked));
        }
    }
    return internalError("unknown node kind");
}

Status axisIsValid(const Edit& edit) {
    if (edit.axis < 0) {
        return invalidArgumentError("axis " + std::to_string(edit.axis) +
                                    " is negative (count axes from 0)");
    }
    return okStatus();
}

// The stack edit on the dict `parent` at edit.path.
Result<NodePtr> stackChildren(const NodePtr& parent, const Edit& edit) {
    const KeyPath& path = edit.path;
    const std::string what = "cannot stack " + quoted(childPath(path, edit.prefix + "*"));
    if (parent->kind() != NodeKind::kDict) {
        return invalidArgumentError(what + ": " + quoted(path) + " is a " + kindText(*parent) +
                                    ", not a dict");
    }
    if (edit.newKey.empty()) return invalidArgumentError(what + ": no key for the result");
    CKPT_RETURN_IF_ERROR(axisIsValid(edit));
    const auto& entries = parent->entries();
    std::map<std::uint64_t, std::size_t> layers;  // layer number -> entry index
    for (std::size_t i = 0; i < entries.size(); ++i) {
        bool canonical = true;
        const auto number = layerNumber(entries[i].key, edit.prefix, canonical);
        if (!number) continue;
        if (!canonical) {
            return invalidArgumentError(what + ": " + quoted(childPath(path, entries[i].key)) +
                                        " is not numbered " + edit.prefix + "0, " + edit.prefix +
                                        "1, ... (no leading zeros)");
        }
        layers.emplace(*number, i);
    }
    if (layers.empty()) {
        return notFoundError(what + ": " + quoted(path) + " has no key " + edit.prefix + "0, " +
                             edit.prefix + "1, ...");
    }
    for (std::uint64_t k = 0; k < layers.size(); ++k) {
        if (layers.count(k)) continue;
        std::string found;
        for (const auto& [number, index] : layers) {
            found += (found.empty() ? "" : ", ") + entries[index].key;
        }
        return invalidArgumentError(what + ": " + quoted(layerPath(path, edit.prefix, k)) +
                                    " is missing (found " + found + "; the keys must run from " +
                                    edit.prefix + "0 without gaps)");
    }
    bool canonicalKey = true;
    if (childIndex(*parent, edit.newKey) && !layerNumber(edit.newKey, edit.prefix, canonicalKey)) {
        return alreadyExistsError(what + ": " + quoted(childPath(path, edit.newKey)) +
                                  " already exists");
    }
    std::vector<NodePtr> nodes;
    std::vector<KeyPath> paths;
    std::size_t firstIndex = entries.size();
    for (const auto& [number, index] : layers) {
        nodes.push_back(entries[index].value);
        paths.push_back(childPath(path, entries[index].key));
        firstIndex = std::min(firstIndex, index);
    }
    std::vector<std::string> diffs;
    CKPT_ASSIGN_OR_RETURN(NodePtr stacked, stackLevel(nodes, paths, edit.axis, diffs));
    if (!stacked) {
        constexpr std::size_t kShown = 8;
        std::string text = what + ": the layers differ: ";
        for (std::size_t i = 0; i < diffs.size() && i < kShown; ++i) {
            text += (i ? "; " : "") + diffs[i];
        }
        if (diffs.size() > kShown) {
            text += "; and " + std::to_string(diffs.size() - kShown) + " more";
        }
        return invalidArgumentError(std::move(text));
    }
    std::vector<DictEntry> kept;
    std::size_t position = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        bool canonical = true;
        if (layerNumber(entries[i].key, edit.prefix, canonical)) continue;
        if (i < firstIndex) ++position;
        kept.push_back(entries[i]);
    }
    kept.insert(kept.begin() + static_cast<std::ptrdiff_t>(position),
                DictEntry{edit.newKey, std::move(stacked)});
    return makeContainer(NodeKind::kDict, std::move(kept), {}, *parent);
}

// The length N along `axis` shared by every array under `node` (at `path`); InvalidArgument
// for a leaf that is not an array with that axis, or a different length.
Result<std::int64_t> unstackLength(const NodePtr& node, const KeyPath& path, std::size_t axis) {
    std::optional<std::int64_t> length;
    KeyPath lengthFrom;
    Status failure = okStatus();
    walkTree(node, [&](const KeyPath& relative, const Node& n) {
        if (!failure.isOk()) return false;
        KeyPath full = path;
        full.insert(full.end(), relative.begin(), relative.end());
        switch (n.kind()) {
            case NodeKind::kArray: {
                failure = n.array()->metadataStatus();
                if (!failure.isOk()) {
                    failure = failure.withContext(quoted(full));
                    return false;
                }
                const Shape& shape = n.array()->shape();
                if (shape.size() <= axis) {
                    failure = invalidArgumentError(quoted(full) + " (" + leafText(n) +
                                                   ") has no axis " + std::to_string(axis));
                    return false;
                }
                if (length && *length != shape[axis]) {
                    failure = invalidArgumentError(
                        quoted(full) + " (" + leafText(n) + ") has " + std::to_string(shape[axis]) +
                        " along axis " + std::to_string(axis) + " but " + quoted(lengthFrom) +
                        " has " + std::to_string(*length));
                    return false;
                }
                length = shape[axis];
                lengthFrom = full;
                return true;
            }
            case NodeKind::kScalar:
                failure = invalidArgumentError(quoted(full) + " is a scalar (" + leafText(n) +
                                               "): it has no axis " + std::to_string(axis));
                return false;
            case NodeKind::kString:
            case NodeKind::kBytes:
                failure = invalidArgumentError(quoted(full) + " is a " + kindText(n) +
                                               ", which cannot be unstacked");
                return false;
            default:
                return true;
        }
    });
    CKPT_RETURN_IF_ERROR(failure);
    if (!length) return invalidArgumentError(quoted(path) + " holds no array to unstack");
    if (*length == 0) {
        return invalidArgumentError(quoted(lengthFrom) + " has length 0 along axis " +
                                    std::to_string(axis) + ": no layers to unstack");
    }
    return *length;
}

// Layer k of every array under `node`, as `count` nodes of the node's structure.
Result<std::vector<NodePtr>> unstackLevel(const NodePtr& node, std::int64_t axis,
                                          std::size_t count) {
    std::vector<NodePtr> out;
    switch (node->kind()) {
        case NodeKind::kDict:
        case NodeKind::kList:
        case NodeKind::kTuple: {
            std::vector<std::vector<DictEntry>> entries(count);
            std::vector<std::vector<NodePtr>> items(count);
            for (std::size_t i = 0; i < node->childCount(); ++i) {
                CKPT_ASSIGN_OR_RETURN(std::vector<NodePtr> layers,
                                      unstackLevel(node->child(i), axis, count));
                for (std::size_t k = 0; k < count; ++k) {
                    if (node->kind() == NodeKind::kDict) {
                        entries[k].push_back({node->childKey(i), std::move(layers[k])});
                    } else {
                        items[k].push_back(std::move(layers[k]));
                    }
                }
            }
            for (std::size_t k = 0; k < count; ++k) {
                out.push_back(
                    makeContainer(node->kind(), std::move(entries[k]), std::move(items[k]), *node));
            }
            return out;
        }
        case NodeKind::kArray: {
            for (std::size_t k = 0; k < count; ++k) {
                CKPT_ASSIGN_OR_RETURN(
                    ArraySourcePtr slice,
                    makeSliceSource(node->array(), axis, static_cast<std::int64_t>(k)));
                // A stacked scalar comes back as itself; other 0-d slices are 0-d arrays, as
                // numpy's a[k] of a 1-d array and Orbax's np.ndarray leaves.
                if (const auto* scalar = dynamic_cast<const edit::ScalarNodeSource*>(slice.get())) {
                    out.push_back(scalar->node());
                } else {
                    out.push_back(Node::makeArray(std::move(slice)));
                }
            }
            return out;
        }
        default:  // None (unstackLength refused the other leaves)
            return std::vector<NodePtr>(count, node);
    }
}

// The unstack edit on the dict `parent` of edit.path.
Result<NodePtr> unstackChild(const NodePtr& parent, const Edit& edit) {
    const KeyPath& path = edit.path;
    const KeyPath parentPath = parentOf(path);
    const std::string what = "cannot unstack " + quoted(path);
    if (parent->kind() != NodeKind::kDict) {
        return invalidArgumentError(what + ": " + quoted(parentPath) + " is a " +
                                    kindText(*parent) + "; the layers need dict keys");
    }
    CKPT_RETURN_IF_ERROR(axisIsValid(edit));
    const auto index = childIndex(*parent, path.back());
    if (!index) return notFoundError("no node at " + quoted(path));
    const NodePtr& node = parent->child(*index);
    const auto axis = static_cast<std::size_t>(edit.axis);
    auto length = unstackLength(node, path, axis);
    if (!length.isOk()) return length.status().withContext(what);
    const auto count = static_cast<std::size_t>(*length);
    for (std::size_t k = 0; k < count; ++k) {
        const std::string key = edit.prefix + std::to_string(k);
        if (key != path.back() && childIndex(*parent, key)) {
            return alreadyExistsError(what + ": " + quoted(childPath(parentPath, key)) +
                                      " already exists");
        }
    }
    CKPT_ASSIGN_OR_RETURN(std::vector<NodePtr> layers, unstackLevel(node, edit.axis, count));
    std::vector<DictEntry> entries = parent->entries();
    entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(*index));
    std::vector<DictEntry> inserted;
    for (std::size_t k = 0; k < count; ++k) {
        inserted.push_back({edit.prefix + std::to_string(k), std::move(layers[k])});
    }
    entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(*index), inserted.begin(),
                   inserted.end());
    return makeContainer(NodeKind::kDict, std::move(entries), {}, *parent);
}

Result<NodePtr> applyEditImpl(const NodePtr& root, const Edit& edit) {
    const KeyPath& path = edit.path;
    switch (edit.kind) {
        case EditKind::kRename: {
            CKPT_RETURN_IF_ERROR(needsNonRoot(edit));
            CKPT_ASSIGN_OR_RETURN(NodePtr target, lookup(root, path));
            (void)target;
            const KeyPath parentPath = parentOf(path);
            return updateAt(root, parentPath, [&](const NodePtr& parent) -> Result<NodePtr> {
                if (parent->kind() != NodeKind::kDict) {
                    return invalidArgumentError("cannot rename " + quoted(path) + ": only dict "
                                                "keys can be renamed, and " + quoted(parentPath) +
                                                " is a " + kindText(*parent));
                }
                if (edit.newKey == path.back()) return parent;
                if (childIndex(*parent, edit.newKey)) {
                    return alreadyExistsError("cannot rename " + quoted(path) + ": " +
                                              quoted(childPath(parentPath, edit.newKey)) +
                                              " already exists");
                }
                std::vector<DictEntry> entries = parent->entries();
                entries[*childIndex(*parent, path.back())].key = edit.newKey;
                return makeContainer(NodeKind::kDict, std::move(entries), {}, *parent);
            });
        }
        case EditKind::kDelete: {
            CKPT_RETURN_IF_ERROR(needsNonRoot(edit));
            CKPT_ASSIGN_OR_RETURN(auto removed, removeAt(root, path));
            return std::move(removed.first);
        }
        case EditKind::kMove: {
            CKPT_RETURN_IF_ERROR(needsNonRoot(edit));
            if (isPrefix(path, edit.to)) {
                return invalidArgumentError("cannot move " + quoted(path) + " into itself (" +
                                            quoted(edit.to) + ")");
            }
            CKPT_ASSIGN_OR_RETURN(auto removed, removeAt(root, path));
            return insertAt(removed.first, edit.to, std::move(removed.second), edit.position);
        }
        case EditKind::kCopy: {
            CKPT_RETURN_IF_ERROR(needsNonRoot(edit));
            CKPT_ASSIGN_OR_RETURN(NodePtr node, lookup(root, path));
            return insertAt(root, edit.to, std::move(node), edit.position);
        }
        case EditKind::kAdd: {
            CKPT_ASSIGN_OR_RETURN(NodePtr node, buildNode(root, edit.node));
            return insertAt(root, path, std::move(node), edit.position);
        }
        case EditKind::kInsert: {
            if (!edit.payload) return invalidArgumentError("insert without a node");
            return insertAt(root, path, edit.payload, edit.position);
        }
        case EditKind::kReplace: {
            if (!edit.payload) return invalidArgumentError("replace without a node");
            return updateAt(root, path, [&](const NodePtr&) -> Result<NodePtr> {
                return edit.payload;
            });
        }
        case EditKind::kSetScalar:
            return updateAt(root, path, [&](const NodePtr& node) -> Result<NodePtr> {
                if (node->kind() != NodeKind::kScalar) {
                    return invalidArgumentError(quoted(path) + " is a " + kindText(*node) +
                                                ", not a scalar");
                }
                auto current = node->loadScalar();
                const bool native = current.isOk() && current->isNative();
                auto value = scalarFromValue(node->scalarDType(), edit.value, native);
                if (!value.isOk()) return value.status().withContext(quoted(path));
                return keepAttributes(Node::makeScalar(*value), *node);
            });
        case EditKind::kSetString:
            return updateAt(root, path, [&](const NodePtr& node) -> Result<NodePtr> {
                if (node->kind() == NodeKind::kString) {
                    return keepAttributes(Node::makeString(edit.text), *node);
                }
                if (node->kind() == NodeKind::kBytes) {
                    return keepAttributes(Node::makeBytes(edit.text), *node);
                }
                return invalidArgumentError(quoted(path) + " is a " + kindText(*node) +
                                            ", not a string");
            });
        case EditKind::kSetCells:
            return updateAt(root, path, [&](const NodePtr& node) -> Result<NodePtr> {
                if (node->kind() != NodeKind::kArray) {
                    return invalidArgumentError(quoted(path) + " is a " + kindText(*node) +
                                                ", not an array");
                }
                auto patched = makePatchedSource(node->array(), edit.cells);
                if (!patched.isOk()) return patched.status().withContext(quoted(path));
                return keepAttributes(Node::makeArray(std::move(*patched)), *node);
            });
        case EditKind::kCast:
            return updateAt(root, path, [&](const NodePtr& node) -> Result<NodePtr> {
                auto cast = castNode(node, edit.dtype, true);
                if (!cast.isOk()) return cast.status().withContext(quoted(path));
                return cast;
            });
        case EditKind::kConvert:
            return updateAt(root, path, [&](const NodePtr& node) -> Result<NodePtr> {
                auto converted = convertNode(node, edit.containerKind);
                if (!converted.isOk()) return converted.status().withContext(quoted(path));
                return converted;
            });
        case EditKind::kStack:
            return updateAt(root, path, [&](const NodePtr& parent) -> Result<NodePtr> {
                return stackChildren(parent, edit);
            });
        case EditKind::kUnstack: {
            CKPT_RETURN_IF_ERROR(needsNonRoot(edit));
            return updateAt(root, parentOf(path), [&](const NodePtr& parent) -> Result<NodePtr> {
                return unstackChild(parent, edit);
            });
        }
    }
    return internalError("unknown edit kind");
}

}  // namespace

std::string_view editKindName(EditKind kind) {
    switch (kind) {
        case EditKind::kRename: return "rename";
        case EditKind::kMove: return "move";
        case EditKind::kDelete: return "delete";
        case EditKind::kCopy: return "copy";
        case EditKind::kAdd: return "add";
        case EditKind::kSetScalar: return "set";
        case EditKind::kSetString: return "set_string";
        case EditKind::kSetCells: return "set_cells";
        case EditKind::kCast: return "cast";
        case EditKind::kConvert: return "convert";
        case EditKind::kStack:
            return "stack";
        case EditKind::kUnstack:
            return "unstack";
        case EditKind::kReplace: return "replace";
        case EditKind::kInsert: return "insert";
    }
    return "?";
}

NodeSpec NodeSpec::ofKind(Kind kind) {
    NodeSpec s;
    s.kind = kind;
    return s;
}
NodeSpec NodeSpec::string(std::string text) {
    NodeSpec s = ofKind(Kind::kString);
    s.text = std::move(text);
    return s;
}
NodeSpec NodeSpec::scalar(DType dtype, EditValue value, bool native) {
    NodeSpec s = ofKind(Kind::kScalar);
    s.dtype = dtype;
    s.value = value;
    s.native = native;
    return s;
}
NodeSpec NodeSpec::zeros(DType dtype, Shape shape) {
    NodeSpec s = full(dtype, std::move(shape), std::int64_t{0});
    s.kind = Kind::kZeros;
    return s;
}
NodeSpec NodeSpec::ones(DType dtype, Shape shape) {
    NodeSpec s = full(dtype, std::move(shape), std::int64_t{1});
    s.kind = Kind::kOnes;
    return s;
}
NodeSpec NodeSpec::full(DType dtype, Shape shape, EditValue value) {
    NodeSpec s = ofKind(Kind::kFull);
    s.dtype = dtype;
    s.shape = std::move(shape);
    s.value = value;
    return s;
}
NodeSpec NodeSpec::copyOf(KeyPath from) {
    NodeSpec s = ofKind(Kind::kCopyOf);
    s.from = std::move(from);
    return s;
}

NodeSpec NodeSpec::fromReference(KeyPath from, NodePtr reference) {
    NodeSpec s = ofKind(Kind::kReference);
    s.from = std::move(from);
    s.reference = std::move(reference);
    return s;
}

bool needsReference(const std::vector<Edit>& steps) {
    return std::any_of(steps.begin(), steps.end(), [](const Edit& e) {
        return e.kind == EditKind::kAdd && e.node.kind == NodeSpec::Kind::kReference;
    });
}

std::vector<Edit> bindReference(std::vector<Edit> steps, const NodePtr& reference) {
    for (Edit& e : steps) {
        if (e.kind == EditKind::kAdd && e.node.kind == NodeSpec::Kind::kReference) {
            e.node.reference = reference;
        }
    }
    return steps;
}

Edit Edit::rename(KeyPath path, std::string newKey) {
    Edit e;
    e.kind = EditKind::kRename;
    e.path = std::move(path);
    e.newKey = std::move(newKey);
    return e;
}
Edit Edit::move(KeyPath path, KeyPath to, std::optional<std::int64_t> position) {
    Edit e;
    e.kind = EditKind::kMove;
    e.path = std::move(path);
    e.to = std::move(to);
    e.position = position;
    return e;
}
Edit Edit::remove(KeyPath path) {
    Edit e;
    e.kind = EditKind::kDelete;
    e.path = std::move(path);
    return e;
}
Edit Edit::copy(KeyPath path, KeyPath to, std::optional<std::int64_t> position) {
    Edit e = move(std::move(path), std::move(to), position);
    e.kind = EditKind::kCopy;
    return e;
}
Edit Edit::add(KeyPath path, NodeSpec node, std::optional<std::int64_t> position) {
    Edit e;
    e.kind = EditKind::kAdd;
    e.path = std::move(path);
    e.node = std::move(node);
    e.position = position;
    return e;
}
Edit Edit::setScalar(KeyPath path, EditValue value) {
    Edit e;
    e.kind = EditKind::kSetScalar;
    e.path = std::move(path);
    e.value = value;
    return e;
}
Edit Edit::setString(KeyPath path, std::string text) {
    Edit e;
    e.kind = EditKind::kSetString;
    e.path = std::move(path);
    e.text = std::move(text);
    return e;
}
Edit Edit::setCells(KeyPath path, std::vector<CellEdit> cells) {
    Edit e;
    e.kind = EditKind::kSetCells;
    e.path = std::move(path);
    e.cells = std::move(cells);
    return e;
}
Edit Edit::cast(KeyPath path, DType dtype) {
    Edit e;
    e.kind = EditKind::kCast;
    e.path = std::move(path);
    e.dtype = dtype;
    return e;
}
Edit Edit::convert(KeyPath path, NodeKind containerKind) {
    Edit e;
    e.kind = EditKind::kConvert;
    e.path = std::move(path);
    e.containerKind = containerKind;
    return e;
}
Edit Edit::stack(KeyPath parent, std::string prefix, std::string to, std::int64_t axis) {
    Edit e;
    e.kind = EditKind::kStack;
    e.path = std::move(parent);
    if (to.empty()) {
        to = prefix;
        if (!to.empty() && to.back() == '_') to.pop_back();
    }
    e.prefix = std::move(prefix);
    e.newKey = std::move(to);
    e.axis = axis;
    return e;
}
Edit Edit::unstack(KeyPath path, std::string prefix, std::int64_t axis) {
    Edit e;
    e.kind = EditKind::kUnstack;
    if (prefix.empty() && !path.empty()) prefix = path.back() + "_";
    e.path = std::move(path);
    e.prefix = std::move(prefix);
    e.axis = axis;
    return e;
}
Edit Edit::replace(KeyPath path, NodePtr payload) {
    Edit e;
    e.kind = EditKind::kReplace;
    e.path = std::move(path);
    e.payload = std::move(payload);
    return e;
}
Edit Edit::insert(KeyPath path, NodePtr payload, std::optional<std::int64_t> position) {
    Edit e;
    e.kind = EditKind::kInsert;
    e.path = std::move(path);
    e.payload = std::move(payload);
    e.position = position;
    return e;
}

std::string Edit::describe() const {
    if (kind == EditKind::kStack) return "stack " + formatKeyPath(childPath(path, prefix)) + "*";
    return std::string(editKindName(kind)) + " " + (path.empty() ? "(root)" : formatKeyPath(path));
}

Result<NodePtr> applyEdit(const NodePtr& root, const Edit& edit) {
    if (!root) return invalidArgumentError("no tree to edit");
    return applyEditImpl(root, edit);
}

Result<Edit> invertEdit(const NodePtr& before, const Edit& edit) {
    CKPT_RETURN_IF_ERROR(applyEdit(before, edit).status());
    const KeyPath& path = edit.path;
    switch (edit.kind) {
        case EditKind::kRename:
            return Edit::rename(childPath(parentOf(path), edit.newKey), path.back());
        case EditKind::kMove: {
            CKPT_ASSIGN_OR_RETURN(auto position, dictPosition(before, path));
            return Edit::move(edit.to, path, position);
        }
        case EditKind::kCopy: return Edit::remove(edit.to);
        case EditKind::kAdd:
        case EditKind::kInsert: return Edit::remove(path);
        case EditKind::kDelete: {
            CKPT_ASSIGN_OR_RETURN(NodePtr node, lookup(before, path));
            CKPT_ASSIGN_OR_RETURN(auto position, dictPosition(before, path));
            return Edit::insert(path, std::move(node), position);
        }
        case EditKind::kConvert: {
            CKPT_ASSIGN_OR_RETURN(NodePtr node, lookup(before, path));
            return Edit::convert(path, node->kind());
        }
        case EditKind::kStack: {
            Edit inverse = Edit::unstack(childPath(path, edit.newKey), edit.prefix, edit.axis);
            inverse.prefix = edit.prefix;  // also when empty (keys "0".."n-1")
            return inverse;
        }
        case EditKind::kUnstack: {
            Edit inverse = Edit::stack(parentOf(path), edit.prefix, path.back(), edit.axis);
            inverse.newKey = path.back();
            return inverse;
        }
        case EditKind::kSetScalar:
        case EditKind::kSetString:
        case EditKind::kSetCells:
        case EditKind::kCast:
        case EditKind::kReplace: {
            CKPT_ASSIGN_OR_RETURN(NodePtr node, lookup(before, path));
            return Edit::replace(path, std::move(node));
        }
    }
    return internalError("unknown edit kind");
}

Result<NodePtr> applyRecipe(const NodePtr& root, const std::vector<Edit>& steps) {
    NodePtr current = root;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        auto next = applyEdit(current, steps[i]);
        if (!next.isOk()) {
            return next.status().withContext("step " + std::to_string(i + 1) + " (" +
                                             steps[i].describe() + ")");
        }
        current = std::move(*next);
    }
    return current;
}

// --- EditSession -----------------------------------------------------------------------------

EditSession::EditSession(NodePtr source) : m_source(std::move(source)), m_root(m_source) {}

Status EditSession::apply(const Edit& edit) {
    CKPT_ASSIGN_OR_RETURN(NodePtr after, applyEdit(m_root, edit));
    m_done.push_back({edit, m_root, after});
    m_undone.clear();
    m_root = std::move(after);
    return okStatus();
}

Status EditSession::undo() {
    if (m_done.empty()) return invalidArgumentError("nothing to undo");
    m_root = m_done.back().before;
    m_undone.push_back(std::move(m_done.back()));
    m_done.pop_back();
    return okStatus();
}

Status EditSession::redo() {
    if (m_undone.empty()) return invalidArgumentError("nothing to redo");
    m_root = m_undone.back().after;
    m_done.push_back(std::move(m_undone.back()));
    m_undone.pop_back();
    return okStatus();
}

std::vector<Edit> EditSession::history() const {
    std::vector<Edit> out;
    out.reserve(m_done.size());
    for (const Step& step : m_done) out.push_back(step.edit);
    return out;
}

std::vector<KeyPath> EditSession::changedPaths() const {
    std::vector<KeyPath> out;
    for (const Step& step : m_done) {
        const Edit& e = step.edit;
        out.push_back(e.path);
        if (e.kind == EditKind::kRename && !e.path.empty()) {
            out.push_back(childPath(parentOf(e.path), e.newKey));
        }
        if (e.kind == EditKind::kMove || e.kind == EditKind::kCopy) out.push_back(e.to);
        if (e.kind == EditKind::kStack) out.push_back(childPath(e.path, e.newKey));
        if (e.kind == EditKind::kUnstack && !e.path.empty()) {
            // The layers it created, as they are in the tree after it.
            auto parent = lookup(step.after, parentOf(e.path));
            for (std::size_t i = 0; parent.isOk() && i < (*parent)->childCount(); ++i) {
                bool canonical = true;
                const std::string key = (*parent)->childKey(i);
                if (layerNumber(key, e.prefix, canonical)) {
                    out.push_back(childPath(parentOf(e.path), key));
                }
            }
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace ckpt
