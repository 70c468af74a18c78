// CheckpointManager: a root directory of numbered steps, in orbax-checkpoint's
// CheckpointManager layout and with its retention policies, so that either side lists and
// restores the other's steps (layout facts: core/src/formats/orbax/FORMAT.md).
//
//   <root>/<step>/                      committed by one rename from <step>.orbax-checkpoint-tmp
//   <root>/<step>/_CHECKPOINT_METADATA  item handlers, init/commit timestamps (ns)
//   <root>/<step>/<item>/               one PyTree item per name (StandardCheckpointHandler)
//   <root>/<step>/metrics/metrics       {"name": number, ...} when a best metric is tracked
//
// A name holding ".orbax-checkpoint-tmp" is never a step (an unfinished save or a deletion in
// progress). Steps are deleted by renaming them to such a name first, so no reader ever sees a
// half-deleted step, and retention runs only after the step just saved has been committed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/checkpoint.h"
#include "ckpt/core/checkpointer.h"
#include "ckpt/core/format.h"
#include "ckpt/core/status.h"

namespace ckpt {

// Orbax's best_mode: which metric value is better.
enum class BestMode { kMin, kMax };

// What to keep after each save (Orbax's CheckpointManagerOptions; their preservation policies).
struct RetentionPolicy {
    // max_to_keep: 0 keeps all. Without a best metric: the newest N (LatestN). With one: the best
    // N by that metric (BestN), ties going to the newer step.
    int maxToKeep = 0;
    // keep_period: steps that are a multiple of this are always kept (EveryNSteps).
    std::optional<std::int64_t> keepPeriod;
    // best_fn = lambda metrics: metrics[bestMetric]; best_mode.
    std::optional<std::string> bestMetric;
    BestMode bestMode = BestMode::kMax;  // Orbax's default
    // keep_checkpoints_without_metrics: with a best metric, steps lacking it are kept.
    bool keepCheckpointsWithoutMetrics = true;
};

using Metrics = std::map<std::string, double>;

// One committed step as listed from disk.
struct ManagedStep {
    std::int64_t step = 0;
    std::filesystem::path path;
    std::optional<std::int64_t> initTimestampNs;    // _CHECKPOINT_METADATA, when present
    std::optional<std::int64_t> commitTimestampNs;
    std::optional<Metrics> metrics;  // numeric top-level entries of metrics/metrics, if present
    std::vector<std::string> items;  // item directories (sorted), "metrics" excluded
    std::uint64_t bytes = 0;         // size of all files under the step (when asked for)
};

// The committed steps under `root` named `<prefix>_<n>` (or `<n>` with an empty prefix), as
// Orbax's standard name format finds them, oldest first. A missing root has no steps.
// `withSizes` also sums each step's file sizes (a walk of every file; retention skips it).
Result<std::vector<ManagedStep>> listSteps(const std::filesystem::path& root,
                                           std::string_view stepPrefix = {},
                                           bool withSizes = true);

// Which of `steps` (oldest first) the policy keeps; the same length and order. Mirrors
// AnyPreservationPolicy(EveryNSteps(keepPeriod), BestN(...) or LatestN(maxToKeep)).
std::vector<bool> preservedSteps(const std::vector<ManagedStep>& steps,
                                 const RetentionPolicy& policy);

// The best step by `policy.bestMetric` (Orbax's best_step); the latest without a metric.
std::optional<std::int64_t> bestStep(const std::vector<ManagedStep>& steps,
                                     const RetentionPolicy& policy);

// Deletes the committed step `step` of the manager root `root` (renamed to a temporary name
// first, then removed, so no reader lists it half deleted). NotFound when there is no such
// committed step: a step still being written is a temporary directory and never matches.
Status deleteManagedStep(const std::filesystem::path& root, std::int64_t step,
                         std::string_view stepPrefix = {});

// deleteManagedStep in two parts, for a caller that must not wait for a large step's files to be
// removed (the GUI thread): detachManagedStep renames the step to a temporary name (instant and
// durable: from then on no reader lists it) and returns that path; removeDetachedStep, on any
// thread, removes it. A removal that never happens is finished by the next retention pass
// (pruneSteps) or Orbax's tmp cleanup. NotFound as deleteManagedStep.
Result<std::filesystem::path> detachManagedStep(const std::filesystem::path& root,
                                                std::int64_t step,
                                                std::string_view stepPrefix = {});
Status removeDetachedStep(const std::filesystem::path& detached);

// Deletes (unless `dryRun`) the steps the policy does not keep; returns them. Unfinished
// temporary directories are never touched: they may belong to a save in progress.
Result<std::vector<std::int64_t>> pruneSteps(const std::filesystem::path& root,
                                             const RetentionPolicy& policy, bool dryRun,
                                             std::string_view stepPrefix = {});

struct CheckpointManagerOptions {
    RetentionPolicy retention;
    // save_interval_steps: save() skips steps that are not a multiple (except the first save).
    std::int64_t saveIntervalSteps = 1;
    std::string stepPrefix;  // step_prefix; empty: steps are named "<n>"
    // cleanup_tmp_directories: remove leftover temporary directories when the manager opens.
    bool cleanupTmpDirectories = false;
    // Save in the background (AsyncCheckpointer) or block until committed.
    bool async = true;
    SnapshotMode snapshot = SnapshotMode::kCopy;
    int snapshotThreads = 2;
    // Keep the last snapshot's buffers for the next save (see SnapshotBufferPool).
    bool reuseSnapshotBuffers = true;
    // How items are written (zarr version, OCDBT, chunk size); step/keep/progress are ignored.
    WriteOptions write;
};

// Thread-safety: one thread drives a manager (as with Orbax's); progress()/isSaving() may be
// polled from others. The destructor waits for a running save.
class CheckpointManager {
public:
    static Result<std::unique_ptr<CheckpointManager>> open(std::filesystem::path root,
                                                           CheckpointManagerOptions options = {});

