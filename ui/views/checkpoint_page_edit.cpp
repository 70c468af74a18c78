// CheckpointPage: editing and saving (the rest of the page is in checkpoint_page.cpp).
#include <QAction>
#include <QInputDialog>
#include <QLineEdit>
#include <QPointer>
#include <QTreeView>
#include <QUndoStack>
#include <atomic>
#include <algorithm>
#include <chrono>
#include <functional>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/format.h"
#include "edit/edit_controller.h"
#include "edit/edit_dialogs.h"
#include "models/tree_filter_proxy.h"
#include "models/tree_model.h"
#include "previews/array_preview.h"
#include "views/checkpoint_page.h"

namespace ckpt::ui {

namespace {

KeyPath parentOf(const KeyPath& path) { return KeyPath(path.begin(), path.end() - 1); }

KeyPath childOf(const KeyPath& parent, std::string key) {
    KeyPath out = parent;
    out.push_back(std::move(key));
    return out;
}

// A key not yet used in the dict `container`: `base`, else base_2, base_3, ...
std::string freeKey(const Node& container, const std::string& base) {
    const auto used = [&](const std::string& key) {
        for (std::size_t i = 0; i < container.childCount(); ++i) {
            if (container.childKey(i) == key) return true;
        }
        return false;
    };
    if (!used(base)) return base;
    for (int n = 2;; ++n) {
        std::string key = base + "_" + std::to_string(n);
        if (!used(key)) return key;
    }
}

}  // namespace

void CheckpointPage::createEditActions() {
    const auto add = [this](const QString& text, const QKeySequence& key, auto slot) {
        auto* action = new QAction(text, m_view);
        action->setShortcut(key);
        action->setShortcutContext(Qt::WidgetShortcut);
        connect(action, &QAction::triggered, this, slot);
        m_view->addAction(action);
        return action;
    };
    add(tr("&Rename"), QKeySequence(Qt::Key_F2), &CheckpointPage::renameCurrent);
    add(tr("&Delete"), QKeySequence::Delete, &CheckpointPage::deleteCurrent);
    add(tr("D&uplicate"), QKeySequence(Qt::CTRL | Qt::Key_D), &CheckpointPage::duplicateCurrent);
    add(tr("&Add\u2026"), QKeySequence(Qt::CTRL | Qt::Key_Insert),
        &CheckpointPage::addChildToCurrent);
    add(tr("&Cast\u2026"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_T),
        &CheckpointPage::castCurrent);
    add(tr("Set &Value\u2026"), QKeySequence(Qt::CTRL | Qt::Key_E),
        &CheckpointPage::setValueOfCurrent);
    for (const auto& [kind, text] : {std::pair{NodeKind::kDict, tr("Convert to Di&ct")},
                                     std::pair{NodeKind::kList, tr("Convert to &List")},
                                     std::pair{NodeKind::kTuple, tr("Convert to T&uple")}}) {
        auto* action = new QAction(text, m_view);
        connect(action, &QAction::triggered, this, [this, k = kind] { convertCurrent(k); });
        m_view->addAction(action);
    }
    m_model->setRenamable(true);
    m_view->setDragEnabled(true);
    m_view->setAcceptDrops(true);
    m_view->setDropIndicatorShown(true);
    m_view->setDragDropMode(QAbstractItemView::DragDrop);
    m_view->setDefaultDropAction(Qt::MoveAction);
    connect(m_model, &TreeModel::dropRequested, this, &CheckpointPage::dropNode);
    connect(m_model, &TreeModel::renameRequested, this,
            [this](const KeyPath& path, const QString& newKey) {
                if (path.empty()) return;
                runEdit(Edit::rename(path, newKey.toStdString()),
                          childOf(parentOf(path), newKey.toStdString()));
            });
}

void CheckpointPage::connectPreviewEdits() {
    m_preview->setCellsEditable(true);
    connect(m_preview, &ArrayPreview::cellEditRequested, this,
            [this](const KeyPath& path, const std::vector<std::int64_t>& index,
                   const QString& text) {
                const std::optional<EditValue> value = parseEditValue(text);
                if (!value) {
                    emit editFailed(tr("'%1' is not a number (nor true, false, nan or inf)")
                                        .arg(text));
                    return;
                }
                runEdit(Edit::setCells(path, {CellEdit{index, *value}}), path);
            });
}

void CheckpointPage::resetEdits() {
    if (m_edits) m_edits->deleteLater();
    m_edits = new EditController(m_checkpoint ? m_checkpoint->tree : nullptr, this);
    m_model->setEditedPaths({});
    connect(m_edits, &EditController::rootChanged, this, &CheckpointPage::showEditedRoot);
    connect(m_edits, &EditController::modifiedChanged, this, &CheckpointPage::modifiedChanged);
    emit modifiedChanged(false);
}

NodePtr CheckpointPage::editedRoot() const { return m_edits ? m_edits->root() : nullptr; }

bool CheckpointPage::isModified() const { return m_edits && m_edits->isModified(); }

Status CheckpointPage::applyEdit(const Edit& edit, std::optional<KeyPath> select) {
    if (!m_edits) return invalidArgumentError("no checkpoint is open");
    if (m_saving) return invalidArgumentError("a save is running");
    m_selectAfterEdit = std::move(select);
    Status status = m_edits->apply(edit);
    if (!status.isOk()) {
        m_selectAfterEdit.reset();
        emit editFailed(tr("Cannot %1: %2")
                            .arg(toQString(edit.describe()), statusToUserText(status)));
    }
    return status;
}

Status CheckpointPage::applyEdits(const std::vector<Edit>& edits, const QString& text) {
    if (!m_edits) return invalidArgumentError("no checkpoint is open");
    if (m_saving) return invalidArgumentError("a save is running");
    Status status = m_edits->applyAll(edits, text);
    if (!status.isOk()) {
        emit editFailed(tr("Cannot %1: %2").arg(text, statusToUserText(status)));
    }
    return status;
}

void CheckpointPage::runEdit(const Edit& edit, std::optional<KeyPath> select) {
    // A refused edit has been reported through editFailed().
    static_cast<void>(applyEdit(edit, std::move(select)));
}

// The edited tree replaces the shown one; expanded rows, the selection (or what the edit
// asked to select), the filter and the totals follow.
void CheckpointPage::showEditedRoot() {
    std::vector<KeyPath> expanded;
    const std::function<void(const QModelIndex&)> collect = [&](const QModelIndex& parent) {
        for (int row = 0; row < m_proxy->rowCount(parent); ++row) {
            const QModelIndex index = m_proxy->index(row, 0, parent);
            if (!m_view->isExpanded(index)) continue;
            expanded.push_back(m_model->keyPathAt(m_proxy->mapToSource(index)));
            collect(index);
        }
    };
    collect({});
    std::optional<KeyPath> select = std::exchange(m_selectAfterEdit, std::nullopt);
    if (!select) select = currentKeyPath();

    m_proxy->setFilterResult(nullptr);
    m_model->setRoot(m_edits->root());
    m_model->setEditedPaths(m_edits->changedPaths());
    for (const KeyPath& path : expanded) {
        const QModelIndex index = viewIndexFor(path);
        if (index.isValid()) m_view->expand(index);
    }
    if (select) {
        for (std::size_t length = select->size(); length > 0; --length) {
            if (selectKeyPath(KeyPath(select->begin(), select->begin() + static_cast<long>(length))))
                break;
        }
    }
    if (!m_filterEdit->text().isEmpty()) applyFilter();
    updateDetails();
    startRollups();
    emit summaryChanged();
}

void CheckpointPage::renameCurrent() {
    const QModelIndex current = m_view->currentIndex();
    if (!current.isValid()) return;
    const QModelIndex name = current.siblingAtColumn(TreeModel::kNameColumn);
    if (!(name.flags() & Qt::ItemIsEditable)) {
        emit editFailed(tr("Only keys of a dict can be renamed (list and tuple items are "
                           "numbered; convert the container to a dict first)."));
        return;
    }
    m_view->edit(name);
}

void CheckpointPage::deleteCurrent() {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path || path->empty()) return;
    runEdit(Edit::remove(*path), parentOf(*path));
}

