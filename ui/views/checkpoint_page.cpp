#include "views/checkpoint_page.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QFontMetrics>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QSignalBlocker>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTimer>
#include <QTreeView>
#include <QVBoxLayout>
#include <utility>
#include <vector>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "ckpt/core/format.h"
#include "models/display_text.h"
#include "models/tree_filter_proxy.h"
#include "models/tree_model.h"
#include "previews/array_preview.h"
#include "views/details_pane.h"

namespace ckpt::ui {

namespace {

// Typing pauses this long before the filter runs.
constexpr int kFilterDelayMs = 250;
// At most this many containers are expanded to reveal matches; the rest open on demand.
constexpr int kMaxExpandedForMatches = 2000;

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

// The syntaxes in the filter bar's combo box, in order.
constexpr PatternSyntax kSyntaxes[] = {PatternSyntax::kSubstring, PatternSyntax::kGlob,
                                       PatternSyntax::kRegex};

}  // namespace

// Escape in the filter box clears it; Down moves into the tree.
class FilterKeys final : public QObject {
public:
    FilterKeys(QLineEdit* edit, QTreeView* view) : QObject(edit), m_edit(edit), m_view(view) {}

protected:
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (watched == m_edit && event->type() == QEvent::KeyPress) {
            const int key = static_cast<QKeyEvent*>(event)->key();
            if (key == Qt::Key_Escape && !m_edit->text().isEmpty()) {
                m_edit->clear();
                return true;
            }
            if (key == Qt::Key_Down) {
                m_view->setFocus(Qt::TabFocusReason);
                if (!m_view->currentIndex().isValid() && m_view->model()->rowCount() > 0) {
                    m_view->setCurrentIndex(m_view->model()->index(0, 0));
                }
                return true;
            }
        }
        return QObject::eventFilter(watched, event);
    }

private:
    QLineEdit* m_edit;
    QTreeView* m_view;
};

CheckpointPage::CheckpointPage(QWidget* parent) : QWidget(parent) {
    m_model = new TreeModel(this);
    m_proxy = new TreeFilterProxy(this);
    m_proxy->setSourceModel(m_model);
    createTreeView();

    m_details = new DetailsPane;
    m_preview = new ArrayPreview;
    connectPreviewEdits();

    // Details and the preview share the lower pane, side by side.
    auto* lower = new QSplitter(Qt::Horizontal);
    lower->addWidget(m_details);
    lower->addWidget(m_preview);
    lower->setStretchFactor(0, 2);
    lower->setStretchFactor(1, 3);
    lower->setChildrenCollapsible(false);

    // The step and filter bars sit above the tree, in one splitter pane with it.
    auto* treePane = new QWidget;
    auto* treeLayout = new QVBoxLayout(treePane);
    treeLayout->setContentsMargins(0, 0, 0, 0);
    treeLayout->setSpacing(0);
    m_stepBar = createStepBar();
    treeLayout->addWidget(m_stepBar);
    treeLayout->addWidget(createFilterBar());
    treeLayout->addWidget(m_view, 1);
    setTabOrder(m_stepCombo, m_filterEdit);
    setTabOrder(m_filterEdit, m_filterSyntax);
    setTabOrder(m_filterSyntax, m_view);

    auto* splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(treePane);
    splitter->addWidget(lower);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    splitter->setChildrenCollapsible(false);
    splitter->setSizes({340, 380});
    lower->setSizes({480, 620});

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(splitter);
    updateDetails();
}

CheckpointPage::~CheckpointPage() {
    if (m_rollupCancel) m_rollupCancel->cancel();
    if (m_filterCancel) m_filterCancel->cancel();
}

void CheckpointPage::createTreeView() {
    m_view = new QTreeView;
    m_view->viewport()->installEventFilter(this);
    m_view->setObjectName(QStringLiteral("checkpointTree"));
    m_view->setModel(m_proxy);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(true);
    m_view->setAllColumnsShowFocus(true);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);  // export selection
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    QHeaderView* header = m_view->header();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setSectionResizeMode(TreeModel::kNameColumn, QHeaderView::Stretch);
    header->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    // Unsorted (the checkpoint's order) until a header is clicked; a third click unsorts again.
    header->setSortIndicator(-1, Qt::AscendingOrder);
    header->setSortIndicatorClearable(true);
    m_view->setSortingEnabled(true);
    fitColumns();
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &CheckpointPage::updateDetails);

    auto* copy = new QAction(tr("&Copy Key Path"), m_view);
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetShortcut);
    connect(copy, &QAction::triggered, this, &CheckpointPage::copyCurrentKeyPath);
    m_view->addAction(copy);
    createEditActions();
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this,
            &CheckpointPage::showContextMenu);
}

