#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "tests/test_util.h"

using namespace ckpt;

class TestTree : public QObject {
    Q_OBJECT
private slots:
    void findsNodesByKeyPath() {
        NodePtr root = makeDemoTrainState();
        auto kernel = findNode(root, {"params", "Dense_0", "kernel"});
        CKPT_VERIFY_OK(kernel);
        QCOMPARE((*kernel)->kind(), NodeKind::kArray);
        QCOMPARE((*kernel)->array()->shape(), (Shape{5, 3}));
        auto item = findNode(root, {"data", "1"});
        CKPT_VERIFY_OK(item);
        QCOMPARE((*item)->array()->shape(), (Shape{2, 2}));
        auto tupleItem = findNode(root, {"opt_state", "1"});
        CKPT_VERIFY_OK(tupleItem);
        QCOMPARE((*tupleItem)->kind(), NodeKind::kNone);
    }
    void missingKeysNameThePath() {
        NodePtr root = makeDemoTrainState();
        auto r = findNode(root, {"params", "Dense_1", "kernel"});
        QCOMPARE(r.status().code(), StatusCode::kNotFound);
        QVERIFY(r.status().message().find("'params' has no child 'Dense_1'") != std::string::npos);
        auto leaf = findNode(root, {"step", "x"});
        QVERIFY(leaf.status().message().find("'step' is a scalar") != std::string::npos);
        QVERIFY(!findNode(root, {"data", "01"}).isOk());  // one spelling per index
        QVERIFY(!findNode(root, {"data", "2"}).isOk());
    }
    void summarizesParametersAndBytes() {
        NodePtr root = makeDemoTrainState();
        const TreeSummary s = summarizeTree(root);
        // arrays: 3 x (kernel 15 + bias 3) f32 + data 4 + 4 i32; scalars: step, count, lr,
        // layers x2, use_bias.
        QCOMPARE(s.arrayCount, std::uint64_t{8});
        QCOMPARE(s.parameterCount, std::uint64_t{3 * 18 + 8 + 6});
        QCOMPARE(s.byteCount, std::uint64_t{3 * 18 * 4 + 8 * 4 + 8 + 8 + 8 + 8 + 8 + 1});
        QCOMPARE(s.leafCount, std::uint64_t{8 + 6 + 2});  // + model string + None
    }
    void walkVisitsParentsFirstWithPaths() {
        NodePtr root = makeDemoTrainState();
        std::vector<std::string> paths;
        walkTree(root, [&](const KeyPath& p, const Node&) {
            paths.push_back(formatKeyPath(p));
            return p.size() < 2;  // stop below depth 2
        });
        QCOMPARE(paths.front(), std::string());
        QVERIFY(std::find(paths.begin(), paths.end(), "params/Dense_0") != paths.end());
        QVERIFY(std::find(paths.begin(), paths.end(), "params/Dense_0/kernel") == paths.end());
    }
    void selectsSubtreesInSourceOrder() {
        NodePtr root = makeDemoTrainState();
        auto sel = selectSubtrees(root, {{"params"}, {"step"}, {"data", "1"}});
        CKPT_VERIFY_OK(sel);
        const Node& n = **sel;
        QCOMPARE(n.childCount(), std::size_t{3});
        QCOMPARE(n.childKey(0), std::string("step"));
        QCOMPARE(n.childKey(1), std::string("params"));
        QCOMPARE(n.childKey(2), std::string("data"));
        // A partial list keeps its original indices as dict keys.
        QCOMPARE(n.child(2)->kind(), NodeKind::kDict);
        QCOMPARE(n.child(2)->childKey(0), std::string("1"));
        QCOMPARE(n.child(1).get(), findNode(root, {"params"})->get());  // shared, not copied
        CKPT_VERIFY_ERROR(selectSubtrees(root, {{"nope"}}), StatusCode::kNotFound);
    }
    void scalarsKeepExactBitsAndPrintLikePython() {
        QCOMPARE(Scalar::fromBool(true).toText(), std::string("True"));
        QCOMPARE(Scalar::fromInt64(-7).toText(), std::string("-7"));
        QCOMPARE(Scalar::fromUInt64(18446744073709551615ULL).toText(), std::string("18446744073709551615"));
        QCOMPARE(Scalar::fromFloat64(2.0).toText(), std::string("2.0"));
        QCOMPARE(Scalar::fromComplex128({1, -2}).toText(), std::string("(1.0-2.0j)"));
        QVERIFY(!Scalar::fromBits(DType::kFloat32, std::vector<std::byte>(3)).isOk());
    }

    void attributesAreFoundByKey() {
        const NodePtr plain = Node::makeNone();
        QVERIFY(plain->attribute("error") == nullptr);
        const NodePtr marked = plain->withAttributes({{"units", "m"}, {"error", "Corruption: x"}});
        QVERIFY(marked->attribute("error") != nullptr);
        QCOMPARE(*marked->attribute("error"), std::string("Corruption: x"));
        QCOMPARE(*marked->attribute("units"), std::string("m"));
        QVERIFY(marked->attribute("err") == nullptr);
        QVERIFY(plain->attribute("error") == nullptr);  // the original is unchanged
    }
};

QTEST_GUILESS_MAIN(TestTree)
#include "tst_tree.moc"
