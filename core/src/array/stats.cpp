#include "ckpt/core/stats.h"

#include <cmath>
#include <limits>
#include <vector>

namespace ckpt {

namespace {

// Running moments combined chunk by chunk (Chan et al.), stable for long streams.
struct Moments {
    std::uint64_t n = 0;
    double mean = 0;
    double m2 = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();

    void merge(const Moments& o) {
        if (o.n == 0) return;
        if (n == 0) {
            *this = o;
            return;
        }
        const double total = static_cast<double>(n + o.n);
        const double delta = o.mean - mean;
        mean += delta * static_cast<double>(o.n) / total;
        m2 += o.m2 + delta * delta * static_cast<double>(n) * static_cast<double>(o.n) / total;
        n += o.n;
        min = std::min(min, o.min);
        max = std::max(max, o.max);
    }
};

struct Accumulator {
    ArrayStats counts;
    Moments moments;

    void add(const Array& a) {
        const DType dtype = a.dtype();
        const std::uint64_t n = a.elementCount();
        counts.count += n;
        std::vector<double> values(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1 << 16)));
        Moments local;
        for (std::uint64_t begin = 0; begin < n; begin += values.size()) {
            const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(values.size(), n - begin));
            if (isComplex(dtype)) {
                for (std::size_t i = 0; i < len; ++i) {
                    const auto z = elementToComplex(dtype, a.elementPtr(begin + i));
                    values[i] = (std::isnan(z.real()) || std::isnan(z.imag())) ? std::nan("")
                                                                                : std::abs(z);
                }
            } else {
                elementsToDoubles(dtype, a.elementPtr(begin), len, values.data());
            }
            Moments block;
            double blockSum = 0;
            std::uint64_t blockN = 0;
            for (std::size_t i = 0; i < len; ++i) {
                const double v = values[i];
                if (std::isnan(v)) {
                    ++counts.nan;
                    continue;
                }
                if (std::isinf(v)) {
                    ++(v > 0 ? counts.posInf : counts.negInf);
                    continue;
                }
                if (v == 0) ++counts.zeros;
                blockSum += v;
                ++blockN;
                block.min = std::min(block.min, v);
                block.max = std::max(block.max, v);
            }
            if (blockN > 0) {
                block.n = blockN;
                block.mean = blockSum / static_cast<double>(blockN);
                double m2 = 0;
                for (std::size_t i = 0; i < len; ++i) {
                    const double v = values[i];
                    if (std::isfinite(v)) m2 += (v - block.mean) * (v - block.mean);
                }
                block.m2 = m2;
            }
            local.merge(block);
        }
        moments.merge(local);
    }

    ArrayStats finish() const {
        ArrayStats s = counts;
        s.finite = moments.n;
        if (moments.n == 0) {
            const double nan = std::numeric_limits<double>::quiet_NaN();
            s.min = s.max = s.mean = s.std = nan;
        } else {
            s.min = moments.min;
            s.max = moments.max;
            s.mean = moments.mean;
            s.std = std::sqrt(moments.m2 / static_cast<double>(moments.n));
        }
        return s;
    }
};

}  // namespace

ArrayStats computeStats(const Array& array) {
    Accumulator acc;
    acc.add(array);
    return acc.finish();
}

Result<ArrayStats> computeStats(const ArraySource& source, const CancelToken* cancel,
                                const ProgressFn& progress) {
    Accumulator acc;
    CKPT_RETURN_IF_ERROR(source.forEachChunk(
        [&](const Selection&, const Array& block) {
            acc.add(block);
            return okStatus();
        },
        cancel, progress));
    return acc.finish();
}

}  // namespace ckpt
