// TreeModel: a read-only QAbstractItemModel over an immutable checkpoint tree.
//
// Each row is one child of a container; the root node itself is not a row, except that a root
// which is a leaf (a checkpoint holding a single array) is shown as one row named "(root)".
// Columns are Name, Kind, DType, Shape and Size. Size is the in-memory size of the node's subtree
// (arrays and scalars, as ckpt::summarizeNode counts it), shown human-readably; the exact number
// is under kSizeBytesRole.
//
// The model is lazy so that a tree of a million nodes opens instantly: an index points at the
// wrapper of its *parent* container plus a row, so rows need no wrapper at all, and a container's
// wrapper is made only when one of its children is first asked for. Subtree sizes are computed
// when first displayed and cached in the container's wrapper. Nothing walks the whole tree upfront.
//
// Ownership: the model shares the tree (NodePtr) and owns the wrappers. Use from the GUI thread
// only; the tree itself is immutable, so other threads may keep reading it.
#pragma once

#include <QAbstractItemModel>
#include <cstdint>
#include <memory>

#include "ckpt/core/keypath.h"
#include "ckpt/core/tree.h"

namespace ckpt::ui {

class TreeModel final : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column : int {
        kNameColumn,
        kKindColumn,
        kDTypeColumn,
        kShapeColumn,
        kSizeColumn,
        kColumnCount,
    };

    enum Role : int {
        kKeyPathRole = Qt::UserRole + 1,  // QString: ckpt::formatKeyPath of the node's key path
        kSizeBytesRole,                   // qulonglong: the Size column as a number of bytes
        kNodeKindRole,                    // int: the ckpt::NodeKind
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
    // The subtree size in bytes of the node at `index` (cached for containers).
    std::uint64_t sizeBytesAt(const QModelIndex& index) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    bool hasChildren(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

private:
    struct Container;

    // The wrapper whose child rows `index` belongs to (its internal pointer).
    Container* containerOf(const QModelIndex& index) const;
    // The wrapper of the container shown at `row` under `parent`, made on first use.
    Container* childContainer(Container* parent, int row) const;
    static const NodePtr& childNode(const Container* parent, int row);
    QString displayText(const QModelIndex& index) const;
    QString toolTip(const QModelIndex& index) const;

    NodePtr m_root;
    // The invisible parent of the top-level rows; null when there is no tree.
    std::unique_ptr<Container> m_top;
    bool m_rootIsLeaf = false;
};

}  // namespace ckpt::ui
