// SliceTableModel: one TablePage (a page of a 2-D slice, or of a 1-D array) as a table.
//
// The model never reads: ArrayPreview reads pages off the GUI thread and hands them over with
// setPage(). Headers are the slice's row and column indices, so a page further down starts at
// its own offset. Cells are editable when setEditable(true): a typed value is not stored here
// but handed to cellEditRequested() (the edit layer applies it and the page is read again).
// GUI thread only.
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

    void setEditable(bool editable) { m_editable = editable; }
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

signals:
    // `text` typed for the cell at slice row `row`, column `col` (absolute, not page-relative).
    void cellEditRequested(std::int64_t row, std::int64_t col, const QString& text);

private:
    TablePage m_page;
    bool m_editable = false;
};

}  // namespace ckpt::ui
