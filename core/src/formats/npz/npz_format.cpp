#include "formats/npz/npz_format.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>

#include "formats/npz/npy_header.h"
#include "formats/npz/zip_codec.h"
#include "formats/safetensors/flat_tree.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace ckpt::npz {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kWriteBlockBytes = 4ULL << 20;
constexpr std::uint64_t kMaxSidecarBytes = 256ULL << 20;
// Deflate cannot expand by more than about 1032:1 (zlib's technical details); a declared size
// beyond that is a lie, refused before any allocation.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string entryWhere(const std::string& archive, const std::string& entry) {
    return "npz '" + archive + "': entry '" + entry + "'";
}

// The entry's bytes once inflated (deflate) or mapped (stored), with the CRC checked once.
class EntryData {
public:
    EntryData(std::shared_ptr<const io::MappedFile> file, ZipEntry entry)
        : m_file(std::move(file)), m_entry(std::move(entry)) {}

    const ZipEntry& entry() const { return m_entry; }
    const io::MappedFile& file() const { return *m_file; }
    std::string where() const { return entryWhere(m_file->path().string(), m_entry.name); }

    std::span<const std::byte> raw() const {
        return m_file->bytes().subspan(static_cast<std::size_t>(m_entry.dataOffset),
                                       static_cast<std::size_t>(m_entry.compressedSize));
    }

    // The whole uncompressed entry (inflated on first use; stored entries are not copied).
    Result<std::span<const std::byte>> bytes(bool verifyCrc) const {
        if (m_entry.method == 0) {
            if (verifyCrc) CKPT_RETURN_IF_ERROR(checkCrc(raw()));
            return raw();
        }
        std::call_once(m_inflateOnce, [&] {
            auto out = inflateRaw(raw(), m_entry.uncompressedSize, false, where());
            if (!out.isOk()) {
                m_inflateStatus = out.status();
                return;
            }
            m_inflated = std::move(*out);
            m_inflateStatus = checkCrc(m_inflated);
        });
        CKPT_RETURN_IF_ERROR(m_inflateStatus);
        return std::span<const std::byte>(m_inflated);
    }

    // The first `n` uncompressed bytes (inflating only that much of a deflate entry).
    Result<std::vector<std::byte>> prefix(std::uint64_t n) const {
        n = std::min(n, m_entry.uncompressedSize);
        if (m_entry.method == 0) {
            auto r = raw().first(static_cast<std::size_t>(n));
            return std::vector<std::byte>(r.begin(), r.end());
        }
        return inflateRaw(raw(), n, true, where());
    }

private:
    Status checkCrc(std::span<const std::byte> data) const {
        std::call_once(m_crcOnce, [&] {
            const std::uint32_t crc = crc32Update(0, data);
            if (crc != m_entry.crc32) {
                m_crcStatus = corruptionError(where() + ": CRC-32 mismatch (stored " +
                                              std::to_string(m_entry.crc32) + ", computed " +
                                              std::to_string(crc) + ")");
            }
        });
        return m_crcStatus;
    }

    std::shared_ptr<const io::MappedFile> m_file;
    ZipEntry m_entry;
    mutable std::once_flag m_inflateOnce;
    mutable Status m_inflateStatus;
    mutable std::vector<std::byte> m_inflated;
    mutable std::once_flag m_crcOnce;
    mutable Status m_crcStatus;
};

class NpySource final : public ArraySource {
public:
    NpySource(std::shared_ptr<const EntryData> data, NpyHeader header, DType dtype)
        : m_data(std::move(data)), m_header(std::move(header)), m_dtype(dtype) {}

