// HDF5 reader: walks the object graph once at open (metadata only, plus the small values of
// strings, bytes and marked scalars) and hands out lazy ArraySources for datasets.
#include <algorithm>
#include <fstream>
#include <set>

#include "ckpt/core/tree.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/hdf5/hdf5_isolation.h"
#include "formats/hdf5/hdf5_lib.h"
#include "formats/hdf5/hdf5_types.h"
#include "formats/hdf5/hdf5_virtual.h"

namespace ckpt::hdf5 {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kMaxNodes = 1000000;
constexpr std::size_t kMaxDepth = 256;
constexpr std::uint64_t kMaxLeafBytes = 256ULL << 20;  // strings/bytes read at open
constexpr std::uint64_t kContiguousSlabBytes = 4ULL << 20;

std::string where(const std::string& file, const KeyPath& path) {
    return "'" + file + "', " + describeKeyPath(path);
}

class Hdf5Source final : public ArraySource {
public:
    Hdf5Source(std::shared_ptr<FileRef> file, haddr_t dataset, Handle memType, DType dtype,
               Shape shape, Shape chunk, std::uint64_t chunkBytes, std::uint64_t zstdChunkBytes,
               StorageInfo storage, std::string context)
        : m_file(std::move(file)),
          m_dataset(dataset),
          m_memType(std::move(memType)),
          m_dtype(dtype),
          m_shape(std::move(shape)),
          m_chunk(std::move(chunk)),
          m_chunkBytes(chunkBytes),
          m_zstdChunkBytes(zstdChunkBytes),
          m_storage(std::move(storage)),
          m_context(std::move(context)) {}

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override {
        if (!m_chunk.empty()) return m_chunk;
        return chunkShapeFor(m_shape, itemSize(m_dtype), kContiguousSlabBytes);
    }
    StorageInfo storage() const override { return m_storage; }

    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        if (isCancelled(cancel)) return cancelledError("cancelled");
        if (selection.elementCount() == 0) return okStatus();
        Lock lock = lockHdf5();
        const std::string context = "reading " + m_context;
        setZstdOutputCap(m_chunkBytes);
        setZstdExpectedBytes(m_zstdChunkBytes);
        // Opened for this read only: an open dataset costs libhdf5 ~11 KB (its property lists and
        // object header), 1.1 GB for a file of 100,000 datasets if every leaf kept one open.
        CKPT_ASSIGN_OR_RETURN(
            Handle dataset,
            checkId(H5Oopen_by_addr(m_file->file.get(), m_dataset), H5Oclose, context));
        if (H5Iget_type(dataset.get()) != H5I_DATASET) {
            return corruptionError(context + ": the object is no longer a dataset");
        }
        if (m_shape.empty()) {
            return checkRc(H5Dread(dataset.get(), m_memType.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                   out.data()),
                           context);
        }
        CKPT_ASSIGN_OR_RETURN(Handle fileSpace,
                              checkId(H5Dget_space(dataset.get()), H5Sclose, context));
        std::vector<hsize_t> start(selection.start.begin(), selection.start.end());
        std::vector<hsize_t> count(selection.count.begin(), selection.count.end());
        CKPT_RETURN_IF_ERROR(
            checkRc(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                        count.data(), nullptr),
                    context, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            Handle memSpace,
            checkId(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                    H5Sclose, context, StatusCode::kInternal));
        return checkRc(H5Dread(dataset.get(), m_memType.get(), memSpace.get(), fileSpace.get(),
                               H5P_DEFAULT, out.data()),
                       context);
    }

private:
    std::shared_ptr<FileRef> m_file;  // keeps the file open while the source lives
    haddr_t m_dataset;                // the dataset's object header, opened per read
    Handle m_memType;
    DType m_dtype;
    Shape m_shape;
    Shape m_chunk;
    std::uint64_t m_chunkBytes;
    std::uint64_t m_zstdChunkBytes;  // strictZstdChunkBytes

    StorageInfo m_storage;
    std::string m_context;
};

