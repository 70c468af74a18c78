// Tools › Run Over Time (RunView over ckpt::computeRunSeries / compareRunSteps), on a run of
// three flax steps written by the engine where one leaf jumps ×100 at step 3: the plotted numbers
// are the engine's, the step comparison ranks the jumped leaf first, activating it plots it, a key
// path missing from a step leaves a gap with its error, and a single checkpoint is not a run.
#include <QComboBox>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTest>
#include <QTreeWidget>

#include "bridge/qt_convert.h"
#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "ckpt/core/run_series.h"
#include "previews/series_plot.h"
#include "views/checkpoint_page.h"
#include "views/main_window.h"
#include "views/run_view.h"
#include "tests/test_util.h"
#include "tests/ui/window_test_util.h"

using namespace ckpt;
using ckpt::ui::MainWindow;
using ckpt::ui::RunView;
using ckpt::ui::toQString;
namespace fs = std::filesystem;
using ckpt::test::openAndWait;

namespace {

constexpr int kTimeoutMs = test::kUiTimeoutMs;
const KeyPath kKernel{"params", "Dense_0", "kernel"};

bool waitIdle(RunView& view) {
    return QTest::qWaitFor([&] { return !view.isPlotting() && !view.isComparing(); }, kTimeoutMs);
}

}  // namespace