QWidget* CheckpointPage::createStepBar() {
    auto* bar = new QWidget;
    bar->setObjectName(QStringLiteral("stepBar"));
    auto* layout = new QHBoxLayout(bar);
    layout->setContentsMargins(6, 4, 6, 2);
    auto* label = new QLabel(tr("&Step:"));
    m_stepCombo = new QComboBox;
    m_stepCombo->setObjectName(QStringLiteral("stepSelector"));
    m_stepCombo->setModel(new QStandardItemModel(m_stepCombo));
    m_stepCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_stepCombo->setAccessibleName(tr("Step"));
    m_stepCombo->setToolTip(tr("Step of the run directory to show; the selected key path stays "
                               "selected"));
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
    connect(m_stepCombo, &QComboBox::currentIndexChanged, this,
            &CheckpointPage::openSelectedStep);
    bar->hide();
    return bar;
}

QWidget* CheckpointPage::createFilterBar() {
    auto* bar = new QWidget;
    bar->setObjectName(QStringLiteral("filterBar"));
    auto* layout = new QHBoxLayout(bar);
    layout->setContentsMargins(6, 2, 6, 4);
    m_filterEdit = new QLineEdit;
    m_filterEdit->setObjectName(QStringLiteral("filterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter key paths (Ctrl+F)"));
    m_filterEdit->setClearButtonEnabled(true);
    m_filterEdit->setAccessibleName(tr("Filter key paths"));
    m_filterEdit->setToolTip(
        tr("<qt>Shows the nodes whose key path matches, with their parents and everything "
           "below them.<br><b>Contains</b>: text anywhere in the path, any case.<br>"
           "<b>Glob</b>: <tt>*</tt> within a key, <tt>**</tt> across keys, <tt>?</tt>, "
           "<tt>[a-z]</tt>; without a '/' it matches the node's own key "
           "(<tt>kernel</tt>, <tt>Dense_*</tt>), with one the whole path "
           "(<tt>params/**/bias</tt>).<br><b>Regex</b>: ECMAScript, searched in the path "
           "(<tt>^opt_state/</tt>).</qt>"));
    m_filterEdit->installEventFilter(new FilterKeys(m_filterEdit, m_view));
    m_filterSyntax = new QComboBox;
    m_filterSyntax->setObjectName(QStringLiteral("filterSyntax"));
    m_filterSyntax->setAccessibleName(tr("Filter syntax"));
    m_filterSyntax->addItem(tr("Contains"));
    m_filterSyntax->addItem(tr("Glob"));
    m_filterSyntax->addItem(tr("Regex"));
    m_filterStatus = new QLabel;
    m_filterStatus->setObjectName(QStringLiteral("filterStatus"));
    m_filterStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_filterEdit, 1);
    layout->addWidget(m_filterSyntax);
    layout->addWidget(m_filterStatus);

    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(kFilterDelayMs);
    connect(m_filterTimer, &QTimer::timeout, this, &CheckpointPage::applyFilter);
    connect(m_filterEdit, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_filterEdit, &QLineEdit::returnPressed, this, &CheckpointPage::applyFilter);
    connect(m_filterSyntax, &QComboBox::currentIndexChanged, this, &CheckpointPage::applyFilter);
    return bar;
}

void CheckpointPage::fitColumns() {
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
    fit(TreeModel::kParametersColumn, QStringLiteral("1,234,567,890"));
    fit(TreeModel::kSizeColumn, QStringLiteral("1023.9 MiB"));
    fit(TreeModel::kStoredColumn, QStringLiteral("\u2265 1023.9 MiB"));
    fit(TreeModel::kShareColumn, QStringLiteral("100.0%"));
}

// ---- Opening ---------------------------------------------------------------------------------

