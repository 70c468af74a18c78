// Run series, the per-leaf statistics cache and step-to-step change ranking
// (ckpt/core/run_series.h). The only I/O here is opening steps through the format registry,
// reading arrays through computeStats/diffTrees and stat()ing files for a step's identity.
#include "ckpt/core/run_series.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "ckpt/core/format.h"

namespace ckpt {

namespace fs = std::filesystem;

// ---- Statistics -----------------------------------------------------------------------------

SeriesStats seriesStatsOf(const ArrayStats& s) {
    SeriesStats out;
    out.leaves = 1;
    out.count = s.count;
    out.finite = s.finite;
    out.nan = s.nan;
    out.inf = s.posInf + s.negInf;
    if (s.finite == 0) {
        out.mean = out.std = std::numeric_limits<double>::quiet_NaN();
        return out;
    }
    const auto n = static_cast<double>(s.finite);
    out.mean = s.mean;
    out.std = s.std;
    out.norm = std::sqrt(n * (s.std * s.std + s.mean * s.mean));
    out.maxAbs = std::max(std::abs(s.min), std::abs(s.max));
    return out;
}

SeriesStats mergeSeriesStats(const SeriesStats& a, const SeriesStats& b) {
    SeriesStats out;
    out.leaves = a.leaves + b.leaves;
    out.count = a.count + b.count;
    out.finite = a.finite + b.finite;
    out.nan = a.nan + b.nan;
    out.inf = a.inf + b.inf;
    out.norm = std::hypot(a.norm, b.norm);
    out.maxAbs = std::max(a.maxAbs, b.maxAbs);
    if (a.finite == 0 || b.finite == 0) {
        const SeriesStats& some = a.finite == 0 ? b : a;
        out.mean = some.mean;
        out.std = some.std;
        return out;
    }
    const auto na = static_cast<double>(a.finite);
    const auto nb = static_cast<double>(b.finite);
    const double n = na + nb;
    const double delta = b.mean - a.mean;
    const double m2 = a.std * a.std * na + b.std * b.std * nb + delta * delta * na * nb / n;
    out.mean = a.mean + delta * nb / n;
    out.std = std::sqrt(m2 / n);
    return out;
}

// ---- Step identity --------------------------------------------------------------------------

namespace {

// FNV-1a, 64 bit: stable across runs and platforms (std::hash is neither promised).
struct Fnv1a {
    std::uint64_t h = 1469598103934665603ULL;
    void add(const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= p[i];
            h *= 1099511628211ULL;
        }
    }
    void add(std::string_view s) {
        add(s.data(), s.size());
        add("\0", 1);
    }
    void add(std::uint64_t v) { add(&v, sizeof v); }
};

struct FileStamp {
    std::string relative;
    std::uint64_t size = 0;
    std::int64_t mtime = 0;
    bool operator<(const FileStamp& o) const { return relative < o.relative; }
};

Result<FileStamp> stampOf(const fs::path& file, std::string relative) {
    std::error_code ec;
    FileStamp stamp;
    stamp.relative = std::move(relative);
    stamp.size = fs::file_size(file, ec);
    if (ec) return ioError("cannot stat '" + file.string() + "': " + ec.message());
    const auto time = fs::last_write_time(file, ec);
    if (ec) return ioError("cannot stat '" + file.string() + "': " + ec.message());
    stamp.mtime = static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count());
    return stamp;
}

}  // namespace

Result<std::string> stepDataIdentity(const fs::path& stepPath) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(fs::absolute(stepPath, ec), ec);
    if (ec) return ioError("cannot resolve '" + stepPath.string() + "': " + ec.message());
    std::vector<FileStamp> stamps;
    if (fs::is_regular_file(canonical, ec)) {
        CKPT_ASSIGN_OR_RETURN(FileStamp stamp, stampOf(canonical, "."));
        stamps.push_back(std::move(stamp));
    } else if (fs::is_directory(canonical, ec)) {
        fs::recursive_directory_iterator it(canonical, ec);
        if (ec) return ioError("cannot list '" + canonical.string() + "': " + ec.message());
        for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) break;
            std::error_code typeEc;
            if (!it->is_regular_file(typeEc)) continue;
            CKPT_ASSIGN_OR_RETURN(
                FileStamp stamp,
                stampOf(it->path(), it->path().lexically_relative(canonical).generic_string()));
            stamps.push_back(std::move(stamp));
        }
        if (ec) return ioError("cannot list '" + canonical.string() + "': " + ec.message());
    } else {
        return ioError("'" + stepPath.string() + "' is neither a file nor a directory");
    }
    std::sort(stamps.begin(), stamps.end());
    Fnv1a hash;
    for (const FileStamp& s : stamps) {
        hash.add(s.relative);
        hash.add(s.size);
        hash.add(static_cast<std::uint64_t>(s.mtime));
    }
    char tail[48];
    std::snprintf(tail, sizeof tail, "#%016llx/%zu", static_cast<unsigned long long>(hash.h),
                  stamps.size());
    return canonical.string() + tail;
}

