#include "formats/safetensors/flat_tree.h"

#include "text/utf8.h"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace ckpt::flat {

namespace {

using Json = nlohmann::ordered_json;

constexpr int kStructureVersion = 1;

struct Flattener {
    const FlattenRules& rules;
    FlatTree out;
    std::unordered_map<std::string, std::size_t> byName;  // name -> index in out.leaves

    Status fail(const KeyPath& path, const std::string& why) const {
        return invalidArgumentError(std::string(rules.formatName) + " cannot hold " +
                                    describeKeyPath(path) + ": " + why);
    }

    std::string joined(const KeyPath& path) const {
        std::string name;
        for (std::size_t i = 0; i < path.size(); ++i) {
            if (i) name += rules.separator;
            name += path[i];
        }
        return name;
    }

    Status addLeaf(const KeyPath& path, const NodePtr& node, DType dtype, Json& rec,
                   const char* kind) {
        if (rules.checkDType) {
            Status s = rules.checkDType(dtype);
            if (!s.isOk()) return fail(path, s.message());
        }
        std::string name = joined(path);
        auto [it, inserted] = byName.emplace(name, out.leaves.size());
        if (!inserted) {
            return invalidArgumentError(std::string(rules.formatName) + ": key paths " +
                                        describeKeyPath(out.leaves[it->second].path) + " and " +
                                        describeKeyPath(path) +
                                        " both flatten to the tensor name '" + name + "'");
        }
        out.leaves.push_back({path, name, node});
        rec = Json::object();
        rec[kind] = name;
        rec["dtype"] = std::string(dtypeName(dtype));
        if (node->kind() == NodeKind::kScalar) {
            auto value = node->loadScalar();
            if (!value.isOk()) return value.status().withContext(describeKeyPath(path));
            rec["native"] = value->isNative();
        }
        return okStatus();
    }

    Status visit(const NodePtr& node, KeyPath& path, Json& rec) {
        switch (node->kind()) {
            case NodeKind::kDict:
            case NodeKind::kList:
            case NodeKind::kTuple: {
                Json items = Json::array();
                const bool isDict = node->kind() == NodeKind::kDict;
                for (std::size_t i = 0; i < node->childCount(); ++i) {
                    std::string key = node->childKey(i);
                    if (!text::isValidUtf8(key)) {
                        path.push_back(key);
                        Status s = fail(path, "the key is not valid UTF-8");
                        path.pop_back();
                        return s;
                    }
                    if (rules.checkKey) {
                        Status s = rules.checkKey(key);
                        if (!s.isOk()) {
                            path.push_back(key);
                            Status f = fail(path, s.message());
                            path.pop_back();
                            return f;
                        }
                    }
                    path.push_back(key);
                    Json child;
                    Status s = visit(node->child(i), path, child);
                    path.pop_back();
                    CKPT_RETURN_IF_ERROR(s);
                    if (isDict) {
                        items.push_back(Json::array({key, std::move(child)}));
                    } else {
                        items.push_back(std::move(child));
                    }
                }
                rec = Json::object();
                rec[std::string(nodeKindName(node->kind()))] = std::move(items);
                return okStatus();
            }
            case NodeKind::kNone:
                rec = nullptr;
                return okStatus();
            case NodeKind::kString:
                if (!text::isValidUtf8(node->text())) return fail(path, "the string is not valid UTF-8");
                rec = Json::object();
                rec["str"] = node->text();
                return okStatus();
            case NodeKind::kBytes:
                return fail(path, "bytes leaves have no tensor representation");
            case NodeKind::kArray:
                return addLeaf(path, node, node->array()->dtype(), rec, "array");
            case NodeKind::kScalar:
                return addLeaf(path, node, node->scalarDType(), rec, "scalar");
        }
        return internalError("unknown node kind");
    }
};

// ---------------------------------------------------------------------------------------------

struct Rebuilder {
    std::unordered_map<std::string, NodePtr> tensors;
    std::unordered_map<std::string, bool> used;
    int depth = 0;
    RetypeFn retype;

    Result<NodePtr> take(const Json& nameJson, bool scalar, const Json& rec) {
        if (!nameJson.is_string()) return invalidArgumentError("tensor reference is not a string");
        const std::string name = nameJson.get<std::string>();
        auto it = tensors.find(name);
        if (it == tensors.end()) {
            return invalidArgumentError("structure names tensor '" + name + "', which is absent");
        }
        if (used[name]) return invalidArgumentError("tensor '" + name + "' is used twice");
        used[name] = true;
        NodePtr node = it->second;
        if (auto dt = rec.find("dtype"); dt != rec.end()) {
            auto recorded = dt->is_string() ? dtypeFromName(dt->get<std::string>()) : std::nullopt;
            if (!recorded)
                return invalidArgumentError("tensor '" + name + "' has a bad dtype record");
            if (node->array() && node->array()->dtype() != *recorded) {
                if (!retype) {
                    return invalidArgumentError("tensor '" + name + "' is " +
                                                std::string(dtypeName(node->array()->dtype())) +
                                                ", the record says " +
                                                std::string(dtypeName(*recorded)));
                }
                CKPT_ASSIGN_OR_RETURN(node, retype(node, *recorded));
            }
        }
        if (!scalar) return node;
        const auto& src = node->array();
        if (!src || !src->shape().empty()) {
            return invalidArgumentError("scalar '" + name + "' is not a 0-d tensor");
        }
        auto nativeIt = rec.find("native");
        const bool native =
            nativeIt != rec.end() && nativeIt->is_boolean() && nativeIt->get<bool>();
        return Node::makeLazyScalar(src, native);
    }

