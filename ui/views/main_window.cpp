#include "views/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStandardItemModel>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QTreeView>
#include <QUrl>
#include <QVBoxLayout>
#include <optional>
#include <utility>
#include <vector>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/format.h"
#include "models/display_text.h"
#include "models/tree_model.h"
#include "previews/array_preview.h"
#include "views/checkpoint_page.h"
#include "views/details_pane.h"

namespace ckpt::ui {

namespace {

const QString kLastDirectoryKey = QStringLiteral("lastDirectory");
const QString kThemeKey = QStringLiteral("theme");
const QString kGeometryKey = QStringLiteral("window/geometry");
const QString kWindowStateKey = QStringLiteral("window/state");
const QString kColormapKey = QStringLiteral("preview/heatmapColormap");
// Orbax files that name the checkpoint directory holding them.
const QStringList kOrbaxMetadataFiles{QStringLiteral("_METADATA"),
                                      QStringLiteral("_CHECKPOINT_METADATA")};
// How many recent checkpoints the welcome page links to.
constexpr qsizetype kWelcomeRecentCount = 5;

// The local file or directory in a drag, or empty if it carries none.
QString droppedPath(const QMimeData* mime) {
    if (!mime || !mime->hasUrls()) return {};
    const QList<QUrl> urls = mime->urls();
    if (urls.isEmpty() || !urls.first().isLocalFile()) return {};
    return urls.first().toLocalFile();
}

// The name shown in the title: the file or directory name of `path`.
QString displayName(const QString& path) {
    const QString name = QFileInfo(QDir::cleanPath(path)).fileName();
    return name.isEmpty() ? QDir::cleanPath(path) : name;
}

QSettings openSettings() {
    return QSettings(RecentFiles::organizationName(), RecentFiles::applicationName());
}

// The colormap names stored in the settings.
QString colormapKey(Colormap map) {
    return map == Colormap::kDiverging ? QStringLiteral("diverging") : QStringLiteral("viridis");
}

Colormap colormapFromKey(const QString& key) {
    return key == colormapKey(Colormap::kDiverging) ? Colormap::kDiverging : Colormap::kViridis;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("Checkpoint Studio"));
    setAcceptDrops(true);

