#include "run_commands.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ckpt/core/keypath.h"
#include "ckpt/core/run_series.h"
#include "value_format.h"

namespace ckpt::cli {

namespace {

using Json = nlohmann::ordered_json;

int fail(std::ostream& err, const Status& status) {
    err << "ckpt: " << status.toString() << "\n";
    return 1;
}

// Right-aligned in `width`, 6 significant digits ("nan", "inf" as such).
std::string cell(double v, int width = 14) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%*.6g", width, v);
    return buf;
}

std::string cell(const std::string& s, int width) {
    return s.size() >= static_cast<std::size_t>(width)
               ? s
               : std::string(static_cast<std::size_t>(width) - s.size(), ' ') + s;
}

std::string pathText(const KeyPath& path) {
    return path.empty() ? std::string("(root)") : formatKeyPath(path);
}

Json pointJson(const SeriesPoint& p) {
    Json j{{"step", p.step}, {"path", p.path.string()}, {"complete", p.complete}};
    if (p.stats) {
        const SeriesStats& s = *p.stats;
        j["leaves"] = s.leaves;
        j["count"] = s.count;
        j["finite"] = s.finite;
        j["nan"] = s.nan;
        j["inf"] = s.inf;
        j["norm"] = Json(doubleJson(s.norm));
        j["mean"] = Json(doubleJson(s.mean));
        j["std"] = Json(doubleJson(s.std));
        j["max_abs"] = Json(doubleJson(s.maxAbs));
        j["error"] = nullptr;
    } else {
        j["error"] = p.error;
    }
    return j;
}

}  // namespace

int runSeries(const SeriesArgs& args, std::ostream& out, std::ostream& err) {
    auto keyPath = parseKeyPath(args.keyPath);
    if (!keyPath.isOk()) return fail(err, keyPath.status());
    SeriesOptions options;
    options.format = args.format;
    auto series = computeRunSeries(args.run, *keyPath, options);
    if (!series.isOk()) return fail(err, series.status());
    bool any = false;
    for (const SeriesPoint& p : series->points) any = any || p.stats.has_value();

    if (args.json) {
        Json points = Json::array();
        for (const SeriesPoint& p : series->points) points.push_back(pointJson(p));
        Json j{{"root", series->root.string()},
               {"format", series->format},
               {"keypath", formatKeyPath(series->keyPath)},
               {"points", std::move(points)}};
        out << j.dump(2) << "\n";
    } else {
        out << series->root.string() << " (" << series->format << "), " << pathText(series->keyPath)
            << ": " << series->points.size()
            << (series->points.size() == 1 ? " step\n" : " steps\n");
        out << cell("step", 10) << cell("norm", 14) << cell("mean", 14) << cell("std", 14)
            << cell("max_abs", 14) << "  elements\n";
        for (const SeriesPoint& p : series->points) {
            out << cell(p.step, 10);
            if (!p.stats) {
                out << "  error: " << p.error << "\n";
                continue;
            }
            const SeriesStats& s = *p.stats;
            out << cell(s.norm) << cell(s.mean) << cell(s.std) << cell(s.maxAbs) << "  " << s.count;
            if (s.leaves > 1) out << " in " << s.leaves << " leaves";
            if (s.nan + s.inf > 0) out << " (" << s.nan << " NaN, " << s.inf << " Inf)";
            out << "\n";
        }
    }
    if (!any) {
        err << "ckpt: no step of " << args.run.string() << " has numbers for " << pathText(*keyPath)
            << "\n";
        return 1;
    }
    return 0;
}

int runChanges(const ChangesArgs& args, std::ostream& out, std::ostream& err) {
    ChangesOptions options;
    options.topK = args.top;
    options.format = args.format;
    auto changes = compareRunSteps(args.run, args.from, args.to, options);
    if (!changes.isOk()) return fail(err, changes.status());
    const StepChanges& c = *changes;

    if (args.json) {
        Json top = Json::array();
        for (const LeafChange& l : c.top) {
            top.push_back({{"path", formatKeyPath(l.path)},
                           {"count", l.count},
                           {"rel_change", Json(doubleJson(l.relativeChange))},
                           {"max_abs_diff", Json(doubleJson(l.maxAbsDiff))},
                           {"norm_a", Json(doubleJson(l.normA))},
                           {"norm_b", Json(doubleJson(l.normB))},
                           {"diff_norm", Json(doubleJson(l.diffNorm))},
                           {"nonfinite_mismatch", l.nonFiniteMismatch}});
        }
        auto only = [](const std::vector<DiffEntry>& entries, bool inA) {
            Json list = Json::array();
            for (const DiffEntry& e : entries) {
                const auto& side = inA ? e.a : e.b;
                list.push_back(
                    {{"path", formatKeyPath(e.path)}, {"leaves", side ? side->leafCount : 0}});
            }
            return list;
        };
        Json other = Json::array();
        for (const DiffEntry& e : c.otherChanges) {
            Json o{{"path", formatKeyPath(e.path)},
                   {"change", std::string(diffChangeName(e.change))}};
            if (!e.error.empty()) o["error"] = e.error;
            other.push_back(std::move(o));
        }
        Json j{{"root", args.run.string()},
               {"step_a", c.stepA},
               {"step_b", c.stepB},
               {"leaves_compared", c.leavesCompared},
               {"leaves_changed", c.leavesChanged},
               {"top", std::move(top)},
               {"only_in_a", only(c.onlyInA, true)},
               {"only_in_b", only(c.onlyInB, false)},
               {"other_changes", std::move(other)}};
        out << j.dump(2) << "\n";
        return 0;
    }

    out << args.run.string() << ": step " << c.stepA << " -> step " << c.stepB << ", "
        << c.leavesCompared << " leaves compared, " << c.leavesChanged << " changed\n";
    if (!c.top.empty()) {
        out << cell("rank", 5) << cell("rel_change", 14) << cell("max_abs_diff", 14)
            << cell("norm_a", 14) << cell("norm_b", 14) << "  path\n";
        for (std::size_t i = 0; i < c.top.size(); ++i) {
            const LeafChange& l = c.top[i];
            out << cell(std::to_string(i + 1), 5) << cell(l.relativeChange) << cell(l.maxAbsDiff)
                << cell(l.normA) << cell(l.normB) << "  " << formatKeyPath(l.path);
            if (l.nonFiniteMismatch > 0) {
                out << "  (" << l.nonFiniteMismatch << " NaN/Inf mismatches)";
            }
            out << "\n";
        }
        if (c.top.size() < c.leavesChanged) {
            out << "  (" << c.leavesChanged - c.top.size() << " more changed; --top 0 lists all)\n";
        }
    }
    auto leaves = [](const std::optional<DiffSide>& side) {
        const std::uint64_t n = side ? side->leafCount : 0;
        return std::to_string(n) + (n == 1 ? " leaf" : " leaves");
    };
    for (const DiffEntry& e : c.onlyInA) {
        out << "only in step " << c.stepA << ": " << pathText(e.path) << " (" << leaves(e.a)
            << ")\n";
    }
    for (const DiffEntry& e : c.onlyInB) {
        out << "only in step " << c.stepB << ": " << pathText(e.path) << " (" << leaves(e.b)
            << ")\n";
    }
    for (const DiffEntry& e : c.otherChanges) {
        out << diffChangeName(e.change) << ": " << pathText(e.path);
        if (!e.error.empty()) out << " (" << e.error << ")";
        out << "\n";
    }
    return 0;
}

}  // namespace ckpt::cli
