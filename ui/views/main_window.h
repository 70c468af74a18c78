// MainWindow: the Checkpoint Studio browser window.
//
// A tree of the open checkpoint (TreeModel in a QTreeView) above a DetailsPane and an ArrayPreview
// (statistics, histogram, heatmap, line, table; computed off the GUI thread) for the selected
// node, a status bar summarising the checkpoint, and File/Help menus with Open Recent. Files and
// directories dropped on the window are opened.
//
// A run directory (Orbax CheckpointManager root, flax checkpoint_<N> files) opens at its latest
// complete step; a "Step" selector above the tree lists its steps (incomplete ones disabled) and
// re-opens the same root at the chosen step through openPath(). It is hidden for checkpoints
// without steps.
//
// Opening is asynchronous: openPath() starts ckpt::openCheckpoint (and the tree summary) on the
// global thread pool and returns at once; the result comes back by a queued call, guarded so that
// a destroyed window is never called. Exactly one of checkpointOpened() or errorOccurred() is
// emitted for each openPath() that returns true, unless a later openPath() supersedes it (then
// only the later one reports). Errors also show a window-modal, non-blocking message box unless
// setErrorDialogsEnabled(false) was called (tests, --screenshot).
//
// Ownership: the window shares the opened Checkpoint with its model. GUI thread only.
#pragma once

#include <QMainWindow>
#include <QString>
#include <QStringList>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ckpt/core/checkpoint.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"
#include "views/recent_files.h"

class QAction;
class QComboBox;
class QLabel;
class QMenu;
class QProgressBar;
class QSplitter;
class QStackedWidget;
class QTreeView;

namespace ckpt::ui {

class ArrayPreview;
class DetailsPane;
class TreeModel;

class MainWindow final : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Whether a successful open is added to Open Recent (not for temporary files like the demo).
    enum class Recent { kRecord, kSkip };

    // Starts opening a checkpoint file or directory. Returns false, after reporting the error,
    // when the request is rejected at once (an empty path); otherwise completion is signalled.
    // `step` picks the step of a run directory (as written, "1000"); default its latest.
    bool openPath(const QString& path, std::optional<std::string> step,
                  Recent recent = Recent::kRecord);
    bool openPath(const QString& path, Recent recent = Recent::kRecord) {
        return openPath(path, std::nullopt, recent);
    }
    bool isOpening() const { return m_opening; }

    // Whether errors also pop up a message box (default true).
    void setErrorDialogsEnabled(bool enabled) { m_errorDialogsEnabled = enabled; }
    bool errorDialogsEnabled() const { return m_errorDialogsEnabled; }

    // Expands the tree to `depth` levels below the top level (QTreeView::expandToDepth).
    void expandToDepth(int depth);
    // Selects (expanding its parents) the node at `path`; false if there is none.
    bool selectKeyPath(const KeyPath& path);
    // Selects the first array leaf in tree order; false if the checkpoint has no array.
    bool selectFirstArray();

    // The path of the open checkpoint as given to openPath() (absolute), or empty.
    QString currentPath() const { return m_currentPath; }
    std::shared_ptr<const Checkpoint> checkpoint() const { return m_checkpoint; }
    // The text of the last error reported, or empty.
    QString lastError() const { return m_lastError; }
    // The status bar's summary ("flax · single file · 12 leaves · …"), or empty.
    QString summaryText() const;
    QStringList recentFiles() const { return m_recentFiles.paths(); }

    TreeModel* model() const { return m_model; }
    QTreeView* treeView() const { return m_view; }
    DetailsPane* detailsPane() const { return m_details; }
    ArrayPreview* arrayPreview() const { return m_preview; }
    QMenu* recentMenu() const { return m_recentMenu; }
    // The "Step" selector (hidden unless the open checkpoint has steps); item data
    // (Qt::UserRole) is the step as written.
    QComboBox* stepSelector() const { return m_stepCombo; }

signals:
    void checkpointOpened(const QString& path);
    void errorOccurred(const QString& message);

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    struct OpenOutcome;

    void createActions();
    QWidget* createWelcomePage();
    void chooseFile();
    void chooseDirectory();
    void rebuildRecentMenu();
    void showAbout();
    void updateDetails();
    void setOpening(bool opening, const QString& path = {});
    void finishOpen(const QString& path, Recent recent, OpenOutcome outcome);
    void reportError(const QString& context, const Status& status);
    void fitColumns();
    QWidget* createStepBar();
    void updateStepSelector();
    void openSelectedStep(int index);

    TreeModel* m_model = nullptr;
    QTreeView* m_view = nullptr;
    DetailsPane* m_details = nullptr;
    ArrayPreview* m_preview = nullptr;
    QSplitter* m_splitter = nullptr;
    QWidget* m_stepBar = nullptr;
    QComboBox* m_stepCombo = nullptr;
    QLabel* m_stepItemsLabel = nullptr;
    QStackedWidget* m_stack = nullptr;
    QWidget* m_welcome = nullptr;
    QLabel* m_summaryLabel = nullptr;
    QProgressBar* m_busyBar = nullptr;
    QMenu* m_recentMenu = nullptr;
    QAction* m_clearRecentAction = nullptr;
    QLabel* m_welcomeRecent = nullptr;

    RecentFiles m_recentFiles;
    std::shared_ptr<const Checkpoint> m_checkpoint;
    TreeSummary m_summary;
    QString m_currentPath;
    QString m_lastError;
    std::uint64_t m_openGeneration = 0;
    bool m_opening = false;
    bool m_errorDialogsEnabled = true;
};

}  // namespace ckpt::ui