    m_tabs = new QTabWidget;
    m_tabs->setObjectName(QStringLiteral("checkpointTabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->setTabsClosable(true);
    m_tabs->setMovable(true);
    m_tabs->setElideMode(Qt::ElideMiddle);
    connect(m_tabs, &QTabWidget::tabCloseRequested, this, &MainWindow::closePage);
    connect(m_tabs, &QTabWidget::currentChanged, this, &MainWindow::currentPageChanged);

    m_welcome = createWelcomePage();
    m_stack = new QStackedWidget;
    m_stack->addWidget(m_welcome);
    m_stack->addWidget(m_tabs);
    setCentralWidget(m_stack);

    m_summaryLabel = new QLabel;
    m_summaryLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusBar()->addPermanentWidget(m_summaryLabel);
    m_busyBar = new QProgressBar;
    m_busyBar->setRange(0, 0);  // indeterminate: openCheckpoint reports no progress
    m_busyBar->setMaximumWidth(120);
    m_busyBar->setMaximumHeight(14);
    m_busyBar->setTextVisible(false);
    m_busyBar->hide();
    statusBar()->addPermanentWidget(m_busyBar);

    createActions();  // after createWelcomePage(): the recent menu also fills the welcome page
    currentPageChanged();
    resize(1200, 760);

    const QSettings settings = openSettings();
    restoreGeometry(settings.value(kGeometryKey).toByteArray());
    restoreState(settings.value(kWindowStateKey).toByteArray());
    // System needs nothing applied: the application starts with the system look.
    const Theme stored = themeFromKey(settings.value(kThemeKey).toString());
    if (stored != Theme::kSystem) setTheme(stored);
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions() {
    QMenu* fileMenu = menuBar()->addMenu(tr("&File"));

    QAction* openFile = fileMenu->addAction(tr("&Open File\u2026"), this, &MainWindow::chooseFile);
    openFile->setShortcut(QKeySequence::Open);
    openFile->setStatusTip(tr("Open a checkpoint file"));

    QAction* openDirectory =
        fileMenu->addAction(tr("Open &Directory\u2026"), this, &MainWindow::chooseDirectory);
    openDirectory->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openDirectory->setStatusTip(tr("Open a checkpoint directory or a run directory of steps"));

    m_recentMenu = fileMenu->addMenu(tr("Open &Recent"));
    m_clearRecentAction = new QAction(tr("&Clear Recent"), this);
    connect(m_clearRecentAction, &QAction::triggered, this, [this] {
        m_recentFiles.clear();
        rebuildRecentMenu();
    });
    rebuildRecentMenu();

    fileMenu->addSeparator();
    createSaveActions(fileMenu);
    QAction* compareAction =
        fileMenu->addAction(tr("Co&mpare With…"), this, &MainWindow::chooseComparison);
    compareAction->setStatusTip(tr("Compare this checkpoint (as edited) with another tab, step, "
                                   "file or directory: keys, dtypes, shapes and values"));
    m_pageActions.append(compareAction);

    fileMenu->addSeparator();
    QAction* closeTab = fileMenu->addAction(tr("&Close Tab"), this, [this] {
        if (m_tabs->currentIndex() >= 0) closePage(m_tabs->currentIndex());
    });
    closeTab->setShortcut(QKeySequence::Close);
    m_pageActions.append(closeTab);

    fileMenu->addSeparator();
    QAction* quit = fileMenu->addAction(tr("&Quit"), qApp, &QApplication::closeAllWindows);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    QMenu* editMenu = menuBar()->addMenu(tr("&Edit"));
    createEditActions(editMenu);
    QAction* conformAction = editMenu->addAction(tr("C&onform to Reference…"), this,
                                                 [this] { conformCurrent(); });
    conformAction->setStatusTip(tr("Rename, drop, fill and cast so that this checkpoint "
                                   "restores exactly into another one's structure"));
    m_pageActions.append(conformAction);
    editMenu->addSeparator();
    QAction* copyPath = editMenu->addAction(tr("&Copy Key Path"), this, [this] {
        if (CheckpointPage* page = currentPage()) page->copyCurrentKeyPath();
    });
    copyPath->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));
    copyPath->setStatusTip(tr("Copy the selected node's key path to the clipboard"));
    m_pageActions.append(copyPath);
    QAction* find = editMenu->addAction(tr("&Filter Key Paths\u2026"), this, [this] {
        if (CheckpointPage* page = currentPage()) page->focusFilter();
    });
    find->setShortcut(QKeySequence::Find);
    m_pageActions.append(find);

    QMenu* viewMenu = menuBar()->addMenu(tr("&View"));
    QAction* nextTab = viewMenu->addAction(tr("&Next Tab"), this, [this] {
        if (m_tabs->count() > 1) m_tabs->setCurrentIndex((m_tabs->currentIndex() + 1) % m_tabs->count());
    });
    nextTab->setShortcut(QKeySequence::NextChild);
    QAction* previousTab = viewMenu->addAction(tr("&Previous Tab"), this, [this] {
        if (m_tabs->count() > 1) {
            m_tabs->setCurrentIndex((m_tabs->currentIndex() + m_tabs->count() - 1) %
                                    m_tabs->count());
        }
    });
    previousTab->setShortcut(QKeySequence::PreviousChild);
    m_pageActions.append(nextTab);
    m_pageActions.append(previousTab);

    viewMenu->addSeparator();
    QMenu* themeMenu = viewMenu->addMenu(tr("&Theme"));
    m_themeActions = new QActionGroup(this);
    m_themeActions->setExclusive(true);
    const std::pair<Theme, QString> themes[] = {{Theme::kSystem, tr("&System")},
                                                {Theme::kLight, tr("&Light")},
                                                {Theme::kDark, tr("&Dark")}};
    for (const auto& [theme, text] : themes) {
        QAction* action = themeMenu->addAction(text, this, [this, theme] { setTheme(theme); });
        action->setCheckable(true);
        action->setChecked(theme == m_theme);
        action->setData(static_cast<int>(theme));
        m_themeActions->addAction(action);
    }

    QMenu* toolsMenu = menuBar()->addMenu(tr("&Tools"));
    QAction* health = toolsMenu->addAction(tr("&Health Check\u2026"), this,
                                           [this] { checkCurrentHealth(); });
    health->setStatusTip(tr("Read every array of the checkpoint on disk and report NaN/Inf, "
                            "all-zero and constant leaves, unreadable data, incomplete steps "
                            "and metadata/data mismatches"));
    m_pageActions.append(health);
    QAction* runView = toolsMenu->addAction(tr("&Run Over Time\u2026"), this,
                                            [this] { showRunOverTime(); });
    runView->setStatusTip(tr("Plot the selected leaf's norm, mean, std and max |x| across the "
                             "steps of a run, and rank what changed most between two steps"));
    m_pageActions.append(runView);

    QMenu* helpMenu = menuBar()->addMenu(tr("&Help"));
    helpMenu->addAction(tr("&Keyboard Shortcuts"), this, &MainWindow::showShortcuts);
    QAction* about =
        helpMenu->addAction(tr("&About Checkpoint Studio"), this, &MainWindow::showAbout);
    about->setMenuRole(QAction::AboutRole);
    QAction* aboutQt = helpMenu->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    aboutQt->setMenuRole(QAction::AboutQtRole);
}

QWidget* MainWindow::createWelcomePage() {
    auto* page = new QWidget;
    auto* layout = new QVBoxLayout(page);
    layout->addStretch(2);

    auto* title = new QLabel(tr("Checkpoint Studio"));
    QFont titleFont = title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.6);
    titleFont.setBold(true);
    title->setFont(titleFont);
    title->setAlignment(Qt::AlignCenter);
    layout->addWidget(title);