void CheckpointPage::duplicateCurrent() {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path || path->empty() || !m_edits) return;
    auto parent = findNode(m_edits->root(), parentOf(*path));
    if (!parent.isOk()) return;
    if ((*parent)->kind() == NodeKind::kDict) {
        const KeyPath to = childOf(parentOf(*path), freeKey(**parent, path->back() + "_copy"));
        runEdit(Edit::copy(*path, to), to);
    } else {
        // Appended to the list or tuple.
        const KeyPath to = childOf(parentOf(*path), std::to_string((*parent)->childCount()));
        runEdit(Edit::copy(*path, to), to);
    }
}

void CheckpointPage::addChildToCurrent() {
    if (!m_edits || !m_edits->root()) return;
    // Into the current container; beside the current leaf; at the top level without a selection.
    KeyPath container = currentKeyPath().value_or(KeyPath{});
    auto node = findNode(m_edits->root(), container);
    if (!node.isOk()) return;
    if (!(*node)->isContainer()) {
        if (container.empty()) return;  // the root is a leaf
        container = parentOf(container);
        node = findNode(m_edits->root(), container);
        if (!node.isOk()) return;
    }
    AddNodeDialog dialog((*node)->kind(), this);
    if (dialog.exec() != QDialog::Accepted) return;
    QString error;
    const std::optional<NodeSpec> spec = dialog.spec(&error);
    if (!spec) return;
    const std::string key = (*node)->kind() == NodeKind::kDict
                                ? dialog.key().toStdString()
                                : std::to_string((*node)->childCount());
    const KeyPath path = childOf(container, key);
    runEdit(Edit::add(path, *spec), path);
}

