#include "commands.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/sharded_writer.h"
#include "ckpt/core/sharding.h"
#include "ckpt/core/stats.h"
#include "ckpt/core/tree_query.h"
#include "shard_commands.h"
#include "shard_json.h"
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

// What `ckpt tree` adds to the plain tree: rollups (--sizes) and a filter (--filter).
struct TreeView {
    const TreeRollups* rollups = nullptr;
};

nlohmann::ordered_json rollupJson(const NodeRollup& r) {
    return {{"leaves", r.leafCount},         {"arrays", r.arrayCount},
            {"parameters", r.parameterCount}, {"memory_bytes", r.memoryBytes},
            {"stored_bytes", r.storedBytes},  {"unknown_stored", r.unknownStored}};
}

// `filter` null: the whole subtree. Otherwise only its visible children; items of a filtered
// list or tuple then carry their "index" in the unfiltered sequence.
nlohmann::ordered_json treeJson(const Node& node, const TreeView& view = {},
                                const FilterNode* filter = nullptr) {
    using oj = nlohmann::ordered_json;
    auto childFilter = [&](std::size_t row, const FilterNode*& out) {
        out = nullptr;
        if (!filter) return true;
        const FilterNode* f = filter->child(row);
        if (!f) return false;
        if (!f->matched) out = f;
        return true;
    };
    oj j;
    switch (node.kind()) {
        case NodeKind::kDict: {
            oj children = oj::object();
            const auto& entries = node.entries();
            for (std::size_t i = 0; i < entries.size(); ++i) {
                const FilterNode* f = nullptr;
                if (!childFilter(i, f)) continue;
                children[entries[i].key] = treeJson(*entries[i].value, view, f);
            }
            j = {{"type", "dict"}, {"children", std::move(children)}};
            break;
        }
        case NodeKind::kList:
        case NodeKind::kTuple: {
            oj items = oj::array();
            const auto& list = node.items();
            for (std::size_t i = 0; i < list.size(); ++i) {
                const FilterNode* f = nullptr;
                if (!childFilter(i, f)) continue;
                oj item = treeJson(*list[i], view, f);
                if (filter) item["index"] = i;
                items.push_back(std::move(item));
            }
            j = {{"type", node.kind() == NodeKind::kList ? "list" : "tuple"},
                 {"items", std::move(items)}};
            break;
        }
        case NodeKind::kNone:
            j = {{"type", "none"}};
            for (const auto& [key, value] : node.attributes()) {
                if (key == "error") j["error"] = value;
            }
            break;
        case NodeKind::kArray:
            // An array whose metadata could not be read is shown as before lazy opening: a None
            // carrying the error.
            if (const Status error = node.array()->metadataStatus(); !error.isOk()) {
                j = {{"type", "none"}, {"error", error.toString()}};
                break;
            }
            j = {{"type", "array"},
                 {"dtype", std::string(dtypeName(node.array()->dtype()))},
                 {"shape", node.array()->shape()}};
            break;
        case NodeKind::kScalar: {
            auto value = node.loadScalar();
            if (!value.isOk()) {
                j = {{"type", "scalar"},
                     {"dtype", std::string(dtypeName(node.scalarDType()))},
                     {"error", value.status().toString()}};
            } else {
                j = {{"type", "scalar"},
                     {"dtype", std::string(dtypeName(value->dtype()))},
                     {"value", oj(scalarValueJson(*value))}};
            }
            break;
        }
        case NodeKind::kString: j = {{"type", "string"}, {"value", node.text()}}; break;
        case NodeKind::kBytes: j = {{"type", "bytes"}, {"size", node.text().size()}}; break;
    }
    if (view.rollups) j["rollup"] = rollupJson(view.rollups->rollupOf(node));
    return j;
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
            if (const Status error = a.metadataStatus(); !error.isOk()) {
                return "unreadable: " + error.toString();
            }
            std::string text = std::string(dtypeName(a.dtype())) + " " + formatShape(a.shape()) +
                               "  " + humanBytes(a.byteSize());
            if (auto sharded = shardingSummary(a)) text += "  sharded " + *sharded;
            return text;
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

// The --sizes columns in front of a tree line: parameters, memory, on disk, share of disk.
// On disk is "?" when no array of the subtree knows its stored size, "+?" when some do not;
// "-" for subtrees without arrays.
constexpr const char* kSizeHeader = "  parameters      memory        disk  % disk  ";

std::string sizeColumns(const NodeRollup& r, std::uint64_t totalStored) {
    std::string disk = "-";
    std::string share = "-";
    if (r.arrayCount > 0) {
        if (r.storedBytes == 0 && r.unknownStored > 0) {
            disk = "?";
        } else {
            disk = humanBytes(r.storedBytes) + (r.unknownStored > 0 ? "+?" : "");
        }
        if (totalStored > 0 && (r.storedBytes > 0 || r.unknownStored == 0)) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.1f%%",
                          100.0 * static_cast<double>(r.storedBytes) /
                              static_cast<double>(totalStored));
            share = buf;
        }
    }
    std::ostringstream line;
    line << std::setw(12) << r.parameterCount << std::setw(12) << humanBytes(r.memoryBytes)
         << std::setw(12) << disk << std::setw(8) << share << "  ";
    return line.str();
}

