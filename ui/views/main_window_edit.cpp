// MainWindow: the editing side — undo/redo, the tree edit actions, Save / Save As, recipe export,
// and the prompts before unsaved edits are discarded (the rest is in main_window.cpp).
#include <QAction>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QProgressDialog>
#include <QSaveFile>
#include <QStatusBar>
#include <QTabWidget>
#include <QUndoGroup>
#include <QUndoStack>

#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "edit/edit_controller.h"
#include "edit/edit_dialogs.h"
#include "views/checkpoint_page.h"
#include "views/main_window.h"

namespace ckpt::ui {

namespace {

struct SaveFormat {
    const char* writer;  // FormatWriter name
    const char* filter;  // file dialog filter
    const char* suffix;  // added when the name has none ("" for directories)
};

constexpr SaveFormat kSaveFormats[] = {
    {"orbax", QT_TRANSLATE_NOOP("MainWindow", "Orbax checkpoint directory (*)"), ""},
    {"flax", QT_TRANSLATE_NOOP("MainWindow", "Flax msgpack (*.msgpack)"), ".msgpack"},
    {"hdf5", QT_TRANSLATE_NOOP("MainWindow", "HDF5 (*.h5 *.hdf5)"), ".h5"},
    {"safetensors", QT_TRANSLATE_NOOP("MainWindow", "safetensors (*.safetensors)"),
     ".safetensors"},
    {"npz", QT_TRANSLATE_NOOP("MainWindow", "NumPy npz (*.npz)"), ".npz"},
};

}  // namespace

void MainWindow::createSaveActions(QMenu* fileMenu) {
    QAction* save = fileMenu->addAction(tr("&Save"), this, &MainWindow::saveCurrentInPlace);
    save->setShortcut(QKeySequence::Save);
    save->setStatusTip(tr("Write the edited checkpoint over the opened one (after confirming)"));
    m_pageActions.append(save);
    QAction* saveAs = fileMenu->addAction(tr("Save &As\u2026"), this, &MainWindow::saveCurrentAs);
    saveAs->setShortcut(QKeySequence::SaveAs);
    saveAs->setStatusTip(tr("Write the edited checkpoint to a new place, in any format"));
    m_pageActions.append(saveAs);
    QAction* exportAction = fileMenu->addAction(tr("&Export Subtrees\u2026"), this,
                                                &MainWindow::exportSubtrees);
    exportAction->setStatusTip(
        tr("Write the selected subtrees (or a preset such as parameters only) to a new "
           "checkpoint"));
    m_pageActions.append(exportAction);
    QAction* recipe =
        fileMenu->addAction(tr("Export Edit &Recipe\u2026"), this, &MainWindow::exportRecipe);
    recipe->setStatusTip(tr("Save the edits as a JSON recipe that `ckpt apply` replays"));
    m_pageActions.append(recipe);
}

void MainWindow::createEditActions(QMenu* editMenu) {
    m_undoGroup = new QUndoGroup(this);
    QAction* undo = m_undoGroup->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = m_undoGroup->createRedoAction(this, tr("&Redo"));
    redo->setShortcut(QKeySequence::Redo);
    editMenu->addAction(undo);
    editMenu->addAction(redo);
    editMenu->addSeparator();
    // The tree's own actions carry the shortcuts (F2, Del, Ctrl+D, ...) while it has focus, so
    // typing in the filter box never deletes a node; these menu entries act on the current tab.
    const auto pageAction = [this, editMenu](const QString& text, void (CheckpointPage::*slot)()) {
        QAction* action = editMenu->addAction(text, this, [this, slot] {
            if (CheckpointPage* page = currentPage()) (page->*slot)();
        });
        m_pageActions.append(action);
    };
    pageAction(tr("Re&name Key\tF2"), &CheckpointPage::renameCurrent);
    pageAction(tr("&Delete\tDel"), &CheckpointPage::deleteCurrent);
    pageAction(tr("D&uplicate\tCtrl+D"), &CheckpointPage::duplicateCurrent);
    pageAction(tr("&Add\u2026\tCtrl+Ins"), &CheckpointPage::addChildToCurrent);
    pageAction(tr("Ca&st\u2026\tCtrl+Shift+T"), &CheckpointPage::castCurrent);
    editMenu->addSeparator();
}

void MainWindow::connectEditing(CheckpointPage* page) {
    connect(page, &CheckpointPage::modifiedChanged, this, [this, page] {
        updatePageTitle(page);
        if (page == currentPage()) currentPageChanged();
    });
    connect(page, &CheckpointPage::opened, this, [this, page] {
        if (page == currentPage()) activateUndoStack(page);
    });
    connect(page, &CheckpointPage::editFailed, this, [this](const QString& message) {
        m_lastError = message;
        statusBar()->showMessage(message, 8000);
        emit errorOccurred(message);
    });
    connect(page, &CheckpointPage::saveProgress, this, [this](qulonglong done, qulonglong total) {
        if (!m_saveProgress) return;
        // Bytes can exceed an int: shown in per mille.
        m_saveProgress->setMaximum(1000);
        m_saveProgress->setValue(total > 0 ? static_cast<int>(done * 1000 / total) : 0);
    });
    connect(page, &CheckpointPage::saveFinished, this,
            [this](const QString& target, const Status& status) {
                if (m_saveProgress) {
                    m_saveProgress->deleteLater();
                    m_saveProgress = nullptr;
                }
                if (status.isOk()) {
                    statusBar()->showMessage(tr("Saved %1").arg(target), 8000);
                } else if (status.code() == StatusCode::kCancelled) {
                    statusBar()->showMessage(tr("Save cancelled; nothing was written"), 8000);
                } else {
                    reportError(tr("Could not save %1").arg(target), status);
                }
            });
}

void MainWindow::activateUndoStack(CheckpointPage* page) {
    if (!m_undoGroup) return;
    QUndoStack* stack = page && page->edits() ? page->edits()->undoStack() : nullptr;
    if (stack && !m_undoGroup->stacks().contains(stack)) m_undoGroup->addStack(stack);
    m_undoGroup->setActiveStack(stack);
}

bool MainWindow::confirmDiscard(CheckpointPage* page) {
    if (!page || !page->isModified() || !m_confirmDiscard) return true;
    m_tabs->setCurrentWidget(page);
    const auto answer = QMessageBox::warning(
        this, tr("Unsaved Edits"),
        tr("%1 has unsaved edits. Save them as a new checkpoint first?").arg(page->displayName()),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
    if (answer == QMessageBox::Discard) return true;
    if (answer == QMessageBox::Save) saveCurrentAs();  // asynchronous: the tab stays open
    return false;
}

void MainWindow::saveCurrentAs() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent() || page->isSaving()) return;
    QStringList filters;
    for (const SaveFormat& f : kSaveFormats) filters.append(tr(f.filter));
    QString chosenFilter = filters.front();
    const QFileInfo source(page->path());
    QString target = QFileDialog::getSaveFileName(
        this, tr("Save Checkpoint As"),
        source.dir().filePath(source.completeBaseName() + QStringLiteral("-edited")),
        filters.join(QStringLiteral(";;")), &chosenFilter);
    if (target.isEmpty()) return;
    const auto index = static_cast<std::size_t>(std::max<qsizetype>(0, filters.indexOf(chosenFilter)));
    const SaveFormat& format = kSaveFormats[index];
    if (*format.suffix && QFileInfo(target).suffix().isEmpty()) target += QLatin1String(format.suffix);
    // The file dialog already asked about replacing a file; a directory is asked about here.
    bool overwrite = QFileInfo::exists(target);
    if (overwrite && QFileInfo(target).isDir() &&
        QMessageBox::question(this, tr("Replace?"),
                              tr("%1 exists. Replace it? The new checkpoint is written beside it "
                                 "and swapped in only once complete.")
                                  .arg(target)) != QMessageBox::Yes) {
        return;
    }
    startSave(page, target, QLatin1String(format.writer), overwrite);
}

