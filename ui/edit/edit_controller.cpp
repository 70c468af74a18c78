#include "edit/edit_controller.h"

#include <QUndoCommand>
#include <QUndoStack>

#include "bridge/qt_convert.h"

namespace ckpt::ui {

// One EditSession step. The edit is applied before the command is pushed (to refuse edits that
// do not fit), so the first redo(), which QUndoStack::push() calls, has nothing to do.
class EditController::Command final : public QUndoCommand {
public:
    Command(EditController* controller, const Edit& edit)
        : QUndoCommand(toQString(edit.describe())), m_controller(controller) {}

    void undo() override { m_controller->sessionStep(true); }
    void redo() override {
        if (m_pushed) {
            m_controller->sessionStep(false);
        }
        m_pushed = true;
    }

private:
    EditController* m_controller;
    bool m_pushed = false;
};

EditController::EditController(NodePtr source, QObject* parent)
    : QObject(parent), m_session(std::move(source)), m_stack(new QUndoStack(this)) {
    connect(m_stack, &QUndoStack::cleanChanged, this,
            [this](bool clean) { emit modifiedChanged(!clean); });
}

EditController::~EditController() = default;

Status EditController::apply(const Edit& edit) {
    CKPT_RETURN_IF_ERROR(m_session.apply(edit));
    m_stack->push(new Command(this, edit));
    emit rootChanged();
    return okStatus();
}

Status EditController::applyAll(const std::vector<Edit>& edits, const QString& text) {
    if (edits.empty()) return okStatus();
    // Checked on a copy first, so that a failing step leaves nothing half applied.
    CKPT_RETURN_IF_ERROR(applyRecipe(m_session.root(), edits).status());
    m_stack->beginMacro(text);
    Status status = okStatus();
    for (const Edit& edit : edits) {
        status = m_session.apply(edit);
        if (!status.isOk()) break;
        m_stack->push(new Command(this, edit));
    }
    m_stack->endMacro();
    if (!status.isOk()) {
        // Cannot happen after the check above; if it did, undo the part that went in.
        m_stack->undo();
        return status;
    }
    emit rootChanged();
    return okStatus();
}

void EditController::sessionStep(bool undo) {
    // The stack and the session move in lockstep, so these cannot fail; a failure would mean
    // the two disagree, and the tree is left as it is rather than guessed.
    const Status status = undo ? m_session.undo() : m_session.redo();
    Q_ASSERT(status.isOk());
    if (status.isOk()) emit rootChanged();
}

bool EditController::isModified() const { return !m_stack->isClean(); }

void EditController::markSaved() { m_stack->setClean(); }

Result<std::string> EditController::recipeJson() const {
    return recipeToJson(m_session.history());
}

}  // namespace ckpt::ui
