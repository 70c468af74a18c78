// Tests for previews/preview_data and previews/colormap: histogram counts against an independent
// count, slice reads that touch exactly the requested slice (also when downsampled), table pages,
// and the colormaps' fixed points.
#include <QTest>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "previews/colormap.h"
#include "previews/preview_data.h"
#include "tests/ui/preview_test_sources.h"

using ckpt::Selection;
using ckpt::Shape;
using ckpt::ui::SliceSpec;
using preview_test::CountingSource;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Every element index (as a tuple over up to 3 axes) covered by `selections`, with repeats.
std::multiset<std::vector<std::int64_t>> coveredElements(const std::vector<Selection>& selections) {
    std::multiset<std::vector<std::int64_t>> out;
    for (const Selection& sel : selections) {
        std::vector<std::int64_t> i(sel.start.size());
        const std::uint64_t n = sel.elementCount();
        for (std::uint64_t k = 0; k < n; ++k) {
            std::uint64_t rest = k;
            for (std::size_t d = sel.start.size(); d-- > 0;) {
                const auto c = static_cast<std::uint64_t>(sel.count[d]);
                i[d] = sel.start[d] + static_cast<std::int64_t>(rest % c);
                rest /= c;
            }
            out.insert(i);
        }
    }
    return out;
}

}  // namespace

class TestPreviewData : public QObject {
    Q_OBJECT

private slots:
    void histogramCountsEqualAnIndependentCount() {
        // Values 0.5, 1.5, ... spread over [0, 128] with NaN/Inf mixed in; with 128 bins of
        // width 1 every finite value sits in the middle of its bin.
        std::vector<double> values;
        std::vector<std::uint64_t> expected(128, 0);
        for (int i = 0; i < 3000; ++i) {
            const int bin = (i * 37) % 128;
            values.push_back(bin + 0.5);
            ++expected[static_cast<std::size_t>(bin)];
        }
        values.push_back(0.0);  // the range ends: 0 in bin 0, 128 in the last bin
        ++expected[0];
        values.push_back(128.0);
        ++expected[127];
        values.push_back(kNaN);
        values.push_back(kInf);
        values.push_back(-kInf);
        const Shape shape{static_cast<std::int64_t>(values.size())};
        auto histogram = ckpt::ui::computeHistogram(*preview_test::makeSource(shape, values), 128);
        QVERIFY(histogram.isOk());
        QCOMPARE(histogram->counts.size(), std::size_t{128});
        QCOMPARE(histogram->lo, 0.0);
        QCOMPARE(histogram->hi, 128.0);
        QCOMPARE(histogram->stats.nan, std::uint64_t{1});
        QCOMPARE(histogram->stats.finite, std::uint64_t{3002});
        for (std::size_t b = 0; b < 128; ++b) {
            QCOMPARE(histogram->counts[b], expected[b]);
            QCOMPARE(histogram->binLow(b), static_cast<double>(b));
        }
        QCOMPARE(histogram->binHigh(127), 128.0);
    }

    void histogramOfAConstantArrayHasOneBin() {
        auto histogram =
            ckpt::ui::computeHistogram(*preview_test::makeSource({4}, {2.0, 2.0, kNaN, 2.0}), 64);
        QVERIFY(histogram.isOk());
        QCOMPARE(histogram->counts, std::vector<std::uint64_t>{3});
    }

    void histogramWithoutFiniteValuesIsEmpty() {
        auto histogram =
            ckpt::ui::computeHistogram(*preview_test::makeSource({2}, {kNaN, kInf}), 64);
        QVERIFY(histogram.isOk());
        QVERIFY(histogram->counts.empty());
        QCOMPARE(histogram->stats.posInf, std::uint64_t{1});
    }

    void histogramReportsProgressToTheEnd() {
        std::uint64_t lastDone = 0;
        std::uint64_t lastTotal = 0;
        auto histogram =
            ckpt::ui::computeHistogram(*preview_test::makeSource({100}, preview_test::iota(100)),
                                       64, nullptr, [&](std::uint64_t done, std::uint64_t total) {
                                           QVERIFY(done >= lastDone);
                                           lastDone = done;
                                           lastTotal = total;
                                       });
        QVERIFY(histogram.isOk());
        QCOMPARE(lastTotal, std::uint64_t{1600});
        QCOMPARE(lastDone, lastTotal);
    }

    void histogramStopsWhenCancelled() {
        ckpt::CancelToken cancel;
        cancel.cancel();
        auto histogram = ckpt::ui::computeHistogram(
            *preview_test::makeSource({100}, preview_test::iota(100)), 64, &cancel);
        QVERIFY(!histogram.isOk());
        QCOMPARE(histogram.status().code(), ckpt::StatusCode::kCancelled);
    }

