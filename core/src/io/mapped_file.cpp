#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ckpt::io {

namespace {
std::string errnoText(int err) { return std::strerror(err); }
}  // namespace

Status checkInside(const std::filesystem::path& root, const std::filesystem::path& path) {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::weakly_canonical(root, ec);
    if (ec) return ioError("cannot resolve '" + root.string() + "': " + ec.message());
    const std::filesystem::path resolved = std::filesystem::weakly_canonical(path, ec);
    if (ec) return ioError("cannot resolve '" + path.string() + "': " + ec.message());
    const std::filesystem::path relative = resolved.lexically_relative(base);
    if (relative.empty() || *relative.begin() == "..") {
        return invalidArgumentError("'" + path.string() + "' is a symbolic link to '" +
                                    resolved.string() + "', outside the checkpoint '" +
                                    root.string() + "'");
    }
    return okStatus();
}

Result<std::shared_ptr<const MappedFile>> MappedFile::openInside(
    const std::filesystem::path& root, const std::filesystem::path& path) {
    CKPT_RETURN_IF_ERROR(checkInside(root, path));
    return open(path);
}

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        if (err == ENOENT) return notFoundError("'" + path.string() + "': no such file");
        return ioError("cannot open '" + path.string() + "': " + errnoText(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return ioError("cannot stat '" + path.string() + "': " + errnoText(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return invalidArgumentError("'" + path.string() + "' is not a regular file");
    }
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->m_path = path;
    file->m_size = static_cast<std::size_t>(st.st_size);
    if (file->m_size > 0) {
        void* map = ::mmap(nullptr, file->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return ioError("cannot map '" + path.string() + "': " + errnoText(err));
        }
        file->m_map = map;
        file->m_data = static_cast<const std::byte*>(map);
    }
    ::close(fd);
    return std::shared_ptr<const MappedFile>(std::move(file));
}

void MappedFile::dropPages(std::span<const std::byte> range) const {
    if (!m_map || range.empty() || range.data() < m_data ||
        range.data() + range.size() > m_data + m_size) {
        return;
    }
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(range.data());
    const auto end = begin + range.size();
    const std::uintptr_t first = (begin + page - 1) / page * page;
    const std::uintptr_t last = end / page * page;
    if (last <= first) return;
    // A read-only private file mapping that was never written: dropping pages loses nothing.
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
    if (m_map) ::munmap(m_map, m_size);
}

}  // namespace ckpt::io
