// TreeFilterProxy: sorting and key-path filtering over a TreeModel.
//
// Filtering is computed off the GUI thread: the owner runs ckpt::filterTree() over the model's
// root and hands the result to setFilterResult(). The proxy then shows a row when its node
// matched, sits under a node that matched (whole matched subtrees stay browsable), or is an
// ancestor of a match. Deciding a row costs a binary search per level, so expanding a container
// of a filtered million-node tree stays as cheap as without a filter; nothing walks the tree here.
//
// Sorting uses TreeModel::kSortRole (numbers for the size columns, text otherwise). Sort column -1
// (the default) keeps the checkpoint's own order.
//
// Ownership: the proxy shares the filter result. The source must be a TreeModel and stay set
// for the proxy's lifetime. GUI thread only.
#pragma once

#include <QSortFilterProxyModel>
#include <memory>

#include "ckpt/core/tree_query.h"

namespace ckpt::ui {

class TreeModel;

class TreeFilterProxy final : public QSortFilterProxyModel {
    Q_OBJECT

public:
    explicit TreeFilterProxy(QObject* parent = nullptr);

    // Must be a TreeModel.
    void setSourceModel(QAbstractItemModel* source) override;
    TreeModel* treeModel() const { return m_tree; }

    // The rows to keep, from ckpt::filterTree() over the source's current root; null shows every
    // row. A result whose root is null (nothing matched) hides every row.
    void setFilterResult(std::shared_ptr<const TreeFilterResult> result);
    const std::shared_ptr<const TreeFilterResult>& filterResult() const { return m_result; }
    bool isFiltering() const { return m_result != nullptr; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    TreeModel* m_tree = nullptr;
    std::shared_ptr<const TreeFilterResult> m_result;
};

}  // namespace ckpt::ui
