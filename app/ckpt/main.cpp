// ckpt: the command-line face of Checkpoint Studio. Parses arguments; the commands live in
// app/cli/commands.cpp.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"
#include "commands.h"
#include "conform_command.h"
#include "doctor_command.h"
#include "run_commands.h"
#include "shard_commands.h"
#include "manager_commands.h"
#include "structure_commands.h"

namespace {

constexpr const char* kKeyPathHelp =
    "KEYPATH is the keys from the root joined by '/', e.g. params/Dense_0/kernel or data/0 "
    "(list and tuple items by index). A key containing '/' or '\\' escapes it with a backslash "
    "(a\\/b is the single key \"a/b\"); an empty key is written \\e.";

void addSource(CLI::App* cmd, ckpt::cli::SourceArgs& source) {
    cmd->add_option("PATH", source.path, "Checkpoint file or directory")->required();
    cmd->add_option("--format", source.format, "Read as this format instead of detecting it");
    cmd->add_option("--step", source.step,
                    "In a directory of steps, open this step instead of the latest");
}

// The writer options `convert` and `apply` share (ckpt::WriteOptions).
void addWriterOptions(CLI::App* cmd, ckpt::cli::WriterArgs& writer) {
    cmd->add_flag("--overwrite", writer.overwrite,
                  "Replace an existing output (flax steps: also write an older step and "
                  "delete newer ones, as flax does)");
    cmd->add_option("--write-step", writer.writeStep,
                    "Write step STEP of a run directory DST: flax DST/checkpoint_<STEP> "
                    "(flax.training.checkpoints rules), orbax DST/<STEP>/default "
                    "(a CheckpointManager step)");
    cmd->add_option("--keep", writer.keep,
                    "with --write-step: keep this many newest steps (flax keep, Orbax max_to_keep; 0 = all)");
    cmd->add_option("--keep-every-n-steps", writer.keepEveryNSteps,
                    "with --write-step: also keep old steps this many apart (flax keep_every_n_steps, Orbax keep_period)");
    cmd->add_option("--flax-sequences", writer.flaxSequences,
                    "flax: lists/tuples as 'state-dict' maps keyed \"0\",\"1\",... (what "
                    "flax writes) or msgpack 'array's")
        ->check(CLI::IsMember({"state-dict", "array"}));
    cmd->add_option("--flax-max-chunk-bytes", writer.flaxMaxChunkBytes,
                    "flax: split arrays larger than this into flax's chunked form "
                    "(default 2^30, as flax)");
    cmd->add_option("--orbax-zarr", writer.orbaxZarr,
                    "orbax: zarr version of the arrays, 3 (default) or 2 (orbax's v0 "
                    "API default)")
        ->check(CLI::IsMember({2, 3}));
    cmd->add_option("--orbax-chunk-bytes", writer.orbaxChunkBytes,
                    "orbax: split arrays larger than this into zarr chunks of at most "
                    "this many bytes (default 64 MiB)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--orbax-no-ocdbt", writer.orbaxNoOcdbt,
                  "orbax: one directory per array instead of one OCDBT database");
    cmd->add_option("--hdf5-compression", writer.hdf5Compression,
                    "hdf5: compression of chunked datasets: zstd (default; filter 32015, "
                    "as hdf5plugin), gzip or none")
        ->check(CLI::IsMember({"zstd", "gzip", "none"}));
}

// Orbax's CheckpointManagerOptions retention knobs (`prune` needs --max-to-keep).
void addRetentionOptions(CLI::App* cmd, ckpt::cli::RetentionArgs& r, bool prune) {
    if (prune) {
        cmd->add_option("--max-to-keep", r.maxToKeep,
                        "max_to_keep: keep this many newest steps, or with --best-metric the "
                        "best this many")
            ->required()
            ->check(CLI::PositiveNumber);
        cmd->add_option("--keep-period", r.keepPeriod,
                        "keep_period: also keep every step that is a multiple of K")
            ->check(CLI::PositiveNumber);
        cmd->add_flag("--drop-without-metrics", r.dropWithoutMetrics,
                      "with --best-metric: keep_checkpoints_without_metrics=False");
    }
    cmd->add_option("--best-metric", r.bestMetric,
                    "best_fn = lambda m: m[NAME] over each step's metrics/metrics");
    cmd->add_option("--best-mode", r.bestMode, "best_mode: min or max (default max, as Orbax)")
        ->check(CLI::IsMember({"min", "max"}));
    cmd->add_option("--step-prefix", r.stepPrefix, "step_prefix: steps named PREFIX_<n>");
}

// A finite number >= 0 (CLI::NonNegativeNumber would print its range up to DBL_MAX).
CLI::Validator nonNegativeNumber() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            char* end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0) {
                return "'" + text + "' is not a number >= 0";
            }
            return {};
        },
        "NUMBER>=0");
}

}  // namespace

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    CLI::App app{"ckpt — inspect, convert and fix JAX/Flax checkpoints", "ckpt"};
    app.set_version_flag("--version", "ckpt " CKPT_VERSION);
    app.require_subcommand(1);
    app.footer(kKeyPathHelp);

    ckpt::cli::InfoArgs info;
    auto* infoCmd = app.add_subcommand("info", "Format, layout, steps, leaf count, bytes, parameters");
    addSource(infoCmd, info.source);
    infoCmd->add_flag("--json", info.json, "Print JSON");

    ckpt::cli::TreeArgs tree;
    auto* treeCmd = app.add_subcommand("tree", "The tree with kind, dtype, shape and bytes");
    addSource(treeCmd, tree.source);
    treeCmd->add_flag("--json", tree.json,
                      "Print {\"format\": F, \"tree\": NODE} with NODE as documented in README");
    treeCmd->add_flag("--sizes", tree.sizes,
                      "Per node: parameters, bytes in memory, bytes on disk (array chunks; '?' "
                      "where unknown) and % of the on-disk total; with --json a \"rollup\" "
                      "object {leaves, arrays, parameters, memory_bytes, stored_bytes, "
                      "unknown_stored} on every node");
    auto* filterOpt = treeCmd->add_option(
        "--filter", tree.filter,
        "Show only nodes whose key path matches PATTERN (with their ancestors and everything "
        "below them); by default PATTERN is text found anywhere in the key path, ignoring case. "
        "With --json, items of a filtered list/tuple carry their \"index\" and the top level "
        "a \"matches\" count");
    auto* globFlag = treeCmd->add_flag(
        "--glob", tree.glob,
        "--filter is a glob: * (within a key), ** (across keys), ?, [abc], [a-z], [!abc], \\x; "
        "without '/' it matches the last key, with '/' the whole key path");
    globFlag->needs(filterOpt);
    treeCmd->add_flag("--regex", tree.regex,
                      "--filter is an ECMAScript regular expression searched in the key path "
                      "(anchor with ^ and $)")
        ->needs(filterOpt)
        ->excludes(globFlag);

    ckpt::cli::ShowArgs show;
    auto* showCmd = app.add_subcommand("show", "A leaf's values (elided when large) and statistics");
    addSource(showCmd, show.source);
    showCmd->add_option("KEYPATH", show.keyPath, "Key path of the leaf")->required();
    showCmd->add_flag("--json", show.json, "Print every value and the statistics as JSON");
    showCmd->add_option("--max-values", show.maxValues, "With --json: print at most N values");
    showCmd->footer(kKeyPathHelp);

    ckpt::cli::CatArgs cat;
    auto* catCmd = app.add_subcommand("cat", "A leaf's raw bytes (C order, little-endian) to stdout");
    addSource(catCmd, cat.source);
    catCmd->add_option("KEYPATH", cat.keyPath, "Key path of the leaf")->required();
    catCmd->add_option("--process-index", cat.processIndex,
                       "Only the block this process holds (with --process-count): re-sharded "
                       "read, touching only the stored shards that intersect it");
    catCmd->add_option("--process-count", cat.processCount,
                       "Number of processes the array is split among, as JAX splits a dimension "
                       "over one mesh axis (blocks of ceil(n/count))");
    catCmd->add_option("--axis", cat.axis, "The dimension split among the processes (default 0)");
    catCmd->footer(kKeyPathHelp);

    ckpt::cli::ShardsArgs shards;
    auto* shardsCmd = app.add_subcommand(
        "shards", "How a leaf was sharded when saved: mesh, partition spec and every shard with "
                  "its index ranges, writing process, devices and storage key");
    addSource(shardsCmd, shards.source);
    shardsCmd->add_option("KEYPATH", shards.keyPath, "Key path of the array")->required();
    shardsCmd->add_flag("--json", shards.json, "Print JSON (shape in README)");
    shardsCmd->footer(kKeyPathHelp);

    ckpt::cli::ConvertArgs convert;
    auto* convertCmd = app.add_subcommand("convert", "Write SRC (or chosen subtrees) in another format");
    addSource(convertCmd, convert.source);
    convertCmd->add_option("DST", convert.target, "Output file (or directory with --write-step)")
        ->required();
    convertCmd->add_option("--to", convert.to, "Output format")->required()->check(
        CLI::IsMember(ckpt::FormatRegistry::builtin().writerNames()));
    convertCmd->add_option("--subtree", convert.subtrees,
                           "Keep only this subtree (repeatable); KEYPATH syntax")
        ->allow_extra_args(false);  // one value per --subtree: DST after it stays DST
    addWriterOptions(convertCmd, convert);
    auto* processIndexOpt = convertCmd->add_option(
        "--process-index", convert.processIndex,
        "orbax, hdf5: write this process's part of a multi-process save (README, "
        "\"Multi-process saves\"; hdf5: DST is a directory); needs --process-count and --save-id");
    auto* processCountOpt = convertCmd->add_option(
        "--process-count", convert.processCount,
        "orbax, hdf5: the number of processes writing the checkpoint together");
    auto* saveIdOpt = convertCmd->add_option(
        "--save-id", convert.saveId,
        "with --process-index: the same in every process of one save attempt, new for every "
        "attempt ([A-Za-z0-9_-], at most 64); names the shared temporary directory");
    auto* shardAxisOpt = convertCmd->add_option(
        "--shard-axis", convert.shardAxis,
        "with --process-index: split each array along this dimension over the processes "
        "(default 0; arrays it does not divide evenly are written by process 0)");
    auto* timeoutOpt =
        convertCmd
            ->add_option(
                "--barrier-timeout", convert.barrierTimeoutSeconds,
                "with --process-index: seconds to wait for the other processes (default 300)")
            ->check(CLI::PositiveNumber);
    processIndexOpt->needs(processCountOpt)->needs(saveIdOpt);
    processCountOpt->needs(processIndexOpt);
    saveIdOpt->needs(processIndexOpt);
    shardAxisOpt->needs(processIndexOpt);
    timeoutOpt->needs(processIndexOpt);
    convertCmd->footer(kKeyPathHelp);

    ckpt::cli::ApplyArgs apply;
    auto* applyCmd = app.add_subcommand(
        "apply", "Apply an edit recipe (JSON; see README) to SRC and write the result to DST");
    applyCmd->add_option("RECIPE", apply.recipe,
                         "Recipe file: {\"ckpt_studio_recipe\": 1, \"steps\": [...]}")
        ->required();
    addSource(applyCmd, apply.source);
    applyCmd->add_option("DST", apply.target,
                         "Output file (or directory with --write-step); never SRC or inside it")
        ->required();
    applyCmd->add_option("--to", apply.to, "Output format (default: the source's format)")
        ->check(CLI::IsMember(ckpt::FormatRegistry::builtin().writerNames()));
    applyCmd->add_option("--reference", apply.reference,
                         "REF checkpoint or structure file that \"reference\" add steps "
                         "(written by ckpt conform) take their nodes from");
    applyCmd->add_option("--reference-step", apply.referenceStep, "Step of REF (run directories)");
    addWriterOptions(applyCmd, apply);
    applyCmd->footer(kKeyPathHelp);

    ckpt::cli::ConformArgs conform;
    auto* conformCmd = app.add_subcommand(
        "conform", "Edit SRC so that it restores into REF's structure exactly (renames, "
                   "stacks or unstacks scan layers, drops extra keys, fills missing ones, casts "
                   "dtypes) and write it to DST. "
                   "Exit 0 ok, 2 error");
    addSource(conformCmd, conform.source);
    conformCmd->add_option("--reference", conform.reference,
                           "REF: a checkpoint or a structure file (ckpt skeleton)")
        ->required();
    conformCmd->add_option("--reference-step", conform.referenceStep,
                           "Step of REF (run directories)");
    conformCmd->add_option("DST", conform.target,
                           "Output file (or directory with --write-step); never SRC or inside "
                           "it; may be left out with --dry-run");
    conformCmd->add_option("--to", conform.to, "Output format (default: the source's format)")
        ->check(CLI::IsMember(ckpt::FormatRegistry::builtin().writerNames()));
    conformCmd->add_option("--rename", conform.renames,
                           "REGEX=REPLACEMENT (repeatable): ECMAScript regex matching a whole key "
                           "path or a whole single dict key; $1 or \\1 for captures; the first "
                           "matching rule wins")
        ->allow_extra_args(false);  // one value per --rename: DST after it stays DST
    conformCmd->add_option("--stack", conform.stacks,
                           "PARENT/PREFIX[=NEWKEY] (repeatable): stack the keys PREFIX0..PREFIXN-1 "
                           "of the dict PARENT into one key NEWKEY (default PREFIX without a "
                           "trailing _) whose arrays have a leading layer axis (Flax nn.scan "
                           "layout), e.g. params/layers_=layers")
        ->allow_extra_args(false);  // one value per --stack: DST after it stays DST
    conformCmd->add_option("--unstack", conform.unstacks,
                           "PATH[=PREFIX] (repeatable): split the entry PATH, whose arrays have a "
                           "leading layer axis of length N, into keys PREFIX0..PREFIXN-1 beside it "
                           "(default PREFIX: the key and _), e.g. params/layers. Both run after "
                           "--rename (--stack first); matching scan layouts are also found without "
                           "them")
        ->allow_extra_args(false);
    conformCmd->add_flag("--keep-extra", conform.keepExtra,
                         "Keep keys REF lacks (Orbax drops them on restore) instead of deleting");
    conformCmd->add_option("--fill", conform.fill,
                           "Keys REF has and SRC lacks: reference (REF's values, default), "
                           "zeros, constant:VALUE, or none (an error)");
    conformCmd->add_flag("--no-cast", conform.noCast,
                         "Do not cast to REF's dtypes (a dtype difference is then an error)");
    conformCmd->add_option("--recipe-out", conform.recipeOut,
                           "Also write the plan as a recipe (ckpt apply; reference fills need "
                           "--reference there)");
    conformCmd->add_flag("--dry-run", conform.dryRun,
                         "Print the plan and suggestions; write nothing");
    conformCmd->add_flag("--json", conform.json, "Print JSON (shape in README)");
    addWriterOptions(conformCmd, conform);
    conformCmd->footer(kKeyPathHelp);

    ckpt::cli::SkeletonArgs skeleton;
    auto* skeletonCmd = app.add_subcommand(
        "skeleton", "Write PATH's structure file: kinds, dtypes, shapes (no array data; see README)");
    addSource(skeletonCmd, skeleton.source);
    skeletonCmd->add_option("-o,--output", skeleton.output, "Write to FILE instead of stdout");
    skeletonCmd->add_option("--values-up-to", skeleton.maxValueElements,
                            "Also write the values of arrays with at most N elements (defaults)");

    ckpt::cli::DiffArgs diff;
    auto* diffCmd = app.add_subcommand(
        "diff", "Compare two checkpoints, steps or structure files: keys, kinds, dtypes, shapes "
                "and values. Exit 0 identical, 1 different, 2 error");
    diffCmd->add_option("A", diff.a.path, "Checkpoint, run directory or structure file")->required();
    diffCmd->add_option("B", diff.b.path, "The other one (default: A, e.g. with --step-a/--step-b)");
    diffCmd->add_option("--step-a", diff.a.step, "Step of A to open (run directories)");
    diffCmd->add_option("--step-b", diff.b.step, "Step of B to open (run directories)");
    diffCmd->add_option("--format-a", diff.a.format, "Read A as this format");
    diffCmd->add_option("--format-b", diff.b.format, "Read B as this format");
    diffCmd->add_flag("--json", diff.json, "Print JSON (shape in README)");
    diffCmd->add_flag("--values,!--no-values", diff.values,
                      "Compare values (default) / structure only");
    diffCmd->add_flag("--bit-only", diff.bitOnly,
                      "Values: bit equality only, stop at the first differing chunk");
    diffCmd->add_flag("--show-equal", diff.showEqual, "Also list leaves that are equal");

    ckpt::cli::CheckArgs check;
    auto* checkCmd = app.add_subcommand(
        "check", "Restore preflight: would restoring SRC into REF's structure be exact? "
                 "Exit 0 exact, 3 extra keys only, 4 missing keys, 5 mismatch, 2 error");
    addSource(checkCmd, check.source);
    checkCmd->add_option("--against", check.against,
                         "REF: a checkpoint or a structure file (ckpt skeleton, README)")
        ->required();
    checkCmd->add_option("--against-step", check.againstStep, "Step of REF (run directories)");
    checkCmd->add_flag("--json", check.json, "Print JSON (shape in README)");

    ckpt::cli::DoctorArgs doctor;
    auto* doctorCmd = app.add_subcommand(
        "doctor", "Health check: read every array and report NaN/Inf, all-zero and constant "
                  "leaves, unreadable data, incomplete steps, leaves whose statistics jumped "
                  "since the previous step of a run, metadata/data mismatches and a dtype "
                  "census. Exit 0 healthy, 1 problems found, 2 could not examine");
    addSource(doctorCmd, doctor.source);
    doctorCmd->add_flag("--json", doctor.json, "Print JSON (shape in README)");
    doctorCmd
        ->add_option("--jump-factor", doctor.jumpFactor,
                     "stats-jump (run directories): warn when a leaf's norm or std changed by more "
                     "than this factor since the previous step, either way (default 10; 1 or "
                     "less turns these tests off)")
        ->check(nonNegativeNumber());
    doctorCmd
        ->add_option("--mean-shift-stds", doctor.meanShiftStds,
                     "stats-jump: warn when a leaf's mean moved by more than this many of its "
                     "previous standard deviations (default 10; 0 turns the test off)")
        ->check(nonNegativeNumber());

    ckpt::cli::SeriesArgs series;
    auto* seriesCmd = app.add_subcommand(
        "series", "A leaf's or a subtree's norm, mean, std and max-abs at every step of a run "
                  "directory (a subtree counts all its numeric leaves as one vector; steps that "
                  "cannot be read are listed with the error)");
    seriesCmd->add_option("RUN_DIR", series.run,
                          "Orbax CheckpointManager root or directory of flax checkpoint_<step> "
                          "files")
        ->required();
    seriesCmd->add_option("KEYPATH", series.keyPath, "Leaf or subtree ('' or / for everything)")
        ->required();
    seriesCmd->add_option("--format", series.format, "Read as this format instead of detecting it");
    seriesCmd->add_flag("--json", series.json, "Print JSON (shape in README)");
    seriesCmd->footer(kKeyPathHelp);

    ckpt::cli::ChangesArgs changes;
    auto* changesCmd = app.add_subcommand(
        "changes", "The leaves that changed most between two steps of a run directory, by "
                   "relative change |b-a|/|a| and max abs difference; leaves in one step only "
                   "are listed separately");
    changesCmd->add_option("RUN_DIR", changes.run,
                           "Orbax CheckpointManager root or directory of flax checkpoint_<step> "
                           "files")
        ->required();
    changesCmd->add_option("--from", changes.from, "Step A")->required();
    changesCmd->add_option("--to", changes.to, "Step B")->required();
    changesCmd->add_option("--top", changes.top, "List the K most changed leaves (default 20; 0 = all)");
    changesCmd->add_option("--format", changes.format,
                           "Read as this format instead of detecting it");
    changesCmd->add_flag("--json", changes.json, "Print JSON (shape in README)");
    ckpt::cli::StepsArgs steps;
    auto* stepsCmd = app.add_subcommand(
        "steps", "The committed steps of a CheckpointManager root (ours or Orbax's): commit "
                 "time, size, metrics and, with --best-metric, the best step");
    stepsCmd->add_option("ROOT", steps.root, "CheckpointManager root directory")->required();
    stepsCmd->add_flag("--json", steps.json, "Print JSON (shape in README)");
    addRetentionOptions(stepsCmd, steps.retention, false);

    ckpt::cli::PruneArgs prune;
    auto* pruneCmd = app.add_subcommand(
        "prune", "Delete the steps Orbax's CheckpointManager would not keep (max_to_keep, "
                 "keep_period, best_fn/best_mode); unfinished temporary steps are never touched");
    pruneCmd->add_option("ROOT", prune.root, "CheckpointManager root directory")->required();
    addRetentionOptions(pruneCmd, prune.retention, true);
    pruneCmd->add_flag("--dry-run", prune.dryRun, "Only print what would be removed");
    pruneCmd->add_flag("--json", prune.json, "Print {\"dry_run\", \"removed\": [...], \"kept\": [...]}");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    if (const ckpt::Status setting = ckpt::Array::maxReadBytesSetting(); !setting.isOk()) {
        std::cerr << "ckpt: " << setting.message() << "\n";
        return 2;
    }

    if (infoCmd->parsed()) return ckpt::cli::runInfo(info, std::cout, std::cerr);
    if (treeCmd->parsed()) return ckpt::cli::runTree(tree, std::cout, std::cerr);
    if (showCmd->parsed()) return ckpt::cli::runShow(show, std::cout, std::cerr);
    if (catCmd->parsed()) return ckpt::cli::runCat(cat, std::cout, std::cerr);
    if (shardsCmd->parsed()) return ckpt::cli::runShards(shards, std::cout, std::cerr);
    if (convertCmd->parsed()) return ckpt::cli::runConvert(convert, std::cout, std::cerr);
    if (applyCmd->parsed()) return ckpt::cli::runApply(apply, std::cout, std::cerr);
    if (conformCmd->parsed()) return ckpt::cli::runConform(conform, std::cout, std::cerr);
    if (skeletonCmd->parsed()) return ckpt::cli::runSkeleton(skeleton, std::cout, std::cerr);
    if (diffCmd->parsed()) return ckpt::cli::runDiff(diff, std::cout, std::cerr);
    if (checkCmd->parsed()) return ckpt::cli::runCheck(check, std::cout, std::cerr);
    if (stepsCmd->parsed()) return ckpt::cli::runSteps(steps, std::cout, std::cerr);
    if (pruneCmd->parsed()) return ckpt::cli::runPrune(prune, std::cout, std::cerr);
    if (doctorCmd->parsed()) return ckpt::cli::runDoctor(doctor, std::cout, std::cerr);
    if (seriesCmd->parsed()) return ckpt::cli::runSeries(series, std::cout, std::cerr);
    if (changesCmd->parsed()) return ckpt::cli::runChanges(changes, std::cout, std::cerr);
    return 2;
}