void printTree(const Node& node, const std::string& name, const std::string& prefix, bool last,
               bool isRoot, std::ostream& out, const TreeView& view = {},
               const FilterNode* filter = nullptr) {
    if (view.rollups) out << sizeColumns(view.rollups->rollupOf(node), view.rollups->total().storedBytes);
    if (isRoot) {
        out << describeLeaf(node) << "\n";
    } else {
        out << prefix << (last ? "└── " : "├── ") << escapeKey(name) << "  " << describeLeaf(node)
            << "\n";
    }
    const std::string childPrefix = isRoot ? "" : prefix + (last ? "    " : "│   ");
    const std::size_t n = node.childCount();
    if (!filter) {
        for (std::size_t i = 0; i < n; ++i) {
            printTree(*node.child(i), node.childKey(i), childPrefix, i + 1 == n, false, out, view);
        }
        return;
    }
    const auto& visible = filter->children;
    for (std::size_t v = 0; v < visible.size(); ++v) {
        const auto& [row, f] = visible[v];
        printTree(*node.child(row), node.childKey(row), childPrefix, v + 1 == visible.size(),
                  false, out, view, f->matched ? nullptr : f.get());
    }
}

Result<NodePtr> findLeaf(const Checkpoint& ckpt, const std::string& keyPathText) {
    CKPT_ASSIGN_OR_RETURN(KeyPath path, parseKeyPath(keyPathText));
    auto node = findNode(ckpt.tree, path);
    if (!node.isOk()) return node.status().withContext(ckpt.path.string());
    // A leaf the reader could not open is a None carrying the reason: that reason is the answer.
    if (const std::string* error = (*node)->attribute("error");
        error != nullptr && (*node)->kind() == NodeKind::kNone) {
        return corruptionError("'" + keyPathText + "' could not be read: " + *error)
            .withContext(ckpt.path.string());
    }
    return node;
}

}  // namespace

