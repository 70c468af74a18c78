// Recipes: JSON round trips with exact values, the documented schema, and error messages that
// name the step.
#include <cmath>
#include <limits>

#include "ckpt/core/demo.h"
#include "ckpt/core/edit.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;

namespace {

KeyPath kp(const char* text) { return parseKeyPath(text).value(); }

bool sameValue(const EditValue& a, const EditValue& b) {
    if (a.index() != b.index()) return false;
    if (const double* d = std::get_if<double>(&a)) {
        const double e = std::get<double>(b);
        if (std::isnan(*d)) return std::isnan(e);
        return std::signbit(*d) == std::signbit(e) && *d == e;
    }
    return a == b;
}

std::string recipe(const std::string& steps) {
    return R"({"ckpt_studio_recipe": 1, "steps": [)" + steps + "]}";
}

bool contains(const Status& s, const std::string& text) {
    return s.message().find(text) != std::string::npos;
}

}  // namespace

class TestRecipe : public QObject {
    Q_OBJECT
private slots:
    void roundTripsEveryOpWithExactValues() {
        const std::vector<EditValue> values = {
            0.1, 1e-300, -0.0, 3.0, std::numeric_limits<double>::quiet_NaN(),
            std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
            std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::int64_t>::min(),
            std::int64_t{42}, true};
        std::vector<Edit> steps = {
            Edit::rename(kp("params/Dense_0"), "Dense_1"),
            Edit::move(kp("a/b"), kp("c\\/d/e"), 2),
            Edit::remove(kp("opt_state/0")),
            Edit::copy(kp("params"), kp("ema")),
            Edit::add(kp("x"), NodeSpec::zeros(DType::kFloat32, {3, 4})),
            Edit::add(kp("y"), NodeSpec::ones(DType::kBFloat16, {})),
            Edit::add(kp("z"), NodeSpec::full(DType::kFloat64, {2}, 0.1), 0),
            Edit::add(kp("s"), NodeSpec::scalar(DType::kInt32, std::int64_t{-3}, true)),
            Edit::add(kp("t"), NodeSpec::string("héllo \"q\"")),
            Edit::add(kp("l"), NodeSpec::list()),
            Edit::add(kp("u"), NodeSpec::tuple()),
            Edit::add(kp("d"), NodeSpec::dict()),
            Edit::add(kp("n"), NodeSpec::none()),
            Edit::add(kp("k"), NodeSpec::copyOf(kp("params/kernel"))),
            Edit::setString(kp("config/model"), "resnet"),
            Edit::cast(kp("params"), DType::kBFloat16),
            Edit::convert(kp("data"), NodeKind::kTuple),
            Edit::stack(kp("params"), "layers_"),
            Edit::stack({}, "", "all", 2),
            Edit::unstack(kp("params/layers")),
            Edit::unstack(kp("w"), "", 1),
        };
        std::vector<CellEdit> cells;
        for (const EditValue& v : values) {
            steps.push_back(Edit::setScalar(kp("step"), v));
            cells.push_back({{0, static_cast<std::int64_t>(cells.size())}, v});
        }
        steps.push_back(Edit::setCells(kp("k"), cells));
        auto text = recipeToJson(steps);
        CKPT_VERIFY_OK(text);
        auto parsed = recipeFromJson(*text);
        CKPT_VERIFY_OK(parsed);
        QCOMPARE(parsed->size(), steps.size());
        auto again = recipeToJson(*parsed);
        CKPT_VERIFY_OK(again);
        QCOMPARE(*again, *text);
        for (std::size_t i = 0; i < steps.size(); ++i) {
            const Edit& a = steps[i];
            const Edit& b = (*parsed)[i];
            QCOMPARE(b.kind, a.kind);
            QCOMPARE(b.path, a.path);
            QCOMPARE(b.to, a.to);
            QCOMPARE(b.newKey, a.newKey);
            QCOMPARE(b.prefix, a.prefix);
            QCOMPARE(b.axis, a.axis);
            QCOMPARE(b.position, a.position);
            QVERIFY(sameValue(a.value, b.value));
            QCOMPARE(b.node.kind, a.node.kind);
            QVERIFY(sameValue(a.node.value, b.node.value));
            QCOMPARE(b.node.shape, a.node.shape);
            QCOMPARE(b.node.text, a.node.text);
            QCOMPARE(b.node.native, a.node.native);
            QCOMPARE(b.cells.size(), a.cells.size());
            for (std::size_t c = 0; c < a.cells.size(); ++c) {
                QCOMPARE(b.cells[c].index, a.cells[c].index);
                QVERIFY(sameValue(a.cells[c].value, b.cells[c].value));
            }
        }
        // Floats stay floats and integers integers in the text.
        QVERIFY(text->find("\"value\": 0.1") != std::string::npos);
        QVERIFY(text->find("\"value\": 3.0") != std::string::npos);
        QVERIFY(text->find("\"value\": \"-inf\"") != std::string::npos);
        QVERIFY(text->find("\"value\": 18446744073709551615") != std::string::npos);
        QVERIFY2(text->find(R"("op": "stack",
      "path": "params",
      "prefix": "layers_",
      "to": "layers")") != std::string::npos,
                 text->c_str());
    }

