// The Conform to Reference wizard, driven offscreen: the reference's preflight, a plan that drops
// and fills, a suggested rename accepted through its check box, a regex rule, a rule that does
// not compile (Next disabled, the error named), zeros as the fill; Finish applies the plan to the
// tab as one undo step whose result preflights exact against the reference, keeps the renamed
// values bit-equal, saves and reopens exact; Undo brings the source back.
#include <QCheckBox>
#include <QComboBox>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTest>
#include <QUndoStack>

#include "bridge/qt_convert.h"
#include "ckpt/core/conform.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "edit/edit_controller.h"
#include "views/checkpoint_page.h"
#include "views/conform_wizard.h"
#include "views/main_window.h"
#include "tests/test_util.h"
#include "tests/ui/window_test_util.h"

using namespace ckpt;
using ckpt::ui::CheckpointPage;
using ckpt::ui::ConformWizard;
using ckpt::ui::MainWindow;
using ckpt::ui::toFsPath;
using ckpt::ui::toQString;
namespace fs = std::filesystem;
using ckpt::test::openAndWait;

namespace {

constexpr int kTimeoutMs = test::kUiTimeoutMs;

bool waitPlan(ConformWizard& wizard) {
    // A change schedules a plan after a short delay; replan() starts it at once.
    wizard.replan();
    return QTest::qWaitFor([&] { return !wizard.isPlanning(); }, kTimeoutMs);
}

bool hasStep(const ConformPlan& plan, EditKind kind, const KeyPath& path) {
    for (const Edit& edit : plan.steps) {
        if (edit.kind == kind && edit.path == path) return true;
    }
    return false;
}

bool subtreesBitEqual(const NodePtr& a, const KeyPath& pathA, const NodePtr& b,
                      const KeyPath& pathB) {
    auto diff = diffTrees(findNode(a, pathA).value(), findNode(b, pathB).value());
    return diff.isOk() && diff->identical() && diff->notCompared == 0;
}

}  // namespace

