#include "structure_commands.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ckpt/core/diff.h"
#include "ckpt/core/format.h"
#include "ckpt/core/keypath.h"

namespace ckpt::cli {

namespace {

using Json = nlohmann::ordered_json;

// One side of a comparison: a checkpoint, or a structure file standing in for one.
struct Opened {
    NodePtr tree;
    std::string format;  // "structure" for a structure file
    std::string path;
    std::optional<std::string> step;
};

Result<Opened> openSide(const SourceArgs& args) {
    if (isStructureFile(args.path)) {
        if (args.step) {
            return invalidArgumentError("'" + args.path.string() +
                                        "' is a structure file: it has no steps");
        }
        CKPT_ASSIGN_OR_RETURN(NodePtr tree, loadStructure(args.path));
        return Opened{std::move(tree), "structure", args.path.string(), std::nullopt};
    }
    OpenOptions options;
    options.step = args.step;
    CKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, openCheckpoint(args.path, options, args.format));
    return Opened{std::move(ckpt.tree), ckpt.format, ckpt.path.string(), ckpt.step};
}

Json sideJson(const Opened& o) {
    return {{"path", o.path}, {"format", o.format}, {"step", o.step ? Json(*o.step) : Json()}};
}

std::string sideText(const Opened& o) {
    std::string s = o.path + " (" + o.format;
    if (o.step) s += ", step " + *o.step;
    return s + ")";
}

// Doubles as JSON numbers, non-finite ones as "nan"/"inf"/"-inf" (the project's convention).
Json numberJson(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    return x;
}

std::string numberText(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    std::ostringstream s;
    s.precision(6);
    s << x;
    return s.str();
}

bool isContainerKind(NodeKind k) {
    return k == NodeKind::kDict || k == NodeKind::kList || k == NodeKind::kTuple;
}

Json diffSideJson(const DiffSide& side) {
    Json j{{"kind", std::string(nodeKindName(side.kind))}};
    if (side.dtype) {
        j["dtype"] = std::string(dtypeName(*side.dtype));
        j["shape"] = side.shape;
    }
    if (isContainerKind(side.kind)) j["leaves"] = side.leafCount;
    return j;
}

std::string diffSideText(const DiffSide& side) {
    if (side.dtype) {
        return std::string(dtypeName(*side.dtype)) + " " + formatShape(side.shape) +
               (side.kind == NodeKind::kScalar ? " scalar" : "");
    }
    std::string s(nodeKindName(side.kind));
    if (isContainerKind(side.kind)) s += " (" + std::to_string(side.leafCount) + " leaves)";
    return s;
}

Json valuesJson(const ValueDiff& v) {
    Json j{{"count", v.count}, {"bit_equal", v.bitEqual}};
    if (!v.hasNumbers) return j;
    j["changed"] = v.changed;
    j["finite_pairs"] = v.finitePairs;
    j["nonfinite_mismatch"] = v.nonFiniteMismatch;
    j["nan_a"] = v.nanA;
    j["nan_b"] = v.nanB;
    j["max_abs_diff"] = numberJson(v.maxAbsDiff);
    j["max_rel_diff"] = numberJson(v.maxRelDiff);
    j["cosine"] = numberJson(v.cosine);
    j["norm_ratio"] = numberJson(v.normRatio);
    j["norm_a"] = numberJson(v.normA);
    j["norm_b"] = numberJson(v.normB);
    return j;
}

std::string valuesText(const ValueDiff& v) {
    if (!v.hasNumbers) return v.bitEqual ? "bit-equal" : "bytes differ";
    std::string s = std::to_string(v.changed) + " of " + std::to_string(v.count) + " changed";
    if (v.changed == 0 && !v.bitEqual) s += " (bits differ: -0.0/0.0 or NaN payloads)";
    s += ", max abs " + numberText(v.maxAbsDiff) + ", max rel " + numberText(v.maxRelDiff) +
         ", cosine " + numberText(v.cosine) + ", norm ratio " + numberText(v.normRatio);
    if (v.nonFiniteMismatch > 0) {
        s += ", " + std::to_string(v.nonFiniteMismatch) + " NaN/inf mismatches";
    }
    return s;
}

Json entryJson(const DiffEntry& e) {
    Json j{{"path", formatKeyPath(e.path)}, {"change", std::string(diffChangeName(e.change))}};
    j["a"] = e.a ? diffSideJson(*e.a) : Json();
    j["b"] = e.b ? diffSideJson(*e.b) : Json();
    if (e.values) j["values"] = valuesJson(*e.values);
    if (!e.error.empty()) j["error"] = e.error;
    return j;
}

std::string pathText(const KeyPath& path) {
    return path.empty() ? std::string("(root)") : formatKeyPath(path);
}

void printEntry(const DiffEntry& e, std::ostream& out) {
    const std::string path = pathText(e.path);
    switch (e.change) {
        case DiffChange::kOnlyInA:
            out << "only in A     " << path << "  " << diffSideText(*e.a);
            break;
        case DiffChange::kOnlyInB:
            out << "only in B     " << path << "  " << diffSideText(*e.b);
            break;
        case DiffChange::kKindChanged:
        case DiffChange::kDTypeChanged:
        case DiffChange::kShapeChanged: {
            const char* label = e.change == DiffChange::kKindChanged    ? "kind          "
                                : e.change == DiffChange::kDTypeChanged ? "dtype         "
                                                                        : "shape         ";
            out << label << path << "  " << diffSideText(*e.a) << " -> " << diffSideText(*e.b);
            break;
        }
        case DiffChange::kValuesDiffer:
            out << "values        " << path << "  " << diffSideText(*e.a);
            if (e.values) {
                out << ": " << valuesText(*e.values);
            } else {
                out << ": differ";
            }
            break;
        case DiffChange::kEqual:
            out << "equal         " << path << "  " << diffSideText(*e.a);
            break;
        case DiffChange::kNotCompared:
            out << "not compared  " << path << "  " << e.error;
            break;
    }
    out << "\n";
}

Json summaryJson(const TreeDiff& d) {
    return {{"leaves_compared", d.leavesCompared},
            {"only_in_a", d.onlyInA},
            {"only_in_b", d.onlyInB},
            {"kind_changed", d.kindChanged},
            {"dtype_changed", d.dtypeChanged},
            {"shape_changed", d.shapeChanged},
            {"values_differ", d.valuesDiffer},
            {"not_compared", d.notCompared}};
}

}  // namespace

