#include "manager_commands.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ckpt/core/checkpoint_manager.h"
#include "value_format.h"

namespace ckpt::cli {

namespace {

using ojson = nlohmann::ordered_json;

int fail(std::ostream& err, const Status& status) {
    err << "ckpt: " << status.toString() << "\n";
    return 1;
}

RetentionPolicy policyFrom(const RetentionArgs& args) {
    RetentionPolicy p;
    p.maxToKeep = args.maxToKeep;
    p.keepPeriod = args.keepPeriod;
    p.bestMetric = args.bestMetric;
    p.bestMode = args.bestMode == "min" ? BestMode::kMin : BestMode::kMax;
    p.keepCheckpointsWithoutMetrics = !args.dropWithoutMetrics;
    return p;
}

// UTC, ISO 8601 with seconds: "2026-11-30T02:00:00Z".
std::string isoTime(std::int64_t nanos) {
    const std::time_t secs = static_cast<std::time_t>(nanos / 1000000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string formatMetric(double v) {
    std::ostringstream s;
    s << std::setprecision(6) << v;
    return s.str();
}

}  // namespace

int runSteps(const StepsArgs& args, std::ostream& out, std::ostream& err) {
    auto steps = listSteps(args.root, args.retention.stepPrefix);
    if (!steps.isOk()) return fail(err, steps.status());
    const RetentionPolicy policy = policyFrom(args.retention);
    const std::optional<std::int64_t> best = policy.bestMetric ? bestStep(*steps, policy)
                                                               : std::nullopt;
    if (args.json) {
        ojson list = ojson::array();
        for (const ManagedStep& s : *steps) {
            ojson metrics = nullptr;
            if (s.metrics) {
                metrics = ojson::object();
                for (const auto& [k, v] : *s.metrics) metrics[k] = v;
            }
            list.push_back({{"step", s.step},
                            {"path", s.path.string()},
                            {"commit_timestamp_nsecs",
                             s.commitTimestampNs ? ojson(*s.commitTimestampNs) : ojson()},
                            {"bytes", s.bytes},
                            {"items", s.items},
                            {"metrics", metrics},
                            {"best", best && *best == s.step}});
        }
        ojson j = {{"root", args.root.string()},
                   {"steps", list},
                   {"latest_step", steps->empty() ? ojson() : ojson(steps->back().step)},
                   {"best_step", best ? ojson(*best) : ojson()}};
        out << j.dump(2) << "\n";
        return 0;
    }
    if (steps->empty()) {
        out << "no steps in " << args.root.string() << "\n";
        return 0;
    }
    out << std::left << std::setw(10) << "step" << std::setw(22) << "committed (UTC)"
        << std::setw(12) << "size" << "metrics\n";
    for (const ManagedStep& s : *steps) {
        std::string metrics;
        if (s.metrics) {
            for (const auto& [k, v] : *s.metrics) {
                metrics += (metrics.empty() ? "" : ", ") + k + "=" + formatMetric(v);
            }
        }
        if (best && *best == s.step) metrics += "  (best)";
        out << std::left << std::setw(10) << s.step << std::setw(22)
            << (s.commitTimestampNs ? isoTime(*s.commitTimestampNs) : std::string("-"))
            << std::setw(12) << humanBytes(s.bytes) << metrics << "\n";
    }
    return 0;
}

int runPrune(const PruneArgs& args, std::ostream& out, std::ostream& err) {
    const RetentionPolicy policy = policyFrom(args.retention);
    auto removed = pruneSteps(args.root, policy, args.dryRun, args.retention.stepPrefix);
    if (!removed.isOk()) return fail(err, removed.status());
    auto kept = listSteps(args.root, args.retention.stepPrefix, false);
    if (!kept.isOk()) return fail(err, kept.status());
    std::vector<std::int64_t> keptSteps;
    for (const auto& s : *kept) {
        if (std::find(removed->begin(), removed->end(), s.step) == removed->end()) {
            keptSteps.push_back(s.step);
        }
    }
    if (args.json) {
        ojson j = {{"dry_run", args.dryRun}, {"removed", *removed}, {"kept", keptSteps}};
        out << j.dump() << "\n";
        return 0;
    }
    const char* verb = args.dryRun ? "would remove" : "removed";
    out << verb << " " << removed->size() << " step(s)";
    for (std::size_t i = 0; i < removed->size(); ++i) out << (i ? ", " : ": ") << (*removed)[i];
    out << "\nkept " << keptSteps.size() << " step(s)";
    for (std::size_t i = 0; i < keptSteps.size(); ++i) out << (i ? ", " : ": ") << keptSteps[i];
    out << "\n";
    return 0;
}

}  // namespace ckpt::cli
