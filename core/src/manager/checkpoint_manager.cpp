#include "ckpt/core/checkpoint_manager.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <numeric>

#include <nlohmann/json.hpp>

#include "formats/orbax/orbax_writer.h"
#include "formats/orbax/python_json.h"
#include "io/atomic_file.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTmpMarker = ".orbax-checkpoint-tmp";
constexpr const char* kMetricsItem = "metrics";  // Orbax's METRIC_ITEM_NAME and file name

std::string prefixWithUnderscore(std::string_view prefix) {
    return prefix.empty() ? std::string() : std::string(prefix) + "_";
}

// Orbax's StandardNameFormat without fixed length: `^<prefix_>(0|[1-9]\d*)$`.
std::optional<std::int64_t> parseStepName(std::string_view name, std::string_view prefix) {
    const std::string p = prefixWithUnderscore(prefix);
    if (name.substr(0, p.size()) != p) return std::nullopt;
    const std::string_view digits = name.substr(p.size());
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    std::int64_t step = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return step;
}

std::optional<std::string> readText(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Numeric top-level entries of Orbax's metrics JSON; nullopt when there is no metrics file or
// it is not a JSON object (Orbax then has no metrics for the step either).
std::optional<Metrics> readMetrics(const fs::path& stepDir) {
    auto text = readText(stepDir / kMetricsItem / kMetricsItem);
    if (!text) return std::nullopt;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    Metrics m;
    for (const auto& [k, v] : j.items()) {
        if (v.is_number()) m[k] = v.get<double>();
    }
    return m;
}

std::optional<double> metricOf(const ManagedStep& s, const std::string& name) {
    if (!s.metrics) return std::nullopt;
    auto it = s.metrics->find(name);
    if (it == s.metrics->end()) return std::nullopt;
    return it->second;
}

// Indices of the steps that have the metric, sorted as Orbax's BestN / _sort_checkpoints_by_metrics
// sort them: stable, increasing quality, so the best is last (min mode: Python's reverse=True,
// which keeps equal elements in their original order).
std::vector<std::size_t> sortedByMetric(const std::vector<ManagedStep>& steps,
                                        const RetentionPolicy& policy) {
    std::vector<std::size_t> with;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (metricOf(steps[i], *policy.bestMetric)) with.push_back(i);
    }
    const bool minMode = policy.bestMode == BestMode::kMin;
    std::stable_sort(with.begin(), with.end(), [&](std::size_t a, std::size_t b) {
        const double ma = *metricOf(steps[a], *policy.bestMetric);
        const double mb = *metricOf(steps[b], *policy.bestMetric);
        return minMode ? ma > mb : ma < mb;
    });
    return with;
}

std::uint64_t directoryBytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code sizeEc;
        if (it->is_regular_file(sizeEc)) {
            const auto size = it->file_size(sizeEc);
            if (!sizeEc) total += size;
        }
    }
    return total;
}

}  // namespace

Result<std::vector<ManagedStep>> listSteps(const fs::path& root, std::string_view stepPrefix,
                                           bool withSizes) {
    std::vector<ManagedStep> steps;
    std::error_code ec;
    if (!fs::exists(root, ec)) return steps;
    fs::directory_iterator it(root, ec);
    if (ec) return ioError("cannot list '" + root.string() + "': " + ec.message());
    for (const fs::directory_entry& entry : it) {
        const std::string name = entry.path().filename().string();
        if (name.find(kTmpMarker) != std::string::npos) continue;  // unfinished or being deleted
        std::error_code dirEc;
        if (!entry.is_directory(dirEc)) continue;
        const auto step = parseStepName(name, stepPrefix);
        if (!step) continue;
        ManagedStep s;
        s.step = *step;
        s.path = entry.path();
        if (auto text = readText(s.path / "_CHECKPOINT_METADATA")) {
            auto j = nlohmann::json::parse(*text, nullptr, false);
            if (!j.is_discarded() && j.is_object()) {
                if (j.contains("init_timestamp_nsecs") && j["init_timestamp_nsecs"].is_number_integer()) {
                    s.initTimestampNs = j["init_timestamp_nsecs"].get<std::int64_t>();
                }
                if (j.contains("commit_timestamp_nsecs") && j["commit_timestamp_nsecs"].is_number_integer()) {
                    s.commitTimestampNs = j["commit_timestamp_nsecs"].get<std::int64_t>();
                }
            }
        }
        s.metrics = readMetrics(s.path);
        std::error_code itemEc;
        for (const auto& sub : fs::directory_iterator(s.path, itemEc)) {
            std::error_code subEc;
            const std::string item = sub.path().filename().string();
            if (sub.is_directory(subEc) && item != kMetricsItem) s.items.push_back(item);
        }
        std::sort(s.items.begin(), s.items.end());
        if (withSizes) s.bytes = directoryBytes(s.path);
        steps.push_back(std::move(s));
    }
    std::sort(steps.begin(), steps.end(),
              [](const ManagedStep& a, const ManagedStep& b) { return a.step < b.step; });
    return steps;
}

