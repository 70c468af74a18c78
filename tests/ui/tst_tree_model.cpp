// Tests for ckpt::ui::TreeModel: model-API conformance (QAbstractItemModelTester), the values
// shown in each column, lazy behaviour on huge containers, and resets.
#include <QAbstractItemModelTester>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"
#include "models/tree_model.h"

using ckpt::ui::TreeModel;

namespace {

ckpt::NodePtr floatArray(ckpt::Shape shape) {
    auto array = ckpt::Array::allocate(ckpt::DType::kFloat32, std::move(shape)).value();
    std::memset(array.bytes().data(), 0, array.byteSize());
    return ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(array)));
}

// A dict of `count` children that share two leaves (the tree is immutable, so sharing is fine):
// even rows an int64 scalar, odd rows a float32 array of shape (4,).
ckpt::NodePtr wideDict(std::size_t count) {
    const ckpt::NodePtr scalar = ckpt::Node::makeScalar(ckpt::Scalar::fromInt64(7));
    const ckpt::NodePtr array = floatArray({4});
    std::vector<ckpt::DictEntry> entries;
    entries.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        entries.push_back({"k" + std::to_string(i), i % 2 == 0 ? scalar : array});
    }
    return ckpt::Node::makeDict(std::move(entries));
}

QString text(const QModelIndex& index, int column, int role = Qt::DisplayRole) {
    return index.siblingAtColumn(column).data(role).toString();
}

quint64 sizeBytes(const QModelIndex& index) {
    return index.siblingAtColumn(TreeModel::kSizeColumn)
        .data(TreeModel::kSizeBytesRole)
        .toULongLong();
}

// What the window does off the GUI thread: compute the totals and hand them to the model.
void setRollups(TreeModel& model) {
    auto rollups = ckpt::computeRollups(model.root());
    QVERIFY(rollups.isOk());
    model.setRollups(std::make_shared<const ckpt::TreeRollups>(std::move(rollups).value()));
}

QStringList rowNames(const TreeModel& model, const QModelIndex& parent = {}) {
    QStringList names;
    for (int row = 0; row < model.rowCount(parent); ++row) {
        names.append(model.index(row, TreeModel::kNameColumn, parent).data().toString());
    }
    return names;
}

QModelIndex indexAt(const TreeModel& model, const ckpt::KeyPath& path) {
    return model.indexForKeyPath(path);
}

// An array whose metadata is "read on first use", like the arrays of a large Orbax checkpoint:
// counts the members that would have blocked (read metadata) while metadataLoaded() was false.
class GatedSource final : public ckpt::ArraySource {
public:
    explicit GatedSource(ckpt::Status error = {}) : m_error(std::move(error)) {}
    bool metadataLoaded() const override { return m_loaded; }
    ckpt::Status metadataStatus() const override {
        m_loaded = true;
        return m_error;
    }
    ckpt::DType dtype() const override {
        touch();
        return m_error.isOk() ? ckpt::DType::kFloat32 : ckpt::DType::kUInt8;
    }
    const ckpt::Shape& shape() const override {
        touch();
        return m_error.isOk() ? m_shape : m_empty;
    }
    ckpt::Status readInto(const ckpt::Selection&, std::span<std::byte> out,
                          const ckpt::CancelToken*) const override {
        if (!m_error.isOk()) return m_error;
        std::memset(out.data(), 0, out.size());
        return {};
    }
    int blockingCalls() const { return m_blocking; }

private:
    void touch() const {
        if (!m_loaded) ++m_blocking;
        m_loaded = true;
    }
    ckpt::Status m_error;
    ckpt::Shape m_shape{2, 3};
    ckpt::Shape m_empty{0};
    mutable std::atomic<bool> m_loaded{false};
    mutable std::atomic<int> m_blocking{0};
};

}  // namespace

class TestTreeModel : public QObject {
    Q_OBJECT

private slots:
    void passesModelTesterOnDemoTree() {
        TreeModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setRoot(ckpt::makeDemoTrainState());
        QCOMPARE(model.rowCount(), 5);
        // Touch every level so that the tester's checks see lazily made wrappers too.
        QVERIFY(indexAt(model, {"opt_state", "0", "mu", "Dense_0", "kernel"}).isValid());
        model.setRoot(nullptr);
        QCOMPARE(model.rowCount(), 0);
    }

