// DetailsPane: the facts about the selected node, or about the checkpoint when nothing is selected.
//
// Two columns of "label: value" rows under a title: what the node is (key path, kind, dtype,
// shape, size, value, attributes) and where its bytes live (ArraySource::storage()). Values are
// selectable text. Reads only metadata, never array data. GUI thread only.
#pragma once

#include <QList>
#include <QPair>
#include <QString>
#include <QWidget>

#include "ckpt/core/checkpoint.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"

class QFormLayout;
class QLabel;

namespace ckpt::ui {

class DetailsPane final : public QWidget {
    Q_OBJECT

public:
    using Fields = QList<QPair<QString, QString>>;

    explicit DetailsPane(QWidget* parent = nullptr);

    void showNode(const NodePtr& node, const KeyPath& path);
    void showCheckpoint(const Checkpoint& checkpoint, const TreeSummary& summary);
    // Shows only `hint` (e.g. "Open a checkpoint…").
    void showHint(const QString& hint);

    QString title() const;
    // Every shown row as "Label: value", one per line, left column first (for tests and copying).
    QString fieldsText() const;

private:
    void setContent(const QString& title, const QString& leftHeading, const Fields& left,
                    const QString& rightHeading, const Fields& right);
    static void fillForm(QFormLayout* form, const Fields& fields);

    QLabel* m_title = nullptr;
    QLabel* m_leftHeading = nullptr;
    QLabel* m_rightHeading = nullptr;
    QFormLayout* m_leftForm = nullptr;
    QFormLayout* m_rightForm = nullptr;
    QWidget* m_columns = nullptr;
    Fields m_left;
    Fields m_right;
};

}  // namespace ckpt::ui
