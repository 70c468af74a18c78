// Run series: how one leaf or one subtree of a training run evolves over the steps of a run
// directory (an Orbax CheckpointManager root, or a directory of flax `checkpoint_<step>` files),
// and which leaves changed most between two steps. Behind `ckpt series` / `ckpt changes`, the
// doctor's stats-jump check and the GUI's run view.
//
// Numbers come from computeStats (ckpt/core/stats.h): every array is streamed chunk by chunk,
// never held whole. A subtree's numbers treat all its numeric leaves (arrays and numeric scalars)
// as one concatenated vector. Per-leaf statistics are kept in a StatsCache, so asking again for a
// leaf, or for a subtree whose leaves were already computed, reads no array data.
//
// computeRunSeries() and compareRunSteps() keep no state of their own besides the cache they are
// given, may run on any thread (several at once, sharing one cache), poll a CancelToken and
// report progress. Results are plain values owned by the caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/stats.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// ---- Statistics of a leaf or a subtree ------------------------------------------------------

// Over the finite elements of the leaves taken together (complex leaves: over |z|, as
// computeStats). With no finite element, mean and std are NaN and norm and maxAbs are 0.
struct SeriesStats {
    std::uint64_t leaves = 0;  // numeric leaves aggregated (arrays and numeric scalars)
    std::uint64_t count = 0;   // all elements
    std::uint64_t finite = 0;  // elements that are neither NaN nor ±Inf
    std::uint64_t nan = 0;
    std::uint64_t inf = 0;  // +Inf and −Inf
    double norm = 0;        // L2 norm, sqrt(Σ x²)
    double mean = 0;
    double std = 0;  // population standard deviation, as numpy's default
    double maxAbs = 0;
};

// One leaf's statistics as SeriesStats (leaves = 1). The norm is sqrt(n·(std² + mean²)) over the
// n finite elements: a sum of two non-negative terms, so no cancellation.
SeriesStats seriesStatsOf(const ArrayStats& stats);

// The statistics of `a`'s and `b`'s elements together (Chan et al.'s parallel merge of the
// moments), as if the elements had been concatenated.
SeriesStats mergeSeriesStats(const SeriesStats& a, const SeriesStats& b);

// ---- The cache ------------------------------------------------------------------------------

// Identity of one step's data: its canonical path plus a hash of the relative path, size and
// modification time (nanoseconds) of every regular file at or under it (for a flax
// `checkpoint_<step>` file, that one file). Any file of the step written, truncated, replaced,
// added or removed gives a different identity, and with it a miss in the cache; so does moving
// the run. Not detected: a same-size rewrite whose modification time is restored afterwards.
// Costs one stat per file, no reads. IoError when `stepPath` cannot be listed.
Result<std::string> stepDataIdentity(const std::filesystem::path& stepPath);

// Per-leaf ArrayStats keyed by (stepDataIdentity, key path of the leaf). Invalidation is by key:
// a changed step has a new identity, so its old entries are never found again and age out of the
// least-recently-used list once `capacity` entries are held. clear() empties it.
//
// Thread-safe: every member may be called from several threads at once. Two threads that miss
// the same leaf at the same time both compute it; the second insert wins (the values are equal).
class StatsCache {
public:
    static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 18;  // ~256k leaves

    explicit StatsCache(std::size_t capacity = kDefaultCapacity);
    ~StatsCache();
    StatsCache(const StatsCache&) = delete;
    StatsCache& operator=(const StatsCache&) = delete;

    // The process-wide cache the CLI and the GUI share (the default of SeriesOptions::cache).
    static StatsCache& shared();

    // A hit also marks the entry most recently used.
    std::optional<ArrayStats> find(std::string_view stepIdentity, const KeyPath& leaf);
    void insert(std::string_view stepIdentity, const KeyPath& leaf, const ArrayStats& stats);
    void clear();

