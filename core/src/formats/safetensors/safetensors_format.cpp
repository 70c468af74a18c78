#include "formats/safetensors/safetensors_format.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "formats/safetensors/flat_tree.h"
#include "formats/safetensors/safetensors_header.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "text/utf8.h"

namespace ckpt::safetensors {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kSlabBytes = 16ULL << 20;
constexpr std::uint64_t kWriteBlockBytes = 4ULL << 20;
constexpr std::uint64_t kMaxIndexBytes = 256ULL << 20;
constexpr std::string_view kIndexSuffix = ".safetensors.index.json";

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// One tensor: a contiguous C-order little-endian region of a mapped file.
class RegionSource final : public ArraySource {
public:
    RegionSource(std::shared_ptr<const io::MappedFile> file, const TensorEntry& entry,
                 std::uint64_t fileOffset)
        : m_file(std::move(file)),
          m_dtype(entry.dtype),
          m_shape(entry.shape),
          m_offset(fileOffset),
          m_bytes(entry.end - entry.begin) {}

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }

    Shape chunkShape() const override { return rowSlabChunkShape(m_dtype, m_shape, kSlabBytes); }

    StorageInfo storage() const override {
        StorageInfo info;
        info.format = "safetensors";
        info.file = m_file->path().string();
        info.location = "byte offset " + std::to_string(m_offset);
        info.storedBytes = m_bytes;
        return info;
    }

    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* /*cancel*/) const override {
        copyHyperslab(m_file->bytes().data() + m_offset, m_shape, itemSize(m_dtype), sel,
                      out.data());
        return okStatus();
    }

private:
    std::shared_ptr<const io::MappedFile> m_file;
    DType m_dtype;
    Shape m_shape;
    std::uint64_t m_offset;
    std::uint64_t m_bytes;
};

struct OpenedFile {
    std::vector<flat::NamedNode> tensors;  // data-offset order
    Header header;
};

// `inside`: the directory of a sharded checkpoint, which a shard may not link out of.
Result<OpenedFile> readTensors(const fs::path& file, const fs::path& inside = {}) {
    CKPT_ASSIGN_OR_RETURN(auto mapped, inside.empty() ? io::MappedFile::open(file)
                                                      : io::MappedFile::openInside(inside, file));
    CKPT_ASSIGN_OR_RETURN(Header header, parseHeader(mapped->bytes(), file.string()));
    OpenedFile out;
    for (const auto& e : header.tensors) {
        out.tensors.emplace_back(e.name, Node::makeArray(std::make_shared<RegionSource>(
                                             mapped, e, header.dataStart + e.begin)));
    }
    out.header = std::move(header);
    return out;
}

Result<Checkpoint> openFile(const fs::path& file) {
    CKPT_ASSIGN_OR_RETURN(OpenedFile opened, readTensors(file));
    Checkpoint ckpt;
    ckpt.format = "safetensors";
    ckpt.layout = "single file";
    ckpt.path = file;
    ckpt.root = file;
    std::vector<std::pair<std::string, std::string>> attributes;
    std::optional<std::string> structure;
    for (const auto& [k, v] : opened.header.metadata) {
        if (k == kStructureKey) {
            structure = v;
        } else {
            attributes.emplace_back(k, v);
        }
    }
    NodePtr tree;
    if (structure) {
        auto rebuilt = flat::rebuildFromStructure(*structure, opened.tensors);
        if (rebuilt.isOk()) {
            tree = *rebuilt;
        } else {
            ckpt.warnings.push_back("'" + file.string() + "': ignoring __metadata__ '" +
                                    kStructureKey + "' (" + rebuilt.status().message() +
                                    "); tensor names split on '.'");
        }
    }
    if (!tree) tree = flat::buildBySplit(opened.tensors, '.');
    if (!attributes.empty()) tree = tree->withAttributes(attributes);
    ckpt.tree = std::move(tree);
    ckpt.properties.emplace_back("file", file.string());
    ckpt.properties.emplace_back("header bytes", std::to_string(opened.header.dataStart - 8));
    ckpt.properties.emplace_back("tensors", std::to_string(opened.tensors.size()));
    ckpt.properties.emplace_back("structure", structure && ckpt.warnings.empty()
                                                  ? "recorded by ckpt studio"
                                                  : "names split on '.'");
    for (const auto& [k, v] : attributes) ckpt.properties.emplace_back("metadata " + k, v);
    return ckpt;
}

// A shard file name from an index: relative, no "..", no backslash.
Status checkShardName(const std::string& name, const fs::path& index) {
    auto bad = [&](const std::string& why) {
        return corruptionError("safetensors index '" + index.string() + "': shard file '" + name +
                               "' " + why);
    };
    if (name.empty()) return bad("is empty");
    if (name.front() == '/' || (name.size() > 1 && name[1] == ':'))
        return bad("is an absolute path");
    if (name.find('\\') != std::string::npos) return bad("contains a backslash");
    if (name.find('\0') != std::string::npos) return bad("contains a NUL byte");
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t pos = name.find('/', start);
        if (pos == std::string::npos) pos = name.size();
        if (name.substr(start, pos - start) == "..") return bad("leaves the index's directory");
        start = pos + 1;
    }
    return okStatus();
}