// ---- The cache ------------------------------------------------------------------------------

struct StatsCache::Impl {
    using Entry = std::pair<std::string, ArrayStats>;
    std::size_t capacity;
    mutable std::mutex mutex;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;

    static std::string keyOf(std::string_view identity, const KeyPath& leaf) {
        std::string key(identity);
        key += '\n';  // never part of an identity (a path) or of the key path text below
        key += formatKeyPath(leaf);
        return key;
    }
};

StatsCache::StatsCache(std::size_t capacity) : m_impl(std::make_unique<Impl>()) {
    m_impl->capacity = std::max<std::size_t>(capacity, 1);
}

StatsCache::~StatsCache() = default;

StatsCache& StatsCache::shared() {
    static StatsCache cache;
    return cache;
}

std::optional<ArrayStats> StatsCache::find(std::string_view stepIdentity, const KeyPath& leaf) {
    const std::string key = Impl::keyOf(stepIdentity, leaf);
    std::lock_guard lock(m_impl->mutex);
    auto it = m_impl->index.find(key);
    if (it == m_impl->index.end()) {
        ++m_impl->misses;
        return std::nullopt;
    }
    ++m_impl->hits;
    m_impl->lru.splice(m_impl->lru.begin(), m_impl->lru, it->second);
    return it->second->second;
}

void StatsCache::insert(std::string_view stepIdentity, const KeyPath& leaf,
                        const ArrayStats& stats) {
    std::string key = Impl::keyOf(stepIdentity, leaf);
    std::lock_guard lock(m_impl->mutex);
    auto it = m_impl->index.find(key);
    if (it != m_impl->index.end()) {
        it->second->second = stats;
        m_impl->lru.splice(m_impl->lru.begin(), m_impl->lru, it->second);
        return;
    }
    m_impl->lru.emplace_front(key, stats);
    m_impl->index.emplace(std::move(key), m_impl->lru.begin());
    while (m_impl->lru.size() > m_impl->capacity) {
        m_impl->index.erase(m_impl->lru.back().first);
        m_impl->lru.pop_back();
    }
}

void StatsCache::clear() {
    std::lock_guard lock(m_impl->mutex);
    m_impl->index.clear();
    m_impl->lru.clear();
}

StatsCache::Counters StatsCache::counters() const {
    std::lock_guard lock(m_impl->mutex);
    return {m_impl->hits, m_impl->misses, m_impl->lru.size()};
}

// ---- Subtree statistics ---------------------------------------------------------------------

namespace {

struct NumericLeaf {
    KeyPath path;
    const Node* node;
};

// The numeric leaves at or under `node`, in walk order; the first "error" None is an error.
Result<std::vector<NumericLeaf>> numericLeaves(const NodePtr& node, const KeyPath& base) {
    std::vector<NumericLeaf> leaves;
    Status missing;
    walkTree(node, [&](const KeyPath& rel, const Node& n) {
        if (!missing.isOk()) return false;
        KeyPath full = base;
        full.insert(full.end(), rel.begin(), rel.end());
        if (n.kind() == NodeKind::kArray && n.array()) {
            leaves.push_back({std::move(full), &n});
        } else if (n.kind() == NodeKind::kScalar) {
            leaves.push_back({std::move(full), &n});
        } else if (const std::string* error = n.attribute("error");
                   n.kind() == NodeKind::kNone && error != nullptr && missing.isOk()) {
            missing = notFoundError(describeKeyPath(full) +
                                    ": the metadata names this leaf but its data cannot be "
                                    "opened: " + *error);
        }
        return true;
    });
    if (!missing.isOk()) return missing;
    return leaves;
}

Result<ArrayStats> leafStats(const Node& node, const CancelToken* cancel,
                             const ProgressFn& progress) {
    if (node.kind() == NodeKind::kScalar) {
        CKPT_ASSIGN_OR_RETURN(Scalar s, node.loadScalar());
        CKPT_ASSIGN_OR_RETURN(Array array, Array::fromBytes(s.dtype(), {}, s.bits()));
        return computeStats(array);
    }
    return computeStats(*node.array(), cancel, progress);
}

}  // namespace