// What the background open job hands back to the GUI thread.
struct CheckpointPage::OpenOutcome {
    Result<Checkpoint> checkpoint;
    // The current filter over the new tree (null when there is no filter or it failed).
    std::shared_ptr<const TreeFilterResult> filter;
};

QString CheckpointPage::displayName() const {
    const QString name = QFileInfo(QDir::cleanPath(m_path)).fileName();
    return name.isEmpty() ? QDir::cleanPath(m_path) : name;
}

void CheckpointPage::open(const QString& absolutePath, std::optional<std::string> step) {
    if (!hasContent()) m_path = absolutePath;
    const std::uint64_t generation = ++m_openGeneration;
    m_opening = true;
    emit openingChanged(true);
    // The filter is matched in the same job, so the new tree never shows unfiltered.
    std::optional<KeyPathPattern> pattern;
    if (!m_filterEdit->text().isEmpty() && !m_filterError) {
        auto compiled = KeyPathPattern::compile(m_filterEdit->text().toStdString(),
                                                filterSyntax());
        if (compiled.isOk()) pattern = std::move(compiled).value();
    }
    OpenOptions options;
    options.step = std::move(step);
    runInBackground(
        this,
        [fsPath = toFsPath(absolutePath), options, pattern] {
            OpenOutcome outcome{openCheckpoint(fsPath, options), nullptr};
            if (pattern && outcome.checkpoint.isOk() && outcome.checkpoint->tree) {
                auto filtered = filterTree(outcome.checkpoint->tree, *pattern);
                if (filtered.isOk()) {
                    outcome.filter =
                        std::make_shared<const TreeFilterResult>(std::move(filtered).value());
                }
            }
            return outcome;
        },
        [this, generation, absolutePath](OpenOutcome outcome) {
            if (generation != m_openGeneration) return;  // superseded by a later open()
            m_opening = false;
            emit openingChanged(false);
            if (!outcome.checkpoint.isOk()) {
                updateStepSelector();  // back to the step still shown
                emit openFailed(absolutePath, outcome.checkpoint.status());
                return;
            }
            if (!outcome.checkpoint->tree) {
                updateStepSelector();
                emit openFailed(absolutePath, internalError("the reader returned no tree"));
                return;
            }
            // Invalidate an older filter job: its rows belong to the old tree.
            ++m_filterGeneration;
            if (m_filterCancel) m_filterCancel->cancel();
            m_filterRunning = false;
            m_checkpoint = std::make_shared<const Checkpoint>(std::move(outcome.checkpoint).value());
            m_path = absolutePath;
            const std::optional<KeyPath> restore = std::exchange(m_restoreSelection, std::nullopt);
            m_proxy->setFilterResult(nullptr);
            m_model->setRoot(m_checkpoint->tree);
            resetEdits();
            if (outcome.filter) {
                finishFilter(outcome.filter);
            } else {
                if (!m_filterEdit->text().isEmpty()) applyFilter();
                if (m_proxy->rowCount() == 1) m_view->expand(m_proxy->index(0, 0));
            }
            if (restore) {
                // The deepest part of the key path that still exists in this step.
                for (std::size_t length = restore->size(); length > 0; --length) {
                    if (selectKeyPath(KeyPath(restore->begin(), restore->begin() +
                                                                    static_cast<long>(length))))
                        break;
                }
            }
            updateStepSelector();
            updateDetails();
            startRollupsAfterPaint();
            emit summaryChanged();
            emit opened(absolutePath);
        });
}

void CheckpointPage::startRollupsAfterPaint() {
    // The totals read the metadata of every array: on a 100,000-leaf checkpoint that is seconds
    // of work which, started at once, competes with the first paint of the tree for the CPU.
    // They start when the tree has been painted (or soon, if no paint comes: a hidden page).
    m_rollupsAfterPaint = true;
    const std::uint64_t generation = m_openGeneration;
    QTimer::singleShot(kRollupsFallbackMs, this, [this, generation] {
        if (generation == m_openGeneration && m_rollupsAfterPaint) {
            m_rollupsAfterPaint = false;
            startRollups();
        }
    });
}

