// The Compare window (DiffView over DiffTreeModel): a checkpoint against itself is all bit-equal;
// against a perturbed copy it shows exactly the changed keys with the engine's numbers; an edited
// tab against its opened version and two steps of a run; a path that does not open is an error
// naming it. The models pass QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTest>
#include <QTreeView>
#include <cmath>
#include <set>

#include "bridge/qt_convert.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "models/diff_tree_model.h"
#include "views/checkpoint_page.h"
#include "views/diff_view.h"
#include "views/main_window.h"
#include "tests/test_util.h"
#include "tests/ui/window_test_util.h"

using namespace ckpt;
using ckpt::ui::DiffTreeModel;
using ckpt::ui::DiffView;
using ckpt::ui::MainWindow;
using ckpt::ui::toFsPath;
using ckpt::ui::toQString;
namespace fs = std::filesystem;
using ckpt::test::openAndWait;

namespace {

constexpr int kTimeoutMs = test::kUiTimeoutMs;
const KeyPath kKernel{"params", "Dense_0", "kernel"};

bool waitDone(DiffView& view) {
    return QTest::qWaitFor([&] { return !view.isRunning(); }, kTimeoutMs);
}

// Key paths of the rows without children the view shows (through its filter).
std::set<std::string> shownLeaves(const DiffView& view, const QModelIndex& parent = {}) {
    std::set<std::string> out;
    const QAbstractItemModel* model = view.treeView()->model();
    for (int row = 0; row < model->rowCount(parent); ++row) {
        const QModelIndex index = model->index(row, 0, parent);
        if (model->rowCount(index) == 0) {
            out.insert(index.data(DiffTreeModel::kKeyPathRole).toString().toStdString());
        } else {
            out.merge(shownLeaves(view, index));
        }
    }
    return out;
}

double readFloat(const NodePtr& root, const KeyPath& path, std::int64_t flatIndex) {
    const NodePtr node = findNode(root, path).value();
    const Array array = node->array()->readAll().value();
    float v = 0;
    std::memcpy(&v, array.bytes().data() + flatIndex * 4, 4);
    return v;
}

}  // namespace

