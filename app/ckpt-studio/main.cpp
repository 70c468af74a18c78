// ckpt-studio: the Checkpoint Studio GUI.
//
// A thin main over ckpt_ui: parses the command line, shows a MainWindow and opens the checkpoint
// given (or the generated demo). With --screenshot it saves a PNG of the window once the tree is
// shown and exits, which is how the GUI is looked at in CI and without a display.
#include <QApplication>
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QGuiApplication>
#include <QIcon>
#include <QPixmap>
#include <QPointer>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdio>
#include <optional>
#include <utility>

#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/array.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree_query.h"
#include "previews/array_preview.h"
#include "views/checkpoint_page.h"
#include "views/conform_wizard.h"
#include "views/diff_view.h"
#include "views/health_view.h"
#include "views/run_view.h"
#include "views/main_window.h"
#include "views/recent_files.h"

namespace {

constexpr int kExitOpenFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitScreenshotFailed = 3;

// Levels below the top level that --screenshot expands (QTreeView::expandToDepth(1) shows the
// top level, their children and grandchildren).
constexpr int kScreenshotExpandDepth = 1;
// Time for delayed item layout and repaints to settle before grabbing.
constexpr int kScreenshotSettleMs = 250;

void printError(const QString& text) {
    std::fprintf(stderr, "ckpt-studio: %s\n", qUtf8Printable(text));
}

// Grabs `window` into `file` and ends the event loop with the outcome.
void saveScreenshot(QWidget& window, const QString& file) {
    const QPixmap pixmap = window.grab();
    if (pixmap.isNull() || !pixmap.save(file, "PNG")) {
        printError(QStringLiteral("could not save the screenshot to %1").arg(file));
        QCoreApplication::exit(kExitScreenshotFailed);
        return;
    }
    QCoreApplication::exit(0);
}

// Saves a picture of `widget` a moment after `signal` (its work is done), or exits on `failure`.
template <typename Widget, typename Done, typename Failed>
void screenshotWhenDone(Widget* widget, Done signal, Failed failure, const QString& file) {
    QObject::connect(widget, signal, widget, [widget, file] {
        QTimer::singleShot(kScreenshotSettleMs, widget,
                           [widget, file] { saveScreenshot(*widget, file); });
    });
    QObject::connect(widget, failure, widget, [] { QCoreApplication::exit(kExitOpenFailed); });
}

// --compare / --conform / --health: opens the Compare window, the Conform wizard (at its Rules
// page) or the Health Check on the current tab; with a `screenshotFile`, saves a picture of it
// once its work is done.
void openSecondWindow(ckpt::ui::MainWindow& window, const QString& compareWith,
                      const QString& conformTo, bool health, bool runView,
                      const QString& screenshotFile) {
    QWidget* shown = nullptr;
    if (runView) {
        ckpt::ui::RunView* view = window.showRunOverTime();
        if (!view) {
            printError(QStringLiteral("--run-view: the checkpoint is not a run of several steps"));
            QCoreApplication::exit(kExitOpenFailed);
            return;
        }
        shown = view;
        if (!screenshotFile.isEmpty()) {
            // Both halves: the series and the step comparison.
            const auto whenBoth = [view, screenshotFile] {
                if (view->isPlotting() || view->isComparing()) return;
                QTimer::singleShot(kScreenshotSettleMs, view,
                                   [view, screenshotFile] { saveScreenshot(*view, screenshotFile); });
            };
            QObject::connect(view, &ckpt::ui::RunView::seriesFinished, view, whenBoth);
            QObject::connect(view, &ckpt::ui::RunView::changesFinished, view, whenBoth);
        }
    } else if (health) {
        ckpt::ui::HealthView* view = window.checkCurrentHealth();
        if (!view) return;
        shown = view;
        QObject::connect(view, &ckpt::ui::HealthView::failed, view,
                         [](const QString& message) { printError(message); });
        if (!screenshotFile.isEmpty()) {
            screenshotWhenDone(view, &ckpt::ui::HealthView::finished,
                               &ckpt::ui::HealthView::failed, screenshotFile);
        }
    } else if (!compareWith.isEmpty()) {
        ckpt::ui::DiffView* view = window.compareCurrentWith(compareWith);
        if (!view) return;
        shown = view;
        QObject::connect(view, &ckpt::ui::DiffView::failed, view, [](const QString& message) {
            printError(message);
        });
        if (!screenshotFile.isEmpty()) {
            screenshotWhenDone(view, &ckpt::ui::DiffView::finished, &ckpt::ui::DiffView::failed,
                               screenshotFile);
        }
    } else {
        ckpt::ui::ConformWizard* wizard = window.conformCurrent(conformTo);
        if (!wizard) return;
        shown = wizard;
        QObject::connect(wizard, &ckpt::ui::ConformWizard::referenceLoaded, wizard, [wizard] {
            if (!wizard->reference()) {
                printError(wizard->preflightText());
                return;
            }
            wizard->next();
        });
        if (!screenshotFile.isEmpty()) {
            QObject::connect(wizard, &ckpt::ui::ConformWizard::planFinished, wizard,
                             [wizard, screenshotFile] {
                                 QTimer::singleShot(kScreenshotSettleMs, wizard,
                                                    [wizard, screenshotFile] {
                                                        saveScreenshot(*wizard, screenshotFile);
                                                    });
                             });
            QObject::connect(wizard, &ckpt::ui::ConformWizard::referenceLoaded, wizard, [wizard] {
                if (!wizard->reference()) QCoreApplication::exit(kExitOpenFailed);
            });
        }
    }
    shown->raise();
}

}  // namespace