void CheckpointPage::castCurrent() {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path || !m_edits) return;
    auto node = findNode(m_edits->root(), *path);
    if (!node.isOk()) return;
    CastDialog dialog(*node, *path, this);
    if (dialog.exec() != QDialog::Accepted) return;
    runEdit(Edit::cast(*path, dialog.dtype()), *path);
}

void CheckpointPage::convertCurrent(NodeKind kind) {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path) return;
    runEdit(Edit::convert(*path, kind), *path);
}

void CheckpointPage::dropNode(const TreeModel* source, const KeyPath& from,
                              const KeyPath& container, int row) {
    if (!m_edits || !source || from.empty()) return;
    auto target = findNode(m_edits->root(), container);
    if (!target.isOk() || !(*target)->isContainer()) return;
    const bool here = source == m_model;
    const bool sameParent = here && parentOf(from) == container;
    std::optional<std::int64_t> position;
    if (row >= 0) position = row;
    KeyPath to = container;
    if ((*target)->kind() == NodeKind::kDict) {
        to.push_back(sameParent ? from.back() : freeKey(**target, from.back()));
    } else {
        // A list or tuple: the item goes at `row` (counted once the node left, when it moves
        // within the same container), or last.
        std::int64_t size = static_cast<std::int64_t>((*target)->childCount());
        if (sameParent) --size;
        to.push_back(std::to_string(row >= 0 ? std::min<std::int64_t>(row, size) : size));
        position.reset();
    }
    if (here) {
        if (to == from) return;
        runEdit(Edit::move(from, to, position), to);
        return;
    }
    // From another tab: a copy of its node (as edited there) comes in; that tab is unchanged.
    auto node = findNode(source->root(), from);
    if (!node.isOk()) return;
    runEdit(Edit::insert(to, *node, position), to);
}

void CheckpointPage::setValueOfCurrent() {
    const std::optional<KeyPath> path = currentKeyPath();
    if (!path || !m_edits) return;
    auto node = findNode(m_edits->root(), *path);
    if (!node.isOk()) return;
    const NodeKind kind = (*node)->kind();
    if (kind != NodeKind::kScalar && kind != NodeKind::kString) {
        emit editFailed(tr("Only scalars and strings have a single value to set; array cells "
                           "are edited in the Table tab."));
        return;
    }
    if (kind == NodeKind::kString) {
        askValue(*path, kind, toQString((*node)->text()));
        return;
    }
    // A lazy scalar's value is on disk: read off the GUI thread, then asked for.
    runInBackground(
        this, [scalar = *node] { return scalar->loadScalar(); },
        [this, path = *path](const Result<Scalar>& value) {
            askValue(path, NodeKind::kScalar,
                     value.isOk() ? toQString(value->toText()) : QString());
        });
}

