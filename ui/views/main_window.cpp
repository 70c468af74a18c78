#include "views/main_window.h"

#include <QAction>
#include <QApplication>
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
#include "views/details_pane.h"

namespace ckpt::ui {

namespace {

const QString kLastDirectoryKey = QStringLiteral("lastDirectory");
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

// The path of the first array in tree order (parents before children, children in order).
std::optional<KeyPath> firstArrayPath(const NodePtr& root) {
    if (!root) return std::nullopt;
    struct Frame {
        const Node* node;
        std::size_t next;
    };
    if (root->kind() == NodeKind::kArray) return KeyPath{};
    std::vector<Frame> stack{{root.get(), 0}};
    KeyPath path;
    while (!stack.empty()) {
        Frame& frame = stack.back();
        if (frame.next >= frame.node->childCount()) {
            stack.pop_back();
            if (!path.empty()) path.pop_back();
            continue;
        }
        const std::size_t i = frame.next++;
        const Node* child = frame.node->child(i).get();
        if (!child) continue;
        if (child->kind() == NodeKind::kArray) {
            path.push_back(frame.node->childKey(i));
            return path;
        }
        if (child->isContainer()) {
            path.push_back(frame.node->childKey(i));
            stack.push_back({child, 0});
        }
    }
    return std::nullopt;
}

QString summaryFor(const Checkpoint& checkpoint, const TreeSummary& summary) {
    QStringList parts;
    parts.append(toQString(checkpoint.format));
    if (!checkpoint.layout.empty()) parts.append(toQString(checkpoint.layout));
    if (checkpoint.step) parts.append(MainWindow::tr("step %1").arg(toQString(*checkpoint.step)));
    parts.append(countedNoun(summary.leafCount, MainWindow::tr("leaf"), MainWindow::tr("leaves")));
    parts.append(humanBytes(summary.byteCount));
    parts.append(countedNoun(summary.parameterCount, MainWindow::tr("parameter"),
                             MainWindow::tr("parameters")));
    if (!checkpoint.warnings.empty()) {
        parts.append(countedNoun(checkpoint.warnings.size(), MainWindow::tr("warning"),
                                 MainWindow::tr("warnings")));
    }
    return parts.join(QStringLiteral(" \u00b7 "));
}

}  // namespace

// What the background open job hands back to the GUI thread.
struct MainWindow::OpenOutcome {
    Result<Checkpoint> checkpoint;
    TreeSummary summary;
};

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("Checkpoint Studio"));
    setAcceptDrops(true);

    m_model = new TreeModel(this);

    m_view = new QTreeView;
    m_view->setModel(m_model);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(true);
    m_view->setAllColumnsShowFocus(true);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    QHeaderView* header = m_view->header();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setSectionResizeMode(TreeModel::kNameColumn, QHeaderView::Stretch);
    header->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    fitColumns();
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &MainWindow::updateDetails);

    m_details = new DetailsPane;
    m_preview = new ArrayPreview;

    // Details and the preview share the lower pane, side by side.
    auto* lowerSplitter = new QSplitter(Qt::Horizontal);
    lowerSplitter->addWidget(m_details);
    lowerSplitter->addWidget(m_preview);
    lowerSplitter->setStretchFactor(0, 2);
    lowerSplitter->setStretchFactor(1, 3);
    lowerSplitter->setChildrenCollapsible(false);

    // The step selector sits above the tree, in one splitter pane with it.
    auto* treePane = new QWidget;
    auto* treeLayout = new QVBoxLayout(treePane);
    treeLayout->setContentsMargins(0, 0, 0, 0);
    treeLayout->setSpacing(0);
    m_stepBar = createStepBar();
    treeLayout->addWidget(m_stepBar);
    treeLayout->addWidget(m_view, 1);
    setTabOrder(m_stepCombo, m_view);

    m_splitter = new QSplitter(Qt::Vertical);
    m_splitter->addWidget(treePane);
    m_splitter->addWidget(lowerSplitter);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setChildrenCollapsible(false);

    m_welcome = createWelcomePage();
    m_stack = new QStackedWidget;
    m_stack->addWidget(m_welcome);
    m_stack->addWidget(m_splitter);
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
    resize(1100, 720);
    m_splitter->setSizes({340, 360});
    lowerSplitter->setSizes({480, 620});
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
    QAction* quit = fileMenu->addAction(tr("&Quit"), qApp, &QApplication::closeAllWindows);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    QMenu* helpMenu = menuBar()->addMenu(tr("&Help"));
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