    auto* hint =
        new QLabel(tr("Open a checkpoint file or directory to browse its tree.\n"
                      "You can also drop one onto this window."));
    hint->setAlignment(Qt::AlignCenter);
    layout->addWidget(hint);
    layout->addSpacing(12);

    auto* buttons = new QHBoxLayout;
    buttons->addStretch(1);
    auto* openFile = new QPushButton(tr("Open File\u2026"));
    connect(openFile, &QPushButton::clicked, this, &MainWindow::chooseFile);
    buttons->addWidget(openFile);
    auto* openDirectory = new QPushButton(tr("Open Directory\u2026"));
    connect(openDirectory, &QPushButton::clicked, this, &MainWindow::chooseDirectory);
    buttons->addWidget(openDirectory);
    buttons->addStretch(1);
    layout->addLayout(buttons);
    layout->addSpacing(18);

    m_welcomeRecent = new QLabel;
    m_welcomeRecent->setObjectName(QStringLiteral("welcomeRecent"));
    m_welcomeRecent->setAlignment(Qt::AlignCenter);
    m_welcomeRecent->setTextFormat(Qt::RichText);
    m_welcomeRecent->setTextInteractionFlags(Qt::LinksAccessibleByMouse |
                                             Qt::LinksAccessibleByKeyboard);
    connect(m_welcomeRecent, &QLabel::linkActivated, this,
            [this](const QString& link) { openPath(QUrl(link).toLocalFile()); });
    layout->addWidget(m_welcomeRecent);

    layout->addStretch(3);
    return page;
}

void MainWindow::chooseFile() {
    QSettings settings = openSettings();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Checkpoint File"),
                                                      settings.value(kLastDirectoryKey).toString());
    if (path.isEmpty()) return;
    settings.setValue(kLastDirectoryKey, QFileInfo(path).absolutePath());
    openPath(path);
}

void MainWindow::chooseDirectory() {
    QSettings settings = openSettings();
    const QString path = QFileDialog::getExistingDirectory(
        this, tr("Open Checkpoint Directory"), settings.value(kLastDirectoryKey).toString());
    if (path.isEmpty()) return;
    settings.setValue(kLastDirectoryKey, QFileInfo(QDir::cleanPath(path)).absolutePath());
    openPath(path);
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList paths = m_recentFiles.paths();
    const QFontMetrics metrics(m_recentMenu->font());
    int number = 1;
    for (const QString& path : paths) {
        QString text = metrics.elidedText(path, Qt::ElideMiddle, 480);
        text.replace(QLatin1Char('&'), QStringLiteral("&&"));
        if (number < 10) text = QStringLiteral("&%1  %2").arg(number).arg(text);
        ++number;
        QAction* action = m_recentMenu->addAction(text, this, [this, path] { openPath(path); });
        action->setToolTip(path);
        action->setStatusTip(path);
    }
    if (paths.isEmpty()) {
        QAction* none = m_recentMenu->addAction(tr("No Recent Checkpoints"));
        none->setEnabled(false);
    }
    m_recentMenu->addSeparator();
    m_recentMenu->addAction(m_clearRecentAction);
    m_clearRecentAction->setEnabled(!paths.isEmpty());

    // The welcome page repeats the first few entries as links.
    QStringList links;
    for (const QString& path : paths.mid(0, kWelcomeRecentCount)) {
        links.append(QStringLiteral("<a href=\"%1\">%2</a>")
                         .arg(QUrl::fromLocalFile(path).toString(QUrl::FullyEncoded),
                              metrics.elidedText(path, Qt::ElideMiddle, 560).toHtmlEscaped()));
    }
    m_welcomeRecent->setVisible(!links.isEmpty());
    m_welcomeRecent->setText(links.isEmpty()
                                 ? QString()
                                 : QStringLiteral("<p>%1</p><p>%2</p>")
                                       .arg(tr("Recent"), links.join(QStringLiteral("<br>"))));
}