// Link traversal never opens another file.
herr_t denyExternalLink(const char*, const char*, const char*, const char*, unsigned*, hid_t,
                        void*) {
    return -1;
}

struct LinkEntry {
    std::string name;
    H5L_type_t type = H5L_TYPE_HARD;
    bool corderValid = false;
    std::int64_t corder = 0;
};

herr_t collectLink(hid_t, const char* name, const H5L_info_t* info, void* data) {
    auto* links = static_cast<std::vector<LinkEntry>*>(data);
    if (links->size() >= kMaxNodes) return -1;
    links->push_back({name, info->type, info->corder_valid != 0, info->corder});
    return 0;
}

bool isIndexName(const std::string& s) {
    if (s.empty() || s.size() > 9) return false;
    if (s.size() > 1 && s[0] == '0') return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

struct Built {
    NodePtr node;
    std::optional<std::string> key;  // the original dict key (ckpt_key attribute)
};

class TreeReader {
public:
    TreeReader(std::shared_ptr<FileRef> file, std::vector<std::string>& warnings)
        : m_file(std::move(file)), m_warnings(warnings) {}

    Status init() {
        CKPT_ASSIGN_OR_RETURN(m_lapl, checkId(H5Pcreate(H5P_LINK_ACCESS), H5Pclose, "link access",
                                              StatusCode::kInternal));
        return checkRc(H5Pset_elink_cb(m_lapl.get(), denyExternalLink, nullptr), "link access",
                       StatusCode::kInternal);
    }

    Result<Built> object(hid_t obj, const KeyPath& path) {
        if (++m_nodes > kMaxNodes) {
            return corruptionError(where(m_file->name, path) + ": more than " +
                                   std::to_string(kMaxNodes) + " objects");
        }
        const std::string context = where(m_file->name, path);
        noteProgress(path);
        CKPT_ASSIGN_OR_RETURN(auto key, readStringAttribute(obj, "ckpt_key", context));
        const H5I_type_t type = H5Iget_type(obj);
        Result<NodePtr> node =
            type == H5I_GROUP ? group(obj, path)
            : type == H5I_DATASET
                ? dataset(obj, path)
                : Result<NodePtr>(unsupportedError(context + ": a committed datatype is "
                                                             "not a value"));
        if (!node.isOk()) return node.status();
        return Built{std::move(*node), std::move(key)};
    }

private:
    NodePtr errorLeaf(const Status& status) {
        m_warnings.push_back(status.toString());
        return Node::makeNone()->withAttributes({{"error", status.toString()}});
    }

    static NodePtr withAttrs(NodePtr node, std::vector<std::pair<std::string, std::string>> a) {
        return a.empty() ? node : node->withAttributes(std::move(a));
    }

    Result<NodePtr> group(hid_t g, const KeyPath& path) {
        const std::string context = where(m_file->name, path);
        H5O_info_t info{};
        CKPT_RETURN_IF_ERROR(checkRc(H5Oget_info2(g, &info, H5O_INFO_BASIC), context));
        if (std::find(m_stack.begin(), m_stack.end(), info.addr) != m_stack.end()) {
            return corruptionError(context + ": hard link cycle (the group contains itself)");
        }
        if (m_stack.size() >= kMaxDepth)
            return corruptionError(context + ": groups nested too deeply");
        m_stack.push_back(info.addr);
        auto result = groupBody(g, path, context);
        m_stack.pop_back();
        return result;
    }

    Result<NodePtr> groupBody(hid_t g, const KeyPath& path, const std::string& context) {
        CKPT_ASSIGN_OR_RETURN(auto kind, readStringAttribute(g, "ckpt_kind", context));
        CKPT_ASSIGN_OR_RETURN(auto attrs, readDisplayAttributes(g, context));
        std::vector<LinkEntry> links;
        hsize_t idx = 0;
        CKPT_RETURN_IF_ERROR(
            checkRc(H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collectLink, &links),
                    context + ": listing the group"));
        CKPT_ASSIGN_OR_RETURN(Handle gcpl, checkId(H5Gget_create_plist(g), H5Pclose, context));
        unsigned orderFlags = 0;
        CKPT_RETURN_IF_ERROR(checkRc(H5Pget_link_creation_order(gcpl.get(), &orderFlags), context));
        const bool tracked = (orderFlags & H5P_CRT_ORDER_TRACKED) != 0 &&
                             std::all_of(links.begin(), links.end(),
                                         [](const LinkEntry& l) { return l.corderValid; });
        if (tracked) {
            std::stable_sort(
                links.begin(), links.end(),
                [](const LinkEntry& a, const LinkEntry& b) { return a.corder < b.corder; });
        }
        std::vector<DictEntry> entries;
        entries.reserve(links.size());
        for (const auto& link : links) {
            KeyPath childPath = path;
            childPath.push_back(link.name);
            Built built = child(g, link, childPath);
            if (m_nodes > kMaxNodes) {
                return corruptionError(context + ": more than " + std::to_string(kMaxNodes) +
                                       " objects (shared subgroups?)");
            }
            std::string key = built.key ? *built.key : link.name;
            entries.push_back({std::move(key), std::move(built.node)});
        }
        if (kind && (*kind == "list" || *kind == "tuple")) {
            std::vector<NodePtr> items(entries.size());
            bool ok = true;
            for (const auto& e : entries) {
                const std::size_t i = isIndexName(e.key) ? std::stoul(e.key) : items.size();
                if (i >= items.size() || items[i]) {
                    ok = false;
                    break;
                }
                items[i] = e.value;
            }
            if (ok) {
                return withAttrs(*kind == "list" ? Node::makeList(std::move(items))
                                                 : Node::makeTuple(std::move(items)),
                                 std::move(attrs));
            }
            m_warnings.push_back(context + ": marked as a " + *kind +
                                 " but its children are not named 0..n-1; shown as a dict");
        } else if (kind && *kind == "value" && entries.size() == 1) {
            return entries[0].value;
        }
        return withAttrs(Node::makeDict(std::move(entries)), std::move(attrs));
    }

    Built child(hid_t g, const LinkEntry& link, const KeyPath& path) {
        const std::string context = where(m_file->name, path);
        if (link.type == H5L_TYPE_EXTERNAL) {
            std::string target = "another file";
            std::vector<char> buf(4096);
            H5L_info_t li{};
            if (H5Lget_info(g, link.name.c_str(), &li, H5P_DEFAULT) >= 0 &&
                li.u.val_size <= buf.size() &&
                H5Lget_val(g, link.name.c_str(), buf.data(), buf.size(), H5P_DEFAULT) >= 0) {
                const char* file = nullptr;
                const char* obj = nullptr;
                if (H5Lunpack_elink_val(buf.data(), li.u.val_size, nullptr, &file, &obj) >= 0 &&
                    file != nullptr && obj != nullptr) {
                    target = "'" + std::string(file) + "':" + obj;
                }
            }
            H5Eclear2(H5E_DEFAULT);
            return {errorLeaf(unsupportedError(context + ": external link to " + target +
                                               " (external links are not followed)")),
                    std::nullopt};
        }
        if (link.type != H5L_TYPE_HARD && link.type != H5L_TYPE_SOFT) {
            return {errorLeaf(unsupportedError(context + ": user-defined link type " +
                                               std::to_string(static_cast<int>(link.type)))),
                    std::nullopt};
        }
        auto obj = checkId(
            H5Oopen(g, link.name.c_str(), m_lapl.get()), H5Oclose,
            context + (link.type == H5L_TYPE_SOFT ? ": following a soft link" : ": opening"));
        if (!obj.isOk()) return {errorLeaf(obj.status()), std::nullopt};
        auto built = object(obj->get(), path);
        if (!built.isOk()) return {errorLeaf(built.status()), std::nullopt};
        return std::move(*built);
    }

    Result<std::vector<std::byte>> readWhole(hid_t d, hid_t memType, std::uint64_t bytes,
                                             const std::string& context) {
        if (bytes > kMaxLeafBytes) return unsupportedError(context + ": value too large to show");
        std::vector<std::byte> buf(static_cast<std::size_t>(bytes));
        if (bytes == 0) return buf;
        CKPT_ASSIGN_OR_RETURN(Handle dcpl, checkId(H5Dget_create_plist(d), H5Pclose, context));
        const std::uint64_t chunkBytes = chunkBytesOf(dcpl.get(), H5Tget_size(memType));
        setZstdOutputCap(chunkBytes);
        if (chunkBytes != 0) setZstdExpectedBytes(strictZstdChunkBytes(dcpl.get(), chunkBytes - 64));
        CKPT_RETURN_IF_ERROR(checkRc(H5Dread(d, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()),
                                     context + ": reading"));
        return buf;
    }

    // libhdf5 1.10.8 trusts the stored size of a compact or contiguous dataset: a compact one
    // that holds fewer bytes than its dataspace needs is copied from a null buffer when read
    // (tests/fuzz/libhdf5-known/compact-storage-short.h5, a SIGSEGV in H5D__select_read). So its
    // size is checked before any read; contiguous storage not yet allocated (fill values) is
    // fine.
    static Status checkStoredSize(hid_t d, hid_t dcpl, std::uint64_t count, hid_t ft,
                                  const std::string& context) {
        const H5D_layout_t layout = H5Pget_layout(dcpl);
        if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS) return okStatus();
        const std::uint64_t item = H5Tget_size(ft);
        if (item == 0 || count > std::numeric_limits<std::uint64_t>::max() / item) {
            return corruptionError(context + ": dataset size");
        }
        const std::uint64_t expected = count * item;
        const std::uint64_t stored = H5Dget_storage_size(d);
        const bool allocated = layout == H5D_COMPACT || H5Dget_offset(d) != HADDR_UNDEF;
        H5Eclear2(H5E_DEFAULT);
        if (allocated && stored != expected) {
            return corruptionError(context + ": its " +
                                   (layout == H5D_COMPACT ? "compact" : "contiguous") +
                                   " storage holds " + std::to_string(stored) +
                                   " bytes, but its shape and dtype need " +
                                   std::to_string(expected));
        }
        return okStatus();
    }

    static std::uint64_t chunkBytesOf(hid_t dcpl, std::size_t fileItem) {
        if (H5Pget_layout(dcpl) != H5D_CHUNKED) return 0;
        hsize_t dims[H5S_MAX_RANK] = {};
        const int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
        if (rank <= 0) return 0;
        std::uint64_t n = fileItem;
        for (int i = 0; i < rank; ++i) {
            if (dims[i] != 0 && n > (1ULL << 40) / dims[i]) return 1ULL << 40;
            n *= dims[i];
        }
        return n + 64;  // slack for a checksum filter applied after compression
    }

    static NodePtr nestedStrings(const std::vector<std::string>& s, const Shape& shape,
                                 std::size_t dim, std::size_t& pos) {
        std::vector<NodePtr> items;
        for (std::int64_t i = 0; i < shape[dim]; ++i) {
            items.push_back(dim + 1 == shape.size() ? Node::makeString(s[pos++])
                                                    : nestedStrings(s, shape, dim + 1, pos));
        }
        return Node::makeList(std::move(items));
    }

    Result<NodePtr> dataset(hid_t d, const KeyPath& path) {
        const std::string context = where(m_file->name, path);
        auto node = datasetValue(d, path, context);
        if (!node.isOk()) return errorLeaf(node.status());
        auto attrs = readDisplayAttributes(d, context);
        if (!attrs.isOk()) return errorLeaf(attrs.status());
        return withAttrs(std::move(*node), std::move(*attrs));
    }

    Result<NodePtr> datasetValue(hid_t d, const KeyPath& path, const std::string& context) {
        CKPT_ASSIGN_OR_RETURN(auto kind, readStringAttribute(d, "ckpt_kind", context));
        CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Dget_space(d), H5Sclose, context));
        if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return Node::makeNone();
        CKPT_ASSIGN_OR_RETURN(Shape shape, spaceShape(space.get(), context));
        CKPT_ASSIGN_OR_RETURN(std::uint64_t count, checkedElementCount(shape));
        CKPT_ASSIGN_OR_RETURN(Handle ft, checkId(H5Dget_type(d), H5Tclose, context));
        if (H5Tget_class(ft.get()) == H5T_STRING) {
            CKPT_ASSIGN_OR_RETURN(auto strings, readStrings(d, false, ft.get(), count, context));
            if (strings.size() != count) return corruptionError(context + ": string count");
            if (shape.empty()) return Node::makeString(std::move(strings.at(0)));
            if (count == 0) return Node::makeList({});
            std::size_t pos = 0;
            return nestedStrings(strings, shape, 0, pos);
        }
        auto rt = readTypeFor(ft.get());
        if (!rt.isOk()) return Status(rt.status().code(), context + ": " + rt.status().message());
        CKPT_ASSIGN_OR_RETURN(Handle dcpl, checkId(H5Dget_create_plist(d), H5Pclose, context));
        CKPT_RETURN_IF_ERROR(checkStoredSize(d, dcpl.get(), count, ft.get(), context));
        if (kind && (*kind == "bytes" || *kind == "string")) {
            if (rt->dtype != DType::kUInt8 || shape.size() != 1) {
                return corruptionError(context + ": a " + *kind + " must be a 1-d uint8 dataset");
            }
            CKPT_ASSIGN_OR_RETURN(auto buf, readWhole(d, rt->memType.get(), count, context));
            std::string text(reinterpret_cast<const char*>(buf.data()), buf.size());
            return *kind == "bytes" ? Node::makeBytes(std::move(text))
                                    : Node::makeString(std::move(text));
        }
        const DType storedDType = rt->dtype;
        CKPT_ASSIGN_OR_RETURN(auto trueDType, readStringAttribute(d, "ckpt_dtype", context));
        if (trueDType) {
            auto dt = dtypeFromName(*trueDType);
            if (!dt || !storedAsBits(*dt) || itemSize(*dt) != itemSize(rt->dtype) ||
                dtypeInfo(rt->dtype).kind != DTypeKind::kUnsignedInt) {
                return corruptionError(context + ": ckpt_dtype '" + *trueDType +
                                       "' does not fit a " + std::string(dtypeName(rt->dtype)) +
                                       " dataset");
            }
            rt->dtype = *dt;
        }
        if (kind && *kind == "scalar") {
            if (!shape.empty()) return corruptionError(context + ": a scalar must be 0-d");
            CKPT_ASSIGN_OR_RETURN(auto native, readIntAttribute(d, "ckpt_native", context));
            CKPT_ASSIGN_OR_RETURN(auto buf,
                                  readWhole(d, rt->memType.get(), itemSize(rt->dtype), context));
            CKPT_ASSIGN_OR_RETURN(Scalar s,
                                  Scalar::fromBits(rt->dtype, buf, native && *native != 0));
            return Node::makeScalar(s);
        }
        // An array, read lazily.
        StorageInfo storage;
        storage.format = "hdf5";
        storage.file = m_file->name;
        storage.location = "dataset /";
        for (std::size_t i = 0; i < path.size(); ++i) storage.location += (i ? "/" : "") + path[i];
        Shape chunk;
        std::uint64_t chunkBytes = 0;
        std::uint64_t zstdChunkBytes = 0;
        const H5D_layout_t layout = H5Pget_layout(dcpl.get());
        if (layout == H5D_VIRTUAL) {
            // A virtual dataset whose mappings fail the checks stays an array of its dtype and
            // shape (listed in the warnings); reading it fails with the reason.
            auto mappings = readVirtualMappings(dcpl.get(), shape, *m_file, context);
            H5Eclear2(H5E_DEFAULT);
            Status error;
            if (!mappings.isOk()) {
                error = mappings.status();
                m_warnings.push_back(error.toString());
            }
            std::vector<VirtualMapping> list =
                mappings.isOk() ? std::move(*mappings) : std::vector<VirtualMapping>{};
            storage.location = "virtual " + storage.location + ", " + std::to_string(list.size()) +
                               " source block(s)";
            if (!list.empty()) storage.chunkShape = list.front().block.count;
            const DType dtype = rt->dtype;
            return Node::makeArray(makeVirtualSource(
                m_file, std::move(rt->memType), dtype, storedDType, std::move(shape),
                std::move(list), std::move(storage), context, std::move(error)));
        }
        if (layout == H5D_CHUNKED) {
            hsize_t dims[H5S_MAX_RANK] = {};
            const int rank = H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, dims);
            if (rank != static_cast<int>(shape.size()))
                return corruptionError(context + ": chunk rank");
            for (int i = 0; i < rank; ++i) {
                if (dims[i] == 0 || dims[i] > (1ULL << 32))
                    return corruptionError(context + ": chunk dimension");
                chunk.push_back(static_cast<std::int64_t>(dims[i]));
            }
            chunkBytes = chunkBytesOf(dcpl.get(), H5Tget_size(ft.get()));
            zstdChunkBytes = strictZstdChunkBytes(dcpl.get(), chunkBytes - 64);
            storage.chunkShape = chunk;
            storage.codecs = describeFilters(dcpl.get());
            for (std::size_t i = 0; i < chunk.size(); ++i)
                chunk[i] = std::min(chunk[i], std::max<std::int64_t>(shape[i], 1));
        } else {
            const haddr_t offset = H5Dget_offset(d);
            if (offset != HADDR_UNDEF)
                storage.location += ", byte offset " + std::to_string(offset);
            if (layout == H5D_COMPACT) storage.location += " (compact)";
        }
        storage.storedBytes = H5Dget_storage_size(d);
        H5Eclear2(H5E_DEFAULT);
        // The source keeps the dataset's address, not an open id (see Hdf5Source::readInto).
        H5O_info_t info{};
        CKPT_RETURN_IF_ERROR(checkRc(H5Oget_info2(d, &info, H5O_INFO_BASIC), context));
        const DType dtype = rt->dtype;
        return Node::makeArray(std::make_shared<Hdf5Source>(
            m_file, info.addr, std::move(rt->memType), dtype, std::move(shape),
            std::move(chunk), chunkBytes, zstdChunkBytes, std::move(storage), context));
    }

    std::shared_ptr<FileRef> m_file;
    std::vector<std::string>& m_warnings;
    Handle m_lapl;
    std::uint64_t m_nodes = 0;
    std::vector<haddr_t> m_stack;
};

