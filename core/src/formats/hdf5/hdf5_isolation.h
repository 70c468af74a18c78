// Crash isolation for libhdf5. Debian's libhdf5 (1.10.8) can crash on a damaged file below our
// calls (tests/fuzz/libhdf5-known/: an out-of-bounds copy in its global-heap reader while an
// attribute is read). So the HDF5 reader first walks a file's structure in a forked child
// process, exactly as it will in-process; only when the child finished (whatever the walk
// returned) does the reader repeat the walk in the calling process. A child that dies (a signal,
// a sanitizer's report) or overruns the time limit becomes a Corruption error naming the file and
// the key path being read when it died; the calling process never runs the walk that would have
// crashed it. The child may also allocate at most CKPT_HDF5_OPEN_MEMORY (default 1 GiB) beyond
// what the process had (RLIMIT_DATA): a damaged length can make libhdf5 allocate gigabytes for a
// file of kilobytes, and a child that runs out becomes a Corruption error too, so the parent
// never makes that allocation.
//
// The fork happens with the HDF5 lock held, so no other thread is inside libhdf5 and the child's
// copy of its state is consistent; the child resets the lock, runs the walk and leaves with
// _exit (no atexit handlers, no buffered output flushed twice). Its stderr goes to /dev/null
// unless CKPT_HDF5_CHILD_STDERR=1. CKPT_HDF5_ISOLATION=0 turns the child off (debugging only);
// CKPT_HDF5_OPEN_TIMEOUT sets the child's time limit in seconds (default 120).
#pragma once

#include <functional>
#include <string>

#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"

namespace ckpt::hdf5 {

// Runs `walk` in a forked child first (see above), then returns OK so the caller runs it for
// real. `file` names the file in the error. Without fork (isolation off, not POSIX) it returns OK
// at once.
Status checkInChildProcess(const std::string& file, const std::function<void()>& walk);

// Called by the reader as it reaches each object: in a probe child it records the key path, for
// the parent's error; elsewhere it does nothing.
void noteProgress(const KeyPath& path);

// Whether the reader forks the probe child (CKPT_HDF5_ISOLATION is not "0").
bool isolationEnabled();

}  // namespace ckpt::hdf5
