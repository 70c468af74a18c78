// HDF5 writer: the layout of FORMAT.md, streamed chunk by chunk, written to a temporary file
// beside the target and renamed over it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "ckpt/core/sharded_writer.h"
#include "ckpt/core/tree.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/hdf5/hdf5_lib.h"
#include "formats/hdf5/hdf5_types.h"
#include "io/atomic_file.h"
#include "shard/process_barrier.h"

namespace ckpt::hdf5 {

namespace fs = std::filesystem;

namespace {

constexpr unsigned kZstdLevel = 1;
constexpr unsigned kGzipLevel = 4;

// A multi-process save's split of the tree (FORMAT.md, "Multi-process layout"): process files
// hold only their blocks of the sharded arrays; the master holds everything else and one
// virtual dataset per sharded array mapping each block to the process file that holds it.
struct ProcessLayout {
    enum class Role { kProcessFile, kMaster };
    Role role = Role::kMaster;
    int processIndex = 0;
    int processCount = 1;
    int shardAxis = 0;
};

// How a multi-process save splits an array (an empty plan: replicated, written whole into the
// master). Every dtype is split; empty arrays are not.
std::optional<LeafShardPlan> shardPlanFor(const ArraySource& source, const ProcessLayout& layout) {
    if (source.elementCount() == 0) return std::nullopt;
    auto plan = planLeafShards(source.shape(), layout.processCount, layout.shardAxis);
    if (!plan.isOk() || plan->replicated) return std::nullopt;
    return std::move(*plan);
}

// One block of another source, as a source of its own (what a process file stores).
class BlockSource final : public ArraySource {
public:
    BlockSource(const ArraySource& base, Selection block)
        : m_base(base), m_block(std::move(block)), m_shape(m_block.count) {}
    DType dtype() const override { return m_base.dtype(); }
    const Shape& shape() const override { return m_shape; }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        Selection shifted = selection;
        for (std::size_t k = 0; k < shifted.start.size(); ++k) shifted.start[k] += m_block.start[k];
        return m_base.readInto(shifted, out, cancel);
    }

private:
    const ArraySource& m_base;
    Selection m_block;
    Shape m_shape;
};

// A name as H5Pset_virtual takes it: '%' is its substitution character, so "%%" stands for '%'.
std::string escapeVirtualName(const std::string& name) {
    std::string out;
    for (char c : name) {
        out += c;
        if (c == '%') out += '%';
    }
    return out;
}

class TreeWriter {
public:
    TreeWriter(hid_t file, std::string name, const WriteOptions& options, std::uint64_t total,
               const ProcessLayout* layout = nullptr)
        : m_file(file),
          m_name(std::move(name)),
          m_options(options),
          m_total(total),
          m_layout(layout) {}

