#include "formats/hdf5/hdf5_virtual.h"

#include <algorithm>
#include <map>
#include <set>

#include "ckpt/core/sharding.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/hdf5/hdf5_types.h"

namespace ckpt::hdf5 {

namespace fs = std::filesystem;

namespace {

// "%%" -> "%"; any other '%' is a printf-style substitution (unlimited mappings): Unsupported.
Result<std::string> unescapeVirtualName(const std::string& stored, const char* what) {
    std::string out;
    for (std::size_t i = 0; i < stored.size(); ++i) {
        if (stored[i] != '%') {
            out += stored[i];
            continue;
        }
        if (i + 1 < stored.size() && stored[i + 1] == '%') {
            out += '%';
            ++i;
            continue;
        }
        return unsupportedError(std::string(what) + " '" + stored +
                                "' is printf-style (a mapping of an unlimited dimension)");
    }
    return out;
}

Result<std::string> virtualString(hid_t dcpl, std::size_t index, bool dataset,
                                  const std::string& context) {
    const auto get = dataset ? H5Pget_virtual_dsetname : H5Pget_virtual_filename;
    const ssize_t n = get(dcpl, index, nullptr, 0);
    if (n < 0) return hdf5Error(StatusCode::kCorruption, context);
    if (n > 65536) return corruptionError(context + ": name longer than 64 KiB");
    std::string s(static_cast<std::size_t>(n) + 1, '\0');
    if (get(dcpl, index, s.data(), s.size()) < 0) {
        return hdf5Error(StatusCode::kCorruption, context);
    }
    s.resize(static_cast<std::size_t>(n));
    return s;
}

// The box a dataspace's selection covers: all of it (nullopt), or one regular hyperslab whose
// blocks touch (count 1, or stride equal to the block). Anything else is Unsupported. A source
// dataspace decoded from the file has no extent (libhdf5 stores only the selection: an "all"
// selection comes back with rank 0), so `extent` is checked only when given.
Result<std::optional<Selection>> selectedBox(hid_t space, const Shape* extent,
                                             const std::string& context) {
    const H5S_sel_type type = H5Sget_select_type(space);
    if (type == H5S_SEL_ALL) return std::optional<Selection>();
    if (type != H5S_SEL_HYPERSLABS || H5Sis_regular_hyperslab(space) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return unsupportedError(context + ": the selection is not one block");
    }
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank <= 0 || rank > H5S_MAX_RANK) {
        H5Eclear2(H5E_DEFAULT);
        return corruptionError(context + ": a hyperslab of rank " + std::to_string(rank));
    }
    if (extent && extent->size() != static_cast<std::size_t>(rank)) {
        return corruptionError(context + ": the selection's rank differs from the dataset's");
    }
    const auto r = static_cast<std::size_t>(rank);
    std::vector<hsize_t> start(r), stride(r), count(r), block(r);
    if (H5Sget_regular_hyperslab(space, start.data(), stride.data(), count.data(), block.data()) <
        0) {
        return hdf5Error(StatusCode::kCorruption, context);
    }
    Selection box;
    for (std::size_t k = 0; k < r; ++k) {
        hsize_t size = 0;
        if (count[k] == H5S_UNLIMITED || block[k] == H5S_UNLIMITED) {
            return unsupportedError(context + ": an unlimited mapping");
        }
        if (count[k] == 1) {
            size = block[k];
        } else if (stride[k] == block[k]) {
            if (block[k] != 0 && count[k] > (hsize_t{1} << 62) / block[k]) {
                return corruptionError(context + ": selection too large");
            }
            size = count[k] * block[k];
        } else {
            return unsupportedError(context + ": the selection is strided, not one block");
        }
        if (start[k] > (hsize_t{1} << 62) || size > (hsize_t{1} << 62)) {
            return corruptionError(context + ": selection too large");
        }
        if (extent) {
            const auto dim = static_cast<hsize_t>((*extent)[k]);
            if (start[k] > dim || size > dim - start[k]) {
                return corruptionError(context + ": the block exceeds the dataset");
            }
        }
        box.start.push_back(static_cast<std::int64_t>(start[k]));
        box.count.push_back(static_cast<std::int64_t>(size));
    }
    return std::optional<Selection>(std::move(box));
}

std::string processOfFile(const std::string& file) {
    const std::string prefix = "process_";
    const std::string suffix = ".h5";
    if (file.size() <= prefix.size() + suffix.size() || file.rfind(prefix, 0) != 0 ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return {};
    }
    const std::string digits =
        file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
    if (digits.size() > 9 || (digits.size() > 1 && digits[0] == '0') ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return {};
    }
    return digits;
}

bool boxesOverlap(const Selection& a, const Selection& b) {
    for (std::size_t k = 0; k < a.start.size(); ++k) {
        if (a.start[k] >= b.start[k] + b.count[k] || b.start[k] >= a.start[k] + a.count[k]) {
            return false;
        }
    }
    return true;
}

std::string boxText(const Selection& s) {
    std::string out = "[";
    for (std::size_t k = 0; k < s.start.size(); ++k) {
        out += (k ? ", " : "") + std::to_string(s.start[k]) + ":" +
               std::to_string(s.start[k] + s.count[k]);
    }
    return out + "]";
}

std::string sourceText(const VirtualMapping& m) {
    return "source '" + m.file + "':" + m.dataset;
}

// Link traversal in source files never opens yet another file.
herr_t denyExternalLink(const char*, const char*, const char*, const char*, unsigned*, hid_t,
                        void*) {
    return -1;
}

class VirtualSource final : public ArraySource, public ShardedArray {
public:
    VirtualSource(std::shared_ptr<FileRef> file, Handle memType, DType dtype, DType storedDType,
                  Shape shape, std::vector<VirtualMapping> mappings, StorageInfo storage,
                  std::string context, Status error)
        : m_file(std::move(file)),
          m_memType(std::move(memType)),
          m_dtype(dtype),
          m_storedDType(storedDType),
          m_shape(std::move(shape)),
          m_mappings(std::move(mappings)),
          m_storage(std::move(storage)),
          m_context(std::move(context)),
          m_error(std::move(error)) {}

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    Shape chunkShape() const override {
        return m_mappings.empty() ? ArraySource::chunkShape() : m_mappings.front().block.count;
    }
    StorageInfo storage() const override { return m_storage; }

    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        if (!m_error.isOk()) return m_error;
        if (selection.elementCount() == 0) return okStatus();
        Lock lock = lockHdf5();
        const std::string context = "reading " + m_context;
        const std::size_t rank = m_shape.size();
        std::vector<hsize_t> outDims(selection.count.begin(), selection.count.end());
        for (std::size_t i = 0; i < m_mappings.size(); ++i) {
            const VirtualMapping& m = m_mappings[i];
            std::vector<hsize_t> memStart(rank), srcStart(rank), count(rank);
            bool empty = false;
            for (std::size_t k = 0; k < rank; ++k) {
                const std::int64_t lo = std::max(selection.start[k], m.block.start[k]);
                const std::int64_t hi = std::min(selection.start[k] + selection.count[k],
                                                 m.block.start[k] + m.block.count[k]);
                if (hi <= lo) {
                    empty = true;
                    break;
                }
                memStart[k] = static_cast<hsize_t>(lo - selection.start[k]);
                srcStart[k] = static_cast<hsize_t>(m.source.start[k] + (lo - m.block.start[k]));
                count[k] = static_cast<hsize_t>(hi - lo);
            }
            if (empty) continue;
            if (isCancelled(cancel)) return cancelledError("cancelled " + context);
            const std::string at = context + ", " + sourceText(m);
            CKPT_ASSIGN_OR_RETURN(const SourceDataset* src, sourceDataset(m, at));
            CKPT_ASSIGN_OR_RETURN(Handle fileSpace,
                                  checkId(H5Dget_space(src->dataset.get()), H5Sclose, at));
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, srcStart.data(),
                                            nullptr, count.data(), nullptr),
                        at));
            CKPT_ASSIGN_OR_RETURN(
                Handle memSpace,
                checkId(H5Screate_simple(static_cast<int>(rank), outDims.data(), nullptr), H5Sclose,
                        at, StatusCode::kInternal));
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Sselect_hyperslab(memSpace.get(), H5S_SELECT_SET, memStart.data(),
                                            nullptr, count.data(), nullptr),
                        at, StatusCode::kInternal));
            setZstdOutputCap(src->chunkBytes);
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Dread(src->dataset.get(), m_memType.get(), memSpace.get(),
                                fileSpace.get(), H5P_DEFAULT, out.data()),
                        at));
        }
        return okStatus();
    }

    Result<LeafSharding> sharding(ShardDetail detail, const CancelToken*) const override {
        if (!m_error.isOk()) return m_error;
        LeafSharding s;
        s.globalShape = m_shape;
        if (!m_mappings.empty()) s.shardShape = m_mappings.front().block.count;
        s.shardCount = m_mappings.size();
        s.itemProcesses = m_file->itemProcesses;
        s.notes.push_back(
            "HDF5 records no jax.sharding; the shards are the virtual dataset's mappings");
        if (detail == ShardDetail::kSummary) return s;
        std::set<std::string> processes;
        for (const VirtualMapping& m : m_mappings) {
            Shard shard;
            shard.index = m.block;
            shard.key = m.file + ":" + m.dataset;
            shard.process = m.process;
            if (!m.process.empty()) processes.insert(m.process);
            s.shards.push_back(std::move(shard));
        }
        // Numeric order: "10" after "9".
        std::vector<std::string> sorted(processes.begin(), processes.end());
        std::sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
            return a.size() != b.size() ? a.size() < b.size() : a < b;
        });
        s.leafProcesses = std::move(sorted);
        return s;
    }