    void passesModelTesterOnHundredThousandChildren() {
        TreeModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setRoot(wideDict(100'000));
        QCOMPARE(model.rowCount(), 100'000);
        const QModelIndex last = model.index(99'999, 0);
        QCOMPARE(text(last, TreeModel::kNameColumn), QStringLiteral("k99999"));
        QCOMPARE(text(last, TreeModel::kDTypeColumn), QStringLiteral("float32"));
        QCOMPARE(text(last, TreeModel::kShapeColumn), QStringLiteral("(4,)"));
        QCOMPARE(model.parent(last), QModelIndex());
    }

    void staysLazyForAMillionChildren() {
        const ckpt::NodePtr root = ckpt::Node::makeDict({{"layers", wideDict(1'000'000)}});
        TreeModel model;
        QElapsedTimer timer;
        timer.start();
        model.setRoot(root);
        const QModelIndex layers = model.index(0, 0);
        QCOMPARE(model.rowCount(layers), 1'000'000);
        const QModelIndex row = model.index(999'998, TreeModel::kNameColumn, layers);
        QCOMPARE(row.data().toString(), QStringLiteral("k999998"));
        QCOMPARE(model.parent(row), layers);
        QCOMPARE(text(row, TreeModel::kKindColumn), QStringLiteral("scalar"));
        // Container totals wait for the background rollups: nothing walks the children here.
        QCOMPARE(text(layers, TreeModel::kSizeColumn), QStringLiteral("\u2026"));
        QVERIFY(!layers.siblingAtColumn(TreeModel::kSizeColumn)
                     .data(TreeModel::kSizeBytesRole)
                     .isValid());
        // Nothing above may walk the million children; generous bound for slow machines.
        QVERIFY2(timer.elapsed() < 500, qPrintable(QString::number(timer.elapsed())));
        setRollups(model);
        // 500,000 × 8 B + 500,000 × 16 B.
        QCOMPARE(sizeBytes(layers), quint64{12'000'000});
        QCOMPARE(text(layers, TreeModel::kSizeColumn), QStringLiteral("11.4 MiB"));
        QCOMPARE(text(layers, TreeModel::kShapeColumn), QStringLiteral("1,000,000 keys"));
    }

    void showsTopLevelNamesInTreeOrder() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        QCOMPARE(rowNames(model), (QStringList{"step", "params", "opt_state", "config", "data"}));
        const QModelIndex config = model.index(3, 0);
        QCOMPARE(rowNames(model, config),
                 (QStringList{"learning_rate", "model", "layers", "use_bias"}));
        QCOMPARE(rowNames(model, model.index(0, 0, model.index(4, 0))), QStringList());
        QCOMPARE(rowNames(model, model.index(4, 0)), (QStringList{"0", "1"}));
    }

    void showsArrayDtypeShapeAndSize() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        const QModelIndex kernel = indexAt(model, {"params", "Dense_0", "kernel"});
        QVERIFY(kernel.isValid());
        QCOMPARE(text(kernel, TreeModel::kNameColumn), QStringLiteral("kernel"));
        QCOMPARE(text(kernel, TreeModel::kKindColumn), QStringLiteral("array"));
        QCOMPARE(text(kernel, TreeModel::kDTypeColumn), QStringLiteral("float32"));
        QCOMPARE(text(kernel, TreeModel::kShapeColumn), QStringLiteral("(5, 3)"));
        QCOMPARE(text(kernel, TreeModel::kSizeColumn), QStringLiteral("60 B"));
        QCOMPARE(sizeBytes(kernel), quint64{60});
        QVERIFY(kernel.flags() & Qt::ItemNeverHasChildren);

        const QModelIndex bias = kernel.sibling(1, 0);
        QCOMPARE(text(bias, TreeModel::kShapeColumn), QStringLiteral("(3,)"));
        QCOMPARE(text(bias, TreeModel::kSizeColumn), QStringLiteral("12 B"));

        const QModelIndex data1 = indexAt(model, {"data", "1"});
        QCOMPARE(text(data1, TreeModel::kDTypeColumn), QStringLiteral("int32"));
        QCOMPARE(text(data1, TreeModel::kShapeColumn), QStringLiteral("(2, 2)"));
    }

    void rollsUpContainerSizes() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        const QModelIndex dense = indexAt(model, {"params", "Dense_0"});
        QCOMPARE(text(dense, TreeModel::kSizeColumn), QStringLiteral("\u2026"));
        QCOMPARE(text(dense, TreeModel::kParametersColumn), QStringLiteral("\u2026"));
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        setRollups(model);
        QCOMPARE(changed.count(), 1);
        QCOMPARE(sizeBytes(dense), quint64{72});  // kernel 60 + bias 12
        QCOMPARE(text(dense, TreeModel::kSizeColumn), QStringLiteral("72 B"));
        QCOMPARE(text(dense, TreeModel::kShapeColumn), QStringLiteral("2 keys"));
        QCOMPARE(text(dense, TreeModel::kDTypeColumn), QString());
        // opt_state: count (int64, 8) + mu (72) + nu (72) + None.
        const QModelIndex optState = indexAt(model, {"opt_state"});
        QCOMPARE(text(optState, TreeModel::kKindColumn), QStringLiteral("tuple"));
        QCOMPARE(text(optState, TreeModel::kShapeColumn), QStringLiteral("2 items"));
        QCOMPARE(sizeBytes(optState), quint64{152});
        // config: learning_rate 8 + "mlp" 0 + layers 2 × 8 + use_bias 1.
        QCOMPARE(sizeBytes(indexAt(model, {"config"})), quint64{25});
        // Asking again gives the cached value.
        QCOMPARE(sizeBytes(optState), quint64{152});

        quint64 total = 0;
        for (int row = 0; row < model.rowCount(); ++row) total += sizeBytes(model.index(row, 0));
        QCOMPARE(total, quint64{289});
        QCOMPARE(total, ckpt::summarizeTree(model.root()).byteCount);

        // Parameters: kernel 15 + bias 3.
        QCOMPARE(text(dense, TreeModel::kParametersColumn), QStringLiteral("18"));
        QCOMPARE(dense.siblingAtColumn(TreeModel::kParametersColumn)
                     .data(TreeModel::kParametersRole)
                     .toULongLong(),
                 quint64{18});
        // In-memory arrays are "stored" as their bytes: Dense_0's share of the 3 × 72 + 16 + 16 B
        // of arrays (params, mu, nu, data) is 72 / 248.
        QCOMPARE(text(dense, TreeModel::kStoredColumn), QStringLiteral("72 B"));
        QCOMPARE(text(dense, TreeModel::kShareColumn),
                 QString::number(100.0 * 72 / 248, 'f', 1) + QLatin1Char('%'));
        // Scalars live in the metadata: no disk columns.
        QCOMPARE(text(indexAt(model, {"step"}), TreeModel::kStoredColumn), QString());
        // Numbers sort as numbers, unknown first.
        QCOMPARE(dense.siblingAtColumn(TreeModel::kSizeColumn).data(TreeModel::kSortRole),
                 QVariant::fromValue<qulonglong>(73));
        QCOMPARE(text(dense, TreeModel::kNameColumn, TreeModel::kSortRole),
                 QStringLiteral("Dense_0"));
        // Rollups of another tree are not shown.
        auto other = ckpt::computeRollups(ckpt::makeDemoTrainState());
        QVERIFY(other.isOk());
        model.setRollups(std::make_shared<const ckpt::TreeRollups>(std::move(other).value()));
        QCOMPARE(text(dense, TreeModel::kSizeColumn), QStringLiteral("\u2026"));
        // Leaves still show what their own metadata tells.
        QCOMPARE(text(indexAt(model, {"params", "Dense_0", "kernel"}), TreeModel::kSizeColumn),
                 QStringLiteral("60 B"));
    }

    void lazyArraysShowEllipsisUntilTheRollupsLoadThem() {
        auto ok = std::make_shared<GatedSource>();
        auto bad = std::make_shared<GatedSource>(ckpt::Status(
            ckpt::StatusCode::kNotFound, "_METADATA: at key path 'bad': zarr.json is missing"));
        TreeModel model;
        model.setRoot(ckpt::Node::makeDict({{"ok", ckpt::Node::makeArray(ok)},
                                            {"bad", ckpt::Node::makeArray(bad)}}));
        const QModelIndex okIndex = indexAt(model, {"ok"});
        const QModelIndex badIndex = indexAt(model, {"bad"});
        const QString ellipsis = QStringLiteral("\u2026");
        // Every column, tooltip and role of both rows, as a view and a sort proxy ask for them:
        // nothing may read metadata on the GUI thread.
        for (const QModelIndex& index : {okIndex, badIndex}) {
            for (int column = 0; column < TreeModel::kColumnCount; ++column) {
                for (int role : {int(Qt::DisplayRole), int(Qt::ToolTipRole),
                                 int(TreeModel::kSortRole), int(TreeModel::kSizeBytesRole),
                                 int(TreeModel::kParametersRole)}) {
                    (void)index.siblingAtColumn(column).data(role);
                }
            }
        }
        QCOMPARE(ok->blockingCalls(), 0);
        QCOMPARE(bad->blockingCalls(), 0);
        QVERIFY(!ok->metadataLoaded());
        QCOMPARE(text(okIndex, TreeModel::kKindColumn), QStringLiteral("array"));
        QCOMPARE(text(okIndex, TreeModel::kDTypeColumn), ellipsis);
        QCOMPARE(text(okIndex, TreeModel::kShapeColumn), ellipsis);
        QCOMPARE(text(okIndex, TreeModel::kSizeColumn), ellipsis);

        // The rollups job (off the GUI thread in the window) loads them; the model repaints the
        // kind, dtype and shape columns too.
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        setRollups(model);
        QCOMPARE(changed.count(), 1);
        const QModelIndex from = changed.first().at(0).value<QModelIndex>();
        QVERIFY(from.column() <= TreeModel::kKindColumn);
        QCOMPARE(text(okIndex, TreeModel::kDTypeColumn), QStringLiteral("float32"));
        QCOMPARE(text(okIndex, TreeModel::kShapeColumn), QStringLiteral("(2, 3)"));
        QCOMPARE(text(okIndex, TreeModel::kSizeColumn), QStringLiteral("24 B"));
        QCOMPARE(text(badIndex, TreeModel::kKindColumn), QStringLiteral("unreadable"));
        QCOMPARE(text(badIndex, TreeModel::kDTypeColumn), QString());
        QVERIFY2(text(badIndex, TreeModel::kNameColumn, Qt::ToolTipRole)
                     .contains(QStringLiteral("zarr.json is missing")),
                 qPrintable(text(badIndex, TreeModel::kNameColumn, Qt::ToolTipRole)));
    }

    void showsScalarStringAndNoneLeaves() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        const QModelIndex step = indexAt(model, {"step"});
        QCOMPARE(text(step, TreeModel::kKindColumn), QStringLiteral("scalar"));
        QCOMPARE(text(step, TreeModel::kDTypeColumn), QStringLiteral("int64"));
        QCOMPARE(text(step, TreeModel::kShapeColumn), QStringLiteral("()"));
        QCOMPARE(text(step, TreeModel::kSizeColumn), QStringLiteral("8 B"));
        QVERIFY2(text(step, TreeModel::kNameColumn, Qt::ToolTipRole).contains("int64 = 100"),
                 qPrintable(text(step, TreeModel::kNameColumn, Qt::ToolTipRole)));

        const QModelIndex rate = indexAt(model, {"config", "learning_rate"});
        QCOMPARE(text(rate, TreeModel::kDTypeColumn), QStringLiteral("float64"));
        QVERIFY(text(rate, TreeModel::kDTypeColumn, Qt::ToolTipRole).contains("0.001"));

        const QModelIndex name = indexAt(model, {"config", "model"});
        QCOMPARE(text(name, TreeModel::kKindColumn), QStringLiteral("string"));
        QCOMPARE(text(name, TreeModel::kDTypeColumn), QStringLiteral("str"));
        QCOMPARE(text(name, TreeModel::kSizeColumn), QString());
        QVERIFY(text(name, TreeModel::kShapeColumn, Qt::ToolTipRole).contains("mlp"));

        const QModelIndex none = indexAt(model, {"opt_state", "1"});
        QCOMPARE(text(none, TreeModel::kKindColumn), QStringLiteral("none"));
        QCOMPARE(text(none, TreeModel::kDTypeColumn), QStringLiteral("None"));
        QCOMPARE(model.rowCount(none), 0);
        QVERIFY(!model.hasChildren(none));
    }

    void escapesStringTooltips() {
        TreeModel model;
        model.setRoot(ckpt::Node::makeDict({{"note", ckpt::Node::makeString("<b>x</b> & y")}}));
        const QString tip = text(model.index(0, 0), TreeModel::kNameColumn, Qt::ToolTipRole);
        QVERIFY2(tip.contains("&lt;b&gt;x&lt;/b&gt; &amp; y"), qPrintable(tip));
    }

    void keyPathRoleGivesFormattedPath() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        const QModelIndex kernel = indexAt(model, {"opt_state", "0", "nu", "Dense_0", "kernel"});
        QCOMPARE(text(kernel, TreeModel::kShapeColumn, TreeModel::kKeyPathRole),
                 QStringLiteral("opt_state/0/nu/Dense_0/kernel"));
        QCOMPARE(model.keyPathAt(kernel),
                 (ckpt::KeyPath{"opt_state", "0", "nu", "Dense_0", "kernel"}));
        QCOMPARE(model.nodeAt(kernel)->kind(), ckpt::NodeKind::kArray);
    }