constexpr std::uint64_t kNoSuperblock = ~0ULL;

bool hasSignatureAt(std::ifstream& in, std::uint64_t offset) {
    static constexpr char kSignature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
    char buf[8] = {};
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    return in.read(buf, 8) && std::equal(buf, buf + 8, kSignature);
}

std::uint64_t superblockOffset(std::ifstream& in, std::uint64_t size) {
    // The superblock sits at 0 or after a user block of 512, 1024, 2048, ... bytes.
    for (std::uint64_t off = 0; off + 8 <= size && off <= (1ULL << 30); off = off ? off * 2 : 512) {
        if (hasSignatureAt(in, off)) return off;
    }
    return kNoSuperblock;
}

}  // namespace

// In this process and before libhdf5 sees the file: checks that the file is at least as long as
// its superblock's end-of-file address says (libhdf5's own "truncated file" test, which it only
// reaches after it has parsed the superblock). A cut-off copy or download is the most common
// damage, and this names it without starting the child process of hdf5_isolation.h.
Status checkNotTruncated(const fs::path& file) {
    std::error_code ec;
    const std::uint64_t size = fs::file_size(file, ec);
    std::ifstream in(file, std::ios::binary);
    if (ec || !in) return okStatus();  // H5Fopen reports what is wrong with it
    const std::uint64_t at = superblockOffset(in, size);
    const auto endsInSuperblock = [&] {
        return corruptionError("'" + file.string() + "' is truncated: it ends inside the HDF5 " +
                               "superblock at byte " + std::to_string(at) + " (" +
                               std::to_string(size) + " bytes)");
    };
    if (at == kNoSuperblock) {
        return corruptionError("'" + file.string() + "' is not an HDF5 file: no superblock " +
                               "signature at byte 0, 512, 1024, 2048, ... (" +
                               std::to_string(size) + " bytes)");
    }
    unsigned char head[12] = {};
    in.clear();
    in.seekg(static_cast<std::streamoff>(at + 8));
    in.read(reinterpret_cast<char*>(head), sizeof head);
    if (!in) return endsInSuperblock();
    const unsigned version = head[0];
    unsigned offsetBytes = 0;
    std::uint64_t eofField = 0;  // where the end-of-file address is, from the signature
    if (version <= 1) {
        offsetBytes = head[5];
        eofField = (version == 0 ? 24 : 28) + 2ULL * offsetBytes;
    } else if (version <= 3) {
        offsetBytes = head[1];
        eofField = 12 + 2ULL * offsetBytes;
    } else {
        return okStatus();  // a newer superblock: libhdf5 decides
    }
    if (offsetBytes != 2 && offsetBytes != 4 && offsetBytes != 8) return okStatus();
    unsigned char field[8] = {};
    in.clear();
    in.seekg(static_cast<std::streamoff>(at + eofField));
    in.read(reinterpret_cast<char*>(field), offsetBytes);
    if (!in) return endsInSuperblock();
    std::uint64_t eof = 0;
    bool undefined = true;
    for (unsigned i = 0; i < offsetBytes; ++i) {
        eof |= static_cast<std::uint64_t>(field[i]) << (8 * i);
        undefined = undefined && field[i] == 0xff;
    }
    // The address is relative to the base address (0, or the user block's size); comparing it
    // with the whole file's size, as libhdf5 does, can only under-report.
    if (!undefined && size < eof) {
        return corruptionError("'" + file.string() + "' is truncated: it has " +
                               std::to_string(size) + " bytes, but its HDF5 superblock says " +
                               "the data runs to byte " + std::to_string(eof) +
                               " (an interrupted copy or download, or a damaged superblock)");
    }
    return okStatus();
}

