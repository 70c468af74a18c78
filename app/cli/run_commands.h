// The `ckpt` commands over the steps of a run directory: `series` (a leaf's or a subtree's
// norm, mean, std and max-abs at every step) and `changes` (the leaves that changed most between
// two steps). Functions over ckpt_core (ckpt/core/run_series.h) that write to the given streams
// and return the process exit status; main.cpp only parses arguments. Each call is independent
// apart from the process-wide statistics cache (StatsCache::shared()).
#pragma once

#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>

namespace ckpt::cli {

struct SeriesArgs {
    std::filesystem::path run;
    std::string format;  // empty = detect
    std::string keyPath;
    bool json = false;
};

struct ChangesArgs {
    std::filesystem::path run;
    std::string format;  // empty = detect
    std::string from;
    std::string to;
    std::size_t top = 20;  // 0 = every changed leaf
    bool json = false;
};

// 0 when at least one step has numbers (steps with errors are listed with them); 1 when the run
// cannot be opened, the key path does not parse, or no step has numbers.
int runSeries(const SeriesArgs& args, std::ostream& out, std::ostream& err);
// 0 compared (whether or not anything changed); 1 on error.
int runChanges(const ChangesArgs& args, std::ostream& out, std::ostream& err);

}  // namespace ckpt::cli