int runSkeleton(const SkeletonArgs& args, std::ostream& out, std::ostream& err) {
    auto opened = openSide(args.source);
    if (!opened.isOk()) {
        err << "ckpt: " << opened.status().toString() << "\n";
        return 1;
    }
    StructureOptions options;
    options.maxValueElements = args.maxValueElements;
    auto text = structureToJson(opened->tree, options);
    if (!text.isOk()) {
        err << "ckpt: " << text.status().withContext(opened->path).toString() << "\n";
        return 1;
    }
    if (!args.output) {
        out << *text;
        return 0;
    }
    std::ofstream file(*args.output, std::ios::binary | std::ios::trunc);
    file << *text;
    file.close();
    if (!file) {
        err << "ckpt: IoError: cannot write '" << args.output->string() << "'\n";
        return 1;
    }
    return 0;
}

int runDiff(const DiffArgs& args, std::ostream& out, std::ostream& err) {
    SourceArgs bArgs = args.b;
    if (bArgs.path.empty()) {
        bArgs.path = args.a.path;
        if (bArgs.format.empty()) bArgs.format = args.a.format;
    }
    auto a = openSide(args.a);
    if (!a.isOk()) {
        err << "ckpt: " << a.status().toString() << "\n";
        return kDiffError;
    }
    auto b = openSide(bArgs);
    if (!b.isOk()) {
        err << "ckpt: " << b.status().toString() << "\n";
        return kDiffError;
    }
    DiffOptions options;
    // A structure file has no values to compare.
    options.values = args.values && a->format != "structure" && b->format != "structure";
    options.numbers = !args.bitOnly;
    options.includeEqual = args.showEqual;
    auto diff = diffTrees(a->tree, b->tree, options);
    if (!diff.isOk()) {
        err << "ckpt: " << diff.status().toString() << "\n";
        return kDiffError;
    }
    const bool identical = diff->identical();
    if (args.json) {
        Json entries = Json::array();
        for (const DiffEntry& e : diff->entries) entries.push_back(entryJson(e));
        Json j{{"a", sideJson(*a)},
               {"b", sideJson(*b)},
               {"values_compared", options.values},
               {"identical", identical},
               {"structure_equal", diff->structureEqual()},
               {"summary", summaryJson(*diff)},
               {"entries", std::move(entries)}};
        out << j.dump(1) << "\n";
    } else {
        out << "A: " << sideText(*a) << "\n";
        out << "B: " << sideText(*b) << "\n";
        for (const DiffEntry& e : diff->entries) printEntry(e, out);
        out << diff->leavesCompared << " leaves compared";
        if (!options.values) out << " (structure only)";
        out << "; " << diff->onlyInA << " only in A, " << diff->onlyInB << " only in B, "
            << diff->kindChanged + diff->dtypeChanged + diff->shapeChanged
            << " kind/dtype/shape changes, " << diff->valuesDiffer << " with different values";
        if (diff->notCompared > 0) out << ", " << diff->notCompared << " not compared";
        out << "\n"
            << (identical ? (options.values ? "identical" : "same structure (values not compared)")
                          : "different")
            << "\n";
    }
    return identical ? kDiffIdentical : kDiffDifferent;
}