std::vector<bool> preservedSteps(const std::vector<ManagedStep>& steps,
                                 const RetentionPolicy& policy) {
    const std::size_t n = steps.size();
    std::vector<bool> keep(n, false);
    // EveryNSteps(keep_period), exact interval.
    if (policy.keepPeriod && *policy.keepPeriod > 0) {
        for (std::size_t i = 0; i < n; ++i) {
            if (steps[i].step % *policy.keepPeriod == 0) keep[i] = true;
        }
    }
    const auto maxToKeep = static_cast<std::size_t>(std::max(policy.maxToKeep, 0));
    if (maxToKeep == 0 || n <= maxToKeep) {  // max_to_keep=None, or not more than that many
        std::fill(keep.begin(), keep.end(), true);
        return keep;
    }
    if (policy.bestMetric) {
        // BestN: the best max_to_keep by the metric, plus (optionally) steps without it.
        const std::vector<std::size_t> sorted = sortedByMetric(steps, policy);
        const std::size_t from = sorted.size() > maxToKeep ? sorted.size() - maxToKeep : 0;
        for (std::size_t k = from; k < sorted.size(); ++k) keep[sorted[k]] = true;
        if (policy.keepCheckpointsWithoutMetrics) {
            for (std::size_t i = 0; i < n; ++i) {
                if (!metricOf(steps[i], *policy.bestMetric)) keep[i] = true;
            }
        }
    } else {
        // LatestN.
        for (std::size_t i = n - maxToKeep; i < n; ++i) keep[i] = true;
    }
    return keep;
}

std::optional<std::int64_t> bestStep(const std::vector<ManagedStep>& steps,
                                     const RetentionPolicy& policy) {
    if (steps.empty()) return std::nullopt;
    if (!policy.bestMetric) return steps.back().step;
    const std::vector<std::size_t> sorted = sortedByMetric(steps, policy);
    if (sorted.empty()) return std::nullopt;
    return steps[sorted.back()].step;
}

Status deleteManagedStep(const fs::path& root, std::int64_t step, std::string_view stepPrefix) {
    CKPT_ASSIGN_OR_RETURN(fs::path detached, detachManagedStep(root, step, stepPrefix));
    return removeDetachedStep(detached).withContext("deleting step " + std::to_string(step));
}

Result<fs::path> detachManagedStep(const fs::path& root, std::int64_t step,
                                   std::string_view stepPrefix) {
    CKPT_ASSIGN_OR_RETURN(std::vector<ManagedStep> steps, listSteps(root, stepPrefix, false));
    for (const ManagedStep& s : steps) {
        if (s.step != step) continue;
        auto detached = orbax::detachStep(s.path);
        if (!detached.isOk()) {
            return detached.status().withContext("deleting step " + std::to_string(step));
        }
        if (detached->empty()) break;  // gone since it was listed
        return detached;
    }
    return notFoundError("'" + root.string() + "' has no committed step " + std::to_string(step));
}