bool CheckpointPage::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_view->viewport() && event->type() == QEvent::Paint && m_rollupsAfterPaint) {
        m_rollupsAfterPaint = false;
        // After this paint has reached the screen, not inside it.
        QTimer::singleShot(0, this, [this] { startRollups(); });
    }
    return QWidget::eventFilter(watched, event);
}

void CheckpointPage::startRollups() {
    if (m_rollupCancel) m_rollupCancel->cancel();
    m_rollups.reset();
    const std::uint64_t generation = ++m_rollupGeneration;
    auto cancel = std::make_shared<CancelToken>();
    m_rollupCancel = cancel;
    runInBackground(
        this,
        [tree = m_model->root(), cancel] { return computeRollups(tree, cancel.get()); },
        [this, generation](Result<TreeRollups> rollups) {
            if (generation != m_rollupGeneration || !rollups.isOk()) return;
            m_rollups = std::make_shared<const TreeRollups>(std::move(rollups).value());
            m_model->setRollups(m_rollups);
            updateDetails();
            emit summaryChanged();
            emit rollupsReady();
        });
}

QString CheckpointPage::summaryText() const {
    if (!m_checkpoint) return {};
    QStringList parts;
    parts.append(toQString(m_checkpoint->format));
    if (!m_checkpoint->layout.empty()) parts.append(toQString(m_checkpoint->layout));
    if (m_checkpoint->step) parts.append(tr("step %1").arg(toQString(*m_checkpoint->step)));
    if (!m_rollups) {
        parts.append(tr("computing sizes\u2026"));
    } else {
        const NodeRollup& total = m_rollups->total();
        parts.append(countedNoun(total.leafCount, tr("leaf"), tr("leaves")));
        parts.append(humanBytes(total.memoryBytes));
        if (total.storedBytes > 0 || total.unknownStored == 0) {
            parts.append(tr("%1%2 on disk")
                             .arg(total.unknownStored > 0 ? QStringLiteral("\u2265 ") : QString(),
                                  humanBytes(total.storedBytes)));
        }
        parts.append(countedNoun(total.parameterCount, tr("parameter"), tr("parameters")));
    }
    if (!m_checkpoint->warnings.empty()) {
        parts.append(countedNoun(m_checkpoint->warnings.size(), tr("warning"), tr("warnings")));
    }
    return parts.join(QStringLiteral(" \u00b7 "));
}

QString CheckpointPage::warningsText() const {
    QStringList warnings;
    if (m_checkpoint) {
        for (const std::string& warning : m_checkpoint->warnings) warnings.append(toQString(warning));
    }
    return warnings.join(QLatin1Char('\n'));
}

// ---- Steps -----------------------------------------------------------------------------------

void CheckpointPage::updateStepSelector() {
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

void CheckpointPage::openSelectedStep(int index) {
    if (index < 0 || m_path.isEmpty()) return;
    const QString step = m_stepCombo->itemData(index, Qt::UserRole).toString();
    if (m_checkpoint && m_checkpoint->step && toQString(*m_checkpoint->step) == step && !m_opening)
        return;
    if (isModified() &&
        QMessageBox::question(this, tr("Discard Edits?"),
                              tr("Switching to step %1 discards the edits of this step.")
                                  .arg(step),
                              QMessageBox::Discard | QMessageBox::Cancel) != QMessageBox::Discard) {
        updateStepSelector();  // back to the step shown
        return;
    }
    if (std::optional<KeyPath> current = currentKeyPath()) m_restoreSelection = std::move(current);
    open(m_path, step.toStdString());
}

// ---- Selection and details -------------------------------------------------------------------

QModelIndex CheckpointPage::viewIndexFor(const KeyPath& path) const {
    const QModelIndex source = m_model->indexForKeyPath(path);
    return source.isValid() ? m_proxy->mapFromSource(source) : QModelIndex();
}

bool CheckpointPage::selectKeyPath(const KeyPath& path) {
    const QModelIndex index = viewIndexFor(path);
    if (!index.isValid()) return false;
    m_view->scrollTo(index);
    m_view->setCurrentIndex(index);
    return true;
}

bool CheckpointPage::selectFirstArray() {
    const std::optional<KeyPath> path = firstArrayPath(m_model->root());
    return path && selectKeyPath(*path);
}

std::optional<KeyPath> CheckpointPage::currentKeyPath() const {
    const QModelIndex current = m_proxy->mapToSource(m_view->currentIndex());
    if (!current.isValid()) return std::nullopt;
    return m_model->keyPathAt(current);
}

bool CheckpointPage::copyCurrentKeyPath() {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path) return false;
    QGuiApplication::clipboard()->setText(toQString(formatKeyPath(*path)));
    return true;
}

