// Multi-process saves: N OS processes, each knowing its index, the process count and the shards
// it owns, write ONE Orbax checkpoint together, in the layout real multi-process Orbax writes
// (per-process `ocdbt.process_<i>/` databases, merged by process 0 into the item's root
// manifest; `_METADATA`, `_sharding` with a NamedSharding record, `_CHECKPOINT_METADATA`,
// `commit_success.txt`), so single-process Orbax and a multi-process JAX job restore it.
//
// The plan: every array leaf whose dimension `shardAxis` is divisible by the process count is
// split evenly along it, block p written by process p (JAX NamedSharding over a 1-D mesh of one
// device per process, axis name "p"); every other leaf (scalars, 0-d arrays, 64-bit numpy
// arrays, leaves whose axis does not divide) is replicated and written by process 0 only.
//
// The processes meet through the file system only (orbax/FORMAT.md, "Multi-process writes"):
// they share the temporary directory `<target>.orbax-checkpoint-tmp-mp-<saveId>`; each writes its
// database, fsyncs it and then atomically creates `.done.process_<i>` there; process 0 waits for
// all N, merges, commits with one rename; every other process returns only once the commit is
// visible (its own database is in the committed target), so a zero exit status always means
// "the checkpoint is there". A missing process makes process 0 fail after `timeout` and remove
// the temporary; nothing is committed and an existing target stays as it was.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "ckpt/core/array_source.h"
#include "ckpt/core/format.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// How one leaf of global shape `globalShape` is split over the processes.
struct LeafShardPlan {
    Shape globalShape;
    // The block each owning process writes (one zarr chunk): the global shape with dimension
    // `axis` divided by the process count, or the whole shape when replicated.
    Shape shardShape;
    // Replicated: written whole by process 0 (axis is then -1).
    bool replicated = true;
    int axis = -1;
    int processCount = 1;

    // The global index ranges process `processIndex` writes (empty count when it writes none).
    Selection shardOf(int processIndex) const;
};

// Splits a leaf as described above. InvalidArgument for processCount < 1 or shardAxis < 0.
Result<LeafShardPlan> planLeafShards(const Shape& globalShape, int processCount, int shardAxis);

struct ProcessSaveOptions {
    int processIndex = 0;
    int processCount = 1;
    // The same in every process of one save attempt and different for every attempt (a job id,
    // "<step>-<attempt>"): 1 to 64 characters of [A-Za-z0-9_-]. It names the shared temporary
    // directory; a crashed attempt's temporary is recognised by its other save id.
    std::string saveId;
    // The dimension split over the processes.
    int shardAxis = 0;
    // How long process 0 waits for the others, and the others for the commit.
    std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// The shared temporary directory of a save attempt (the same name for every format).
std::filesystem::path multiProcessTemporaryPath(const std::filesystem::path& target,
                                                const std::string& saveId);

// This process's part of a multi-process Orbax save of `tree` (the same global tree in every
// process) to `target` (a StandardCheckpointer item directory; options.overwrite replaces an
// existing one atomically; options.step is refused). Returns once the checkpoint is committed
// (every process) or with an error naming the target: bad indices, a save id in use, a process
// started with another process count or tree, a timeout, cancellation. Process 0 removes the
// temporaries of earlier attempts of this target before it starts (best effort).
Status writeOrbaxProcessShards(const NodePtr& tree, const std::filesystem::path& target,
                               const ProcessSaveOptions& process, const WriteOptions& options);

// The same save in the HDF5 layout (core/src/formats/hdf5/FORMAT.md, "Multi-process layout"):
// `target` becomes a directory holding `process_<i>.h5` (process i's blocks of every sharded
// array, at the array's link path) and `checkpoint.h5` (written by process 0 once every process
// is done: the tree as the single-file writer writes it, except that every sharded array is a
// virtual dataset mapping block i to `process_<i>.h5`). Every array whose dimension `shardAxis`
// divides evenly over the processes is split (any dtype); the rest is replicated into the
// master. The barrier, the shared temporary, the commit by one rename (an atomic exchange with
// options.overwrite) and the errors are those of writeOrbaxProcessShards.
Status writeHdf5ProcessShards(const NodePtr& tree, const std::filesystem::path& target,
                              const ProcessSaveOptions& process, const WriteOptions& options);

}  // namespace ckpt
