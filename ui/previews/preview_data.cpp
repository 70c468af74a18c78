#include "previews/preview_data.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <complex>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "bridge/qt_convert.h"
#include "ckpt/core/tree.h"

namespace ckpt::ui {

namespace {

// Bytes per read when a slice image is streamed (bounds memory for very large slices; the
// default Orbax chunk cap, so one read can take a whole chunk's plane).
constexpr std::uint64_t kMaxSliceReadBytes = std::uint64_t{64} << 20;
// Bytes per block of the histogram's binning pass.
constexpr std::uint64_t kBinningBlockBytes = 16ULL << 20;

// The value at fraction q of the sorted finite values (nearest rank); `values` is reordered.
double percentile(std::vector<double>& values, double q) {
    const auto k =
        static_cast<std::size_t>(std::llround(q * static_cast<double>(values.size() - 1)));
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
}

// Python-like text for one element. Floats of at most 32 bits print as the shortest float32
// text (0.1, not the widened double 0.10000000149011612); everything else as Scalar::toText().
QString elementText(DType dtype, const std::byte* p) {
    if (isFloating(dtype) && itemSize(dtype) <= 4) {
        std::array<char, 64> buffer{};
        const auto value = static_cast<float>(elementToDouble(dtype, p));
        const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
        if (ec == std::errc()) {
            const std::string_view text(buffer.data(),
                                        static_cast<std::size_t>(end - buffer.data()));
            QString out = toQString(text);
            if (std::isfinite(value) && text.find_first_of(".e") == std::string_view::npos) {
                out += QStringLiteral(".0");
            }
            return out;
        }
    }
    auto scalar = Scalar::fromBits(dtype, std::span<const std::byte>(p, itemSize(dtype)));
    return scalar.isOk() ? toQString(scalar->toText()) : QStringLiteral("?");
}

}  // namespace

void appendDisplayValues(const Array& array, std::vector<double>& out) {
    const std::size_t n = array.elementCount();
    const std::size_t old = out.size();
    out.resize(old + n);
    if (isComplex(array.dtype())) {
        for (std::size_t i = 0; i < n; ++i) {
            out[old + i] = std::abs(elementToComplex(array.dtype(), array.elementPtr(i)));
        }
    } else if (n > 0) {
        elementsToDoubles(array.dtype(), array.elementPtr(0), n, out.data() + old);
    }
}

std::size_t histogramBin(double value, double lo, double hi, std::size_t bins) {
    if (bins <= 1 || !(hi > lo)) return 0;
    const double t = (value - lo) / (hi - lo) * static_cast<double>(bins);
    if (!(t > 0)) return 0;
    return std::min(static_cast<std::size_t>(t), bins - 1);
}

double Histogram::binLow(std::size_t bin) const {
    if (counts.empty()) return lo;
    return lo + (hi - lo) * static_cast<double>(bin) / static_cast<double>(counts.size());
}

double Histogram::binHigh(std::size_t bin) const {
    if (counts.empty() || bin + 1 >= counts.size()) return hi;
    return binLow(bin + 1);
}

Result<Histogram> computeHistogram(const ArraySource& source, std::size_t bins,
                                   const CancelToken* cancel, const ProgressFn& progress) {
    const std::uint64_t bytes = source.byteSize();
    Histogram histogram;
    CKPT_ASSIGN_OR_RETURN(histogram.stats,
                          computeStats(source, cancel, [&](std::uint64_t done, std::uint64_t) {
                              if (progress) progress(done, 2 * bytes);
                          }));
    if (histogram.stats.finite == 0) {
        if (progress) progress(2 * bytes, 2 * bytes);
        return histogram;
    }
    histogram.lo = histogram.stats.min;
    histogram.hi = histogram.stats.max;
    const std::size_t binCount = histogram.hi > histogram.lo ? std::max<std::size_t>(bins, 1) : 1;
    histogram.counts.assign(binCount, 0);

    const DType dtype = source.dtype();
    const std::size_t item = itemSize(dtype);
    std::uint64_t done = 0;
    std::vector<double> values;
    CKPT_RETURN_IF_ERROR(forEachCOrderBlock(
        source, kBinningBlockBytes,
        [&](std::span<const std::byte> block) -> Status {
            if (isCancelled(cancel)) return cancelledError("cancelled");
            const std::size_t n = block.size() / item;
            values.resize(n);
            if (isComplex(dtype)) {
                for (std::size_t i = 0; i < n; ++i) {
                    values[i] = std::abs(elementToComplex(dtype, block.data() + i * item));
                }
            } else if (n > 0) {
                elementsToDoubles(dtype, block.data(), n, values.data());
            }
            for (const double v : values) {
                if (std::isfinite(v)) {
                    ++histogram.counts[histogramBin(v, histogram.lo, histogram.hi, binCount)];
                }
            }
            done += block.size();
            if (progress) progress(bytes + done, 2 * bytes);
            return okStatus();
        },
        cancel));
    return histogram;
}

SliceSpec SliceSpec::defaultFor(const Shape& shape) {
    SliceSpec spec;
    const int rank = static_cast<int>(shape.size());
    spec.index.assign(shape.size(), 0);
    spec.rowAxis = rank >= 2 ? rank - 2 : -1;
    spec.colAxis = rank >= 1 ? rank - 1 : -1;
    return spec;
}

Status SliceSpec::validate(const Shape& shape) const {
    const int rank = static_cast<int>(shape.size());
    if (index.size() != shape.size()) return invalidArgumentError("slice index has the wrong rank");
    if (rank == 0) {
        if (rowAxis != -1 || colAxis != -1) return invalidArgumentError("a 0-d array has no axes");
        return okStatus();
    }
    if (rank == 1) {
        // One row (rowAxis -1) or one column (colAxis -1).
        if (!((rowAxis == -1 && colAxis == 0) || (rowAxis == 0 && colAxis == -1))) {
            return invalidArgumentError("a 1-d slice needs axis 0 and -1");
        }
        return okStatus();
    }
    if (colAxis < 0 || colAxis >= rank) return invalidArgumentError("column axis out of range");
    // rowAxis -1: one line along colAxis.
    if (rowAxis != -1 && (rowAxis < 0 || rowAxis >= rank || rowAxis == colAxis)) {
        return invalidArgumentError("row axis out of range");
    }
    for (int d = 0; d < rank; ++d) {
        if (d == rowAxis || d == colAxis) continue;
        const std::int64_t i = index[static_cast<std::size_t>(d)];
        if (i < 0 || i >= shape[static_cast<std::size_t>(d)]) {
            return invalidArgumentError("index " + std::to_string(i) + " out of range for axis " +
                                        std::to_string(d) + " of " + formatShape(shape));
        }
    }
    return okStatus();
}

std::int64_t SliceSpec::rows(const Shape& shape) const {
    return rowAxis < 0 ? 1 : shape[static_cast<std::size_t>(rowAxis)];
}

std::int64_t SliceSpec::cols(const Shape& shape) const {
    return colAxis < 0 ? 1 : shape[static_cast<std::size_t>(colAxis)];
}

Selection SliceSpec::select(const Shape& shape, std::int64_t row0, std::int64_t rowCount,
                            std::int64_t col0, std::int64_t colCount) const {
    Selection sel;
    sel.start.assign(shape.size(), 0);
    sel.count.assign(shape.size(), 1);
    for (std::size_t d = 0; d < shape.size(); ++d) sel.start[d] = index[d];
    if (rowAxis >= 0) {
        sel.start[static_cast<std::size_t>(rowAxis)] = row0;
        sel.count[static_cast<std::size_t>(rowAxis)] = rowCount;
    }
    if (colAxis >= 0) {
        sel.start[static_cast<std::size_t>(colAxis)] = col0;
        sel.count[static_cast<std::size_t>(colAxis)] = colCount;
    }
    return sel;
}

SliceSpec SliceSpec::row(std::int64_t r) const {
    SliceSpec line{-1, colAxis, index};
    line.index[static_cast<std::size_t>(rowAxis)] = r;
    return line;
}

SliceSpec SliceSpec::column(std::int64_t c) const {
    SliceSpec line{-1, rowAxis, index};
    line.index[static_cast<std::size_t>(colAxis)] = c;
    return line;
}

Result<SliceImage> readSliceImage(const ArraySource& source, const SliceSpec& spec, int maxRows,
                                  int maxCols, const CancelToken* cancel,
                                  const ProgressFn& progress) {
    const Shape& shape = source.shape();
    CKPT_RETURN_IF_ERROR(spec.validate(shape));
    SliceImage image;
    image.rows = spec.rows(shape);
    image.cols = spec.cols(shape);
    if (image.rows == 0 || image.cols == 0) return image;
    maxRows = std::max(maxRows, 1);
    maxCols = std::max(maxCols, 1);
    image.rowStep = (image.rows + maxRows - 1) / maxRows;
    image.colStep = (image.cols + maxCols - 1) / maxCols;
    image.displayRows = static_cast<int>((image.rows + image.rowStep - 1) / image.rowStep);
    image.displayCols = static_cast<int>((image.cols + image.colStep - 1) / image.colStep);
    const auto cells =
        static_cast<std::size_t>(image.displayRows) * static_cast<std::size_t>(image.displayCols);
    std::vector<double> sum(cells, 0.0);
    std::vector<std::uint32_t> finite(cells, 0);
    // Per cell: bit 0 NaN, bit 1 +Inf, bit 2 -Inf seen.
    std::vector<std::uint8_t> special(cells, 0);

    // Reads are as large as kMaxSliceReadBytes allows: whole display columns, then as many whole
    // display rows as fit (for the usual slice, the whole slice in one read). A storage chunk
    // that cannot be decoded in part (zstd inside a zarr v3 shard, as Orbax writes) is decoded
    // once per read that touches it, so one read per display row would decode the same chunk
    // hundreds of times. Values are converted to doubles one line at a time, never the block.
    const std::size_t item = itemSize(source.dtype());
    const bool complex = isComplex(source.dtype());
    const std::int64_t budget =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(kMaxSliceReadBytes / item));
    const std::int64_t colsPerRead = std::max<std::int64_t>(
        image.colStep, budget / image.rowStep / image.colStep * image.colStep);
    const std::int64_t rowsPerRead =
        colsPerRead >= image.cols
            ? std::max<std::int64_t>(1, budget / image.rowStep / image.cols) * image.rowStep
            : image.rowStep;
    // In the read block, rows and columns keep the array's axis order: when the row axis comes
    // after the column axis the block is column-major as displayed.
    const bool transposed = spec.rowAxis > spec.colAxis;
    const std::uint64_t total =
        static_cast<std::uint64_t>(image.rows) * static_cast<std::uint64_t>(image.cols);
    std::uint64_t done = 0;
    std::vector<double> line;
    // Adds one line of the block (n values at slice positions pos, pos + 1, ... along the axis
    // grouped by `step`) to the cells base + (position / step) * stride.
    const auto addLine = [&](const std::byte* src, std::size_t n, std::size_t base,
                             std::int64_t pos, std::int64_t step, std::size_t stride) {
        line.resize(n);
        if (complex) {
            for (std::size_t i = 0; i < n; ++i) {
                line[i] = std::abs(elementToComplex(source.dtype(), src + i * item));
            }
        } else {
            elementsToDoubles(source.dtype(), src, n, line.data());
        }
        std::size_t i = 0;
        while (i < n) {
            const std::int64_t group = (pos + static_cast<std::int64_t>(i)) / step;
            const std::size_t end =
                std::min(n, static_cast<std::size_t>((group + 1) * step - pos));
            double blockSum = 0;
            std::uint32_t blockFinite = 0;
            std::uint8_t blockSpecial = 0;
            for (; i < end; ++i) {
                const double v = line[i];
                if (std::isfinite(v)) {
                    blockSum += v;
                    ++blockFinite;
                } else {
                    blockSpecial |= static_cast<std::uint8_t>(std::isnan(v) ? 1 : (v > 0 ? 2 : 4));
                }
            }
            const std::size_t cell = base + static_cast<std::size_t>(group) * stride;
            sum[cell] += blockSum;
            finite[cell] += blockFinite;
            special[cell] |= blockSpecial;
        }
    };
    const auto displayCols = static_cast<std::size_t>(image.displayCols);
    for (std::int64_t row0 = 0; row0 < image.rows; row0 += rowsPerRead) {
        const std::int64_t rowCount = std::min(rowsPerRead, image.rows - row0);
        for (std::int64_t col0 = 0; col0 < image.cols; col0 += colsPerRead) {
            if (isCancelled(cancel)) return cancelledError("cancelled");
            const std::int64_t colCount = std::min(colsPerRead, image.cols - col0);
            CKPT_ASSIGN_OR_RETURN(
                Array block,
                source.read(spec.select(shape, row0, rowCount, col0, colCount), cancel));
            const std::byte* data = block.elementPtr(0);
            if (transposed) {
                // Line c is slice column col0 + c, over rows row0 .. row0 + rowCount.
                for (std::int64_t c = 0; c < colCount; ++c) {
                    addLine(data + static_cast<std::size_t>(c * rowCount) * item,
                            static_cast<std::size_t>(rowCount),
                            static_cast<std::size_t>((col0 + c) / image.colStep), row0,
                            image.rowStep, displayCols);
                }
            } else {
                // Line r is slice row row0 + r, over columns col0 .. col0 + colCount.
                for (std::int64_t r = 0; r < rowCount; ++r) {
                    addLine(data + static_cast<std::size_t>(r * colCount) * item,
                            static_cast<std::size_t>(colCount),
                            static_cast<std::size_t>((row0 + r) / image.rowStep) * displayCols,
                            col0, image.colStep, 1);
                }
            }
            done += static_cast<std::uint64_t>(rowCount * colCount);
            if (progress) progress(done, total);
        }
    }

