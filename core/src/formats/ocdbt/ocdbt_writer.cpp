#include "formats/ocdbt/ocdbt_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

#include "formats/ocdbt/btree.h"
#include "io/atomic_file.h"

namespace ckpt::ocdbt {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kWriteBufferBytes = std::size_t{1} << 20;
constexpr std::uint64_t kWritebackBytes = std::uint64_t{8} << 20;  // see DataFile::startWriteback
constexpr std::size_t kMinNodeEntries = 4;

std::string errnoText(int err) {
    return std::strerror(err);
}

std::array<std::uint8_t, 16> randomBytes16() {
    std::random_device rd;
    std::array<std::uint8_t, 16> out{};
    for (std::size_t i = 0; i < out.size(); i += 4) {
        const std::uint32_t r = rd();
        for (std::size_t j = 0; j < 4; ++j) out[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    return out;
}

// tensorstore names data files after 128 random bits, as 32 lowercase hex digits.
std::string randomDataFileName() {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string name = "d/";
    for (std::uint8_t b : randomBytes16()) {
        name += kDigits[b >> 4];
        name += kDigits[b & 0xF];
    }
    return name;
}

std::size_t commonPrefixLength(std::string_view a, std::string_view b) {
    const std::size_t n = std::min(a.size(), b.size());
    std::size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

std::size_t ceilDiv(std::size_t a, std::size_t b) {
    return a / b + (a % b != 0 ? 1 : 0);
}

// Splits entries with estimated sizes `sizes` into consecutive runs [first, last) of at most
// `maxEntries` entries and, where possible, at least `minArity` entries, of roughly equal size
// near `targetBytes` (like tensorstore's BtreeNodeEncoder::Finalize, with an entry-count cap).
std::vector<std::pair<std::size_t, std::size_t>> splitRuns(const std::vector<std::size_t>& sizes,
                                                           std::size_t maxEntries,
                                                           std::size_t targetBytes,
                                                           std::size_t minArity) {
    const std::size_t n = sizes.size();
    std::vector<std::size_t> after(n + 1, 0);  // after[i] = sum of sizes[i..n)
    for (std::size_t i = n; i-- > 0;) after[i] = after[i + 1] + sizes[i];
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    std::size_t start = 0;
    while (start < n) {
        const std::size_t rem = n - start;
        const std::size_t remBytes = after[start];
        std::size_t k =
            std::max({ceilDiv(rem, maxEntries), ceilDiv(remBytes, targetBytes), std::size_t{1}});
        k = std::min(k, std::max<std::size_t>(1, rem / minArity));
        if (k == 1) {
            runs.emplace_back(start, n);
            break;
        }
        const std::size_t targetCount = ceilDiv(rem, k);
        const std::size_t targetSize = ceilDiv(remBytes, k);
        std::size_t end = start + 1;
        std::size_t bytes = sizes[start];
        while (end < n && end - start < targetCount &&
               (end - start < minArity || bytes + sizes[end] <= targetSize)) {
            bytes += sizes[end];
            ++end;
        }
        runs.emplace_back(start, end);
        start = end;
    }
    return runs;
}

EnvelopeCompression envelopeCompression(const Config& c) {
    return c.compression == CompressionMethod::kZstd ? EnvelopeCompression::kZstd
                                                     : EnvelopeCompression::kNone;
}

}  // namespace

Config orbaxCompatibleConfig() {
    Config c;
    c.uuid = randomBytes16();
    c.manifestKind = ManifestKind::kSingle;
    c.maxInlineValueBytes = 1024;
    c.maxDecodedNodeBytes = 100000000;
    c.versionTreeArityLog2 = 4;
    c.compression = CompressionMethod::kZstd;
    c.zstdLevel = 0;
    return c;
}

// An append-only data file d/<hex>, created exclusively. Small values collect in a buffer; a
// full buffer is handed to a writer thread, which writes it at the offset it was given
// (pwrite), so the caller never waits on the kernel's copy into the page cache. The threads
// encoding a tree's arrays share one OcdbtWriter behind a lock, and a write under that lock
// stalled the other thread (a 20,000-leaf save). Values of a buffer's size or more are written
// at once by the caller. A failed write is reported by the next append or by finish().
class OcdbtWriter::DataFile {
public:
    static Result<std::unique_ptr<DataFile>> create(const fs::path& dbDir) {
        for (int attempt = 0; attempt < 8; ++attempt) {
            auto file = std::unique_ptr<DataFile>(new DataFile());
            const std::string rel = randomDataFileName();
            file->m_path = dbDir / rel;
            file->m_fd =
                ::open(file->m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (file->m_fd < 0) {
                if (errno == EEXIST) continue;
                return ioError("cannot create '" + file->m_path.string() +
                               "': " + errnoText(errno));
            }
            file->m_id = std::make_shared<const DataFileId>(DataFileId{"", rel});
            file->m_buffer.reserve(kWriteBufferBytes);
            return file;
        }
        return ioError("cannot find an unused data file name in '" + (dbDir / "d").string() + "'");
    }

    ~DataFile() {
        stopWriter();
        if (m_fd >= 0) ::close(m_fd);
    }
    DataFile(const DataFile&) = delete;
    DataFile& operator=(const DataFile&) = delete;

    const DataFileIdPtr& id() const { return m_id; }
    const fs::path& path() const { return m_path; }

    // Appends `bytes`; returns the offset they start at.
    Result<std::uint64_t> append(std::span<const std::byte> bytes) {
        if (m_fd < 0) return internalError("append to closed data file '" + m_path.string() + "'");
        CKPT_RETURN_IF_ERROR(writeError());
        const std::uint64_t offset = m_size;
        if (m_buffer.size() + bytes.size() > kWriteBufferBytes) {
            CKPT_RETURN_IF_ERROR(handOff());
            if (bytes.size() >= kWriteBufferBytes) {
                CKPT_RETURN_IF_ERROR(writeAt(m_fd, m_path, bytes, offset));
                startWriteback(offset, bytes.size());
                m_size += bytes.size();
                m_bufferOffset = m_size;
                return offset;
            }
        }
        m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
        m_size += bytes.size();
        return offset;
    }

    // Writes what is left, waits for the writer thread, fsyncs and closes the file.
    Status finish() {
        if (m_fd < 0) return okStatus();
        Status s = handOff();
        stopWriter();
        if (s.isOk()) s = writeError();
        if (s.isOk() && ::fsync(m_fd) != 0) {
            s = ioError("fsync '" + m_path.string() + "': " + errnoText(errno));
        }
        const int rc = ::close(m_fd);
        m_fd = -1;
        if (s.isOk() && rc != 0) {
            s = ioError("closing '" + m_path.string() + "': " + errnoText(errno));
        }
        return s;
    }

private:
    struct Pending {
        std::vector<std::byte> bytes;
        std::uint64_t offset = 0;
    };

    DataFile() = default;

    static Status writeAt(int fd, const fs::path& path, std::span<const std::byte> bytes,
                          std::uint64_t offset) {
        const std::byte* p = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ssize_t n = ::pwrite(fd, p, left, static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) continue;
                return ioError("writing '" + path.string() + "': " + errnoText(errno));
            }
            if (n == 0) return ioError("writing '" + path.string() + "': no progress");
            p += n;
            offset += static_cast<std::uint64_t>(n);
            left -= static_cast<std::size_t>(n);
        }
        return okStatus();
    }

    // Starts the disk writing [offset, offset + length) without waiting for it (advisory; an
    // error, say of a file system without it, changes nothing: fsync still decides), once at
    // least kWritebackBytes have been written since the last time: otherwise the kernel keeps up
    // to a tenth of memory dirty and the final fsync writes it all while the CPUs idle (a
    // 20,000-leaf save spent about a third of its time there).
    void startWriteback(std::uint64_t offset, std::uint64_t length) {
        const std::lock_guard lock(m_writebackMutex);
        m_writebackFrom = std::min(m_writebackFrom, offset);
        m_writebackTo = std::max(m_writebackTo, offset + length);
        if (m_writebackTo - m_writebackFrom < kWritebackBytes) return;
        (void)::sync_file_range(m_fd, static_cast<off_t>(m_writebackFrom),
                                static_cast<off_t>(m_writebackTo - m_writebackFrom),
                                SYNC_FILE_RANGE_WRITE);
        m_writebackFrom = std::numeric_limits<std::uint64_t>::max();
        m_writebackTo = 0;
    }

    Status writeError() {
        if (!m_failed.load(std::memory_order_acquire)) return okStatus();
        const std::lock_guard lock(m_queueMutex);
        return m_writeError;
    }

    // Queues the buffer (if it holds anything) for the writer thread and takes a spare one.
    // Waits while kMaxQueuedBuffers are queued, so memory stays bounded when the disk is slower
    // than the encoders.
    Status handOff() {
        if (m_buffer.empty()) return okStatus();
        std::unique_lock lock(m_queueMutex);
        if (!m_writer.joinable() && !m_writeInline) {
            try {
                m_writer = std::thread([this] { writerLoop(); });
            } catch (const std::system_error&) {
                m_writeInline = true;  // no thread to be had (a process limit): write here
            }
        }
        if (m_writeInline) {
            lock.unlock();
            CKPT_RETURN_IF_ERROR(writeAt(m_fd, m_path, m_buffer, m_bufferOffset));
            startWriteback(m_bufferOffset, m_buffer.size());
            m_bufferOffset = m_size;
            m_buffer.clear();
            return okStatus();
        }
        m_space.wait(lock, [&] {
            return m_queue.size() < kMaxQueuedBuffers || !m_writeError.isOk();
        });
        if (!m_writeError.isOk()) return m_writeError;
        m_queue.push_back({std::move(m_buffer), m_bufferOffset});
        m_bufferOffset = m_size;
        if (!m_spares.empty()) {
            m_buffer = std::move(m_spares.back());
            m_spares.pop_back();
        } else {
            m_buffer = {};
            m_buffer.reserve(kWriteBufferBytes);
        }
        m_buffer.clear();
        lock.unlock();
        m_work.notify_one();
        return okStatus();
    }

    void writerLoop() {
        std::unique_lock lock(m_queueMutex);
        for (;;) {
            m_work.wait(lock, [&] { return !m_queue.empty() || m_stop; });
            if (m_queue.empty()) return;  // stopping, nothing left
            Pending job = std::move(m_queue.front());
            m_queue.pop_front();
            const bool failed = !m_writeError.isOk();
            lock.unlock();
            Status s;
            if (!failed) {
                s = writeAt(m_fd, m_path, job.bytes, job.offset);
                if (s.isOk()) startWriteback(job.offset, job.bytes.size());
            }
            lock.lock();
            if (!s.isOk() && m_writeError.isOk()) {
                m_writeError = s;
                m_failed.store(true, std::memory_order_release);
            }
            if (m_spares.size() < kMaxQueuedBuffers) m_spares.push_back(std::move(job.bytes));
            m_space.notify_all();
        }
    }

    // Lets the writer thread write what is queued, then ends it.
    void stopWriter() {
        {
            const std::lock_guard lock(m_queueMutex);
            if (!m_writer.joinable()) return;
            m_stop = true;
        }
        m_work.notify_one();
        m_writer.join();
    }

    static constexpr std::size_t kMaxQueuedBuffers = 4;

    fs::path m_path;
    int m_fd = -1;
    DataFileIdPtr m_id;
    std::uint64_t m_size = 0;          // bytes appended: the next value's offset
    std::uint64_t m_bufferOffset = 0;  // where m_buffer's bytes go in the file
    std::vector<std::byte> m_buffer;

    std::mutex m_queueMutex;  // the members below up to m_stop
    std::condition_variable m_work;   // something queued, or stop
    std::condition_variable m_space;  // a queued buffer was written
    std::deque<Pending> m_queue;
    std::vector<std::vector<std::byte>> m_spares;
    Status m_writeError;
    std::atomic<bool> m_failed{false};  // m_writeError is set: read without the lock by append
    bool m_stop = false;
    bool m_writeInline = false;  // the writer thread could not be started
    std::thread m_writer;

    std::mutex m_writebackMutex;  // the caller's large writes and the writer thread's
    std::uint64_t m_writebackFrom = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t m_writebackTo = 0;
};

// A node written at one level, as its parent refers to it.
struct OcdbtWriter::ChildRef {
    std::string firstKey;      // full key of the first entry below
    std::size_t prefixLength;  // length of the prefix (of firstKey) the node's keys omit
    BtreeNodeReference ref;
};

OcdbtWriter::OcdbtWriter(fs::path dir, const OcdbtWriterOptions& options)
    : m_dir(std::move(dir)), m_options(options) {
    m_options.config.uuid = randomBytes16();
    m_options.maxNodeEntries = std::clamp(m_options.maxNodeEntries, kMinNodeEntries, kMaxNodeArity);
    m_options.targetNodeBytes =
        std::clamp<std::size_t>(m_options.targetNodeBytes, 1,
                                std::max<std::size_t>(1, m_options.config.maxDecodedNodeBytes / 2));
}

Result<std::unique_ptr<OcdbtWriter>> OcdbtWriter::create(const fs::path& dir,
                                                         const OcdbtWriterOptions& options) {
    if (options.config.manifestKind != ManifestKind::kSingle) {
        return unsupportedError("OCDBT writer: only the single manifest kind is written");
    }
    if (options.config.maxInlineValueBytes > kMaxInlineValueLength) {
        return invalidArgumentError("OCDBT writer: max_inline_value_bytes above 1 MiB");
    }
    std::error_code ec;
    const auto st = fs::status(dir, ec);
    bool created = false;
    if (fs::exists(st)) {
        if (!fs::is_directory(st)) {
            return alreadyExistsError("'" + dir.string() + "' exists and is not a directory");
        }
        if (!fs::is_empty(dir, ec) || ec) {
            return alreadyExistsError("'" + dir.string() + "' is not an empty directory");
        }
    } else {
        if (!fs::create_directories(dir, ec) || ec) {
            return ioError("cannot create directory '" + dir.string() +
                           "': " + (ec ? ec.message() : std::string("unknown error")));
        }
        created = true;
    }
    std::unique_ptr<OcdbtWriter> w(new OcdbtWriter(dir, options));
    w->m_createdDir = created;
    return w;
}

OcdbtWriter::~OcdbtWriter() {
    if (m_committed) return;
    m_values.reset();  // closes the file
    std::error_code ec;
    for (const auto& p : m_createdFiles) fs::remove(p, ec);
    if (m_createdDataDir) fs::remove(m_dir / "d", ec);  // only if now empty
}

Status OcdbtWriter::fail(Status s) {
    m_finished = true;
    return s.withContext("writing OCDBT database '" + m_dir.string() + "'");
}

Result<OcdbtWriter::DataFile*> OcdbtWriter::valueFile() {
    if (m_values) return m_values.get();
    std::error_code ec;
    if (!fs::is_directory(m_dir / "d", ec)) {
        if (!fs::create_directory(m_dir / "d", ec) || ec) {
            return ioError("cannot create directory '" + (m_dir / "d").string() +
                           "': " + (ec ? ec.message() : std::string("unknown error")));
        }
        m_createdDataDir = true;
    }
    CKPT_ASSIGN_OR_RETURN(m_values, DataFile::create(m_dir));
    m_createdFiles.push_back(m_values->path());
    return m_values.get();
}

Result<OcdbtWriter::EntryValue*> OcdbtWriter::newEntry(std::string_view key) {
    if (m_finished) {
        return invalidArgumentError("OCDBT writer for '" + m_dir.string() +
                                    "': put after commit (or after a failed write)");
    }
    if (key.size() > kMaxKeyLength) {
        return invalidArgumentError("OCDBT key of " + std::to_string(key.size()) +
                                    " bytes exceeds the maximum of " +
                                    std::to_string(kMaxKeyLength));
    }
    auto [it, inserted] = m_entries.try_emplace(std::string(key));
    if (!inserted) {
        return invalidArgumentError("OCDBT writer for '" + m_dir.string() + "': key '" +
                                    std::string(key) + "' written twice");
    }
    return &it->second;
}

Status OcdbtWriter::put(std::string_view key, std::string_view value) {
    CKPT_ASSIGN_OR_RETURN(EntryValue * entry, newEntry(key));
    if (value.size() <= m_options.config.maxInlineValueBytes) {
        *entry = std::string(value);
        return okStatus();
    }
    auto file = valueFile();
    if (!file.isOk()) return fail(file.status());
    auto offset = (*file)->append(std::as_bytes(std::span<const char>(value.data(), value.size())));
    if (!offset.isOk()) return fail(offset.status());
    *entry = OutOfLine{*offset, value.size()};
    return okStatus();
}

Status OcdbtWriter::putReference(std::string_view key, DataFileIdPtr file, std::uint64_t offset,
                                 std::uint64_t length) {
    if (!file) return invalidArgumentError("OCDBT reference without a data file");
    CKPT_ASSIGN_OR_RETURN(EntryValue * entry, newEntry(key));
    *entry = IndirectDataReference{std::move(file), offset, length};
    return okStatus();
}

Result<std::vector<OcdbtWriter::ChildRef>> OcdbtWriter::writeLeaves(DataFile& file) {
    using Entry = decltype(m_entries)::value_type;
    std::vector<const Entry*> entries;
    entries.reserve(m_entries.size());
    std::vector<std::size_t> sizes;
    sizes.reserve(m_entries.size());
    for (const auto& e : m_entries) {
        entries.push_back(&e);
        const auto* inl = std::get_if<std::string>(&e.second);
        sizes.push_back(e.first.size() + 16 + (inl ? inl->size() : 10));
    }
    const auto runs = splitRuns(sizes, m_options.maxNodeEntries, m_options.targetNodeBytes, 1);
    const bool isRoot = runs.size() == 1;
    std::vector<ChildRef> out;
    out.reserve(runs.size());
    for (const auto& [first, last] : runs) {
        // Non-root nodes omit the prefix their first and last key share (as tensorstore does).
        const std::size_t prefix =
            isRoot ? 0 : commonPrefixLength(entries[first]->first, entries[last - 1]->first);
        BtreeNode node;
        node.height = 0;
        node.leafEntries.reserve(last - first);
        BtreeNodeStatistics stats;
        for (std::size_t i = first; i < last; ++i) {
            LeafNodeEntry le;
            le.key = entries[i]->first.substr(prefix);
            if (const auto* inl = std::get_if<std::string>(&entries[i]->second)) {
                le.value = *inl;
            } else if (const auto* ref = std::get_if<IndirectDataReference>(&entries[i]->second)) {
                le.value = *ref;
                stats.numIndirectValueBytes += ref->length;
            } else {
                const auto& ool = std::get<OutOfLine>(entries[i]->second);
                le.value = IndirectDataReference{m_values->id(), ool.offset, ool.length};
                stats.numIndirectValueBytes += ool.length;
            }
            node.leafEntries.push_back(std::move(le));
        }
        stats.numKeys = last - first;
        CKPT_ASSIGN_OR_RETURN(const auto encoded,
                              encodeBtreeNode(node, envelopeCompression(m_options.config),
                                              m_options.config.zstdLevel));
        CKPT_ASSIGN_OR_RETURN(const std::uint64_t offset, file.append(encoded));
        stats.numTreeBytes = encoded.size();
        out.push_back(ChildRef{entries[first]->first, prefix,
                               BtreeNodeReference{{file.id(), offset, encoded.size()}, stats}});
    }
    return out;
}

Result<std::vector<OcdbtWriter::ChildRef>> OcdbtWriter::writeInteriorLevel(
    DataFile& file, const std::vector<ChildRef>& children, std::uint8_t height) {
    std::vector<std::size_t> sizes;
    sizes.reserve(children.size());
    for (const auto& c : children) sizes.push_back(c.firstKey.size() + 40);
    const auto runs = splitRuns(sizes, m_options.maxNodeEntries, m_options.targetNodeBytes, 2);
    const bool isRoot = runs.size() == 1;
    std::vector<ChildRef> out;
    out.reserve(runs.size());
    for (const auto& [first, last] : runs) {
        // The omitted prefix may not reach past any child's own prefix (each entry's key must
        // keep its subtree prefix).
        std::size_t prefix = 0;
        if (!isRoot) {
            prefix = commonPrefixLength(children[first].firstKey, children[last - 1].firstKey);
            for (std::size_t i = first; i < last; ++i) {
                prefix = std::min(prefix, children[i].prefixLength);
            }
        }
        BtreeNode node;
        node.height = height;
        node.interiorEntries.reserve(last - first);
        BtreeNodeStatistics stats;
        for (std::size_t i = first; i < last; ++i) {
            const ChildRef& c = children[i];
            InteriorNodeEntry ie;
            ie.key = c.firstKey.substr(prefix);
            ie.subtreeCommonPrefixLength = static_cast<std::uint16_t>(c.prefixLength - prefix);
            ie.child = c.ref;
            stats.numKeys += c.ref.statistics.numKeys;
            stats.numTreeBytes += c.ref.statistics.numTreeBytes;
            stats.numIndirectValueBytes += c.ref.statistics.numIndirectValueBytes;
            node.interiorEntries.push_back(std::move(ie));
        }
        CKPT_ASSIGN_OR_RETURN(const auto encoded,
                              encodeBtreeNode(node, envelopeCompression(m_options.config),
                                              m_options.config.zstdLevel));
        CKPT_ASSIGN_OR_RETURN(const std::uint64_t offset, file.append(encoded));
        stats.numTreeBytes += encoded.size();
        out.push_back(ChildRef{children[first].firstKey, prefix,
                               BtreeNodeReference{{file.id(), offset, encoded.size()}, stats}});
    }
    return out;
}

Status OcdbtWriter::commitImpl() {
    BtreeGenerationReference version;
    version.generationNumber = 1;
    if (m_entries.empty()) {
        // An empty tree: the root is the "missing" reference into the empty-path file.
        version.root.location =
            IndirectDataReference{std::make_shared<const DataFileId>(),
                                  IndirectDataReference::kMissing, IndirectDataReference::kMissing};
        version.rootHeight = 0;
    } else {
        // Nodes go after the values, into the same data file.
        CKPT_ASSIGN_OR_RETURN(DataFile * file, valueFile());
        CKPT_ASSIGN_OR_RETURN(auto level, writeLeaves(*file));
        std::uint8_t height = 0;
        while (level.size() > 1) {
            if (height == 255) return internalError("B+tree would be taller than 255 levels");
            ++height;
            CKPT_ASSIGN_OR_RETURN(level, writeInteriorLevel(*file, level, height));
        }
        version.root = level.front().ref;
        version.rootHeight = height;
    }
    // Data first, durably; the manifest that makes it a database last.
    if (m_values) {
        CKPT_RETURN_IF_ERROR(m_values->finish());
        CKPT_RETURN_IF_ERROR(io::syncDirectory(m_dir / "d"));
    }
    CKPT_RETURN_IF_ERROR(io::syncDirectory(m_dir));
    if (m_createdDir && m_dir.has_parent_path()) {
        CKPT_RETURN_IF_ERROR(io::syncDirectory(m_dir.parent_path()));
    }
    version.commitTimeNs =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    Manifest manifest;
    manifest.config = m_options.config;
    manifest.versions.push_back(std::move(version));
    CKPT_ASSIGN_OR_RETURN(const auto encoded, encodeManifest(manifest));
    CKPT_ASSIGN_OR_RETURN(
        auto out, io::AtomicFileWriter::create(m_dir / "manifest.ocdbt", /*overwrite=*/false));
    CKPT_RETURN_IF_ERROR(out.write(encoded));
    return out.commit();  // fsyncs the file, renames it, fsyncs the directory
}

Status OcdbtWriter::commit() {
    if (m_finished) {
        return invalidArgumentError("OCDBT writer for '" + m_dir.string() +
                                    "': commit after commit (or after a failed write)");
    }
    const Status s = commitImpl();
    if (!s.isOk()) return fail(s);
    m_finished = true;
    m_committed = true;
    return okStatus();
}

Result<std::unique_ptr<kv::KvWriter>> createOcdbtWriter(const fs::path& dir) {
    CKPT_ASSIGN_OR_RETURN(auto writer, OcdbtWriter::create(dir, OcdbtWriterOptions{}));
    return std::unique_ptr<kv::KvWriter>(std::move(writer));
}

}  // namespace ckpt::ocdbt