    Result<NodePtr> build(const Json& rec) {
        if (++depth > 512) return invalidArgumentError("structure nests too deeply");
        struct Guard {
            int& d;
            ~Guard() { --d; }
        } guard{depth};
        if (rec.is_null()) return Node::makeNone();
        if (!rec.is_object() || rec.empty()) return invalidArgumentError("bad structure record");
        if (auto it = rec.find("array"); it != rec.end()) return take(*it, false, rec);
        if (auto it = rec.find("scalar"); it != rec.end()) return take(*it, true, rec);
        if (auto it = rec.find("str"); it != rec.end()) {
            if (!it->is_string()) return invalidArgumentError("bad string record");
            return Node::makeString(it->get<std::string>());
        }
        if (auto it = rec.find("dict"); it != rec.end()) {
            if (!it->is_array()) return invalidArgumentError("bad dict record");
            std::vector<DictEntry> entries;
            for (const auto& kv : *it) {
                if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string()) {
                    return invalidArgumentError("bad dict entry record");
                }
                CKPT_ASSIGN_OR_RETURN(NodePtr child, build(kv[1]));
                entries.push_back({kv[0].get<std::string>(), std::move(child)});
            }
            return Node::makeDict(std::move(entries));
        }
        for (const char* kind : {"list", "tuple"}) {
            auto it = rec.find(kind);
            if (it == rec.end()) continue;
            if (!it->is_array()) return invalidArgumentError("bad sequence record");
            std::vector<NodePtr> items;
            for (const auto& r : *it) {
                CKPT_ASSIGN_OR_RETURN(NodePtr child, build(r));
                items.push_back(std::move(child));
            }
            return std::string_view(kind) == "list" ? Node::makeList(std::move(items))
                                                    : Node::makeTuple(std::move(items));
        }
        return invalidArgumentError("unknown structure record");
    }
};

struct SplitNode {
    std::vector<std::pair<std::string, std::unique_ptr<SplitNode>>> children;
    std::unordered_map<std::string, std::size_t> index;
    NodePtr leaf;  // set for leaves

    SplitNode* child(const std::string& key) {
        auto it = index.find(key);
        return it == index.end() ? nullptr : children[it->second].second.get();
    }
    SplitNode* add(const std::string& key) {
        index.emplace(key, children.size());
        children.emplace_back(key, std::make_unique<SplitNode>());
        return children.back().second.get();
    }
    NodePtr toNode() const {
        if (leaf) return leaf;
        std::vector<DictEntry> entries;
        entries.reserve(children.size());
        for (const auto& [k, c] : children) entries.push_back({k, c->toNode()});
        return Node::makeDict(std::move(entries));
    }
};

}  // namespace

Result<FlatTree> flattenTree(const NodePtr& root, const FlattenRules& rules) {
    if (!root || !root->isContainer()) {
        return invalidArgumentError(std::string(rules.formatName) +
                                    " needs a dict, list or tuple at the root, not a " +
                                    std::string(root ? nodeKindName(root->kind()) : "null"));
    }
    Flattener f{rules, {}, {}};
    KeyPath path;
    Json rec;
    CKPT_RETURN_IF_ERROR(f.visit(root, path, rec));
    Json doc = Json::object();
    doc["ckpt_studio_tree"] = kStructureVersion;
    doc["root"] = std::move(rec);
    f.out.structureJson = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
    return std::move(f.out);
}

Result<NodePtr> rebuildFromStructure(std::string_view structureJson,
                                     const std::vector<NamedNode>& tensors,
                                     const RetypeFn& retype) {
    Json doc = Json::parse(structureJson.begin(), structureJson.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return invalidArgumentError("the structure record is not a JSON object");
    }
    auto version = doc.find("ckpt_studio_tree");
    if (version == doc.end() || !version->is_number_integer() ||
        version->get<std::int64_t>() != kStructureVersion) {
        return invalidArgumentError("the structure record has an unknown version");
    }
    auto root = doc.find("root");
    if (root == doc.end()) return invalidArgumentError("the structure record has no root");
    Rebuilder r;
    r.retype = retype;
    for (const auto& [name, node] : tensors) {
        if (!r.tensors.emplace(name, node).second) {
            return invalidArgumentError("tensor '" + name + "' appears twice");
        }
    }
    CKPT_ASSIGN_OR_RETURN(NodePtr tree, r.build(*root));
    for (const auto& [name, node] : tensors) {
        if (!r.used[name]) {
            return invalidArgumentError("tensor '" + name + "' is not in the structure record");
        }
    }
    if (!tree->isContainer()) return invalidArgumentError("the structure root is not a container");
    return tree;
}

NodePtr buildBySplit(const std::vector<NamedNode>& tensors, char separator) {
    SplitNode root;
    for (const auto& [name, node] : tensors) {
        std::vector<std::string> parts;
        std::size_t start = 0;
        while (true) {
            const std::size_t pos = name.find(separator, start);
            if (pos == std::string::npos) {
                parts.push_back(name.substr(start));
                break;
            }
            parts.push_back(name.substr(start, pos - start));
            start = pos + 1;
        }
        SplitNode* cur = &root;
        std::size_t i = 0;
        // Descend through existing or new dicts; stop where a leaf blocks the way.
        for (; i + 1 < parts.size(); ++i) {
            SplitNode* next = cur->child(parts[i]);
            if (next && next->leaf) break;
            if (!next) next = cur->add(parts[i]);
            cur = next;
        }
        std::string rest = parts[i];
        for (std::size_t k = i + 1; k < parts.size(); ++k) rest += separator + parts[k];
        if (cur->child(rest)) rest = name;           // an existing dict or leaf: keep the full name
        while (cur->child(rest)) rest += separator;  // a duplicate: still keep every tensor
        cur->add(rest)->leaf = node;
    }
    return root.toNode();
}

}  // namespace ckpt::flat