Status removeDetachedStep(const fs::path& detached) {
    if (detached.empty()) return okStatus();
    // Only what detachManagedStep made: never a path that is still a step, or anything else.
    if (!orbax::isDetachedStep(detached)) {
        return invalidArgumentError("'" + detached.string() + "' is not a detached step");
    }
    return io::removePath(detached);
}

Result<std::vector<std::int64_t>> pruneSteps(const fs::path& root, const RetentionPolicy& policy,
                                             bool dryRun, std::string_view stepPrefix) {
    if (!dryRun) orbax::finishInterruptedDeletions(root);
    CKPT_ASSIGN_OR_RETURN(std::vector<ManagedStep> steps, listSteps(root, stepPrefix, false));
    const std::vector<bool> keep = preservedSteps(steps, policy);
    std::vector<std::int64_t> removed;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (keep[i]) continue;
        if (!dryRun) {
            Status s = orbax::deleteStep(steps[i].path);
            if (!s.isOk()) return s.withContext("deleting step " + std::to_string(steps[i].step));
        }
        removed.push_back(steps[i].step);
    }
    return removed;
}

CheckpointManager::CheckpointManager(fs::path root, CheckpointManagerOptions options)
    : m_root(std::move(root)),
      m_options(std::move(options)),
      m_checkpointer(m_options.snapshotThreads, m_options.reuseSnapshotBuffers) {}

Result<std::unique_ptr<CheckpointManager>> CheckpointManager::open(fs::path root,
                                                                   CheckpointManagerOptions options) {
    if (options.saveIntervalSteps < 1) {
        return invalidArgumentError("save_interval_steps must be at least 1");
    }
    if (options.retention.keepPeriod && *options.retention.keepPeriod < 1) {
        return invalidArgumentError("keep_period must be at least 1");
    }
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return ioError("cannot create '" + root.string() + "': " + ec.message());
    if (options.cleanupTmpDirectories) {
        // Orbax's cleanup_temporary_paths: every temporary directory of the root goes.
        std::vector<fs::path> leftovers;
        for (const auto& entry : fs::directory_iterator(root, ec)) {
            if (entry.path().filename().string().find(kTmpMarker) != std::string::npos) {
                leftovers.push_back(entry.path());
            }
        }
        for (const auto& p : leftovers) CKPT_RETURN_IF_ERROR(io::removePath(p));
    }
    std::unique_ptr<CheckpointManager> manager(new CheckpointManager(std::move(root), std::move(options)));
    CKPT_ASSIGN_OR_RETURN(auto existing,
                          listSteps(manager->m_root, manager->m_options.stepPrefix, false));
    if (!existing.empty()) manager->m_lastSaved = existing.back().step;
    return manager;
}

fs::path CheckpointManager::stepPath(std::int64_t step) const {
    return m_root / (prefixWithUnderscore(m_options.stepPrefix) + std::to_string(step));
}

bool CheckpointManager::shouldSave(std::int64_t step) const {
    if (m_lastSaved && *m_lastSaved >= step) return false;
    return !m_lastSaved || step % m_options.saveIntervalSteps == 0;
}

Status CheckpointManager::writeStep(std::int64_t step,
                                    const std::vector<std::pair<std::string, NodePtr>>& items,
                                    const std::optional<Metrics>& metrics,
                                    const CancelToken* cancelToken,
                                    const ProgressFn& onProgress) const {
    WriteOptions o = m_options.write;
    o.step.reset();
    o.overwrite = false;
    o.cancel = cancelToken;
    o.progress = onProgress;
    std::vector<orbax::JsonItem> json;
    // As Orbax: metrics are written only when a best metric is tracked.
    if (metrics && m_options.retention.bestMetric) {
        nlohmann::ordered_json m = nlohmann::ordered_json::object();
        for (const auto& [k, v] : *metrics) m[k] = v;
        json.push_back({kMetricsItem, kMetricsItem, orbax::pythonJsonDumps(m)});
    }
    Status s = orbax::writeManagerStep(stepPath(step), items, json, o);
    if (!s.isOk()) return s.withContext("saving step " + std::to_string(step));
    // Retention after the commit: the step just written is complete, and any later save waits
    // for this one, so nothing being written is ever deleted.
    auto pruned = pruneSteps(m_root, m_options.retention, false, m_options.stepPrefix);
    return pruned.status();
}