class TestRunView : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_run = m_dir.path() / "run";
        for (int step = 1; step <= 3; ++step) {
            std::vector<Edit> edits = {Edit::setScalar({"step"}, std::int64_t{step})};
            // Step 3: the kernel's cells are 100× (the demo kernel is 5×3).
            if (step == 3) {
                const Array kernel = findNode(makeDemoTrainState(), kKernel)
                                         .value()
                                         ->array()
                                         ->readAll()
                                         .value();
                std::vector<CellEdit> cells;
                for (std::int64_t i = 0; i < 15; ++i) {
                    float v = 0;
                    std::memcpy(&v, kernel.bytes().data() + i * 4, 4);
                    cells.push_back({{i / 3, i % 3}, static_cast<double>(v) * 100.0});
                }
                edits.push_back(Edit::setCells(kKernel, cells));
            }
            // Step 2 lacks the bias.
            if (step == 2) edits.push_back(Edit::remove({"params", "Dense_0", "bias"}));
            auto tree = applyRecipe(makeDemoTrainState(), edits);
            CKPT_VERIFY_OK(tree.status());
            WriteOptions options;
            options.step = std::to_string(step);
            CKPT_VERIFY_OK(writeCheckpoint(*tree, m_run, "flax", options));
        }
    }

    void plotsTheEngineNumbersAndRanksTheJump() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, toQString(m_run.string())));
        QVERIFY(w.selectKeyPath(kKernel));
        QPointer<RunView> view = w.showRunOverTime();
        QVERIFY(view);
        QVERIFY(waitIdle(*view));

        auto expected = computeRunSeries(m_run, kKernel);
        CKPT_VERIFY_OK(expected.status());
        QCOMPARE(view->points().size(), std::size_t{3});
        for (std::size_t i = 0; i < 3; ++i) {
            QVERIFY(view->points()[i].stats);
            QCOMPARE(view->points()[i].stats->norm, expected->points[i].stats->norm);
        }
        const ui::SeriesPlot* norm = view->plots().front();
        QCOMPARE(norm->points().size(), std::size_t{3});
        QCOMPARE(*norm->points()[2].y, expected->points[2].stats->norm);
        QCOMPARE(norm->points()[2].x, 3.0);
        QCOMPARE(view->pointsView()->topLevelItemCount(), 3);

        // Steps 2 → 3: the kernel changed most (relative change 99), the bias is only in 3.
        QVERIFY(view->changes());
        QVERIFY(!view->changes()->top.empty());
        QCOMPARE(view->changes()->top.front().path, kKernel);
        QVERIFY(std::abs(view->changes()->top.front().relativeChange - 99.0) < 1e-3);
        QTreeWidgetItem* first = view->changesView()->topLevelItem(0);
        QCOMPARE(first->text(0), QStringLiteral("params/Dense_0/kernel"));
        QVERIFY2(view->changesStatusText().contains(QStringLiteral("only in step 3")),
                 qPrintable(view->changesStatusText()));

        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            QTest::qWait(300);
            QVERIFY(view->grab().save(shots + QStringLiteral("/run-view.png")));
        }

        // The bias is missing at step 2: a gap in the plots, its error in the table.
        view->plot({"params", "Dense_0", "bias"});
        QVERIFY(waitIdle(*view));
        QVERIFY(view->points()[0].stats && !view->points()[1].stats && view->points()[2].stats);
        QVERIFY(!view->points()[1].error.empty());
        QVERIFY(!view->plots().front()->points()[1].y);
        QVERIFY2(view->seriesStatusText().contains(QStringLiteral("1 step without a value")),
                 qPrintable(view->seriesStatusText()));

        // Activating a ranked leaf plots it.
        QSignalSpy plotted(view.data(), &RunView::seriesFinished);
        emit view->changesView()->itemActivated(first, 0);
        QVERIFY(plotted.wait(kTimeoutMs) || !plotted.isEmpty());
        QCOMPARE(view->keyPathEdit()->text(), QStringLiteral("params/Dense_0/kernel"));
        QCOMPARE(view->points()[2].stats->norm, expected->points[2].stats->norm);
        view->close();
    }

    void stepsAreListedAndDeletedWithConfirmation() {
        // A manager root of three steps with a loss: 0.5, 0.2, 0.3 — step 2 is the best (min).
        const fs::path root = m_dir.path() / "managed";
        CheckpointManagerOptions options;
        options.async = false;
        // As Orbax, metrics are written only with a best metric (best_fn); every step is kept.
        options.retention.bestMetric = "loss";
        options.retention.bestMode = BestMode::kMin;
        auto manager = CheckpointManager::open(root, options);
        CKPT_VERIFY_OK(manager.status());
        const double losses[] = {0.5, 0.2, 0.3};
        for (int step = 1; step <= 3; ++step) {
            auto saved = (*manager)->save(step, {{"default", makeDemoTrainState()}},
                                          Metrics{{"loss", losses[step - 1]}});
            CKPT_VERIFY_OK(saved.status());
        }
        CKPT_VERIFY_OK((*manager)->waitUntilFinished());

        RunView view(toQString(root.string()), {"1", "2", "3"});
        QSignalSpy listed(&view, &RunView::stepsListed);
        QVERIFY(listed.wait(kTimeoutMs) || !listed.isEmpty());
        QCOMPARE(view.managedSteps().size(), std::size_t{3});
        QCOMPARE(view.stepsView()->topLevelItemCount(), 3);
        QCOMPARE(view.bestMetricCombo()->currentText(), QStringLiteral("loss"));
        view.bestModeCombo()->setCurrentIndex(view.bestModeCombo()->findData(static_cast<int>(BestMode::kMin)));
        QCOMPARE(view.bestManagedStep(), std::optional<std::int64_t>(2));
        QVERIFY(view.stepsView()->topLevelItem(1)->text(5).contains(QStringLiteral("best")));
        QVERIFY(view.stepsView()->topLevelItem(0)->text(3).contains(QStringLiteral("loss=0.5")));

        // Declined: nothing happens.
        int asked = 0;
        std::vector<bool> answers;
        view.setConfirm([&](const QString&, const QString&) {
            return static_cast<std::size_t>(asked) < answers.size() && answers[static_cast<std::size_t>(asked++)];
        });
        answers = {false};
        QVERIFY(!view.deleteStep(1));
        QCOMPARE(asked, 1);
        QVERIFY(fs::exists(root / "1"));

        // An ordinary step: one confirmation.
        asked = 0;
        answers = {true};
        listed.clear();
        QVERIFY(view.deleteStep(1));
        QCOMPARE(asked, 1);
        QVERIFY(!fs::exists(root / "1"));
        QVERIFY(listed.wait(kTimeoutMs) || !listed.isEmpty());
        QCOMPARE(view.managedSteps().size(), std::size_t{2});

        // The best step: a second confirmation, and no to it keeps the step.
        asked = 0;
        answers = {true, false};
        QVERIFY(!view.deleteStep(2));
        QCOMPARE(asked, 2);
        QVERIFY(fs::exists(root / "2"));
        asked = 0;
        answers = {true, true};
        QVERIFY(view.deleteStep(2));
        QCOMPARE(asked, 2);
        QVERIFY(!fs::exists(root / "2"));
        // The files of both go in the background: nothing renamed for deletion stays behind.
        const auto leftovers = [&root] {
            int n = 0;
            for (const auto& e : fs::directory_iterator(root)) {
                n += e.path().filename().string().find("-deleting-") != std::string::npos;
            }
            return n;
        };
        QTRY_COMPARE_WITH_TIMEOUT(leftovers(), 0, kTimeoutMs);
        // What is left is a root Orbax and we still list: step 3, complete.
        auto left = listSteps(root);
        CKPT_VERIFY_OK(left.status());
        QCOMPARE(left->size(), std::size_t{1});
        QCOMPARE(left->front().step, std::int64_t{3});
        // A step that is not there is an error, not a crash.
        asked = 0;
        answers = {true};
        QVERIFY(!view.deleteStep(7));
        QVERIFY2(view.stepsStatusText().contains(QStringLiteral("no committed step 7")),
                 qPrintable(view.stepsStatusText()));
        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            view.tabs()->setCurrentIndex(1);
            view.resize(900, 400);
            view.show();
            QTest::qWait(300);
            QVERIFY(view.grab().save(shots + QStringLiteral("/run-steps.png")));
        }
    }

    void aSingleCheckpointIsNotARun() {
        const fs::path single = m_dir.path() / "single.msgpack";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), single, "flax"));
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, toQString(single.string())));
        QVERIFY(w.showRunOverTime() == nullptr);
    }

private:
    test::TempDir m_dir;
    fs::path m_run;
};

QTEST_MAIN(TestRunView)
#include "tst_run_view.moc"
