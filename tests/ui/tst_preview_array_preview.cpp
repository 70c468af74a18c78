// Tests for previews/array_preview: statistics against values computed here, the histogram,
// heatmap, line and table tabs fed from background jobs (the line of an N-D slice read alone),
// tabs by rank, cancellation when the leaf changes or the preview is destroyed, the Cancel button,
// and errors from a failing source.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QItemSelectionModel>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QThreadPool>
#include <cmath>
#include <limits>
#include <memory>

#include "bridge/status_text.h"
#include "ckpt/core/tree.h"
#include "previews/array_preview.h"
#include "previews/heatmap_widget.h"
#include "previews/histogram_widget.h"
#include "previews/line_plot_widget.h"
#include "previews/slice_table_model.h"
#include "tests/ui/preview_test_sources.h"

using ckpt::ui::ArrayPreview;

namespace {

constexpr int kTimeoutMs = 10'000;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

ckpt::NodePtr arrayNode(ckpt::ArraySourcePtr source) {
    return ckpt::Node::makeArray(std::move(source));
}

// The value after "Label: " in the statistics text, or an empty string.
QString statValue(const ArrayPreview& preview, const QString& label) {
    const QStringList lines = preview.statisticsText().split(QLatin1Char('\n'));
    for (const QString& line : lines) {
        if (line.startsWith(label + QStringLiteral(": "))) return line.mid(label.size() + 2);
    }
    return {};
}

bool waitIdle(const ArrayPreview& preview) {
    return QTest::qWaitFor([&] { return !preview.isBusy(); }, kTimeoutMs);
}

// The plotted line's values, one per display column.
std::vector<double> plotted(const ArrayPreview& preview) {
    const ckpt::ui::SliceImage& image = preview.linePlotWidget()->image();
    std::vector<double> values;
    for (int i = 0; i < (image.displayRows > 0 ? image.displayCols : 0); ++i) {
        values.push_back(image.at(0, i));
    }
    return values;
}

// A (3, 4, 5) float64 array with element [i, j, k] = 100 i + 10 j + k.
std::vector<double> placeValues() {
    std::vector<double> values;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 5; ++k) values.push_back(100 * i + 10 * j + k);
    return values;
}

}  // namespace

class TestPreviewArrayPreview : public QObject {
    Q_OBJECT

private slots:
    void statisticsMatchAnIndependentComputation() {
        std::vector<double> values{0.0,   -2.5, kNaN, 3.25, kInf, 0.0,
                                   -kInf, 7.0,  1e-3, kNaN, 0.0,  -1.0};
        for (int i = 0; i < 500; ++i) values.push_back(std::sin(i) * 10);
        // Independently: counts, min, max, mean and population std over the finite values.
        std::uint64_t nan = 0, posInf = 0, negInf = 0, zeros = 0, finite = 0;
        double lo = kInf, hi = -kInf, sum = 0;
        for (double v : values) {
            if (std::isnan(v))
                ++nan;
            else if (std::isinf(v))
                (v > 0 ? posInf : negInf)++;
            else {
                ++finite;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
                sum += v;
                if (v == 0) ++zeros;
            }
        }
        const double mean = sum / static_cast<double>(finite);
        double squares = 0;
        for (double v : values)
            if (std::isfinite(v)) squares += (v - mean) * (v - mean);
        const double stddev = std::sqrt(squares / static_cast<double>(finite));

        ArrayPreview preview;
        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(
            arrayNode(preview_test::makeSource({static_cast<std::int64_t>(values.size())}, values)),
            {"w"});
        QVERIFY(finished.wait(kTimeoutMs));
        QCOMPARE(statValue(preview, QStringLiteral("Elements")), QString::number(values.size()));
        QCOMPARE(statValue(preview, QStringLiteral("NaN")), QString::number(nan));
        QCOMPARE(statValue(preview, QStringLiteral("+Inf")), QString::number(posInf));
        QCOMPARE(statValue(preview, QStringLiteral("\u2212Inf")), QString::number(negInf));
        QCOMPARE(statValue(preview, QStringLiteral("Zeros")), QString::number(zeros));
        QCOMPARE(statValue(preview, QStringLiteral("Finite")), QString::number(finite));
        auto near = [&](const QString& label, double expected) {
            bool ok = false;
            const double shown = statValue(preview, label).toDouble(&ok);
            return ok && std::abs(shown - expected) <= 1e-7 * std::max(1.0, std::abs(expected));
        };
        QVERIFY2(near(QStringLiteral("Min"), lo), qPrintable(preview.statisticsText()));
        QVERIFY2(near(QStringLiteral("Max"), hi), qPrintable(preview.statisticsText()));
        QVERIFY2(near(QStringLiteral("Mean"), mean), qPrintable(preview.statisticsText()));
        QVERIFY2(near(QStringLiteral("Std"), stddev), qPrintable(preview.statisticsText()));

        // The histogram from the same job holds every finite value.
        const auto& counts = preview.histogramWidget()->histogram().counts;
        QCOMPARE(counts.size(), ArrayPreview::kHistogramBins);
        std::uint64_t total = 0;
        for (auto c : counts) total += c;
        QCOMPARE(total, finite);
        QVERIFY(preview.errorText().isEmpty());
    }