void CheckpointPage::expandToDepth(int depth) {
    m_view->expandToDepth(depth);
}

void CheckpointPage::showContextMenu(const QPoint& position) {
    const QModelIndex index = m_view->indexAt(position);
    if (!index.isValid()) return;
    m_view->setCurrentIndex(index);
    QMenu menu(this);
    menu.addActions(m_view->actions());
    menu.exec(m_view->viewport()->mapToGlobal(position));
}

void CheckpointPage::updateDetails() {
    const QModelIndex current = m_proxy->mapToSource(m_view->currentIndex());
    ++m_detailsGeneration;
    if (current.isValid()) {
        const NodePtr node = m_model->nodeAt(current);
        const KeyPath path = m_model->keyPathAt(current);
        std::optional<std::uint64_t> stored;
        std::optional<NodeRollup> rollup;
        if (m_rollups && node) {
            if (const NodeRollup* found = m_rollups->find(node.get())) {
                rollup = *found;
                if (found->unknownStored == 0) stored = found->storedBytes;
            }
        }
        // Storage and lazy scalar values may read the disk: fetch them off the GUI thread.
        m_details->showNode(node, path, std::nullopt, stored, rollup);
        m_preview->showNode(node, path);
        if (!node) return;
        const bool needsStorage = node->kind() == NodeKind::kArray && node->array();
        const bool needsValue = node->kind() == NodeKind::kScalar && node->isLazyScalar();
        if (!needsStorage && !needsValue) return;
        const std::uint64_t generation = m_detailsGeneration;
        struct Facts {
            std::optional<StorageInfo> storage;
            std::optional<QString> sharding;
            std::optional<ShardPicture> shardPicture;
            std::optional<Result<Scalar>> value;
        };
        runInBackground(
            this,
            [node, needsStorage, needsValue] {
                Facts facts;
                if (needsStorage) {
                    facts.storage = node->array()->storage();
                    facts.sharding = DetailsPane::shardingText(*node->array());
                    if (facts.sharding) facts.shardPicture = DetailsPane::shardPicture(*node->array());
                }
                if (needsValue) facts.value = node->loadScalar();
                return facts;
            },
            [this, generation, node](Facts facts) {
                if (generation != m_detailsGeneration) return;  // another node by now
                if (facts.storage) m_details->setStorage(node, *facts.storage);
                if (facts.sharding) m_details->setSharding(node, facts.sharding);
                if (facts.shardPicture) m_details->setShardPicture(node, facts.shardPicture);
                if (facts.value) m_details->setScalarValue(node, *facts.value);
            });
    } else if (m_checkpoint) {
        TreeSummary summary;
        if (m_rollups) {
            const NodeRollup& total = m_rollups->total();
            summary.leafCount = total.leafCount;
            summary.arrayCount = total.arrayCount;
            summary.parameterCount = total.parameterCount;
            summary.byteCount = total.memoryBytes;
        }
        m_details->showCheckpoint(*m_checkpoint, summary);
        m_preview->showHint(tr("Select an array to preview its values."));
    } else {
        m_details->showHint(tr("Opening\u2026"));
        m_preview->showHint(tr("Opening\u2026"));
    }
}

// ---- Filter ----------------------------------------------------------------------------------

bool CheckpointPage::setFilter(const QString& pattern, PatternSyntax syntax) {
    {
        const QSignalBlocker blockSyntax(m_filterSyntax);
        const QSignalBlocker blockEdit(m_filterEdit);
        for (int i = 0; i < static_cast<int>(std::size(kSyntaxes)); ++i) {
            if (kSyntaxes[i] == syntax) m_filterSyntax->setCurrentIndex(i);
        }
        m_filterEdit->setText(pattern);
    }
    m_filterTimer->stop();
    applyFilter();
    return !m_filterError;
}

