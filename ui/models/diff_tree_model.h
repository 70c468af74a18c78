// DiffTreeModel: a ckpt::TreeDiff as a side-by-side tree — each row a key path, A's and B's
// kind/dtype/shape next to each other, the change and the value numbers of leaves in both.
//
// The rows are the entries' key paths arranged as a tree: an entry's missing ancestors become
// container rows whose change summarises the entries below (the worst one, and how many differ).
// Rows keep the diff's order (a depth-first walk of A, B-only keys after A's keys). Each row is
// coloured by its change (only in A, only in B, structure changed, values differ, equal) with
// tints that read on light and dark palettes.
//
// DiffFilterProxy shows only the differences (with their ancestors) and/or the rows whose key
// path contains a text. Both are GUI-thread objects; the model owns a copy of the diff.
#pragma once

#include <QAbstractItemModel>
#include <QSortFilterProxyModel>
#include <QString>
#include <memory>
#include <optional>
#include <vector>

#include "ckpt/core/diff.h"
#include "ckpt/core/keypath.h"

namespace ckpt::ui {

class DiffTreeModel final : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column {
        kKeyColumn,
        kAColumn,
        kBColumn,
        kChangeColumn,
        kMaxAbsColumn,
        kMaxRelColumn,
        kCosineColumn,
        kNormRatioColumn,
        kColumnCount
    };
    enum Role {
        kKeyPathRole = Qt::UserRole + 1,  // QString: the row's key path text
        kDifferentRole,                   // bool: the row or a row below it differs
        kChangeRole,                      // int: DiffChange of an entry row, -1 for containers
    };

    explicit DiffTreeModel(QObject* parent = nullptr);
    ~DiffTreeModel() override;

    // Replaces the rows (beginResetModel/endResetModel).
    void setDiff(TreeDiff diff);
    void clear();
    const TreeDiff& diff() const { return m_diff; }

    // The entry shown at `index` (a container row made for ancestors has none).
    const DiffEntry* entry(const QModelIndex& index) const;
    KeyPath keyPath(const QModelIndex& index) const;
    // The row of `path`, or an invalid index.
    QModelIndex indexForPath(const KeyPath& path) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    // "values differ", "only in A", "bit-equal", ... (the Change column's words).
    static QString changeText(DiffChange change);
    // "float32[64, 128]", "dict (12 leaves)", "string", "none".
    static QString sideText(const DiffSide& side);

private:
    struct Row;
    Row* rowFor(const QModelIndex& index) const;
    QVariant rowText(const Row& row, int column) const;

    TreeDiff m_diff;
    std::unique_ptr<Row> m_root;
};

// Filters a DiffTreeModel: differences only (rows whose kDifferentRole is true), and key paths
// containing a text (case-insensitive). Ancestors of shown rows stay (recursive filtering).
class DiffFilterProxy final : public QSortFilterProxyModel {
    Q_OBJECT

public:
    explicit DiffFilterProxy(QObject* parent = nullptr);

    void setDifferencesOnly(bool only);
    bool differencesOnly() const { return m_differencesOnly; }
    void setPathText(const QString& text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    bool m_differencesOnly = false;
    QString m_pathText;
};

}  // namespace ckpt::ui