int runInfo(const InfoArgs& args, std::ostream& out, std::ostream& err) {
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    const TreeSummary s = summarizeTree(ckpt->tree);  // reads every array's metadata
    // Arrays are opened lazily: an unreadable one is found here, not when opening.
    // Sharding: leaves split into several shards, and the processes that wrote the items.
    std::uint64_t shardedLeaves = 0;
    std::uint64_t unreadableShardings = 0;
    std::vector<std::string> processes;
    walkTree(ckpt->tree, [&](const KeyPath& path, const Node& node) {
        if (node.kind() == NodeKind::kArray && node.array()) {
            if (const Status error = node.array()->metadataStatus(); !error.isOk()) {
                ckpt->warnings.push_back(error.toString());
            } else if (const ShardedArray* sharded = shardingOf(*node.array())) {
                auto sh = sharded->sharding(ShardDetail::kSummary);
                if (!sh.isOk()) {
                    // One damaged `_sharding` concerns every leaf: a few are enough to say so.
                    if (++unreadableShardings <= 3) {
                        ckpt->warnings.push_back("sharding of " + describeKeyPath(path) +
                                                 " unreadable: " + sh.status().toString());
                    }
                } else {
                    if (sh->shardCount > 1) ++shardedLeaves;
                    if (sh->itemProcesses.size() > processes.size()) processes = sh->itemProcesses;
                }
            }
        }
        return true;
    });
    if (unreadableShardings > 3) {
        ckpt->warnings.push_back("sharding of " + std::to_string(unreadableShardings - 3) +
                                 " more leaves unreadable");
    }
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
        j["sharded_leaves"] = shardedLeaves;
        j["processes"] = processes;
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
    if (shardedLeaves > 0 || processes.size() > 1) {
        out << "sharded     " << shardedLeaves << (shardedLeaves == 1 ? " leaf" : " leaves")
            << " in several shards";
        if (!processes.empty()) {
            out << "; written by " << processes.size()
                << (processes.size() == 1 ? " process (" : " processes (");
            for (std::size_t i = 0; i < processes.size(); ++i) out << (i ? ", " : "") << processes[i];
            out << ")";
        }
        out << "\n";
    }
    for (const auto& [k, v] : ckpt->properties) out << k << ": " << v << "\n";
    for (const auto& w : ckpt->warnings) out << "warning: " << w << "\n";
    return 0;
}

