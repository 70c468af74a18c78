// Exact whole-array statistics, streamed chunk by chunk (never the whole array in memory).
#pragma once

#include <cstdint>

#include "ckpt/core/array_source.h"

namespace ckpt {

struct ArrayStats {
    std::uint64_t count = 0;      // all elements
    std::uint64_t finite = 0;     // elements that are not NaN or ±Inf
    std::uint64_t nan = 0;
    std::uint64_t posInf = 0;
    std::uint64_t negInf = 0;
    std::uint64_t zeros = 0;
    // Over the finite elements (for complex dtypes: over |z|); NaN when there are none.
    double min = 0;
    double max = 0;
    double mean = 0;
    double std = 0;  // population standard deviation, as numpy's default
};

// Streams every chunk of `source`. Integer values beyond 2^53 are rounded to double.
Result<ArrayStats> computeStats(const ArraySource& source, const CancelToken* cancel = nullptr,
                                const ProgressFn& progress = {});

// Statistics of an in-memory block (the same rules).
ArrayStats computeStats(const Array& array);

}  // namespace ckpt
