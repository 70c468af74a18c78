// DiffView: two checkpoints side by side — ckpt::diffTrees in a window (File › Compare With…).
//
// compare() takes two sides, each either a tree already open (a tab's edited tree) or a path
// (and step) to open. Opening and the diff run on the thread pool with a progress bar and a
// Cancel button; the GUI never reads array data. The result is a DiffTreeModel: keys only in A
// or only in B, kind/dtype/shape changes, and for leaves in both, bit-equal or the value numbers
// (max abs and relative difference, cosine similarity, norm ratio). "Differences only" starts on
// when there is a difference; the filter box narrows by key path; the selected row's full
// numbers show below the tree.
//
// Each compare() supersedes the previous one (cancelled, its result dropped); closing the view
// cancels the work. Exactly one of finished() or failed() is emitted per compare() that is not
// superseded. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ckpt/core/cancel.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTimer;
class QTreeView;

namespace ckpt::ui {

class DiffFilterProxy;
class ProgressRelay;
class DiffTreeModel;

// One side of a comparison.
struct DiffSideSpec {
    QString name;  // shown in the header
    NodePtr root;  // a tree already open (e.g. a tab's edited tree); when null, `path` is opened
    QString path;
    std::optional<std::string> step;  // of a run directory at `path`
};

class DiffView final : public QWidget {
    Q_OBJECT

public:
    explicit DiffView(QWidget* parent = nullptr);
    ~DiffView() override;

    void compare(DiffSideSpec a, DiffSideSpec b);
    void cancel();
    bool isRunning() const { return m_running; }

    // "3 differences: 1 only in A, 2 values differ · 120 leaves compared", or the error.
    QString summaryText() const;
    // Selects (and shows the numbers of) the row at `path`; false if it is not shown.
    bool selectKeyPath(const KeyPath& path);

    DiffTreeModel* model() const { return m_model; }
    DiffFilterProxy* proxy() const { return m_proxy; }
    QTreeView* treeView() const { return m_view; }
    QCheckBox* differencesOnlyBox() const { return m_differencesOnly; }
    QLineEdit* filterEdit() const { return m_filterEdit; }
    QLabel* detailsLabel() const { return m_details; }

signals:
    void finished();
    void failed(const QString& message);

private:
    struct Outcome;
    void finish(std::uint64_t generation, Outcome outcome);
    void updateDetails();
    void updateProgress();
    void selectFirstDifference();

    DiffTreeModel* m_model = nullptr;
    DiffFilterProxy* m_proxy = nullptr;
    QTreeView* m_view = nullptr;
    QLabel* m_nameA = nullptr;
    QLabel* m_nameB = nullptr;
    QLabel* m_summary = nullptr;
    QLabel* m_details = nullptr;
    QLineEdit* m_filterEdit = nullptr;
    QCheckBox* m_differencesOnly = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QTimer* m_progressTimer = nullptr;

    std::shared_ptr<ProgressRelay> m_progressState;
    std::shared_ptr<CancelToken> m_cancel;
    std::uint64_t m_generation = 0;
    bool m_running = false;
    bool m_firstResult = true;
    QString m_error;
};

}  // namespace ckpt::ui
