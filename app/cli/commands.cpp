#include "commands.h"

#include <nlohmann/json.hpp>

#include "ckpt/core/format.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/stats.h"
#include "value_format.h"

namespace ckpt::cli {

namespace {

using nlohmann::json;

int fail(std::ostream& err, const Status& status) {
    err << "ckpt: " << status.toString() << "\n";
    return 1;
}

Result<Checkpoint> openSource(const SourceArgs& args) {
    OpenOptions options;
    options.step = args.step;
    return openCheckpoint(args.path, options, args.format);
}

json scalarValueJson(const Scalar& s) {
    return elementJson(s.dtype(), s.bits().data());
}

nlohmann::ordered_json treeJson(const Node& node) {
    using oj = nlohmann::ordered_json;
    switch (node.kind()) {
        case NodeKind::kDict: {
            oj children = oj::object();
            for (const auto& e : node.entries()) children[e.key] = treeJson(*e.value);
            return {{"type", "dict"}, {"children", std::move(children)}};
        }
        case NodeKind::kList:
        case NodeKind::kTuple: {
            oj items = oj::array();
            for (const auto& item : node.items()) items.push_back(treeJson(*item));
            return {{"type", node.kind() == NodeKind::kList ? "list" : "tuple"},
                    {"items", std::move(items)}};
        }
        case NodeKind::kNone: return {{"type", "none"}};
        case NodeKind::kArray:
            return {{"type", "array"},
                    {"dtype", std::string(dtypeName(node.array()->dtype()))},
                    {"shape", node.array()->shape()}};
        case NodeKind::kScalar: {
            auto value = node.loadScalar();
            if (!value.isOk()) {
                return {{"type", "scalar"},
                        {"dtype", std::string(dtypeName(node.scalarDType()))},
                        {"error", value.status().toString()}};
            }
            return {{"type", "scalar"},
                    {"dtype", std::string(dtypeName(value->dtype()))},
                    {"value", oj(scalarValueJson(*value))}};
        }
        case NodeKind::kString: return {{"type", "string"}, {"value", node.text()}};
        case NodeKind::kBytes: return {{"type", "bytes"}, {"size", node.text().size()}};
    }
    return {};
}

std::string quoteString(const std::string& s, std::size_t max = 60) {
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        const char c = s[i];
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\'') {
            out += "\\'";
        } else {
            out += c;
        }
    }
    if (s.size() > max) out += "...";
    return out + "'";
}

std::string describeLeaf(const Node& node) {
    switch (node.kind()) {
        case NodeKind::kArray: {
            const auto& a = *node.array();
            return std::string(dtypeName(a.dtype())) + " " + formatShape(a.shape()) + "  " +
                   humanBytes(a.byteSize());
        }
        case NodeKind::kScalar: {
            auto value = node.loadScalar();
            return std::string(dtypeName(node.scalarDType())) + " = " +
                   (value.isOk() ? value->toText() : "<unreadable: " + value.status().message() + ">");
        }
        case NodeKind::kString: return "str = " + quoteString(node.text());
        case NodeKind::kBytes: return "bytes (" + std::to_string(node.text().size()) + ")";
        case NodeKind::kNone: return "None";
        default: break;
    }
    const TreeSummary s = summarizeNode(node);
    return std::string(nodeKindName(node.kind())) + " (" + std::to_string(node.childCount()) +
           ")  " + humanBytes(s.byteCount);
}

void printTree(const Node& node, const std::string& name, const std::string& prefix, bool last,
               bool isRoot, std::ostream& out) {
    if (isRoot) {
        out << describeLeaf(node) << "\n";
    } else {
        out << prefix << (last ? "└── " : "├── ") << escapeKey(name) << "  " << describeLeaf(node)
            << "\n";
    }
    const std::string childPrefix = isRoot ? "" : prefix + (last ? "    " : "│   ");
    const std::size_t n = node.childCount();
    for (std::size_t i = 0; i < n; ++i) {
        printTree(*node.child(i), node.childKey(i), childPrefix, i + 1 == n, false, out);
    }
}

Result<NodePtr> findLeaf(const Checkpoint& ckpt, const std::string& keyPathText) {
    CKPT_ASSIGN_OR_RETURN(KeyPath path, parseKeyPath(keyPathText));
    auto node = findNode(ckpt.tree, path);
    if (!node.isOk()) return node.status().withContext(ckpt.path.string());
    return node;
}

}  // namespace