void MainWindow::showAbout() {
    QStringList formats;
    for (const std::string& name : FormatRegistry::builtin().readerNames()) {
        formats.append(toQString(name).toHtmlEscaped());
    }
    QMessageBox::about(this, tr("About Checkpoint Studio"),
                       tr("<h3>Checkpoint Studio %1</h3>"
                          "<p>Inspect and fix JAX/Flax checkpoints.</p>"
                          "<p>Readable formats: %2</p>"
                          "<p>Built with Qt %3.</p>")
                           .arg(QApplication::applicationVersion().toHtmlEscaped(),
                                formats.isEmpty() ? tr("none") : formats.join(QStringLiteral(", ")),
                                QLatin1String(qVersion())));
}

void MainWindow::showShortcuts() {
    QMessageBox::information(
        this, tr("Keyboard Shortcuts"),
        tr("<table cellpadding=2>"
           "<tr><td><b>%1</b></td><td>Open a checkpoint file</td></tr>"
           "<tr><td><b>%2</b></td><td>Open a checkpoint or run directory</td></tr>"
           "<tr><td><b>%3</b></td><td>Close the tab</td></tr>"
           "<tr><td><b>%4</b> / <b>%5</b></td><td>Next / previous tab</td></tr>"
           "<tr><td><b>%6</b></td><td>Filter key paths (Esc clears, Down moves to the "
           "tree)</td></tr>"
           "<tr><td><b>%7</b></td><td>Copy the selected key path (in the tree: %8)</td></tr>"
           "<tr><td><b>Arrows, Page Up/Down, Home/End</b></td><td>Move in the tree; Left/Right "
           "collapse and expand; typing jumps to a name</td></tr>"
           "<tr><td><b>Alt+S</b></td><td>Step selector of a run directory</td></tr>"
           "<tr><td colspan=2><br><b>Editing</b> (in the tree)</td></tr>"
           "<tr><td><b>%9</b> / <b>%10</b></td><td>Undo / redo</td></tr>"
           "<tr><td><b>F2</b></td><td>Rename the selected key in place</td></tr>"
           "<tr><td><b>Del</b></td><td>Delete the selected node</td></tr>"
           "<tr><td><b>Ctrl+D</b></td><td>Duplicate the selected node</td></tr>"
           "<tr><td><b>Ctrl+Ins</b></td><td>Add a node</td></tr>"
           "<tr><td><b>Ctrl+E</b></td><td>Set a scalar's or string's value</td></tr>"
           "<tr><td><b>Ctrl+Shift+T</b></td><td>Cast the selected leaf or subtree</td></tr>"
           "<tr><td><b>%11</b> / <b>%12</b></td><td>Save / Save As</td></tr>"
           "</table>")
            .arg(QKeySequence(QKeySequence::Open).toString(QKeySequence::NativeText),
                 QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::Close).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::NextChild).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::PreviousChild).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::Find).toString(QKeySequence::NativeText),
                 QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::Copy).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::Undo).toString(QKeySequence::NativeText))
            .arg(QKeySequence(QKeySequence::Redo).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::Save).toString(QKeySequence::NativeText),
                 QKeySequence(QKeySequence::SaveAs).toString(QKeySequence::NativeText)));
}

QString MainWindow::checkpointPathFor(const QString& path) {
    const QFileInfo info(QDir::cleanPath(QFileInfo(path).absoluteFilePath()));
    if (kOrbaxMetadataFiles.contains(info.fileName()) && !info.isDir()) {
        return QDir::cleanPath(info.absolutePath());
    }
    return info.absoluteFilePath();
}

void MainWindow::setTheme(Theme theme) {
    m_theme = theme;
    applyTheme(theme);
    for (QAction* action : m_themeActions->actions()) {
        action->setChecked(action->data().toInt() == static_cast<int>(theme));
    }
    QSettings settings = openSettings();
    settings.setValue(kThemeKey, themeKey(theme));
}

