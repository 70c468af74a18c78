// The computations behind the array preview: histogram, 2-D slice images and table pages.
//
// Each function reads only what it documents through ArraySource (whole array for the histogram,
// one 2-D slice for the image, one page for the table), polls the CancelToken between reads and
// reports progress. They hold no state and touch no widget, so ArrayPreview runs them on the
// thread pool; safe to call from any thread.
#pragma once

#include <QString>
#include <cstdint>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/stats.h"

namespace ckpt::ui {

// Appends the display values of `array`: real values as doubles (ckpt::elementsToDoubles, so
// bfloat16, float8 and int4 are decoded), complex values as their magnitude |z|.
void appendDisplayValues(const Array& array, std::vector<double>& out);

// The bin of `value` among `bins` equal bins over [lo, hi]; hi itself falls in the last bin.
// `value` must be finite and within [lo, hi].
std::size_t histogramBin(double value, double lo, double hi, std::size_t bins);

struct Histogram {
    ArrayStats stats;                   // computeStats() of the whole array
    std::vector<std::uint64_t> counts;  // finite values per bin; empty when there are none
    double lo = 0;                      // the bins cover [lo, hi] = [stats.min, stats.max]
    double hi = 0;

    double binLow(std::size_t bin) const;
    double binHigh(std::size_t bin) const;
};

// One job, two streamed passes: computeStats() for min/max, then a binning pass over the finite
// values (for complex dtypes their magnitudes). A constant array gets a single bin. Progress runs
// over both passes (total = 2 × byteSize()).
Result<Histogram> computeHistogram(const ArraySource& source, std::size_t bins,
                                   const CancelToken* cancel = nullptr,
                                   const ProgressFn& progress = {});

// Which 2-D slice of an N-D array to show: `rowAxis` and `colAxis` are the displayed axes; every
// other axis d is fixed at index[d]. For a 1-D array one of them is -1: rowAxis -1 gives one row
// (colAxis 0), colAxis -1 one column (rowAxis 0). A 0-d array has both at -1 (one cell). For rank
// >= 2, rowAxis -1 is one line along colAxis with every other axis fixed (see row() and column()).
struct SliceSpec {
    int rowAxis = 0;
    int colAxis = 1;
    std::vector<std::int64_t> index;  // one per axis; entries of the displayed axes are ignored

    // The default for `shape`: the last two axes, other indices 0; 1-D: the one axis.
    static SliceSpec defaultFor(const Shape& shape);
    // Checks the axes and indices against `shape`.
    Status validate(const Shape& shape) const;
    std::int64_t rows(const Shape& shape) const;
    std::int64_t cols(const Shape& shape) const;
    // The selection of rows [row0, row0 + rowCount) and columns [col0, col0 + colCount).
    Selection select(const Shape& shape, std::int64_t row0, std::int64_t rowCount,
                     std::int64_t col0, std::int64_t colCount) const;
    // Row `r` of this 2-D slice as a one-row spec (along colAxis, rowAxis fixed at r), and column
    // `c` as a one-row spec along rowAxis (colAxis fixed at c). Need rowAxis and colAxis >= 0.
    SliceSpec row(std::int64_t r) const;
    SliceSpec column(std::int64_t c) const;
};

// A slice as shown: at most maxRows × maxCols cells, each the mean of the finite values of a
// rowStep × colStep block of the slice (1 × 1 when the slice fits). A cell with no finite value
// holds NaN if its block has a NaN, else the infinity it has.
struct SliceImage {
    std::int64_t rows = 0;  // the slice's size
    std::int64_t cols = 0;
    std::int64_t rowStep = 1;
    std::int64_t colStep = 1;
    int displayRows = 0;
    int displayCols = 0;
    std::vector<double> values;  // displayRows × displayCols, row-major
    bool hasFinite = false;      // the range below is meaningful
    double min = 0;              // over the finite cells
    double max = 0;
    double p01 = 0;  // 1st and 99th percentiles of the finite cells
    double p99 = 0;

    double at(int row, int col) const {
        return values[static_cast<std::size_t>(row) * static_cast<std::size_t>(displayCols) +
                      static_cast<std::size_t>(col)];
    }
};

// Reads exactly the slice, in blocks of whole display rows (and column runs bounded in size) as
// large as 64 MiB allows (usually the whole slice in one read), never any element outside it;
// values are averaged while streaming, a line at a time. Progress counts slice elements.
Result<SliceImage> readSliceImage(const ArraySource& source, const SliceSpec& spec, int maxRows,
                                  int maxCols, const CancelToken* cancel = nullptr,
                                  const ProgressFn& progress = {});

// One page of the slice as text, numpy-like: float32 and narrower floats as their shortest float32
// text, other dtypes as Scalar::toText().
struct TablePage {
    std::int64_t row0 = 0;
    std::int64_t col0 = 0;
    int rows = 0;
    int cols = 0;
    std::int64_t totalRows = 0;  // the slice's size
    std::int64_t totalCols = 0;
    std::vector<QString> cells;  // rows × cols, row-major
};

// Reads rows [row0, row0 + rows) × columns [col0, col0 + cols) of the slice, clipped to it.
Result<TablePage> readTablePage(const ArraySource& source, const SliceSpec& spec, std::int64_t row0,
                                std::int64_t col0, int rows, int cols,
                                const CancelToken* cancel = nullptr);

}  // namespace ckpt::ui
