// planConform: plans that make a tree restore exactly into a reference (checked with preflight),
// every fill mode, rename rules with captures and cycles, casts, suggestions, errors naming the
// key path, stacks and unstacks between unrolled and scan layouts, and the plan as a recipe.
#include <cstring>

#include "ckpt/core/conform.h"
#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"
#include "edit_testing.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;
using test::arrayOf;

namespace {

KeyPath kp(const char* text) { return parseKeyPath(text).value(); }

NodePtr dict(std::vector<DictEntry> entries) { return Node::makeDict(std::move(entries)); }

NodePtr floats(Shape shape, const std::vector<float>& values) {
    return Node::makeArray(makeMemorySource(test::arrayFrom(DType::kFloat32, std::move(shape), values)));
}

bool contains(const Status& s, const std::string& text) {
    return s.message().find(text) != std::string::npos;
}

// Applies the plan and returns the preflight outcome of the result against `ref`.
PreflightOutcome outcomeAfter(const NodePtr& src, const NodePtr& ref, const ConformPlan& plan,
                              NodePtr* result = nullptr) {
    NodePtr tree = applyRecipe(src, plan.steps).value();
    if (result) *result = tree;
    return preflight(tree, ref).value().outcome;
}

std::size_t countKind(const ConformPlan& plan, EditKind kind) {
    std::size_t n = 0;
    for (const Edit& e : plan.steps) n += e.kind == kind ? 1 : 0;
    return n;
}

NodePtr node(const NodePtr& root, const char* path) { return findNode(root, kp(path)).value(); }

std::vector<float> ramp(std::size_t count, float base) {
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = base + static_cast<float>(i);
    return out;
}

// {"params": {"embed", "layers_0".."layers_{n-1}"}}: each layer a Dense with kernel (3, 2) and
// bias (2,), values 100k + i and 100k + 50 + i.
NodePtr unrolled(int n) {
    std::vector<DictEntry> params{{"embed", floats({2}, {1, 2})}};
    for (int k = 0; k < n; ++k) {
        const float base = 100.0F * static_cast<float>(k);
        params.push_back(
            {"layers_" + std::to_string(k),
             dict({{"Dense_0", dict({{"kernel", floats({3, 2}, ramp(6, base))},
                                     {"bias", floats({2}, ramp(2, base + 50))}})}})});
    }
    return dict({{"params", dict(std::move(params))}});
}

// The scan layout of unrolled(n): {"params": {"embed", "layers": {"Dense_0": {kernel (n, 3, 2),
// bias (n, 2)}}}}, values 0, 1, ...
NodePtr scanned(int n, DType dtype = DType::kFloat32) {
    const auto count = static_cast<std::size_t>(n);
    NodePtr kernel = floats({n, 3, 2}, ramp(count * 6, 0));
    NodePtr bias = floats({n, 2}, ramp(count * 2, 0));
    if (dtype != DType::kFloat32) {
        kernel = Node::makeArray(makeCastSource(kernel->array(), dtype).value());
        bias = Node::makeArray(makeCastSource(bias->array(), dtype).value());
    }
    return dict({{"params", dict({{"embed", floats({2}, {1, 2})},
                                  {"layers", dict({{"Dense_0", dict({{"kernel", kernel},
                                                                     {"bias", bias}})}})}})}});
}

std::vector<float> concat(const NodePtr& root, int n, const std::string& leaf) {
    std::vector<float> out;
    for (int k = 0; k < n; ++k) {
        const std::string path = "params/layers_" + std::to_string(k) + "/Dense_0/" + leaf;
        const auto part = test::valuesOf<float>(*node(root, path.c_str())->array());
        out.insert(out.end(), part.begin(), part.end());
    }
    return out;
}

}  // namespace