int runCheck(const CheckArgs& args, std::ostream& out, std::ostream& err) {
    auto src = openSide(args.source);
    if (!src.isOk()) {
        err << "ckpt: " << src.status().toString() << "\n";
        return kCheckError;
    }
    SourceArgs refArgs;
    refArgs.path = args.against;
    refArgs.step = args.againstStep;
    auto ref = openSide(refArgs);
    if (!ref.isOk()) {
        err << "ckpt: " << ref.status().toString() << "\n";
        return kCheckError;
    }
    auto result = preflight(src->tree, ref->tree);
    if (!result.isOk()) {
        err << "ckpt: " << result.status().toString() << "\n";
        return kCheckError;
    }
    const Preflight& p = *result;
    int code = kCheckExact;
    switch (p.outcome) {
        case PreflightOutcome::kExact:
            code = kCheckExact;
            break;
        case PreflightOutcome::kExtraKeys:
            code = kCheckExtraKeys;
            break;
        case PreflightOutcome::kMissingKeys:
            code = kCheckMissingKeys;
            break;
        case PreflightOutcome::kMismatch:
            code = kCheckMismatch;
            break;
    }
    if (args.json) {
        Json extra = Json::array();
        for (const DiffEntry& e : p.extra) {
            Json j = diffSideJson(*e.a);
            j["path"] = formatKeyPath(e.path);
            extra.push_back(std::move(j));
        }
        Json missing = Json::array();
        for (const MissingKey& m : p.missing) {
            Json j = diffSideJson(m.ref);
            j["path"] = formatKeyPath(m.path);
            j["has_default"] = m.hasDefault;
            missing.push_back(std::move(j));
        }
        Json mismatches = Json::array();
        for (const DiffEntry& e : p.mismatches) {
            Json j{{"path", formatKeyPath(e.path)},
                   {"change", std::string(diffChangeName(e.change))},
                   {"src", diffSideJson(*e.a)},
                   {"ref", diffSideJson(*e.b)}};
            if (!e.error.empty()) j["error"] = e.error;
            mismatches.push_back(std::move(j));
        }
        Json compatible = Json::array();
        for (const DiffEntry& e : p.compatible) {
            compatible.push_back({{"path", formatKeyPath(e.path)},
                                  {"change", std::string(diffChangeName(e.change))},
                                  {"src", diffSideJson(*e.a)},
                                  {"ref", diffSideJson(*e.b)}});
        }
        Json j{{"src", sideJson(*src)},
               {"ref", sideJson(*ref)},
               {"outcome", std::string(preflightOutcomeName(p.outcome))},
               {"exit_code", code},
               {"leaves_matched", p.leavesMatched},
               {"extra", std::move(extra)},
               {"missing", std::move(missing)},
               {"mismatches", std::move(mismatches)},
               {"compatible", std::move(compatible)}};
        out << j.dump(1) << "\n";
        return code;
    }
    out << "source:    " << sideText(*src) << "\n";
    out << "reference: " << sideText(*ref) << "\n";
    for (const DiffEntry& e : p.mismatches) {
        if (!e.error.empty()) {
            out << "unreadable " << pathText(e.path) << "  " << e.error << "\n";
            continue;
        }
        out << "mismatch   " << pathText(e.path) << "  " << diffSideText(*e.a) << " in source, "
            << diffSideText(*e.b) << " in reference\n";
    }
    for (const MissingKey& m : p.missing) {
        out << "missing    " << pathText(m.path) << "  " << diffSideText(m.ref)
            << (m.hasDefault ? "  (reference has a default value)" : "  (needs a default)") << "\n";
    }
    for (const DiffEntry& e : p.extra) {
        out << "extra      " << pathText(e.path) << "  " << diffSideText(*e.a)
            << "  (would be dropped)\n";
    }
    out << p.leavesMatched << " reference leaves match\n";
    switch (p.outcome) {
        case PreflightOutcome::kExact:
            out << "exact: the restore would be exact\n";
            break;
        case PreflightOutcome::kExtraKeys:
            out << "extra keys: " << p.extra.size()
                << " source entries would be silently dropped\n";
            break;
        case PreflightOutcome::kMissingKeys:
            out << "missing keys: " << p.missing.size()
                << " reference entries are not in the source and need defaults\n";
            break;
        case PreflightOutcome::kMismatch:
            out << "mismatch: " << p.mismatches.size()
                << " entries differ in kind, dtype or shape; the restore would fail\n";
            break;
    }
    return code;
}

}  // namespace ckpt::cli
