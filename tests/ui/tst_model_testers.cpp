// QAbstractItemModelTester over every model of ckpt_ui: SliceTableModel across pages of several
// shapes (including empty ones), and TreeModel over an empty model, a leaf root, the demo tree, a
// deep tree and a wide tree (10,000 children), walking indexes (and fetchMore where offered) so
// the tester sees real rows and every role of every column. Written against the generic model
// API (index/rowCount/data/fetchMore) so it keeps compiling as the models grow.
#include <QAbstractItemModelTester>
#include <QTest>
#include <memory>
#include <string>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/tree.h"
#include "models/tree_model.h"
#include "previews/slice_table_model.h"

using ckpt::ui::SliceTableModel;
using ckpt::ui::TablePage;
using ckpt::ui::TreeModel;

namespace {

constexpr auto kReport = QAbstractItemModelTester::FailureReportingMode::QtTest;

TablePage makePage(std::int64_t row0, std::int64_t col0, int rows, int cols, std::int64_t totalRows,
                   std::int64_t totalCols) {
    TablePage page;
    page.row0 = row0;
    page.col0 = col0;
    page.rows = rows;
    page.cols = cols;
    page.totalRows = totalRows;
    page.totalCols = totalCols;
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            page.cells.push_back(QStringLiteral("%1").arg((row0 + r) * 1000 + col0 + c));
        }
    }
    return page;
}

ckpt::NodePtr floatArray(ckpt::Shape shape) {
    auto array = ckpt::Array::allocate(ckpt::DType::kFloat32, std::move(shape)).value();
    return ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(array)));
}

// dict → list → tuple → dict → … `depth` levels, each with a leaf beside the next level.
ckpt::NodePtr deepTree(int depth) {
    ckpt::NodePtr node = floatArray({2, 2});
    for (int level = depth - 1; level >= 0; --level) {
        const ckpt::NodePtr leaf = ckpt::Node::makeScalar(ckpt::Scalar::fromInt64(level));
        switch (level % 3) {
            case 0:
                node = ckpt::Node::makeDict(
                    {{"level_" + std::to_string(level), node}, {"leaf", leaf}});
                break;
            case 1:
                node = ckpt::Node::makeList({node, leaf});
                break;
            default:
                node = ckpt::Node::makeTuple({leaf, node, ckpt::Node::makeNone()});
                break;
        }
    }
    return node;
}

ckpt::NodePtr wideTree(std::size_t count) {
    const ckpt::NodePtr scalar = ckpt::Node::makeScalar(ckpt::Scalar::fromInt64(7));
    const ckpt::NodePtr array = floatArray({4});
    const ckpt::NodePtr string = ckpt::Node::makeString("text");
    const ckpt::NodePtr inner = ckpt::Node::makeDict({{"x", array}});
    std::vector<ckpt::DictEntry> entries;
    entries.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        const ckpt::NodePtr& child = i % 4 == 0   ? scalar
                                     : i % 4 == 1 ? array
                                     : i % 4 == 2 ? string
                                                  : inner;
        entries.push_back({"k" + std::to_string(i), child});
    }
    return ckpt::Node::makeDict(std::move(entries));
}

// Reads every role of every cell under `parent` (rows up to `maxRows` per level), fetching
// more where the model offers it, and recurses. Returns the number of rows seen.
int walk(QAbstractItemModel& model, const QModelIndex& parent, int maxRows, int depthLeft) {
    while (model.canFetchMore(parent)) model.fetchMore(parent);
    const int rows = model.rowCount(parent);
    const int columns = model.columnCount(parent);
    int seen = 0;
    for (int row = 0; row < rows && row < maxRows; ++row) {
        ++seen;
        for (int column = 0; column < columns; ++column) {
            const QModelIndex index = model.index(row, column, parent);
            if (!index.isValid()) {
                qWarning("invalid index at row %d column %d", row, column);
                return -1;
            }
            if (index.parent() != parent) {
                qWarning("parent() mismatch at row %d column %d", row, column);
                return -1;
            }
            for (int role = 0; role <= Qt::UserRole + 16; ++role) (void)model.data(index, role);
            (void)model.flags(index);
        }
        const QModelIndex first = model.index(row, 0, parent);
        if (depthLeft > 0 && model.hasChildren(first)) {
            const int below = walk(model, first, maxRows, depthLeft - 1);
            if (below < 0) return -1;
            seen += below;
        }
    }
    return seen;
}

}  // namespace