QWidget* MainWindow::createStepBar() {
    auto* bar = new QWidget;
    bar->setObjectName(QStringLiteral("stepBar"));
    auto* layout = new QHBoxLayout(bar);
    layout->setContentsMargins(6, 4, 6, 6);
    auto* label = new QLabel(tr("&Step:"));
    m_stepCombo = new QComboBox;
    m_stepCombo->setObjectName(QStringLiteral("stepSelector"));
    m_stepCombo->setModel(new QStandardItemModel(m_stepCombo));
    m_stepCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_stepCombo->setAccessibleName(tr("Step"));
    m_stepCombo->setToolTip(tr("Step of the run directory to show"));
    label->setBuddy(m_stepCombo);
    layout->addWidget(label);
    layout->addWidget(m_stepCombo);
    // The step's items (CheckpointManager steps with named items: state, metrics, ...).
    m_stepItemsLabel = new QLabel;
    m_stepItemsLabel->setObjectName(QStringLiteral("stepItems"));
    m_stepItemsLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addSpacing(12);
    layout->addWidget(m_stepItemsLabel);
    layout->addStretch(1);
    // Programmatic changes are made under a QSignalBlocker, so this is a user's choice (mouse,
    // keyboard, wheel) or a test's setCurrentIndex().
    connect(m_stepCombo, &QComboBox::currentIndexChanged, this, &MainWindow::openSelectedStep);
    bar->hide();
    return bar;
}

void MainWindow::updateStepSelector() {
    const QSignalBlocker blocker(m_stepCombo);
    auto* model = qobject_cast<QStandardItemModel*>(m_stepCombo->model());
    model->clear();
    if (!m_checkpoint || m_checkpoint->steps.empty()) {
        m_stepBar->hide();
        return;
    }
    int current = -1;
    for (const StepEntry& entry : m_checkpoint->steps) {
        const QString step = toQString(entry.step);
        auto* item = new QStandardItem(entry.complete ? step : tr("%1 (incomplete)").arg(step));
        item->setData(step, Qt::UserRole);
        item->setToolTip(fromFsPath(entry.path));
        if (!entry.complete) item->setFlags(item->flags() & ~Qt::ItemIsEnabled);
        if (m_checkpoint->step && entry.step == *m_checkpoint->step) current = model->rowCount();
        model->appendRow(item);
    }
    m_stepCombo->setCurrentIndex(current);
    QString items;
    for (const auto& [key, value] : m_checkpoint->properties) {
        if (key == "items") items = toQString(value);
    }
    m_stepItemsLabel->setText(items.isEmpty() ? QString() : tr("Items: %1").arg(items));
    m_stepItemsLabel->setVisible(!items.isEmpty());
    m_stepBar->show();
}

void MainWindow::openSelectedStep(int index) {
    if (index < 0 || m_currentPath.isEmpty()) return;
    const QString step = m_stepCombo->itemData(index, Qt::UserRole).toString();
    if (m_checkpoint && m_checkpoint->step && toQString(*m_checkpoint->step) == step && !m_opening)
        return;
    // The root is already in Open Recent if it belongs there.
    openPath(m_currentPath, step.toStdString(), Recent::kSkip);
}

void MainWindow::fitColumns() {
    // Widths that fit typical values ("bfloat16", "(4096, 11008)", "1023.9 MiB") without
    // measuring every row, which would be slow for huge trees.
    const QFontMetrics metrics(m_view->font());
    const int padding = 3 * metrics.horizontalAdvance(QLatin1Char('M'));
    auto fit = [&](int column, const QString& sample) {
        m_view->header()->resizeSection(column, metrics.horizontalAdvance(sample) + padding);
    };
    fit(TreeModel::kKindColumn, QStringLiteral("scalar"));
    fit(TreeModel::kDTypeColumn, QStringLiteral("float8_e4m3fn"));
    fit(TreeModel::kShapeColumn, QStringLiteral("(32, 4096, 11008)"));
    fit(TreeModel::kSizeColumn, QStringLiteral("1023.9 MiB"));
}

void MainWindow::chooseFile() {
    QSettings settings(RecentFiles::organizationName(), RecentFiles::applicationName());
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Checkpoint File"),
                                                      settings.value(kLastDirectoryKey).toString());
    if (path.isEmpty()) return;
    settings.setValue(kLastDirectoryKey, QFileInfo(path).absolutePath());
    openPath(path);
}

