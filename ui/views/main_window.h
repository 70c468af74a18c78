// MainWindow: the Checkpoint Studio browser window.
//
// Each open checkpoint is a tab (a CheckpointPage: step bar, filter bar, tree, details and array
// preview); a welcome page with Open buttons and recent checkpoints shows when none is open. The
// status bar summarises the current tab; File/Edit/View/Help menus carry Open, Open Recent, Close
// Tab, Copy Key Path, Find (the filter box), Theme and About. Files and directories dropped on the
// window are opened.
//
// Settings (QSettings of RecentFiles::organizationName()/applicationName()): Open Recent, the last
// directory chosen, the theme (View › Theme: System, Light, Dark; see theme.h), the heatmap
// colormap new tabs start with (the last one chosen in any tab), and the window geometry and
// dock/toolbar state, restored by the constructor and saved when the window closes.
//
// openPath() opens a checkpoint in a new tab, or, when that path is already open, brings its tab
// forward (and switches it to `step` when one is given). A path to an Orbax metadata file
// (`_METADATA`, `_CHECKPOINT_METADATA`) opens the directory holding it: the file manager's "Open
// With" offers files, and Orbax checkpoints are directories (see checkpointPathFor()). A run directory (Orbax
// CheckpointManager root, flax checkpoint_<N> files) opens at its latest complete step; its tab's
// "Step" selector re-opens it at another step, keeping the selected key path.
//
// Opening is asynchronous (see CheckpointPage): exactly one of checkpointOpened() or
// errorOccurred() is emitted for each openPath() that returns true, unless a later request for the
// same tab supersedes it. A tab whose first open fails is closed again. Errors also show a
// window-modal, non-blocking message box unless setErrorDialogsEnabled(false) was called (tests,
// --screenshot).
//
// The accessors model(), treeView(), detailsPane(), arrayPreview(), stepSelector() and the
// selection helpers act on the current tab and return null / false when no tab is open.
//
// Ownership: the window owns its pages. GUI thread only.
#pragma once

#include <QList>
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
#include "previews/array_preview.h"
#include "views/recent_files.h"
#include "views/theme.h"

class QAction;
class QActionGroup;
class QComboBox;
class QLabel;
class QMenu;
class QProgressBar;
class QProgressDialog;
class QUndoGroup;
class QStackedWidget;
class QTabWidget;
class QTreeView;

namespace ckpt::ui {

class CheckpointPage;
class ConformWizard;
class DetailsPane;
class DiffView;
class HealthView;
class RunView;
struct DiffSideSpec;
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
    // What openPath() opens for `path`, absolute and clean: the containing directory for a file
    // named _METADATA or _CHECKPOINT_METADATA (an Orbax item or step), else `path` itself. Does
    // not touch the disk beyond asking whether `path` is a directory.
    static QString checkpointPathFor(const QString& path);
    // Whether the current tab is opening (a checkpoint or another step).
    bool isOpening() const;

    // Whether errors also pop up a message box (default true).
    void setErrorDialogsEnabled(bool enabled) { m_errorDialogsEnabled = enabled; }
    bool errorDialogsEnabled() const { return m_errorDialogsEnabled; }

    // The preview tab new tabs start on (ArrayPreview::setPreferredTab).
    void setPreferredPreviewTab(ArrayPreview::Tab tab) { m_previewTab = tab; }

    // The tabs.
    QTabWidget* tabs() const { return m_tabs; }
    int pageCount() const;
    CheckpointPage* page(int index) const;
    CheckpointPage* currentPage() const;
    // The tab showing `path` (absolute, as openPath() made it), or null.
    CheckpointPage* pageForPath(const QString& path) const;
    void setCurrentPage(CheckpointPage* page);
    void closePage(int index);

    // On the current tab (false / nothing when none is open):
    // Expands the tree to `depth` levels below the top level (QTreeView::expandToDepth).
    void expandToDepth(int depth);
    // Selects (expanding its parents) the node at `path`; false if there is none or it is
    // filtered out.
    bool selectKeyPath(const KeyPath& path);
    // Selects the first array leaf in tree order; false if the checkpoint has no array.
    bool selectFirstArray();

    // The path of the current tab's checkpoint as given to openPath() (absolute), or empty.
    QString currentPath() const;
    std::shared_ptr<const Checkpoint> checkpoint() const;
    // The text of the last error reported, or empty.
    QString lastError() const { return m_lastError; }
    // The status bar's summary of the current tab ("flax · single file · 12 leaves · …").
    QString summaryText() const;
    QStringList recentFiles() const { return m_recentFiles.paths(); }

