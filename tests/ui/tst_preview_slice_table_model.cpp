// Tests for previews/slice_table_model: QAbstractItemModelTester across page changes, headers
// that carry the page's offset, and TSV copies of rectangular and ragged selections.
#include <QAbstractItemModelTester>
#include <QTest>

#include "previews/slice_table_model.h"

using ckpt::ui::SliceTableModel;
using ckpt::ui::TablePage;

namespace {

TablePage makePage(std::int64_t row0, std::int64_t col0, int rows, int cols) {
    TablePage page;
    page.row0 = row0;
    page.col0 = col0;
    page.rows = rows;
    page.cols = cols;
    page.totalRows = row0 + rows;
    page.totalCols = col0 + cols;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
            page.cells.push_back(QStringLiteral("%1,%2").arg(row0 + r).arg(col0 + c));
    return page;
}

}  // namespace

class TestPreviewSliceTableModel : public QObject {
    Q_OBJECT

private slots:
    void passesModelTesterAcrossPages() {
        SliceTableModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 0);
        model.setPage(makePage(0, 0, 100, 50));
        QCOMPARE(model.rowCount(), 100);
        QCOMPARE(model.columnCount(), 50);
        model.setPage(makePage(200, 100, 7, 3));
        QCOMPARE(model.rowCount(), 7);
        model.clear();
        QCOMPARE(model.columnCount(), 0);
    }

    void showsCellsAndOffsetHeaders() {
        SliceTableModel model;
        model.setPage(makePage(200, 100, 7, 3));
        QCOMPARE(model.data(model.index(2, 1)).toString(), QStringLiteral("202,101"));
        QCOMPARE(model.headerData(0, Qt::Vertical).toString(), QStringLiteral("200"));
        QCOMPARE(model.headerData(2, Qt::Horizontal).toString(), QStringLiteral("102"));
        QVERIFY(!model.headerData(3, Qt::Horizontal).isValid());
        QVERIFY(!model.index(0, 0).flags().testFlag(Qt::ItemIsEditable));
        QVERIFY(model.index(7, 0).row() == -1);
    }

    void copiesSelectionAsTsv() {
        SliceTableModel model;
        model.setPage(makePage(0, 0, 4, 4));
        const QModelIndexList block{model.index(1, 1), model.index(1, 2), model.index(2, 1),
                                    model.index(2, 2)};
        QCOMPARE(model.toTsv(block), QStringLiteral("1,1\t1,2\n2,1\t2,2\n"));
        // A ragged selection keeps its shape, with empty cells for what was not selected.
        const QModelIndexList ragged{model.index(3, 0), model.index(0, 2)};
        QCOMPARE(model.toTsv(ragged), QStringLiteral("\t\t0,2\n\t\t\n\t\t\n3,0\t\t\n"));
        QCOMPARE(model.toTsv({}), QString());
    }
};

QTEST_MAIN(TestPreviewSliceTableModel)
#include "tst_preview_slice_table_model.moc"
