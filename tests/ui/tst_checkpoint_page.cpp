// Tests for views/checkpoint_page: opening in the background with the totals following, the
// filter bar (syntaxes, errors, debounce, keys), switching step while keeping the selected key
// path (or its deepest surviving ancestor), Copy Key Path, and dropping results of superseded or
// destroyed work.
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>
#include <QTreeView>
#include <memory>
#include <optional>
#include <string>

#include "bridge/qt_convert.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree_query.h"
#include "models/tree_filter_proxy.h"
#include "models/tree_model.h"
#include "views/checkpoint_page.h"
#include "views/details_pane.h"

using ckpt::KeyPath;
using ckpt::PatternSyntax;
using ckpt::ui::CheckpointPage;
using ckpt::ui::TreeModel;

namespace {

constexpr int kTimeoutMs = 10'000;

bool openAndWait(CheckpointPage& page, const QString& path,
                 std::optional<std::string> step = std::nullopt) {
    QSignalSpy opened(&page, &CheckpointPage::opened);
    QSignalSpy failed(&page, &CheckpointPage::openFailed);
    page.open(path, std::move(step));
    if (!QTest::qWaitFor([&] { return !opened.isEmpty() || !failed.isEmpty(); }, kTimeoutMs)) {
        return false;
    }
    return !opened.isEmpty() && QTest::qWaitFor([&] { return page.hasRollups(); }, kTimeoutMs);
}

bool filterAndWait(CheckpointPage& page, const QString& pattern, PatternSyntax syntax) {
    QSignalSpy applied(&page, &CheckpointPage::filterApplied);
    const bool ok = page.setFilter(pattern, syntax);
    return QTest::qWaitFor([&] { return !applied.isEmpty(); }, kTimeoutMs) && ok;
}

QStringList topNames(const CheckpointPage& page) {
    QStringList names;
    const QAbstractItemModel* shown = page.treeView()->model();
    for (int row = 0; row < shown->rowCount(); ++row) {
        names.append(shown->index(row, 0).data().toString());
    }
    return names;
}

// The demo tree without params/Dense_0/bias (an older step of a changed model).
ckpt::NodePtr demoWithoutBias() {
    const ckpt::NodePtr demo = ckpt::makeDemoTrainState();
    std::vector<ckpt::DictEntry> entries = demo->entries();
    for (ckpt::DictEntry& entry : entries) {
        if (entry.key != "params") continue;
        entry.value = ckpt::Node::makeDict(
            {{"Dense_0", ckpt::Node::makeDict({{"kernel", entry.value->findChild("Dense_0")
                                                              ->findChild("kernel")}})}});
    }
    return ckpt::Node::makeDict(std::move(entries));
}

}  // namespace

