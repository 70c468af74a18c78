// The file-system barrier of multi-process saves, shared by every format that N OS processes
// write together (Orbax: per-process OCDBT databases; HDF5: per-process files joined by virtual
// datasets). The processes share one temporary directory beside the target
// (multiProcessTemporaryPath); each writes its part, fsyncs it and atomically creates
// `.done.process_<i>` (a JSON record of its process count, save id and a fingerprint of the tree
// it was given); process 0 waits for all N markers, finishes the checkpoint and commits it with
// one rename; every other process waits until the commit is visible. Nothing here knows a format.
//
// Thread-safety: free functions without shared state; several saves may run at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ckpt/core/cancel.h"
#include "ckpt/core/sharded_writer.h"
#include "ckpt/core/status.h"

namespace ckpt::shard {

// "process_<i>" and ".done.process_<i>".
std::string processName(int index);
std::string doneMarkerName(int index);

// 64-bit FNV-1a as 16 hex digits: a fingerprint of the tree each process was given (not a
// security measure).
std::string fingerprint(std::string_view text);

// A small file's content; nullopt when it does not exist. Corruption above 64 MiB.
Result<std::optional<std::string>> readWholeFile(const std::filesystem::path& path);

// The part of a save attempt every process checks first: indices, save id, parent directory,
// a save id already used by this process. Process 0 removes earlier attempts' temporaries of
// `target` (best effort). Creates the shared temporary and returns its path. `target` must be
// normalized (no trailing separator).
Result<std::filesystem::path> prepareSharedTemporary(const std::filesystem::path& target,
                                                     const ProcessSaveOptions& process);

// Creates this process's done marker in `dir` (after its part is durable there).
Status writeDoneMarker(const std::filesystem::path& dir, const ProcessSaveOptions& process,
                       const std::string& treePrint);

// Process 0: waits until every process's done marker is in `dir`, checking that each was started
// with the same process count, save id and tree fingerprint. IoError on timeout naming the
// missing processes; `target` names the save in messages.
Status waitForProcesses(const std::filesystem::path& dir, const std::filesystem::path& target,
                        const ProcessSaveOptions& process, const std::string& treePrint,
                        const CancelToken* cancel);

// Removes every done marker of the save from `dir` (process 0, before the commit).
Status removeDoneMarkers(const std::filesystem::path& dir, const ProcessSaveOptions& process);

// A process other than 0: waits until `isCommitted()` (the committed target holds this
// process's part of this attempt), or fails when process 0 gave up (the temporary `tmp` is gone
// and the target is not this save) or the timeout passes.
Status waitForCommit(const std::filesystem::path& target, const std::filesystem::path& tmp,
                     const ProcessSaveOptions& process,
                     const std::function<Result<bool>()>& isCommitted, const CancelToken* cancel);

// Moves the finished directory `tmp` to `target` with one rename; with `overwrite` an existing
// target is swapped out atomically (RENAME_EXCHANGE; two renames on file systems without it, the
// old one aside at `<target>.ckpt-old` in between) and removed. Syncs the parent directory.
Status commitDirectoryRename(const std::filesystem::path& tmp, const std::filesystem::path& target,
                             bool overwrite);

}  // namespace ckpt::shard
