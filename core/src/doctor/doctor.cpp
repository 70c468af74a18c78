// examineCheckpoint(): the `ckpt doctor` health check (ckpt/core/doctor.h). One pass over the
// opened tree reads every array through computeStats (streamed); in a run directory the matching
// leaves of the previous complete step are read the same way for the stats-jump check; then cheap
// structural checks (run-directory steps, Orbax _METADATA versus the stored arrays, size rollups)
// add findings.
// Stateless; everything lives on the caller's stack.
#include "ckpt/core/doctor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "ckpt/core/format.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/run_series.h"
#include "ckpt/core/stats.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/orbax/tree_metadata.h"
#include "kvstore/directory_store.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

// Size findings (stored-larger, highly-compressed) are only made for subtrees at least this big
// in memory: below it, codec headers and chunk padding dominate and the finding is noise.
constexpr std::uint64_t kMinSizeReportBytes = 64 * 1024;

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string plural(std::uint64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// One array leaf of the previous step that stats-jump compares with the examined step's.
struct PreviousLeaf {
    std::string where;  // formatKeyPath()
    ArraySourcePtr source;
};

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// Why `cur` jumped from `prev` (empty: it did not), per DoctorOptions' stats-jump rules.
std::string jumpReasons(const SeriesStats& prev, const SeriesStats& cur,
                        const DoctorOptions& options) {
    std::string reasons;
    auto add = [&](const std::string& text) { reasons += (reasons.empty() ? "" : "; ") + text; };
    const double f = options.jumpFactor;
    auto outside = [&](double ratio) { return f > 1 && (ratio > f || ratio < 1 / f); };
    if (prev.norm > 0 && outside(cur.norm / prev.norm)) {
        add("norm " + number(prev.norm) + " -> " + number(cur.norm) + " (x" +
            number(cur.norm / prev.norm) + ")");
    }
    if (prev.std > 0 && outside(cur.std / prev.std)) {
        add("std " + number(prev.std) + " -> " + number(cur.std) + " (x" +
            number(cur.std / prev.std) + ")");
    }
    const double shift = std::abs(cur.mean - prev.mean);
    if (prev.std > 0 && options.meanShiftStds > 0 && shift > options.meanShiftStds * prev.std) {
        add("mean " + number(prev.mean) + " -> " + number(cur.mean) + " (shift of " +
            number(shift / prev.std) + " previous std)");
    }
    return reasons;
}

class Examiner {
public:
    Examiner(DoctorReport& report, const CancelToken* cancel, const ProgressFn& progress)
        : m_report(report), m_cancel(cancel), m_progress(progress) {}

    void add(FindingSeverity severity, const char* code, std::string keyPath, std::string message) {
        m_report.findings.push_back({severity, code, std::move(keyPath), std::move(message)});
    }

    // Reads every leaf; fills the census and the value findings. Only cancellation fails.
    // `laterBytes` is what examineJumps() will read after it (for the progress total).
    Status examineLeaves(const NodePtr& root, std::uint64_t laterBytes) {
        struct Leaf {
            KeyPath path;
            const Node* node;
        };
        std::vector<Leaf> leaves;
        std::uint64_t totalBytes = 0;
        walkTree(root, [&](const KeyPath& path, const Node& node) {
            if (node.kind() == NodeKind::kArray && node.array()) {
                leaves.push_back({path, &node});
                totalBytes += node.array()->byteSize();
            } else if (node.kind() == NodeKind::kScalar || node.kind() == NodeKind::kNone) {
                leaves.push_back({path, &node});
            }
            return true;
        });
        m_totalBytes = totalBytes + laterBytes;
        for (const Leaf& leaf : leaves) {
            if (isCancelled(m_cancel)) return cancelledError("ckpt doctor cancelled");
            const std::string where = formatKeyPath(leaf.path);
            const Node& node = *leaf.node;
            if (node.kind() == NodeKind::kNone) {
                examineNone(node, where);
                continue;
            }
            if (node.kind() == NodeKind::kScalar) {
                CKPT_RETURN_IF_ERROR(examineScalar(node, where));
                continue;
            }
            const ArraySource& source = *node.array();
            if (const Status error = source.metadataStatus(); !error.isOk()) {
                // Orbax arrays are opened lazily: a missing or corrupt array shows up here.
                add(FindingSeverity::kError, doctor_code::kMissingData, where,
                    "the metadata names this leaf but its data cannot be opened: " +
                        error.toString());
                continue;
            }
            DTypeCensus& c = m_report.census[std::string(dtypeName(source.dtype()))];
            ++c.count;
            c.bytes += source.byteSize();
            if (!leaf.path.empty() && isFloating(source.dtype())) {
                m_floatBytes[leaf.path.front()] += source.byteSize();
            }
            auto stats = readStats(source);
            ++m_report.arraysRead;
            if (!stats.isOk()) {
                if (stats.status().code() == StatusCode::kCancelled) return stats.status();
                add(FindingSeverity::kError, doctor_code::kReadError, where,
                    "cannot read the data: " + stats.status().toString());
                continue;
            }
            examineStats(*stats, where);
            if (stats->count > 1) m_leafStats.emplace(where, seriesStatsOf(*stats));
        }
        return okStatus();
    }

    // stats-jump: `previous` (of step `step`) against the statistics examineLeaves() kept.
    Status examineJumps(const std::vector<PreviousLeaf>& previous, const std::string& step,
                        const DoctorOptions& options) {
        for (const PreviousLeaf& leaf : previous) {
            if (isCancelled(m_cancel)) return cancelledError("ckpt doctor cancelled");
            const auto it = m_leafStats.find(leaf.where);
            if (it == m_leafStats.end()) {
                // Unreadable in the examined step: already a finding; nothing to compare.
                m_doneBytes += leaf.source->byteSize();
                continue;
            }
            auto stats = readStats(*leaf.source);
            if (!stats.isOk()) {
                if (stats.status().code() == StatusCode::kCancelled) return stats.status();
                continue;  // examining that step reports it
            }
            const SeriesStats prev = seriesStatsOf(*stats);
            const SeriesStats& cur = it->second;
            if (prev.finite == 0 || cur.finite == 0) continue;
            const std::string reasons = jumpReasons(prev, cur, options);
            if (reasons.empty()) continue;
            add(FindingSeverity::kWarning, doctor_code::kStatsJump, leaf.where,
                "statistics jumped since step " + step + ": " + reasons);
        }
        return okStatus();
    }

    // Reader warnings that are not already reported as a missing-data finding.
    void addOpenWarnings(const std::vector<std::string>& warnings) {
        for (const std::string& w : warnings) {
            const bool covered = std::any_of(m_errors.begin(), m_errors.end(), [&](const auto& e) {
                return w.size() >= e.size() && w.compare(w.size() - e.size(), e.size(), e) == 0;
            });
            if (!covered) add(FindingSeverity::kWarning, doctor_code::kOpenWarning, {}, w);
        }
    }

    // Per top-level subtree: stored bytes far from the in-memory size.
    Status examineSizes(const NodePtr& root, double compressedFactor) {
        if (!root || !root->isContainer()) return okStatus();
        CKPT_ASSIGN_OR_RETURN(TreeRollups rollups, computeRollups(root, m_cancel));
        for (std::size_t i = 0; i < root->childCount(); ++i) {
            const std::string key = root->childKey(i);
            const NodeRollup r = rollups.rollupOf(*root->child(i));
            if (r.unknownStored != 0 || r.memoryBytes < kMinSizeReportBytes) continue;
            const std::string where = formatKeyPath({key});
            if (r.storedBytes > r.memoryBytes) {
                add(FindingSeverity::kInfo, doctor_code::kStoredLarger, where,
                    "subtree '" + key + "' takes " + std::to_string(r.storedBytes) +
                        " bytes on disk for " + std::to_string(r.memoryBytes) +
                        " bytes in memory (compression did not pay off)");
            } else if (static_cast<double>(r.storedBytes) * compressedFactor <
                           static_cast<double>(r.memoryBytes) &&
                       m_floatBytes[key] * 2 >= r.memoryBytes) {
                add(FindingSeverity::kInfo, doctor_code::kHighlyCompressed, where,
                    "subtree '" + key + "' takes " + std::to_string(r.storedBytes) +
                        " bytes on disk for " + std::to_string(r.memoryBytes) +
                        " bytes of mostly floating-point data in memory (much zero or "
                        "repeated data?)");
            }
        }
        return okStatus();
    }

private:
    // computeStats with progress continuing over everything this examination reads.
    Result<ArrayStats> readStats(const ArraySource& source) {
        const std::uint64_t base = m_doneBytes;
        ProgressFn inner;
        if (m_progress) {
            inner = [&](std::uint64_t done, std::uint64_t) {
                m_progress(base + done, m_totalBytes);
            };
        }
        auto stats = computeStats(source, m_cancel, inner);
        m_doneBytes += source.byteSize();
        if (m_progress) m_progress(m_doneBytes, m_totalBytes);
        return stats;
    }

    void examineNone(const Node& node, const std::string& where) {
        const std::string* error = node.attribute("error");
        if (error == nullptr) return;
        m_errors.push_back(*error);
        add(FindingSeverity::kError, doctor_code::kMissingData, where,
            "the metadata names this leaf but its data cannot be opened: " + *error);
    }

    Status examineScalar(const Node& node, const std::string& where) {
        DTypeCensus& c = m_report.census[std::string(dtypeName(node.scalarDType()))];
        ++c.count;
        c.bytes += itemSize(node.scalarDType());
        auto value = node.loadScalar();
        if (!value.isOk()) {
            if (value.status().code() == StatusCode::kCancelled) return value.status();
            add(FindingSeverity::kError, doctor_code::kReadError, where,
                "cannot read scalar: " + value.status().toString());
            return okStatus();
        }
        if (isFloating(value->dtype()) || isComplex(value->dtype())) {
            const std::complex<double> z = value->toComplex();
            if (std::isnan(z.real()) || std::isnan(z.imag())) {
                add(FindingSeverity::kError, doctor_code::kNan, where, "scalar is NaN");
            } else if (std::isinf(z.real()) || std::isinf(z.imag())) {
                add(FindingSeverity::kError, doctor_code::kInf, where, "scalar is infinite");
            }
        }
        return okStatus();
    }

    void examineStats(const ArrayStats& s, const std::string& where) {
        const std::string of = " of " + std::to_string(s.count) + " elements";
        if (s.nan > 0) {
            add(FindingSeverity::kError, doctor_code::kNan, where,
                std::to_string(s.nan) + " NaN" + of);
        }
        if (s.posInf + s.negInf > 0) {
            add(FindingSeverity::kError, doctor_code::kInf, where,
                std::to_string(s.posInf) + " +Inf and " + std::to_string(s.negInf) + " -Inf" + of);
        }
        if (s.count == 0) return;
        if (s.zeros == s.count) {
            // Info, not a warning: freshly initialised biases and optimizer moments are zeros.
            add(FindingSeverity::kInfo, doctor_code::kAllZero, where,
                "all " + plural(s.count, "element") + " are zero");
        } else if (s.count > 1 && s.finite == s.count && s.min == s.max) {
            std::ostringstream v;
            v << s.min;
            add(FindingSeverity::kInfo, doctor_code::kConstant, where,
                "all " + plural(s.count, "element") + " are " + v.str());
        }
    }

    DoctorReport& m_report;
    const CancelToken* m_cancel;
    const ProgressFn& m_progress;
    std::vector<std::string> m_errors;  // "error" attributes seen (to de-duplicate warnings)
    std::unordered_map<std::string, std::uint64_t> m_floatBytes;  // top-level key -> bytes
    std::unordered_map<std::string, SeriesStats> m_leafStats;     // arrays of > 1 element, by path
    std::uint64_t m_doneBytes = 0;
    std::uint64_t m_totalBytes = 0;
};

// The nearest complete step before `ckpt`'s own, opened, with the array leaves stats-jump
// compares: more than one element, and an array of the same shape at the same key path in
// `ckpt`. Nothing when there is no such step or it cannot be opened.
std::optional<std::pair<std::string, std::vector<PreviousLeaf>>> previousStepLeaves(
    const Checkpoint& ckpt) {
    if (!ckpt.step || ckpt.steps.empty()) return std::nullopt;
    const StepEntry* previous = nullptr;
    for (const StepEntry& s : ckpt.steps) {
        if (s.step == *ckpt.step && s.path == ckpt.path) break;
        if (s.complete) previous = &s;
    }
    if (!previous) return std::nullopt;
    auto opened = openCheckpoint(previous->path, {}, ckpt.format);
    if (!opened.isOk()) return std::nullopt;
    std::vector<PreviousLeaf> leaves;
    walkTree(opened->tree, [&](const KeyPath& path, const Node& node) {
        if (node.kind() != NodeKind::kArray || !node.array()) return true;
        const ArraySourcePtr& source = node.array();
        if (!source->metadataStatus().isOk() || source->elementCount() <= 1) return true;
        auto now = findNode(ckpt.tree, path);
        if (!now.isOk() || (*now)->kind() != NodeKind::kArray || !(*now)->array()) return true;
        const ArraySource& current = *(*now)->array();
        if (!current.metadataStatus().isOk() || current.shape() != source->shape()) return true;
        leaves.push_back({formatKeyPath(path), source});
        return true;
    });
    return std::make_pair(previous->step, std::move(leaves));
}

// The Orbax PyTree item directories of an opened checkpoint, with the key under which each item
// appears in the tree (empty for a single item).
std::vector<std::pair<fs::path, std::string>> orbaxItems(const fs::path& opened) {
    std::vector<std::pair<fs::path, std::string>> items;
    if (isFile(opened / "_METADATA")) {
        items.emplace_back(opened, std::string());
        return items;
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(opened, ec)) {
        if (e.is_directory(ec) && isFile(e.path() / "_METADATA")) {
            items.emplace_back(e.path(), e.path().filename().string());
        }
    }
    std::sort(items.begin(), items.end());
    return items;
}

Result<std::string> readSmallFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return ioError("cannot open '" + p.string() + "'");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Arrays stored in an Orbax item that its _METADATA does not name. Cheap: one key listing of
// the item's store (a directory walk, or the OCDBT b-tree without reading any value).
void findOrphanArrays(Examiner& ex, const fs::path& dir, const std::string& itemKey) {
    auto skip = [&](const std::string& why) {
        ex.add(FindingSeverity::kInfo, doctor_code::kOrphanCheckSkipped, itemKey,
               "arrays not named by '" + (dir / "_METADATA").string() +
                   "' were not looked for: " + why);
    };
    auto text = readSmallFile(dir / "_METADATA");
    if (!text.isOk()) return skip(text.status().toString());
    auto meta = orbax::parseTreeMetadata(*text, (dir / "_METADATA").string());
    if (!meta.isOk()) return skip(meta.status().toString());
    std::set<std::string> named;
    for (const auto& leaf : meta->leaves) named.insert(leaf.paramName());
    const bool ocdbt = meta->useOcdbt.value_or(isFile(dir / "manifest.ocdbt"));
    auto store = ocdbt ? ocdbt::openOcdbtStore(dir) : kv::openDirectoryStore(dir);
    if (!store.isOk()) return skip(store.status().toString());
    auto keys = (*store)->list();
    if (!keys.isOk()) return skip(keys.status().toString());
    std::set<std::string> stored;
    for (const std::string& key : *keys) {
        const std::size_t slash = key.find('/');
        if (slash == std::string::npos || slash == 0) continue;
        const std::string_view rest = std::string_view(key).substr(slash + 1);
        if (rest == ".zarray" || rest == "zarr.json") stored.insert(key.substr(0, slash));
    }
    for (const std::string& name : stored) {
        if (named.count(name)) continue;
        KeyPath path;
        if (!itemKey.empty()) path.push_back(itemKey);
        std::size_t start = 0;
        while (start <= name.size()) {
            const std::size_t dot = std::min(name.find('.', start), name.size());
            path.push_back(name.substr(start, dot - start));
            start = dot + 1;
        }
        ex.add(FindingSeverity::kWarning, doctor_code::kOrphanArray, formatKeyPath(path),
               "array '" + name + "' is stored in " + (*store)->describe() +
                   " but not named by _METADATA (left over from another save?)");
    }
}

}  // namespace

