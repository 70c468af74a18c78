// EditController: a checkpoint page's edits — a ckpt::EditSession behind a QUndoStack.
//
// Every edit is a ckpt::Edit applied by the engine (core/edit.h); the controller only adds the
// Qt undo stack and signals. apply() validates the edit against the current tree first: an edit
// that does not fit (a key that exists, a path that does not) is refused with the engine's
// error and nothing is pushed. Each pushed command is one EditSession step, so undo/redo through
// the stack (or a QUndoGroup / QUndoView over it) undo and redo the session.
//
// The edited tree shares every untouched subtree with the source: nothing is read until a save
// streams it. GUI thread only.
#pragma once

#include <QObject>
#include <QString>
#include <vector>

#include "ckpt/core/edit.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

class QUndoStack;

namespace ckpt::ui {

class EditController final : public QObject {
    Q_OBJECT

public:
    // Edits over `source` (the opened tree; null for none).
    explicit EditController(NodePtr source, QObject* parent = nullptr);
    ~EditController() override;

    QUndoStack* undoStack() const { return m_stack; }
    const NodePtr& source() const { return m_session.source(); }
    const NodePtr& root() const { return m_session.root(); }

    // Applies `edit` and pushes it on the undo stack; on error nothing changes.
    Status apply(const Edit& edit);
    // Applies `edits` in order as one undo step named `text` (a QUndoStack macro): all or
    // nothing, checked with the engine before anything is pushed. rootChanged() once.
    Status applyAll(const std::vector<Edit>& edits, const QString& text);
    // Whether the tree differs from the last saved (or opened) state: the undo stack's clean
    // index, so undoing back to it is clean again.
    bool isModified() const;
    // After a successful save of root().
    void markSaved();

    // The edits applied, oldest first, as a recipe (`ckpt apply` replays it on the source).
    Result<std::string> recipeJson() const;
    // Key paths the applied edits touched (see EditSession::changedPaths), sorted.
    std::vector<KeyPath> changedPaths() const { return m_session.changedPaths(); }

signals:
    // root() changed (an edit, an undo or a redo).
    void rootChanged();
    void modifiedChanged(bool modified);

private:
    class Command;
    friend class Command;
    void sessionStep(bool undo);

    EditSession m_session;
    QUndoStack* m_stack = nullptr;
};

}  // namespace ckpt::ui