bool MainWindow::openPath(const QString& path, std::optional<std::string> step, Recent recent) {
    if (path.trimmed().isEmpty()) {
        reportError(tr("Nothing to open."), invalidArgumentError("no path was given"));
        return false;
    }
    // Nothing here reads the disk but checkpointPathFor()'s stat of a file named like Orbax
    // metadata; openCheckpoint reads on a worker thread.
    const QString absolute = checkpointPathFor(path);
    CheckpointPage* page = pageForPath(absolute);
    if (page && !step && !page->isOpening()) {
        // Already open: bring it forward.
        m_tabs->setCurrentWidget(page);
        QMetaObject::invokeMethod(
            this, [this, absolute] { emit checkpointOpened(absolute); }, Qt::QueuedConnection);
        return true;
    }
    if (!page) page = addPage();
    m_recordOnOpen.removeAll(page);
    if (recent == Recent::kRecord) m_recordOnOpen.append(page);
    m_tabs->setCurrentWidget(page);
    statusBar()->showMessage(
        tr("Opening %1\u2026").arg(step ? tr("%1 (step %2)").arg(absolute, toQString(*step))
                                        : absolute));
    page->open(absolute, std::move(step));
    updatePageTitle(page);
    return true;
}

CheckpointPage* MainWindow::addPage() {
    auto* page = new CheckpointPage;
    if (m_previewTab) page->arrayPreview()->setPreferredTab(*m_previewTab);
    page->arrayPreview()->setColormap(
        colormapFromKey(openSettings().value(kColormapKey).toString()));
    connect(page->arrayPreview(), &ArrayPreview::colormapChanged, this, [](Colormap map) {
        QSettings settings = openSettings();
        settings.setValue(kColormapKey, colormapKey(map));
    });
    connect(page, &CheckpointPage::opened, this,
            [this, page](const QString& path) { pageOpened(page, path); });
    connect(page, &CheckpointPage::openFailed, this,
            [this, page](const QString& path, const Status& status) {
                pageFailed(page, path, status);
            });
    connect(page, &CheckpointPage::openingChanged, this, [this, page] {
        updatePageTitle(page);
        if (page == currentPage()) updateStatus();
    });
    connect(page, &CheckpointPage::summaryChanged, this, [this, page] {
        if (page == currentPage()) updateStatus();
    });
    connectEditing(page);
    m_tabs->addTab(page, QString());
    m_stack->setCurrentWidget(m_tabs);
    return page;
}

void MainWindow::pageOpened(CheckpointPage* page, const QString& path) {
    statusBar()->clearMessage();
    if (m_recordOnOpen.removeAll(page) > 0) {
        m_recentFiles.add(path);
        rebuildRecentMenu();
    }
    updatePageTitle(page);
    if (page == currentPage()) currentPageChanged();
    emit checkpointOpened(path);
}

void MainWindow::pageFailed(CheckpointPage* page, const QString& path, const Status& status) {
    statusBar()->clearMessage();
    m_recordOnOpen.removeAll(page);
    if (status.code() == StatusCode::kNotFound) {
        m_recentFiles.remove(path);
        rebuildRecentMenu();
    }
    const QString context = tr("Could not open \u201c%1\u201d.").arg(displayName(path));
    if (!page->hasContent()) closePage(m_tabs->indexOf(page));  // nothing to show in it
    reportError(context, status);
}

int MainWindow::pageCount() const {
    return m_tabs->count();
}

CheckpointPage* MainWindow::page(int index) const {
    return qobject_cast<CheckpointPage*>(m_tabs->widget(index));
}

CheckpointPage* MainWindow::currentPage() const {
    return qobject_cast<CheckpointPage*>(m_tabs->currentWidget());
}

CheckpointPage* MainWindow::pageForPath(const QString& path) const {
    for (int i = 0; i < m_tabs->count(); ++i) {
        CheckpointPage* candidate = page(i);
        if (candidate && candidate->path() == path) return candidate;
    }
    return nullptr;
}

void MainWindow::setCurrentPage(CheckpointPage* page) {
    if (page && m_tabs->indexOf(page) >= 0) m_tabs->setCurrentWidget(page);
}

void MainWindow::closePage(int index) {
    CheckpointPage* closing = page(index);
    if (!closing) return;
    if (!confirmDiscard(closing)) return;
    m_recordOnOpen.removeAll(closing);
    m_tabs->removeTab(index);
    // Its pending results must not reach the window; deleting the page cancels its jobs and
    // drops their late results (runInBackground).
    disconnect(closing, nullptr, this, nullptr);
    closing->deleteLater();
    currentPageChanged();
}

