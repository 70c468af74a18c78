// Tests for ckpt/core/diff.h: value comparison numbers against hand-computed values (streamed over
// mismatched chunk grids, NaN/inf rules), tree diffs (keys only in A/B, kind/dtype/shape changes,
// nested containers, lists vs tuples, scalars vs 0-d arrays), structure files (round trip, values
// refused with a clear error, defaults, parse errors) and the restore preflight outcomes.
#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "ckpt/core/diff.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {

template <typename T>
NodePtr arrayOf(DType dtype, Shape shape, std::vector<T> values) {
    std::vector<std::byte> bytes(values.size() * sizeof(T));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    auto array = Array::fromBytes(dtype, std::move(shape), bytes);
    return Node::makeArray(makeMemorySource(std::move(*array)));
}

NodePtr f64(std::vector<double> v) {
    const auto n = static_cast<std::int64_t>(v.size());
    return arrayOf<double>(DType::kFloat64, {n}, std::move(v));
}
NodePtr f32(std::vector<float> v) {
    const auto n = static_cast<std::int64_t>(v.size());
    return arrayOf<float>(DType::kFloat32, {n}, std::move(v));
}

// A source over another with its own chunk grid, counting the chunks read.
class ChunkedSource : public ArraySource {
public:
    ChunkedSource(ArraySourcePtr inner, Shape chunk)
        : m_inner(std::move(inner)), m_chunk(std::move(chunk)) {}
    DType dtype() const override { return m_inner->dtype(); }
    const Shape& shape() const override { return m_inner->shape(); }
    Shape chunkShape() const override { return m_chunk; }
    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        ++reads;
        return m_inner->readInto(sel, out, cancel);
    }
    mutable std::atomic<int> reads{0};

private:
    ArraySourcePtr m_inner;
    Shape m_chunk;
};

// An array whose metadata could not be read, as a lazily opened Orbax leaf whose zarr.json is
// missing reports it.
class UnreadableSource : public ArraySource {
public:
    DType dtype() const override { return DType::kUInt8; }
    const Shape& shape() const override { return m_shape; }
    Status metadataStatus() const override { return notFoundError("zarr.json is missing"); }
    Status readInto(const Selection&, std::span<std::byte>, const CancelToken*) const override {
        return metadataStatus();
    }

private:
    Shape m_shape{0};
};

NodePtr dict(std::vector<DictEntry> entries) {
    return Node::makeDict(std::move(entries));
}

const DiffEntry* findEntry(const TreeDiff& d, const std::string& path) {
    for (const auto& e : d.entries) {
        if (formatKeyPath(e.path) == path) return &e;
    }
    return nullptr;
}