class TestConform : public QObject {
    Q_OBJECT
private slots:
    void dropsExtraKeysOrKeepsThem() {
        const NodePtr src = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {2, 3})}})},
                                  {"ema", dict({{"w", arrayOf(DType::kFloat32, {2, 3})}})},
                                  {"step", arrayOf(DType::kInt32, {})}});
        const NodePtr ref = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {2, 3})}})},
                                  {"step", arrayOf(DType::kInt32, {})}});
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{1});
        QCOMPARE(plan->steps[0].kind, EditKind::kDelete);
        QCOMPARE(plan->steps[0].path, kp("ema"));
        QCOMPARE(plan->notes.size(), std::size_t{1});
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        // Untouched leaves are the source's own nodes.
        QCOMPARE(node(out, "params/w"), node(src, "params/w"));

        ConformOptions keep;
        keep.dropExtra = false;
        auto kept = planConform(src, ref, keep);
        CKPT_VERIFY_OK(kept);
        QVERIFY(kept->steps.empty());
        QCOMPARE(outcomeAfter(src, ref, *kept), PreflightOutcome::kExtraKeys);
    }

    void fillsMissingKeysFromTheReference() {
        const NodePtr src = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {2})}})}});
        const NodePtr stats = dict({{"mean", floats({3}, {1.5F, -2.0F, 4.0F})},
                                    {"var", floats({3}, {0.5F, 0.25F, 1.0F})}});
        const NodePtr ref = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {2})}})},
                                  {"batch_stats", stats}});
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{1});
        QCOMPARE(plan->steps[0].kind, EditKind::kAdd);
        QCOMPARE(plan->steps[0].node.kind, NodeSpec::Kind::kReference);
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(test::valuesOf<float>(*node(out, "batch_stats/mean")->array()),
                 (std::vector<float>{1.5F, -2.0F, 4.0F}));
        QCOMPARE(test::valuesOf<float>(*node(out, "batch_stats/var")->array()),
                 (std::vector<float>{0.5F, 0.25F, 1.0F}));
    }

    void fillsWithZerosOrAConstant() {
        const NodePtr src = dict({{"w", arrayOf(DType::kFloat32, {2})}});
        const NodePtr ref = dict(
            {{"w", arrayOf(DType::kFloat32, {2})},
             {"extra", dict({{"b", floats({2, 2}, {1, 2, 3, 4})},
                             {"count", Node::makeScalar(Scalar::fromInt64(7, false))},
                             {"seq", Node::makeTuple({Node::makeNone(), Node::makeString("s")})}})}});
        ConformOptions zeros;
        zeros.fill = FillFrom::kZeros;
        auto plan = planConform(src, ref, zeros);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kAdd), plan->steps.size());
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(test::valuesOf<float>(*node(out, "extra/b")->array()),
                 (std::vector<float>{0, 0, 0, 0}));
        QCOMPARE(node(out, "extra/count")->loadScalar()->toInt64(), std::int64_t{0});
        QCOMPARE(node(out, "extra/count")->scalarDType(), DType::kInt64);
        QCOMPARE(node(out, "extra/seq")->kind(), NodeKind::kTuple);
        QCOMPARE(node(out, "extra/seq/0")->kind(), NodeKind::kNone);
        QCOMPARE(node(out, "extra/seq/1")->text(), std::string("s"));

        ConformOptions constant;
        constant.fill = FillFrom::kConstant;
        constant.constant = 2.5;
        plan = planConform(src, ref, constant);
        // 2.5 does not fit the int64 scalar: an error naming it.
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'extra/count'"), plan.status().toString().c_str());
        constant.constant = std::int64_t{3};
        plan = planConform(src, ref, constant);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(test::valuesOf<float>(*node(out, "extra/b")->array()),
                 (std::vector<float>{3, 3, 3, 3}));
        QCOMPARE(node(out, "extra/count")->loadScalar()->toInt64(), std::int64_t{3});

        ConformOptions none;
        none.fill = FillFrom::kNone;
        plan = planConform(src, ref, none);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'extra'") && contains(plan.status(), "missing"),
                 plan.status().toString().c_str());
    }

    void structureOnlyReferenceCannotFillValues() {
        const NodePtr src = parseStructure(R"({"ckpt_studio_structure": 1, "tree": {"type": "dict",
            "children": {}}})").value();
        const NodePtr ref = parseStructure(R"({"ckpt_studio_structure": 1, "tree": {"type": "dict",
            "children": {"w": {"type": "array", "dtype": "float32", "shape": [2]}}}})").value();
        auto plan = planConform(src, ref);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'w'") && contains(plan.status(), "structure only"),
                 plan.status().toString().c_str());
        ConformOptions zeros;
        zeros.fill = FillFrom::kZeros;
        plan = planConform(src, ref, zeros);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(outcomeAfter(src, ref, *plan), PreflightOutcome::kExact);
    }

    void renamesWithRegexCaptures() {
        const NodePtr k0 = floats({2}, {1, 2});
        const NodePtr k1 = floats({3}, {3, 4, 5});
        const NodePtr src = dict({{"params", dict({{"Dense_0", dict({{"kernel", k0}})},
                                                   {"Dense_1", dict({{"kernel", k1}})}})}});
        const NodePtr ref = dict(
            {{"params", dict({{"layer_0", dict({{"kernel", arrayOf(DType::kFloat32, {2})}})},
                              {"layer_1", dict({{"kernel", arrayOf(DType::kFloat32, {3})}})}})}});
        ConformOptions options;
        options.renames = {parseRenameRule(R"(Dense_(\d+)=layer_\1)").value()};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{2});
        QCOMPARE(countKind(*plan, EditKind::kRename), std::size_t{2});
        QCOMPARE(plan->steps[0].newKey, std::string("layer_0"));
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "params/layer_0/kernel"), k0);
        QCOMPARE(node(out, "params/layer_1/kernel"), k1);

        // A whole-path rule with $1 moves a subtree under a new parent.
        options.renames = {RenameRule{"params/Dense_(\\d+)", "model/blocks/b$1"}};
        const NodePtr movedRef = dict(
            {{"model", dict({{"blocks", dict({{"b0", dict({{"kernel", arrayOf(DType::kFloat32, {2})}})},
                                              {"b1", dict({{"kernel", arrayOf(DType::kFloat32, {3})}})}})}})}});
        plan = planConform(src, movedRef, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(outcomeAfter(src, movedRef, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "model/blocks/b1/kernel"), k1);
    }

    void renameCycleAndShiftAreOrdered() {
        // Shifting every layer up by one, and swapping two keys, need an order (and a
        // temporary key for the swap).
        const NodePtr a = floats({1}, {1});
        const NodePtr b = floats({2}, {2, 2});
        const NodePtr c = floats({3}, {3, 3, 3});
        const NodePtr src = dict({{"l0", a}, {"l1", b}, {"x", c}, {"y", a}});
        const NodePtr ref = dict({{"l1", arrayOf(DType::kFloat32, {1})},
                                  {"l2", arrayOf(DType::kFloat32, {2})},
                                  {"x", arrayOf(DType::kFloat32, {1})},
                                  {"y", arrayOf(DType::kFloat32, {3})}});
        ConformOptions options;
        options.renames = {RenameRule{"l1", "l2"}, RenameRule{"l0", "l1"}, RenameRule{"x", "y"},
                           RenameRule{"y", "x"}};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "l1"), a);
        QCOMPARE(node(out, "l2"), b);
        QCOMPARE(node(out, "y"), c);
        QCOMPARE(node(out, "x"), a);

        options.renames = {RenameRule{"l(\\d)", "same"}};
        plan = planConform(src, ref, options);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'l0'") && contains(plan.status(), "'same'"),
                 plan.status().toString().c_str());
        QVERIFY(!parseRenameRule("no-equals-sign").isOk());
        QVERIFY(!parseRenameRule("(unclosed=x").isOk());
        QCOMPARE(parseRenameRule(R"(a\=b=c)").value().pattern, std::string("a=b"));
    }

    void exactRulesMoveOnlyTheirPathAndRoundTripAsText() {
        // Keys full of regex metacharacters, '=', '$' and '\\' move exactly, nothing else.
        const KeyPath from{"p", "a.b(1)=[x]", "w$"};
        const KeyPath to{"p", "q=$1\\z", "w$"};
        const NodePtr leaf = floats({2}, {1.0F, 2.0F});
        const NodePtr src = dict({{"p", dict({{"a.b(1)=[x]", dict({{"w$", leaf}})},
                                              {"aXb(1)=[x]", dict({{"w$", leaf}})}})}});
        const NodePtr ref = dict({{"p", dict({{"q=$1\\z", dict({{"w$", leaf}})},
                                              {"aXb(1)=[x]", dict({{"w$", leaf}})}})}});
        const RenameRule rule = exactRenameRule({"p", "a.b(1)=[x]"}, {"p", "q=$1\\z"});
        const auto reparsed = parseRenameRule(formatRenameRule(rule));
        CKPT_VERIFY_OK(reparsed);
        QCOMPARE(reparsed->pattern, rule.pattern);
        QCOMPARE(reparsed->replacement, rule.replacement);
        ConformOptions options;
        options.renames = {*reparsed};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kDelete), std::size_t{0});
        QCOMPARE(countKind(*plan, EditKind::kAdd), std::size_t{0});
        const NodePtr out = applyRecipe(src, plan->steps).value();
        QCOMPARE(findNode(out, to).value(), leaf);
        QVERIFY(findNode(out, {"p", "aXb(1)=[x]", "w$"}).isOk());
        QVERIFY(!findNode(out, from).isOk());
    }

    void castsToTheReferenceDtype() {
        const NodePtr src = dict({{"w", floats({2}, {1.5F, 3.0F})}, {"n", arrayOf(DType::kInt32, {})}});
        const NodePtr ref = dict({{"w", arrayOf(DType::kFloat64, {2})}, {"n", arrayOf(DType::kInt64, {})}});
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kCast), std::size_t{2});
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "w")->array()->dtype(), DType::kFloat64);
        QCOMPARE(test::valuesOf<double>(*node(out, "w")->array()), (std::vector<double>{1.5, 3.0}));

        ConformOptions noCast;
        noCast.castToReference = false;
        plan = planConform(src, ref, noCast);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'w' is float32 (2,) in the source and float64 (2,)"),
                 plan.status().toString().c_str());
    }

    void unfixableShapeMismatchNamesTheKeyPath() {
        const NodePtr src = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {3, 4})},
                                                   {"b", arrayOf(DType::kFloat32, {4})}})}});
        const NodePtr ref = dict({{"params", dict({{"w", arrayOf(DType::kFloat32, {4, 3})},
                                                   {"b", arrayOf(DType::kBFloat16, {5})},
                                                   {"s", Node::makeString("x")}})}});
        auto plan = planConform(src, ref);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        const Status& s = plan.status();
        QVERIFY2(contains(s, "'params/w' has shape (3, 4) in the source and (4, 3) in the "
                             "reference"),
                 s.toString().c_str());
        QVERIFY2(contains(s, "'params/b'"), s.toString().c_str());
        // Kinds that cannot become one another.
        const NodePtr leafRef = dict({{"params", Node::makeString("x")}});
        plan = planConform(src, leafRef);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "'params' is a dict in the source and a string"),
                 plan.status().toString().c_str());
    }

    void convertsFlaxStateDictsToSequences() {
        const NodePtr src = dict({{"opt", dict({{"0", arrayOf(DType::kFloat32, {2})},
                                                {"1", Node::makeNone()}})}});
        const NodePtr ref = dict({{"opt", Node::makeTuple({arrayOf(DType::kFloat32, {2}),
                                                           Node::makeNone(),
                                                           arrayOf(DType::kInt32, {})})}});
        ConformOptions zeros;
        zeros.fill = FillFrom::kZeros;
        auto plan = planConform(src, ref, zeros);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kConvert), std::size_t{1});
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "opt")->kind(), NodeKind::kTuple);
    }

    void suggestsRenamedLayers() {
        const NodePtr src = dict({{"params", dict({{"layers_3", arrayOf(DType::kFloat32, {4, 4})},
                                                   {"Dense_2", arrayOf(DType::kFloat32, {8})},
                                                   {"bias", arrayOf(DType::kFloat32, {2})}})}});
        const NodePtr ref = dict({{"params", dict({{"layers_03", arrayOf(DType::kFloat32, {4, 4})},
                                                   {"Dense_1", arrayOf(DType::kFloat32, {8})},
                                                   {"other", arrayOf(DType::kFloat32, {9})},
                                                   {"bias", arrayOf(DType::kFloat32, {2})}})}});
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->suggestions.size(), std::size_t{2});
        const Suggestion& first = plan->suggestions[0];
        QCOMPARE(first.from, kp("params/layers_3"));
        QCOMPARE(first.to, kp("params/layers_03"));
        QVERIFY2(first.reason.find("same name and index") != std::string::npos, first.reason.c_str());
        const Suggestion& second = plan->suggestions[1];
        QCOMPARE(second.from, kp("params/Dense_2"));
        QCOMPARE(second.to, kp("params/Dense_1"));
        QVERIFY2(second.reason.find("another index") != std::string::npos, second.reason.c_str());
        QVERIFY(first.score > second.score);
        // When the plan fails, the error still names the likely renames.
        ConformOptions none;
        none.fill = FillFrom::kNone;
        auto failed = planConform(src, ref, none);
        QCOMPARE(failed.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(failed.status(), "(maybe renamed: 'params/layers_3' -> "
                                           "'params/layers_03', 'params/Dense_2' -> "
                                           "'params/Dense_1')"),
                 failed.status().toString().c_str());
        // A different shape is never suggested ("other" is float32[9]).
        for (const Suggestion& s : plan->suggestions) QVERIFY(s.to != kp("params/other"));

        // Same shape, unrelated names and parents: no suggestion.
        const NodePtr a = dict({{"params", dict({{"alpha", arrayOf(DType::kFloat32, {7})}})}});
        const NodePtr b = dict({{"params", dict({})},
                                {"zz", dict({{"qqqq", arrayOf(DType::kFloat32, {7})}})}});
        plan = planConform(a, b);
        CKPT_VERIFY_OK(plan);
        QVERIFY(plan->suggestions.empty());
    }

    void suggestsALayerShiftFromMismatchedNeighbours() {
        // REF lost its first layer: every SRC layer matches the REF layer one index lower, so
        // SRC's Dense_1 mismatches REF's Dense_1 in shape.
        const NodePtr d1 = floats({3}, {1, 2, 3});
        const NodePtr d2 = floats({4}, {4, 5, 6, 7});
        const NodePtr src = dict({{"params", dict({{"Dense_0", arrayOf(DType::kFloat32, {2})},
                                                   {"Dense_1", d1},
                                                   {"Dense_2", d2}})}});
        const NodePtr ref = dict({{"params", dict({{"Dense_0", arrayOf(DType::kFloat32, {3})},
                                                   {"Dense_1", arrayOf(DType::kFloat32, {4})}})}});
        auto plan = planConform(src, ref);
        QCOMPARE(plan.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(plan.status(), "(maybe renamed: 'params/Dense_1' -> 'params/Dense_0', "
                                         "'params/Dense_2' -> 'params/Dense_1')"),
                 plan.status().toString().c_str());
        // The suggested renames (with the old first layer moved out of the way) conform.
        ConformOptions options;
        options.renames = {RenameRule{"params/Dense_0", "params/old_Dense_0"},
                           RenameRule{"params/Dense_1", "params/Dense_0"},
                           RenameRule{"params/Dense_2", "params/Dense_1"}};
        plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        QCOMPARE(node(out, "params/Dense_0"), d1);
        QCOMPARE(node(out, "params/Dense_1"), d2);
    }

    void renamesThousandsOfKeys() {
        std::vector<DictEntry> blocks;
        std::vector<DictEntry> refBlocks;
        for (int i = 0; i < 300; ++i) {
            std::vector<DictEntry> leaves;
            std::vector<DictEntry> refLeaves;
            for (int j = 0; j < 10; ++j) {
                leaves.push_back({"w" + std::to_string(j), arrayOf(DType::kFloat32, {2})});
                refLeaves.push_back({"v" + std::to_string(j), arrayOf(DType::kFloat32, {2})});
            }
            blocks.push_back({"block_" + std::to_string(i), dict(std::move(leaves))});
            refBlocks.push_back({"layer_" + std::to_string(i), dict(std::move(refLeaves))});
        }
        const NodePtr src = dict(std::move(blocks));
        const NodePtr ref = dict(std::move(refBlocks));
        ConformOptions options;
        options.renames = {RenameRule{"w(\\d)", "v$1"}, RenameRule{"block_(\\d+)", "layer_$1"}};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{3300});
        QCOMPARE(outcomeAfter(src, ref, *plan), PreflightOutcome::kExact);
    }

    void stacksUnrolledLayersIntoTheReferencesScanLayout() {
        const NodePtr src = unrolled(4);
        const NodePtr ref = scanned(4);
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{1});
        QCOMPARE(plan->steps[0].kind, EditKind::kStack);
        QCOMPARE(plan->steps[0].path, kp("params"));
        QCOMPARE(plan->steps[0].prefix, std::string("layers_"));
        QCOMPARE(plan->steps[0].newKey, std::string("layers"));
        QCOMPARE(plan->notes.front(),
                 std::string("stack params/layers_0..layers_3 -> params/layers (the reference "
                             "has the scan layout: 4 layers along axis 0)"));
        QVERIFY(plan->suggestions.empty());
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        // np.stack of the layers, not the reference's values.
        QCOMPARE(test::valuesOf<float>(*node(out, "params/layers/Dense_0/kernel")->array()),
                 concat(src, 4, "kernel"));
        QCOMPARE(test::valuesOf<float>(*node(out, "params/layers/Dense_0/bias")->array()),
                 concat(src, 4, "bias"));

        // Another dtype in the reference: the stack, then a cast.
        auto cast = planConform(src, scanned(4, DType::kBFloat16));
        CKPT_VERIFY_OK(cast);
        QCOMPARE(countKind(*cast, EditKind::kStack), std::size_t{1});
        QCOMPARE(countKind(*cast, EditKind::kCast), std::size_t{2});
        QCOMPARE(outcomeAfter(src, scanned(4, DType::kBFloat16), *cast),
                 PreflightOutcome::kExact);
    }

    void unstacksAScanLayoutIntoTheReferencesLayers() {
        const NodePtr src = scanned(3);
        const NodePtr ref = unrolled(3);
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{1});
        QCOMPARE(plan->steps[0].kind, EditKind::kUnstack);
        QCOMPARE(plan->steps[0].path, kp("params/layers"));
        QCOMPARE(plan->steps[0].prefix, std::string("layers_"));
        QCOMPARE(plan->notes.front(),
                 std::string("unstack params/layers -> params/layers_0..layers_2 (the reference "
                             "is unrolled: 3 layers)"));
        NodePtr out;
        QCOMPARE(outcomeAfter(src, ref, *plan, &out), PreflightOutcome::kExact);
        // Layer k is row k of the stacked arrays: kernel 6k.., bias 2k...
        for (int k = 0; k < 3; ++k) {
            const std::string layer = "params/layers_" + std::to_string(k) + "/Dense_0/";
            QCOMPARE(test::valuesOf<float>(*node(out, (layer + "kernel").c_str())->array()),
                     ramp(6, 6.0F * static_cast<float>(k)));
            QCOMPARE(test::valuesOf<float>(*node(out, (layer + "bias").c_str())->array()),
                     ramp(2, 2.0F * static_cast<float>(k)));
        }
    }

    void layoutsThatDoNotMatchAreLeftToDeletesAndFills() {
        // Three layers against a scan of four: no stack; the layers are replaced by REF's.
        auto plan = planConform(unrolled(3), scanned(4));
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kStack), std::size_t{0});
        QCOMPARE(countKind(*plan, EditKind::kDelete), std::size_t{3});
        QCOMPARE(countKind(*plan, EditKind::kAdd), std::size_t{1});
        QCOMPARE(plan->notes.front(),
                 std::string("not stacking params/layers_*: the result at 'params/layers' does "
                             "not match the reference's shapes"));
        QCOMPARE(outcomeAfter(unrolled(3), scanned(4), *plan), PreflightOutcome::kExact);
        // Layers of different shapes: the note says which.
        NodePtr odd = applyEdit(unrolled(4), Edit::replace(kp("params/layers_2/Dense_0/bias"),
                                                           floats({3}, {1, 2, 3})))
                          .value();
        plan = planConform(odd, scanned(4));
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kStack), std::size_t{0});
        QVERIFY2(plan->notes.front().find("'params/layers_2/Dense_0/bias' is float32 (3,) but "
                                          "'params/layers_0/Dense_0/bias' is float32 (2,)") !=
                     std::string::npos,
                 plan->notes.front().c_str());
        // A scan of four against five unrolled layers: no unstack.
        plan = planConform(scanned(4), unrolled(5));
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kUnstack), std::size_t{0});
        QCOMPARE(plan->notes.front(),
                 std::string("not unstacking params/layers: it has 4 layers and the reference "
                             "more"));
    }

    void explicitStackAndUnstackOptions() {
        auto stack = parseStackOption("params/layers_=blocks");
        CKPT_VERIFY_OK(stack);
        QCOMPARE(stack->kind, EditKind::kStack);
        QCOMPARE(stack->path, kp("params"));
        QCOMPARE(stack->prefix, std::string("layers_"));
        QCOMPARE(stack->newKey, std::string("blocks"));
        QCOMPARE(parseStackOption("layers_").value().path, KeyPath{});
        QCOMPARE(parseStackOption("layers_").value().newKey, std::string("layers"));
        QCOMPARE(parseStackOption("").status().code(), StatusCode::kInvalidArgument);
        QCOMPARE(parseStackOption("params/layers_=").status().code(), StatusCode::kInvalidArgument);
        QCOMPARE(parseStackOption("params/_").status().code(), StatusCode::kInvalidArgument);
        auto unstack = parseUnstackOption("params/blocks=layers_");
        CKPT_VERIFY_OK(unstack);
        QCOMPARE(unstack->kind, EditKind::kUnstack);
        QCOMPARE(unstack->path, kp("params/blocks"));
        QCOMPARE(unstack->prefix, std::string("layers_"));
        QCOMPARE(parseUnstackOption("params/layers").value().prefix, std::string("layers_"));
        QCOMPARE(parseUnstackOption("params/layers=").value().prefix, std::string());
        QCOMPARE(parseUnstackOption("=x").status().code(), StatusCode::kInvalidArgument);

        // A stack into a key the automatic search would not find (REF calls it "blocks").
        const NodePtr src = unrolled(2);
        NodePtr ref = applyEdit(scanned(2), Edit::rename(kp("params/layers"), "blocks")).value();
        ConformOptions options;
        options.layouts = {*stack};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{1});
        QCOMPARE(plan->notes.front(),
                 std::string("stack params/layers_0..layers_1 -> params/blocks (--stack)"));
        QCOMPARE(outcomeAfter(src, ref, *plan), PreflightOutcome::kExact);
        // Then unstacked again under another prefix (and REF has them so).
        NodePtr unrolledRef = applyEdit(unrolled(2), Edit::rename(kp("params/layers_0"), "b0")).value();
        unrolledRef = applyEdit(unrolledRef, Edit::rename(kp("params/layers_1"), "b1")).value();
        options.layouts = {*stack, parseUnstackOption("params/blocks=b").value()};
        plan = planConform(src, unrolledRef, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(plan->steps.size(), std::size_t{2});
        QCOMPARE(plan->notes[1], std::string("unstack params/blocks -> params/b0..b1 (--unstack)"));
        QCOMPARE(outcomeAfter(src, unrolledRef, *plan), PreflightOutcome::kExact);
        // An option that does not apply is an error naming it.
        options.layouts = {parseStackOption("params/block_").value()};
        plan = planConform(src, ref, options);
        QCOMPARE(plan.status().code(), StatusCode::kNotFound);
        QVERIFY2(contains(plan.status(), "cannot stack 'params/block_*'"),
                 plan.status().toString().c_str());
    }

    void stackPlanRoundTripsThroughRecipeJson() {
        const NodePtr src = unrolled(3);
        const NodePtr ref = scanned(3, DType::kFloat16);
        auto plan = planConform(src, ref);
        CKPT_VERIFY_OK(plan);
        auto text = recipeToJson(plan->steps);
        CKPT_VERIFY_OK(text);
        QVERIFY2(text->find(R"("op": "stack")") != std::string::npos, text->c_str());
        auto parsed = recipeFromJson(*text);
        CKPT_VERIFY_OK(parsed);
        auto replayed = applyRecipe(src, *parsed);
        CKPT_VERIFY_OK(replayed);
        std::string why;
        QVERIFY2(test::sameTree(*replayed, applyRecipe(src, plan->steps).value(), why), why.c_str());
        QCOMPARE(preflight(*replayed, ref).value().outcome, PreflightOutcome::kExact);
    }

    void planRoundTripsThroughRecipeJson() {
        const NodePtr src = dict({{"params", dict({{"Dense_0", floats({2}, {1, 2})}})},
                                  {"junk", arrayOf(DType::kInt8, {5})}});
        const NodePtr ref = dict({{"params", dict({{"layer_0", arrayOf(DType::kFloat16, {2})}})},
                                  {"batch_stats", floats({1}, {9})}});
        ConformOptions options;
        options.renames = {parseRenameRule(R"(Dense_(\d+)=layer_$1)").value()};
        auto plan = planConform(src, ref, options);
        CKPT_VERIFY_OK(plan);
        QCOMPARE(countKind(*plan, EditKind::kRename), std::size_t{1});
        QCOMPARE(countKind(*plan, EditKind::kDelete), std::size_t{1});
        QCOMPARE(countKind(*plan, EditKind::kAdd), std::size_t{1});
        QCOMPARE(countKind(*plan, EditKind::kCast), std::size_t{1});
        auto text = recipeToJson(plan->steps);
        CKPT_VERIFY_OK(text);
        QVERIFY2(text->find(R"("kind": "reference")") != std::string::npos, text->c_str());
        auto parsed = recipeFromJson(*text);
        CKPT_VERIFY_OK(parsed);
        QCOMPARE(recipeToJson(*parsed).value(), *text);
        QVERIFY(needsReference(*parsed));
        // Without the reference the add step cannot run, and says what it needs.
        auto unbound = applyRecipe(src, *parsed);
        QCOMPARE(unbound.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(unbound.status(), "--reference"), unbound.status().toString().c_str());
        auto bound = applyRecipe(src, bindReference(*parsed, ref));
        CKPT_VERIFY_OK(bound);
        const NodePtr direct = applyRecipe(src, plan->steps).value();
        std::string why;
        QVERIFY2(test::sameTree(*bound, direct, why), why.c_str());
        QCOMPARE(preflight(*bound, ref).value().outcome, PreflightOutcome::kExact);
        QCOMPARE(test::valuesOf<float>(*node(*bound, "batch_stats")->array()),
                 (std::vector<float>{9}));
    }
};

QTEST_GUILESS_MAIN(TestConform)
#include "tst_conform.moc"