    void readsStackAndUnstackSteps() {
        std::vector<DictEntry> layers;
        for (int k = 0; k < 3; ++k) {
            layers.push_back(
                {"layers_" + std::to_string(k),
                 Node::makeDict({{"w", test::arrayOf(DType::kFloat32, {2, 5},
                                                     static_cast<std::uint8_t>(k))}})});
        }
        const NodePtr before = Node::makeDict({{"params", Node::makeDict(std::move(layers))}});
        auto steps = recipeFromJson(recipe(R"(
            {"op": "stack", "path": "params", "prefix": "layers_", "comment": "to scan"},
            {"op": "unstack", "path": "params/layers", "prefix": "block", "axis": 1})"));
        CKPT_VERIFY_OK(steps);
        QCOMPARE((*steps)[0].newKey, std::string("layers"));  // the default: prefix without '_'
        auto stacked = applyEdit(before, (*steps)[0]);
        CKPT_VERIFY_OK(stacked);
        QCOMPARE(findNode(*stacked, kp("params/layers/w")).value()->array()->shape(),
                 (Shape{3, 2, 5}));
        auto tree = applyRecipe(before, *steps);
        CKPT_VERIFY_OK(tree);
        // Unstacked along axis 1: block0, block1, each (3, 5).
        QCOMPARE(findNode(*tree, kp("params")).value()->childCount(), std::size_t{2});
        QCOMPARE(findNode(*tree, kp("params/block1/w")).value()->array()->shape(), (Shape{3, 5}));
        // Without "prefix", unstack numbers the key: layers -> layers_0, ...
        auto plain = recipeFromJson(recipe(R"({"op": "unstack", "path": "params/layers"})"));
        CKPT_VERIFY_OK(plain);
        QCOMPARE((*plain)[0].prefix, std::string("layers_"));
        auto back = applyRecipe(*stacked, *plain);
        CKPT_VERIFY_OK(back);
        std::string why;
        QVERIFY2(test::sameTree(before, *back, why), why.c_str());
        // A failing stack names the step and what is missing.
        auto none =
            recipeFromJson(recipe(R"({"op": "stack", "path": "params", "prefix": "block_"})"));
        CKPT_VERIFY_OK(none);
        const Status s = applyRecipe(before, *none).status();
        QCOMPARE(s.code(), StatusCode::kNotFound);
        QCOMPARE(s.message(), std::string("step 1 (stack params/block_*): cannot stack "
                                          "'params/block_*': 'params' has no key block_0, "
                                          "block_1, ..."));
    }

    void readsTheDocumentedSchemaAndApplies() {
        const std::string text = recipe(R"(
            {"op": "rename", "path": "params/Dense_0", "to": "Dense_1"},
            {"op": "move", "path": "config/model", "to": "model"},
            {"op": "delete", "path": "opt_state/0/nu"},
            {"op": "copy", "path": "params", "to": "ema"},
            {"op": "add", "path": "params/Dense_1/scale",
             "node": {"kind": "zeros", "dtype": "float32", "shape": [3, 4]}},
            {"op": "set", "path": "step", "value": 5, "comment": "restart"},
            {"op": "set_string", "path": "model", "value": "cnn"},
            {"op": "set_cells", "path": "data/1", "cells": [{"index": [0, 1], "value": 2}]},
            {"op": "cast", "path": "params", "dtype": "bfloat16"},
            {"op": "convert", "path": "data", "to": "tuple"})");
        auto steps = recipeFromJson(text);
        CKPT_VERIFY_OK(steps);
        QCOMPARE(steps->size(), std::size_t{10});
        auto tree = applyRecipe(makeDemoTrainState(), *steps);
        CKPT_VERIFY_OK(tree);
        QCOMPARE(findNode(*tree, kp("params/Dense_1/kernel")).value()->array()->dtype(),
                 DType::kBFloat16);
        QCOMPARE(findNode(*tree, kp("params/Dense_1/scale")).value()->array()->shape(),
                 (Shape{3, 4}));
        QCOMPARE(findNode(*tree, kp("ema/Dense_1/kernel")).value()->array()->dtype(),
                 DType::kFloat32);
        QCOMPARE(findNode(*tree, kp("model")).value()->text(), std::string("cnn"));
        QCOMPARE(findNode(*tree, kp("step")).value()->loadScalar()->toInt64(), std::int64_t{5});
        QCOMPARE(findNode(*tree, kp("data")).value()->kind(), NodeKind::kTuple);
        QVERIFY(!findNode(*tree, kp("opt_state/0/nu")).isOk());
    }

    void failingStepNamesStepOpAndPath() {
        auto steps = recipeFromJson(recipe(R"(
            {"op": "delete", "path": "step"},
            {"op": "cast", "path": "params", "dtype": "float16"},
            {"op": "rename", "path": "params/x", "to": "y"})"));
        CKPT_VERIFY_OK(steps);
        const Status s = applyRecipe(makeDemoTrainState(), *steps).status();
        QCOMPARE(s.code(), StatusCode::kNotFound);
        QCOMPARE(s.message(), std::string("step 3 (rename params/x): no node at 'params/x'"));
    }

    void rejectsMalformedRecipesNamingTheStep() {
        auto check = [](const std::string& text, const std::string& expected) {
            const Status s = recipeFromJson(text).status();
            QVERIFY2(!s.isOk(), text.c_str());
            QCOMPARE(s.code(), StatusCode::kInvalidArgument);
            QVERIFY2(contains(s, expected), s.toString().c_str());
        };
        check("{", "not valid JSON");
        check("[]", "must be a JSON object");
        check(R"({"steps": []})", "missing field 'ckpt_studio_recipe'");
        check(R"({"ckpt_studio_recipe": 2, "steps": []})", "unsupported recipe version 2");
        check(R"({"ckpt_studio_recipe": 1, "steps": [], "extra": 1})", "unknown field 'extra'");
        check(recipe(R"({"op": "delete", "path": "a"}, {"op": "frobnicate", "path": "a"})"),
              "step 2 (frobnicate): unknown op 'frobnicate'");
        check(recipe(R"({"op": "delete", "path": "a", "to": "b"})"),
              "step 1 (delete): unknown field 'to'");
        check(recipe(R"({"op": "rename", "path": "a"})"), "step 1 (rename): missing field 'to'");
        check(recipe(R"({"op": "cast", "path": "a", "dtype": "float33"})"),
              "unknown dtype 'float33'");
        check(recipe(R"({"op": "set", "path": "a", "value": "1.5"})"), "field 'value'");
        check(recipe(R"({"op": "set", "path": 3, "value": 1})"),
              "field 'path' must be a string");
        check(recipe(R"({"op": "add", "path": "a", "node": {"kind": "zeros", "dtype": "int8"}})"),
              "node: missing field 'shape'");
        check(recipe(R"({"op": "add", "path": "a", "node": {"kind": "blob"}})"),
              "unknown node kind 'blob'");
        check(recipe(R"({"op": "set_cells", "path": "a", "cells": [{"index": [0], "v": 1}]})"),
              "cell 0: unknown field 'v'");
        check(recipe(R"({"op": "convert", "path": "a", "to": "set"})"), "cannot convert to 'set'");
        check(recipe(R"({"op": "move", "path": "a", "to": "b", "position": 1.5})"),
              "'position' must be an integer");
        check(recipe(R"({"op": "stack", "path": "a"})"), "step 1 (stack): missing field 'prefix'");
        check(recipe(R"({"op": "stack", "path": "a", "prefix": "l_", "axis": -1})"),
              "field 'axis' must be 0 or more");
        check(recipe(R"({"op": "unstack", "path": "a", "to": "b"})"),
              "step 1 (unstack): unknown field 'to'");
        check(recipe(R"({"op": "unstack", "path": "", "prefix": "l_"})"),
              "cannot unstack the root");
    }

    void refusesToWriteReplaceAndInsert() {
        auto text = recipeToJson({Edit::remove(kp("a")), Edit::replace(kp("b"), Node::makeNone())});
        QCOMPARE(text.status().code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(text.status(), "step 2 (replace b)"), text.status().toString().c_str());
        QVERIFY(!recipeToJson({Edit::insert(kp("a"), Node::makeNone())}).isOk());
        QVERIFY(!recipeFromJson(recipe(R"({"op": "replace", "path": "a"})")).isOk());
    }
};

QTEST_GUILESS_MAIN(TestRecipe)
#include "tst_recipe.moc"
