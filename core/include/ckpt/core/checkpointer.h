// Checkpointer and AsyncCheckpointer: save and restore whole trees, synchronously or in the
// background, as Orbax's Checkpointer / AsyncCheckpointer do.
//
// An asynchronous save first snapshots the tree on the caller's thread (every array leaf copied
// into memory by two threads, or, with SnapshotMode::kReference, the caller's promise that
// nothing it references changes until the save finishes), then returns; a background worker
// runs the write (the Orbax writer encodes arrays on one thread per core). Saves are ordered: a
// new save waits for the previous one. A background failure is never lost: the next saveAsync()
// or waitUntilFinished() returns it (once).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "ckpt/core/cancel.h"
#include "ckpt/core/checkpoint.h"
#include "ckpt/core/format.h"
#include "ckpt/core/status.h"

namespace ckpt {

enum class SnapshotMode {
    kCopy,       // copy every array leaf into memory before returning (safe to mutate after)
    kReference,  // keep references; the caller promises not to mutate until the save finishes
};

// Buffers of finished snapshots, kept for the next snapshot of the same shapes (a training loop
// saves the same tree again and again): copying into memory that is already mapped costs a
// fraction of copying into fresh pages. Holds at most one snapshot's buffers. Thread-safe.
class SnapshotBufferPool {
public:
    struct Buffer {
        std::unique_ptr<std::byte[]> data;
        std::size_t size = 0;
    };
    // A pooled buffer of exactly `size` bytes, or a new one (uninitialised; may throw bad_alloc).
    Buffer take(std::size_t size);
    void give(Buffer buffer);
    void clear();
    std::uint64_t pooledBytes() const;

private:
    mutable std::mutex m_mutex;
    std::multimap<std::size_t, std::unique_ptr<std::byte[]>> m_free;
};

// A copy of `tree` whose array leaves (and lazily read scalars) live in memory, so that the copy
// no longer depends on the sources of `tree`. Copies run on `threads` threads (large arrays are
// split into row slabs). With a pool, buffers come from it (what is not reused is freed) and go
// back to it when the copy is dropped. Cancellation stops the copy with a Cancelled status.
Result<NodePtr> snapshotTree(const NodePtr& tree, int threads = 2,
                             const CancelToken* cancel = nullptr,
                             const std::shared_ptr<SnapshotBufferPool>& pool = nullptr);

// Synchronous save/restore in any registered format (writeCheckpoint / openCheckpoint).
// Stateless and thread-safe.
class Checkpointer {
public:
    Status save(const NodePtr& tree, const std::filesystem::path& target, std::string_view format,
                const WriteOptions& options = {}) const;
    Result<Checkpoint> restore(const std::filesystem::path& path, const OpenOptions& options = {},
                               std::string_view format = {}) const;
};

struct SaveProgress {
    std::uint64_t done = 0;
    std::uint64_t total = 0;
    bool running = false;
};

// Owns one background worker thread that runs saves one after another. All members may be called
// from any thread; the destructor cancels nothing, waits for the running save and joins the
// worker (call waitUntilFinished() first to see its status).
class AsyncCheckpointer {
public:
    // A background job: writes, polling `cancel` and reporting through `progress`.
    using Job = std::function<Status(const CancelToken& cancel, const ProgressFn& progress)>;

    // `reuseSnapshotBuffers`: keep the last snapshot's buffers for the next one (SnapshotBufferPool;
    // costs one snapshot's memory between saves).
    explicit AsyncCheckpointer(int snapshotThreads = 2, bool reuseSnapshotBuffers = true);
    ~AsyncCheckpointer();
    AsyncCheckpointer(const AsyncCheckpointer&) = delete;
    AsyncCheckpointer& operator=(const AsyncCheckpointer&) = delete;

    // Waits for the previous save; if it failed, returns its error and starts nothing. Otherwise
    // snapshots `tree` (per `mode`), queues the write of `target` with writeCheckpoint and returns
    // once the snapshot is taken. `options.progress` and `options.cancel` are replaced by the
    // checkpointer's own (see progress(), cancel()).
    Status saveAsync(const NodePtr& tree, const std::filesystem::path& target,
                     std::string format, WriteOptions options,
                     SnapshotMode mode = SnapshotMode::kCopy);
    // The same ordering and error rules for any job (the snapshot is the caller's business).
    Status runAsync(Job job);

    // Blocks until no save is running; returns the status of the last save if it has not been
    // reported yet (OK otherwise).
    Status waitUntilFinished();
    // Asks the running save to stop; it then finishes with a Cancelled status.
    void cancel();
    bool isSaving() const;
    SaveProgress progress() const;

    int snapshotThreads() const { return m_snapshotThreads; }
    // Null when buffers are not reused.
    const std::shared_ptr<SnapshotBufferPool>& bufferPool() const { return m_pool; }

private:
    void workerLoop();

    const int m_snapshotThreads;
    const std::shared_ptr<SnapshotBufferPool> m_pool;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::optional<Job> m_pending;  // queued, not yet started
    bool m_running = false;
    bool m_stop = false;
    Status m_unreported;  // the last job's failure, until reported
    std::atomic<std::uint64_t> m_done{0};
    std::atomic<std::uint64_t> m_total{0};
    std::shared_ptr<CancelToken> m_cancel;  // the running job's token
    std::thread m_worker;  // last: started after every other member exists
};

}  // namespace ckpt
