#include "previews/slice_table_model.h"

#include <QStringList>
#include <algorithm>
#include <climits>
#include <set>
#include <utility>

namespace ckpt::ui {

SliceTableModel::SliceTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void SliceTableModel::setPage(TablePage page) {
    beginResetModel();
    m_page = std::move(page);
    endResetModel();
}

void SliceTableModel::clear() {
    setPage({});
}

int SliceTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : m_page.rows;
}

int SliceTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : m_page.cols;
}

QVariant SliceTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const auto i = static_cast<std::size_t>(index.row()) * static_cast<std::size_t>(m_page.cols) +
                   static_cast<std::size_t>(index.column());
    switch (role) {
        case Qt::DisplayRole:
        case Qt::ToolTipRole:
        case Qt::EditRole:
            return i < m_page.cells.size() ? m_page.cells[i] : QString();
        case Qt::TextAlignmentRole:
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        default:
            return {};
    }
}

Qt::ItemFlags SliceTableModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (m_editable && index.isValid()) f |= Qt::ItemIsEditable;
    return f;
}

bool SliceTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !m_editable || !checkIndex(index, CheckIndexOption::IndexIsValid)) {
        return false;
    }
    if (value.toString() == data(index, Qt::DisplayRole).toString()) return false;
    emit cellEditRequested(m_page.row0 + index.row(), m_page.col0 + index.column(),
                           value.toString());
    return false;  // the new value arrives with the next page read
}

QVariant SliceTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole || section < 0) return {};
    if (orientation == Qt::Horizontal) {
        if (section >= m_page.cols) return {};
        return QString::number(m_page.col0 + section);
    }
    if (section >= m_page.rows) return {};
    return QString::number(m_page.row0 + section);
}

QString SliceTableModel::toTsv(const QModelIndexList& indexes) const {
    int top = INT_MAX;
    int left = INT_MAX;
    int bottom = -1;
    int right = -1;
    std::set<std::pair<int, int>> chosen;
    for (const QModelIndex& index : indexes) {
        if (!index.isValid() || index.model() != this) continue;
        top = std::min(top, index.row());
        bottom = std::max(bottom, index.row());
        left = std::min(left, index.column());
        right = std::max(right, index.column());
        chosen.emplace(index.row(), index.column());
    }
    QString text;
    for (int r = top; r <= bottom; ++r) {
        QStringList row;
        for (int c = left; c <= right; ++c) {
            row.append(chosen.count({r, c}) != 0 ? data(index(r, c)).toString() : QString());
        }
        text += row.join(QLatin1Char('\t')) + QLatin1Char('\n');
    }
    return text;
}

}  // namespace ckpt::ui