    const NpyHeader& header() const { return m_header; }
    const std::shared_ptr<const EntryData>& data() const { return m_data; }

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_header.shape; }

    StorageInfo storage() const override {
        StorageInfo info;
        info.format = "npz";
        info.file = m_data->file().path().string();
        info.location = "entry '" + m_data->entry().name + "'";
        if (m_data->entry().method == 0) {
            info.location += ", byte offset " +
                             std::to_string(m_data->entry().dataOffset + m_header.headerBytes);
        } else {
            info.codecs.push_back("deflate");
        }
        if (m_header.fortranOrder) info.location += ", Fortran order";
        if (m_header.bigEndian) info.location += ", big-endian";
        info.storedBytes = m_data->entry().compressedSize;
        return info;
    }

    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* /*cancel*/) const override {
        // Whole-array reads verify the entry's CRC-32; slices of stored entries touch only
        // their own bytes.
        const bool whole = sel.elementCount() == elementCount();
        auto bytes = m_data->bytes(whole);
        if (!bytes.isOk()) return bytes.status();
        const std::byte* base = bytes->data() + m_header.headerBytes;
        const std::size_t item = itemSize(m_dtype);
        if (!m_header.fortranOrder && !m_header.bigEndian) {
            copyHyperslab(base, m_header.shape, item, sel, out.data());
            return okStatus();
        }
        const std::size_t rank = m_header.shape.size();
        std::vector<std::uint64_t> stride(rank);
        std::uint64_t s = 1;
        for (std::size_t k = 0; k < rank; ++k) {
            // Fortran order: the first index varies fastest.
            const std::size_t d = m_header.fortranOrder ? k : rank - 1 - k;
            stride[d] = s;
            s *= static_cast<std::uint64_t>(m_header.shape[d]);
        }
        const std::uint64_t n = sel.elementCount();
        std::vector<std::int64_t> idx(rank, 0);
        const std::size_t unit = isComplex(m_dtype) ? item / 2 : item;
        std::byte* dst = out.data();
        for (std::uint64_t i = 0; i < n; ++i) {
            std::uint64_t off = 0;
            for (std::size_t d = 0; d < rank; ++d) {
                off += static_cast<std::uint64_t>(sel.start[d] + idx[d]) * stride[d];
            }
            std::memcpy(dst, base + off * item, item);
            if (m_header.bigEndian) {
                for (std::size_t u = 0; u < item; u += unit) std::reverse(dst + u, dst + u + unit);
            }
            dst += item;
            for (std::size_t d = rank; d-- > 0;) {
                if (++idx[d] < sel.count[d]) break;
                idx[d] = 0;
            }
        }
        return okStatus();
    }

private:
    std::shared_ptr<const EntryData> m_data;
    NpyHeader m_header;
    DType m_dtype;
};

Result<NodePtr> openEntry(const std::shared_ptr<const EntryData>& data,
                          std::vector<std::string>& warnings) {
    const ZipEntry& e = data->entry();
    const std::string where = data->where();
    if (e.method == 8 && e.uncompressedSize / kMaxDeflateRatio > e.compressedSize + 1) {
        return corruptionError(where + ": declared size " + std::to_string(e.uncompressedSize) +
                               " is impossible for " + std::to_string(e.compressedSize) +
                               " deflated bytes");
    }
    CKPT_ASSIGN_OR_RETURN(auto pre, data->prefix(kNpyPreambleBytes));
    CKPT_ASSIGN_OR_RETURN(std::uint64_t headerSize, npyHeaderSize(pre, where));
    if (headerSize > e.uncompressedSize) {
        return corruptionError(where + ": npy header (" + std::to_string(headerSize) +
                               " bytes) is longer than the entry (" +
                               std::to_string(e.uncompressedSize) + " bytes)");
    }
    CKPT_ASSIGN_OR_RETURN(auto headerBytes, data->prefix(headerSize));
    CKPT_ASSIGN_OR_RETURN(NpyHeader header, parseNpyHeader(headerBytes, where));
    const std::uint64_t dataBytes = *checkedByteSize(header.dtype, header.shape);
    if (header.headerBytes + dataBytes != e.uncompressedSize) {
        return corruptionError(where + ": npy header says " + header.descr + " " +
                               formatShape(header.shape) + " (" + std::to_string(dataBytes) +
                               " data bytes) but the entry holds " +
                               std::to_string(e.uncompressedSize - header.headerBytes));
    }
    if (header.rawVoid) {
        warnings.push_back(where + ": descr '" + header.descr +
                           "' does not name a dtype (numpy writes ml_dtypes arrays so); shown as " +
                           std::string(dtypeName(header.dtype)) + " bits");
    }
    const DType dtype = header.dtype;
    return Node::makeArray(std::make_shared<NpySource>(data, std::move(header), dtype));
}

Result<NodePtr> retypeVoid(const NodePtr& node, DType recorded) {
    const auto* src = dynamic_cast<const NpySource*>(node->array().get());
    if (!src || !src->header().rawVoid || itemSize(recorded) != itemSize(src->dtype())) {
        return invalidArgumentError("recorded dtype " + std::string(dtypeName(recorded)) +
                                    " does not match the stored array");
    }
    return Node::makeArray(std::make_shared<NpySource>(src->data(), src->header(), recorded));
}