Result<bool> CheckpointManager::save(std::int64_t step,
                                     std::vector<std::pair<std::string, NodePtr>> items,
                                     std::optional<Metrics> metrics, bool force) {
    // Orbax waits for the previous save first (and raises its error).
    CKPT_RETURN_IF_ERROR(m_checkpointer.waitUntilFinished());
    if (step < 0) return invalidArgumentError("steps are non-negative, not " + std::to_string(step));
    if (!force && !shouldSave(step)) return false;
    if (items.empty()) return invalidArgumentError("nothing to save for step " + std::to_string(step));
    for (const auto& [name, tree] : items) {
        if (name == kMetricsItem) {
            return invalidArgumentError("'metrics' is a reserved item name (Orbax's metrics item)");
        }
        if (!tree) return invalidArgumentError("item '" + name + "' has no tree");
    }
    std::error_code ec;
    if (fs::exists(stepPath(step), ec)) {
        return alreadyExistsError("checkpoint for step " + std::to_string(step) + " already exists in '" +
                                  m_root.string() + "'");
    }
    if (!m_options.async) {
        CKPT_RETURN_IF_ERROR(writeStep(step, items, metrics, nullptr, {}));
        m_lastSaved = step;
        return true;
    }
    if (m_options.snapshot == SnapshotMode::kCopy) {
        // All items in one snapshot, so that every buffer of the last one can be reused.
        std::vector<DictEntry> all;
        for (const auto& [name, tree] : items) all.push_back({name, tree});
        auto copy = snapshotTree(Node::makeDict(std::move(all)), m_options.snapshotThreads,
                                 nullptr, m_checkpointer.bufferPool());
        if (!copy.isOk()) return copy.status().withContext("step " + std::to_string(step));
        for (std::size_t i = 0; i < items.size(); ++i) items[i].second = (*copy)->child(i);
    }
    CKPT_RETURN_IF_ERROR(m_checkpointer.runAsync(
        [this, step, snapshot = std::move(items), metrics = std::move(metrics)](
            const CancelToken& token, const ProgressFn& report) {
            return writeStep(step, snapshot, metrics, &token, report);
        }));
    m_lastSaved = step;
    return true;
}

Status CheckpointManager::waitUntilFinished() { return m_checkpointer.waitUntilFinished(); }

Result<std::vector<ManagedStep>> CheckpointManager::steps() const {
    return listSteps(m_root, m_options.stepPrefix);
}

namespace {
std::vector<std::int64_t> stepNumbers(const Result<std::vector<ManagedStep>>& listed) {
    std::vector<std::int64_t> out;
    if (listed.isOk()) {
        for (const auto& s : *listed) out.push_back(s.step);
    }
    return out;
}
}  // namespace

std::vector<std::int64_t> CheckpointManager::allSteps() const {
    return stepNumbers(listSteps(m_root, m_options.stepPrefix, false));
}

std::optional<std::int64_t> CheckpointManager::latestStep() const {
    auto all = allSteps();
    if (all.empty()) return std::nullopt;
    return all.back();
}

std::optional<std::int64_t> CheckpointManager::bestStep() const {
    auto listed = listSteps(m_root, m_options.stepPrefix, false);
    if (!listed.isOk()) return std::nullopt;
    return ckpt::bestStep(*listed, m_options.retention);
}

Result<Checkpoint> CheckpointManager::restore(std::int64_t step, std::string_view item) const {
    const fs::path dir = stepPath(step);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return notFoundError("'" + m_root.string() + "' has no step " + std::to_string(step));
    }
    auto opened = openCheckpoint(dir / std::string(item), {}, "orbax");
    if (!opened.isOk()) {
        return opened.status().withContext("step " + std::to_string(step) + ", item '" +
                                           std::string(item) + "'");
    }
    opened->step = std::to_string(step);
    return opened;
}

}  // namespace ckpt
