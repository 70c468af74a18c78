// MainWindow: the tool windows — File › Compare With… (a DiffView), Edit › Conform to
// Reference… (the ConformWizard, whose plan is applied to the tab as one undo step), Tools ›
// Health Check… (a HealthView) and Tools › Run Over Time… (a RunView).
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QPointer>
#include <QStatusBar>
#include <QTabWidget>

#include "bridge/qt_convert.h"
#include "ckpt/core/edit.h"
#include "edit/edit_controller.h"
#include "views/checkpoint_page.h"
#include "views/conform_wizard.h"
#include "views/diff_view.h"
#include "views/health_view.h"
#include "views/run_view.h"
#include "views/main_window.h"

namespace ckpt::ui {

namespace {

// What the current tab is, as side A.
DiffSideSpec currentSide(const CheckpointPage& page) {
    DiffSideSpec side;
    side.name = page.path();
    if (page.checkpoint() && page.checkpoint()->step) {
        side.name += MainWindow::tr(" (step %1)").arg(toQString(*page.checkpoint()->step));
    }
    if (page.isModified()) side.name += MainWindow::tr(" (as edited)");
    side.root = page.editedRoot();
    side.path = page.path();
    return side;
}

}  // namespace

DiffView* MainWindow::compare(DiffSideSpec a, DiffSideSpec b) {
    auto* view = new DiffView(this);
    view->setWindowFlag(Qt::Window);
    view->setAttribute(Qt::WA_DeleteOnClose);
    view->compare(std::move(a), std::move(b));
    view->show();
    return view;
}

DiffView* MainWindow::compareCurrentWith(const QString& path, std::optional<std::string> step) {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent()) return nullptr;
    DiffSideSpec b;
    b.path = checkpointPathFor(path);
    b.name = b.path;
    if (step) b.name += tr(" (step %1)").arg(toQString(*step));
    b.step = std::move(step);
    return compare(currentSide(*page), std::move(b));
}

void MainWindow::chooseComparison() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent()) return;
    // The choices for B: the opened version of an edited tab, other tabs, other steps of the
    // run, or a path.
    enum class Kind { kOriginal, kTab, kStep, kFile, kDirectory };
    struct Choice {
        Kind kind;
        QString text;
        CheckpointPage* page = nullptr;
        std::string step;
    };
    std::vector<Choice> choices;
    if (page->isModified()) {
        choices.push_back({Kind::kOriginal,
                           tr("%1 as opened (before the edits)").arg(page->displayName()), nullptr,
                           {}});
    }
    for (int i = 0; i < pageCount(); ++i) {
        CheckpointPage* other = this->page(i);
        if (other == page || !other->hasContent()) continue;
        choices.push_back({Kind::kTab, tr("Tab: %1").arg(other->displayName()), other, {}});
    }
    if (const auto& checkpoint = page->checkpoint()) {
        for (const StepEntry& entry : checkpoint->steps) {
            if (!entry.complete || entry.step == checkpoint->step) continue;
            choices.push_back({Kind::kStep, tr("Step %1 of this run").arg(toQString(entry.step)),
                               nullptr, entry.step});
        }
    }
    choices.push_back({Kind::kFile, tr("A checkpoint file\u2026"), nullptr, {}});
    choices.push_back({Kind::kDirectory, tr("A checkpoint directory\u2026"), nullptr, {}});

    QDialog dialog(this);
    dialog.setWindowTitle(tr("Compare With"));
    auto* combo = new QComboBox(&dialog);
    for (const Choice& choice : choices) combo->addItem(choice.text);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto* form = new QFormLayout(&dialog);
    form->addRow(tr("A:"), new QLabel(currentSide(*page).name, &dialog));
    form->addRow(tr("B:"), combo);
    form->addRow(buttons);
    if (dialog.exec() != QDialog::Accepted) return;
    const Choice& choice = choices[static_cast<std::size_t>(combo->currentIndex())];

    DiffSideSpec b;
    switch (choice.kind) {
        case Kind::kOriginal:
            b.name = tr("%1 (as opened)").arg(page->path());
            b.root = page->edits()->source();
            b.path = page->path();
            break;
        case Kind::kTab: b = currentSide(*choice.page); break;
        case Kind::kStep:
            b.name = tr("%1 (step %2)").arg(page->path(), toQString(choice.step));
            b.path = page->path();
            b.step = choice.step;
            break;
        case Kind::kFile:
        case Kind::kDirectory: {
            const QString dir = QFileInfo(page->path()).absolutePath();
            b.path = choice.kind == Kind::kFile
                         ? QFileDialog::getOpenFileName(this, tr("Compare With"), dir)
                         : QFileDialog::getExistingDirectory(this, tr("Compare With"), dir);
            if (b.path.isEmpty()) return;
            b.path = checkpointPathFor(b.path);
            break;
        }
    }
    compare(currentSide(*page), std::move(b));
}