Result<Checkpoint> openArchive(const fs::path& file) {
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::open(file));
    const std::string archive = file.string();
    CKPT_ASSIGN_OR_RETURN(auto entries, readZipDirectory(mapped->bytes(), archive));
    Checkpoint ckpt;
    ckpt.format = "npz";
    ckpt.layout = "zip archive";
    ckpt.path = file;
    ckpt.root = file;
    std::vector<flat::NamedNode> tensors;
    std::optional<std::string> structure;
    std::size_t deflated = 0;
    for (auto& e : entries) {
        auto data = std::make_shared<const EntryData>(mapped, e);
        if (e.name == kStructureEntry) {
            if (e.uncompressedSize > kMaxSidecarBytes) {
                ckpt.warnings.push_back(data->where() + ": too large, ignored");
                continue;
            }
            auto bytes = data->bytes(true);
            if (!bytes.isOk()) {
                ckpt.warnings.push_back(bytes.status().message() + "; structure ignored");
                continue;
            }
            structure = std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
            continue;
        }
        if (!endsWith(e.name, ".npy")) {
            ckpt.warnings.push_back(data->where() + ": not an .npy array, skipped");
            continue;
        }
        if (e.method == 8) ++deflated;
        CKPT_ASSIGN_OR_RETURN(NodePtr node, openEntry(data, ckpt.warnings));
        tensors.emplace_back(e.name.substr(0, e.name.size() - 4), std::move(node));
    }
    NodePtr tree;
    if (structure) {
        auto rebuilt = flat::rebuildFromStructure(*structure, tensors, retypeVoid);
        if (rebuilt.isOk()) {
            tree = *rebuilt;
            // The record named the dtypes of raw void entries; their warnings no longer apply.
            ckpt.warnings.erase(std::remove_if(ckpt.warnings.begin(), ckpt.warnings.end(),
                                               [](const std::string& w) {
                                                   return w.find("does not name a dtype") !=
                                                          std::string::npos;
                                               }),
                                ckpt.warnings.end());
        } else {
            ckpt.warnings.push_back("npz '" + archive + "': ignoring entry '" + kStructureEntry +
                                    "' (" + rebuilt.status().message() + "); names split on '/'");
        }
    }
    if (!tree) tree = flat::buildBySplit(tensors, '/');
    ckpt.tree = std::move(tree);
    ckpt.properties.emplace_back("file", archive);
    ckpt.properties.emplace_back("arrays", std::to_string(tensors.size()));
    ckpt.properties.emplace_back("deflated arrays", std::to_string(deflated));
    ckpt.properties.emplace_back("structure", ckpt.tree && structure && ckpt.warnings.empty()
                                                  ? "recorded by ckpt studio"
                                                  : "names split on '/'");
    return ckpt;
}

class NpzReader final : public FormatReader {
public:
    std::string_view name() const override { return "npz"; }

    int probe(const fs::path& path) const override {
        std::error_code ec;
        if (!fs::is_regular_file(path, ec)) return 0;
        if (path.extension() == ".npz") return 60;
        std::ifstream in(path, std::ios::binary);
        char magic[4] = {};
        if (!in.read(magic, 4)) return 0;
        return std::memcmp(magic, "PK\x03\x04", 4) == 0 ? 15 : 0;
    }

    Result<Checkpoint> open(const fs::path& path, const OpenOptions& options) const override {
        std::error_code ec;
        if (!fs::exists(path, ec)) return notFoundError("'" + path.string() + "' does not exist");
        if (options.step) return invalidArgumentError("'" + path.string() + "': npz has no steps");
        if (fs::is_directory(path, ec)) {
            return invalidArgumentError("'" + path.string() + "' is a directory, not an npz file");
        }
        return openArchive(path);
    }
};

Status checkKey(std::string_view key) {
    if (key.empty() || key == "." || key == "..") {
        return invalidArgumentError("the key '" + std::string(key) +
                                    "' cannot be a path segment of a zip entry");
    }
    if (key.find('\\') != std::string_view::npos || key.find('\0') != std::string_view::npos) {
        return invalidArgumentError("keys with a backslash or NUL cannot name a zip entry");
    }
    // A '/' inside the key splits it into entry path segments: those must be safe too (the
    // reader refuses "..", absolute and empty segments, as unzip tools should).
    if (std::string why = unsafeNameReason(std::string(key) + ".npy"); !why.empty()) {
        return invalidArgumentError("the key '" + std::string(key) + "' cannot name a zip entry: " +
                                    why);
    }
    return okStatus();
}

class NpzWriter final : public FormatWriter {
public:
    std::string_view name() const override { return "npz"; }
    Status write(const NodePtr& tree, const fs::path& target,
                 const WriteOptions& options) const override {
        return writeNpz(tree, target, options);
    }
};

}  // namespace