Result<SeriesStats> subtreeStats(const NodePtr& node, const KeyPath& path, StatsCache* cache,
                                 std::string_view stepIdentity, const CancelToken* cancel,
                                 const ProgressFn& progress, std::uint64_t* leavesRead) {
    if (leavesRead) *leavesRead = 0;
    if (!node) return invalidArgumentError("null subtree");
    CKPT_ASSIGN_OR_RETURN(std::vector<NumericLeaf> leaves, numericLeaves(node, path));
    if (leaves.empty()) {
        return invalidArgumentError(describeKeyPath(path) +
                                    " holds no numeric leaf (array or number)");
    }
    // Cached leaves first, so that the progress total is only what will be read.
    std::vector<std::optional<ArrayStats>> found(leaves.size());
    std::uint64_t totalBytes = 0;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        if (cache) found[i] = cache->find(stepIdentity, leaves[i].path);
        const Node& n = *leaves[i].node;
        if (!found[i] && n.kind() == NodeKind::kArray) totalBytes += n.array()->byteSize();
    }
    SeriesStats total;
    total.mean = total.std = std::numeric_limits<double>::quiet_NaN();
    std::uint64_t doneBytes = 0;
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        if (isCancelled(cancel)) return cancelledError("statistics cancelled");
        if (!found[i]) {
            const Node& n = *leaves[i].node;
            if (n.kind() == NodeKind::kArray) {
                if (const Status error = n.array()->metadataStatus(); !error.isOk()) {
                    return error.withContext(describeKeyPath(leaves[i].path));
                }
            }
            ProgressFn inner;
            if (progress) {
                inner = [&, base = doneBytes](std::uint64_t done, std::uint64_t) {
                    progress(base + done, totalBytes);
                };
            }
            auto stats = leafStats(n, cancel, inner);
            if (!stats.isOk()) {
                if (stats.status().code() == StatusCode::kCancelled) return stats.status();
                return stats.status().withContext(describeKeyPath(leaves[i].path));
            }
            if (n.kind() == NodeKind::kArray) doneBytes += n.array()->byteSize();
            if (progress) progress(doneBytes, totalBytes);
            if (cache) cache->insert(stepIdentity, leaves[i].path, *stats);
            if (leavesRead) ++*leavesRead;
            found[i] = *stats;
        }
        total = mergeSeriesStats(total, seriesStatsOf(*found[i]));
    }
    return total;
}

// ---- Series ---------------------------------------------------------------------------------

namespace {

void computePoint(SeriesPoint& point, const Checkpoint* opened, const std::string& format,
                  const KeyPath& keyPath, StatsCache* cache, const CancelToken* cancel,
                  Status& cancelled) {
    if (!point.complete) {
        point.error = "step " + point.step + " is incomplete (an unfinished or crashed save)";
        return;
    }
    // The identity is taken before opening: a step rewritten while it is read then gets a new
    // identity on the next request instead of keeping numbers of the old data.
    auto identity = stepDataIdentity(point.path);
    if (!identity.isOk()) {
        point.error = identity.status().toString();
        return;
    }
    std::optional<Checkpoint> ownOpen;
    if (!opened) {
        auto ckpt = openCheckpoint(point.path, {}, format);
        if (!ckpt.isOk()) {
            point.error = "cannot open step " + point.step + ": " + ckpt.status().toString();
            return;
        }
        ownOpen = std::move(*ckpt);
        opened = &*ownOpen;
    }
    auto node = findNode(opened->tree, keyPath);
    if (!node.isOk()) {
        point.error = "step " + point.step + ": " + node.status().message();
        return;
    }
    auto stats = subtreeStats(*node, keyPath, cache, *identity, cancel, {}, &point.leavesRead);
    if (!stats.isOk()) {
        if (stats.status().code() == StatusCode::kCancelled) {
            cancelled = stats.status();
            return;
        }
        point.error = stats.status().toString();
        return;
    }
    point.stats = *stats;
}

}  // namespace

