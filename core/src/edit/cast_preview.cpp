// previewCast: what a cast would do to one array, streamed chunk by chunk (edit.h).
#include <algorithm>
#include <array>
#include <cmath>

#include "ckpt/core/edit.h"
#include "edit/element_cast.h"

namespace ckpt {

namespace {

bool isIntegral(DType d) { return isInteger(d) || d == DType::kBool; }

// Accumulates one element's outcome into the report.
void account(DType from, const std::byte* src, DType to, CastReport& report) {
    std::array<std::byte, 16> out{};
    edit::castElement(from, src, to, out.data());
    ++report.count;
    if (isIntegral(from) && isIntegral(to)) {
        // Exact integer comparison (doubles would blur int64 values beyond 2^53).
        const bool fromUnsigned = from == DType::kUInt64;
        const bool toUnsigned = to == DType::kUInt64;
        const std::int64_t a = elementToInt64(from, src);
        const std::int64_t b = elementToInt64(to, out.data());
        bool same = a == b;
        if (fromUnsigned != toUnsigned) same = same && a >= 0;
        if (to == DType::kBool) same = a == 0 || a == 1 ? a == b : false;
        if (!same) {
            ++report.changed;
            if (to != DType::kBool) ++report.outOfRange;
            const double diff = std::fabs(static_cast<double>(a) - static_cast<double>(b));
            report.maxAbsError = std::max(report.maxAbsError, diff);
            if (a != 0) {
                report.maxRelError =
                    std::max(report.maxRelError, diff / std::fabs(static_cast<double>(a)));
            }
        }
        return;
    }
    const double v = from == DType::kUInt64 ? static_cast<double>(elementToUInt64(from, src))
                     : isIntegral(from)    ? static_cast<double>(elementToInt64(from, src))
                                           : elementToDouble(from, src);
    const double w = to == DType::kUInt64 ? static_cast<double>(elementToUInt64(to, out.data()))
                                          : elementToDouble(to, out.data());
    const bool vNan = std::isnan(v);
    const bool wNan = std::isnan(w);
    if (wNan && !vNan) ++report.nanCreated;
    if (isInteger(to)) {
        const edit::IntRange range = edit::intRange(to);
        const double t = std::trunc(v);
        if (vNan || t < range.min || t >= range.maxExclusive) ++report.outOfRange;
    } else if (to != DType::kBool && std::isfinite(v) && !std::isfinite(w)) {
        ++report.outOfRange;
    }
    bool same = v == w || (vNan && wNan);
    if (isComplex(from) && !isComplex(to)) {
        same = same && elementToComplex(from, src).imag() == 0;
    }
    if (!same) ++report.changed;
    if (std::isfinite(v) && std::isfinite(w)) {
        const double diff = std::fabs(w - v);
        report.maxAbsError = std::max(report.maxAbsError, diff);
        if (v != 0) report.maxRelError = std::max(report.maxRelError, diff / std::fabs(v));
    }
}

}  // namespace

Result<CastReport> previewCast(const ArraySource& source, DType to, const CancelToken* cancel,
                               const ProgressFn& progress) {
    CKPT_RETURN_IF_ERROR(edit::checkCastTarget(to));
    const DType from = source.dtype();
    const std::size_t item = itemSize(from);
    CastReport report;
    Status s = source.forEachChunk(
        [&](const Selection&, const Array& block) {
            const std::byte* data = block.bytes().data();
            for (std::uint64_t i = 0; i < block.elementCount(); ++i) {
                account(from, data + i * item, to, report);
            }
            return okStatus();
        },
        cancel, progress);
    if (!s.isOk()) return s;
    return report;
}

}  // namespace ckpt
