// TreeModel: a read-only QAbstractItemModel over an immutable checkpoint tree.
//
// Each row is one child of a container; the root node itself is not a row, except that a root
// which is a leaf (a checkpoint holding a single array) is shown as one row named "(root)".
// Columns are Name, Kind, DType, Shape, Parameters, Size (bytes in memory), On disk (bytes stored,
// after compression) and "% of disk" (the node's share of the checkpoint's stored bytes) — the
// columns that answer "why is my checkpoint this big?". Numbers are shown human-readably; the
// exact values are under kSortRole (what a proxy sorts by) and the named roles.
//
// The model is lazy so that a tree of a million nodes opens instantly: an index points at the
// wrapper of its *parent* container plus a row, so rows need no wrapper at all, and a container's
// wrapper is made only when one of its children is first asked for. Nothing walks the tree on the
// GUI thread: subtree totals come from ckpt::computeRollups(), which the owner runs in the
// background and hands over with setRollups(); until then container totals and every "On disk"
// cell read "…" (array leaves show their own size and parameters at once, from metadata).
// The model never reads array data or lazy scalar values (tooltips name the dtype only).
//
// Ownership: the model shares the tree (NodePtr) and the rollups and owns the wrappers. Use from
// the GUI thread only; the tree itself is immutable, so other threads may keep reading it.
#pragma once

#include <QAbstractItemModel>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"

namespace ckpt::ui {

class TreeModel final : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column : int {
        kNameColumn,
        kKindColumn,
        kDTypeColumn,
        kShapeColumn,
        kParametersColumn,
        kSizeColumn,
        kStoredColumn,
        kShareColumn,
        kColumnCount,
    };

    enum Role : int {
        kKeyPathRole = Qt::UserRole + 1,  // QString: ckpt::formatKeyPath of the node's key path
        kSizeBytesRole,     // qulonglong: bytes in memory; invalid until known
        kNodeKindRole,      // int: the ckpt::NodeKind
        kStoredBytesRole,   // qulonglong: bytes on disk; invalid until the rollups are set
        kParametersRole,    // qulonglong: elements of arrays and scalars; invalid until known
        kSortRole,          // what a proxy sorts a column by: numbers for the number columns
                            // (unknown sorts first), the display text otherwise
    };

    explicit TreeModel(QObject* parent = nullptr);
    ~TreeModel() override;

    // Replaces the tree (null for none) and resets the model.
    void setRoot(NodePtr root);
    const NodePtr& root() const { return m_root; }

    // The node shown at `index` (any column); null for an invalid index.
    NodePtr nodeAt(const QModelIndex& index) const;
    // The key path of the node at `index` from the root; empty for the root and invalid indexes.
    KeyPath keyPathAt(const QModelIndex& index) const;
    // The column-0 index of the node at `path`; invalid when there is none or it is the root
    // (which is not a row, unless it is a leaf).
    QModelIndex indexForKeyPath(const KeyPath& path) const;
    // The rollup of the node at `index`: for an array or scalar leaf always (from metadata,
    // except storedBytes, which needs the rollups); for a container only once setRollups() gave
    // one. Null optional = not known yet.
    std::optional<NodeRollup> rollupAt(const QModelIndex& index) const;
    // The rows from the top level down to `index` (empty for an invalid index).
    std::vector<std::size_t> rowPath(const QModelIndex& index) const;

    // Hands over subtree totals computed (off the GUI thread) by ckpt::computeRollups() over
    // this model's root; null clears them. Repaints the number columns.
    void setRollups(std::shared_ptr<const TreeRollups> rollups);
    const std::shared_ptr<const TreeRollups>& rollups() const { return m_rollups; }

    // Key paths changed by edits (EditSession::changedPaths), sorted: those nodes show bold in
    // the accent colour, their ancestors in italics. Empty clears the marks.
    void setEditedPaths(std::vector<KeyPath> paths);
    // Names of dict children can be edited in place (F2) when this is on; a new name is not
    // applied here but handed to renameRequested(), for the edit layer to apply.
    void setRenamable(bool renamable) { m_renamable = renamable; }

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    bool hasChildren(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    // Drag and drop of nodes (when setRenamable(true)): the drag carries this model and the key
    // path; a drop is not applied here but handed to dropRequested().
    QStringList mimeTypes() const override;
    QMimeData* mimeData(const QModelIndexList& indexes) const override;
    Qt::DropActions supportedDropActions() const override;
    Qt::DropActions supportedDragActions() const override;
    bool canDropMimeData(const QMimeData* data, Qt::DropAction action, int row, int column,
                         const QModelIndex& parent) const override;
    bool dropMimeData(const QMimeData* data, Qt::DropAction action, int row, int column,
                      const QModelIndex& parent) override;
    // The model and key path a drag from a TreeModel carries (null model when `data` is not
    // one, or its model no longer exists).
    static std::pair<const TreeModel*, KeyPath> dragSource(const QMimeData* data);
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

signals:
    // The user typed `newKey` for the dict key at `path` (see setRenamable()).
    void renameRequested(const ckpt::KeyPath& path, const QString& newKey);
    // `from` of `source` (this model or another one) was dropped into the container at
    // `container` (of this model), at `row` (-1: appended).
    void dropRequested(const ckpt::ui::TreeModel* source, const ckpt::KeyPath& from,
                       const ckpt::KeyPath& container, int row);

private:
    struct Container;

    // The wrapper whose child rows `index` belongs to (its internal pointer).
    Container* containerOf(const QModelIndex& index) const;
    // The wrapper of the container shown at `row` under `parent`, made on first use.
    Container* childContainer(Container* parent, int row) const;
    static const NodePtr& childNode(const Container* parent, int row);
    QString displayText(const QModelIndex& index) const;
    QVariant sortValue(const QModelIndex& index) const;
    QString toolTip(const QModelIndex& index) const;

    NodePtr m_root;
    std::shared_ptr<const TreeRollups> m_rollups;
    // The invisible parent of the top-level rows; null when there is no tree.
    std::unique_ptr<Container> m_top;
    bool m_rootIsLeaf = false;
    bool m_renamable = false;
    std::vector<KeyPath> m_edited;  // sorted
    enum class EditMark { kNone, kEdited, kContainsEdit };
    EditMark editMark(const QModelIndex& index) const;
};

}  // namespace ckpt::ui