    void keyPathRoleEscapesSlashes() {
        TreeModel model;
        model.setRoot(
            ckpt::Node::makeDict({{"a/b", ckpt::Node::makeDict({{"c", ckpt::Node::makeNone()}})}}));
        const QModelIndex c = model.index(0, 0, model.index(0, 0));
        QCOMPARE(c.data(TreeModel::kKeyPathRole).toString(), QStringLiteral("a\\/b/c"));
        QCOMPARE(model.index(0, 0).data().toString(), QStringLiteral("a/b"));
    }

    void rejectsMissingKeyPaths() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        QVERIFY(!indexAt(model, {"params", "nope"}).isValid());
        QVERIFY(!indexAt(model, {"data", "2"}).isValid());
        QVERIFY(!indexAt(model, {"data", "01"}).isValid());  // one spelling per index, as in core
        QVERIFY(!indexAt(model, {"step", "x"}).isValid());
        QVERIFY(!indexAt(model, {}).isValid());
    }

    void showsLeafRootAsSingleRow() {
        TreeModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::Fatal);
        model.setRoot(floatArray({2, 8}));
        QCOMPARE(model.rowCount(), 1);
        const QModelIndex root = model.index(0, 0);
        QCOMPARE(root.data().toString(), QStringLiteral("(root)"));
        QCOMPARE(text(root, TreeModel::kShapeColumn), QStringLiteral("(2, 8)"));
        QCOMPARE(sizeBytes(root), quint64{64});
        QCOMPARE(model.keyPathAt(root), ckpt::KeyPath{});
        QCOMPARE(model.indexForKeyPath({}), root);
    }

    void setRootResetsModel() {
        TreeModel model;
        QSignalSpy aboutToReset(&model, &QAbstractItemModel::modelAboutToBeReset);
        QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
        model.setRoot(ckpt::makeDemoTrainState());
        QCOMPARE(reset.count(), 1);
        QCOMPARE(aboutToReset.count(), 1);
        QCOMPARE(model.rowCount(), 5);
        QVERIFY(indexAt(model, {"params", "Dense_0"}).isValid());

        model.setRoot(wideDict(3));
        QCOMPARE(reset.count(), 2);
        QCOMPARE(rowNames(model), (QStringList{"k0", "k1", "k2"}));
        QVERIFY(!indexAt(model, {"params"}).isValid());

        model.setRoot(nullptr);
        QCOMPARE(reset.count(), 3);
        QCOMPARE(model.rowCount(), 0);
        QVERIFY(!model.index(0, 0).isValid());
    }

    void hasEightHeaderColumns() {
        TreeModel model;
        QCOMPARE(model.columnCount(), 8);
        QStringList headers;
        for (int column = 0; column < model.columnCount(); ++column) {
            headers.append(model.headerData(column, Qt::Horizontal).toString());
        }
        QCOMPARE(headers, (QStringList{"Name", "Kind", "DType", "Shape", "Parameters", "Size",
                                       "On disk", "% of disk"}));
    }
};

QTEST_MAIN(TestTreeModel)
#include "tst_tree_model.moc"