int main(int argc, char* argv[]) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(ckpt::ui::RecentFiles::organizationName());
    QApplication::setApplicationName(ckpt::ui::RecentFiles::applicationName());
    QApplication::setApplicationVersion(QStringLiteral(CKPT_VERSION));
    // Matches packaging/linux/ckpt-studio.desktop, so that desktops find the launcher's icon.
    QGuiApplication::setDesktopFileName(QStringLiteral("ckpt-studio"));
    QIcon icon;
    for (const int size : {48, 128, 256}) {
        icon.addFile(QStringLiteral(":/icons/ckpt-studio-%1.png").arg(size), QSize(size, size));
    }
    QApplication::setWindowIcon(icon);

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Checkpoint Studio: browse JAX/Flax checkpoints."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("path"),
                                 QStringLiteral("Checkpoint files or directories to open, each in "
                                                "its own tab."),
                                 QStringLiteral("[PATH...]"));
    const QCommandLineOption demoOption(
        QStringLiteral("demo"),
        QStringLiteral("Open a generated demo checkpoint (a small Flax TrainState)."));
    const QCommandLineOption screenshotOption(
        QStringLiteral("screenshot"),
        QStringLiteral("Save a PNG of the window once the checkpoint is shown, then exit "
                       "(non-zero if opening failed)."),
        QStringLiteral("file"));
    const QCommandLineOption stepOption(
        QStringLiteral("step"),
        QStringLiteral("For a run directory (Orbax CheckpointManager root, flax checkpoint_* "
                       "files): the step to open (default: the latest)."),
        QStringLiteral("step"));
    const QCommandLineOption selectOption(
        QStringLiteral("select"),
        QStringLiteral("Select the node at this key path (e.g. params/Dense_0/kernel) once the "
                       "checkpoint is shown."),
        QStringLiteral("keypath"));
    const QCommandLineOption previewOption(
        QStringLiteral("preview"),
        QStringLiteral("The preview tab to show: statistics, histogram, heatmap, line or table."),
        QStringLiteral("tab"));
    const QCommandLineOption filterOption(
        QStringLiteral("filter"),
        QStringLiteral("Filter the tree by key path once the checkpoint is shown."),
        QStringLiteral("pattern"));
    const QCommandLineOption filterSyntaxOption(
        QStringLiteral("filter-syntax"),
        QStringLiteral("How --filter is read: contains (default), glob or regex."),
        QStringLiteral("syntax"), QStringLiteral("contains"));
    const QCommandLineOption compareOption(
        QStringLiteral("compare"),
        QStringLiteral("Once the (last) checkpoint is shown, compare it with this checkpoint "
                       "file, directory or structure file in a Compare window (with "
                       "--screenshot: a picture of that window)."),
        QStringLiteral("path"));
    const QCommandLineOption conformOption(
        QStringLiteral("conform"),
        QStringLiteral("Once the (last) checkpoint is shown, open the Conform to Reference "
                       "wizard with this reference and go to its Rules page (with "
                       "--screenshot: a picture of the wizard)."),
        QStringLiteral("reference"));
    const QCommandLineOption healthOption(
        QStringLiteral("health"),
        QStringLiteral("Once the (last) checkpoint is shown, run Tools > Health Check on it "
                       "(with --screenshot: a picture of the report)."));
    const QCommandLineOption runOption(
        QStringLiteral("run-view"),
        QStringLiteral("Once the run directory is shown, open Tools > Run Over Time on the node "
                       "--select names (with --screenshot: a picture of it)."));
    parser.addOption(runOption);
    parser.addOption(healthOption);
    parser.addOption(compareOption);
    parser.addOption(conformOption);
    parser.addOption(demoOption);
    parser.addOption(filterOption);
    parser.addOption(filterSyntaxOption);
    parser.addOption(previewOption);
    parser.addOption(screenshotOption);
    parser.addOption(stepOption);
    parser.addOption(selectOption);
    parser.process(app);

    if (const ckpt::Status setting = ckpt::Array::maxReadBytesSetting(); !setting.isOk()) {
        printError(QString::fromStdString(setting.message()));
        return kExitUsage;
    }
    const QStringList positional = parser.positionalArguments();
    if (int{parser.isSet(compareOption)} + int{parser.isSet(conformOption)} +
            int{parser.isSet(healthOption)} + int{parser.isSet(runOption)} > 1) {
        printError(QStringLiteral("give one of --compare, --conform, --health and --run-view"));
        return kExitUsage;
    }
    const bool health = parser.isSet(healthOption);
    const bool runView = parser.isSet(runOption);
    const QString compareWith = parser.value(compareOption);
    const QString conformTo = parser.value(conformOption);
    const bool demo = parser.isSet(demoOption);
    if (demo && !positional.isEmpty()) {
        printError(QStringLiteral("give PATHs or --demo, not both (see --help)"));
        return kExitUsage;
    }

    // Declared before the window so that the demo file outlives everything that reads it.
    std::optional<QTemporaryDir> demoDir;
    QStringList paths = positional;
    if (demo) {
        demoDir.emplace();
        if (!demoDir->isValid()) {
            printError(QStringLiteral("could not create a temporary directory: %1")
                           .arg(demoDir->errorString()));
            return kExitOpenFailed;
        }
        paths = {demoDir->filePath(QStringLiteral("demo_train_state.msgpack"))};
        const ckpt::Status status = ckpt::writeCheckpoint(
            ckpt::makeDemoTrainState(), ckpt::ui::toFsPath(paths.first()), "flax");
        if (!status.isOk()) {
            printError(QStringLiteral("could not write the demo checkpoint: %1")
                           .arg(ckpt::ui::statusToUserText(status)));
            return kExitOpenFailed;
        }
    }

    std::optional<ckpt::KeyPath> select;
    if (parser.isSet(selectOption)) {
        auto parsed = ckpt::parseKeyPath(parser.value(selectOption).toStdString());
        if (!parsed.isOk()) {
            printError(QStringLiteral("--select: %1").arg(ckpt::ui::statusToUserText(parsed.status())));
            return kExitUsage;
        }
        select = *parsed;
    }

    std::optional<std::pair<QString, ckpt::PatternSyntax>> filter;
    if (parser.isSet(filterOption)) {
        const QStringList syntaxes{QStringLiteral("contains"), QStringLiteral("glob"),
                                   QStringLiteral("regex")};
        const auto syntax = syntaxes.indexOf(parser.value(filterSyntaxOption).toLower());
        if (syntax < 0) {
            printError(QStringLiteral("--filter-syntax: expected one of %1")
                           .arg(syntaxes.join(QStringLiteral(", "))));
            return kExitUsage;
        }
        const ckpt::PatternSyntax kinds[] = {ckpt::PatternSyntax::kSubstring,
                                             ckpt::PatternSyntax::kGlob,
                                             ckpt::PatternSyntax::kRegex};
        const QString pattern = parser.value(filterOption);
        auto compiled = ckpt::KeyPathPattern::compile(pattern.toStdString(), kinds[syntax]);
        if (!compiled.isOk()) {
            printError(QStringLiteral("--filter: %1")
                           .arg(ckpt::ui::statusToUserText(compiled.status())));
            return kExitUsage;
        }
        filter.emplace(pattern, kinds[syntax]);
    }

    ckpt::ui::MainWindow window;
    if (parser.isSet(previewOption)) {
        const QStringList tabs{QStringLiteral("statistics"), QStringLiteral("histogram"),
                               QStringLiteral("heatmap"), QStringLiteral("line"),
                               QStringLiteral("table")};
        const auto tab = tabs.indexOf(parser.value(previewOption).toLower());
        if (tab < 0) {
            printError(QStringLiteral("--preview: expected one of %1")
                           .arg(tabs.join(QStringLiteral(", "))));
            return kExitUsage;
        }
        window.setPreferredPreviewTab(static_cast<ckpt::ui::ArrayPreview::Tab>(tab));
    }
    const bool screenshot = parser.isSet(screenshotOption);
    const QString screenshotFile = parser.value(screenshotOption);
    // The screenshot waits for the last tab.
    const QString lastPath =
        paths.isEmpty() ? QString() : ckpt::ui::MainWindow::checkpointPathFor(paths.last());
    // Once a checkpoint is shown: filter and select in its tab, then (for a screenshot, once the
    // sizes and the filter are in) expand, select and take the picture.
    QObject::connect(
        &window, &ckpt::ui::MainWindow::checkpointOpened, &window,
        [&window, &select, &filter, screenshot, screenshotFile, lastPath, compareWith,
         conformTo, health, runView](const QString& opened) {
            QPointer<ckpt::ui::CheckpointPage> page = window.pageForPath(opened);
            if (!page) return;
            if (filter) page->setFilter(filter->first, filter->second);
            const bool last = opened == lastPath;
            const bool takeShot = screenshot && last;
            const bool second =
                !compareWith.isEmpty() || !conformTo.isEmpty() || health || runView;
            auto finish = [&window, &select, &filter, page, takeShot, second, last, screenshotFile,
                           compareWith, conformTo, health, runView] {
                if (!page) return;
                // expandToDepth() collapses what is deeper: not over a filter's expansion.
                if (takeShot && !filter) page->expandToDepth(kScreenshotExpandDepth);
                if (select && !page->selectKeyPath(*select)) {
                    printError(QStringLiteral("--select: no node at '%1'")
                                   .arg(QString::fromStdString(ckpt::formatKeyPath(*select))));
                }
                if (last && second) {
                    window.setCurrentPage(page);
                    openSecondWindow(window, compareWith, conformTo, health, runView,
                                     takeShot ? screenshotFile : QString());
                }
                if (!takeShot || second) return;
                if (!select) page->selectFirstArray();
                QTimer::singleShot(kScreenshotSettleMs, &window, [&window, screenshotFile] {
                    saveScreenshot(window, screenshotFile);
                });
            };
            if (!takeShot) {
                finish();
                return;
            }
            // Wait for the background totals and filter so the picture shows them.
            auto* poll = new QTimer(&window);
            QObject::connect(poll, &QTimer::timeout, &window, [poll, page, finish] {
                if (page && (!page->hasRollups() || page->isFiltering())) return;
                poll->stop();
                poll->deleteLater();
                finish();
            });
            poll->start(20);
        });
    if (screenshot) {
        window.setErrorDialogsEnabled(false);
        window.setConfirmDiscard(false);
        QObject::connect(&window, &ckpt::ui::MainWindow::errorOccurred, &app,
                         [](const QString& message) {
                             printError(message);
                             QCoreApplication::exit(kExitOpenFailed);
                         });
        if (paths.isEmpty()) {
            QTimer::singleShot(kScreenshotSettleMs, &window, [&window, screenshotFile] {
                saveScreenshot(window, screenshotFile);
            });
        }
    }
    window.show();
    // The demo lives in a temporary directory, and --screenshot is not a user's session: neither
    // belongs in Open Recent.
    const bool record = !demo && !screenshot;
    std::optional<std::string> step;
    if (parser.isSet(stepOption)) step = parser.value(stepOption).toStdString();
    for (const QString& path : paths) {
        window.openPath(path, step,
                        record ? ckpt::ui::MainWindow::Recent::kRecord
                               : ckpt::ui::MainWindow::Recent::kSkip);
    }
    return QApplication::exec();
}