    Status writeRoot(const Node& root) {
        CKPT_ASSIGN_OR_RETURN(
            m_lcpl, checkId(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "lcpl", StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(checkRc(H5Pset_char_encoding(m_lcpl.get(), H5T_CSET_UTF8), "lcpl",
                                     StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            m_gcpl, checkId(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "gcpl", StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(checkRc(
            H5Pset_link_creation_order(m_gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
            "gcpl", StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(Handle g,
                              checkId(H5Gopen2(m_file, "/", H5P_DEFAULT), H5Gclose, context({})));
        CKPT_RETURN_IF_ERROR(
            writeStringAttribute(g.get(), "ckpt_format", "ckpt-hdf5/1", context({})));
        if (root.isContainer()) return containerBody(g.get(), root, {});
        CKPT_RETURN_IF_ERROR(writeStringAttribute(g.get(), "ckpt_kind", "value", context({})));
        return child(g.get(), "value", false, root, {"value"});
    }

private:
    std::string context(const KeyPath& path) const {
        return "writing '" + m_name + "', " + describeKeyPath(path);
    }

    Status containerBody(hid_t g, const Node& node, const KeyPath& path) {
        if (node.kind() != NodeKind::kDict) {
            CKPT_RETURN_IF_ERROR(writeStringAttribute(
                g, "ckpt_kind", node.kind() == NodeKind::kList ? "list" : "tuple", context(path)));
        }
        for (std::size_t i = 0; i < node.childCount(); ++i) {
            KeyPath childPath = path;
            childPath.push_back(node.childKey(i));
            CKPT_RETURN_IF_ERROR(child(g, childPath.back(), node.kind() == NodeKind::kDict,
                                       *node.child(i), childPath));
        }
        return okStatus();
    }

    Status child(hid_t parent, const std::string& key, bool dictKey, const Node& node,
                 const KeyPath& path) {
        if (isCancelled(m_options.cancel)) return cancelledError("cancelled " + context(path));
        const std::string link = dictKey ? linkNameForKey(key) : key;
        const std::string ctx = context(path);
        Handle obj;
        m_linkPath.push_back(link);
        if (node.isContainer()) {
            CKPT_ASSIGN_OR_RETURN(obj, checkId(H5Gcreate2(parent, link.c_str(), m_lcpl.get(),
                                                          m_gcpl.get(), H5P_DEFAULT),
                                               H5Gclose, ctx, StatusCode::kIoError));
            CKPT_RETURN_IF_ERROR(containerBody(obj.get(), node, path));
        } else {
            CKPT_ASSIGN_OR_RETURN(obj, leaf(parent, link, node, path));
        }
        m_linkPath.pop_back();
        if (!obj.valid()) return okStatus();  // a leaf this process file does not hold
        if (link != key)
            CKPT_RETURN_IF_ERROR(writeStringAttribute(obj.get(), "ckpt_key", key, ctx));
        return obj.close(ctx);
    }

    Result<Handle> createDataset(hid_t parent, const std::string& link, hid_t type, hid_t space,
                                 hid_t dcpl, const std::string& ctx) {
        return checkId(
            H5Dcreate2(parent, link.c_str(), type, space, m_lcpl.get(), dcpl, H5P_DEFAULT),
            H5Dclose, ctx, StatusCode::kIoError);
    }

    Result<Handle> bytesDataset(hid_t parent, const std::string& link, const std::string& bytes,
                                const char* kind, const std::string& ctx) {
        const hsize_t n = bytes.size();
        CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Screate_simple(1, &n, nullptr), H5Sclose, ctx,
                                                    StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            Handle d, createDataset(parent, link, H5T_STD_U8LE, space.get(), H5P_DEFAULT, ctx));
        if (n != 0) {
            CKPT_RETURN_IF_ERROR(checkRc(
                H5Dwrite(d.get(), H5T_STD_U8LE, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), ctx,
                StatusCode::kIoError));
        }
        CKPT_RETURN_IF_ERROR(writeStringAttribute(d.get(), "ckpt_kind", kind, ctx));
        return d;
    }

    Result<Handle> leaf(hid_t parent, const std::string& link, const Node& node,
                        const KeyPath& path) {
        const std::string ctx = context(path);
        if (m_layout) {
            const ArraySource* source =
                node.kind() == NodeKind::kArray ? node.array().get() : nullptr;
            const auto plan = source ? shardPlanFor(*source, *m_layout) : std::nullopt;
            if (m_layout->role == ProcessLayout::Role::kProcessFile) {
                if (!plan) return Handle();
                const BlockSource block(*source, plan->shardOf(m_layout->processIndex));
                return array(parent, link, block, ctx);
            }
            if (plan) return virtualArray(parent, link, *source, *plan, ctx);
        }
        switch (node.kind()) {
            case NodeKind::kNone: {
                CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Screate(H5S_NULL), H5Sclose, ctx,
                                                            StatusCode::kInternal));
                CKPT_ASSIGN_OR_RETURN(Handle d, createDataset(parent, link, H5T_STD_U8LE,
                                                              space.get(), H5P_DEFAULT, ctx));
                CKPT_RETURN_IF_ERROR(writeStringAttribute(d.get(), "ckpt_kind", "none", ctx));
                return d;
            }
            case NodeKind::kBytes:
                return bytesDataset(parent, link, node.text(), "bytes", ctx);
            case NodeKind::kString: {
                if (node.text().find('\0') != std::string::npos) {
                    return bytesDataset(parent, link, node.text(), "string", ctx);
                }
                CKPT_ASSIGN_OR_RETURN(
                    Handle type, checkId(H5Tcopy(H5T_C_S1), H5Tclose, ctx, StatusCode::kInternal));
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Tset_size(type.get(), H5T_VARIABLE), ctx, StatusCode::kInternal));
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Tset_cset(type.get(), H5T_CSET_UTF8), ctx, StatusCode::kInternal));
                CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Screate(H5S_SCALAR), H5Sclose, ctx,
                                                            StatusCode::kInternal));
                CKPT_ASSIGN_OR_RETURN(Handle d, createDataset(parent, link, type.get(), space.get(),
                                                              H5P_DEFAULT, ctx));
                const char* ptr = node.text().c_str();
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &ptr), ctx,
                            StatusCode::kIoError));
                return d;
            }
            case NodeKind::kScalar: {
                CKPT_ASSIGN_OR_RETURN(const Scalar s, loadScalarUnlocked(node));
                CKPT_ASSIGN_OR_RETURN(Handle type, storageTypeFor(s.dtype()));
                CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Screate(H5S_SCALAR), H5Sclose, ctx,
                                                            StatusCode::kInternal));
                CKPT_ASSIGN_OR_RETURN(Handle d, createDataset(parent, link, type.get(), space.get(),
                                                              H5P_DEFAULT, ctx));
                CKPT_RETURN_IF_ERROR(checkRc(
                    H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, s.bits().data()),
                    ctx, StatusCode::kIoError));
                CKPT_RETURN_IF_ERROR(writeStringAttribute(d.get(), "ckpt_kind", "scalar", ctx));
                CKPT_RETURN_IF_ERROR(
                    writeInt8Attribute(d.get(), "ckpt_native", s.isNative() ? 1 : 0, ctx));
                if (storedAsBits(s.dtype())) {
                    CKPT_RETURN_IF_ERROR(
                        writeStringAttribute(d.get(), "ckpt_dtype", dtypeName(s.dtype()), ctx));
                }
                return d;
            }
            case NodeKind::kArray:
                return array(parent, link, *node.array(), ctx);
            default:
                return internalError(ctx + ": not a leaf");
        }
    }

    Result<Handle> array(hid_t parent, const std::string& link, const ArraySource& source,
                         const std::string& ctx) {
        const DType dtype = source.dtype();
        const Shape shape = source.shape();
        const std::size_t item = itemSize(dtype);
        CKPT_ASSIGN_OR_RETURN(std::uint64_t count, checkedElementCount(shape));
        CKPT_ASSIGN_OR_RETURN(Handle type, storageTypeFor(dtype));
        std::vector<hsize_t> dims(shape.begin(), shape.end());
        CKPT_ASSIGN_OR_RETURN(
            Handle space, checkId(shape.empty() ? H5Screate(H5S_SCALAR)
                                                : H5Screate_simple(static_cast<int>(dims.size()),
                                                                   dims.data(), nullptr),
                                  H5Sclose, ctx, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(Handle dcpl, checkId(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, ctx,
                                                   StatusCode::kInternal));
        const bool chunked = !shape.empty() && count != 0;
        const Shape chunk = chunked ? chunkShapeFor(shape, item, kTargetChunkBytes) : Shape{};
        std::uint64_t chunkBytes = item;
        if (chunked) {
            for (auto c : chunk) chunkBytes *= static_cast<std::uint64_t>(c);
            std::vector<hsize_t> cdims(chunk.begin(), chunk.end());
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Pset_chunk(dcpl.get(), static_cast<int>(cdims.size()), cdims.data()), ctx,
                        StatusCode::kInternal));
            const std::string& comp = m_options.hdf5Compression;
            if (comp != "none" && item > 1) {
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Pset_shuffle(dcpl.get()), ctx, StatusCode::kInternal));
            }
            if (comp == "zstd") {
                const unsigned level = kZstdLevel;
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Pset_filter(dcpl.get(), kZstdFilterId, H5Z_FLAG_MANDATORY, 1, &level),
                            ctx, StatusCode::kInternal));
            } else if (comp == "gzip") {
                CKPT_RETURN_IF_ERROR(
                    checkRc(H5Pset_deflate(dcpl.get(), kGzipLevel), ctx, StatusCode::kInternal));
            } else if (comp != "none") {
                return invalidArgumentError("unknown HDF5 compression '" + comp +
                                            "' (zstd, gzip or none)");
            }
        }
        CKPT_ASSIGN_OR_RETURN(
            Handle d, createDataset(parent, link, type.get(), space.get(), dcpl.get(), ctx));
        if (storedAsBits(dtype)) {
            CKPT_RETURN_IF_ERROR(
                writeStringAttribute(d.get(), "ckpt_dtype", dtypeName(dtype), ctx));
        }
        if (count == 0) return d;
        if (!chunked) {
            CKPT_ASSIGN_OR_RETURN(Array a, readUnlocked(source, Selection::all(shape)));
            CKPT_RETURN_IF_ERROR(checkRc(
                H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes().data()), ctx,
                StatusCode::kIoError));
            progress(a.byteSize());
            return d;
        }
        // One chunk at a time, in C order of the chunk grid: memory stays at one chunk.
        const std::size_t rank = shape.size();
        std::vector<std::int64_t> index(rank, 0);
        while (true) {
            if (isCancelled(m_options.cancel)) return cancelledError("cancelled " + ctx);
            Selection sel;
            for (std::size_t k = 0; k < rank; ++k) {
                sel.start.push_back(index[k] * chunk[k]);
                sel.count.push_back(std::min(chunk[k], shape[k] - index[k] * chunk[k]));
            }
            CKPT_ASSIGN_OR_RETURN(Array a, readUnlocked(source, sel));
            std::vector<hsize_t> start(sel.start.begin(), sel.start.end());
            std::vector<hsize_t> cnt(sel.count.begin(), sel.count.end());
            CKPT_ASSIGN_OR_RETURN(Handle fileSpace, checkId(H5Dget_space(d.get()), H5Sclose, ctx,
                                                            StatusCode::kInternal));
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                            cnt.data(), nullptr),
                        ctx, StatusCode::kInternal));
            CKPT_ASSIGN_OR_RETURN(Handle memSpace, checkId(H5Screate_simple(static_cast<int>(rank),
                                                                            cnt.data(), nullptr),
                                                           H5Sclose, ctx, StatusCode::kInternal));
            setZstdOutputCap(chunkBytes + 64);
            CKPT_RETURN_IF_ERROR(checkRc(H5Dwrite(d.get(), type.get(), memSpace.get(),
                                                  fileSpace.get(), H5P_DEFAULT, a.bytes().data()),
                                         ctx, StatusCode::kIoError));
            progress(a.byteSize());
            std::size_t k = rank;
            while (k-- > 0) {
                const std::int64_t chunksInDim = (shape[k] + chunk[k] - 1) / chunk[k];
                if (++index[k] < chunksInDim) break;
                index[k] = 0;
            }
            if (k == static_cast<std::size_t>(-1)) break;
        }
        return d;
    }

    // The master's view of a sharded array: a virtual dataset whose block p is the dataset at the
    // same link path in `process_<p>.h5` beside it (a name relative to the master's directory).
    Result<Handle> virtualArray(hid_t parent, const std::string& link, const ArraySource& source,
                                const LeafShardPlan& plan, const std::string& ctx) {
        const DType dtype = source.dtype();
        CKPT_ASSIGN_OR_RETURN(Handle type, storageTypeFor(dtype));
        std::vector<hsize_t> dims(plan.globalShape.begin(), plan.globalShape.end());
        const int rank = static_cast<int>(dims.size());
        CKPT_ASSIGN_OR_RETURN(Handle vspace, checkId(H5Screate_simple(rank, dims.data(), nullptr),
                                                     H5Sclose, ctx, StatusCode::kInternal));
        std::vector<hsize_t> blockDims(plan.shardShape.begin(), plan.shardShape.end());
        CKPT_ASSIGN_OR_RETURN(Handle srcSpace,
                              checkId(H5Screate_simple(rank, blockDims.data(), nullptr), H5Sclose,
                                      ctx, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(Handle dcpl, checkId(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, ctx,
                                                   StatusCode::kInternal));
        std::string dsetPath;
        for (const auto& l : m_linkPath) dsetPath += "/" + l;
        const std::string dsetName = escapeVirtualName(dsetPath);
        for (int p = 0; p < plan.processCount; ++p) {
            const Selection block = plan.shardOf(p);
            std::vector<hsize_t> start(block.start.begin(), block.start.end());
            std::vector<hsize_t> count(block.count.begin(), block.count.end());
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Sselect_hyperslab(vspace.get(), H5S_SELECT_SET, start.data(), nullptr,
                                            count.data(), nullptr),
                        ctx, StatusCode::kInternal));
            const std::string file = shard::processName(p) + ".h5";
            CKPT_RETURN_IF_ERROR(checkRc(H5Pset_virtual(dcpl.get(), vspace.get(), file.c_str(),
                                                        dsetName.c_str(), srcSpace.get()),
                                         ctx, StatusCode::kInternal));
        }
        CKPT_RETURN_IF_ERROR(checkRc(H5Sselect_all(vspace.get()), ctx, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            Handle d, createDataset(parent, link, type.get(), vspace.get(), dcpl.get(), ctx));
        if (storedAsBits(dtype)) {
            CKPT_RETURN_IF_ERROR(
                writeStringAttribute(d.get(), "ckpt_dtype", dtypeName(dtype), ctx));
        }
        progress(source.byteSize());
        return d;
    }

    // Reads from a source without the HDF5 lock (the source may take it, or use threads that do).
    Result<Array> readUnlocked(const ArraySource& source, const Selection& sel) {
        Lock& lock = heldLock();
        lock.unlock();
        auto result = source.read(sel, m_options.cancel);
        lock.lock();
        return result;
    }

    // A lazy scalar (Orbax) reads its value from storage; never invent one.
    Result<Scalar> loadScalarUnlocked(const Node& node) {
        Lock& lock = heldLock();
        lock.unlock();
        auto result = node.loadScalar();
        lock.lock();
        if (!result.isOk()) return result.status().withContext("reading a scalar");
        return result;
    }

    void progress(std::uint64_t bytes) {
        m_done += bytes;
        if (m_options.progress) m_options.progress(m_done, m_total);
    }

public:
    // The caller's lock, released around source reads.
    void setLock(Lock* lock) { m_lock = lock; }

private:
    Lock& heldLock() { return *m_lock; }

    hid_t m_file;
    std::string m_name;
    const WriteOptions& m_options;
    std::uint64_t m_total;
    std::uint64_t m_done = 0;
    const ProcessLayout* m_layout;
    std::vector<std::string> m_linkPath;  // link names from the root to the current object
    Handle m_lcpl;
    Handle m_gcpl;
    Lock* m_lock = nullptr;
};