private:
    struct SourceDataset {
        Handle dataset;
        std::uint64_t chunkBytes = 0;
    };

    // Opens (once) and checks the dataset a mapping reads: held lock.
    Result<const SourceDataset*> sourceDataset(const VirtualMapping& m,
                                               const std::string& at) const {
        const auto key = std::make_pair(m.file, m.dataset);
        if (auto it = m_sources.find(key); it != m_sources.end()) return &it->second;
        hid_t fileId = m_file->file.get();
        if (m.file != ".") {
            auto open = m_files.find(m.file);
            if (open == m_files.end()) {
                CKPT_ASSIGN_OR_RETURN(fs::path path,
                                      resolveVirtualSourceFile(m_file->directory, m.file));
                std::error_code ec;
                if (!fs::is_regular_file(path, ec)) {
                    return notFoundError(at + ": the source file '" + path.string() +
                                         "' is missing");
                }
                if (Status cut = checkNotTruncated(path); !cut.isOk()) {
                    return Status(cut.code(), at + ": " + cut.message());
                }
                CKPT_ASSIGN_OR_RETURN(
                    Handle f, checkId(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                                      at + ": opening '" + path.string() + "'"));
                open = m_files.emplace(m.file, std::move(f)).first;
            }
            fileId = open->second.get();
        }
        CKPT_ASSIGN_OR_RETURN(
            Handle lapl, checkId(H5Pcreate(H5P_LINK_ACCESS), H5Pclose, at, StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(checkRc(H5Pset_elink_cb(lapl.get(), denyExternalLink, nullptr), at,
                                     StatusCode::kInternal));
        // A relative source dataset name (h5py writes them) starts at the source file's root.
        const std::string dataset = m.dataset.front() == '/' ? m.dataset : "/" + m.dataset;
        const htri_t exists = linkPathExists(fileId, dataset, lapl.get());
        if (exists <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return corruptionError(at + ": the source dataset is missing");
        }
        CKPT_ASSIGN_OR_RETURN(Handle obj, checkId(H5Oopen(fileId, dataset.c_str(), lapl.get()),
                                                  H5Oclose, at + ": opening the source"));
        if (H5Iget_type(obj.get()) != H5I_DATASET) {
            return corruptionError(at + ": the source is not a dataset");
        }
        CKPT_ASSIGN_OR_RETURN(Handle dcpl, checkId(H5Dget_create_plist(obj.get()), H5Pclose, at));
        const H5D_layout_t layout = H5Pget_layout(dcpl.get());
        if (layout == H5D_VIRTUAL) {
            return unsupportedError(at + ": the source is itself a virtual dataset");
        }
        CKPT_ASSIGN_OR_RETURN(Handle ft, checkId(H5Dget_type(obj.get()), H5Tclose, at));
        auto rt = readTypeFor(ft.get());
        if (!rt.isOk() || rt->dtype != m_storedDType) {
            H5Eclear2(H5E_DEFAULT);
            return corruptionError(
                at + ": the source's dtype is " +
                (rt.isOk() ? std::string(dtypeName(rt->dtype)) : rt.status().message()) +
                ", the virtual dataset's " + std::string(dtypeName(m_storedDType)));
        }
        CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Dget_space(obj.get()), H5Sclose, at));
        CKPT_ASSIGN_OR_RETURN(Shape shape, spaceShape(space.get(), at));
        auto text = [](const Shape& sh) {
            std::string t = "(";
            for (std::size_t k = 0; k < sh.size(); ++k)
                t += (k ? ", " : "") + std::to_string(sh[k]);
            return t + ")";
        };
        if (m.sourceAll && shape != m.block.count) {
            // The whole source is mapped: its shape must be the block's.
            return corruptionError(at + ": the source's shape is " + text(shape) +
                                   ", the mapping expects " + text(m.block.count));
        }
        if (!m.sourceAll) {
            bool fits = shape.size() == m.source.start.size();
            for (std::size_t k = 0; fits && k < shape.size(); ++k) {
                fits = m.source.start[k] + m.source.count[k] <= shape[k];
            }
            if (!fits) {
                return corruptionError(at + ": the source's shape is " + text(shape) +
                                       ", too small for the mapped block " + boxText(m.source));
            }
        }
        SourceDataset src;
        if (layout == H5D_CHUNKED) {
            hsize_t dims[H5S_MAX_RANK] = {};
            const int r = H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, dims);
            std::uint64_t n = H5Tget_size(ft.get());
            for (int i = 0; i < r; ++i) {
                if (dims[i] != 0 && n > (1ULL << 40) / dims[i]) n = 1ULL << 40;
                n *= dims[i];
            }
            src.chunkBytes = n + 64;
        }
        H5Eclear2(H5E_DEFAULT);
        // The dataset keeps its own id; the object handle is released.
        CKPT_RETURN_IF_ERROR(checkRc(H5Iinc_ref(obj.get()), at, StatusCode::kInternal));
        src.dataset = Handle(obj.get(), H5Dclose);
        return &m_sources.emplace(key, std::move(src)).first->second;
    }

    // Every link on `path` exists (H5Lexists checks only the last one).
    static htri_t linkPathExists(hid_t file, const std::string& path, hid_t lapl) {
        if (path.empty() || path[0] != '/') return 0;
        std::string prefix;
        std::size_t pos = 1;
        while (pos <= path.size()) {
            std::size_t next = path.find('/', pos);
            if (next == std::string::npos) next = path.size();
            if (next == pos) return 0;  // "//" or a trailing '/'
            prefix += "/" + path.substr(pos, next - pos);
            const htri_t e = H5Lexists(file, prefix.c_str(), lapl);
            if (e <= 0) return e;
            pos = next + 1;
        }
        return 1;
    }

    std::shared_ptr<FileRef> m_file;
    Handle m_memType;
    DType m_dtype;
    DType m_storedDType;
    Shape m_shape;
    std::vector<VirtualMapping> m_mappings;
    StorageInfo m_storage;
    std::string m_context;
    Status m_error;  // the mappings' check failed: every read and sharding() give this
    // Opened on first read, under the HDF5 lock.
    mutable std::map<std::string, Handle> m_files;
    mutable std::map<std::pair<std::string, std::string>, SourceDataset> m_sources;
};

}  // namespace

