// Doctor: a whole-checkpoint health check behind `ckpt doctor`. Opens a checkpoint, reads every
// array fully (streamed chunk by chunk, as computeStats does) and reports what looks wrong as a
// list of findings with a stable code: NaN/Inf values, all-zero and constant leaves, leaves whose
// data cannot be read, incomplete steps of a run directory, leaves whose statistics jumped since
// the previous step of the run, Orbax metadata/data mismatches, stored-versus-memory size
// oddities, plus a dtype census.
//
// examineCheckpoint() is a pure function of the files on disk: it keeps no state, may be called
// from any thread, polls `cancel` between and inside arrays and reports progress in bytes of array
// data read. The report is a plain value owned by the caller.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/status.h"

namespace ckpt {

enum class FindingSeverity { kError, kWarning, kInfo };

// "error", "warning", "info".
const char* findingSeverityName(FindingSeverity severity);

// Stable finding codes (the JSON "code" field; scripts may match on them).
namespace doctor_code {
inline constexpr const char* kNan = "nan";                         // error: NaN elements
inline constexpr const char* kInf = "inf";                         // error: ±Inf elements
inline constexpr const char* kReadError = "read-error";            // error: data cannot be read
inline constexpr const char* kMissingData = "missing-data";        // error: metadata, no data
inline constexpr const char* kIncompleteStep = "incomplete-step";  // warning: unfinished save
inline constexpr const char* kOpenWarning = "open-warning";        // warning: reader's own warning
inline constexpr const char* kOrphanArray = "orphan-array";        // warning: data, no metadata
inline constexpr const char* kStatsJump = "stats-jump";            // warning: see DoctorOptions
inline constexpr const char* kAllZero = "all-zero";                // info: every element is 0
inline constexpr const char* kConstant = "constant";               // info: min == max != 0
inline constexpr const char* kStoredLarger = "stored-larger";      // info: on disk > in memory
inline constexpr const char* kHighlyCompressed = "highly-compressed";  // info: on disk << memory
inline constexpr const char* kOrphanCheckSkipped = "orphan-check-skipped";  // info
}  // namespace doctor_code

struct Finding {
    FindingSeverity severity = FindingSeverity::kInfo;
    std::string code;     // one of doctor_code
    std::string keyPath;  // formatKeyPath() of the leaf or subtree; empty for the whole checkpoint
    std::string message;  // human text, names the file or the leaf
};

struct DTypeCensus {
    std::uint64_t count = 0;  // arrays and scalars of the dtype
    std::uint64_t bytes = 0;  // their in-memory bytes
};

struct DoctorReport {
    std::filesystem::path path;       // what was opened (the step directory for a run)
    std::optional<std::string> step;  // which step, for run directories
    // The step stats-jump compared against: the nearest earlier complete step of the run;
    // absent for single checkpoints, the first step, or when that step could not be opened.
    std::optional<std::string> previousStep;
    std::string format;
    std::vector<Finding> findings;              // errors first, then warnings, then infos
    std::map<std::string, DTypeCensus> census;  // dtype name -> counts
    std::uint64_t arraysRead = 0;

    // No error or warning findings (infos do not count).
    bool healthy() const;
    std::size_t count(FindingSeverity severity) const;
};

struct DoctorOptions {
    std::optional<std::string> step;  // run directories: examine this step (default the latest)
    std::string format;               // empty = detect
    // Subtrees whose stored bytes are below memory bytes / this factor are reported as
    // highly-compressed (info), if at least kMinCompressedReportBytes in memory.
    double compressedFactor = 10.0;

    // stats-jump, for run directories: every array leaf of more than one element is compared
    // with the leaf of the same key path and shape in the previous complete step, over finite
    // elements (statistics as computeStats: streamed, complex over |z|). One warning per leaf
    // when any of these holds:
    //   ‖x‖ / ‖x_prev‖ > jumpFactor or < 1 / jumpFactor  (skipped when ‖x_prev‖ = 0: a
    //                                                     zero-initialised leaf may start moving)
    //   std / std_prev, the same bounds                   (skipped when std_prev = 0: constant
    //                                                     initialisation such as a LayerNorm scale)
    //   |mean − mean_prev| > meanShiftStds · std_prev     (skipped when std_prev = 0)
    // jumpFactor ≤ 1 disables the two ratio tests, meanShiftStds ≤ 0 the shift test. Leaves with
    // no finite element on either side are skipped (NaN and Inf are the nan/inf errors), as are
    // leaves of the previous step that cannot be read (examining that step reports them).
    double jumpFactor = 10.0;
    double meanShiftStds = 10.0;
};

// The checkpoint could not be opened at all: the open error (CLI exit 2). Everything found after
// opening — unreadable leaves included — is a Finding. Cancelled when `cancel` fires; progress is
// (array bytes read, total array bytes), the total including the previous step's leaves that the
// stats-jump check reads.
Result<DoctorReport> examineCheckpoint(const std::filesystem::path& path,
                                       const DoctorOptions& options = {},
                                       const CancelToken* cancel = nullptr,
                                       const ProgressFn& progress = {});

}  // namespace ckpt