const char* findingSeverityName(FindingSeverity severity) {
    switch (severity) {
        case FindingSeverity::kError:
            return "error";
        case FindingSeverity::kWarning:
            return "warning";
        case FindingSeverity::kInfo:
            return "info";
    }
    return "info";
}

bool DoctorReport::healthy() const {
    return count(FindingSeverity::kError) == 0 && count(FindingSeverity::kWarning) == 0;
}

std::size_t DoctorReport::count(FindingSeverity severity) const {
    return static_cast<std::size_t>(
        std::count_if(findings.begin(), findings.end(),
                      [&](const Finding& f) { return f.severity == severity; }));
}

Result<DoctorReport> examineCheckpoint(const fs::path& path, const DoctorOptions& options,
                                       const CancelToken* cancel, const ProgressFn& progress) {
    OpenOptions open;
    open.step = options.step;
    CKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, openCheckpoint(path, open, options.format));

    DoctorReport report;
    report.path = ckpt.path;
    report.step = ckpt.step;
    report.format = ckpt.format;
    Examiner ex(report, cancel, progress);

    for (const StepEntry& s : ckpt.steps) {
        if (s.complete) continue;
        ex.add(FindingSeverity::kWarning, doctor_code::kIncompleteStep, {},
               "step " + s.step + " is incomplete (an unfinished or crashed save): '" +
                   s.path.string() + "'");
    }
    // flax.training.checkpoints writes `<prefix>tmp` first and renames it; one left behind is
    // a save that never finished.
    if (ckpt.format == "flax" && !ckpt.steps.empty()) {
        const fs::path tmp = ckpt.root / "checkpoint_tmp";
        std::error_code ec;
        if (fs::exists(tmp, ec)) {
            ex.add(FindingSeverity::kWarning, doctor_code::kIncompleteStep, {},
                   "'" + tmp.string() + "' is an unfinished flax save");
        }
    }

    auto previous = previousStepLeaves(ckpt);
    std::uint64_t previousBytes = 0;
    if (previous) {
        report.previousStep = previous->first;
        for (const PreviousLeaf& leaf : previous->second) previousBytes += leaf.source->byteSize();
    }
    CKPT_RETURN_IF_ERROR(ex.examineLeaves(ckpt.tree, previousBytes));
    if (previous) CKPT_RETURN_IF_ERROR(ex.examineJumps(previous->second, previous->first, options));
    ex.addOpenWarnings(ckpt.warnings);
    if (ckpt.format == "orbax") {
        for (const auto& [dir, key] : orbaxItems(ckpt.path)) findOrphanArrays(ex, dir, key);
    }
    CKPT_RETURN_IF_ERROR(ex.examineSizes(ckpt.tree, options.compressedFactor));

    std::stable_sort(report.findings.begin(), report.findings.end(),
                     [](const Finding& a, const Finding& b) { return a.severity < b.severity; });
    return report;
}

}  // namespace ckpt
