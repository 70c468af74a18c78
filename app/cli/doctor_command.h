// `ckpt doctor`: the health check of one checkpoint (ckpt/core/doctor.h) as text or JSON.
// A function over ckpt_core that writes to the given streams and returns the process exit
// status; main.cpp only parses arguments. Each call is independent and keeps no state.
#pragma once

#include <ostream>

#include "ckpt/core/doctor.h"
#include "commands.h"

namespace ckpt::cli {

// Exit statuses of `ckpt doctor`.
inline constexpr int kDoctorHealthy = 0;   // no error or warning findings
inline constexpr int kDoctorProblems = 1;  // at least one error or warning finding
inline constexpr int kDoctorError = 2;     // the checkpoint could not be examined

struct DoctorArgs {
    SourceArgs source;
    bool json = false;
    double jumpFactor = DoctorOptions{}.jumpFactor;        // --jump-factor
    double meanShiftStds = DoctorOptions{}.meanShiftStds;  // --mean-shift-stds
};

// kDoctorHealthy, kDoctorProblems or kDoctorError.
int runDoctor(const DoctorArgs& args, std::ostream& out, std::ostream& err);

}  // namespace ckpt::cli
