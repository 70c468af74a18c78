// The `ckpt` commands about structure mismatches: `skeleton` (write a structure file), `diff`
// (compare two checkpoints, steps or structure files) and `check` (restore preflight against a
// reference). Functions over ckpt_core (ckpt/core/diff.h) that write to the given streams and
// return the process exit status documented per command; main.cpp only parses arguments.
// Each call is independent; nothing here keeps state between calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "commands.h"

namespace ckpt::cli {

// Exit statuses of `ckpt diff`.
inline constexpr int kDiffIdentical = 0;
inline constexpr int kDiffDifferent = 1;
inline constexpr int kDiffError = 2;

// Exit statuses of `ckpt check` (one per ckpt::PreflightOutcome, plus errors).
inline constexpr int kCheckExact = 0;
inline constexpr int kCheckError = 2;
inline constexpr int kCheckExtraKeys = 3;
inline constexpr int kCheckMissingKeys = 4;
inline constexpr int kCheckMismatch = 5;

struct SkeletonArgs {
    SourceArgs source;
    std::optional<std::filesystem::path> output;  // -o FILE; default stdout
    std::uint64_t maxValueElements = 0;           // --values-up-to N
};

struct DiffArgs {
    SourceArgs a;  // a.step from --step-a
    SourceArgs b;  // b.step from --step-b; b.path empty = A (two steps of one run)
    bool json = false;
    bool values = true;      // --no-values: structure only
    bool bitOnly = false;    // --bit-only: equality only, stop at the first difference
    bool showEqual = false;  // --show-equal: list equal leaves too
};

struct CheckArgs {
    SourceArgs source;
    std::filesystem::path against;
    std::optional<std::string> againstStep;  // --against-step
    bool json = false;
};

// 0 written; 1 on error.
int runSkeleton(const SkeletonArgs& args, std::ostream& out, std::ostream& err);
// kDiffIdentical, kDiffDifferent or kDiffError.
int runDiff(const DiffArgs& args, std::ostream& out, std::ostream& err);
// kCheckExact, kCheckExtraKeys, kCheckMissingKeys, kCheckMismatch or kCheckError.
int runCheck(const CheckArgs& args, std::ostream& out, std::ostream& err);

}  // namespace ckpt::cli
