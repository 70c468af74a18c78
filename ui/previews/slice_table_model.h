// SliceTableModel: one TablePage (a page of a 2-D slice, or of a 1-D array) as a table.
//
// The model never reads: ArrayPreview reads pages off the GUI thread and hands them over with
// setPage(). Headers are the slice's row and column indices, so a page further down starts at
// its own offset. Read-only. GUI thread only.
#pragma once

#include <QAbstractTableModel>
#include <QModelIndexList>

#include "previews/preview_data.h"

namespace ckpt::ui {

class SliceTableModel final : public QAbstractTableModel {
    Q_OBJECT

public:
    explicit SliceTableModel(QObject* parent = nullptr);

    void setPage(TablePage page);
    void clear();
    const TablePage& page() const { return m_page; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

    // The cells of `indexes` as tab-separated values: the bounding rectangle in row order, cells
    // outside the selection left empty, rows ended by '\n'.
    QString toTsv(const QModelIndexList& indexes) const;

private:
    TablePage m_page;
};

}  // namespace ckpt::ui
