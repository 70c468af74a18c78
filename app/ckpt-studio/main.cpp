// ckpt-studio: the Checkpoint Studio GUI.
//
// A thin main over ckpt_ui: parses the command line, shows a MainWindow and opens the checkpoint
// given (or the generated demo). With --screenshot it saves a PNG of the window once the tree is
// shown and exits, which is how the GUI is looked at in CI and without a display.
#include <QApplication>
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QDir>
#include <QPixmap>
#include <QTemporaryDir>
#include <QTimer>
#include <cstdio>
#include <optional>

#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "previews/array_preview.h"
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
void saveScreenshot(ckpt::ui::MainWindow& window, const QString& file) {
    const QPixmap pixmap = window.grab();
    if (pixmap.isNull() || !pixmap.save(file, "PNG")) {
        printError(QStringLiteral("could not save the screenshot to %1").arg(file));
        QCoreApplication::exit(kExitScreenshotFailed);
        return;
    }
    QCoreApplication::exit(0);
}

}  // namespace

int main(int argc, char* argv[]) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(ckpt::ui::RecentFiles::organizationName());
    QApplication::setApplicationName(ckpt::ui::RecentFiles::applicationName());
    QApplication::setApplicationVersion(QStringLiteral(CKPT_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Checkpoint Studio: browse JAX/Flax checkpoints."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("path"),
                                 QStringLiteral("A checkpoint file or directory to open."),
                                 QStringLiteral("[PATH]"));
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
    parser.addOption(demoOption);
    parser.addOption(previewOption);
    parser.addOption(screenshotOption);
    parser.addOption(stepOption);
    parser.addOption(selectOption);
    parser.process(app);

    const QStringList positional = parser.positionalArguments();
    const bool demo = parser.isSet(demoOption);
    if (positional.size() > 1 || (demo && !positional.isEmpty())) {
        printError(QStringLiteral("give one PATH or --demo (see --help)"));
        return kExitUsage;
    }

    // Declared before the window so that the demo file outlives everything that reads it.
    std::optional<QTemporaryDir> demoDir;
    QString path = positional.value(0);
    if (demo) {
        demoDir.emplace();
        if (!demoDir->isValid()) {
            printError(QStringLiteral("could not create a temporary directory: %1")
                           .arg(demoDir->errorString()));
            return kExitOpenFailed;
        }
        path = demoDir->filePath(QStringLiteral("demo_train_state.msgpack"));
        const ckpt::Status status =
            ckpt::writeCheckpoint(ckpt::makeDemoTrainState(), ckpt::ui::toFsPath(path), "flax");
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
        window.arrayPreview()->setPreferredTab(static_cast<ckpt::ui::ArrayPreview::Tab>(tab));
    }
    if (select) {
        QObject::connect(&window, &ckpt::ui::MainWindow::checkpointOpened, &window,
                         [&window, &select] {
                             if (!window.selectKeyPath(*select)) {
                                 printError(QStringLiteral("--select: no node at '%1'")
                                                .arg(QString::fromStdString(
                                                    ckpt::formatKeyPath(*select))));
                             }
                         });
    }
    if (parser.isSet(screenshotOption)) {
        const QString file = parser.value(screenshotOption);
        window.setErrorDialogsEnabled(false);
        QObject::connect(&window, &ckpt::ui::MainWindow::errorOccurred, &app,
                         [](const QString& message) {
                             printError(message);
                             QCoreApplication::exit(kExitOpenFailed);
                         });
        QObject::connect(&window, &ckpt::ui::MainWindow::checkpointOpened, &window,
                         [&window, &select, file] {
                             window.expandToDepth(kScreenshotExpandDepth);
                             if (!select) window.selectFirstArray();
                             QTimer::singleShot(kScreenshotSettleMs, &window,
                                                [&window, file] { saveScreenshot(window, file); });
                         });
        if (path.isEmpty()) {
            QTimer::singleShot(kScreenshotSettleMs, &window,
                               [&window, file] { saveScreenshot(window, file); });
        }
    }
    window.show();
    // The demo lives in a temporary directory, and --screenshot is not a user's session: neither
    // belongs in Open Recent.
    const bool record = !demo && !parser.isSet(screenshotOption);
    if (!path.isEmpty()) {
        std::optional<std::string> step;
        if (parser.isSet(stepOption)) step = parser.value(stepOption).toStdString();
        window.openPath(path, step,
                        record ? ckpt::ui::MainWindow::Recent::kRecord
                               : ckpt::ui::MainWindow::Recent::kSkip);
    }
    return QApplication::exec();
}
