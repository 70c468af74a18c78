#include "conform_command.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ckpt/core/conform.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/format.h"
#include "value_format.h"

namespace ckpt::cli {

namespace {

using Json = nlohmann::ordered_json;

int fail(std::ostream& err, const Status& status) {
    err << "ckpt: " << status.toString() << "\n";
    return kConformError;
}

// "reference", "zeros", "none" or "constant:VALUE" (an integer, a float, true/false, nan, inf).
Status parseFill(const std::string& text, ConformOptions& options) {
    if (text == "reference") {
        options.fill = FillFrom::kReference;
    } else if (text == "zeros") {
        options.fill = FillFrom::kZeros;
    } else if (text == "none") {
        options.fill = FillFrom::kNone;
    } else if (text.rfind("constant:", 0) == 0) {
        const std::string v = text.substr(9);
        options.fill = FillFrom::kConstant;
        std::int64_t i = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), i);
        if (v == "true" || v == "True") {
            options.constant = true;
        } else if (v == "false" || v == "False") {
            options.constant = false;
        } else if (!v.empty() && ec == std::errc() && end == v.data() + v.size()) {
            options.constant = i;
        } else {
            char* stop = nullptr;
            errno = 0;
            const double d = std::strtod(v.c_str(), &stop);
            if (v.empty() || stop != v.c_str() + v.size()) {
                return invalidArgumentError("--fill constant:VALUE: '" + v + "' is not a number");
            }
            options.constant = d;
        }
    } else {
        return invalidArgumentError("--fill '" + text +
                                    "': expected reference, zeros, constant:VALUE or none");
    }
    return okStatus();
}

Result<NodePtr> openReference(const ConformArgs& args, std::string& format) {
    if (isStructureFile(args.reference)) {
        if (args.referenceStep) {
            return invalidArgumentError("'" + args.reference.string() +
                                        "' is a structure file: it has no steps");
        }
        format = "structure";
        return loadStructure(args.reference);
    }
    OpenOptions options;
    options.step = args.referenceStep;
    CKPT_ASSIGN_OR_RETURN(Checkpoint ref, openCheckpoint(args.reference, options));
    format = ref.format;
    return ref.tree;
}

// A --rename option that moves `from` to `to` exactly.
std::string renameOption(const KeyPath& from, const KeyPath& to) {
    return "--rename '" + formatRenameRule(exactRenameRule(from, to)) + "'";
}

Status writeText(const std::filesystem::path& path, const std::string& text) {
    const std::filesystem::path temp = path.string() + ".tmp";
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        if (!out) return ioError("cannot write " + temp.string());
        out << text;
        out.flush();
        if (!out) return ioError("cannot write " + temp.string());
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) return ioError("cannot rename " + temp.string() + " to " + path.string() + ": " +
                           ec.message());
    return okStatus();
}

}  // namespace