    // Applies `theme` to the application, checks it under View › Theme and stores it.
    void setTheme(Theme theme);
    Theme theme() const { return m_theme; }

    TreeModel* model() const;
    QTreeView* treeView() const;
    DetailsPane* detailsPane() const;
    ArrayPreview* arrayPreview() const;
    QMenu* recentMenu() const { return m_recentMenu; }
    // The current tab's "Step" selector (hidden unless its checkpoint has steps); item data
    // (Qt::UserRole) is the step as written.
    QComboBox* stepSelector() const;

    // Editing: the window's undo group follows the current tab's undo stack.
    QUndoGroup* undoGroup() const { return m_undoGroup; }
    // Whether closing a tab / the window asks before discarding unsaved edits (default true;
    // off for tests and --screenshot, where unsaved edits are discarded).
    void setConfirmDiscard(bool enabled) { m_confirmDiscard = enabled; }

    // Structure mismatches (main_window_compare.cpp).
    // Opens a DiffView window comparing `a` with `b` (File › Compare With… asks for B and uses
    // the current tab, as edited, for A). The window deletes itself when closed.
    DiffView* compare(DiffSideSpec a, DiffSideSpec b);
    // The current tab (as edited) compared with the checkpoint, run step or structure file at
    // `path`; null when no tab is open.
    DiffView* compareCurrentWith(const QString& path, std::optional<std::string> step = {});
    // Opens the ConformWizard on the current tab's edited tree (Edit › Conform to Reference…),
    // with `referencePath` loading when given; on Finish its plan is applied to the tab as one
    // undo step. Null when no tab is open. The wizard deletes itself when closed.
    ConformWizard* conformCurrent(const QString& referencePath = {});

    // Opens a HealthView (Tools › Health Check…) examining the current tab's checkpoint on disk
    // (its step, for a run); activating a finding selects its key path in that tab. Null when
    // no tab is open. The window deletes itself when closed.
    HealthView* checkCurrentHealth();
    // Opens a RunView (Tools › Run Over Time…) of the current tab's run directory, plotting the
    // selected node (or the whole tree) and comparing the last two steps. Null (with a status
    // message) when no tab is open or its checkpoint is not a run of several steps.
    RunView* showRunOverTime();

signals:
    void checkpointOpened(const QString& path);
    void errorOccurred(const QString& message);


protected:
    // Asks before discarding unsaved edits; then saves the geometry and state.
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createActions();
    // main_window_edit.cpp
    void createSaveActions(QMenu* fileMenu);
    void createEditActions(QMenu* editMenu);
    void connectEditing(CheckpointPage* page);
    void activateUndoStack(CheckpointPage* page);
    bool confirmDiscard(CheckpointPage* page);
    void saveCurrentAs();
    void saveCurrentInPlace();
    void exportRecipe();
    void exportSubtrees();
    void chooseComparison();
    void startSave(CheckpointPage* page, const QString& target, const QString& format,
                   bool overwrite);
    QWidget* createWelcomePage();
    void chooseFile();
    void chooseDirectory();
    void rebuildRecentMenu();
    void showAbout();
    void showShortcuts();
    CheckpointPage* addPage();
    void pageOpened(CheckpointPage* page, const QString& path);
    void pageFailed(CheckpointPage* page, const QString& path, const Status& status);
    void currentPageChanged();
    void updatePageTitle(CheckpointPage* page);
    void updateStatus();
    void reportError(const QString& context, const Status& status);

    QTabWidget* m_tabs = nullptr;
    QStackedWidget* m_stack = nullptr;
    QWidget* m_welcome = nullptr;
    QLabel* m_summaryLabel = nullptr;
    QProgressBar* m_busyBar = nullptr;
    QMenu* m_recentMenu = nullptr;
    QAction* m_clearRecentAction = nullptr;
    QActionGroup* m_themeActions = nullptr;  // data: the Theme as int
    QLabel* m_welcomeRecent = nullptr;
    QList<QAction*> m_pageActions;  // enabled only while a tab is open
    // Pages whose pending open goes to Open Recent once it succeeds.
    QList<CheckpointPage*> m_recordOnOpen;

    RecentFiles m_recentFiles;
    QString m_lastError;
    bool m_errorDialogsEnabled = true;
    bool m_confirmDiscard = true;
    QUndoGroup* m_undoGroup = nullptr;
    QProgressDialog* m_saveProgress = nullptr;
    std::optional<ArrayPreview::Tab> m_previewTab;
    Theme m_theme = Theme::kSystem;
};

}  // namespace ckpt::ui