int runInfo(const InfoArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    const TreeSummary s = summarizeTree(ckpt->tree);
    if (args.json) {
        nlohmann::ordered_json steps = nlohmann::ordered_json::array();
        for (const auto& st : ckpt->steps) {
            steps.push_back({{"name", st.name}, {"step", st.step}, {"complete", st.complete}});
        }
        nlohmann::ordered_json j = {
            {"format", ckpt->format},
            {"layout", ckpt->layout},
            {"path", ckpt->path.string()},
            {"leaves", s.leafCount},
            {"arrays", s.arrayCount},
            {"parameters", s.parameterCount},
            {"bytes", s.byteCount},
            {"steps", steps},
            {"step", ckpt->step ? nlohmann::ordered_json(*ckpt->step) : nlohmann::ordered_json()},
        };
        nlohmann::ordered_json props = nlohmann::ordered_json::object();
        for (const auto& [k, v] : ckpt->properties) props[k] = v;
        j["properties"] = props;
        j["warnings"] = ckpt->warnings;
        out << j.dump(2) << "\n";
        return 0;
    }
    out << "format      " << ckpt->format << "\n";
    out << "layout      " << ckpt->layout << "\n";
    out << "path        " << ckpt->path.string() << "\n";
    if (ckpt->step) out << "step        " << *ckpt->step << "\n";
    if (!ckpt->steps.empty()) {
        out << "steps       ";
        for (std::size_t i = 0; i < ckpt->steps.size(); ++i) {
            out << (i ? ", " : "") << ckpt->steps[i].step;
            if (!ckpt->steps[i].complete) out << " (incomplete)";
        }
        out << "\n";
    }
    out << "leaves      " << s.leafCount << " (" << s.arrayCount << " arrays)\n";
    out << "parameters  " << s.parameterCount << "\n";
    out << "bytes       " << s.byteCount << " (" << humanBytes(s.byteCount) << ")\n";
    for (const auto& [k, v] : ckpt->properties) out << k << ": " << v << "\n";
    for (const auto& w : ckpt->warnings) out << "warning: " << w << "\n";
    return 0;
}

int runTree(const TreeArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    if (args.json) {
        nlohmann::ordered_json j = {{"format", ckpt->format}, {"tree", treeJson(*ckpt->tree)}};
        out << j.dump() << "\n";
        return 0;
    }
    printTree(*ckpt->tree, "", "", true, true, out);
    return 0;
}

int runShow(const ShowArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    auto leaf = findLeaf(*ckpt, args.keyPath);
    if (!leaf.isOk()) return fail(err, leaf.status());
    const Node& node = **leaf;
    const std::string where = ckpt->path.string() + ": " + args.keyPath;

    if (node.kind() == NodeKind::kScalar || node.kind() == NodeKind::kString ||
        node.kind() == NodeKind::kNone || node.kind() == NodeKind::kBytes || node.isContainer()) {
        if (args.json) {
            nlohmann::ordered_json j = {{"keypath", args.keyPath},
                                        {"kind", std::string(nodeKindName(node.kind()))}};
            if (node.kind() == NodeKind::kScalar) {
                auto loaded = node.loadScalar();
                if (!loaded.isOk()) return fail(err, loaded.status().withContext(where));
                const Scalar& s = *loaded;
                j["dtype"] = std::string(dtypeName(s.dtype()));
                j["shape"] = nlohmann::ordered_json::array();
                j["values"] = nlohmann::ordered_json::array({nlohmann::ordered_json(scalarValueJson(s))});
                auto arr = Array::fromBytes(s.dtype(), {}, s.bits());
                j["stats"] = statsJson(computeStats(*arr));
            } else if (node.kind() == NodeKind::kString) {
                j["value"] = node.text();
            } else if (node.isContainer()) {
                j["children"] = node.childCount();
            }
            out << j.dump() << "\n";
            return 0;
        }
        out << args.keyPath << ": " << describeLeaf(node) << "\n";
        if (node.kind() == NodeKind::kString) out << node.text() << "\n";
        return 0;
    }

    const ArraySource& source = *node.array();
    auto stats = computeStats(source);
    if (!stats.isOk()) return fail(err, stats.status().withContext(where));
    if (args.json) {
        nlohmann::ordered_json values = nlohmann::ordered_json::array();
        std::uint64_t emitted = 0;
        const std::uint64_t limit = args.maxValues.value_or(UINT64_MAX);
        Status s = forEachCOrderBlock(source, 16u << 20, [&](std::span<const std::byte> block) {
            const std::size_t item = itemSize(source.dtype());
            for (std::size_t off = 0; off < block.size() && emitted < limit; off += item, ++emitted) {
                values.push_back(nlohmann::ordered_json(elementJson(source.dtype(), block.data() + off)));
            }
            return okStatus();
        });
        if (!s.isOk()) return fail(err, s.withContext(where));
        nlohmann::ordered_json j = {{"keypath", args.keyPath},
                                    {"kind", "array"},
                                    {"dtype", std::string(dtypeName(source.dtype()))},
                                    {"shape", source.shape()},
                                    {"values", std::move(values)},
                                    {"truncated", emitted < source.elementCount()},
                                    {"stats", nlohmann::ordered_json(statsJson(*stats))}};
        const StorageInfo storage = source.storage();
        if (!storage.format.empty()) {
            j["storage"] = {{"format", storage.format},
                            {"file", storage.file},
                            {"location", storage.location},
                            {"chunks", storage.chunkShape},
                            {"codecs", storage.codecs},
                            {"stored_bytes", storage.storedBytes}};
        }
        out << j.dump() << "\n";
        return 0;
    }
    auto text = formatArray(source);
    if (!text.isOk()) return fail(err, text.status().withContext(where));
    const StorageInfo storage = source.storage();
    out << args.keyPath << ": " << describeLeaf(node) << "\n";
    if (!storage.format.empty()) {
        out << "stored as " << storage.format;
        if (!storage.location.empty()) out << ", " << storage.location;
        if (!storage.chunkShape.empty()) out << ", chunks " << formatShape(storage.chunkShape);
        for (const auto& codec : storage.codecs) out << ", " << codec;
        if (storage.storedBytes > 0) out << ", " << humanBytes(storage.storedBytes) << " on disk";
        out << "\n";
    }
    out << *text << "\n";
    const ArrayStats& st = *stats;
    out << "min " << formatElement(DType::kFloat64, reinterpret_cast<const std::byte*>(&st.min))
        << "  max " << formatElement(DType::kFloat64, reinterpret_cast<const std::byte*>(&st.max))
        << "  mean " << formatElement(DType::kFloat64, reinterpret_cast<const std::byte*>(&st.mean))
        << "  std " << formatElement(DType::kFloat64, reinterpret_cast<const std::byte*>(&st.std))
        << "\n";
    out << "elements " << st.count << "  nan " << st.nan << "  +inf " << st.posInf << "  -inf "
        << st.negInf << "  zeros " << st.zeros << "\n";
    return 0;
}