Result<RunSeries> computeRunSeries(const fs::path& runDir, const KeyPath& keyPath,
                                   const SeriesOptions& options, const CancelToken* cancel,
                                   const ProgressFn& progress) {
    CKPT_ASSIGN_OR_RETURN(Checkpoint latest, openCheckpoint(runDir, {}, options.format));
    if (latest.steps.empty()) {
        return invalidArgumentError("'" + runDir.string() +
                                    "' is a single checkpoint, not a run directory of steps "
                                    "(an Orbax CheckpointManager root or flax checkpoint_<step> "
                                    "files)");
    }
    RunSeries series;
    series.root = runDir;
    series.format = latest.format;
    series.keyPath = keyPath;
    const std::uint64_t total = latest.steps.size();
    for (const StepEntry& entry : latest.steps) {
        if (isCancelled(cancel)) return cancelledError("run series cancelled");
        SeriesPoint point;
        point.step = entry.step;
        point.path = entry.path;
        point.complete = entry.complete;
        // The step openCheckpoint already opened is not opened twice.
        const bool isLatest = entry.complete && latest.step && *latest.step == entry.step &&
                              latest.path == entry.path;
        Status cancelled;
        computePoint(point, isLatest ? &latest : nullptr, latest.format, keyPath, options.cache,
                     cancel, cancelled);
        if (!cancelled.isOk()) return cancelled;
        if (options.onPoint) options.onPoint(point);
        series.points.push_back(std::move(point));
        if (progress) progress(series.points.size(), total);
    }
    return series;
}

// ---- Changes between two steps --------------------------------------------------------------

StepChanges rankChanges(const TreeDiff& diff, std::size_t topK) {
    StepChanges out;
    out.leavesCompared = diff.leavesCompared;
    std::vector<LeafChange> changed;
    for (const DiffEntry& e : diff.entries) {
        switch (e.change) {
            case DiffChange::kOnlyInA:
                out.onlyInA.push_back(e);
                break;
            case DiffChange::kOnlyInB:
                out.onlyInB.push_back(e);
                break;
            case DiffChange::kEqual:
                break;
            case DiffChange::kValuesDiffer:
                if (!e.values || !e.values->hasNumbers) {
                    out.otherChanges.push_back(e);  // strings and bytes
                    break;
                }
                {
                    const ValueDiff& v = *e.values;
                    LeafChange c;
                    c.path = e.path;
                    c.count = v.count;
                    c.normA = v.normA;
                    c.normB = v.normB;
                    c.diffNorm = v.diffNorm;
                    if (v.normA > 0) {
                        c.relativeChange = v.diffNorm / v.normA;
                    } else {
                        c.relativeChange =
                            v.diffNorm > 0 ? std::numeric_limits<double>::infinity() : 0.0;
                    }
                    c.maxAbsDiff = v.maxAbsDiff;
                    c.nonFiniteMismatch = v.nonFiniteMismatch;
                    changed.push_back(std::move(c));
                }
                break;
            default:
                out.otherChanges.push_back(e);
                break;
        }
    }
    out.leavesChanged = changed.size();
    auto moreChanged = [](const LeafChange& a, const LeafChange& b) {
        const bool nfA = a.nonFiniteMismatch > 0;
        const bool nfB = b.nonFiniteMismatch > 0;
        if (nfA != nfB) return nfA;
        if (a.relativeChange != b.relativeChange) return a.relativeChange > b.relativeChange;
        if (a.maxAbsDiff != b.maxAbsDiff) return a.maxAbsDiff > b.maxAbsDiff;
        return a.path < b.path;
    };
    const std::size_t keep = topK == 0 ? changed.size() : std::min(topK, changed.size());
    std::partial_sort(changed.begin(), changed.begin() + static_cast<std::ptrdiff_t>(keep),
                      changed.end(), moreChanged);
    changed.resize(keep);
    out.top = std::move(changed);
    return out;
}

Result<StepChanges> compareRunSteps(const fs::path& runDir, const std::string& stepA,
                                    const std::string& stepB, const ChangesOptions& options,
                                    const CancelToken* cancel, const ProgressFn& progress) {
    auto open = [&](const std::string& step) -> Result<Checkpoint> {
        OpenOptions o;
        o.step = step;
        auto ckpt = openCheckpoint(runDir, o, options.format);
        if (!ckpt.isOk()) return ckpt.status();
        if (ckpt->steps.empty()) {
            return invalidArgumentError("'" + runDir.string() +
                                        "' is a single checkpoint, not a run directory of steps");
        }
        return ckpt;
    };
    CKPT_ASSIGN_OR_RETURN(Checkpoint a, open(stepA));
    CKPT_ASSIGN_OR_RETURN(Checkpoint b, open(stepB));
    DiffOptions diffOptions;
    diffOptions.values = true;
    diffOptions.numbers = true;
    CKPT_ASSIGN_OR_RETURN(TreeDiff diff, diffTrees(a.tree, b.tree, diffOptions, cancel, progress));
    StepChanges changes = rankChanges(diff, options.topK);
    changes.stepA = a.step.value_or(stepA);
    changes.stepB = b.step.value_or(stepB);
    return changes;
}

}  // namespace ckpt
