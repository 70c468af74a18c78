// HDF5 writer: the layout of FORMAT.md, streamed chunk by chunk, written to a temporary file
// beside the target and renamed over it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "ckpt/core/tree.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/hdf5/hdf5_lib.h"
#include "formats/hdf5/hdf5_types.h"
#include "io/atomic_file.h"

namespace ckpt::hdf5 {

namespace fs = std::filesystem;

namespace {

constexpr unsigned kZstdLevel = 1;
constexpr unsigned kGzipLevel = 4;

class TreeWriter {
public:
    TreeWriter(hid_t file, std::string name, const WriteOptions& options, std::uint64_t total)
        : m_file(file), m_name(std::move(name)), m_options(options), m_total(total) {}

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
        if (node.isContainer()) {
            CKPT_ASSIGN_OR_RETURN(obj, checkId(H5Gcreate2(parent, link.c_str(), m_lcpl.get(),
                                                          m_gcpl.get(), H5P_DEFAULT),
                                               H5Gclose, ctx, StatusCode::kIoError));
            CKPT_RETURN_IF_ERROR(containerBody(obj.get(), node, path));
        } else {
            CKPT_ASSIGN_OR_RETURN(obj, leaf(parent, link, node, path));
        }
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
        Status s = writeTemp(tree, temp, target, options);
        if (s.isOk()) s = fsyncFile(temp);
        if (s.isOk()) s = io::renamePath(temp, target, options.overwrite);
        if (!s.isOk()) {
            (void)io::removePath(temp);
            return s;
        }
        return io::syncDirectory(dir);
    }

private:
    static Status writeTemp(const NodePtr& tree, const fs::path& temp, const fs::path& target,
                            const WriteOptions& options) {
        Lock lock = lockHdf5();
        const std::string ctx = "writing '" + target.string() + "'";
        CKPT_ASSIGN_OR_RETURN(
            Handle fcpl, checkId(H5Pcreate(H5P_FILE_CREATE), H5Pclose, ctx, StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(checkRc(
            H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
            ctx, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(
            Handle file, checkId(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT),
                                 H5Fclose, ctx, StatusCode::kIoError));
        TreeWriter writer(file.get(), target.string(), options, summarizeTree(tree).byteCount);
        writer.setLock(&lock);
        CKPT_RETURN_IF_ERROR(writer.writeRoot(*tree));
        return file.close(ctx);
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