namespace {

class Hdf5Reader final : public FormatReader {
public:
    std::string_view name() const override { return "hdf5"; }

    int probe(const fs::path& path) const override {
        std::error_code ec;
        if (fs::is_directory(path, ec)) {
            // A multi-process save: the directory holding checkpoint.h5 (and process_<i>.h5).
            const fs::path master = path / kMasterFileName;
            if (!fs::is_regular_file(master, ec)) return 0;
            std::ifstream in(master, std::ios::binary);
            return in && hasSignatureAt(in, 0) ? 80 : 0;
        }
        if (!fs::is_regular_file(path, ec)) return 0;
        const std::uint64_t size = fs::file_size(path, ec);
        std::ifstream in(path, std::ios::binary);
        if (in && !ec && superblockOffset(in, size) != kNoSuperblock) return 80;
        // A damaged .h5 is still ours, so the user gets HDF5's precise error.
        const std::string ext = path.extension().string();
        if (ext == ".h5" || ext == ".hdf5" || ext == ".he5" || ext == ".hdf") return 50;
        return 0;
    }

    Result<Checkpoint> open(const fs::path& path, const OpenOptions& options) const override {
        std::error_code ec;
        if (!fs::exists(path, ec)) return notFoundError("'" + path.string() + "' does not exist");
        if (options.step) {
            return invalidArgumentError("'" + path.string() +
                                        "' is a single HDF5 file; --step does not apply");
        }
        // libhdf5 may crash on a damaged file: the same walk runs in a child process first.
        const fs::path filePath = fs::is_directory(path, ec) ? path / kMasterFileName : path;
        CKPT_RETURN_IF_ERROR(checkNotTruncated(filePath));
        CKPT_RETURN_IF_ERROR(checkInChildProcess(filePath.string(), [&] { (void)openHere(path); }));
        return openHere(path);
    }

private:
    static Result<Checkpoint> openHere(const fs::path& path) {
        std::error_code ec;
        const bool directory = fs::is_directory(path, ec);
        const fs::path filePath = directory ? path / kMasterFileName : path;
        Lock lock = lockHdf5();
        auto file = std::make_shared<FileRef>();
        file->name = filePath.string();
        file->directory = fs::absolute(filePath, ec).parent_path();
        if (filePath.filename() == kMasterFileName) {
            // A multi-process save's process files, for LeafSharding::itemProcesses.
            std::vector<std::pair<std::uint64_t, std::string>> found;
            for (const auto& entry : fs::directory_iterator(file->directory, ec)) {
                const std::string n = entry.path().filename().string();
                if (n.size() <= 11 || n.rfind("process_", 0) != 0 ||
                    n.compare(n.size() - 3, 3, ".h5") != 0) {
                    continue;
                }
                const std::string digits = n.substr(8, n.size() - 11);
                if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) {
                        return c >= '0' && c <= '9';
                    })) {
                    continue;
                }
                found.emplace_back(std::stoull(digits), digits);
            }
            std::sort(found.begin(), found.end());
            for (auto& [n, digits] : found) file->itemProcesses.push_back(std::move(digits));
        }
        const std::string context = "cannot open HDF5 file '" + file->name + "'";
        CKPT_ASSIGN_OR_RETURN(
            file->file,
            checkId(H5Fopen(file->name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, context));
        Checkpoint ckpt;
        ckpt.format = "hdf5";
        ckpt.layout = file->itemProcesses.empty()
                          ? std::string("single file")
                          : "multi-process (" + std::to_string(file->itemProcesses.size()) +
                                " process files joined by virtual datasets)";
        ckpt.path = path;
        ckpt.root = path;
        ckpt.properties.emplace_back("file", file->name);
        ckpt.properties.emplace_back("file bytes", std::to_string(fs::file_size(filePath, ec)));
        H5F_info2_t info{};
        if (H5Fget_info2(file->file.get(), &info) >= 0) {
            ckpt.properties.emplace_back("superblock version", std::to_string(info.super.version));
        }
        H5Eclear2(H5E_DEFAULT);
        CKPT_ASSIGN_OR_RETURN(Handle root, checkId(H5Gopen2(file->file.get(), "/", H5P_DEFAULT),
                                                   H5Gclose, context + ": root group"));
        TreeReader reader(file, ckpt.warnings);
        CKPT_RETURN_IF_ERROR(reader.init());
        CKPT_ASSIGN_OR_RETURN(Built built, reader.object(root.get(), {}));
        ckpt.tree = std::move(built.node);
        return ckpt;
    }
};

}  // namespace

Shape chunkShapeFor(const Shape& shape, std::size_t item, std::uint64_t targetBytes) {
    Shape chunk(shape.size(), 1);
    std::uint64_t inner = item;  // bytes of one chunk "row" over the dimensions after d
    for (std::size_t k = shape.size(); k-- > 0;) {
        const auto dim = static_cast<std::uint64_t>(std::max<std::int64_t>(shape[k], 1));
        if (inner * dim <= targetBytes) {
            chunk[k] = static_cast<std::int64_t>(dim);
            inner *= dim;
            continue;
        }
        chunk[k] = static_cast<std::int64_t>(std::max<std::uint64_t>(1, targetBytes / inner));
        break;
    }
    return chunk;
}

std::unique_ptr<FormatReader> makeHdf5Reader() {
    return std::make_unique<Hdf5Reader>();
}

}  // namespace ckpt::hdf5