    void sliceReadsExactlyTheRequestedSlice() {
        // Shape (4, 6, 5); element (i, j, k) holds 100 i + 10 j + k. Rows along axis 2, columns
        // along axis 0 (transposed against storage order), axis 1 fixed at 3.
        const Shape shape{4, 6, 5};
        std::vector<double> values;
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 6; ++j)
                for (int k = 0; k < 5; ++k) values.push_back(100 * i + 10 * j + k);
        auto counting = std::make_shared<CountingSource>(preview_test::makeSource(shape, values));
        SliceSpec spec{2, 0, {0, 3, 0}};
        auto image = ckpt::ui::readSliceImage(*counting, spec, 512, 512);
        QVERIFY(image.isOk());
        QCOMPARE(image->rows, std::int64_t{5});
        QCOMPARE(image->cols, std::int64_t{4});
        QCOMPARE(image->rowStep, std::int64_t{1});
        QCOMPARE(image->displayRows, 5);
        QCOMPARE(image->displayCols, 4);
        for (int r = 0; r < 5; ++r)
            for (int c = 0; c < 4; ++c) QCOMPARE(image->at(r, c), 100.0 * c + 30 + r);

        std::multiset<std::vector<std::int64_t>> expected;
        for (std::int64_t i = 0; i < 4; ++i)
            for (std::int64_t k = 0; k < 5; ++k) expected.insert({i, 3, k});
        QCOMPARE(coveredElements(counting->selections()), expected);
        QCOMPARE(image->min, 30.0);
        QCOMPARE(image->max, 334.0);
    }

    void rowAndColumnOfASliceReadOnlyThatLine() {
        // Shape (4, 6, 5), element (i, j, k) = 100 i + 10 j + k; slice rows axis 2, columns axis 0
        // at axis 1 = 3.
        const Shape shape{4, 6, 5};
        std::vector<double> values;
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 6; ++j)
                for (int k = 0; k < 5; ++k) values.push_back(100 * i + 10 * j + k);
        auto counting = std::make_shared<CountingSource>(preview_test::makeSource(shape, values));
        const SliceSpec slice{2, 0, {0, 3, 0}};

        // Row 2 of the slice runs along axis 0 at k = 2.
        const SliceSpec row = slice.row(2);
        QCOMPARE(row.rowAxis, -1);
        QCOMPARE(row.colAxis, 0);
        QVERIFY(row.validate(shape).isOk());
        auto image = ckpt::ui::readSliceImage(*counting, row, 1, 2048);
        QVERIFY(image.isOk());
        QCOMPARE(image->displayRows, 1);
        QCOMPARE(image->displayCols, 4);
        for (int c = 0; c < 4; ++c) QCOMPARE(image->at(0, c), 100.0 * c + 30 + 2);
        std::multiset<std::vector<std::int64_t>> expected;
        for (std::int64_t i = 0; i < 4; ++i) expected.insert({i, 3, 2});
        QCOMPARE(coveredElements(counting->selections()), expected);
        counting->reset();

        // Column 1 of the slice runs along axis 2 at i = 1.
        image = ckpt::ui::readSliceImage(*counting, slice.column(1), 1, 2048);
        QVERIFY(image.isOk());
        QCOMPARE(image->displayCols, 5);
        for (int c = 0; c < 5; ++c) QCOMPARE(image->at(0, c), 100.0 + 30 + c);
        expected.clear();
        for (std::int64_t k = 0; k < 5; ++k) expected.insert({1, 3, k});
        QCOMPARE(coveredElements(counting->selections()), expected);

        // Out-of-range line indices are rejected.
        QVERIFY(!slice.row(5).validate(shape).isOk());
        QVERIFY(!slice.column(4).validate(shape).isOk());
    }

    void downsamplingNeverReadsOutsideTheSlice() {
        // Shape (3, 301, 203), slice axis 1 × axis 2 at axis 0 = 2, shown in at most 64 × 50.
        const Shape shape{3, 301, 203};
        auto counting = std::make_shared<CountingSource>(
            preview_test::makeSource(shape, preview_test::iota(3 * 301 * 203)));
        SliceSpec spec{1, 2, {2, 0, 0}};
        auto image = ckpt::ui::readSliceImage(*counting, spec, 64, 50);
        QVERIFY(image.isOk());
        QVERIFY(image->displayRows <= 64);
        QVERIFY(image->displayCols <= 50);
        QCOMPARE(image->rowStep, std::int64_t{5});  // ceil(301 / 64)
        QCOMPARE(image->colStep, std::int64_t{5});  // ceil(203 / 50)
        QCOMPARE(image->displayRows, 61);
        QCOMPARE(image->displayCols, 41);
        // Each element of the slice read exactly once, nothing else.
        std::multiset<std::vector<std::int64_t>> expected;
        for (std::int64_t j = 0; j < 301; ++j)
            for (std::int64_t k = 0; k < 203; ++k) expected.insert({2, j, k});
        QCOMPARE(coveredElements(counting->selections()), expected);
        // A cell is the mean of its block: rows 0-4, columns 0-4 at axis 0 = 2.
        double sum = 0;
        for (int j = 0; j < 5; ++j)
            for (int k = 0; k < 5; ++k) sum += 2 * 301 * 203 + j * 203 + k;
        QCOMPARE(image->at(0, 0), sum / 25);
        // The last, partial block: row 300, columns 200-202.
        const double last = (2.0 * 301 * 203 + 300 * 203 + 200 + 2.0 * 301 * 203 + 300 * 203 + 201 +
                             2.0 * 301 * 203 + 300 * 203 + 202) /
                            3;
        QCOMPARE(image->at(60, 40), last);
    }

    void sliceThatFitsTheReadBudgetIsReadOnce() {
        // A chunk a format cannot decode in part is decoded once per read, so a downsampled slice
        // must not be read display row by display row. Transposed, to check the cell mapping of
        // a column-major block too: rows along axis 1, columns along axis 0.
        const Shape shape{203, 301};
        auto counting = std::make_shared<CountingSource>(
            preview_test::makeSource(shape, preview_test::iota(203 * 301)));
        auto image = ckpt::ui::readSliceImage(*counting, {1, 0, {0, 0}}, 64, 50);
        QVERIFY(image.isOk());
        QCOMPARE(counting->selections().size(), std::size_t{1});
        QCOMPARE(image->rowStep, std::int64_t{5});  // ceil(301 / 64)
        QCOMPARE(image->colStep, std::int64_t{5});  // ceil(203 / 50)
        // Cell (1, 2): slice rows 5-9 (axis 1), columns 10-14 (axis 0); element [i, j] = 301 i + j.
        double sum = 0;
        for (int j = 5; j < 10; ++j)
            for (int i = 10; i < 15; ++i) sum += 301.0 * i + j;
        QCOMPARE(image->at(1, 2), sum / 25);
        // The last, partial cell: slice row 300, columns 200-202.
        QCOMPARE(image->at(60, 40), (301.0 * 200 + 300 + 301.0 * 201 + 300 + 301.0 * 202 + 300) / 3);
    }

    void downsampledCellsKeepNonFiniteValuesVisible() {
        // 4 × 4 shown as 2 × 2: one block all NaN, one all +Inf, one mixed (mean of finite).
        const std::vector<double> values{kNaN, kNaN,  kInf, kInf,  //
                                         kNaN, kNaN,  kInf, kInf,  //
                                         1.0,  kNaN,  0.0,  0.0,   //
                                         3.0,  -kInf, 0.0,  4.0};
        auto image = ckpt::ui::readSliceImage(*preview_test::makeSource({4, 4}, values),
                                              {0, 1, {0, 0}}, 2, 2);
        QVERIFY(image.isOk());
        QVERIFY(std::isnan(image->at(0, 0)));
        QCOMPARE(image->at(0, 1), kInf);
        QCOMPARE(image->at(1, 0), 2.0);
        QCOMPARE(image->at(1, 1), 1.0);
    }

    void percentilesOfTheShownSlice() {
        auto image = ckpt::ui::readSliceImage(
            *preview_test::makeSource({1, 101}, preview_test::iota(101)), {0, 1, {0, 0}}, 10, 200);
        QVERIFY(image.isOk());
        QCOMPARE(image->p01, 1.0);
        QCOMPARE(image->p99, 99.0);
    }

    void oneDimensionalSliceIsOneRow() {
        auto counting = std::make_shared<CountingSource>(
            preview_test::makeSource({10}, preview_test::iota(10)));
        const SliceSpec spec = SliceSpec::defaultFor({10});
        QCOMPARE(spec.rowAxis, -1);
        QCOMPARE(spec.colAxis, 0);
        auto image = ckpt::ui::readSliceImage(*counting, spec, 1, 4);
        QVERIFY(image.isOk());
        QCOMPARE(image->displayRows, 1);
        QCOMPARE(image->displayCols, 4);  // steps of 3: 0-2, 3-5, 6-8, 9
        QCOMPARE(image->at(0, 3), 9.0);
        QCOMPARE(image->at(0, 1), 4.0);
    }

    void rejectsBadSliceSpecs() {
        auto source = preview_test::makeSource({2, 3, 4}, preview_test::iota(24));
        QVERIFY(!ckpt::ui::readSliceImage(*source, {0, 0, {0, 0, 0}}, 8, 8).isOk());
        QVERIFY(!ckpt::ui::readSliceImage(*source, {0, 1, {0, 0, 4}}, 8, 8).isOk());
        QVERIFY(!ckpt::ui::readSliceImage(*source, {0, 3, {0, 0, 0}}, 8, 8).isOk());
        QVERIFY(ckpt::ui::readSliceImage(*source, {0, 1, {0, 0, 3}}, 8, 8).isOk());
    }

    void tablePageReadsOnlyThePage() {
        // (250, 120), transposed: rows along axis 1, columns along axis 0.
        auto counting = std::make_shared<CountingSource>(
            preview_test::makeSource({250, 120}, preview_test::iota(250 * 120)));
        auto page = ckpt::ui::readTablePage(*counting, {1, 0, {0, 0}}, 100, 200, 100, 50);
        QVERIFY(page.isOk());
        QCOMPARE(page->totalRows, std::int64_t{120});
        QCOMPARE(page->totalCols, std::int64_t{250});
        QCOMPARE(page->rows, 20);
        QCOMPARE(page->cols, 50);
        // Cell (row 105, column 210) is element [210, 105].
        QCOMPARE(page->cells[5 * 50 + 10], QString::number(210 * 120 + 105) + QStringLiteral(".0"));
        const auto selections = counting->selections();
        QCOMPARE(selections.size(), std::size_t{1});
        QCOMPARE(selections[0].start, (std::vector<std::int64_t>{200, 100}));
        QCOMPARE(selections[0].count, (std::vector<std::int64_t>{50, 20}));
    }

    void oneDimensionalTableIsOneColumn() {
        auto page =
            ckpt::ui::readTablePage(*preview_test::makeSource({300}, preview_test::iota(300)),
                                    {0, -1, {0}}, 100, 0, 100, 50);
        QVERIFY(page.isOk());
        QCOMPARE(page->totalRows, std::int64_t{300});
        QCOMPARE(page->totalCols, std::int64_t{1});
        QCOMPARE(page->rows, 100);
        QCOMPARE(page->cols, 1);
        QCOMPARE(page->cells[7], QStringLiteral("107.0"));
    }

    void float32CellsUseShortestFloatText() {
        auto page = ckpt::ui::readTablePage(
            *preview_test::makeSource({4}, {0.1, -2.0, 1e-20, kNaN}, ckpt::DType::kFloat32),
            {0, -1, {0}}, 0, 0, 10, 1);
        QVERIFY(page.isOk());
        QCOMPARE(page->cells,
                 (std::vector<QString>{QStringLiteral("0.1"), QStringLiteral("-2.0"),
                                       QStringLiteral("1e-20"), QStringLiteral("nan")}));
    }

    void colormapsHaveDistinctNonFiniteColour() {
        using ckpt::ui::Colormap;
        QCOMPARE(ckpt::ui::valueColor(Colormap::kViridis, kNaN, 0, 1), ckpt::ui::nonFiniteColor());
        QCOMPARE(ckpt::ui::valueColor(Colormap::kDiverging, -kInf, 0, 1),
                 ckpt::ui::nonFiniteColor());
        QCOMPARE(ckpt::ui::valueColor(Colormap::kViridis, 0, 0, 1), QColor(68, 1, 84));
        QCOMPARE(ckpt::ui::valueColor(Colormap::kViridis, 1, 0, 1), QColor(253, 231, 37));
        // Diverging is centred on zero even for an asymmetric range.
        QCOMPARE(ckpt::ui::valueColor(Colormap::kDiverging, 0, -1, 3), QColor(247, 247, 247));
        QCOMPARE(ckpt::ui::valueColor(Colormap::kDiverging, -3, -1, 3), QColor(33, 102, 172));
        for (int i = 0; i <= 100; ++i) {
            const double t = i / 100.0;
            QVERIFY(ckpt::ui::colormapColor(Colormap::kViridis, t) != ckpt::ui::nonFiniteColor());
            QVERIFY(ckpt::ui::colormapColor(Colormap::kDiverging, t) != ckpt::ui::nonFiniteColor());
        }
    }
};

QTEST_APPLESS_MAIN(TestPreviewData)
#include "tst_preview_data.moc"