ValueDiff compareLeaves(const NodePtr& a, const NodePtr& b) {
    auto r = compareSources(*a->array(), *b->array(), true);
    if (!r.isOk()) qFatal("%s", r.status().toString().c_str());
    return *r;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

class TestDiff : public QObject {
    Q_OBJECT

private slots:
    void knownNumbersOfSmallArrays() {
        const ValueDiff v = compareLeaves(f64({1, 2, 3}), f64({1, 2, 4}));
        QVERIFY(!v.bitEqual);
        QVERIFY(v.hasNumbers);
        QCOMPARE(v.count, 3u);
        QCOMPARE(v.changed, 1u);
        QCOMPARE(v.finitePairs, 3u);
        QCOMPARE(v.maxAbsDiff, 1.0);
        QCOMPARE(v.maxRelDiff, 0.25);  // |4-3| / max(3, 4)
        // a·b = 1 + 4 + 12 = 17, |a|² = 14, |b|² = 21.
        QVERIFY(std::abs(v.cosine - 17.0 / std::sqrt(14.0 * 21.0)) < 1e-15);
        QVERIFY(std::abs(v.normRatio - std::sqrt(21.0 / 14.0)) < 1e-15);
        QVERIFY(std::abs(v.normA - std::sqrt(14.0)) < 1e-15);
        QCOMPARE(v.diffNorm, 1.0);
    }

    void diffNormKeepsATinyChangeOfALargeLeaf() {
        // ‖b − a‖ derived from ‖a‖, ‖b‖ and the cosine would be lost to rounding here.
        const double moved = 1e8 + 1e-4;
        const ValueDiff v = compareLeaves(f64({1e8, 1e8, 1e8}), f64({1e8, moved, 1e8}));
        QCOMPARE(v.diffNorm, moved - 1e8);  // exact (Sterbenz), about 1e-4
        QVERIFY(v.diffNorm > 0.9e-4);
        const ValueDiff w = compareLeaves(f64({1, 1}), f64({4, -3}));
        QCOMPARE(w.diffNorm, 5.0);  // sqrt(3² + 4²)
    }

    void integerArraysCompareByValue() {
        auto a = arrayOf<std::int32_t>(DType::kInt32, {2}, {1, -2});
        auto b = arrayOf<std::int32_t>(DType::kInt32, {2}, {1, 5});
        const ValueDiff v = compareLeaves(a, b);
        QCOMPARE(v.maxAbsDiff, 7.0);
        QCOMPARE(v.maxRelDiff, 7.0 / 5.0);
        QCOMPARE(v.changed, 1u);
        QVERIFY(std::abs(v.cosine - (1.0 - 10.0) / std::sqrt(5.0 * 26.0)) < 1e-15);
    }

    void identicalArraysAreBitEqual() {
        const ValueDiff v = compareLeaves(f32({0.5f, -1.0f}), f32({0.5f, -1.0f}));
        QVERIFY(v.bitEqual);
        QCOMPARE(v.changed, 0u);
        QCOMPARE(v.maxAbsDiff, 0.0);
        QCOMPARE(v.cosine, 1.0);
        QCOMPARE(v.normRatio, 1.0);
    }

    void zeroNormsFollowTheDocumentedRules() {
        const ValueDiff zeros = compareLeaves(f64({0, 0}), f64({0, 0}));
        QVERIFY(std::isnan(zeros.cosine));
        QCOMPARE(zeros.normRatio, 1.0);
        const ValueDiff grow = compareLeaves(f64({0, 0}), f64({0, 3}));
        QVERIFY(std::isinf(grow.normRatio));
        QCOMPARE(grow.maxRelDiff, 1.0);
    }

    void nanAndInfinityRules() {
        // pos 0: both NaN (equal); 1: equal; 2: +inf both (equal); 3: finite vs NaN (mismatch);
        // 4: +inf vs -inf (mismatch); 5: 1 vs 2 (finite, changed).
        const ValueDiff v =
            compareLeaves(f64({kNaN, 1, kInf, 2, kInf, 1}), f64({kNaN, 1, kInf, kNaN, -kInf, 2}));
        QCOMPARE(v.nanA, 1u);
        QCOMPARE(v.nanB, 2u);
        QCOMPARE(v.nonFiniteMismatch, 2u);
        QCOMPARE(v.finitePairs, 2u);
        QCOMPARE(v.changed, 3u);
        QCOMPARE(v.maxAbsDiff, 1.0);
        QCOMPARE(v.maxRelDiff, 0.5);
        // Over finite pairs (1,1) and (1,2): a·b = 3, |a|² = 2, |b|² = 5.
        QVERIFY(std::abs(v.cosine - 3.0 / std::sqrt(10.0)) < 1e-15);
        // The same NaN bits on both sides are bit-equal and unchanged.
        const ValueDiff same = compareLeaves(f64({kNaN}), f64({kNaN}));
        QVERIFY(same.bitEqual);
        QCOMPARE(same.changed, 0u);
        // -0.0 and 0.0: value-equal, bits differ.
        const ValueDiff zero = compareLeaves(f64({0.0}), f64({-0.0}));
        QVERIFY(!zero.bitEqual);
        QCOMPARE(zero.changed, 0u);
    }

    void streamsOverDifferentChunkGrids() {
        std::vector<double> va(10), vb(10);
        for (int i = 0; i < 10; ++i) {
            va[static_cast<std::size_t>(i)] = i + 1;
            vb[static_cast<std::size_t>(i)] = i == 7 ? 100 : i + 1;
        }
        auto a = std::make_shared<ChunkedSource>(f64(va)->array(), Shape{3});
        auto b = std::make_shared<ChunkedSource>(f64(vb)->array(), Shape{4});
        auto r = compareSources(*a, *b, true);
        CKPT_VERIFY_OK(r);
        QCOMPARE(a->reads.load(), 4);  // A's grid: 0-2, 3-5, 6-8, 9
        QCOMPARE(b->reads.load(), 4);  // the same selections read from B
        QCOMPARE(r->maxAbsDiff, 92.0);
        QCOMPARE(r->maxRelDiff, 0.92);
        // Bit equality only stops at the first differing chunk (the third).
        a->reads = 0;
        auto early = compareSources(*a, *b, false);
        CKPT_VERIFY_OK(early);
        QVERIFY(!early->bitEqual);
        QVERIFY(!early->hasNumbers);
        QCOMPARE(a->reads.load(), 3);
    }

    void refusesDifferentDTypesOrShapes() {
        CKPT_VERIFY_ERROR(compareSources(*f64({1})->array(), *f32({1})->array(), true),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(compareSources(*f64({1})->array(), *f64({1, 2})->array(), true),
                          StatusCode::kInvalidArgument);
    }

    void treeDiffReportsEveryKindOfChange() {
        auto a = dict({{"params", dict({{"w", f32({1, 2, 3})},
                                        {"b", f32({0})},
                                        {"old", f32({5})},
                                        {"cast", f32({1})},
                                        {"grow", f32({1})}})},
                       {"step", Node::makeScalar(Scalar::fromInt64(3))},
                       {"name", Node::makeString("x")}});
        // Keys in another order: dict order is ignored.
        auto b =
            dict({{"name", Node::makeString("y")},
                  {"params", dict({{"b", f32({0})},
                                   {"w", f32({1, 2, 4})},
                                   {"cast", f64({1})},
                                   {"grow", f32({1, 2})},
                                   {"new", dict({{"k", f32({1})}, {"j", Node::makeNone()}})}})},
                  {"step", Node::makeScalar(Scalar::fromInt64(3))}});
        auto d = diffTrees(a, b);
        CKPT_VERIFY_OK(d);
        QCOMPARE(d->onlyInA, 1u);
        QCOMPARE(d->onlyInB, 1u);
        QCOMPARE(d->dtypeChanged, 1u);
        QCOMPARE(d->shapeChanged, 1u);
        QCOMPARE(d->valuesDiffer, 2u);    // params/w and name
        QCOMPARE(d->leavesCompared, 4u);  // w, b, step, name
        QVERIFY(!d->identical());
        QCOMPARE(findEntry(*d, "params/old")->change, DiffChange::kOnlyInA);
        const DiffEntry* added = findEntry(*d, "params/new");
        QCOMPARE(added->change, DiffChange::kOnlyInB);
        QCOMPARE(added->b->leafCount, 2u);
        QCOMPARE(findEntry(*d, "params/cast")->change, DiffChange::kDTypeChanged);
        QCOMPARE(findEntry(*d, "params/grow")->change, DiffChange::kShapeChanged);
        QCOMPARE(findEntry(*d, "params/grow")->b->shape, (Shape{2}));
        const DiffEntry* w = findEntry(*d, "params/w");
        QCOMPARE(w->change, DiffChange::kValuesDiffer);
        QCOMPARE(w->values->maxRelDiff, 0.25);
        QCOMPARE(findEntry(*d, "name")->change, DiffChange::kValuesDiffer);
        QVERIFY(!findEntry(*d, "step"));  // equal entries are not listed by default
        // Order: a depth-first walk of A, B-only keys after A's.
        QCOMPARE(formatKeyPath(d->entries.front().path), std::string("params/w"));
        QCOMPARE(formatKeyPath(d->entries[d->entries.size() - 2].path), std::string("params/new"));

        DiffOptions all;
        all.includeEqual = true;
        auto withEqual = diffTrees(a, b, all);
        CKPT_VERIFY_OK(withEqual);
        QCOMPARE(findEntry(*withEqual, "step")->change, DiffChange::kEqual);
        QCOMPARE(findEntry(*withEqual, "params/b")->change, DiffChange::kEqual);

        DiffOptions structure;
        structure.values = false;
        auto s = diffTrees(a, b, structure);
        CKPT_VERIFY_OK(s);
        QCOMPARE(s->valuesDiffer, 0u);
        QCOMPARE(s->leavesCompared, 0u);
        QCOMPARE(s->entries.size(), 4u);
    }

    void identicalTreesAreIdentical() {
        auto make = [] {
            return dict({{"a", Node::makeList({f32({1, 2}), Node::makeNone()})},
                         {"t", Node::makeTuple({Node::makeScalar(Scalar::fromFloat64(0.5))})},
                         {"bytes", Node::makeBytes("ab")}});
        };
        auto d = diffTrees(make(), make());
        CKPT_VERIFY_OK(d);
        QVERIFY(d->identical());
        QVERIFY(d->entries.empty());
        QCOMPARE(d->leavesCompared, 4u);  // the array, None, the scalar, the bytes
    }

    void listVersusTupleIsAKindChangeAndItemsStillCompare() {
        auto a = dict({{"layers", Node::makeList({f32({1}), f32({2})})}});
        auto b = dict({{"layers", Node::makeTuple({f32({1}), f32({3}), f32({4})})}});
        auto d = diffTrees(a, b);
        CKPT_VERIFY_OK(d);
        const DiffEntry* kind = findEntry(*d, "layers");
        QCOMPARE(kind->change, DiffChange::kKindChanged);
        QCOMPARE(kind->a->kind, NodeKind::kList);
        QCOMPARE(kind->b->kind, NodeKind::kTuple);
        QCOMPARE(findEntry(*d, "layers/1")->change, DiffChange::kValuesDiffer);
        QCOMPARE(findEntry(*d, "layers/2")->change, DiffChange::kOnlyInB);
        // A leaf against a container is a kind change and is not descended.
        auto c = dict({{"layers", f32({1})}});
        auto d2 = diffTrees(a, c);
        CKPT_VERIFY_OK(d2);
        QCOMPARE(d2->entries.size(), 1u);
        QCOMPARE(d2->kindChanged, 1u);
    }

    void scalarAndZeroDimArrayAreTheSameStructure() {
        auto zeroD = arrayOf<std::int64_t>(DType::kInt64, {}, {7});
        auto scalar = Node::makeScalar(Scalar::fromInt64(7));
        auto d = diffTrees(dict({{"s", scalar}}), dict({{"s", zeroD}}));
        CKPT_VERIFY_OK(d);
        QVERIFY(d->identical());
        QCOMPARE(d->leavesCompared, 1u);
        auto d2 =
            diffTrees(dict({{"s", Node::makeScalar(Scalar::fromInt64(8))}}), dict({{"s", zeroD}}));
        CKPT_VERIFY_OK(d2);
        QCOMPARE(d2->valuesDiffer, 1u);
        QCOMPARE(d2->entries[0].values->maxAbsDiff, 1.0);
        // A string against a scalar is a kind change.
        auto d3 = diffTrees(dict({{"s", Node::makeString("7")}}), dict({{"s", zeroD}}));
        CKPT_VERIFY_OK(d3);
        QCOMPARE(d3->kindChanged, 1u);
    }

    void cancelStopsTheDiff() {
        CancelToken token;
        token.cancel();
        CKPT_VERIFY_ERROR(diffTrees(dict({{"a", f32({1})}}), dict({{"a", f32({1})}}), {}, &token),
                          StatusCode::kCancelled);
        CKPT_VERIFY_ERROR(diffTrees(nullptr, dict({})), StatusCode::kInvalidArgument);
    }

    void progressReportsBytes() {
        std::uint64_t last = 0;
        std::uint64_t total = 0;
        auto d = diffTrees(dict({{"a", f32({1, 2})}, {"b", f64({1})}}),
                           dict({{"a", f32({1, 2})}, {"b", f64({2})}}), {}, nullptr,
                           [&](std::uint64_t done, std::uint64_t t) {
                               last = done;
                               total = t;
                           });
        CKPT_VERIFY_OK(d);
        QCOMPARE(last, 16u);
        QCOMPARE(total, 16u);
    }

    void structureFileRoundTrip() {
        auto tree = dict({{"params", dict({{"kernel", f32({1, 2, 3, 4})}, {"bias", f64({0.5})}})},
                          {"opt", Node::makeTuple({Node::makeList({f32({1})}), Node::makeNone()})},
                          {"step", Node::makeScalar(Scalar::fromInt64(42))},
                          {"name", Node::makeString("run")},
                          {"blob", Node::makeBytes("abc")}});
        auto text = structureToJson(tree);
        CKPT_VERIFY_OK(text);
        QVERIFY(text->find("\"ckpt_studio_structure\": 1") != std::string::npos);
        auto loaded = parseStructure(*text, "skeleton.json");
        CKPT_VERIFY_OK(loaded);
        DiffOptions structure;
        structure.values = false;
        auto d = diffTrees(tree, *loaded, structure);
        CKPT_VERIFY_OK(d);
        QVERIFY(d->identical());
        // Arrays have no data: reading fails clearly, naming the key path.
        auto kernel = findNode(*loaded, {"params", "kernel"});
        CKPT_VERIFY_OK(kernel);
        QVERIFY(isStructureOnly(*(*kernel)->array()));
        QCOMPARE((*kernel)->array()->shape(), (Shape{4}));
        auto read = (*kernel)->array()->readAll();
        CKPT_VERIFY_ERROR(read, StatusCode::kUnsupported);
        QVERIFY2(
            read.status().message().find("'params/kernel' is structure only") != std::string::npos,
            read.status().message().c_str());
        // Scalars keep their value; strings too.
        QCOMPARE((*findNode(*loaded, {"step"}))->scalar().toInt64(), 42);
        QCOMPARE((*findNode(*loaded, {"name"}))->text(), std::string("run"));
        // A value diff against a structure tree reports the leaves as not compared.
        auto values = diffTrees(tree, *loaded);
        CKPT_VERIFY_OK(values);
        QCOMPARE(values->notCompared, 3u);  // the three arrays
        QVERIFY(values->entries[0].error.find("structure only") != std::string::npos);
        // Writing the skeleton of the loaded structure gives the same text.
        auto again = structureToJson(*loaded);
        CKPT_VERIFY_OK(again);
        QCOMPARE(*again, *text);
    }

    void structureFileDefaultValues() {
        auto tree = dict({{"small", f32({1.5f, -2})}, {"big", f32({1, 2, 3})}});
        StructureOptions options;
        options.maxValueElements = 2;
        auto text = structureToJson(tree, options);
        CKPT_VERIFY_OK(text);
        auto loaded = parseStructure(*text);
        CKPT_VERIFY_OK(loaded);
        auto small = findNode(*loaded, {"small"});
        QVERIFY(!isStructureOnly(*(*small)->array()));
        auto big = findNode(*loaded, {"big"});
        QVERIFY(isStructureOnly(*(*big)->array()));
        auto d = diffTrees(dict({{"small", f32({1.5f, -2})}}), dict({{"small", *small}}));
        CKPT_VERIFY_OK(d);
        QVERIFY(d->identical());
        // Hand-written: nested lists, a constant fill, a scalar without a value.
        auto hand = parseStructure(R"({"ckpt_studio_structure": 1, "tree": {"type": "dict",
            "children": {"m": {"type": "array", "dtype": "int32", "shape": [2, 2],
                               "value": [[1, 2], [3, 4]]},
                         "c": {"type": "array", "dtype": "float32", "shape": [3], "value": "nan"},
                         "s": {"type": "scalar", "dtype": "int32"}}}})");
        CKPT_VERIFY_OK(hand);
        auto m = (*findNode(*hand, {"m"}))->array()->readAll();
        CKPT_VERIFY_OK(m);
        QCOMPARE(m->toDouble(3), 4.0);
        auto c = (*findNode(*hand, {"c"}))->array()->readAll();
        CKPT_VERIFY_OK(c);
        QVERIFY(std::isnan(c->toDouble(2)));
        auto s = (*findNode(*hand, {"s"}))->loadScalar();
        CKPT_VERIFY_ERROR(s, StatusCode::kUnsupported);
    }

    void structureFileErrorsNameThePath() {
        auto check = [](const char* json, const char* fragment) {
            auto r = parseStructure(json, "f.json");
            QVERIFY2(!r.isOk(), json);
            QCOMPARE(r.status().code(), StatusCode::kInvalidArgument);
            QVERIFY2(r.status().message().find(fragment) != std::string::npos,
                     r.status().message().c_str());
        };
        check("[1]", "JSON object");
        check("{", "not valid JSON");
        check(R"({"ckpt_studio_structure": 2, "tree": {"type": "none"}})", "version 2");
        check(R"({"ckpt_studio_structure": 1})", "\"tree\"");
        check(R"({"tree": {"type": "dict", "children": {"a": {"type": "blob"}}}})",
              "'a': unknown node type 'blob'");
        check(
            R"({"tree": {"type": "dict", "children": {"a": {"type": "array", "dtype": "f99", "shape": []}}}})",
            "unknown dtype 'f99'");
        check(R"({"tree": {"type": "array", "dtype": "int8", "shape": [-1]}})", "non-negative");
        check(R"({"tree": {"type": "array", "dtype": "int8", "shape": [3], "value": [1, 2]}})",
              "holds 2 values");
        check(R"({"tree": {"type": "scalar", "dtype": "int8", "value": 300}})", "(root)");
        // `ckpt tree --json` output (format, rollup, index keys) loads as is.
        auto r = parseStructure(R"({"format": "flax", "tree": {"type": "list", "items":
            [{"type": "none", "index": 0, "rollup": {}}]}})");
        CKPT_VERIFY_OK(r);
        QCOMPARE((*r)->kind(), NodeKind::kList);
    }

    void structureFileDetectionAndLoading() {
        test::TempDir dir;
        const auto file = dir.path() / "s.json";
        {
            std::ofstream out(file);
            out << *structureToJson(dict({{"x", f32({1})}}));
        }
        QVERIFY(isStructureFile(file));
        QVERIFY(!isStructureFile(dir.path()));
        QVERIFY(!isStructureFile(dir.path() / "missing.json"));
        auto loaded = loadStructure(file);
        CKPT_VERIFY_OK(loaded);
        QCOMPARE((*loaded)->childCount(), 1u);
        CKPT_VERIFY_ERROR(loadStructure(dir.path() / "missing.json"), StatusCode::kIoError);
    }

    void preflightOutcomes() {
        auto src = dict({{"w", f32({1, 2})}, {"b", f32({0})}});
        auto exact = preflight(src, dict({{"b", f32({5})}, {"w", f32({3, 4})}}));
        CKPT_VERIFY_OK(exact);
        QCOMPARE(exact->outcome, PreflightOutcome::kExact);
        QCOMPARE(exact->leavesMatched, 2u);

        auto extra = preflight(src, dict({{"w", f32({3, 4})}}));
        CKPT_VERIFY_OK(extra);
        QCOMPARE(extra->outcome, PreflightOutcome::kExtraKeys);
        QCOMPARE(extra->extra.size(), 1u);
        QCOMPARE(formatKeyPath(extra->extra[0].path), std::string("b"));

        // Missing (and extra): the reference is a checkpoint, so it has default values.
        auto refTree = dict({{"w", f32({3, 4})}, {"new", dict({{"k", f32({1})}})}});
        auto missing = preflight(src, refTree);
        CKPT_VERIFY_OK(missing);
        QCOMPARE(missing->outcome, PreflightOutcome::kMissingKeys);
        QCOMPARE(missing->missing.size(), 1u);
        QCOMPARE(formatKeyPath(missing->missing[0].path), std::string("new"));
        QVERIFY(missing->missing[0].hasDefault);
        QCOMPARE(missing->extra.size(), 1u);
        QCOMPARE(missing->leavesMatched, 1u);
        // The same reference as a structure file has no defaults.
        auto structure = parseStructure(*structureToJson(refTree));
        CKPT_VERIFY_OK(structure);
        auto noDefault = preflight(src, *structure);
        CKPT_VERIFY_OK(noDefault);
        QVERIFY(!noDefault->missing[0].hasDefault);

        auto mismatch =
            preflight(src, dict({{"w", f32({1, 2, 3})}, {"b", f64({0})}, {"c", f32({1})}}));
        CKPT_VERIFY_OK(mismatch);
        QCOMPARE(mismatch->outcome, PreflightOutcome::kMismatch);
        QCOMPARE(mismatch->mismatches.size(), 2u);
        QCOMPARE(mismatch->missing.size(), 1u);
        QCOMPARE(mismatch->leavesMatched, 0u);
        QCOMPARE(preflightOutcomeName(mismatch->outcome), std::string_view("mismatch"));
    }

    void unreadableLeavesAreReportedNotCompared() {
        auto broken = Node::makeArray(std::make_shared<UnreadableSource>());
        auto a = dict({{"w", f32({1, 2})}, {"b", broken}});
        auto b = dict({{"w", f32({1, 2})}, {"b", f32({0})}});
        for (const bool values : {true, false}) {
            DiffOptions options;
            options.values = values;
            auto d = diffTrees(a, b, options);
            CKPT_VERIFY_OK(d);
            const DiffEntry* e = findEntry(*d, "b");
            QVERIFY(e);
            // Not a dtype or shape change (uint8 [0] is not what the file holds): the error.
            QCOMPARE(e->change, DiffChange::kNotCompared);
            QVERIFY2(e->error.find("zarr.json is missing") != std::string::npos, e->error.c_str());
            QVERIFY(e->error.find("b") != std::string::npos);
        }
        // A restore of the broken tree would fail on that leaf.
        auto p = preflight(a, b);
        CKPT_VERIFY_OK(p);
        QCOMPARE(p->outcome, PreflightOutcome::kMismatch);
        QCOMPARE(p->mismatches.size(), 1u);
        QCOMPARE(formatKeyPath(p->mismatches[0].path), std::string("b"));
        // A structure file is never written with a made-up dtype and shape.
        auto text = structureToJson(a);
        QVERIFY(!text.isOk());
        QVERIFY(text.status().toString().find("zarr.json is missing") != std::string::npos);
    }

    void preflightAcceptsWhatAnOrbaxRestoreAccepts() {
        // Orbax reads tuples back as lists and stores an empty NamedTuple as None.
        auto src = dict({{"opt", Node::makeList({f32({1}), Node::makeNone()})}});
        auto ref = dict({{"opt", Node::makeTuple({f32({2}), Node::makeTuple({})})}});
        auto p = preflight(src, ref);
        CKPT_VERIFY_OK(p);
        QCOMPARE(p->outcome, PreflightOutcome::kExact);
        QCOMPARE(p->compatible.size(), 2u);
        QCOMPARE(formatKeyPath(p->compatible[0].path), std::string("opt"));
        QCOMPARE(formatKeyPath(p->compatible[1].path), std::string("opt/1"));
        QCOMPARE(p->leavesMatched, 1u);
        // None against a non-empty container, or a dict against a list, still fails.
        auto bad = preflight(
            src, dict({{"opt", dict({{"0", f32({2})}, {"1", dict({{"x", f32({1})}})}})}}));
        CKPT_VERIFY_OK(bad);
        QCOMPARE(bad->outcome, PreflightOutcome::kMismatch);
        QCOMPARE(bad->mismatches.size(), 2u);
        // diffTrees itself still reports both kind changes.
        auto d = diffTrees(src, ref);
        CKPT_VERIFY_OK(d);
        QCOMPARE(d->kindChanged, 2u);
    }
};

QTEST_GUILESS_MAIN(TestDiff)
#include "tst_diff.moc"
