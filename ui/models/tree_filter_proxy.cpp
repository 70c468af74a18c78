#include "models/tree_filter_proxy.h"

#include <vector>

#include "models/tree_model.h"

namespace ckpt::ui {

TreeFilterProxy::TreeFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(TreeModel::kSortRole);
    setSortCaseSensitivity(Qt::CaseInsensitive);
    // Rollups arrive after the tree: a sorted size column re-sorts then. Filtering is by result
    // only, so dataChanged never hides or shows a row.
    setDynamicSortFilter(true);
}

void TreeFilterProxy::setSourceModel(QAbstractItemModel* source) {
    m_tree = qobject_cast<TreeModel*>(source);
    Q_ASSERT(m_tree || !source);
    m_result.reset();
    QSortFilterProxyModel::setSourceModel(source);
}

void TreeFilterProxy::setFilterResult(std::shared_ptr<const TreeFilterResult> result) {
    m_result = std::move(result);
    invalidateRowsFilter();
}

bool TreeFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (!m_result) return true;
    const FilterNode* node = m_result->root.get();
    if (!node || !m_tree) return false;
    // Walk from the root to the parent, then look for the row among its visible children.
    std::vector<std::size_t> rows = m_tree->rowPath(sourceParent);
    rows.push_back(static_cast<std::size_t>(sourceRow));
    for (std::size_t row : rows) {
        if (node->matched) return true;  // everything under a match is shown
        node = node->child(row);
        if (!node) return false;
    }
    return true;
}

bool TreeFilterProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant a = left.data(sortRole());
    const QVariant b = right.data(sortRole());
    if (a.typeId() == QMetaType::ULongLong && b.typeId() == QMetaType::ULongLong) {
        return a.toULongLong() < b.toULongLong();
    }
    return QString::compare(a.toString(), b.toString(), sortCaseSensitivity()) < 0;
}

}  // namespace ckpt::ui
