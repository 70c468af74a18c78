// Tools › Health Check (HealthView over ckpt::examineCheckpoint): a healthy checkpoint is
// "Healthy"; a NaN planted in a leaf is an error finding naming it, and activating the finding
// selects that node in the tab; a checkpoint that cannot be opened fails with its path; the dtype
// census matches the engine's report.
#include <QSignalSpy>
#include <QTest>
#include <QTreeWidget>
#include <cmath>
#include <limits>

#include "bridge/qt_convert.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "views/checkpoint_page.h"
#include "views/health_view.h"
#include "views/main_window.h"
#include "tests/test_util.h"
#include "tests/ui/window_test_util.h"

using namespace ckpt;
using ckpt::ui::HealthView;
using ckpt::ui::MainWindow;
using ckpt::ui::toFsPath;
using ckpt::ui::toQString;

using ckpt::test::openAndWait;

namespace {

constexpr int kTimeoutMs = test::kUiTimeoutMs;

bool waitDone(HealthView& view) {
    return QTest::qWaitFor([&] { return !view.isRunning(); }, kTimeoutMs);
}

}  // namespace

class TestHealthView : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_healthy = toQString((m_dir.path() / "healthy.msgpack").string());
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), toFsPath(m_healthy), "flax"));
        auto sick = applyRecipe(
            makeDemoTrainState(),
            {Edit::setCells({"params", "Dense_0", "kernel"},
                            {CellEdit{{1, 2}, std::numeric_limits<double>::quiet_NaN()}})});
        CKPT_VERIFY_OK(sick.status());
        m_sick = toQString((m_dir.path() / "sick.msgpack").string());
        CKPT_VERIFY_OK(writeCheckpoint(*sick, toFsPath(m_sick), "flax"));
    }

    void healthyCheckpointIsHealthy() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_healthy));
        QPointer<HealthView> view = w.checkCurrentHealth();
        QVERIFY(view);
        QVERIFY(waitDone(*view));
        QCOMPARE(view->verdictText(), QStringLiteral("Healthy"));
        QVERIFY(view->report() && view->report()->healthy());
        // The census lists what the engine counted.
        auto expected = examineCheckpoint(toFsPath(m_healthy));
        CKPT_VERIFY_OK(expected.status());
        QCOMPARE(view->censusView()->topLevelItemCount(), static_cast<int>(expected->census.size()));
        QCOMPARE(view->findingsView()->topLevelItemCount(),
                 static_cast<int>(expected->findings.size()));
        view->close();
    }

    void nanLeafIsAnErrorThatSelectsItsNode() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_sick));
        QPointer<HealthView> view = w.checkCurrentHealth();
        QVERIFY(waitDone(*view));
        QCOMPARE(view->verdictText(), QStringLiteral("1 error"));
        QTreeWidgetItem* first = view->findingsView()->topLevelItem(0);
        QVERIFY(first);
        QCOMPARE(first->text(0), QStringLiteral("error"));
        QCOMPARE(first->text(1), QStringLiteral("nan"));
        QCOMPARE(first->text(2), QStringLiteral("params/Dense_0/kernel"));
        QVERIFY2(first->text(3).contains(QStringLiteral("1 NaN")), qPrintable(first->text(3)));

        QSignalSpy activated(view.data(), &HealthView::keyPathActivated);
        emit view->findingsView()->itemActivated(first, 0);
        QCOMPARE(activated.size(), 1);
        QCOMPARE(w.currentPage()->currentKeyPath(), (KeyPath{"params", "Dense_0", "kernel"}));
        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            QTest::qWait(300);
            QVERIFY(view->grab().save(shots + QStringLiteral("/health.png")));
        }
        view->close();
    }

    void unopenableCheckpointFailsNamingIt() {
        HealthView view;
        QSignalSpy failed(&view, &HealthView::failed);
        const QString missing = toQString((m_dir.path() / "gone.msgpack").string());
        view.examine(missing);
        QVERIFY(waitDone(view));
        QCOMPARE(failed.size(), 1);
        QVERIFY2(view.verdictText().contains(QStringLiteral("gone.msgpack")),
                 qPrintable(view.verdictText()));
        QVERIFY(!view.report());
    }

private:
    test::TempDir m_dir;
    QString m_healthy;
    QString m_sick;
};

QTEST_MAIN(TestHealthView)
#include "tst_health_view.moc"