void MainWindow::updatePageTitle(CheckpointPage* page) {
    const int index = m_tabs->indexOf(page);
    if (index < 0) return;
    QString title = page->displayName();
    if (page->checkpoint() && page->checkpoint()->step) {
        title += QStringLiteral(" @ ") + toQString(*page->checkpoint()->step);
    }
    if (page->isOpening()) title += QStringLiteral(" \u2026");
    if (page->isModified()) title += QStringLiteral(" *");
    m_tabs->setTabText(index, title);
    m_tabs->setTabToolTip(index, page->path());
}

void MainWindow::currentPageChanged() {
    CheckpointPage* page = currentPage();
    m_stack->setCurrentWidget(page ? static_cast<QWidget*>(m_tabs) : m_welcome);
    for (QAction* action : m_pageActions) action->setEnabled(page != nullptr);
    setWindowTitle(page && page->hasContent()
                       ? tr("%1%2 \u2014 Checkpoint Studio")
                             .arg(page->displayName(),
                                  page->isModified() ? QStringLiteral(" *") : QString())
                       : tr("Checkpoint Studio"));
    // The " *" is in the title itself (no "[*]" placeholder, so setWindowModified() is not used).
    activateUndoStack(page);
    updateStatus();
}

void MainWindow::updateStatus() {
    CheckpointPage* page = currentPage();
    m_summaryLabel->setText(page ? page->summaryText() : QString());
    m_summaryLabel->setToolTip(page ? page->warningsText() : QString());
    m_busyBar->setVisible(page && page->isOpening());
}

void MainWindow::reportError(const QString& context, const Status& status) {
    const UserMessage message = statusToUserMessage(status);
    m_lastError = context + QStringLiteral("\n\n") + message.text();
    statusBar()->showMessage(context, 10000);
    emit errorOccurred(m_lastError);
    if (!m_errorDialogsEnabled) return;
    // Window-modal and non-blocking: no nested event loop.
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Checkpoint Studio"), context,
                                QMessageBox::Ok, this);
    box->setInformativeText(message.summary);
    box->setDetailedText(message.detail);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

bool MainWindow::isOpening() const {
    CheckpointPage* page = currentPage();
    return page && page->isOpening();
}

void MainWindow::expandToDepth(int depth) {
    if (CheckpointPage* page = currentPage()) page->expandToDepth(depth);
}

bool MainWindow::selectKeyPath(const KeyPath& path) {
    CheckpointPage* page = currentPage();
    return page && page->selectKeyPath(path);
}

bool MainWindow::selectFirstArray() {
    CheckpointPage* page = currentPage();
    return page && page->selectFirstArray();
}

QString MainWindow::currentPath() const {
    CheckpointPage* page = currentPage();
    return page && page->hasContent() ? page->path() : QString();
}

std::shared_ptr<const Checkpoint> MainWindow::checkpoint() const {
    CheckpointPage* page = currentPage();
    return page ? page->checkpoint() : nullptr;
}

QString MainWindow::summaryText() const {
    return m_summaryLabel->text();
}

TreeModel* MainWindow::model() const {
    CheckpointPage* page = currentPage();
    return page ? page->model() : nullptr;
}

QTreeView* MainWindow::treeView() const {
    CheckpointPage* page = currentPage();
    return page ? page->treeView() : nullptr;
}

DetailsPane* MainWindow::detailsPane() const {
    CheckpointPage* page = currentPage();
    return page ? page->detailsPane() : nullptr;
}

ArrayPreview* MainWindow::arrayPreview() const {
    CheckpointPage* page = currentPage();
    return page ? page->arrayPreview() : nullptr;
}

QComboBox* MainWindow::stepSelector() const {
    CheckpointPage* page = currentPage();
    return page ? page->stepSelector() : nullptr;
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (droppedPath(event->mimeData()).isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    for (int i = 0; i < pageCount(); ++i) {
        if (!confirmDiscard(page(i))) {
            event->ignore();
            return;
        }
    }
    QSettings settings = openSettings();
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kWindowStateKey, saveState());
    QMainWindow::closeEvent(event);
}

void MainWindow::dropEvent(QDropEvent* event) {
    const QString path = droppedPath(event->mimeData());
    if (path.isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
    openPath(path);
}

}  // namespace ckpt::ui
