// Dialogs behind the tree's edit actions: the node to add, the dtype to cast to (with the
// engine's cast preview over every array of the subtree, computed off the GUI thread), and the
// text parsing they share. They only build ckpt::Edit values; the page applies them.
#pragma once

#include <QDialog>
#include <QString>
#include <memory>
#include <optional>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QCheckBox;

namespace ckpt::ui {

// "true", "false", "-3", "18446744073709551615", "0.5", "nan", "-inf"; nullopt otherwise.
std::optional<EditValue> parseEditValue(const QString& text);
// "3, 4" or "(3, 4)" or "[3,4]" or "" (a 0-d array); nullopt when malformed or negative.
std::optional<Shape> parseShape(const QString& text);

// Add a child to a container: its key (dicts), what it is, and for arrays dtype, shape and
// value, for strings the text, for a copy the key path of the node to copy.
class AddNodeDialog final : public QDialog {
    Q_OBJECT

public:
    // `parentKind` decides whether a key is asked for (dicts) or the item is appended.
    AddNodeDialog(NodeKind parentKind, QWidget* parent = nullptr);

    QString key() const;
    // The node to add; nullopt (and `error` set) when a field does not parse.
    std::optional<NodeSpec> spec(QString* error) const;

    QLineEdit* keyEdit() const { return m_key; }
    QComboBox* kindBox() const { return m_kind; }
    QComboBox* dtypeBox() const { return m_dtype; }
    QLineEdit* shapeEdit() const { return m_shape; }
    QLineEdit* valueEdit() const { return m_value; }

private:
    void updateFields();
    void accept() override;

    QLineEdit* m_key = nullptr;
    QComboBox* m_kind = nullptr;
    QComboBox* m_dtype = nullptr;
    QLineEdit* m_shape = nullptr;
    QLineEdit* m_value = nullptr;
    QLabel* m_error = nullptr;
};

// Cast a leaf or every array and scalar of a subtree to a dtype. Choosing a dtype starts the
// preview (worst-case error, values changed, out of range) over the subtree's arrays in the
// background; OK is available at once (the preview is advice, not a gate).
class CastDialog final : public QDialog {
    Q_OBJECT

public:
    CastDialog(NodePtr node, const KeyPath& path, QWidget* parent = nullptr);
    ~CastDialog() override;

    DType dtype() const;
    void setDType(DType dtype);
    QComboBox* dtypeBox() const { return m_dtype; }
    // The preview's text once computed ("" while running).
    QString previewText() const;
    bool previewRunning() const { return m_running; }

signals:
    void previewFinished();

private:
    void startPreview();

    NodePtr m_node;
    QComboBox* m_dtype = nullptr;
    QLabel* m_preview = nullptr;
    std::shared_ptr<CancelToken> m_cancel;
    std::uint64_t m_generation = 0;
    bool m_running = false;
};

// Export part of a tree to a new checkpoint: which subtrees (a preset), the format, an optional
// cast of every numeric leaf, and where.
class ExportDialog final : public QDialog {
    Q_OBJECT

public:
    struct Preset {
        QString name;
        std::vector<KeyPath> paths;
    };
    // The presets for `root` with the rows selected in the tree: "Selection (N nodes)" when
    // there is one, "Parameters only" when there is a top-level params, "Without optimizer
    // state" when there is a top-level opt_state / optimizer / opt_states.
    static std::vector<Preset> presetsFor(const NodePtr& root, const std::vector<KeyPath>& selection);

    ExportDialog(std::vector<Preset> presets, const QString& suggestedTarget,
                 QWidget* parent = nullptr);

    const std::vector<KeyPath>& paths() const;
    std::optional<DType> cast() const;
    QString format() const;  // a FormatWriter name
    QString target() const;

    QComboBox* presetBox() const { return m_preset; }
    QComboBox* formatBox() const { return m_format; }
    QComboBox* castBox() const { return m_cast; }
    QLineEdit* targetEdit() const { return m_target; }

private:
    std::vector<Preset> m_presets;
    QComboBox* m_preset = nullptr;
    QComboBox* m_format = nullptr;
    QComboBox* m_cast = nullptr;
    QLineEdit* m_target = nullptr;
};

}  // namespace ckpt::ui
