// MappedFile: a read-only memory map of a whole file, shared by the sources that read from it.
//
// Thread-safe after construction (the mapping is immutable). Pages are read only when touched,
// so parsing a file's structure does not read the array payloads it skips.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

#include "ckpt/core/status.h"

namespace ckpt::io {

// OK when `path` (which need not exist) resolves, through any symbolic links, to a place inside
// the directory `root` (also resolved); InvalidArgument naming the path, where it leads and the
// root otherwise. Links that stay inside the root are fine.
Status checkInside(const std::filesystem::path& root, const std::filesystem::path& path);

class MappedFile {
public:
    static Result<std::shared_ptr<const MappedFile>> open(const std::filesystem::path& path);
    // open(), refusing a file that symbolic links lead outside the directory `root` (a
    // checkpoint from someone else's machine must not read /etc/passwd). See checkInside().
    static Result<std::shared_ptr<const MappedFile>> openInside(const std::filesystem::path& root,
                                                                 const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const std::byte> bytes() const { return {m_data, m_size}; }
    const std::filesystem::path& path() const { return m_path; }

    // Tells the kernel this process is done with the pages wholly inside `range` (which must lie
    // in this mapping; other ranges are ignored): they leave our resident set and are read again
    // from the page cache if touched. Streaming readers call it so that reading a large file
    // through the map does not grow the process by the file's size.
    void dropPages(std::span<const std::byte> range) const;

private:
    MappedFile() = default;
    std::filesystem::path m_path;
    const std::byte* m_data = nullptr;
    std::size_t m_size = 0;
    void* m_map = nullptr;
};

}  // namespace ckpt::io
