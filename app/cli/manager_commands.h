// `ckpt steps` and `ckpt prune`: a CheckpointManager root's steps and Orbax's retention policies.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

namespace ckpt::cli {

struct RetentionArgs {
    int maxToKeep = 0;
    std::optional<std::int64_t> keepPeriod;
    std::optional<std::string> bestMetric;
    std::string bestMode = "max";
    bool dropWithoutMetrics = false;  // keep_checkpoints_without_metrics=False
    std::string stepPrefix;
};

struct StepsArgs {
    std::filesystem::path root;
    bool json = false;
    RetentionArgs retention;  // only bestMetric/bestMode/stepPrefix matter: the best marker
};

struct PruneArgs {
    std::filesystem::path root;
    RetentionArgs retention;
    bool dryRun = false;
    bool json = false;
};

int runSteps(const StepsArgs& args, std::ostream& out, std::ostream& err);
int runPrune(const PruneArgs& args, std::ostream& out, std::ostream& err);

}  // namespace ckpt::cli