int runCat(const CatArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    auto leaf = findLeaf(*ckpt, args.keyPath);
    if (!leaf.isOk()) return fail(err, leaf.status());
    const Node& node = **leaf;
    auto writeBytes = [&](std::span<const std::byte> bytes) {
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        return out ? okStatus() : ioError("writing to standard output failed");
    };
    Status s;
    switch (node.kind()) {
        case NodeKind::kArray: s = forEachCOrderBlock(*node.array(), 16u << 20, writeBytes); break;
        case NodeKind::kScalar: {
            auto loaded = node.loadScalar();
            s = loaded.isOk() ? writeBytes(loaded->bits()) : loaded.status();
            break;
        }
        case NodeKind::kString:
        case NodeKind::kBytes:
            s = writeBytes(std::as_bytes(std::span(node.text().data(), node.text().size())));
            break;
        default:
            s = invalidArgumentError("'" + args.keyPath + "' is a " +
                                     std::string(nodeKindName(node.kind())) +
                                     ", not a leaf with bytes");
    }
    out.flush();
    if (!s.isOk()) return fail(err, s.withContext(ckpt->path.string()));
    return 0;
}

int runConvert(const ConvertArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    std::vector<KeyPath> paths;
    for (const auto& text : args.subtrees) {
        auto p = parseKeyPath(text);
        if (!p.isOk()) return fail(err, p.status());
        paths.push_back(*p);
    }
    auto tree = selectSubtrees(ckpt->tree, paths);
    if (!tree.isOk()) return fail(err, tree.status().withContext(ckpt->path.string()));
    WriteOptions options;
    options.overwrite = args.overwrite;
    options.step = args.writeStep;
    options.keep = args.keep;
    options.keepEveryNSteps = args.keepEveryNSteps;
    options.sequenceEncoding = args.flaxSequences;
    options.maxChunkBytes = args.flaxMaxChunkBytes;
    options.orbaxZarrVersion = args.orbaxZarr;
    options.orbaxOcdbt = !args.orbaxNoOcdbt;
    if (args.orbaxChunkBytes) options.orbaxMaxChunkBytes = *args.orbaxChunkBytes;
    options.hdf5Compression = args.hdf5Compression;
    Status s = writeCheckpoint(*tree, args.target, args.to, options);
    if (!s.isOk()) return fail(err, s);
    const TreeSummary summary = summarizeTree(*tree);
    out << "wrote " << summary.leafCount << " leaves (" << humanBytes(summary.byteCount) << ") to "
        << args.target.string();
    if (args.writeStep) out << " (step " << *args.writeStep << ")";
    out << " as " << args.to << "\n";
    return 0;
}

}  // namespace ckpt::cli
