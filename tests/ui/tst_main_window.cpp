// Tests for ckpt::ui::MainWindow: opening a real flax checkpoint (the demo, written by core),
// the title, tree, status bar, details and recent files; errors for missing and garbage files;
// drag and drop; and that late results never reach a closed window.
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QMimeData>
#include <QRandomGenerator>
#include <QStandardItemModel>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>
#include <QTimer>
#include <QTreeView>
#include <QUrl>
#include <QClipboard>
#include <QLineEdit>
#include <QTabWidget>
#include <memory>
#include <optional>
#include <string>

#include "bridge/qt_convert.h"
#include "ckpt/core/tree_query.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "models/display_text.h"
#include "models/tree_model.h"
#include "previews/array_preview.h"
#include "previews/histogram_widget.h"
#include "views/checkpoint_page.h"
#include "views/details_pane.h"
#include "views/main_window.h"
#include "views/recent_files.h"

using ckpt::ui::CheckpointPage;
using ckpt::ui::MainWindow;
using ckpt::ui::TreeModel;

namespace {

constexpr int kOpenTimeoutMs = 10'000;

// Opens `path` and waits for the outcome; true when it opened.
bool openAndWait(MainWindow& window, const QString& path) {
    QSignalSpy opened(&window, &MainWindow::checkpointOpened);
    QSignalSpy failed(&window, &MainWindow::errorOccurred);
    if (!window.openPath(path)) return false;
    if (!QTest::qWaitFor([&] { return !opened.isEmpty() || !failed.isEmpty(); }, kOpenTimeoutMs)) {
        return false;
    }
    if (opened.isEmpty()) return false;
    // The subtree totals follow in the background; the summary shows them once they are in.
    CheckpointPage* page = window.currentPage();
    return page && QTest::qWaitFor([page] { return page->hasRollups(); }, kOpenTimeoutMs);
}

// The menu action with `text` (as written, with its '&'), searched through every menu.
QAction* findAction(const MainWindow& window, const QString& text) {
    const QList<QAction*> actions = window.findChildren<QAction*>();
    for (QAction* action : actions) {
        if (action->text() == text) return action;
    }
    return nullptr;
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        // Keep the user's real settings out of the tests.
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           m_dir.filePath(QStringLiteral("settings")));
        m_demoPath = m_dir.filePath(QStringLiteral("demo_train_state.msgpack"));
        m_demo = ckpt::makeDemoTrainState();
        const ckpt::Status status =
            ckpt::writeCheckpoint(m_demo, ckpt::ui::toFsPath(m_demoPath), "flax");
        QVERIFY2(status.isOk(), status.toString().c_str());

        m_garbagePath = m_dir.filePath(QStringLiteral("garbage.msgpack"));
        QFile garbage(m_garbagePath);
        QVERIFY(garbage.open(QIODevice::WriteOnly));
        QByteArray bytes(4096, Qt::Uninitialized);
        QRandomGenerator generator(1234);
        for (char& byte : bytes) byte = static_cast<char>(generator.bounded(256));
        QVERIFY(garbage.write(bytes) == bytes.size());