QString CheckpointPage::filterPattern() const {
    return m_filterEdit->text();
}

PatternSyntax CheckpointPage::filterSyntax() const {
    const int index = m_filterSyntax->currentIndex();
    return index >= 0 && index < static_cast<int>(std::size(kSyntaxes)) ? kSyntaxes[index]
                                                                       : PatternSyntax::kSubstring;
}

QString CheckpointPage::filterStatusText() const {
    return m_filterStatus->text();
}

void CheckpointPage::focusFilter() {
    m_filterEdit->setFocus(Qt::ShortcutFocusReason);
    m_filterEdit->selectAll();
}

void CheckpointPage::showFilterStatus(const QString& text, bool error) {
    m_filterError = error;
    m_filterStatus->setText(text);
    QPalette palette = m_filterEdit->palette();
    palette.setColor(QPalette::Base, error ? QColor(255, 220, 220)
                                           : QApplication::palette().color(QPalette::Base));
    palette.setColor(QPalette::Text, error ? QColor(Qt::black)
                                           : QApplication::palette().color(QPalette::Text));
    m_filterEdit->setPalette(palette);
}

void CheckpointPage::applyFilter() {
    m_filterTimer->stop();
    if (m_filterCancel) m_filterCancel->cancel();
    const std::uint64_t generation = ++m_filterGeneration;
    const QString text = m_filterEdit->text();
    if (text.isEmpty()) {
        m_filterRunning = false;
        showFilterStatus({}, false);
        m_proxy->setFilterResult(nullptr);
        emit filterApplied();
        return;
    }
    auto pattern = KeyPathPattern::compile(text.toStdString(), filterSyntax());
    if (!pattern.isOk()) {
        m_filterRunning = false;
        showFilterStatus(toQString(pattern.status().message()), true);
        m_filterStatus->setToolTip(m_filterStatus->text());
        emit filterApplied();
        return;
    }
    showFilterStatus(tr("filtering\u2026"), false);
    if (!m_checkpoint) return;  // the open job filters the tree it brings
    m_filterRunning = true;
    auto cancel = std::make_shared<CancelToken>();
    m_filterCancel = cancel;
    runInBackground(
        this,
        [tree = m_model->root(), pattern = std::move(pattern).value(), cancel] {
            return filterTree(tree, pattern, cancel.get());
        },
        [this, generation](Result<TreeFilterResult> result) {
            if (generation != m_filterGeneration) return;
            m_filterRunning = false;
            if (!result.isOk()) {
                showFilterStatus(toQString(result.status().message()), true);
                emit filterApplied();
                return;
            }
            finishFilter(std::make_shared<const TreeFilterResult>(std::move(result).value()));
        });
}

void CheckpointPage::finishFilter(std::shared_ptr<const TreeFilterResult> result) {
    const std::uint64_t matches = result->matchCount;
    const std::optional<KeyPath> current = currentKeyPath();
    m_proxy->setFilterResult(std::move(result));
    expandMatches();
    if (current) selectKeyPath(*current);  // still selected if it is still shown
    showFilterStatus(matches == 0 ? tr("no match")
                                  : countedNoun(matches, tr("match"), tr("matches")),
                     false);
    emit filterApplied();
}

void CheckpointPage::expandMatches() {
    const std::shared_ptr<const TreeFilterResult>& result = m_proxy->filterResult();
    if (!result || !result->root) return;
    // Expand the ancestors of matches (not the matched subtrees), breadth first, up to a cap.
    struct Pending {
        const FilterNode* node;
        QModelIndex source;  // invalid for the root
    };
    std::vector<Pending> queue{{result->root.get(), QModelIndex()}};
    int expanded = 0;
    for (std::size_t i = 0; i < queue.size() && expanded < kMaxExpandedForMatches; ++i) {
        const Pending pending = queue[i];
        if (pending.node->matched) continue;
        if (pending.source.isValid()) {
            m_view->expand(m_proxy->mapFromSource(pending.source));
            ++expanded;
        }
        for (const auto& [row, child] : pending.node->children) {
            const QModelIndex source = m_model->index(static_cast<int>(row), 0, pending.source);
            if (source.isValid() && !child->matched) queue.push_back({child.get(), source});
        }
    }
}

}  // namespace ckpt::ui
