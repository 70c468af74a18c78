#include "io/atomic_file.h"

#include <cctype>

#include <csignal>

#include <charconv>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace ckpt::io {

namespace fs = std::filesystem;

namespace {
constexpr std::size_t kBufferSize = 1 << 20;

std::string errnoText(int err) { return std::strerror(err); }

constexpr std::string_view kTempMarker = ".ckpt-tmp-";

// This host's name with only [A-Za-z0-9.-] kept (it ends a file name).
const std::string& hostTag() {
    static const std::string tag = [] {
        char name[256] = {};
        if (::gethostname(name, sizeof name - 1) != 0) return std::string("host");
        std::string out;
        for (const char* c = name; *c; ++c) {
            if (std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '-') out += *c;
        }
        return out.empty() ? std::string("host") : out;
    }();
    return tag;
}
}  // namespace

fs::path temporaryPathFor(const fs::path& target) {
    static std::atomic<unsigned> counter{0};
    fs::path temp = target;
    temp += std::string(kTempMarker) + std::to_string(::getpid()) + "-" +
            std::to_string(counter++) + "-" + hostTag();
    return temp;
}

void removeStaleTemporaries(const fs::path& target) {
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const std::string prefix = target.filename().string() + std::string(kTempMarker);
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return;
    std::vector<fs::path> stale;
    for (const fs::directory_entry& entry : it) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        // <pid>-<counter>-<host>
        const std::string rest = name.substr(prefix.size());
        const std::size_t dash1 = rest.find('-');
        const std::size_t dash2 = dash1 == std::string::npos ? dash1 : rest.find('-', dash1 + 1);
        if (dash2 == std::string::npos || rest.substr(dash2 + 1) != hostTag()) continue;
        long pid = 0;
        const auto [end, perr] = std::from_chars(rest.data(), rest.data() + dash1, pid);
        if (perr != std::errc() || end != rest.data() + dash1 || pid <= 0) continue;
        if (pid == ::getpid()) continue;
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive
        stale.push_back(entry.path());
    }
    for (const fs::path& path : stale) fs::remove_all(path, ec);
}

Result<AtomicFileWriter> AtomicFileWriter::create(const fs::path& target, bool overwrite,
                                                  const fs::path& tempPath) {
    std::error_code ec;
    const auto st = fs::symlink_status(target, ec);
    if (!ec && fs::exists(st)) {
        if (!overwrite) return alreadyExistsError("'" + target.string() + "' already exists");
        if (fs::is_directory(st)) {
            return invalidArgumentError("'" + target.string() + "' is a directory");
        }
    }
    const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
    if (!fs::is_directory(parent, ec)) {
        return notFoundError("directory '" + parent.string() + "' does not exist");
    }
    if (tempPath.empty()) removeStaleTemporaries(target);
    AtomicFileWriter w;
    w.m_target = target;
    w.m_temp = tempPath.empty() ? temporaryPathFor(target) : tempPath;
    w.m_overwrite = overwrite;
    const int exclusive = tempPath.empty() ? O_EXCL : O_TRUNC;
    w.m_fd = ::open(w.m_temp.c_str(), O_WRONLY | O_CREAT | exclusive | O_CLOEXEC, 0644);
    if (w.m_fd < 0) {
        return ioError("cannot create '" + w.m_temp.string() + "': " + errnoText(errno));
    }
    w.m_buffer.reserve(kBufferSize);
    return w;
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : m_target(std::move(other.m_target)),
      m_temp(std::move(other.m_temp)),
      m_fd(other.m_fd),
      m_overwrite(other.m_overwrite),
      m_committed(other.m_committed),
      m_written(other.m_written),
      m_buffer(std::move(other.m_buffer)) {
    other.m_fd = -1;
    other.m_committed = true;  // the moved-from object owns nothing
}

AtomicFileWriter::~AtomicFileWriter() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_committed && !m_temp.empty()) ::unlink(m_temp.c_str());
}

Status AtomicFileWriter::flushBuffer() {
    const std::byte* p = m_buffer.data();
    std::size_t left = m_buffer.size();
    while (left > 0) {
        const ssize_t n = ::write(m_fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return ioError("writing '" + m_temp.string() + "': " + errnoText(errno));
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
    m_buffer.clear();
    return okStatus();
}

Status AtomicFileWriter::write(std::span<const std::byte> bytes) {
    if (m_fd < 0) return internalError("write after commit to '" + m_target.string() + "'");
    m_written += bytes.size();
    if (m_buffer.size() + bytes.size() > kBufferSize) {
        CKPT_RETURN_IF_ERROR(flushBuffer());
        if (bytes.size() >= kBufferSize) {
            m_buffer.assign(bytes.begin(), bytes.end());
            return flushBuffer();
        }
    }
    m_buffer.insert(m_buffer.end(), bytes.begin(), bytes.end());
    return okStatus();
}

Status AtomicFileWriter::commit() {
    if (m_fd < 0) return internalError("commit twice to '" + m_target.string() + "'");
    CKPT_RETURN_IF_ERROR(flushBuffer());
    if (::fsync(m_fd) != 0) {
        return ioError("fsync '" + m_temp.string() + "': " + errnoText(errno));
    }
    ::close(m_fd);
    m_fd = -1;
    CKPT_RETURN_IF_ERROR(renamePath(m_temp, m_target, m_overwrite));
    m_committed = true;
    const fs::path parent = m_target.has_parent_path() ? m_target.parent_path() : fs::path(".");
    return syncDirectory(parent);
}

Status syncDirectory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ioError("cannot open directory '" + dir.string() + "': " + errnoText(errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0 && err != EINVAL) {
        return ioError("fsync directory '" + dir.string() + "': " + errnoText(err));
    }
    return okStatus();
}

Status renamePath(const fs::path& from, const fs::path& to, bool overwrite) {
    const unsigned flags = overwrite ? 0U : RENAME_NOREPLACE;
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags) != 0) {
        const int err = errno;
        if (err == EEXIST) return alreadyExistsError("'" + to.string() + "' already exists");
        return ioError("cannot rename '" + from.string() + "' to '" + to.string() +
                       "': " + errnoText(err));
    }
    return okStatus();
}

Status exchangePaths(const fs::path& a, const fs::path& b) {
    if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) != 0) {
        const int err = errno;
        if (err == EINVAL || err == ENOSYS || err == ENOTSUP) {
            return unsupportedError("the file system of '" + b.string() +
                                    "' cannot exchange two paths atomically");
        }
        return ioError("cannot exchange '" + a.string() + "' and '" + b.string() +
                       "': " + errnoText(err));
    }
    return okStatus();
}

Status removePath(const fs::path& path) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) return ioError("cannot remove '" + path.string() + "': " + ec.message());
    return okStatus();
}

}  // namespace ckpt::io