void CheckpointPage::askValue(const KeyPath& path, NodeKind kind, const QString& current) {
    bool ok = false;
    const QString text = QInputDialog::getText(
        this, tr("Set Value"), toQString(formatKeyPath(path)), QLineEdit::Normal, current, &ok);
    if (!ok || text == current) return;
    if (kind == NodeKind::kString) {
        runEdit(Edit::setString(path, text.toStdString()), path);
        return;
    }
    const std::optional<EditValue> value = parseEditValue(text);
    if (!value) {
        emit editFailed(tr("'%1' is not a number (nor true, false, nan or inf)").arg(text));
        return;
    }
    runEdit(Edit::setScalar(path, *value), path);
}

// ---- Saving ----------------------------------------------------------------------------------

void CheckpointPage::saveAs(const QString& target, const QString& format, bool overwrite) {
    if (m_saving || !m_edits || !m_edits->root()) return;
    startWrite([tree = m_edits->root()]() -> Result<NodePtr> { return tree; }, target, format,
               overwrite, /*showSaved=*/true);
}

void CheckpointPage::exportSubtrees(const std::vector<KeyPath>& paths, std::optional<DType> cast,
                                    const QString& target, const QString& format) {
    if (m_saving || !m_edits || !m_edits->root()) return;
    startWrite(
        [tree = m_edits->root(), paths, cast]() -> Result<NodePtr> {
            CKPT_ASSIGN_OR_RETURN(NodePtr selected, selectSubtrees(tree, paths));
            if (!cast) return selected;
            return ckpt::applyEdit(selected, Edit::cast({}, *cast));
        },
        target, format, /*overwrite=*/false, /*showSaved=*/false);
}

std::vector<KeyPath> CheckpointPage::selectedKeyPaths() const {
    std::vector<KeyPath> paths;
    for (const QModelIndex& index : m_view->selectionModel()->selectedRows()) {
        paths.push_back(m_model->keyPathAt(m_proxy->mapToSource(index)));
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

void CheckpointPage::startWrite(std::function<Result<NodePtr>()> makeTree, const QString& target,
                                const QString& format, bool overwrite, bool showSaved) {
    m_saving = true;
    auto cancel = std::make_shared<CancelToken>();
    m_saveCancel = cancel;
    // Progress comes from the writer's thread: forwarded at most every 50 ms.
    auto lastReport = std::make_shared<std::atomic<std::int64_t>>(0);
    QPointer<CheckpointPage> self(this);
    WriteOptions options;
    options.overwrite = overwrite;
    options.cancel = cancel.get();
    options.progress = [self, lastReport](std::uint64_t done, std::uint64_t total) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        if (done < total && now - lastReport->load() < 50) return;
        lastReport->store(now);
        QMetaObject::invokeMethod(
            self.data(),
            [self, done, total] {
                if (self) emit self->saveProgress(done, total);
            },
            Qt::QueuedConnection);
    };
    runInBackground(
        this,
        [makeTree = std::move(makeTree), fsTarget = toFsPath(target),
         format = format.toStdString(), options, cancel]() -> Status {
            CKPT_ASSIGN_OR_RETURN(NodePtr tree, makeTree());
            return writeCheckpoint(tree, fsTarget, format, options);
        },
        [this, target, showSaved](const Status& status) {
            m_saving = false;
            m_saveCancel.reset();
            if (status.isOk() && showSaved) {
                m_edits->markSaved();
                // The tab now shows what was written (read back from disk).
                open(target, std::nullopt);
            }
            emit saveFinished(target, status);
        });
}

void CheckpointPage::cancelSave() {
    if (m_saveCancel) m_saveCancel->cancel();
}

}  // namespace ckpt::ui