Result<fs::path> resolveVirtualSourceFile(const fs::path& directory, const std::string& stored) {
    if (stored.empty()) return corruptionError("an empty source file name");
    if (stored.find('\0') != std::string::npos) {
        return corruptionError("the source file name '" + stored + "' contains NUL");
    }
    if (stored == ".") return directory;
    const fs::path name(stored);
    if (name.is_absolute() || stored[0] == '/' || stored[0] == '\\') {
        return corruptionError("the source file '" + stored +
                               "' is an absolute path (a checkpoint reads only files inside its "
                               "own directory)");
    }
    for (const auto& part : name) {
        if (part == "..") {
            return corruptionError("the source file '" + stored +
                                   "' leaves the checkpoint's directory ('..')");
        }
    }
    const fs::path resolved = (directory / name).lexically_normal();
    // A symbolic link inside the directory may still point outside it.
    std::error_code ec;
    const fs::path real = fs::weakly_canonical(resolved, ec);
    const fs::path realDir = fs::weakly_canonical(directory, ec);
    if (!ec) {
        const auto rel = real.lexically_relative(realDir);
        if (rel.empty() || *rel.begin() == "..") {
            return corruptionError("the source file '" + stored + "' resolves to '" +
                                   real.string() + "', outside the checkpoint's directory");
        }
    }
    return resolved;
}

