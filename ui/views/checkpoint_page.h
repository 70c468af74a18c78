// CheckpointPage: one open checkpoint — a tab of the main window.
//
// Above, a step bar (run directories only: a "Step" selector and the step's item names) and a
// filter bar (key-path pattern as text, glob or regex; match count or the pattern's error); then
// the tree (TreeModel through a TreeFilterProxy in a sortable QTreeView); below, a DetailsPane
// and an ArrayPreview for the current node.
//
// Nothing here reads the disk on the GUI thread. open() runs ckpt::openCheckpoint on the thread
// pool; once the tree is shown, the subtree totals (ckpt::computeRollups: parameters, bytes in
// memory and on disk) follow from another background job, and a filter runs ckpt::filterTree in
// the background too. Each job is guarded by a generation number and a CancelToken: a later
// open(), a new filter or the page's destruction cancels the earlier one, whose result is
// dropped. Exactly one of opened() or openFailed() is emitted per open() that is not superseded.
//
// Switching step re-opens the same root at that step and keeps the selected key path (or its
// deepest ancestor that still exists), the filter and the preview tab.
//
// Ownership: the page shares the opened Checkpoint with its model. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/checkpoint.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QTimer;
class QTreeView;

namespace ckpt::ui {

class ArrayPreview;
class DetailsPane;
class EditController;
class TreeFilterProxy;
class TreeModel;

class CheckpointPage final : public QWidget {
    Q_OBJECT

public:
    explicit CheckpointPage(QWidget* parent = nullptr);
    ~CheckpointPage() override;

    // Starts opening `absolutePath` (at `step` of a run directory; default its latest). The
    // current content stays until the new one is ready.
    void open(const QString& absolutePath, std::optional<std::string> step);
    bool isOpening() const { return m_opening; }
    // Whether a checkpoint has been shown (an open() succeeded).
    bool hasContent() const { return m_checkpoint != nullptr; }

    // The path given to the last successful open(), or to the pending one before any succeeded.
    QString path() const { return m_path; }
    // The file or directory name of path(), for the tab.
    QString displayName() const;
    std::shared_ptr<const Checkpoint> checkpoint() const { return m_checkpoint; }
    // "orbax · ocdbt · step 3 · 12 leaves · 1.2 MiB · 5.3 KiB on disk · 300 parameters".
    QString summaryText() const;
    QString warningsText() const;

    // Filters the tree by key path (empty text shows everything). The pattern is checked at
    // once (false and an error shown when it does not compile); matching runs in the background
    // and filterApplied() follows.
    bool setFilter(const QString& pattern, PatternSyntax syntax);
    QString filterPattern() const;
    PatternSyntax filterSyntax() const;
    bool isFiltering() const { return m_filterRunning; }
    // "12 matches", "no match", an error, or empty.
    QString filterStatusText() const;
    void focusFilter();

    // Selection, in key paths of the checkpoint.
    bool selectKeyPath(const KeyPath& path);
    bool selectFirstArray();
    // The key path of the current node; nullopt when none is selected.
    std::optional<KeyPath> currentKeyPath() const;
    // Puts the current node's key path ("params/Dense_0/kernel") on the clipboard.
    bool copyCurrentKeyPath();
    void expandToDepth(int depth);

    bool hasRollups() const { return m_rollups != nullptr; }

    // ---- Editing (see EditController; the tree shown is the edited one) ----
    // Null until a checkpoint has been opened.
    EditController* edits() const { return m_edits; }
    // The tree as edited (the opened tree when nothing was edited); null before an open.
    NodePtr editedRoot() const;
    // Unsaved edits.
    bool isModified() const;
    // Applies `edit` (pushed on the undo stack) and selects `select` afterwards when given.
    // Errors are returned and also emitted as editFailed().
    Status applyEdit(const Edit& edit, std::optional<KeyPath> select = std::nullopt);
    // Applies `edits` as one undo step named `text` (all or nothing; e.g. a conform plan).
    Status applyEdits(const std::vector<Edit>& edits, const QString& text);
    // The tree actions on the current node; each asks what it needs in a dialog.
    void renameCurrent();   // in place, F2
    void deleteCurrent();   // Del
    void duplicateCurrent();  // Ctrl+D: "key_copy" beside it (appended in a list)
    void addChildToCurrent();  // to the current container, or beside the current leaf
    void castCurrent();
    void convertCurrent(NodeKind kind);
    void setValueOfCurrent();  // a scalar's or string's value, Ctrl+E
    // A node dragged from `source` (this page's model: moved; another tab's: copied in) and
    // dropped into `container` at `row` (-1: last). See TreeModel::dropRequested.
    void dropNode(const TreeModel* source, const KeyPath& from, const KeyPath& container, int row);