class TestDiffView : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_a = toQString((m_dir.path() / "a.msgpack").string());
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), toFsPath(m_a), "flax"));
        // B: one kernel cell set to 2, a key deleted, one added.
        m_b = toQString((m_dir.path() / "b.msgpack").string());
        auto b = applyRecipe(makeDemoTrainState(),
                             {Edit::setCells(kKernel, {CellEdit{{2, 1}, 2.0}}),
                              Edit::remove({"config", "model"}),
                              Edit::add({"extra"}, NodeSpec::zeros(DType::kFloat32, {4}))});
        CKPT_VERIFY_OK(b.status());
        CKPT_VERIFY_OK(writeCheckpoint(*b, toFsPath(m_b), "flax"));
    }

    void checkpointAgainstItselfIsAllBitEqual() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_a));
        QPointer<DiffView> view = w.compareCurrentWith(m_a);
        QVERIFY(view);
        QVERIFY(waitDone(*view));
        QVERIFY2(view->summaryText().startsWith(QStringLiteral("Identical")),
                 qPrintable(view->summaryText()));
        QVERIFY(view->model()->diff().identical());
        QVERIFY(!view->differencesOnlyBox()->isChecked());
        // Every leaf of the demo is listed, each bit-equal.
        const std::set<std::string> shown = shownLeaves(*view);
        QCOMPARE(shown.size(),
                 static_cast<std::size_t>(summarizeTree(makeDemoTrainState()).leafCount));
        for (const std::string& path : shown) {
            const QModelIndex index = view->model()->indexForPath(parseKeyPath(path).value());
            QCOMPARE(view->model()->entry(index)->change, DiffChange::kEqual);
            QCOMPARE(index.siblingAtColumn(DiffTreeModel::kChangeColumn).data().toString(),
                     QStringLiteral("bit-equal"));
        }
        view->close();
    }

    void perturbedCopyShowsTheChangedKeysAndNumbers() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_a));
        QPointer<DiffView> view = w.compareCurrentWith(m_b);
        QVERIFY(view);
        QAbstractItemModelTester modelTester(view->model(),
                                             QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester proxyTester(view->proxy(),
                                             QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(waitDone(*view));
        QVERIFY(view->differencesOnlyBox()->isChecked());
        const std::set<std::string> expected{"params/Dense_0/kernel", "config/model", "extra"};
        QCOMPARE(shownLeaves(*view), expected);
        QCOMPARE(view->summaryText(),
                 QStringLiteral("Differences: 1 only in A, 1 only in B, 1 values differ \u00b7 "
                                "%1 leaf pairs compared")
                     .arg(view->model()->diff().leavesCompared));

        // The numbers are the engine's: one cell of 15 changed to 2.
        const QModelIndex kernel = view->model()->indexForPath(kKernel);
        const DiffEntry* entry = view->model()->entry(kernel);
        QVERIFY(entry && entry->values);
        QCOMPARE(entry->change, DiffChange::kValuesDiffer);
        const double before = readFloat(makeDemoTrainState(), kKernel, 2 * 3 + 1);
        QCOMPARE(entry->values->changed, std::uint64_t{1});
        QCOMPARE(entry->values->maxAbsDiff, std::abs(2.0 - before));
        QCOMPARE(kernel.siblingAtColumn(DiffTreeModel::kMaxAbsColumn).data().toString(),
                 QString::number(std::abs(2.0 - before), 'g', 4));
        QCOMPARE(view->model()->entry(view->model()->indexForPath({"config", "model"}))->change,
                 DiffChange::kOnlyInA);
        QCOMPARE(view->model()->entry(view->model()->indexForPath({"extra"}))->change,
                 DiffChange::kOnlyInB);
        // A container summarises what is below it.
        QCOMPARE(view->model()
                     ->indexForPath({"params"})
                     .siblingAtColumn(DiffTreeModel::kChangeColumn)
                     .data()
                     .toString(),
                 QStringLiteral("1 difference"));

        // Selecting a row shows its numbers.
        QVERIFY(view->selectKeyPath(kKernel));
        QVERIFY2(view->detailsLabel()->text().contains(QStringLiteral("1 of 15 elements differ")),
                 qPrintable(view->detailsLabel()->text()));

        // The filter box narrows by key path; all rows come back without "differences only".
        view->filterEdit()->setText(QStringLiteral("params"));
        QCOMPARE(shownLeaves(*view), std::set<std::string>{"params/Dense_0/kernel"});
        view->filterEdit()->clear();
        view->differencesOnlyBox()->setChecked(false);
        QVERIFY(shownLeaves(*view).size() > expected.size());
        QVERIFY(shownLeaves(*view).count("params/Dense_0/bias") == 1);

        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            view->differencesOnlyBox()->setChecked(true);
            QVERIFY(view->selectKeyPath(kKernel));
            QTest::qWait(300);
            QVERIFY(view->grab().save(shots + QStringLiteral("/diff-view.png")));
        }
        view->close();
    }

    void editedTabAgainstItsOpenedVersion() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, m_a));
        ui::CheckpointPage* page = w.currentPage();
        CKPT_VERIFY_OK(page->applyEdit(Edit::setCells(kKernel, {CellEdit{{0, 0}, 7.0}})));
        ui::DiffSideSpec edited{QStringLiteral("edited"), page->editedRoot(), m_a, {}};
        ui::DiffSideSpec opened{QStringLiteral("opened"), nullptr, m_a, {}};
        QPointer<DiffView> view = w.compare(edited, opened);
        QVERIFY(waitDone(*view));
        QCOMPARE(shownLeaves(*view), std::set<std::string>{"params/Dense_0/kernel"});
        const DiffEntry* entry = view->model()->entry(view->model()->indexForPath(kKernel));
        QCOMPARE(entry->values->changed, std::uint64_t{1});
        view->close();
    }

    void twoStepsOfARun() {
        const fs::path run = m_dir.path() / "run";
        for (const char* step : {"1", "2"}) {
            WriteOptions options;
            options.step = step;
            NodePtr tree = makeDemoTrainState();
            if (std::string_view(step) == "2") {
                tree = applyRecipe(tree, {Edit::setScalar({"step"}, std::int64_t{200})}).value();
            }
            CKPT_VERIFY_OK(writeCheckpoint(tree, run, "flax", options));
        }
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, toQString(run.string()), std::string("2")));
        QPointer<DiffView> view = w.compareCurrentWith(toQString(run.string()), std::string("1"));
        QVERIFY(waitDone(*view));
        QCOMPARE(shownLeaves(*view), std::set<std::string>{"step"});
        view->close();
    }

    void aPathThatDoesNotOpenIsAnErrorNamingIt() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_a));
        const QString missing = toQString((m_dir.path() / "missing.msgpack").string());
        QPointer<DiffView> view = w.compareCurrentWith(missing);
        QSignalSpy failed(view.data(), &DiffView::failed);
        QVERIFY(waitDone(*view));
        QCOMPARE(failed.size(), 1);
        QVERIFY2(view->summaryText().contains(QStringLiteral("missing.msgpack")),
                 qPrintable(view->summaryText()));
        QCOMPARE(view->model()->rowCount(), 0);
        view->close();
    }

private:
    test::TempDir m_dir;
    QString m_a;
    QString m_b;
};

QTEST_MAIN(TestDiffView)
#include "tst_diff_view.moc"