Result<Checkpoint> openSharded(const fs::path& index, const fs::path& root) {
    const std::string where = "safetensors index '" + index.string() + "'";
    std::error_code ec;
    const auto size = fs::file_size(index, ec);
    if (ec) return ioError("cannot stat '" + index.string() + "': " + ec.message());
    if (size > kMaxIndexBytes)
        return corruptionError(where + ": " + std::to_string(size) + " bytes is too large");
    std::ifstream in(index, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return ioError("cannot read '" + index.string() + "'");
    auto doc = nlohmann::ordered_json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return corruptionError(where + ": not a JSON object");
    auto wm = doc.find("weight_map");
    if (wm == doc.end() || !wm->is_object())
        return corruptionError(where + ": no weight_map object");
    std::vector<std::string> shardOrder;
    std::unordered_map<std::string, std::string> shardOf;  // tensor -> shard
    for (const auto& [tensor, shard] : wm->items()) {
        if (!shard.is_string()) {
            return corruptionError(where + ": weight_map entry '" + tensor + "' is not a string");
        }
        const std::string s = shard.get<std::string>();
        CKPT_RETURN_IF_ERROR(checkShardName(s, index));
        if (std::find(shardOrder.begin(), shardOrder.end(), s) == shardOrder.end()) {
            shardOrder.push_back(s);
        }
        shardOf[tensor] = s;
    }
    Checkpoint ckpt;
    ckpt.format = "safetensors";
    ckpt.layout = "sharded (" + std::to_string(shardOrder.size()) + " files)";
    ckpt.path = index;
    ckpt.root = root;
    std::vector<flat::NamedNode> all;
    std::unordered_map<std::string, std::string> seen;  // tensor -> shard it was read from
    for (const auto& shard : shardOrder) {
        const fs::path file = index.parent_path() / shard;
        auto opened = readTensors(file, index.parent_path());
        if (!opened.isOk()) return opened.status().withContext(where);
        for (auto& [name, node] : opened->tensors) {
            auto [it, inserted] = seen.emplace(name, shard);
            if (!inserted) {
                return corruptionError(where + ": tensor '" + name + "' is in both '" + it->second +
                                       "' and '" + shard + "'");
            }
            auto owner = shardOf.find(name);
            if (owner == shardOf.end()) {
                ckpt.warnings.push_back(where + ": tensor '" + name + "' of '" + shard +
                                        "' is not in the weight_map");
            } else if (owner->second != shard) {
                return corruptionError(where + ": weight_map puts tensor '" + name + "' in '" +
                                       owner->second + "' but it is in '" + shard + "'");
            }
            all.emplace_back(std::move(name), std::move(node));
        }
    }
    for (const auto& [tensor, shard] : shardOf) {
        if (!seen.count(tensor)) {
            return corruptionError(where + ": tensor '" + tensor + "' is not in its shard '" +
                                   shard + "'");
        }
    }
    NodePtr tree = flat::buildBySplit(all, '.');
    std::vector<std::pair<std::string, std::string>> attributes;
    if (auto meta = doc.find("metadata"); meta != doc.end() && meta->is_object()) {
        for (const auto& [k, v] : meta->items()) {
            attributes.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
        }
    }
    if (!attributes.empty()) tree = tree->withAttributes(attributes);
    ckpt.tree = std::move(tree);
    ckpt.properties.emplace_back("index", index.string());
    ckpt.properties.emplace_back("shards", std::to_string(shardOrder.size()));
    ckpt.properties.emplace_back("tensors", std::to_string(all.size()));
    for (const auto& [k, v] : attributes) ckpt.properties.emplace_back("metadata " + k, v);
    return ckpt;
}

// The single `*.safetensors.index.json` of a directory.
Result<fs::path> findIndex(const fs::path& dir) {
    std::error_code ec;
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (endsWith(e.path().filename().string(), kIndexSuffix)) found.push_back(e.path());
    }
    if (ec) return ioError("cannot list '" + dir.string() + "': " + ec.message());
    if (found.empty()) {
        return notFoundError("'" + dir.string() + "' holds no *.safetensors.index.json");
    }
    if (found.size() > 1) {
        return invalidArgumentError("'" + dir.string() +
                                    "' holds several *.safetensors.index.json; open one of them");
    }
    return found.front();
}

int sniffScore(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    unsigned char buf[9] = {};
    if (!in.read(reinterpret_cast<char*>(buf), 9)) return 0;
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | buf[i];
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec || n > kMaxHeaderBytes || n + 8 > size || buf[8] != '{') return 0;
    return 35;
}

class SafetensorsReader final : public FormatReader {
public:
    std::string_view name() const override { return "safetensors"; }

    int probe(const fs::path& path) const override {
        std::error_code ec;
        if (fs::is_regular_file(path, ec)) {
            const std::string name = path.filename().string();
            if (endsWith(name, kIndexSuffix)) return 70;
            if (path.extension() == ".safetensors") return 60;
            return sniffScore(path);
        }
        if (fs::is_directory(path, ec)) return findIndex(path).isOk() ? 50 : 0;
        return 0;
    }