class TestCheckpointPage : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_demoPath = m_dir.filePath(QStringLiteral("demo.msgpack"));
        QVERIFY(ckpt::writeCheckpoint(ckpt::makeDemoTrainState(),
                                      ckpt::ui::toFsPath(m_demoPath), "flax")
                    .isOk());
        // An Orbax run: step 1 lacks params/Dense_0/bias, step 2 has it.
        m_runPath = m_dir.filePath(QStringLiteral("run"));
        for (const auto& [step, tree] :
             {std::pair{"1", demoWithoutBias()}, std::pair{"2", ckpt::makeDemoTrainState()}}) {
            ckpt::WriteOptions options;
            options.step = step;
            const ckpt::Status status =
                ckpt::writeCheckpoint(tree, ckpt::ui::toFsPath(m_runPath), "orbax", options);
            QVERIFY2(status.isOk(), status.toString().c_str());
        }
    }

    void opensThenComputesTotals() {
        CheckpointPage page;
        QSignalSpy rollups(&page, &CheckpointPage::rollupsReady);
        QVERIFY(openAndWait(page, m_demoPath));
        QCOMPARE(rollups.count(), 1);
        QCOMPARE(page.path(), m_demoPath);
        QCOMPARE(page.displayName(), QStringLiteral("demo.msgpack"));
        QVERIFY2(page.summaryText().contains(QStringLiteral("16 leaves")),
                 qPrintable(page.summaryText()));
        const QModelIndex params = page.model()->indexForKeyPath({"params"});
        QCOMPARE(params.siblingAtColumn(TreeModel::kSizeColumn).data().toString(),
                 QStringLiteral("72 B"));
    }

    void filterSyntaxesAndErrors() {
        CheckpointPage page;
        QVERIFY(openAndWait(page, m_demoPath));
        QVERIFY(filterAndWait(page, QStringLiteral("KERNEL"), PatternSyntax::kSubstring));
        QCOMPARE(page.filterStatusText(), QStringLiteral("3 matches"));
        QCOMPARE(topNames(page), (QStringList{"params", "opt_state"}));

        QVERIFY(filterAndWait(page, QStringLiteral("^(step|data)$"), PatternSyntax::kRegex));
        QCOMPARE(topNames(page), (QStringList{"step", "data"}));
        QCOMPARE(page.filterStatusText(), QStringLiteral("2 matches"));

        QVERIFY(filterAndWait(page, QStringLiteral("nothing*here"), PatternSyntax::kGlob));
        QCOMPARE(page.filterStatusText(), QStringLiteral("no match"));
        QVERIFY(topNames(page).isEmpty());

        // A pattern that does not compile is reported and leaves the last filter in place.
        QVERIFY(!filterAndWait(page, QStringLiteral("[unclosed"), PatternSyntax::kGlob));
        QVERIFY(page.filterStatusText().contains(QStringLiteral("[unclosed")));
        QVERIFY(topNames(page).isEmpty());

        QVERIFY(filterAndWait(page, QString(), PatternSyntax::kGlob));
        QCOMPARE(topNames(page).size(), 5);
        QVERIFY(page.filterStatusText().isEmpty());
    }

    void typingFiltersAfterAPauseAndEscapeClears() {
        CheckpointPage page;
        page.show();
        QVERIFY(openAndWait(page, m_demoPath));
        QSignalSpy applied(&page, &CheckpointPage::filterApplied);
        page.focusFilter();
        QTest::keyClicks(page.filterEdit(), QStringLiteral("use_b"));
        QCOMPARE(applied.count(), 0);  // not on every key
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kTimeoutMs);
        QCOMPARE(topNames(page), QStringList{"config"});
        // Down moves into the tree; Escape in the box clears the filter.
        QTest::keyClick(page.filterEdit(), Qt::Key_Down);
        QVERIFY(page.treeView()->hasFocus());
        QVERIFY(page.treeView()->currentIndex().isValid());
        page.focusFilter();
        QTest::keyClick(page.filterEdit(), Qt::Key_Escape);
        QVERIFY(page.filterEdit()->text().isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(topNames(page).size(), 5, kTimeoutMs);
    }

    void switchingStepKeepsTheKeyPath() {
        CheckpointPage page;
        QVERIFY(openAndWait(page, m_runPath));
        QCOMPARE(page.checkpoint()->step, std::optional<std::string>("2"));
        QVERIFY(page.selectKeyPath({"default", "opt_state", "0", "nu", "Dense_0", "kernel"}));
        QComboBox* steps = page.stepSelector();
        QCOMPARE(steps->count(), 2);

        QSignalSpy opened(&page, &CheckpointPage::opened);
        steps->setCurrentIndex(0);  // step 1
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeoutMs);
        QCOMPARE(page.checkpoint()->step, std::optional<std::string>("1"));
        QCOMPARE(page.currentKeyPath(),
                 std::optional<KeyPath>({"default", "opt_state", "0", "nu", "Dense_0", "kernel"}));

        // A key path the other step lacks falls back to its deepest ancestor there.
        steps->setCurrentIndex(1);
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 2, kTimeoutMs);
        QVERIFY(page.selectKeyPath({"default", "params", "Dense_0", "bias"}));
        steps->setCurrentIndex(0);
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 3, kTimeoutMs);
        QCOMPARE(page.currentKeyPath(), std::optional<KeyPath>({"default", "params", "Dense_0"}));
    }

    void switchingStepKeepsTheFilter() {
        CheckpointPage page;
        QVERIFY(openAndWait(page, m_runPath));
        QVERIFY(filterAndWait(page, QStringLiteral("bias"), PatternSyntax::kGlob));
        QCOMPARE(page.filterStatusText(), QStringLiteral("3 matches"));
        QSignalSpy opened(&page, &CheckpointPage::opened);
        page.stepSelector()->setCurrentIndex(0);
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeoutMs);
        // Step 1 has no params/Dense_0/bias: the new tree comes already filtered.
        QVERIFY(page.proxy()->isFiltering());
        QCOMPARE(page.filterStatusText(), QStringLiteral("2 matches"));
        QVERIFY(!page.selectKeyPath({"default", "params"}));
        QVERIFY(page.selectKeyPath({"default", "opt_state", "0", "mu", "Dense_0", "bias"}));
    }

    void copiesTheSelectedKeyPath() {
        CheckpointPage page;
        QVERIFY(openAndWait(page, m_demoPath));
        QVERIFY(!page.copyCurrentKeyPath());  // nothing selected
        QVERIFY(page.selectKeyPath({"config", "layers", "1"}));
        QVERIFY(page.copyCurrentKeyPath());
        QCOMPARE(QGuiApplication::clipboard()->text(), QStringLiteral("config/layers/1"));
        // The tree's own Copy shortcut does the same.
        const QList<QAction*> actions = page.treeView()->actions();
        QVERIFY(!actions.isEmpty());
        QCOMPARE(actions.first()->shortcut(), QKeySequence(QKeySequence::Copy));
    }

    void detailsArriveFromTheBackground() {
        CheckpointPage page;
        QVERIFY(openAndWait(page, m_runPath));
        QVERIFY(page.selectKeyPath({"default", "step"}));  // an Orbax 0-d array: lazy scalar
        QTRY_VERIFY_WITH_TIMEOUT(
            page.detailsPane()->fieldsText().contains(QStringLiteral("Value: 100")), kTimeoutMs);
        QVERIFY(page.selectKeyPath({"default", "params"}));
        QVERIFY2(page.detailsPane()->fieldValue(QStringLiteral("Leaves")) == QStringLiteral("2"),
                 qPrintable(page.detailsPane()->fieldsText()));
    }

    void destroyedPageDropsLateResults() {
        auto page = std::make_unique<CheckpointPage>();
        bool called = false;
        connect(page.get(), &CheckpointPage::opened, this, [&called] { called = true; });
        connect(page.get(), &CheckpointPage::openFailed, this, [&called] { called = true; });
        page->open(m_demoPath, std::nullopt);
        page.reset();
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kTimeoutMs));
        QTest::qWait(50);
        QVERIFY(!called);
    }

private:
    QTemporaryDir m_dir;
    QString m_demoPath;
    QString m_runPath;
};

QTEST_MAIN(TestCheckpointPage)
#include "tst_checkpoint_page.moc"