class TestConformWizard : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        m_source = toQString((m_dir.path() / "old.msgpack").string());
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), toFsPath(m_source), "flax"));
        // The new code's structure: Dense_0 is now layer_0, batch_stats is new, config is
        // gone, and the optimizer's first moment of the bias is bfloat16.
        auto ref = applyRecipe(
            makeDemoTrainState(),
            {Edit::rename({"params", "Dense_0"}, "layer_0"),
             Edit::add({"batch_stats"}, NodeSpec::dict()),
             Edit::add({"batch_stats", "mean"}, NodeSpec::full(DType::kFloat32, {3}, 0.25)),
             Edit::remove({"config"}),
             Edit::cast({"opt_state", "0", "mu", "Dense_0", "bias"}, DType::kBFloat16)});
        CKPT_VERIFY_OK(ref.status());
        m_reference = toQString((m_dir.path() / "new.msgpack").string());
        CKPT_VERIFY_OK(writeCheckpoint(*ref, toFsPath(m_reference), "flax"));
        m_ref = openCheckpoint(toFsPath(m_reference))->tree;
    }

    void referencePreflightIsShown() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_source));
        QPointer<ConformWizard> wizard = w.conformCurrent(m_reference);
        QVERIFY(wizard);
        QSignalSpy loaded(wizard.data(), &ConformWizard::referenceLoaded);
        QVERIFY(loaded.wait(kTimeoutMs) || !loaded.isEmpty());
        QVERIFY(wizard->reference());
        QVERIFY(wizard->currentPage()->isComplete());
        const QString text = wizard->preflightText();
        // Restoring the old checkpoint as is would fail on the bias's dtype; every problem is
        // listed.
        QVERIFY2(text.contains(QStringLiteral("would fail")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("opt_state/0/mu/Dense_0/bias  dtype changed: "
                                              "float32(3,) \u2192 bfloat16(3,)")),
                 qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("params/Dense_0")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("batch_stats")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("config")), qPrintable(text));

        // A reference that does not open is an error naming it, and Next stays disabled.
        const QString missing = toQString((m_dir.path() / "nowhere.msgpack").string());
        wizard->setReferencePath(missing);
        QVERIFY(QTest::qWaitFor([&] { return !wizard->isLoadingReference(); }, kTimeoutMs));
        QVERIFY(!wizard->reference());
        QVERIFY(!wizard->currentPage()->isComplete());
        QVERIFY2(wizard->preflightText().contains(QStringLiteral("nowhere.msgpack")),
                 qPrintable(wizard->preflightText()));
        wizard->close();
    }

    void suggestionAcceptedThenFinishAppliesOneUndoStep() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, m_source));
        CheckpointPage* page = w.currentPage();
        const NodePtr source = page->editedRoot();
        QPointer<ConformWizard> wizard = w.conformCurrent(m_reference);
        QVERIFY(QTest::qWaitFor([&] { return wizard->reference() != nullptr; }, kTimeoutMs));
        wizard->next();
        QCOMPARE(wizard->currentId(), int{ConformWizard::kRulesPage});
        QVERIFY(waitPlan(*wizard));

        // By default the old Dense_0 is dropped and layer_0 filled from the reference: the plan
        // works but loses the trained values, so the rename is suggested.
        QVERIFY(wizard->plan());
        QVERIFY(hasStep(*wizard->plan(), EditKind::kDelete, {"params", "Dense_0"}));
        QCOMPARE(wizard->suggestionsList()->count(), 1);
        QListWidgetItem* item = wizard->suggestionsList()->item(0);
        QVERIFY2(item->text().startsWith(QStringLiteral("params/Dense_0 \u2192 params/layer_0")),
                 qPrintable(item->text()));

        // Accepting it (the check box) re-plans with an exact rename rule.
        item->setCheckState(Qt::Checked);
        QVERIFY(QTest::qWaitFor([&] { return !wizard->isPlanning(); }, kTimeoutMs));
        QVERIFY(wizard->plan());
        QVERIFY(!hasStep(*wizard->plan(), EditKind::kDelete, {"params", "Dense_0"}));
        QVERIFY(wizard->plan()->suggestions.empty());
        QCOMPARE(wizard->suggestionsList()->count(), 1);  // still listed, checked
        QCOMPARE(wizard->suggestionsList()->item(0)->checkState(), Qt::Checked);
        QCOMPARE(wizard->options().renames.size(), std::size_t{1});
        QVERIFY(hasStep(*wizard->plan(), EditKind::kCast, {"opt_state", "0", "mu", "Dense_0", "bias"}));
        QVERIFY(wizard->currentPage()->isComplete());

        if (const QString shots = qEnvironmentVariable("CKPT_SCREENSHOT_DIR"); !shots.isEmpty()) {
            QTest::qWait(300);
            QVERIFY(wizard->grab().save(shots + QStringLiteral("/conform-wizard.png")));
        }

        wizard->next();
        QCOMPARE(wizard->currentId(), int{ConformWizard::kApplyPage});
        const int undoBefore = page->edits()->undoStack()->count();
        wizard->accept();
        QCOMPARE(page->edits()->undoStack()->count(), undoBefore + 1);

        // The tab's tree now restores exactly into the reference, with the old values moved.
        auto check = preflight(page->editedRoot(), m_ref);
        CKPT_VERIFY_OK(check.status());
        QCOMPARE(check->outcome, PreflightOutcome::kExact);
        QVERIFY(subtreesBitEqual(source, {"params", "Dense_0", "kernel"}, page->editedRoot(),
                                 {"params", "layer_0", "kernel"}));
        QVERIFY(subtreesBitEqual(m_ref, {"batch_stats"}, page->editedRoot(), {"batch_stats"}));

        // Saved, it reopens exact.
        const QString saved = toQString((m_dir.path() / "conformed.msgpack").string());
        QSignalSpy finished(page, &CheckpointPage::saveFinished);
        page->saveAs(saved, QStringLiteral("flax"), false);
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        CKPT_VERIFY_OK(finished.front().at(1).value<Status>());
        auto reopened = openCheckpoint(toFsPath(saved));
        CKPT_VERIFY_OK(reopened.status());
        QCOMPARE(preflight(reopened->tree, m_ref)->outcome, PreflightOutcome::kExact);
    }

    void undoRevertsTheWholeConform() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        w.setConfirmDiscard(false);
        QVERIFY(openAndWait(w, m_source));
        CheckpointPage* page = w.currentPage();
        const NodePtr source = page->editedRoot();
        QPointer<ConformWizard> wizard = w.conformCurrent(m_reference);
        QVERIFY(QTest::qWaitFor([&] { return wizard->reference() != nullptr; }, kTimeoutMs));
        wizard->next();
        QVERIFY(waitPlan(*wizard));
        wizard->next();
        wizard->accept();
        QVERIFY(page->editedRoot() != source);
        page->edits()->undoStack()->undo();
        QCOMPARE(page->editedRoot(), source);
        QVERIFY(!page->isModified());
    }

    void regexRuleBadRuleAndZeroFill() {
        MainWindow w;
        w.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(w, m_source));
        QPointer<ConformWizard> wizard = w.conformCurrent(m_reference);
        QVERIFY(QTest::qWaitFor([&] { return wizard->reference() != nullptr; }, kTimeoutMs));
        wizard->next();

        // A rule that does not compile: the error names it and Next is disabled.
        wizard->addRenameRule(QStringLiteral("params/Dense_(\\d+"),
                              QStringLiteral("params/layer_$1"));
        QVERIFY(waitPlan(*wizard));
        QVERIFY(!wizard->plan());
        QVERIFY2(wizard->planError().startsWith(QStringLiteral("Rule 1")),
                 qPrintable(wizard->planError()));
        QVERIFY(!wizard->currentPage()->isComplete());

        // Fixed in the table: a capture-group rename of whole paths (a rule over single keys,
        // Dense_(\d+), would rename the optimizer's Dense_0 too).
        wizard->rulesTable()->item(0, 0)->setText(QStringLiteral("params/Dense_(\\d+)"));
        QVERIFY(waitPlan(*wizard));
        QVERIFY2(wizard->plan(), qPrintable(wizard->planError()));
        QVERIFY(!hasStep(*wizard->plan(), EditKind::kDelete, {"params", "Dense_0"}));
        QVERIFY(wizard->plan()->suggestions.empty());

        // Zeros as the fill, no dropping: batch_stats/mean is filled with zeros and config
        // stays (Orbax would drop it on restore).
        wizard->fillCombo()->setCurrentIndex(
            wizard->fillCombo()->findData(static_cast<int>(FillFrom::kZeros)));
        wizard->dropExtraBox()->setChecked(false);
        QVERIFY(waitPlan(*wizard));
        QVERIFY(wizard->plan());
        QVERIFY(!hasStep(*wizard->plan(), EditKind::kDelete, {"config"}));
        auto result = applyRecipe(w.currentPage()->editedRoot(), wizard->plan()->steps);
        CKPT_VERIFY_OK(result.status());
        QVERIFY((*result)->findChild("config") != nullptr);
        const Array mean =
            findNode(*result, {"batch_stats", "mean"}).value()->array()->readAll().value();
        for (std::byte b : mean.bytes()) QCOMPARE(b, std::byte{0});

        // A constant that is not a number is refused before planning.
        wizard->fillCombo()->setCurrentIndex(
            wizard->fillCombo()->findData(static_cast<int>(FillFrom::kConstant)));
        wizard->constantEdit()->setText(QStringLiteral("half"));
        QVERIFY(waitPlan(*wizard));
        QVERIFY(!wizard->plan());
        QVERIFY2(wizard->planError().contains(QStringLiteral("'half'")),
                 qPrintable(wizard->planError()));
        wizard->close();
    }

private:
    test::TempDir m_dir;
    QString m_source;
    QString m_reference;
    NodePtr m_ref;
};

QTEST_MAIN(TestConformWizard)
#include "tst_conform_wizard.moc"