    Result<Checkpoint> open(const fs::path& path, const OpenOptions& options) const override {
        std::error_code ec;
        if (!fs::exists(path, ec)) return notFoundError("'" + path.string() + "' does not exist");
        if (options.step) {
            return invalidArgumentError("'" + path.string() + "': safetensors has no steps");
        }
        if (fs::is_directory(path, ec)) {
            CKPT_ASSIGN_OR_RETURN(fs::path index, findIndex(path));
            return openSharded(index, path);
        }
        if (endsWith(path.filename().string(), kIndexSuffix)) return openSharded(path, path);
        return openFile(path);
    }
};

Status checkDType(DType dtype) {
    if (dtypeCode(dtype)) return okStatus();
    return invalidArgumentError("dtype " + std::string(dtypeName(dtype)) +
                                " has no safetensors code");
}

class SafetensorsWriter final : public FormatWriter {
public:
    std::string_view name() const override { return "safetensors"; }

    Status write(const NodePtr& tree, const fs::path& target,
                 const WriteOptions& options) const override {
        if (options.step) {
            return invalidArgumentError(
                "safetensors writes single files; --write-step is not supported");
        }
        flat::FlattenRules rules;
        rules.separator = '.';
        rules.formatName = "safetensors";
        rules.checkDType = checkDType;
        CKPT_ASSIGN_OR_RETURN(flat::FlatTree flat, flat::flattenTree(tree, rules));
        // The header comes from shapes and dtypes alone; no tensor data is read yet.
        std::vector<TensorEntry> entries;
        std::uint64_t offset = 0;
        for (const auto& leaf : flat.leaves) {
            if (leaf.name == "__metadata__") {
                return invalidArgumentError(
                    "safetensors: the key path " + describeKeyPath(leaf.path) +
                    " would be the tensor name '__metadata__', which the format reserves for "
                    "the header's metadata");
            }
            TensorEntry e;
            e.name = leaf.name;
            if (leaf.node->kind() == NodeKind::kScalar) {
                e.dtype = leaf.node->scalarDType();
            } else {
                e.dtype = leaf.node->array()->dtype();
                e.shape = leaf.node->array()->shape();
            }
            auto bytes = checkedByteSize(e.dtype, e.shape);
            if (!bytes.isOk()) return bytes.status().withContext(describeKeyPath(leaf.path));
            e.begin = offset;
            e.end = offset + *bytes;
            offset = e.end;
            entries.push_back(std::move(e));
        }
        std::vector<std::pair<std::string, std::string>> metadata;
        for (const auto& [k, v] : tree->attributes()) {
            if (k != kStructureKey && text::isValidUtf8(k) && text::isValidUtf8(v)) {
                metadata.emplace_back(k, v);
            }
        }
        metadata.emplace_back(kStructureKey, flat.structureJson);
        const std::string header = encodeHeader(entries, metadata);
        if (header.size() - 8 > kMaxHeaderBytes) {
            return invalidArgumentError("the safetensors header would be " +
                                        std::to_string(header.size() - 8) +
                                        " bytes, over the 100000000-byte limit");
        }
        CKPT_ASSIGN_OR_RETURN(auto writer, io::AtomicFileWriter::create(target, options.overwrite));
        CKPT_RETURN_IF_ERROR(writer.write(header));
        const std::uint64_t total = offset;
        std::uint64_t done = 0;
        for (std::size_t i = 0; i < flat.leaves.size(); ++i) {
            if (isCancelled(options.cancel)) return cancelledError("cancelled");
            const auto& leaf = flat.leaves[i];
            std::uint64_t written = 0;
            Status s;
            if (leaf.node->kind() == NodeKind::kScalar) {
                auto value = leaf.node->loadScalar();
                s = value.isOk() ? writer.write(value->bits()) : value.status();
                if (s.isOk()) written = value->bits().size();
            } else {
                s = forEachCOrderBlock(
                    *leaf.node->array(), kWriteBlockBytes,
                    [&](std::span<const std::byte> block) {
                        written += block.size();
                        done += block.size();
                        if (options.progress) options.progress(done, total);
                        return writer.write(block);
                    },
                    options.cancel);
            }
            if (!s.isOk()) {
                return s.withContext("writing " + describeKeyPath(leaf.path) + " to '" +
                                     target.string() + "'");
            }
            if (written != entries[i].end - entries[i].begin) {
                return internalError("writing " + describeKeyPath(leaf.path) +
                                     ": the source gave " + std::to_string(written) +
                                     " bytes, expected " +
                                     std::to_string(entries[i].end - entries[i].begin));
            }
        }
        if (options.progress) options.progress(total, total);
        return writer.commit();
    }
};

}  // namespace

std::unique_ptr<FormatReader> makeSafetensorsReader() {
    return std::make_unique<SafetensorsReader>();
}
std::unique_ptr<FormatWriter> makeSafetensorsWriter() {
    return std::make_unique<SafetensorsWriter>();
}

}  // namespace ckpt::safetensors