    struct Counters {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t entries = 0;
    };
    Counters counters() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Statistics of the numeric leaves at or under `node` (which sits at `path` in its tree). Each
// leaf is looked up in `cache` under `stepIdentity` and, when missing, streamed through
// computeStats and stored (cache may be null: nothing is kept). Strings, bytes and plain Nones
// are skipped. Errors: InvalidArgument when the subtree holds no numeric leaf; the read error of
// the first leaf that cannot be read (an Orbax None carrying an "error" attribute, an array whose
// metadata or data cannot be read), with the leaf's key path as context; Cancelled. Progress is
// bytes of array data read of the bytes to read (cached leaves count for nothing).
// `leavesRead`, when given, receives how many leaves were computed rather than found.
Result<SeriesStats> subtreeStats(const NodePtr& node, const KeyPath& path, StatsCache* cache,
                                 std::string_view stepIdentity, const CancelToken* cancel = nullptr,
                                 const ProgressFn& progress = {},
                                 std::uint64_t* leavesRead = nullptr);

// ---- A series over the steps of a run -------------------------------------------------------

struct SeriesPoint {
    std::string step;  // as written, e.g. "1000"
    std::filesystem::path path;
    bool complete = true;
    // Absent when `error` says why: the step is incomplete (an unfinished save) or cannot be
    // opened, the key path is not in it, or one of its leaves cannot be read.
    std::optional<SeriesStats> stats;
    std::string error;
    std::uint64_t leavesRead = 0;  // leaves computed from data for this point (0: all cached)
};

struct RunSeries {
    std::filesystem::path root;
    std::string format;
    KeyPath keyPath;
    std::vector<SeriesPoint> points;  // every step of the run in step order
};

struct SeriesOptions {
    std::string format;  // empty = detect
    // Where per-leaf statistics are looked up and stored; null = no caching.
    StatsCache* cache = &StatsCache::shared();
    // Called with each point as soon as it is done, in step order, on the calling thread (a GUI
    // can plot while the rest is read).
    std::function<void(const SeriesPoint&)> onPoint;
};

// The statistics of `keyPath` (a leaf or a subtree; empty = the whole tree) at every step of the
// run directory `runDir`. Each step is opened directly (its StepEntry path) with the run's
// format. A step that fails in any way gives a point with an error; the series fails only when
// `runDir` cannot be opened or is not a run directory (InvalidArgument), or on cancel.
// Progress is (steps done, steps).
Result<RunSeries> computeRunSeries(const std::filesystem::path& runDir, const KeyPath& keyPath,
                                   const SeriesOptions& options = {},
                                   const CancelToken* cancel = nullptr,
                                   const ProgressFn& progress = {});

// ---- What changed most between two steps ----------------------------------------------------

// One numeric leaf whose values differ between step A and step B (same dtype and shape). Over
// the finite pairs, as ValueDiff.
struct LeafChange {
    KeyPath path;
    std::uint64_t count = 0;  // elements
    double normA = 0;
    double normB = 0;
    double diffNorm = 0;  // ‖b − a‖
    // ‖b − a‖ / ‖a‖; +inf when ‖a‖ = 0 and the values differ.
    double relativeChange = 0;
    double maxAbsDiff = 0;
    // Positions where only one side is NaN/±Inf (or infinities of opposite sign): a leaf with
    // any ranks above every finite change.
    std::uint64_t nonFiniteMismatch = 0;
};

struct StepChanges {
    std::string stepA;
    std::string stepB;
    // Most changed first: non-finite mismatches, then relativeChange, then maxAbsDiff, then key
    // path; at most ChangesOptions::topK entries.
    std::vector<LeafChange> top;
    std::uint64_t leavesCompared = 0;  // leaf pairs of equal structure whose values were compared
    std::uint64_t leavesChanged = 0;   // of those, the ones whose values differ (top is a prefix)
    std::vector<DiffEntry> onlyInA;    // subtrees in step A only (DiffSide::leafCount leaves)
    std::vector<DiffEntry> onlyInB;
    // Kind/dtype/shape changes, leaves that could not be read (kNotCompared, with the error) and
    // non-numeric leaves (strings, bytes) whose values differ.
    std::vector<DiffEntry> otherChanges;
};

struct ChangesOptions {
    std::size_t topK = 20;  // 0 = all changed leaves
    std::string format;     // empty = detect
};

// Ranks the kValuesDiffer entries of a diff made with DiffOptions::numbers (pure; no I/O).
StepChanges rankChanges(const TreeDiff& diff, std::size_t topK);

// Opens steps `stepA` and `stepB` of `runDir`, diffs them (diffTrees, values with numbers) and
// ranks the result. NotFound / InvalidArgument when a step is absent or incomplete; Cancelled.
// Progress is diffTrees': bytes of A compared.
Result<StepChanges> compareRunSteps(const std::filesystem::path& runDir, const std::string& stepA,
                                    const std::string& stepB, const ChangesOptions& options = {},
                                    const CancelToken* cancel = nullptr,
                                    const ProgressFn& progress = {});

}  // namespace ckpt