int runConform(const ConformArgs& args, std::ostream& out, std::ostream& err) {
    ConformOptions options;
    options.dropExtra = !args.keepExtra;
    options.castToReference = !args.noCast;
    if (Status s = parseFill(args.fill, options); !s.isOk()) return fail(err, s);
    for (const std::string& text : args.renames) {
        auto rule = parseRenameRule(text);
        if (!rule.isOk()) return fail(err, rule.status());
        options.renames.push_back(std::move(*rule));
    }
    for (const std::string& text : args.stacks) {
        auto edit = parseStackOption(text);
        if (!edit.isOk()) return fail(err, edit.status());
        options.layouts.push_back(std::move(*edit));
    }
    for (const std::string& text : args.unstacks) {
        auto edit = parseUnstackOption(text);
        if (!edit.isOk()) return fail(err, edit.status());
        options.layouts.push_back(std::move(*edit));
    }
    if (!args.dryRun && args.target.empty()) {
        return fail(err, invalidArgumentError("conform needs DST (or --dry-run)"));
    }
    OpenOptions openOptions;
    openOptions.step = args.source.step;
    auto src = openCheckpoint(args.source.path, openOptions, args.source.format);
    if (!src.isOk()) return fail(err, src.status());
    std::string refFormat;
    auto ref = openReference(args, refFormat);
    if (!ref.isOk()) return fail(err, ref.status());
    if (!args.dryRun) {
        for (const auto& path : {src->root, src->path}) {
            const bool clash = isSameOrInside(args.target, path) ||
                               (!args.writeStep && isSameOrInside(path, args.target));
            if (clash) {
                return fail(err, invalidArgumentError(
                                     "the target " + args.target.string() + " overlaps the source " +
                                     path.string() + "; conform never modifies its source, "
                                     "write elsewhere"));
            }
        }
    }
    auto plan = planConform(src->tree, *ref, options);
    if (!plan.isOk()) {
        return fail(err, plan.status().withContext(src->path.string() + " -> " +
                                                   args.reference.string()));
    }
    auto recipe = recipeToJson(plan->steps);
    if (!recipe.isOk()) return fail(err, recipe.status());
    const std::string format = args.to.empty() ? src->format : args.to;

    NodePtr result;
    if (!args.dryRun) {
        auto tree = applyRecipe(src->tree, plan->steps);
        if (!tree.isOk()) return fail(err, tree.status());
        result = std::move(*tree);
        Status s = writeCheckpoint(result, args.target, format, writeOptionsFrom(args));
        if (!s.isOk()) return fail(err, s);
        if (args.recipeOut) {
            if (Status r = writeText(*args.recipeOut, *recipe); !r.isOk()) return fail(err, r);
        }
    }

    if (args.json) {
        Json suggestions = Json::array();
        for (const Suggestion& s : plan->suggestions) {
            suggestions.push_back({{"from", formatKeyPath(s.from)},
                                   {"to", formatKeyPath(s.to)},
                                   {"score", s.score},
                                   {"reason", s.reason},
                                   {"rename", renameOption(s.from, s.to)}});
        }
        const Json steps = Json::parse(*recipe)["steps"];
        Json j{{"src", {{"path", src->path.string()}, {"format", src->format}}},
               {"reference", {{"path", args.reference.string()}, {"format", refFormat}}},
               {"fill", std::string(fillFromName(options.fill))},
               {"steps", steps},
               {"notes", plan->notes},
               {"suggestions", std::move(suggestions)},
               {"dry_run", args.dryRun},
               {"written", args.dryRun ? Json() : Json(args.target.string())},
               {"format", format}};
        out << j.dump(1) << "\n";
        return kConformOk;
    }
    out << "source:    " << src->path.string() << " (" << src->format << ")\n";
    out << "reference: " << args.reference.string() << " (" << refFormat << ")\n";
    for (std::size_t i = 0; i < plan->notes.size(); ++i) out << "  " << plan->notes[i] << "\n";
    if (plan->steps.empty()) out << "  nothing to change: the source already matches\n";
    for (const Suggestion& s : plan->suggestions) {
        out << "suggestion " << formatKeyPath(s.from) << " -> " << formatKeyPath(s.to)
            << "  score " << std::fixed << std::setprecision(2) << s.score << std::defaultfloat
            << ", " << s.reason << "; try " << renameOption(s.from, s.to) << "\n";
    }
    out << plan->steps.size() << (plan->steps.size() == 1 ? " step" : " steps");
    if (args.dryRun) {
        out << " (dry run: nothing written)\n";
        return kConformOk;
    }
    const TreeSummary summary = summarizeTree(result);
    out << "; wrote " << summary.leafCount << " leaves (" << humanBytes(summary.byteCount)
        << ") to " << args.target.string() << " as " << format << "\n";
    if (args.recipeOut) out << "recipe: " << args.recipeOut->string() << "\n";
    return kConformOk;
}

}  // namespace ckpt::cli