    // Writes the edited tree to `target` in `format` (a FormatWriter name) on the thread pool;
    // saveProgress() follows, then saveFinished(). `overwrite` replaces an existing target
    // (written beside it and swapped in when complete: the opened path itself may be the
    // target). After a successful save this tab shows the saved checkpoint.
    void saveAs(const QString& target, const QString& format, bool overwrite);
    // Writes only the subtrees at `paths` (with their ancestors) of the edited tree, optionally
    // cast to `cast`, to a new `target`; saveProgress() and saveFinished() as for saveAs(), but
    // this tab keeps showing its checkpoint.
    void exportSubtrees(const std::vector<KeyPath>& paths, std::optional<DType> cast,
                        const QString& target, const QString& format);
    // The key paths of the selected rows (several with Ctrl/Shift-click), sorted.
    std::vector<KeyPath> selectedKeyPaths() const;
    bool isSaving() const { return m_saving; }
    void cancelSave();

    TreeModel* model() const { return m_model; }
    TreeFilterProxy* proxy() const { return m_proxy; }
    QTreeView* treeView() const { return m_view; }
    DetailsPane* detailsPane() const { return m_details; }
    ArrayPreview* arrayPreview() const { return m_preview; }
    QComboBox* stepSelector() const { return m_stepCombo; }
    QLineEdit* filterEdit() const { return m_filterEdit; }

signals:
    void opened(const QString& path);
    void openFailed(const QString& path, const ckpt::Status& status);
    void openingChanged(bool opening);
    // The status-bar summary changed (opened, or the totals arrived).
    void summaryChanged();
    void rollupsReady();
    void filterApplied();
    void modifiedChanged(bool modified);
    void editFailed(const QString& message);
    void saveProgress(qulonglong done, qulonglong total);
    void saveFinished(const QString& target, const ckpt::Status& status);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct OpenOutcome;

    QWidget* createStepBar();
    QWidget* createFilterBar();
    void createTreeView();
    void finishOpen(const QString& path, Result<Checkpoint> outcome);
    void startRollups();
    void startRollupsAfterPaint();
    static constexpr int kRollupsFallbackMs = 250;
    void updateStepSelector();
    void openSelectedStep(int index);
    void updateDetails();
    void applyFilter();
    void finishFilter(std::shared_ptr<const TreeFilterResult> result);
    void expandMatches();
    void showFilterStatus(const QString& text, bool error);
    void showContextMenu(const QPoint& position);
    void fitColumns();
    void createEditActions();
    void connectPreviewEdits();
    void runEdit(const Edit& edit, std::optional<KeyPath> select);
    void askValue(const KeyPath& path, NodeKind kind, const QString& current);
    void resetEdits();
    void showEditedRoot();
    void startWrite(std::function<Result<NodePtr>()> makeTree, const QString& target,
                    const QString& format, bool overwrite, bool showSaved);
    QModelIndex viewIndexFor(const KeyPath& path) const;

    TreeModel* m_model = nullptr;
    TreeFilterProxy* m_proxy = nullptr;
    QTreeView* m_view = nullptr;
    DetailsPane* m_details = nullptr;
    ArrayPreview* m_preview = nullptr;
    QWidget* m_stepBar = nullptr;
    QComboBox* m_stepCombo = nullptr;
    QLabel* m_stepItemsLabel = nullptr;
    QLineEdit* m_filterEdit = nullptr;
    QComboBox* m_filterSyntax = nullptr;
    QLabel* m_filterStatus = nullptr;
    QTimer* m_filterTimer = nullptr;

    std::shared_ptr<const Checkpoint> m_checkpoint;
    std::shared_ptr<const TreeRollups> m_rollups;
    QString m_path;
    bool m_opening = false;
    bool m_filterRunning = false;
    bool m_filterError = false;
    std::uint64_t m_openGeneration = 0;
    std::uint64_t m_rollupGeneration = 0;
    std::uint64_t m_filterGeneration = 0;
    std::uint64_t m_detailsGeneration = 0;
    std::shared_ptr<CancelToken> m_rollupCancel;
    EditController* m_edits = nullptr;
    std::optional<KeyPath> m_selectAfterEdit;
    bool m_saving = false;
    std::shared_ptr<CancelToken> m_saveCancel;
    bool m_rollupsAfterPaint = false;  // startRollups() once the tree's viewport has painted
    std::shared_ptr<CancelToken> m_filterCancel;
    // Selected when the pending open() lands (a step switch keeps the key path).
    std::optional<KeyPath> m_restoreSelection;
};

}  // namespace ckpt::ui
