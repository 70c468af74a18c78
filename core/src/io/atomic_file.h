// AtomicFileWriter: write a file so that readers see either the old file or the whole new one.
//
// Bytes go to a temporary file beside the target; commit() flushes, fsyncs, renames it over the
// target and fsyncs the directory. Without commit() (error, cancel, exception) the temporary
// file is removed and the target is untouched. Not thread-safe; one writer per file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::io {

class AtomicFileWriter {
public:
    // Fails with AlreadyExists if `target` exists and !overwrite. `tempPath` names the temporary
    // file (default: a unique name beside the target); a stale file there is replaced.
    static Result<AtomicFileWriter> create(const std::filesystem::path& target, bool overwrite,
                                           const std::filesystem::path& tempPath = {});

    AtomicFileWriter(AtomicFileWriter&& other) noexcept;
    AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
    ~AtomicFileWriter();

    Status write(std::span<const std::byte> bytes);
    Status write(std::string_view bytes) {
        return write(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
    }
    std::uint64_t bytesWritten() const { return m_written; }
    const std::filesystem::path& target() const { return m_target; }

    Status commit();

private:
    AtomicFileWriter() = default;
    Status flushBuffer();

    std::filesystem::path m_target;
    std::filesystem::path m_temp;
    int m_fd = -1;
    bool m_overwrite = false;
    bool m_committed = false;
    std::uint64_t m_written = 0;
    std::vector<std::byte> m_buffer;
};

// A fresh name for a temporary file or directory beside `target`:
// "<target>.ckpt-tmp-<pid>-<counter>-<host>". The pid and host let removeStaleTemporaries() tell
// a crashed writer's leftovers from a live writer's work in progress.
std::filesystem::path temporaryPathFor(const std::filesystem::path& target);

// Removes temporaries of `target` (temporaryPathFor names) left by writers on this host whose
// process no longer exists (killed, crashed); live writers' and other hosts' are kept. Best
// effort: errors are ignored. Called before each new atomic write of `target`.
void removeStaleTemporaries(const std::filesystem::path& target);

// fsync a directory so a rename inside it is durable.
Status syncDirectory(const std::filesystem::path& dir);

// Renames `from` to `to`; with !overwrite fails (AlreadyExists) rather than replace `to`.
Status renamePath(const std::filesystem::path& from, const std::filesystem::path& to,
                  bool overwrite);

// Swaps two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE): replacing a
// directory this way never leaves a moment without one. Unsupported on file systems that
// cannot (then the caller falls back to two renames).
Status exchangePaths(const std::filesystem::path& a, const std::filesystem::path& b);

// Removes a file or a directory tree; a missing path is not an error.
Status removePath(const std::filesystem::path& path);

}  // namespace ckpt::io