Status checkVirtualCoverage(const std::vector<VirtualMapping>& mappings, const Shape& shape) {
    if (mappings.size() > 4096) {
        return unsupportedError("more than 4096 mappings (" + std::to_string(mappings.size()) +
                                ")");
    }
    std::uint64_t covered = 0;
    for (std::size_t i = 0; i < mappings.size(); ++i) {
        covered += mappings[i].block.elementCount();
        for (std::size_t j = 0; j < i; ++j) {
            if (boxesOverlap(mappings[i].block, mappings[j].block)) {
                return corruptionError("the mappings of " + sourceText(mappings[j]) + " " +
                                       boxText(mappings[j].block) + " and " +
                                       sourceText(mappings[i]) + " " + boxText(mappings[i].block) +
                                       " overlap");
            }
        }
    }
    std::uint64_t total = 1;
    for (auto d : shape) total *= static_cast<std::uint64_t>(d);
    if (covered != total) {
        return corruptionError("the mappings cover " + std::to_string(covered) + " of " +
                               std::to_string(total) +
                               " elements; the rest would read as the fill value (a gap)");
    }
    return okStatus();
}

Result<std::vector<VirtualMapping>> readVirtualMappings(hid_t dcpl, const Shape& shape,
                                                        const FileRef& file,
                                                        const std::string& context) {
    std::size_t n = 0;
    CKPT_RETURN_IF_ERROR(checkRc(H5Pget_virtual_count(dcpl, &n), context + ": virtual mappings"));
    if (n > kMaxVirtualMappings) {
        return unsupportedError(context + ": " + std::to_string(n) + " virtual mappings (at most " +
                                std::to_string(kMaxVirtualMappings) + ")");
    }
    if (shape.empty()) return unsupportedError(context + ": a 0-d virtual dataset");
    std::vector<VirtualMapping> mappings;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string at = context + ": virtual mapping " + std::to_string(i);
        VirtualMapping m;
        CKPT_ASSIGN_OR_RETURN(std::string storedFile, virtualString(dcpl, i, false, at));
        CKPT_ASSIGN_OR_RETURN(std::string storedDataset, virtualString(dcpl, i, true, at));
        CKPT_ASSIGN_OR_RETURN(m.file, unescapeVirtualName(storedFile, "the source file name"));
        CKPT_ASSIGN_OR_RETURN(m.dataset,
                              unescapeVirtualName(storedDataset, "the source dataset name"));
        const std::string src = at + " (" + sourceText(m) + ")";
        if (m.dataset.empty()) return corruptionError(src + ": an empty source dataset name");
        auto resolved = resolveVirtualSourceFile(file.directory, m.file);
        if (!resolved.isOk()) return resolved.status().withContext(src);
        if (m.file != ".") {
            std::error_code ec;
            if (!fs::is_regular_file(*resolved, ec)) {
                return notFoundError(src + ": the source file '" + resolved->string() +
                                     "' is missing");
            }
        }
        CKPT_ASSIGN_OR_RETURN(Handle vspace, checkId(H5Pget_virtual_vspace(dcpl, i), H5Sclose, at));
        CKPT_ASSIGN_OR_RETURN(Handle sspace,
                              checkId(H5Pget_virtual_srcspace(dcpl, i), H5Sclose, at));
        CKPT_ASSIGN_OR_RETURN(auto block,
                              selectedBox(vspace.get(), &shape, src + ", virtual selection"));
        CKPT_ASSIGN_OR_RETURN(auto source,
                              selectedBox(sspace.get(), nullptr, src + ", source selection"));
        m.block = block ? std::move(*block) : Selection::all(shape);
        m.sourceAll = !source;
        m.source = source ? std::move(*source) : Selection::all(m.block.count);
        if (m.source.count != m.block.count) {
            return unsupportedError(src + ": the source block " + boxText(m.source) +
                                    " is not shaped like the virtual block " + boxText(m.block));
        }
        m.process = processOfFile(m.file);
        if (m.block.elementCount() != 0) mappings.push_back(std::move(m));
    }
    Status coverage = checkVirtualCoverage(mappings, shape);
    if (!coverage.isOk()) return coverage.withContext(context);
    // C order of the blocks, as LeafSharding lists shards.
    std::sort(mappings.begin(), mappings.end(),
              [](const VirtualMapping& a, const VirtualMapping& b) {
                  return a.block.start < b.block.start;
              });
    return mappings;
}

ArraySourcePtr makeVirtualSource(std::shared_ptr<FileRef> file, Handle memType, DType dtype,
                                 DType storedDType, Shape shape,
                                 std::vector<VirtualMapping> mappings, StorageInfo storage,
                                 std::string context, Status error) {
    return std::make_shared<VirtualSource>(
        std::move(file), std::move(memType), dtype, storedDType, std::move(shape),
        std::move(mappings), std::move(storage), std::move(context), std::move(error));
}

}  // namespace ckpt::hdf5