void MainWindow::chooseDirectory() {
    QSettings settings(RecentFiles::organizationName(), RecentFiles::applicationName());
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

bool MainWindow::openPath(const QString& path, std::optional<std::string> step, Recent recent) {
    if (path.trimmed().isEmpty()) {
        reportError(tr("Nothing to open."), invalidArgumentError("no path was given"));
        return false;
    }
    // absoluteFilePath() does not touch the disk; openCheckpoint does, on a worker thread.
    const QString absolute = QDir::cleanPath(QFileInfo(path).absoluteFilePath());
    const std::uint64_t generation = ++m_openGeneration;
    setOpening(true, step ? tr("%1 (step %2)").arg(absolute, toQString(*step)) : absolute);
    OpenOptions options;
    options.step = std::move(step);
    runInBackground(
        this,
        [fsPath = toFsPath(absolute), options] {
            OpenOutcome outcome{openCheckpoint(fsPath, options), {}};
            if (outcome.checkpoint.isOk())
                outcome.summary = summarizeTree(outcome.checkpoint->tree);
            return outcome;
        },
        [this, generation, absolute, recent](OpenOutcome outcome) {
            if (generation != m_openGeneration) return;  // superseded by a later openPath()
            finishOpen(absolute, recent, std::move(outcome));
        });
    return true;
}

void MainWindow::setOpening(bool opening, const QString& path) {
    m_opening = opening;
    m_busyBar->setVisible(opening);
    if (opening) {
        statusBar()->showMessage(tr("Opening %1\u2026").arg(path));
    } else {
        statusBar()->clearMessage();
    }
}

void MainWindow::finishOpen(const QString& path, Recent recent, OpenOutcome outcome) {
    setOpening(false);
    if (!outcome.checkpoint.isOk()) {
        const Status status = outcome.checkpoint.status();
        if (status.code() == StatusCode::kNotFound) {
            m_recentFiles.remove(path);
            rebuildRecentMenu();
        }
        updateStepSelector();  // back to the step still shown
        reportError(tr("Could not open \u201c%1\u201d.").arg(displayName(path)), status);
        return;
    }
    if (!outcome.checkpoint->tree) {
        updateStepSelector();
        reportError(tr("Could not open \u201c%1\u201d.").arg(displayName(path)),
                    internalError("the reader returned no tree"));
        return;
    }
    m_checkpoint = std::make_shared<const Checkpoint>(std::move(outcome.checkpoint).value());
    m_summary = outcome.summary;
    m_currentPath = path;

    m_model->setRoot(m_checkpoint->tree);
    if (m_model->rowCount() == 1) m_view->expand(m_model->index(0, 0));
    m_stack->setCurrentWidget(m_splitter);
    updateStepSelector();
    updateDetails();

    setWindowTitle(tr("%1 \u2014 Checkpoint Studio").arg(displayName(path)));
    m_summaryLabel->setText(summaryFor(*m_checkpoint, m_summary));
    QStringList warnings;
    for (const std::string& warning : m_checkpoint->warnings) warnings.append(toQString(warning));
    m_summaryLabel->setToolTip(warnings.join(QLatin1Char('\n')));

    if (recent == Recent::kRecord) {
        m_recentFiles.add(path);
        rebuildRecentMenu();
    }
    emit checkpointOpened(path);
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

void MainWindow::updateDetails() {
    const QModelIndex current = m_view->currentIndex();
    if (current.isValid()) {
        m_details->showNode(m_model->nodeAt(current), m_model->keyPathAt(current));
        m_preview->showNode(m_model->nodeAt(current), m_model->keyPathAt(current));
    } else if (m_checkpoint) {
        m_details->showCheckpoint(*m_checkpoint, m_summary);
        m_preview->showHint(tr("Select an array to preview its values."));
    } else {
        m_details->showHint(tr("No checkpoint open."));
        m_preview->showHint(tr("No checkpoint open."));
    }
}

void MainWindow::expandToDepth(int depth) {
    m_view->expandToDepth(depth);
}

bool MainWindow::selectKeyPath(const KeyPath& path) {
    const QModelIndex index = m_model->indexForKeyPath(path);
    if (!index.isValid()) return false;
    m_view->scrollTo(index);
    m_view->setCurrentIndex(index);
    return true;
}

bool MainWindow::selectFirstArray() {
    const std::optional<KeyPath> path = firstArrayPath(m_model->root());
    return path && selectKeyPath(*path);
}

QString MainWindow::summaryText() const {
    return m_summaryLabel->text();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (droppedPath(event->mimeData()).isEmpty()) {
        event->ignore();
        return;
    }
    event->acceptProposedAction();
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