int runTree(const TreeArgs& args, std::ostream& out, std::ostream& err) {
    std::optional<KeyPathPattern> pattern;
    if (args.filter) {
        const PatternSyntax syntax = args.regex ? PatternSyntax::kRegex
                                     : args.glob ? PatternSyntax::kGlob
                                                 : PatternSyntax::kSubstring;
        auto compiled = KeyPathPattern::compile(*args.filter, syntax);
        if (!compiled.isOk()) return fail(err, compiled.status().withContext("--filter"));
        pattern = std::move(*compiled);
    }
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());

    TreeView view;
    std::optional<TreeRollups> rollups;
    if (args.sizes) {
        auto computed = computeRollups(ckpt->tree);
        if (!computed.isOk()) return fail(err, computed.status().withContext(ckpt->path.string()));
        rollups = std::move(*computed);
        view.rollups = &*rollups;
    }
    std::optional<TreeFilterResult> filtered;
    const FilterNode noneVisible{};  // the root when nothing matched: no child shown
    const FilterNode* filter = nullptr;
    if (pattern) {
        auto result = filterTree(ckpt->tree, *pattern);
        if (!result.isOk()) return fail(err, result.status().withContext(ckpt->path.string()));
        filtered = std::move(*result);
        filter = filtered->root ? filtered->root.get() : &noneVisible;
    }

    if (args.json) {
        nlohmann::ordered_json j = {{"format", ckpt->format},
                                    {"tree", treeJson(*ckpt->tree, view, filter)}};
        if (filtered) j["matches"] = filtered->matchCount;
        out << j.dump() << "\n";
        return 0;
    }
    if (view.rollups) out << kSizeHeader << "tree\n";
    printTree(*ckpt->tree, "", "", true, true, out, view, filter);
    if (filtered && filtered->matchCount == 0) {
        out << "(no key path matches '" << *args.filter << "')\n";
    }
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
        if (const ShardedArray* sharded = shardingOf(source)) {
            // A damaged sharding record is reported here, never fails the command.
            auto sh = sharded->sharding(ShardDetail::kSummary);
            j["sharding"] = sh.isOk() ? shardingJson(*sh, false)
                                      : nlohmann::ordered_json{{"error", sh.status().toString()}};
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
    if (const ShardedArray* sharded = shardingOf(source)) {
        // The summary is on the first line (describeLeaf); a damaged record is said here.
        auto sh = sharded->sharding(ShardDetail::kSummary);
        if (!sh.isOk()) out << "sharding unreadable: " << sh.status().toString() << "\n";
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

namespace {

// Writes the C-order bytes of process `index` of `count`'s block of `source` (split along
// `axis`), read in pieces of at most about 16 MiB along the block's first dimension: the C order
// of a hyperslab is the concatenation of its pieces along that dimension.
Status catProcessBlock(const ArraySource& source, std::int64_t index, std::int64_t count,
                       std::size_t axis,
                       const std::function<Status(std::span<const std::byte>)>& write) {
    CKPT_RETURN_IF_ERROR(source.metadataStatus());
    CKPT_ASSIGN_OR_RETURN(const Selection block, processBlock(source.shape(), index, count, axis));
    const std::uint64_t elements = block.elementCount();
    if (elements == 0) return okStatus();
    const std::uint64_t rowBytes = elements / static_cast<std::uint64_t>(block.count[0]) *
                                   itemSize(source.dtype());
    const auto rowsPerPiece = static_cast<std::int64_t>(
        std::max<std::uint64_t>(1, (std::uint64_t{16} << 20) / std::max<std::uint64_t>(rowBytes, 1)));
    Selection piece = block;
    for (std::int64_t r = 0; r < block.count[0]; r += rowsPerPiece) {
        piece.start[0] = block.start[0] + r;
        piece.count[0] = std::min(rowsPerPiece, block.count[0] - r);
        CKPT_ASSIGN_OR_RETURN(const Array data, source.read(piece));
        CKPT_RETURN_IF_ERROR(write(data.bytes()));
    }
    return okStatus();
}

}  // namespace

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
    if (args.processIndex.has_value() != args.processCount.has_value()) {
        return fail(err, invalidArgumentError("--process-index and --process-count go together"));
    }
    if (args.processCount && node.kind() != NodeKind::kArray) {
        return fail(err, invalidArgumentError("'" + args.keyPath + "' is a " +
                                              std::string(nodeKindName(node.kind())) +
                                              ", not an array to split among processes")
                             .withContext(ckpt->path.string()));
    }
    switch (node.kind()) {
        case NodeKind::kArray:
            if (args.processCount) {
                s = catProcessBlock(*node.array(), *args.processIndex, *args.processCount, args.axis,
                                    writeBytes);
            } else {
                s = forEachCOrderBlock(*node.array(), 16u << 20, writeBytes);
            }
            break;
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
    if (!s.isOk()) return fail(err, s.withContext(args.keyPath).withContext(ckpt->path.string()));
    return 0;
}

namespace {

// Writes `tree` and prints what was written (convert and apply).
int writeTree(const NodePtr& tree, const std::filesystem::path& target, const std::string& format,
              const WriterArgs& args, std::ostream& out, std::ostream& err) {
    Status s = writeCheckpoint(tree, target, format, writeOptionsFrom(args));
    if (!s.isOk()) return fail(err, s);
    const TreeSummary summary = summarizeTree(tree);
    out << "wrote " << summary.leafCount << " leaves (" << humanBytes(summary.byteCount) << ") to "
        << target.string();
    if (args.writeStep) out << " (step " << *args.writeStep << ")";
    out << " as " << format << "\n";
    return 0;
}

}  // namespace

WriteOptions writeOptionsFrom(const WriterArgs& args) {
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
    return options;
}

// `inner` is `outer` or somewhere below it (both made absolute and normalised).
bool isSameOrInside(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    std::error_code ec;
    const auto a = std::filesystem::weakly_canonical(std::filesystem::absolute(inner), ec);
    const auto b = std::filesystem::weakly_canonical(std::filesystem::absolute(outer), ec);
    auto ai = a.begin();
    for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai) {
        if (bi->empty() && std::next(bi) == b.end()) break;  // trailing separator
        if (ai == a.end() || *ai != *bi) return false;
    }
    return true;
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
    if (args.processIndex || args.processCount) {
        if (args.to != "orbax" && args.to != "hdf5") {
            return fail(err, invalidArgumentError("--process-index: multi-process saves write "
                                                  "orbax or hdf5, not " +
                                                  args.to));
        }
        ProcessSaveOptions process;
        process.processIndex = args.processIndex.value_or(-1);
        process.processCount = args.processCount.value_or(0);
        process.saveId = args.saveId;
        process.shardAxis = args.shardAxis;
        process.timeout = std::chrono::milliseconds(
            static_cast<std::int64_t>(args.barrierTimeoutSeconds * 1000.0));
        Status s =
            args.to == "hdf5"
                ? writeHdf5ProcessShards(*tree, args.target, process, writeOptionsFrom(args))
                : writeOrbaxProcessShards(*tree, args.target, process, writeOptionsFrom(args));
        if (!s.isOk()) return fail(err, s);
        out << "process " << process.processIndex << " of " << process.processCount
            << ": wrote its part of " << args.target.string() << " as " << args.to
            << " (committed)\n";
        return 0;
    }
    return writeTree(*tree, args.target, args.to, args, out, err);
}

int runApply(const ApplyArgs& args, std::ostream& out, std::ostream& err) {
    std::ifstream in(args.recipe, std::ios::binary);
    if (!in) return fail(err, ioError("cannot read recipe " + args.recipe.string()));
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto steps = recipeFromJson(text);
    if (!steps.isOk()) return fail(err, steps.status().withContext(args.recipe.string()));
    auto ckpt = openSource(args.source);
    if (!ckpt.isOk()) return fail(err, ckpt.status());
    // The source of an edit is never modified: refuse targets that are it, inside it, or (when
    // a whole directory would be replaced) around it.
    for (const auto& src : {ckpt->root, ckpt->path}) {
        const bool clash = isSameOrInside(args.target, src) ||
                           (!args.writeStep && isSameOrInside(src, args.target));
        if (clash) {
            return fail(err, invalidArgumentError(
                                 "the target " + args.target.string() + " overlaps the source " +
                                 src.string() + "; apply never modifies its source, write "
                                 "elsewhere"));
        }
    }
    if (args.reference) {
        // A checkpoint or a structure file with values, as `ckpt conform --reference` takes.
        Result<NodePtr> ref = invalidArgumentError("unreachable");
        if (isStructureFile(*args.reference)) {
            ref = loadStructure(*args.reference);
        } else {
            SourceArgs refArgs;
            refArgs.path = *args.reference;
            refArgs.step = args.referenceStep;
            auto opened = openSource(refArgs);
            ref = opened.isOk() ? Result<NodePtr>(opened->tree) : Result<NodePtr>(opened.status());
        }
        if (!ref.isOk()) return fail(err, ref.status());
        *steps = bindReference(std::move(*steps), *ref);
    } else if (needsReference(*steps)) {
        return fail(err, invalidArgumentError(
                             args.recipe.string() + ": the recipe adds nodes from a reference "
                             "checkpoint (\"kind\": \"reference\"); give it with --reference REF"));
    }
    auto tree = applyRecipe(ckpt->tree, *steps);
    if (!tree.isOk()) return fail(err, tree.status().withContext(args.recipe.string()));
    const std::string format = args.to.empty() ? ckpt->format : args.to;
    out << "applied " << steps->size() << (steps->size() == 1 ? " step" : " steps") << " from "
        << args.recipe.string() << "\n";
    return writeTree(*tree, args.target, format, args, out, err);
}

}  // namespace ckpt::cli
