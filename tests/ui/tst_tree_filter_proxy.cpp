// Tests for ckpt::ui::TreeFilterProxy: which rows a filter result keeps (matches, their
// ancestors, whole matched subtrees), sorting by the number columns, and model-API conformance
// (QAbstractItemModelTester) while filters and sorting change.
#include <QAbstractItemModelTester>
#include <QTest>
#include <memory>
#include <string>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/tree_query.h"
#include "models/tree_filter_proxy.h"
#include "models/tree_model.h"

using ckpt::PatternSyntax;
using ckpt::ui::TreeFilterProxy;
using ckpt::ui::TreeModel;

namespace {

std::shared_ptr<const ckpt::TreeFilterResult> filterOf(const TreeModel& model,
                                                       const std::string& pattern,
                                                       PatternSyntax syntax) {
    auto compiled = ckpt::KeyPathPattern::compile(pattern, syntax);
    if (!compiled.isOk()) return nullptr;
    auto result = ckpt::filterTree(model.root(), *compiled);
    if (!result.isOk()) return nullptr;
    return std::make_shared<const ckpt::TreeFilterResult>(std::move(result).value());
}

QStringList names(const QAbstractItemModel& model, const QModelIndex& parent = {}) {
    QStringList result;
    for (int row = 0; row < model.rowCount(parent); ++row) {
        result.append(model.index(row, TreeModel::kNameColumn, parent).data().toString());
    }
    return result;
}

// Every visible key path, depth first, in the proxy's order.
void collect(const QAbstractItemModel& model, const QModelIndex& parent, QStringList& out) {
    for (int row = 0; row < model.rowCount(parent); ++row) {
        const QModelIndex index = model.index(row, 0, parent);
        out.append(index.data(TreeModel::kKeyPathRole).toString());
        collect(model, index, out);
    }
}

QStringList visiblePaths(const QAbstractItemModel& model) {
    QStringList out;
    collect(model, {}, out);
    return out;
}

ckpt::NodePtr floatArray(std::int64_t elements) {
    auto array = ckpt::Array::allocate(ckpt::DType::kFloat32, {elements}).value();
    return ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(array)));
}

}  // namespace