void MainWindow::saveCurrentInPlace() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent() || page->isSaving()) return;
    if (!page->isModified()) {
        statusBar()->showMessage(tr("No edits to save"), 4000);
        return;
    }
    const QString format = toQString(page->checkpoint()->format);
    if (page->checkpoint()->step || !page->checkpoint()->steps.empty()) {
        // A step of a run directory: the run layout is not rewritten in place.
        saveCurrentAs();
        return;
    }
    if (QMessageBox::question(
            this, tr("Save Over the Original?"),
            tr("Replace %1 with the edited checkpoint? It is written beside the original and "
               "swapped in only once complete; the original is then gone.")
                .arg(page->path())) != QMessageBox::Yes) {
        return;
    }
    startSave(page, page->path(), format, /*overwrite=*/true);
}

void MainWindow::startSave(CheckpointPage* page, const QString& target, const QString& format,
                           bool overwrite) {
    m_saveProgress = new QProgressDialog(tr("Saving %1\u2026").arg(target), tr("Cancel"), 0, 0, this);
    m_saveProgress->setWindowModality(Qt::WindowModal);
    m_saveProgress->setMinimumDuration(300);
    connect(m_saveProgress, &QProgressDialog::canceled, page, &CheckpointPage::cancelSave);
    page->saveAs(target, format, overwrite);
}

void MainWindow::exportSubtrees() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent() || page->isSaving()) return;
    const QFileInfo source(page->path());
    ExportDialog dialog(ExportDialog::presetsFor(page->editedRoot(), page->selectedKeyPaths()),
                        source.dir().filePath(source.completeBaseName() +
                                              QStringLiteral("-export")),
                        this);
    if (dialog.exec() != QDialog::Accepted || dialog.target().isEmpty()) return;
    if (QFileInfo::exists(dialog.target())) {
        reportError(tr("Cannot export"),
                    alreadyExistsError(dialog.target().toStdString() +
                                       " exists: choose a new name"));
        return;
    }
    m_saveProgress = new QProgressDialog(tr("Exporting to %1\u2026").arg(dialog.target()),
                                         tr("Cancel"), 0, 0, this);
    m_saveProgress->setWindowModality(Qt::WindowModal);
    m_saveProgress->setMinimumDuration(300);
    connect(m_saveProgress, &QProgressDialog::canceled, page, &CheckpointPage::cancelSave);
    page->exportSubtrees(dialog.paths(), dialog.cast(), dialog.target(), dialog.format());
}

void MainWindow::exportRecipe() {
    CheckpointPage* page = currentPage();
    if (!page || !page->edits()) return;
    auto json = page->edits()->recipeJson();
    if (!json.isOk()) {
        reportError(tr("Cannot export the recipe"), json.status());
        return;
    }
    const QString target = QFileDialog::getSaveFileName(
        this, tr("Export Edit Recipe"), QStringLiteral("recipe.json"), tr("JSON (*.json)"));
    if (target.isEmpty()) return;
    QSaveFile file(target);
    if (!file.open(QIODevice::WriteOnly) ||
        file.write(json->data(), static_cast<qint64>(json->size())) != static_cast<qint64>(json->size()) ||
        !file.commit()) {
        reportError(tr("Cannot write %1").arg(target), ioError(file.errorString().toStdString()));
        return;
    }
    statusBar()->showMessage(tr("Recipe written to %1").arg(target), 8000);
}

}  // namespace ckpt::ui