Status writeNpz(const NodePtr& tree, const fs::path& target, const WriteOptions& options,
                std::uint64_t zip64Threshold) {
    if (options.step)
        return invalidArgumentError("npz writes single files; --write-step is not supported");
    flat::FlattenRules rules;
    rules.separator = '/';
    rules.formatName = "npz";
    rules.checkKey = checkKey;
    CKPT_ASSIGN_OR_RETURN(flat::FlatTree flat, flat::flattenTree(tree, rules));
    // Sizes come from shapes and dtypes alone, before any data is read.
    struct Plan {
        std::string header;
        std::uint64_t dataBytes = 0;
    };
    std::vector<Plan> plans;
    std::uint64_t total = 0;
    for (const auto& leaf : flat.leaves) {
        const bool scalar = leaf.node->kind() == NodeKind::kScalar;
        const DType dtype = scalar ? leaf.node->scalarDType() : leaf.node->array()->dtype();
        const Shape shape = scalar ? Shape{} : leaf.node->array()->shape();
        auto bytes = checkedByteSize(dtype, shape);
        if (!bytes.isOk()) return bytes.status().withContext(describeKeyPath(leaf.path));
        plans.push_back({encodeNpyHeader(dtype, shape), *bytes});
        total += *bytes;
    }
    CKPT_ASSIGN_OR_RETURN(auto writer, io::AtomicFileWriter::create(target, options.overwrite));
    std::vector<ZipWriteEntry> written;
    std::uint64_t done = 0;
    auto writeEntry =
        [&](const std::string& name, std::uint64_t size,
            const std::function<Status(const std::function<Status(std::span<const std::byte>)>&)>&
                body) -> Status {
        ZipWriteEntry e;
        e.name = name;
        e.size = size;
        e.localHeaderOffset = writer.bytesWritten();
        e.zip64 = needsZip64(size, e.localHeaderOffset, zip64Threshold);
        CKPT_RETURN_IF_ERROR(writer.write(encodeLocalHeader(e)));
        std::uint32_t crc = 0;
        std::uint64_t count = 0;
        CKPT_RETURN_IF_ERROR(body([&](std::span<const std::byte> block) {
            crc = crc32Update(crc, block);
            count += block.size();
            return writer.write(block);
        }));
        if (count != size) {
            return internalError("zip entry '" + name + "': wrote " + std::to_string(count) +
                                 " bytes, planned " + std::to_string(size));
        }
        e.crc32 = crc;
        CKPT_RETURN_IF_ERROR(writer.write(encodeDataDescriptor(e)));
        written.push_back(std::move(e));
        return okStatus();
    };
    for (std::size_t i = 0; i < flat.leaves.size(); ++i) {
        if (isCancelled(options.cancel)) return cancelledError("cancelled");
        const auto& leaf = flat.leaves[i];
        const Plan& plan = plans[i];
        Status s = writeEntry(
            leaf.name + ".npy", plan.header.size() + plan.dataBytes, [&](const auto& sink) {
                CKPT_RETURN_IF_ERROR(
                    sink(std::as_bytes(std::span(plan.header.data(), plan.header.size()))));
                if (leaf.node->kind() == NodeKind::kScalar) {
                    CKPT_ASSIGN_OR_RETURN(Scalar value, leaf.node->loadScalar());
                    return sink(value.bits());
                }
                return forEachCOrderBlock(
                    *leaf.node->array(), kWriteBlockBytes,
                    [&](std::span<const std::byte> block) {
                        done += block.size();
                        if (options.progress) options.progress(done, total);
                        return sink(block);
                    },
                    options.cancel);
            });
        if (!s.isOk()) {
            return s.withContext("writing " + describeKeyPath(leaf.path) + " to '" +
                                 target.string() + "'");
        }
    }
    const std::string& sidecar = flat.structureJson;
    CKPT_RETURN_IF_ERROR(writeEntry(kStructureEntry, sidecar.size(), [&](const auto& sink) {
        return sink(std::as_bytes(std::span(sidecar.data(), sidecar.size())));
    }));
    CKPT_RETURN_IF_ERROR(
        writer.write(encodeCentralDirectory(written, writer.bytesWritten(), zip64Threshold)));
    if (options.progress) options.progress(total, total);
    return writer.commit();
}

std::unique_ptr<FormatReader> makeNpzReader() {
    return std::make_unique<NpzReader>();
}
std::unique_ptr<FormatWriter> makeNpzWriter() {
    return std::make_unique<NpzWriter>();
}

}  // namespace ckpt::npz