class TestTreeFilterProxy : public QObject {
    Q_OBJECT

private slots:
    void showsEverythingWithoutAFilter() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        TreeFilterProxy proxy;
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        QVERIFY(!proxy.isFiltering());
        QCOMPARE(names(proxy), (QStringList{"step", "params", "opt_state", "config", "data"}));
        QCOMPARE(visiblePaths(proxy).size(), 27);
    }

    void keepsMatchesAndTheirAncestors() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        TreeFilterProxy proxy;
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        auto result = filterOf(model, "kernel", PatternSyntax::kGlob);
        QVERIFY(result);
        QCOMPARE(result->matchCount, quint64{3});
        proxy.setFilterResult(result);
        QVERIFY(proxy.isFiltering());
        QCOMPARE(visiblePaths(proxy),
                 (QStringList{"params", "params/Dense_0", "params/Dense_0/kernel", "opt_state",
                              "opt_state/0", "opt_state/0/mu", "opt_state/0/mu/Dense_0",
                              "opt_state/0/mu/Dense_0/kernel", "opt_state/0/nu",
                              "opt_state/0/nu/Dense_0", "opt_state/0/nu/Dense_0/kernel"}));

        // Clearing shows everything again.
        proxy.setFilterResult(nullptr);
        QCOMPARE(visiblePaths(proxy).size(), 27);
    }

    void showsWholeMatchedSubtrees() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        TreeFilterProxy proxy;
        proxy.setSourceModel(&model);
        proxy.setFilterResult(filterOf(model, "^config$", PatternSyntax::kRegex));
        QCOMPARE(visiblePaths(proxy),
                 (QStringList{"config", "config/learning_rate", "config/model", "config/layers",
                              "config/layers/0", "config/layers/1", "config/use_bias"}));
    }

    void hidesEverythingWhenNothingMatches() {
        TreeModel model;
        model.setRoot(ckpt::makeDemoTrainState());
        TreeFilterProxy proxy;
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        auto result = filterOf(model, "no such key", PatternSyntax::kSubstring);
        QVERIFY(result);
        QVERIFY(!result->root);
        proxy.setFilterResult(result);
        QCOMPARE(proxy.rowCount(), 0);
    }

    void sortsNumberColumnsAsNumbers() {
        // Sizes 40 B, 400 B, 4 B: as text "400 B" < "40 B" < "4 B" would be wrong.
        const ckpt::NodePtr root = ckpt::Node::makeDict(
            {{"b", floatArray(10)}, {"a", floatArray(100)}, {"c", floatArray(1)}});
        TreeModel model;
        model.setRoot(root);
        TreeFilterProxy proxy;
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        QCOMPARE(names(proxy), (QStringList{"b", "a", "c"}));  // the checkpoint's order
        proxy.sort(TreeModel::kSizeColumn, Qt::AscendingOrder);
        QCOMPARE(names(proxy), (QStringList{"c", "b", "a"}));
        proxy.sort(TreeModel::kSizeColumn, Qt::DescendingOrder);
        QCOMPARE(names(proxy), (QStringList{"a", "b", "c"}));
        proxy.sort(TreeModel::kNameColumn, Qt::AscendingOrder);
        QCOMPARE(names(proxy), (QStringList{"a", "b", "c"}));
        proxy.sort(-1);
        QCOMPARE(names(proxy), (QStringList{"b", "a", "c"}));
    }

    void resortsWhenTotalsArrive() {
        // Containers' sizes are unknown (sorted first) until the rollups come.
        const ckpt::NodePtr root = ckpt::Node::makeDict(
            {{"big", ckpt::Node::makeDict({{"x", floatArray(1000)}})},
             {"small", ckpt::Node::makeDict({{"x", floatArray(1)}})},
             {"leaf", floatArray(10)}});
        TreeModel model;
        model.setRoot(root);
        TreeFilterProxy proxy;
        QAbstractItemModelTester tester(&proxy,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.setSourceModel(&model);
        proxy.sort(TreeModel::kSizeColumn, Qt::DescendingOrder);
        QCOMPARE(names(proxy).last(), QStringLiteral("small"));  // unknown sorts lowest
        auto rollups = ckpt::computeRollups(root);
        QVERIFY(rollups.isOk());
        model.setRollups(std::make_shared<const ckpt::TreeRollups>(std::move(rollups).value()));
        QCOMPARE(names(proxy), (QStringList{"big", "leaf", "small"}));
    }

    void filtersAHundredThousandLeafTreeByRows() {
        std::vector<ckpt::DictEntry> layers;
        const ckpt::NodePtr leaf = floatArray(4);
        for (int i = 0; i < 1000; ++i) {
            std::vector<ckpt::DictEntry> layer;
            for (int j = 0; j < 100; ++j) layer.push_back({"w" + std::to_string(j), leaf});
            layers.push_back({"layer_" + std::to_string(i), ckpt::Node::makeDict(std::move(layer))});
        }
        TreeModel model;
        model.setRoot(ckpt::Node::makeDict(std::move(layers)));
        TreeFilterProxy proxy;
        proxy.setSourceModel(&model);
        // The shared leaf is matched only where its path matches.
        proxy.setFilterResult(filterOf(model, "layer_99*/w7", PatternSyntax::kGlob));
        QCOMPARE(names(proxy), (QStringList{"layer_99", "layer_990", "layer_991", "layer_992",
                                            "layer_993", "layer_994", "layer_995", "layer_996",
                                            "layer_997", "layer_998", "layer_999"}));
        QCOMPARE(names(proxy, proxy.index(3, 0)), QStringList{"w7"});
    }
};

QTEST_MAIN(TestTreeFilterProxy)
#include "tst_tree_filter_proxy.moc"