    void complexStatisticsAreOverMagnitude() {
        auto array = ckpt::Array::allocate(ckpt::DType::kComplex64, {2});
        QVERIFY(array.isOk());
        const float parts[4] = {3, 4, 0, -1};
        std::memcpy(array->bytes().data(), parts, sizeof parts);
        ArrayPreview preview;
        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(ckpt::makeMemorySource(std::move(array).value())), {"z"});
        QVERIFY(finished.wait(kTimeoutMs));
        QCOMPARE(statValue(preview, QStringLiteral("Max")), QStringLiteral("5"));
        QCOMPARE(statValue(preview, QStringLiteral("Min")), QStringLiteral("1"));
        QVERIFY(preview.statisticsText().contains(QStringLiteral("magnitude |z|")));
    }

    void scalarsAndStringsShowTheirValue() {
        ArrayPreview preview;
        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(ckpt::Node::makeScalar(ckpt::Scalar::fromFloat64(0.5)), {"lr"});
        QVERIFY(finished.wait(kTimeoutMs));
        QCOMPARE(statValue(preview, QStringLiteral("Value")), QStringLiteral("0.5"));
        QVERIFY(!preview.tabs()->isTabEnabled(ArrayPreview::kHistogramTab));

        preview.showNode(ckpt::Node::makeString("adam"), {"opt"});
        QCOMPARE(statValue(preview, QStringLiteral("Value")), QStringLiteral("adam"));
        QVERIFY(!preview.tabs()->isTabEnabled(ArrayPreview::kTableTab));

        preview.showNode(ckpt::Node::makeDict({}), {});
        QVERIFY(preview.statisticsText().contains(QStringLiteral("Select an array leaf")));
    }

    void tabsFollowTheRank() {
        ArrayPreview preview;
        preview.showNode(arrayNode(preview_test::makeSource({6}, preview_test::iota(6))), {"b"});
        QVERIFY(!preview.tabs()->isTabEnabled(ArrayPreview::kHeatmapTab));
        QVERIFY(preview.tabs()->isTabEnabled(ArrayPreview::kLineTab));
        QVERIFY(preview.tabs()->isTabEnabled(ArrayPreview::kTableTab));

        QSignalSpy line(&preview, &ArrayPreview::lineFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kLineTab);
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(preview.linePlotWidget()->axisLabels(),
                 (QStringList{QStringLiteral("0"), QStringLiteral("5"), QStringLiteral("0"),
                              QStringLiteral("5")}));
        QCOMPARE(plotted(preview), (std::vector<double>{0, 1, 2, 3, 4, 5}));
        // A 1-D array is its own line: no row/column controls, no title, no slice bar.
        QVERIFY(!preview.findChild<QComboBox*>(QStringLiteral("lineAxis"))
                     ->isVisibleTo(preview.tabs()));
        QVERIFY(
            !preview.findChild<QLabel*>(QStringLiteral("lineTitle"))->isVisibleTo(preview.tabs()));
        QVERIFY(preview.lineTitle().isEmpty());
        QVERIFY(waitIdle(preview));

        // The table shows a 1-D array as one column.
        QSignalSpy page(&preview, &ArrayPreview::pageFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kTableTab);
        QVERIFY(page.wait(kTimeoutMs));
        QCOMPARE(preview.tableModel()->rowCount(), 6);
        QCOMPARE(preview.tableModel()->columnCount(), 1);
        QCOMPARE(preview.tableModel()->index(4, 0).data().toString(), QStringLiteral("4.0"));
        preview.tabs()->setCurrentIndex(ArrayPreview::kLineTab);
        QVERIFY(waitIdle(preview));

        // A 2-D leaf keeps Line (now a row of the slice); Heatmap is there too.
        preview.showNode(arrayNode(preview_test::makeSource({2, 3}, preview_test::iota(6))), {"k"});
        QVERIFY(preview.tabs()->isTabEnabled(ArrayPreview::kHeatmapTab));
        QVERIFY(preview.tabs()->isTabEnabled(ArrayPreview::kLineTab));
        QCOMPARE(preview.tabs()->currentIndex(), int{ArrayPreview::kLineTab});
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{0, 1, 2}));
        QSignalSpy slice(&preview, &ArrayPreview::sliceFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kHeatmapTab);
        QVERIFY(slice.wait(kTimeoutMs));
        QCOMPARE(preview.heatmapWidget()->image().displayRows, 2);
        QCOMPARE(preview.heatmapWidget()->image().at(1, 2), 5.0);
        QVERIFY(waitIdle(preview));
    }

    void heatmapReadsOnlyTheChosenSlice() {
        const ckpt::Shape shape{3, 4, 5};
        auto counting = std::make_shared<preview_test::CountingSource>(
            preview_test::makeSource(shape, preview_test::iota(60)));
        ArrayPreview preview;
        preview.tabs()->setCurrentIndex(ArrayPreview::kStatisticsTab);
        QSignalSpy stats(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(counting), {"t"});
        QVERIFY(stats.wait(kTimeoutMs));
        QVERIFY(waitIdle(preview));
        counting->reset();

        QSignalSpy slice(&preview, &ArrayPreview::sliceFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kHeatmapTab);
        QVERIFY(slice.wait(kTimeoutMs));
        // Default: the last two axes at axis 0 = 0.
        for (const ckpt::Selection& sel : counting->selections()) {
            QCOMPARE(sel.start[0], std::int64_t{0});
            QCOMPARE(sel.count[0], std::int64_t{1});
        }
        counting->reset();

        // Rows along axis 0, columns along axis 2, axis 1 at 2.
        preview.setSliceSpec({0, 2, {0, 2, 0}});
        QVERIFY(slice.wait(kTimeoutMs));
        const auto selections = counting->selections();
        QVERIFY(!selections.empty());
        std::uint64_t read = 0;
        for (const ckpt::Selection& sel : selections) {
            QCOMPARE(sel.start[1], std::int64_t{2});
            QCOMPARE(sel.count[1], std::int64_t{1});
            read += sel.elementCount();
        }
        QCOMPARE(read, std::uint64_t{15});
        const auto& image = preview.heatmapWidget()->image();
        QCOMPARE(image.displayRows, 3);
        QCOMPARE(image.displayCols, 5);
        QCOMPARE(image.at(2, 4), 2.0 * 20 + 2 * 5 + 4);
        QCOMPARE(preview.heatmapWidget()->cellText(2, 4), QStringLiteral("row 2, column 4: 54"));
        QCOMPARE(preview.heatmapWidget()->rangeLow(), 10.0);
        QCOMPARE(preview.heatmapWidget()->rangeHigh(), 54.0);
        preview.setCustomRange(0, 100);
        QCOMPARE(preview.heatmapWidget()->rangeHigh(), 100.0);
        QVERIFY(waitIdle(preview));
    }

    void lineOfASliceReadsOnlyThatLine() {
        const ckpt::Shape shape{3, 4, 5};
        auto counting = std::make_shared<preview_test::CountingSource>(
            preview_test::makeSource(shape, placeValues()));
        ArrayPreview preview;
        preview.tabs()->setCurrentIndex(ArrayPreview::kStatisticsTab);
        QSignalSpy stats(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(counting), {"t"});
        QVERIFY(stats.wait(kTimeoutMs));
        QVERIFY(waitIdle(preview));
        QVERIFY(preview.tabs()->isTabEnabled(ArrayPreview::kLineTab));
        counting->reset();

        // Every read is one line of at most `length` elements; returns how many were read.
        auto lineReads = [&](std::uint64_t length) {
            std::uint64_t read = 0;
            for (const ckpt::Selection& sel : counting->selections()) {
                if (sel.elementCount() > length) return std::uint64_t{0};
                read += sel.elementCount();
            }
            counting->reset();
            return read;
        };

        // Default: the slice [0, :, :] (rows axis 1, columns axis 2), row 0.
        QSignalSpy line(&preview, &ArrayPreview::lineFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kLineTab);
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{0, 1, 2, 3, 4}));
        QCOMPARE(lineReads(5), std::uint64_t{5});
        QCOMPARE(preview.lineTitle(), QStringLiteral("row 0 of axis 1 \u00d7 axis 2: [0, 0, :]"));
        auto* axisCombo = preview.findChild<QComboBox*>(QStringLiteral("lineAxis"));
        auto* indexSpin = preview.findChild<QSpinBox*>(QStringLiteral("lineIndex"));
        QVERIFY(axisCombo && axisCombo->isVisibleTo(preview.tabs()));
        QVERIFY(indexSpin && indexSpin->isVisibleTo(preview.tabs()));
        QCOMPARE(indexSpin->maximum(), 3);  // 4 rows

        // Row 3, through the spin box.
        indexSpin->setValue(3);
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{30, 31, 32, 33, 34}));
        QCOMPARE(lineReads(5), std::uint64_t{5});

        // Another slice index keeps the row.
        preview.setSliceSpec({1, 2, {2, 0, 0}});
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{230, 231, 232, 233, 234}));
        QCOMPARE(lineReads(5), std::uint64_t{5});
        QCOMPARE(preview.lineTitle(), QStringLiteral("row 3 of axis 1 \u00d7 axis 2: [2, 3, :]"));
        QCOMPARE(preview.findChild<QLabel*>(QStringLiteral("lineTitle"))->text(),
                 preview.lineTitle());

        // Column 4: along axis 1; the spin box now runs over the 5 columns.
        preview.setLine(ArrayPreview::LineAxis::kColumn, 4);
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{204, 214, 224, 234}));
        QCOMPARE(lineReads(4), std::uint64_t{4});
        QCOMPARE(axisCombo->currentText(), QStringLiteral("Column"));
        QCOMPARE(indexSpin->maximum(), 4);
        QCOMPARE(indexSpin->value(), 4);
        QCOMPARE(preview.linePlotWidget()->axisLabels(),
                 (QStringList{QStringLiteral("204"), QStringLiteral("234"), QStringLiteral("0"),
                              QStringLiteral("3")}));
        QCOMPARE(preview.lineTitle(),
                 QStringLiteral("column 4 of axis 1 \u00d7 axis 2: [2, :, 4]"));

        // Rows along axis 2 and columns along axis 0 at axis 1 = 1: column 4 is clamped to 2
        // (3 columns) and runs along axis 2.
        preview.setSliceSpec({2, 0, {0, 1, 0}});
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(preview.lineIndex(), std::int64_t{2});
        QCOMPARE(indexSpin->maximum(), 2);
        QCOMPARE(plotted(preview), (std::vector<double>{210, 211, 212, 213, 214}));
        QCOMPARE(lineReads(5), std::uint64_t{5});
        QCOMPARE(preview.lineTitle(),
                 QStringLiteral("column 2 of axis 2 \u00d7 axis 0: [2, 1, :]"));
        // Row 1 of that slice runs along axis 0.
        preview.setLine(ArrayPreview::LineAxis::kRow, 1);
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{11, 111, 211}));
        QCOMPARE(lineReads(3), std::uint64_t{3});

        // The heatmap still reads its whole slice.
        QSignalSpy slice(&preview, &ArrayPreview::sliceFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kHeatmapTab);
        QVERIFY(slice.wait(kTimeoutMs));
        QCOMPARE(preview.heatmapWidget()->image().displayRows, 5);
        QCOMPARE(preview.heatmapWidget()->image().displayCols, 3);
        QVERIFY(waitIdle(preview));

        // A new leaf starts at row 0 again.
        preview.tabs()->setCurrentIndex(ArrayPreview::kLineTab);
        preview.showNode(arrayNode(preview_test::makeSource({2, 3}, preview_test::iota(6))), {"k"});
        QCOMPARE(preview.lineAxis(), ArrayPreview::LineAxis::kRow);
        QCOMPARE(preview.lineIndex(), std::int64_t{0});
        QVERIFY(line.wait(kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{0, 1, 2}));
        QVERIFY(waitIdle(preview));
    }

    void complexLineIsMagnitude() {
        auto array = ckpt::Array::allocate(ckpt::DType::kComplex64, {2, 2});
        QVERIFY(array.isOk());
        const float parts[8] = {3, 4, 0, -1, 6, 8, 1, 0};
        std::memcpy(array->bytes().data(), parts, sizeof parts);
        ArrayPreview preview;
        preview.setPreferredTab(ArrayPreview::kLineTab);
        QSignalSpy line(&preview, &ArrayPreview::lineFinished);
        preview.showNode(arrayNode(ckpt::makeMemorySource(std::move(array).value())), {"z"});
        QCOMPARE(preview.tabs()->currentIndex(), int{ArrayPreview::kLineTab});
        preview.setLine(ArrayPreview::LineAxis::kColumn, 0);
        QVERIFY(QTest::qWaitFor([&] { return !preview.isBusy() && !line.isEmpty(); }, kTimeoutMs));
        QCOMPARE(plotted(preview), (std::vector<double>{5, 10}));
    }

    void tablePagesThroughTheSlice() {
        ArrayPreview preview;
        QSignalSpy page(&preview, &ArrayPreview::pageFinished);
        preview.showNode(
            arrayNode(preview_test::makeSource({250, 120}, preview_test::iota(250 * 120))),
            {"big"});
        preview.tabs()->setCurrentIndex(ArrayPreview::kTableTab);
        QVERIFY(page.wait(kTimeoutMs));
        QAbstractItemModelTester tester(preview.tableModel(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(preview.tableModel()->rowCount(), ArrayPreview::kPageRows);
        QCOMPARE(preview.tableModel()->columnCount(), ArrayPreview::kPageCols);
        preview.setTablePage(200, 100);
        QVERIFY(page.wait(kTimeoutMs));
        QCOMPARE(preview.tableModel()->rowCount(), 50);
        QCOMPARE(preview.tableModel()->columnCount(), 20);
        QCOMPARE(preview.tableModel()->headerData(0, Qt::Vertical).toString(),
                 QStringLiteral("200"));
        const QModelIndex cell = preview.tableModel()->index(1, 2);
        QCOMPARE(cell.data().toString(), QStringLiteral("24222.0"));  // element [201, 102]

        preview.tableView()->selectionModel()->select(cell, QItemSelectionModel::Select);
        preview.tableView()->selectionModel()->select(preview.tableModel()->index(1, 3),
                                                      QItemSelectionModel::Select);
        preview.copyTableSelection();
        QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("24222.0\t24223.0\n"));
        QVERIFY(waitIdle(preview));
    }

    void switchingLeafCancelsTheRunningJob() {
        auto slow = std::make_shared<preview_test::SlowSource>(
            preview_test::makeSource({4}, preview_test::iota(4)));
        ArrayPreview preview;
        preview.showNode(arrayNode(slow), {"slow"});
        QVERIFY(QTest::qWaitFor([&] { return slow->started(); }, kTimeoutMs));
        QVERIFY(preview.isBusy());

        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(preview_test::makeSource({3}, {1, 2, 3})), {"fast"});
        QVERIFY(QTest::qWaitFor([&] { return slow->sawCancel(); }, kTimeoutMs));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        QCOMPARE(finished.size(), 1);  // the cancelled job's result was dropped
        QCOMPARE(statValue(preview, QStringLiteral("Elements")), QStringLiteral("3"));
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kTimeoutMs));
        QTest::qWait(20);
        QCOMPARE(finished.size(), 1);
        QCOMPARE(statValue(preview, QStringLiteral("Max")), QStringLiteral("3"));
    }

    void destroyedPreviewGetsNoCallback() {
        auto slow = std::make_shared<preview_test::SlowSource>(
            preview_test::makeSource({4}, preview_test::iota(4)));
        auto preview = std::make_unique<ArrayPreview>();
        int calls = 0;
        connect(preview.get(), &ArrayPreview::statisticsFinished, this, [&calls] { ++calls; });
        preview->showNode(arrayNode(slow), {"slow"});
        QVERIFY(QTest::qWaitFor([&] { return slow->started(); }, kTimeoutMs));
        preview.reset();  // cancels; the job's completion must be dropped
        QVERIFY(QTest::qWaitFor([&] { return slow->sawCancel(); }, kTimeoutMs));
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kTimeoutMs));
        QTest::qWait(50);  // deliver queued completions and progress, which must be dropped
        QCOMPARE(calls, 0);
    }

    void cancelButtonStopsTheJob() {
        auto slow = std::make_shared<preview_test::SlowSource>(
            preview_test::makeSource({4}, preview_test::iota(4)));
        ArrayPreview preview;
        preview.show();
        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(slow), {"slow"});
        QVERIFY(QTest::qWaitFor([&] { return slow->started(); }, kTimeoutMs));
        auto* cancel = preview.findChild<QPushButton*>();
        QVERIFY(cancel && cancel->isVisible());
        auto* progress = preview.findChild<QProgressBar*>();
        QVERIFY(progress && progress->isVisible());
        QCOMPARE(preview.findChild<QLabel*>(QStringLiteral("previewMessage"))->text(),
                 QStringLiteral("Computing statistics\u2026"));
        QTest::mouseClick(cancel, Qt::LeftButton);
        QVERIFY(finished.wait(kTimeoutMs));
        QVERIFY(slow->sawCancel());
        QVERIFY(!preview.isBusy());
        QVERIFY(!cancel->isVisible());
        QVERIFY(!progress->isVisible());
        QCOMPARE(statValue(preview, QStringLiteral("Status")), QStringLiteral("cancelled"));
        QVERIFY(preview.errorText().isEmpty());  // cancelling is not an error
    }

    void failingSourceShowsAnError() {
        auto failing = std::make_shared<preview_test::FailingSource>(
            preview_test::makeSource({2, 2}, preview_test::iota(4)),
            ckpt::corruptionError("bad checksum in chunk 0 of 'params/w'"));
        ArrayPreview preview;
        QSignalSpy finished(&preview, &ArrayPreview::statisticsFinished);
        preview.showNode(arrayNode(failing), {"params", "w"});
        QVERIFY(finished.wait(kTimeoutMs));
        const QString error = preview.errorText();
        QVERIFY2(error.contains(QStringLiteral("bad checksum in chunk 0 of 'params/w'")),
                 qPrintable(error));
        QVERIFY2(error.contains(ckpt::ui::statusCodeSummary(ckpt::StatusCode::kCorruption)),
                 qPrintable(error));
        QCOMPARE(preview.findChild<QLabel*>(QStringLiteral("previewMessage"))->text(), error);
        QCOMPARE(statValue(preview, QStringLiteral("Status")), QStringLiteral("unreadable"));

        // The heatmap read fails the same way and the preview keeps working for the next leaf.
        QSignalSpy slice(&preview, &ArrayPreview::sliceFinished);
        preview.tabs()->setCurrentIndex(ArrayPreview::kHeatmapTab);
        QVERIFY(slice.wait(kTimeoutMs));
        QCOMPARE(preview.heatmapWidget()->image().displayRows, 0);
        preview.showNode(arrayNode(preview_test::makeSource({2, 2}, preview_test::iota(4))),
                         {"ok"});
        QVERIFY(preview.errorText().isEmpty());
        QVERIFY(slice.wait(kTimeoutMs));
        QCOMPARE(preview.heatmapWidget()->image().displayRows, 2);
        QVERIFY(waitIdle(preview));
    }
};

QTEST_MAIN(TestPreviewArrayPreview)
#include "tst_preview_array_preview.moc"