    image.values.resize(cells);
    std::vector<double> finiteCells;
    finiteCells.reserve(cells);
    for (std::size_t i = 0; i < cells; ++i) {
        if (finite[i] > 0) {
            image.values[i] = sum[i] / finite[i];
            finiteCells.push_back(image.values[i]);
        } else if ((special[i] & 1) != 0) {
            image.values[i] = std::numeric_limits<double>::quiet_NaN();
        } else {
            image.values[i] = (special[i] & 2) != 0 ? std::numeric_limits<double>::infinity()
                                                    : -std::numeric_limits<double>::infinity();
        }
    }
    if (!finiteCells.empty()) {
        image.hasFinite = true;
        const auto [lo, hi] = std::minmax_element(finiteCells.begin(), finiteCells.end());
        image.min = *lo;
        image.max = *hi;
        image.p01 = percentile(finiteCells, 0.01);
        image.p99 = percentile(finiteCells, 0.99);
    }
    return image;
}

Result<TablePage> readTablePage(const ArraySource& source, const SliceSpec& spec, std::int64_t row0,
                                std::int64_t col0, int rows, int cols, const CancelToken* cancel) {
    const Shape& shape = source.shape();
    CKPT_RETURN_IF_ERROR(spec.validate(shape));
    TablePage page;
    page.totalRows = spec.rows(shape);
    page.totalCols = spec.cols(shape);
    page.row0 = std::clamp<std::int64_t>(row0, 0, page.totalRows);
    page.col0 = std::clamp<std::int64_t>(col0, 0, page.totalCols);
    page.rows = static_cast<int>(std::clamp<std::int64_t>(page.totalRows - page.row0, 0, rows));
    page.cols = static_cast<int>(std::clamp<std::int64_t>(page.totalCols - page.col0, 0, cols));
    if (page.rows == 0 || page.cols == 0) return page;
    CKPT_ASSIGN_OR_RETURN(
        Array block,
        source.read(spec.select(shape, page.row0, page.rows, page.col0, page.cols), cancel));
    const bool transposed = spec.rowAxis > spec.colAxis;
    const DType dtype = source.dtype();
    page.cells.reserve(static_cast<std::size_t>(page.rows) * static_cast<std::size_t>(page.cols));
    for (int r = 0; r < page.rows; ++r) {
        for (int c = 0; c < page.cols; ++c) {
            const std::size_t i =
                static_cast<std::size_t>(transposed ? c * page.rows + r : r * page.cols + c);
            page.cells.push_back(elementText(dtype, block.elementPtr(i)));
        }
    }
    return page;
}

}  // namespace ckpt::ui