    // Orbax's should_save: after the latest step, and a multiple of saveIntervalSteps or the
    // first save.
    bool shouldSave(std::int64_t step) const;

    // Saves named PyTree items as `step` (AlreadyExists if it exists). Returns false without
    // saving when !force and !shouldSave(step). With async options it returns once the items are
    // snapshotted; the write, the commit and then retention run in the background. A failure of
    // a background save is returned by the next save() or by waitUntilFinished().
    Result<bool> save(std::int64_t step, std::vector<std::pair<std::string, NodePtr>> items,
                      std::optional<Metrics> metrics = {}, bool force = false);

    Status waitUntilFinished();
    void cancel() { m_checkpointer.cancel(); }
    bool isSaving() const { return m_checkpointer.isSaving(); }
    SaveProgress progress() const { return m_checkpointer.progress(); }

    // From disk (committed steps only).
    Result<std::vector<ManagedStep>> steps() const;
    std::vector<std::int64_t> allSteps() const;
    std::optional<std::int64_t> latestStep() const;
    std::optional<std::int64_t> bestStep() const;

    // Opens one item of a step (the tree is read lazily from disk).
    Result<Checkpoint> restore(std::int64_t step, std::string_view item = "default") const;

    const std::filesystem::path& root() const { return m_root; }
    const CheckpointManagerOptions& options() const { return m_options; }

private:
    CheckpointManager(std::filesystem::path root, CheckpointManagerOptions options);
    std::filesystem::path stepPath(std::int64_t step) const;
    Status writeStep(std::int64_t step, const std::vector<std::pair<std::string, NodePtr>>& items,
                     const std::optional<Metrics>& metrics, const CancelToken* cancelToken,
                     const ProgressFn& onProgress) const;

    std::filesystem::path m_root;
    CheckpointManagerOptions m_options;
    std::optional<std::int64_t> m_lastSaved;  // the newest step saved or found (should_save)
    AsyncCheckpointer m_checkpointer;
};

}  // namespace ckpt
