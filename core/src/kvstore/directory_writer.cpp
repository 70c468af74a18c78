#include "kvstore/directory_writer.h"

#include "kvstore/kvstore.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ranges>
#include <set>
#include <string>
#include <system_error>

#include "io/atomic_file.h"

namespace ckpt::kv {

namespace fs = std::filesystem;

namespace {


std::string errnoText(int err) {
    return std::error_code(err, std::generic_category()).message();
}

// Closes a POSIX file descriptor on scope exit.
class FdCloser {
public:
    explicit FdCloser(int fd) : m_fd(fd) {}
    FdCloser(const FdCloser&) = delete;
    FdCloser& operator=(const FdCloser&) = delete;
    ~FdCloser() {
        if (m_fd >= 0) ::close(m_fd);
    }
    // Closes now and reports the error close() gave (NFS may report write errors only here).
    int release() {
        const int rc = ::close(m_fd);
        m_fd = -1;
        return rc;
    }

private:
    int m_fd;
};

class DirectoryWriter final : public KvWriter {
public:
    explicit DirectoryWriter(fs::path root) : m_root(std::move(root)) { m_dirs.insert(m_root); }

    Status put(std::string_view key, std::string_view value) override {
        if (m_committed)
            return invalidArgumentError("put('" + std::string(key) + "') after commit of " +
                                        describe());
        if (!isSafeRelativeKey(key)) {
            return invalidArgumentError("unsafe key '" + std::string(key) + "' for " + describe());
        }
        if (!m_keys.insert(std::string(key)).second) {
            return invalidArgumentError("key '" + std::string(key) + "' written twice to " +
                                        describe());
        }
        const fs::path file = m_root / std::string(key);
        CKPT_RETURN_IF_ERROR(makeParents(file.parent_path()));
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            const int err = errno;
            if (err == EEXIST) return alreadyExistsError("'" + file.string() + "' already exists");
            return ioError("creating '" + file.string() + "': " + errnoText(err));
        }
        FdCloser closer(fd);
        std::size_t done = 0;
        while (done < value.size()) {
            const ssize_t n = ::write(fd, value.data() + done, value.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return ioError("writing '" + file.string() + "': " + errnoText(errno));
            }
            done += static_cast<std::size_t>(n);
        }
        if (closer.release() != 0) {
            return ioError("closing '" + file.string() + "': " + errnoText(errno));
        }
        m_files.push_back(file);
        return okStatus();
    }

    Status commit() override {
        if (m_committed) return invalidArgumentError(describe() + " committed twice");
        for (const fs::path& file : m_files) {
            const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) return ioError("reopening '" + file.string() + "': " + errnoText(errno));
            FdCloser closer(fd);
            if (::fsync(fd) != 0) {
                return ioError("fsync of '" + file.string() + "': " + errnoText(errno));
            }
        }
        // Deepest directories first, so each new entry is durable before its parent's.
        // (rbegin/rend rather than std::views::reverse: clang 14 rejects the latter with
        // libstdc++ 12's ranges, and the fuzz preset builds with clang.)
        for (auto dir = m_dirs.rbegin(); dir != m_dirs.rend(); ++dir) {
            CKPT_RETURN_IF_ERROR(io::syncDirectory(*dir));
        }
        if (!m_rootParent.empty()) CKPT_RETURN_IF_ERROR(io::syncDirectory(m_rootParent));
        m_committed = true;
        return okStatus();
    }

    void setCreatedRoot(fs::path parent) { m_rootParent = std::move(parent); }

private:
    std::string describe() const { return "directory writer at '" + m_root.string() + "'"; }

    // Creates `dir` (below the root) and its missing parents; remembers each for the fsync.
    Status makeParents(const fs::path& dir) {
        if (m_dirs.contains(dir)) return okStatus();
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) return ioError("creating directory '" + dir.string() + "': " + ec.message());
        for (fs::path p = dir; p != m_root && p.has_relative_path(); p = p.parent_path()) {
            if (!m_dirs.insert(p).second) break;
        }
        return okStatus();
    }

    fs::path m_root;
    fs::path m_rootParent;  // set when we created the root: its parent gained an entry
    std::set<std::string> m_keys;
    std::set<fs::path> m_dirs;  // the root and every directory below it that holds new entries
    std::vector<fs::path> m_files;
    bool m_committed = false;
};

}  // namespace

Result<std::unique_ptr<KvWriter>> openDirectoryWriter(const fs::path& rootIn) {
    fs::path root = rootIn.lexically_normal();
    if (!root.has_filename() && root.has_relative_path()) root = root.parent_path();  // "d/" -> "d"
    if (root.empty()) return invalidArgumentError("empty directory path for a directory writer");
    std::error_code ec;
    const bool existed = fs::exists(root, ec);
    if (ec) return ioError("checking '" + root.string() + "': " + ec.message());
    if (existed && !fs::is_directory(root, ec)) {
        return invalidArgumentError("'" + root.string() + "' is not a directory");
    }
    if (!existed) {
        fs::create_directories(root, ec);
        if (ec) return ioError("creating directory '" + root.string() + "': " + ec.message());
    }
    auto writer = std::make_unique<DirectoryWriter>(root);
    if (!existed) {
        const fs::path parent = fs::absolute(root, ec).parent_path();
        if (!ec) writer->setCreatedRoot(parent);
    }
    return std::unique_ptr<KvWriter>(std::move(writer));
}

}  // namespace ckpt::kv
