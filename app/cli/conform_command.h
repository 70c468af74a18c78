// `ckpt conform`: turn a checkpoint into one that restores into a reference's structure
// (ckpt/core/conform.h), print the plan, and write the result the way `ckpt apply` does.
// A function over ckpt_core that writes to the given streams and returns the process exit
// status; main.cpp only parses arguments. Each call is independent and keeps no state.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "commands.h"

namespace ckpt::cli {

inline constexpr int kConformOk = 0;
inline constexpr int kConformError = 2;

struct ConformArgs : WriterArgs {
    SourceArgs source;
    std::filesystem::path reference;           // --reference: checkpoint or structure file
    std::optional<std::string> referenceStep;  // --reference-step
    std::filesystem::path target;              // DST; may be empty with --dry-run
    std::string to;                            // empty = the source's format
    std::vector<std::string> renames;          // --rename REGEX=REPLACEMENT
    std::vector<std::string> stacks;           // --stack PARENT/PREFIX[=NEWKEY]
    std::vector<std::string> unstacks;         // --unstack PATH[=PREFIX]
    bool keepExtra = false;
    std::string fill = "reference";  // reference | zeros | constant:VALUE | none
    bool noCast = false;
    std::optional<std::filesystem::path> recipeOut;
    bool dryRun = false;
    bool json = false;
};

// kConformOk, or kConformError (nothing written) when an input cannot be read, the plan cannot
// make SRC match REF (the message names every key path concerned) or the write fails.
int runConform(const ConformArgs& args, std::ostream& out, std::ostream& err);

}  // namespace ckpt::cli