        // A flax run directory with steps 1, 2, 3.
        m_flaxRunPath = m_dir.filePath(QStringLiteral("flax_run"));
        for (const char* step : {"1", "2", "3"}) {
            ckpt::WriteOptions options;
            options.step = step;
            const ckpt::Status written = ckpt::writeCheckpoint(
                m_demo, ckpt::ui::toFsPath(m_flaxRunPath), "flax", options);
            QVERIFY2(written.isOk(), written.toString().c_str());
        }
        // An Orbax root with complete step 5 and an unfinished save of step 6.
        m_orbaxRunPath = m_dir.filePath(QStringLiteral("orbax_run"));
        ckpt::WriteOptions options;
        options.step = "5";
        const ckpt::Status written =
            ckpt::writeCheckpoint(m_demo, ckpt::ui::toFsPath(m_orbaxRunPath), "orbax", options);
        QVERIFY2(written.isOk(), written.toString().c_str());
        QVERIFY(QDir(m_orbaxRunPath).mkdir(QStringLiteral("6.orbax-checkpoint-tmp")));
    }

    void init() { ckpt::ui::RecentFiles().clear(); }

    void opensDemoCheckpoint() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QCOMPARE(window.windowTitle(), QStringLiteral("Checkpoint Studio"));
        QVERIFY(openAndWait(window, m_demoPath));

        QCOMPARE(window.windowTitle(),
                 QString::fromUtf8("demo_train_state.msgpack \u2014 Checkpoint Studio"));
        QCOMPARE(window.currentPath(), m_demoPath);
        QVERIFY(!window.isOpening());
        TreeModel* model = window.model();
        QCOMPARE(model->rowCount(), 5);
        QCOMPARE(model->index(1, 0).data().toString(), QStringLiteral("params"));
        const QModelIndex kernel = model->indexForKeyPath({"params", "Dense_0", "kernel"});
        QCOMPARE(kernel.siblingAtColumn(TreeModel::kDTypeColumn).data().toString(),
                 QStringLiteral("float32"));
        QCOMPARE(kernel.siblingAtColumn(TreeModel::kShapeColumn).data().toString(),
                 QStringLiteral("(5, 3)"));

        // The summary counts what was read back: 16 leaves (step; kernel and bias in params,
        // mu and nu; count; None; learning_rate, model, 2 layers, use_bias; 2 data arrays).
        const ckpt::TreeSummary summary = ckpt::summarizeTree(window.checkpoint()->tree);
        QCOMPARE(summary.leafCount, std::uint64_t{16});
        const QString status = window.summaryText();
        QVERIFY2(status.startsWith(QStringLiteral("flax")), qPrintable(status));
        QVERIFY2(status.contains(QStringLiteral("16 leaves")), qPrintable(status));
        QVERIFY2(status.contains(ckpt::ui::humanBytes(summary.byteCount)), qPrintable(status));
        QVERIFY2(status.contains(ckpt::ui::groupedCount(summary.parameterCount) +
                                 QStringLiteral(" parameters")),
                 qPrintable(status));

        QCOMPARE(window.recentFiles(), QStringList{m_demoPath});
        QCOMPARE(window.detailsPane()->title(), QStringLiteral("demo_train_state.msgpack"));
        QVERIFY(window.detailsPane()->fieldsText().contains(QStringLiteral("Format: flax")));
    }

    void showsDetailsOfTheSelectedNode() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_demoPath));
        QVERIFY(window.selectFirstArray());
        const QModelIndex current = window.treeView()->currentIndex();
        QCOMPARE(current.data(TreeModel::kKeyPathRole).toString(),
                 QStringLiteral("params/Dense_0/kernel"));
        QVERIFY(window.treeView()->isExpanded(current.parent()));

        const QString details = window.detailsPane()->fieldsText();
        QCOMPARE(window.detailsPane()->title(), QStringLiteral("params/Dense_0/kernel"));
        QVERIFY2(details.contains(QStringLiteral("DType: float32")), qPrintable(details));
        QVERIFY2(details.contains(QStringLiteral("Shape: (5, 3)")), qPrintable(details));
        QVERIFY2(details.contains(QStringLiteral("Elements: 15")), qPrintable(details));
        QVERIFY2(details.contains(QStringLiteral("Size: 60 B")), qPrintable(details));
        // Storage facts arrive from a background job.
        QTRY_VERIFY2_WITH_TIMEOUT(
            window.detailsPane()->fieldsText().contains(QStringLiteral("Codecs: ")),
            qPrintable(window.detailsPane()->fieldsText()), kOpenTimeoutMs);

        QVERIFY(window.selectKeyPath({"config", "learning_rate"}));
        QVERIFY(window.detailsPane()->fieldsText().contains(QStringLiteral("Value: 0.001")));
        QVERIFY(!window.selectKeyPath({"config", "missing"}));
    }

    void previewShowsTheSelectedArray() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_demoPath));
        ckpt::ui::ArrayPreview* preview = window.arrayPreview();
        QSignalSpy finished(preview, &ckpt::ui::ArrayPreview::statisticsFinished);
        QVERIFY(window.selectFirstArray());  // params/Dense_0/kernel, (5, 3) float32
        QVERIFY(finished.wait(kOpenTimeoutMs));
        QVERIFY2(preview->statisticsText().contains(QStringLiteral("Elements: 15")),
                 qPrintable(preview->statisticsText()));
        QCOMPARE(preview->histogramWidget()->histogram().stats.count, std::uint64_t{15});
        QVERIFY(preview->tabs()->isTabEnabled(ckpt::ui::ArrayPreview::kHeatmapTab));

        QVERIFY(window.selectKeyPath({"config", "learning_rate"}));
        QVERIFY(finished.wait(kOpenTimeoutMs));
        QVERIFY(preview->statisticsText().contains(QStringLiteral("Value: 0.001")));
    }

    void reportsMissingPath() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        const QString missing = m_dir.filePath(QStringLiteral("does/not/exist.msgpack"));
        QVERIFY(window.openPath(missing));
        QVERIFY(failed.wait(kOpenTimeoutMs));
        QCOMPARE(opened.count(), 0);
        QVERIFY2(window.lastError().contains(QStringLiteral("exist.msgpack")),
                 qPrintable(window.lastError()));
        QCOMPARE(failed.first().first().toString(), window.lastError());
        QCOMPARE(window.windowTitle(), QStringLiteral("Checkpoint Studio"));
        // The tab made for it is closed again: back to the welcome page.
        QCOMPARE(window.pageCount(), 0);
        QVERIFY(!window.model());
        QVERIFY(window.recentFiles().isEmpty());
        QVERIFY(!window.isOpening());
    }

    void reportsGarbageFile() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_demoPath));
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QVERIFY(!openAndWait(window, m_garbagePath));
        QCOMPARE(failed.count(), 1);
        QVERIFY2(window.lastError().contains(QStringLiteral("garbage.msgpack")),
                 qPrintable(window.lastError()));
        // The checkpoint that was open stays open and is not replaced in the recent list.
        QCOMPARE(window.pageCount(), 1);
        QCOMPARE(window.currentPath(), m_demoPath);
        QCOMPARE(window.model()->rowCount(), 5);
        QCOMPARE(window.recentFiles(), QStringList{m_demoPath});
    }

    void rejectsEmptyPath() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QVERIFY(!window.openPath(QString()));
        QCOMPARE(failed.count(), 1);
        QVERIFY(!window.isOpening());
    }

    void showsNonBlockingErrorDialog() {
        MainWindow window;
        window.show();
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QVERIFY(window.openPath(m_garbagePath));
        QVERIFY(failed.wait(kOpenTimeoutMs));  // would never return if the box were modal-exec'd
        auto* box = window.findChild<QMessageBox*>();
        QVERIFY(box);
        QTRY_VERIFY(box->isVisible());
        QVERIFY(box->text().contains(QStringLiteral("garbage.msgpack")));
        box->accept();
    }

    void opensEachCheckpointInItsOwnTab() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_demoPath));
        QVERIFY(openAndWait(window, m_flaxRunPath));
        QCOMPARE(window.pageCount(), 2);
        QCOMPARE(window.currentPath(), m_flaxRunPath);
        QCOMPARE(window.tabs()->tabText(1), QStringLiteral("flax_run @ 3"));
        QVERIFY2(window.summaryText().contains(QStringLiteral("step 3")),
                 qPrintable(window.summaryText()));
        // Each tab keeps its own selection.
        QVERIFY(window.selectKeyPath({"params", "Dense_0", "bias"}));
        window.tabs()->setCurrentIndex(0);
        QCOMPARE(window.currentPath(), m_demoPath);
        QVERIFY(window.selectKeyPath({"config", "model"}));
        QCOMPARE(window.windowTitle(),
                 QString::fromUtf8("demo_train_state.msgpack \u2014 Checkpoint Studio"));
        window.tabs()->setCurrentIndex(1);
        QCOMPARE(window.currentPage()->currentKeyPath(),
                 std::optional<ckpt::KeyPath>({"params", "Dense_0", "bias"}));

        // Opening a path that is open brings its tab forward instead of a second copy.
        QVERIFY(openAndWait(window, m_demoPath));
        QCOMPARE(window.pageCount(), 2);
        QCOMPARE(window.currentPath(), m_demoPath);

        // Closing tabs ends at the welcome page.
        window.closePage(0);
        QCOMPARE(window.pageCount(), 1);
        QCOMPARE(window.currentPath(), m_flaxRunPath);
        window.closePage(0);
        QCOMPARE(window.pageCount(), 0);
        QVERIFY(!window.treeView());
        QCOMPARE(window.windowTitle(), QStringLiteral("Checkpoint Studio"));
        QVERIFY(window.summaryText().isEmpty());
    }

    void laterStepSupersedesEarlierOne() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_flaxRunPath));
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        QVERIFY(window.openPath(m_flaxRunPath, std::string("1")));
        QVERIFY(window.openPath(m_flaxRunPath, std::string("2")));
        QVERIFY(opened.wait(kOpenTimeoutMs));
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kOpenTimeoutMs));
        QTest::qWait(50);
        QCOMPARE(failed.count(), 0);
        QCOMPARE(opened.count(), 1);
        QCOMPARE(window.pageCount(), 1);
        QCOMPARE(window.checkpoint()->step, std::optional<std::string>("2"));
    }

    void closingATabMidOpenDropsTheResult() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        QSignalSpy failed(&window, &MainWindow::errorOccurred);
        QVERIFY(window.openPath(m_demoPath));
        window.closePage(0);
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kOpenTimeoutMs));
        QTest::qWait(50);
        QCOMPARE(opened.count() + failed.count(), 0);
        QCOMPARE(window.pageCount(), 0);
    }

    void filtersTheTreeByKeyPath() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_demoPath));
        CheckpointPage* page = window.currentPage();
        QSignalSpy applied(page, &CheckpointPage::filterApplied);
        // A glob without '/' matches the node's own key: not config/use_bias.
        QVERIFY(page->setFilter(QStringLiteral("bias"), ckpt::PatternSyntax::kGlob));
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kOpenTimeoutMs);
        QCOMPARE(page->filterStatusText(), QStringLiteral("3 matches"));
        // Only the ancestors of matches stay at the top, expanded down to the matches.
        QAbstractItemModel* shown = window.treeView()->model();
        QCOMPARE(shown->rowCount(), 2);
        QCOMPARE(shown->index(0, 0).data().toString(), QStringLiteral("params"));
        QCOMPARE(shown->index(1, 0).data().toString(), QStringLiteral("opt_state"));
        QVERIFY(window.treeView()->isExpanded(shown->index(0, 0)));
        QVERIFY(window.selectKeyPath({"opt_state", "0", "nu", "Dense_0", "bias"}));
        QVERIFY(!window.selectKeyPath({"config"}));  // filtered out

        // Typing in the box filters after a short pause; a bad regex is reported, not applied.
        page->filterEdit()->setFocus();
        QVERIFY(!page->setFilter(QStringLiteral("(unclosed"), ckpt::PatternSyntax::kRegex));
        QVERIFY2(!page->filterStatusText().isEmpty(), "an error is shown");
        QCOMPARE(shown->rowCount(), 2);  // the previous filter stays
        applied.clear();
        page->filterEdit()->setText(QString());
        QTRY_COMPARE_WITH_TIMEOUT(applied.count(), 1, kOpenTimeoutMs);
        QCOMPARE(shown->rowCount(), 5);
        // The selection survives the filter change.
        QCOMPARE(page->currentKeyPath(),
                 std::optional<ckpt::KeyPath>({"opt_state", "0", "nu", "Dense_0", "bias"}));

        // Copy Key Path.
        QVERIFY(page->copyCurrentKeyPath());
        QCOMPARE(QGuiApplication::clipboard()->text(),
                 QStringLiteral("opt_state/0/nu/Dense_0/bias"));
    }

    void showsSizesOnDiskOnceComputed() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_orbaxRunPath));
        TreeModel* model = window.model();
        const QModelIndex params = model->indexForKeyPath({"default", "params"});
        QVERIFY(params.isValid());
        const quint64 stored = params.siblingAtColumn(TreeModel::kStoredColumn)
                                   .data(TreeModel::kStoredBytesRole)
                                   .toULongLong();
        QVERIFY(stored > 0);
        QVERIFY2(window.summaryText().contains(QStringLiteral("on disk")),
                 qPrintable(window.summaryText()));
    }

    void keepsRecentFilesUniqueAndCapped() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        ckpt::ui::RecentFiles recent;
        for (int i = 0; i < 12; ++i) recent.add(m_dir.filePath(QStringLiteral("f%1").arg(i)));
        QCOMPARE(recent.paths().size(), ckpt::ui::RecentFiles::kMaxEntries);
        QCOMPARE(recent.paths().first(), m_dir.filePath(QStringLiteral("f11")));

        QVERIFY(openAndWait(window, m_demoPath));
        QVERIFY(openAndWait(window, m_demoPath));
        QStringList paths = window.recentFiles();
        QCOMPARE(paths.size(), ckpt::ui::RecentFiles::kMaxEntries);
        QCOMPARE(paths.first(), m_demoPath);
        QCOMPARE(paths.count(m_demoPath), 1);

        // The menu lists every entry, then a separator and "Clear Recent", which works.
        const QList<QAction*> actions = window.recentMenu()->actions();
        QCOMPARE(actions.size(), ckpt::ui::RecentFiles::kMaxEntries + 2);
        QCOMPARE(actions.first()->toolTip(), m_demoPath);
        QAction* clear = actions.last();
        QVERIFY(clear->isEnabled());
        clear->trigger();
        QVERIFY(window.recentFiles().isEmpty());
        QVERIFY(!window.recentMenu()->actions().last()->isEnabled());
    }

    void opensFromRecentMenu() {
        {
            MainWindow first;
            first.setErrorDialogsEnabled(false);
            QVERIFY(openAndWait(first, m_demoPath));
        }
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        // The welcome page links to it as well.
        auto* links = window.findChild<QLabel*>(QStringLiteral("welcomeRecent"));
        QVERIFY(links);
        QVERIFY2(links->text().contains(QUrl::fromLocalFile(m_demoPath).toString()),
                 qPrintable(links->text()));
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        QAction* entry = window.recentMenu()->actions().first();
        QCOMPARE(entry->toolTip(), m_demoPath);
        entry->trigger();
        QVERIFY(opened.wait(kOpenTimeoutMs));
        QCOMPARE(window.currentPath(), m_demoPath);
    }

    void skipsRecentFilesWhenAsked() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        QVERIFY(window.openPath(m_demoPath, MainWindow::Recent::kSkip));
        QVERIFY(opened.wait(kOpenTimeoutMs));
        QVERIFY(window.recentFiles().isEmpty());
        QVERIFY(!window.recentMenu()->actions().last()->isEnabled());
    }

    void forgetsRecentEntryThatNoLongerExists() {
        const QString gone = m_dir.filePath(QStringLiteral("gone.msgpack"));
        ckpt::ui::RecentFiles().add(gone);
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(!openAndWait(window, gone));
        QVERIFY(!window.recentFiles().contains(gone));
    }

    void opensDroppedFile() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(m_demoPath)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton,
                              Qt::NoModifier);
        QApplication::sendEvent(&window, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&window, &drop);
        QVERIFY(drop.isAccepted());
        QVERIFY(opened.wait(kOpenTimeoutMs));
        QCOMPARE(window.currentPath(), m_demoPath);
    }

    void ignoresDragsWithoutLocalFiles() {
        MainWindow window;
        QMimeData mime;
        mime.setText(QStringLiteral("not a file"));
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton,
                              Qt::NoModifier);
        QApplication::sendEvent(&window, &enter);
        QVERIFY(!enter.isAccepted());
    }

    void helpMenuShowsAboutBoxes() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QString aboutText;
        // The about boxes are modal; read and close them from inside their event loop.
        auto closeModal = [&aboutText] {
            QTRY_VERIFY(QApplication::activeModalWidget());
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            QVERIFY(box);
            aboutText = box->text();
            box->close();
        };
        QAction* about = findAction(window, QStringLiteral("&About Checkpoint Studio"));
        QVERIFY(about);
        QTimer::singleShot(0, this, closeModal);
        about->trigger();
        QVERIFY2(aboutText.contains(QStringLiteral("Checkpoint Studio")), qPrintable(aboutText));
        QVERIFY2(aboutText.contains(QStringLiteral("flax")), qPrintable(aboutText));

        QAction* aboutQt = findAction(window, QStringLiteral("About &Qt"));
        QVERIFY(aboutQt);
        aboutText.clear();
        QTimer::singleShot(0, this, closeModal);
        aboutQt->trigger();
        QVERIFY2(aboutText.contains(QStringLiteral("Qt")), qPrintable(aboutText));
    }

    void quitClosesTheWindow() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QAction* quit = findAction(window, QStringLiteral("&Quit"));
        QVERIFY(quit);
        QCOMPARE(quit->shortcut(), QKeySequence(QKeySequence::Quit));
        quit->trigger();
        QVERIFY(!window.isVisible());
    }

    void showsStepSelectorForRunDirectory() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(!window.stepSelector());
        QVERIFY(openAndWait(window, m_flaxRunPath));
        QComboBox* selector = window.stepSelector();
        QVERIFY(selector->isVisibleTo(&window));
        // Flax steps are single files: no items to list.
        QVERIFY(!window.findChild<QLabel*>(QStringLiteral("stepItems"))->isVisibleTo(&window));
        QCOMPARE(selector->count(), 3);
        QCOMPARE(selector->itemText(0), QStringLiteral("1"));
        QCOMPARE(selector->itemText(2), QStringLiteral("3"));
        QCOMPARE(selector->currentText(), QStringLiteral("3"));
        QCOMPARE(window.checkpoint()->step, std::optional<std::string>("3"));
        QVERIFY2(window.summaryText().contains(QStringLiteral("step 3")),
                 qPrintable(window.summaryText()));
        // Keyboard: the "&Step:" label is the selector's buddy.
        const QList<QLabel*> labels = window.findChildren<QLabel*>();
        bool hasBuddy = false;
        for (const QLabel* label : labels) hasBuddy = hasBuddy || label->buddy() == selector;
        QVERIFY(hasBuddy);
        QVERIFY(selector->focusPolicy() & Qt::TabFocus);

        // Switching step keeps the selected key path.
        QVERIFY(window.selectKeyPath({"opt_state", "0", "mu", "Dense_0", "kernel"}));
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        selector->setCurrentIndex(0);
        QVERIFY(window.isOpening());
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kOpenTimeoutMs);
        QCOMPARE(opened.first().first().toString(), m_flaxRunPath);
        QCOMPARE(window.currentPath(), m_flaxRunPath);
        QCOMPARE(window.checkpoint()->step, std::optional<std::string>("1"));
        QVERIFY2(window.summaryText().contains(QStringLiteral("step 1")),
                 qPrintable(window.summaryText()));
        QCOMPARE(window.currentPage()->currentKeyPath(),
                 std::optional<ckpt::KeyPath>({"opt_state", "0", "mu", "Dense_0", "kernel"}));
        QCOMPARE(window.tabs()->tabText(0), QStringLiteral("flax_run @ 1"));
        QCOMPARE(selector->count(), 3);
        QCOMPARE(selector->currentText(), QStringLiteral("1"));
        QCOMPARE(window.recentFiles(), QStringList{m_flaxRunPath});  // recorded once

        // A single file's tab has no selector.
        QVERIFY(openAndWait(window, m_demoPath));
        QVERIFY(!window.stepSelector()->isVisibleTo(&window));
        QCOMPARE(window.stepSelector()->count(), 0);
    }

    void disablesIncompleteSteps() {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, m_orbaxRunPath));
        QComboBox* selector = window.stepSelector();
        QVERIFY(selector->isVisibleTo(&window));
        QCOMPARE(selector->count(), 2);
        QCOMPARE(selector->currentText(), QStringLiteral("5"));
        QCOMPARE(selector->itemText(1), QStringLiteral("6 (incomplete)"));
        auto* model = qobject_cast<QStandardItemModel*>(selector->model());
        QVERIFY(model);
        QVERIFY(model->item(0)->isEnabled());
        QVERIFY(!model->item(1)->isEnabled());
        // The step's named items are listed beside the selector.
        auto* items = window.findChild<QLabel*>(QStringLiteral("stepItems"));
        QVERIFY(items);
        QVERIFY(items->isVisibleTo(&window));
        QCOMPARE(items->text(), QStringLiteral("Items: default"));
        // Per-leaf storage: zarr version, OCDBT, codecs and the bytes on disk.
        QVERIFY(window.selectKeyPath({"default", "params", "Dense_0", "kernel"}));
        QTRY_VERIFY_WITH_TIMEOUT(
            window.detailsPane()->fieldsText().contains(QStringLiteral("Codecs: ")),
            kOpenTimeoutMs);
        const QString fields = window.detailsPane()->fieldsText();
        QVERIFY2(fields.contains(QStringLiteral("Format: zarr v3")), qPrintable(fields));
        QVERIFY2(fields.contains(QStringLiteral("OCDBT database")), qPrintable(fields));
        QVERIFY2(fields.contains(QStringLiteral("zstd")), qPrintable(fields));
        QVERIFY2(fields.contains(QStringLiteral("Stored: ")), qPrintable(fields));
        // A scalar's value (an Orbax 0-d array) is read off the GUI thread when it is shown.
        QVERIFY(window.selectKeyPath({"default", "step"}));
        QTRY_VERIFY2_WITH_TIMEOUT(
            window.detailsPane()->fieldsText().contains(QStringLiteral("Value: 100")),
            qPrintable(window.detailsPane()->fieldsText()), kOpenTimeoutMs);

        // Arrow keys skip the disabled entry: nothing to re-open.
        QSignalSpy opened(&window, &MainWindow::checkpointOpened);
        selector->setFocus();
        QTest::keyClick(selector, Qt::Key_Down);
        QCOMPARE(selector->currentIndex(), 0);
        QVERIFY(!window.isOpening());
    }

    void opensOrbaxDirectoryFromItsMetadataFile() {
        const QString step = m_orbaxRunPath + QStringLiteral("/5");
        const QString item = step + QStringLiteral("/default");
        const QString itemMetadata = item + QStringLiteral("/_METADATA");
        const QString stepMetadata = step + QStringLiteral("/_CHECKPOINT_METADATA");
        QVERIFY(QFileInfo(itemMetadata).isFile());
        QVERIFY(QFileInfo(stepMetadata).isFile());
        QCOMPARE(MainWindow::checkpointPathFor(itemMetadata), item);
        QCOMPARE(MainWindow::checkpointPathFor(stepMetadata), step);
        QCOMPARE(MainWindow::checkpointPathFor(m_demoPath), m_demoPath);
        // Only files of those names stand for their directory.
        QTemporaryDir dir;
        QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("_METADATA")));
        const QString metadataDir = QDir(dir.path()).filePath(QStringLiteral("_METADATA"));
        QCOMPARE(MainWindow::checkpointPathFor(metadataDir), metadataDir);

        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(window, itemMetadata));
        QCOMPARE(window.currentPath(), item);
        QCOMPARE(window.checkpoint()->format, std::string("orbax"));
        QVERIFY(window.model()->indexForKeyPath({"params", "Dense_0", "kernel"}).isValid());
        QCOMPARE(window.recentFiles().value(0), item);

        QVERIFY(openAndWait(window, stepMetadata));
        QCOMPARE(window.pageCount(), 2);
        QCOMPARE(window.currentPath(), step);
        QCOMPARE(window.checkpoint()->format, std::string("orbax"));
    }

    void closedWindowGetsNoCallback() {
        auto window = std::make_unique<MainWindow>();
        window->setErrorDialogsEnabled(false);
        bool called = false;
        connect(window.get(), &MainWindow::checkpointOpened, this, [&called] { called = true; });
        connect(window.get(), &MainWindow::errorOccurred, this, [&called] { called = true; });
        QVERIFY(window->openPath(m_demoPath));
        window.reset();
        QVERIFY(QThreadPool::globalInstance()->waitForDone(kOpenTimeoutMs));
        QTest::qWait(50);  // deliver the queued completion, which must be dropped
        QVERIFY(!called);
    }

private:
    QTemporaryDir m_dir;
    QString m_demoPath;
    QString m_garbagePath;
    QString m_flaxRunPath;
    QString m_orbaxRunPath;
    ckpt::NodePtr m_demo;
};

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