class TestModelTesters : public QObject {
    Q_OBJECT

private slots:
    void sliceTableModelPages() {
        SliceTableModel model;
        QAbstractItemModelTester tester(&model, kReport);
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(walk(model, {}, 1000, 0), 0);
        const struct {
            std::int64_t row0, col0;
            int rows, cols;
            std::int64_t totalRows, totalCols;
        } pages[] = {
            {0, 0, 100, 50, 1000, 1000},      // a full page
            {900, 950, 100, 50, 1000, 1000},  // the last one
            {0, 0, 1, 8, 1, 8},               // a 1-D array as one row
            {0, 0, 8, 1, 8, 1},               // ... as one column
            {0, 0, 1, 1, 1, 1},               // a 0-d array
            {0, 0, 0, 0, 0, 0},               // an empty array
            {0, 0, 0, 5, 0, 5},               // no rows, some columns
            {0, 0, 5, 0, 5, 0},               // some rows, no columns
            {40, 10, 7, 3, 47, 13},           // a ragged tail
        };
        for (const auto& p : pages) {
            model.setPage(makePage(p.row0, p.col0, p.rows, p.cols, p.totalRows, p.totalCols));
            QCOMPARE(model.rowCount(), p.cols == 0 ? model.rowCount() : p.rows);
            QVERIFY(walk(model, {}, 1000, 0) >= 0);
            for (int section = 0; section < model.columnCount(); ++section) {
                (void)model.headerData(section, Qt::Horizontal);
            }
            for (int section = 0; section < model.rowCount(); ++section) {
                (void)model.headerData(section, Qt::Vertical);
            }
        }
        model.clear();
        QCOMPARE(model.rowCount(), 0);
        model.setPage(makePage(0, 0, 3, 3, 3, 3));
        model.setPage(makePage(0, 0, 3, 3, 3, 3));  // the same shape again
        QCOMPARE(model.rowCount(), 3);
    }

    void treeModelEmpty() {
        TreeModel model;
        QAbstractItemModelTester tester(&model, kReport);
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(walk(model, {}, 100, 4), 0);
        model.setRoot(nullptr);
        QCOMPARE(model.rowCount(), 0);
        model.setRoot(ckpt::Node::makeDict({}));
        QCOMPARE(model.rowCount(), 0);
        model.setRoot(ckpt::Node::makeList({}));
        QCOMPARE(model.rowCount(), 0);
    }

    void treeModelLeafRoot() {
        TreeModel model;
        QAbstractItemModelTester tester(&model, kReport);
        model.setRoot(floatArray({3, 4}));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(walk(model, {}, 100, 4), 1);
        QVERIFY(!model.hasChildren(model.index(0, 0)));
        model.setRoot(ckpt::Node::makeString("only a string"));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(walk(model, {}, 100, 4), 1);
        model.setRoot(ckpt::Node::makeNone());
        QVERIFY(walk(model, {}, 100, 4) >= 0);
    }

    void treeModelDemo() {
        TreeModel model;
        QAbstractItemModelTester tester(&model, kReport);
        const ckpt::NodePtr demo = ckpt::makeDemoTrainState();
        model.setRoot(demo);
        QCOMPARE(model.rowCount(), 5);
        const ckpt::TreeSummary summary = ckpt::summarizeTree(demo);
        // Every node but the root is a row.
        QCOMPARE(walk(model, {}, 1000, 64), static_cast<int>(summary.nodeCount) - 1);
        // Resetting to another tree and back keeps the tester happy.
        model.setRoot(wideTree(10));
        QCOMPARE(model.rowCount(), 10);
        model.setRoot(demo);
        QVERIFY(walk(model, {}, 1000, 64) > 0);
    }

    void treeModelDeep() {
        TreeModel model;
        QAbstractItemModelTester tester(&model, kReport);
        constexpr int kDepth = 200;
        model.setRoot(deepTree(kDepth));
        QVERIFY(model.rowCount() >= 2);
        // Each level has its container, a leaf (and a None in tuples); the last holds the array.
        const int seen = walk(model, {}, 10, kDepth + 2);
        QVERIFY2(seen > 2 * kDepth, qPrintable(QString::number(seen)));
        // The deepest index still maps back to its parents.
        QModelIndex index;
        int depth = 0;
        for (;;) {
            QModelIndex next;
            for (int row = 0; row < model.rowCount(index); ++row) {
                const QModelIndex child = model.index(row, 0, index);
                if (model.hasChildren(child)) next = child;
            }
            if (!next.isValid()) break;
            index = next;
            ++depth;
        }
        QCOMPARE(depth, kDepth - 1);  // the root container is not a row
        for (int d = 0; d < depth; ++d) index = index.parent();
        QVERIFY(!index.isValid());
    }

    void treeModelWide() {
        TreeModel model;
        QAbstractItemModelTester tester(&model, kReport);
        constexpr int kChildren = 10'000;
        model.setRoot(wideTree(kChildren));
        while (model.canFetchMore({})) model.fetchMore({});
        QCOMPARE(model.rowCount(), kChildren);
        // A sample of rows at both ends and in the middle, and their children.
        QVERIFY(walk(model, {}, 64, 2) > 0);
        for (int row :
             {0, 1, 2, 3, kChildren / 2, kChildren / 2 + 3, kChildren - 2, kChildren - 1}) {
            const QModelIndex index = model.index(row, 0);
            QVERIFY(index.isValid());
            QCOMPARE(index.data().toString(), QStringLiteral("k%1").arg(row));
            QCOMPARE(index.parent(), QModelIndex());
            QCOMPARE(model.hasChildren(index), row % 4 == 3);
            if (row % 4 == 3) {
                QCOMPARE(model.rowCount(index), 1);
                QCOMPARE(model.index(0, 0, index).parent(), index);
            }
        }
    }
};

QTEST_MAIN(TestModelTesters)
#include "tst_model_testers.moc"