Status fsyncFile(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ioError("cannot reopen '" + path.string() + "': " + std::strerror(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return ioError("fsync '" + path.string() + "': " + std::strerror(err));
    return okStatus();
}

// Writes the HDF5 file `path` (named `name` in messages), then fsyncs it.
Status writeHdf5File(const NodePtr& tree, const fs::path& path, const fs::path& name,
                     const WriteOptions& options, const ProcessLayout* layout = nullptr) {
    {
        Lock lock = lockHdf5();
        const std::string ctx = "writing '" + name.string() + "'";
        CKPT_ASSIGN_OR_RETURN(
            Handle fcpl, checkId(H5Pcreate(H5P_FILE_CREATE), H5Pclose, ctx, StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(checkRc(
            H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
            ctx, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            Handle file, checkId(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT),
                                 H5Fclose, ctx, StatusCode::kIoError));
        TreeWriter writer(file.get(), name.string(), options, summarizeTree(tree).byteCount,
                          layout);
        writer.setLock(&lock);
        CKPT_RETURN_IF_ERROR(writer.writeRoot(*tree));
        CKPT_RETURN_IF_ERROR(file.close(ctx));
    }
    return fsyncFile(path);
}

class Hdf5Writer final : public FormatWriter {
public:
    std::string_view name() const override { return "hdf5"; }

    Status write(const NodePtr& tree, const fs::path& target,
                 const WriteOptions& options) const override {
        if (options.step)
            return invalidArgumentError(
                "the hdf5 format writes single files; --write-step does not apply");
        std::error_code ec;
        if (fs::exists(target, ec) && !options.overwrite) {
            return alreadyExistsError("'" + target.string() +
                                      "' already exists (use overwrite to replace it)");
        }
        fs::path dir = target.parent_path();
        if (dir.empty()) dir = ".";
        // Beside the target, named so that a later write removes it if this process dies.
        io::removeStaleTemporaries(target);
        const fs::path temp = io::temporaryPathFor(target);
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            return ioError("cannot create a temporary file beside '" + target.string() +
                           "': " + std::strerror(errno));
        ::close(fd);
        Status s = writeHdf5File(tree, temp, target, options);
        if (s.isOk()) s = io::renamePath(temp, target, options.overwrite);
        if (!s.isOk()) {
            (void)io::removePath(temp);
            return s;
        }
        return io::syncDirectory(dir);
    }
};

}  // namespace

std::string linkNameForKey(std::string_view key) {
    if (key.empty()) return "%";
    if (key == ".") return "%2E";
    std::string out;
    for (char c : key) {
        if (c == '%') {
            out += "%25";
        } else if (c == '/') {
            out += "%2F";
        } else if (c == '\0') {
            out += "%00";
        } else {
            out += c;
        }
    }
    return out;
}

std::unique_ptr<FormatWriter> makeHdf5Writer() {
    return std::make_unique<Hdf5Writer>();
}

}  // namespace ckpt::hdf5

namespace ckpt {

namespace {

namespace fs = std::filesystem;

// What every process of a save must agree on: the tree's structure, dtypes and shapes (not its
// values, which a process reads only for its own blocks).
void describeStructure(const Node& node, std::string& out) {
    out += std::to_string(static_cast<int>(node.kind()));
    if (node.kind() == NodeKind::kArray) {
        const ArraySource& a = *node.array();
        out += dtypeName(a.dtype());
        for (auto d : a.shape()) out += "," + std::to_string(d);
    }
    if (node.isContainer()) {
        out += "{";
        for (std::size_t i = 0; i < node.childCount(); ++i) {
            out += std::to_string(node.childKey(i).size()) + ":" + node.childKey(i);
            describeStructure(*node.child(i), out);
        }
        out += "}";
    }
    out += ";";
}

struct FileIdentity {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const FileIdentity&) const = default;
};

std::optional<FileIdentity> identityOf(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileIdentity{st.st_dev, st.st_ino};
}

}  // namespace

Status writeHdf5ProcessShards(const NodePtr& tree, const fs::path& targetIn,
                              const ProcessSaveOptions& process, const WriteOptions& options) {
    fs::path target = targetIn.lexically_normal();
    if (!target.has_filename()) target = target.parent_path();
    const std::string where = "multi-process HDF5 save of '" + target.string() + "'";
    if (options.step) {
        return invalidArgumentError(where + ": --write-step does not apply");
    }
    std::error_code ec;
    if (process.processIndex == 0 && fs::exists(target, ec) && !options.overwrite) {
        return alreadyExistsError(where + ": '" + target.string() +
                                  "' already exists (use overwrite to replace it)");
    }
    CKPT_ASSIGN_OR_RETURN(const fs::path tmp, shard::prepareSharedTemporary(target, process));
    const std::string name = shard::processName(process.processIndex) + ".h5";
    const fs::path own = tmp / name;
    hdf5::ProcessLayout layout;
    layout.processIndex = process.processIndex;
    layout.processCount = process.processCount;
    layout.shardAxis = process.shardAxis;
    std::string structure;
    describeStructure(*tree, structure);
    const std::string treePrint =
        shard::fingerprint(structure + "|axis=" + std::to_string(process.shardAxis) + "|hdf5");

    const auto abandon = [&](Status s) {
        if (process.processIndex == 0) {
            (void)io::removePath(tmp);  // the other processes see it gone and stop waiting
        } else {
            // This process's part goes; the temporary too once nothing else is in it (a
            // process 0 still at work would time out waiting for this part).
            (void)io::removePath(tmp / shard::doneMarkerName(process.processIndex));
            (void)io::removePath(own);
            std::error_code ignored;
            fs::remove(tmp, ignored);  // only when empty
        }
        return s.withContext(where);
    };

    layout.role = hdf5::ProcessLayout::Role::kProcessFile;
    Status s = hdf5::writeHdf5File(tree, own, target / name, options, &layout);
    if (!s.isOk()) return abandon(s);
    // Taken before the done marker: once it exists, process 0 may commit (and move the file)
    // at any moment.
    const auto ours = identityOf(own);
    if (!ours)
        return abandon(internalError("cannot stat this process's file '" + own.string() + "'"));
    s = shard::writeDoneMarker(tmp, process, treePrint);
    if (!s.isOk()) return abandon(s);

    if (process.processIndex != 0) {
        // rename() keeps the inode: the committed target holds this attempt's file.
        const fs::path committed = target / name;
        s = shard::waitForCommit(
            target, tmp, process, [&]() -> Result<bool> { return identityOf(committed) == ours; },
            options.cancel);
        return s.isOk() ? s : abandon(s);
    }
    s = shard::waitForProcesses(tmp, target, process, treePrint, options.cancel);
    if (s.isOk()) {
        layout.role = hdf5::ProcessLayout::Role::kMaster;
        s = hdf5::writeHdf5File(tree, tmp / hdf5::kMasterFileName, target / hdf5::kMasterFileName,
                                options, &layout);
    }
    if (s.isOk()) s = shard::removeDoneMarkers(tmp, process);
    if (s.isOk()) s = io::syncDirectory(tmp);
    if (s.isOk() && fs::exists(target, ec) && !options.overwrite) {
        s = alreadyExistsError("'" + target.string() + "' already exists");
    }
    if (s.isOk()) s = shard::commitDirectoryRename(tmp, target, options.overwrite);
    return s.isOk() ? s : abandon(s);
}

}  // namespace ckpt