HealthView* MainWindow::checkCurrentHealth() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent()) return nullptr;
    auto* view = new HealthView(this);
    view->setWindowFlag(Qt::Window);
    view->setAttribute(Qt::WA_DeleteOnClose);
    QPointer<CheckpointPage> target(page);
    connect(view, &HealthView::keyPathActivated, this, [this, target](const KeyPath& path) {
        if (!target) return;
        setCurrentPage(target);
        if (!target->selectKeyPath(path)) {
            statusBar()->showMessage(
                tr("%1 is not in the tab's tree").arg(toQString(formatKeyPath(path))), 6000);
        }
        activateWindow();
    });
    view->examine(page->path(), page->checkpoint()->step);
    view->show();
    return view;
}

RunView* MainWindow::showRunOverTime() {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent()) return nullptr;
    std::vector<std::string> steps;
    for (const StepEntry& entry : page->checkpoint()->steps) {
        if (entry.complete) steps.push_back(entry.step);
    }
    if (steps.size() < 2) {
        statusBar()->showMessage(tr("%1 is not a run of several steps (an Orbax CheckpointManager "
                                    "root or flax checkpoint_<N> files)")
                                     .arg(page->displayName()),
                                 8000);
        return nullptr;
    }
    auto* view = new RunView(page->path(), steps, this);
    view->setWindowFlag(Qt::Window);
    view->setAttribute(Qt::WA_DeleteOnClose);
    // A deleted step leaves the tab's step list: re-open it (at its step, or the latest if that
    // was the one deleted).
    QPointer<CheckpointPage> target(page);
    connect(view, &RunView::stepDeleted, this, [target](qint64 deleted) {
        if (!target || !target->checkpoint()) return;
        std::optional<std::string> step = target->checkpoint()->step;
        if (step && *step == std::to_string(deleted)) step.reset();
        target->open(target->path(), step);
    });
    view->plot(page->currentKeyPath().value_or(KeyPath{}));
    view->compareSteps(steps[steps.size() - 2], steps.back());
    view->show();
    return view;
}

ConformWizard* MainWindow::conformCurrent(const QString& referencePath) {
    CheckpointPage* page = currentPage();
    if (!page || !page->hasContent() || !page->edits()) return nullptr;
    auto* wizard = new ConformWizard(page->editedRoot(), page->displayName(), this);
    wizard->setAttribute(Qt::WA_DeleteOnClose);
    if (!referencePath.isEmpty()) wizard->setReferencePath(checkpointPathFor(referencePath));
    QPointer<CheckpointPage> target(page);
    connect(wizard, &QWizard::accepted, this, [this, wizard, target] {
        const ConformPlan* plan = wizard->plan();
        if (!target || !plan) return;
        if (target->editedRoot() != wizard->source()) {
            reportError(tr("Could not conform %1").arg(target->displayName()),
                        invalidArgumentError("the tab was edited while the wizard was open; "
                                             "run the wizard again"));
            return;
        }
        const Status status = target->applyEdits(
            plan->steps, tr("Conform to %1").arg(wizard->referenceName()));
        if (status.isOk()) {
            statusBar()->showMessage(
                tr("Conformed to %1: %2 edits (Edit \u203a Undo reverts them)")
                    .arg(wizard->referenceName())
                    .arg(plan->steps.size()),
                8000);
        }
    });
    wizard->show();
    return wizard;
}

}  // namespace ckpt::ui
