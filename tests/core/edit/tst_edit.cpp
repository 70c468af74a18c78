// Edits on immutable trees: every kind applied and inverted, sharing of untouched subtrees,
// laziness, errors, cast values against independently known results, previewCast, EditSession,
// stacking and unstacking scan layers (values checked against the stacking done by hand).
#include <cmath>
#include <limits>

#include "ckpt/core/demo.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "edit/edit_sources.h"
#include "tests/core/edit/edit_testing.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;
using ckpt::test::arrayFrom;
using ckpt::test::CountingSource;
using ckpt::test::valuesOf;

namespace {

KeyPath kp(const char* text) { return parseKeyPath(text).value(); }

NodePtr at(const NodePtr& root, const char* path) { return findNode(root, kp(path)).value(); }

bool contains(const Status& s, const std::string& text) {
    return s.message().find(text) != std::string::npos;
}

NodePtr floats(Shape shape, std::vector<float> values) {
    return Node::makeArray(
        makeMemorySource(arrayFrom<float>(DType::kFloat32, std::move(shape), values)));
}

// Values base, base + 1, ... for an array of `count` elements.
std::vector<float> ramp(std::size_t count, float base) {
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) out[i] = base + static_cast<float>(i);
    return out;
}

// Layer k of an unrolled model: a Dense (kernel (3, 2), bias (2,)), an int32 step scalar and a
// None, with values that tell the layers apart.
NodePtr layer(int k) {
    const float base = 100.0F * static_cast<float>(k);
    return Node::makeDict(
        {{"Dense_0", Node::makeDict({{"kernel", floats({3, 2}, ramp(6, base))},
                                     {"bias", floats({2}, ramp(2, base + 50))}})},
         {"count", Node::makeScalar(
                       Scalar::fromBits(DType::kInt32,
                                        arrayFrom<std::int32_t>(DType::kInt32, {}, {k + 7}).bytes())
                           .value())},
         {"unused", Node::makeNone()}});
}

// {"params": {"embed", "layers_0".."layers_{n-1}", "head"}}.
NodePtr unrolled(int n) {
    std::vector<DictEntry> params{{"embed", floats({2}, {1, 2})}};
    for (int k = 0; k < n; ++k) params.push_back({"layers_" + std::to_string(k), layer(k)});
    params.push_back({"head", floats({1}, {3})});
    return Node::makeDict({{"params", Node::makeDict(std::move(params))}});
}

std::vector<std::string> keysOf(const NodePtr& node) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < node->childCount(); ++i) keys.push_back(node->childKey(i));
    return keys;
}

// The C-order bytes of `selection` of `source`.
std::vector<float> readFloats(const ArraySource& source, const Selection& selection) {
    Array a = source.read(selection).value();
    std::vector<float> out(a.elementCount());
    std::memcpy(out.data(), a.bytes().data(), a.byteSize());
    return out;
}

}  // namespace

class TestEdit : public QObject {
    Q_OBJECT
private slots:
    void renameKeepsOrderAndSharesUntouchedSubtrees() {
        NodePtr before = makeDemoTrainState();
        auto after = applyEdit(before, Edit::rename(kp("params/Dense_0"), "Dense_1"));
        CKPT_VERIFY_OK(after);
        QCOMPARE(at(*after, "params")->childKey(0), std::string("Dense_1"));
        // Only the ancestors are new; siblings and the renamed subtree itself are shared.
        QVERIFY(*after != before);
        QVERIFY(at(*after, "params") != at(before, "params"));
        for (const char* p : {"step", "opt_state", "config", "data"}) {
            QVERIFY(at(*after, p) == at(before, p));
        }
        QVERIFY(at(*after, "params/Dense_1") == at(before, "params/Dense_0"));
        QVERIFY(at(*after, "params/Dense_1/kernel")->array() ==
                at(before, "params/Dense_0/kernel")->array());
        QCOMPARE((*after)->childKey(1), std::string("params"));  // position kept
    }

    void everyEditKindInvertsExactly() {
        const NodePtr before = makeDemoTrainState();
        const std::vector<Edit> edits = {
            Edit::rename(kp("params/Dense_0"), "Dense_1"),
            Edit::rename(kp("step"), "global_step"),
            Edit::move(kp("params/Dense_0/bias"), kp("config/bias")),
            Edit::move(kp("config/model"), kp("model"), 0),
            Edit::move(kp("data/0"), kp("data/1")),
            Edit::move(kp("data/1"), kp("opt_state/0")),
            Edit::remove(kp("opt_state/0/mu")),
            Edit::remove(kp("step")),
            Edit::remove(kp("data/0")),
            Edit::copy(kp("params"), kp("params_copy")),
            Edit::copy(kp("config/layers/1"), kp("config/layers/0")),
            Edit::add(kp("params/Dense_0/scale"), NodeSpec::zeros(DType::kFloat32, {3, 4})),
            Edit::add(kp("extra"), NodeSpec::scalar(DType::kInt32, std::int64_t{-5}), 1),
            Edit::add(kp("data/2"), NodeSpec::string("hello")),
            Edit::add(kp("config/empty"), NodeSpec::dict()),
            Edit::add(kp("kernel2"), NodeSpec::copyOf(kp("params/Dense_0/kernel"))),
            Edit::setScalar(kp("step"), std::int64_t{7}),
            Edit::setScalar(kp("config/learning_rate"), 0.5),
            Edit::setString(kp("config/model"), "resnet"),
            Edit::setCells(kp("params/Dense_0/kernel"), {{{0, 1}, 2.5}, {{4, 2}, -1.0}}),
            Edit::cast(kp("params/Dense_0/kernel"), DType::kBFloat16),
            Edit::cast(kp("params"), DType::kFloat16),
            Edit::cast({}, DType::kFloat64),
            Edit::convert(kp("data"), NodeKind::kTuple),
            Edit::convert(kp("data"), NodeKind::kDict),
            Edit::convert(kp("opt_state"), NodeKind::kList),
            Edit::convert(kp("config/layers"), NodeKind::kList),
            Edit::replace(kp("config"), Node::makeNone()),
            Edit::insert(kp("config/layers/0"), Node::makeString("x")),
        };
        for (const Edit& edit : edits) {
            auto after = applyEdit(before, edit);
            if (!after.isOk()) QFAIL((edit.describe() + ": " + after.status().toString()).c_str());
            auto inverse = invertEdit(before, edit);
            CKPT_VERIFY_OK(inverse);
            auto back = applyEdit(*after, *inverse);
            CKPT_VERIFY_OK(back);
            std::string why;
            if (!test::sameTree(before, *back, why)) QFAIL((edit.describe() + why).c_str());
            // The edit really changed something (except converting to the same kind).
            if (!(edit.kind == EditKind::kConvert && edit.path == kp("config/layers"))) {
                QVERIFY2(!test::sameTree(before, *after, why), edit.describe().c_str());
            }
        }
    }

    void movesIntoOtherContainersAndPositions() {
        NodePtr before = makeDemoTrainState();
        auto moved = applyEdit(before, Edit::move(kp("params/Dense_0/bias"), kp("data/0")));
        CKPT_VERIFY_OK(moved);
        QCOMPARE(at(*moved, "data")->childCount(), std::size_t{3});
        QVERIFY(at(*moved, "data/0") == at(before, "params/Dense_0/bias"));
        QCOMPARE(at(*moved, "params/Dense_0")->childCount(), std::size_t{1});
        auto first = applyEdit(before, Edit::move(kp("data"), kp("data_first"), 0));
        CKPT_VERIFY_OK(first);
        QCOMPARE((*first)->childKey(0), std::string("data_first"));
        // A copy shares the original's storage.
        auto copied = applyEdit(before, Edit::copy(kp("params"), kp("ema")));
        CKPT_VERIFY_OK(copied);
        QVERIFY(at(*copied, "ema") == at(before, "params"));
    }

    void untouchedLeavesAreNeverRead() {
        auto a = std::make_shared<CountingSource>(
            arrayFrom<float>(DType::kFloat32, {4}, {1.0f, 2.0f, 3.0f, 4.0f}));
        auto b = std::make_shared<CountingSource>(
            arrayFrom<float>(DType::kFloat32, {2}, {5.0f, 6.0f}));
        NodePtr root = Node::makeDict({{"a", Node::makeArray(a)}, {"b", Node::makeArray(b)},
                                       {"c", Node::makeDict({})}});
        auto edited = applyRecipe(root, {Edit::cast(kp("a"), DType::kBFloat16),
                                         Edit::setCells(kp("a"), {{{1}, 7.0}}),
                                         Edit::move(kp("b"), kp("c/b")),
                                         Edit::rename(kp("c"), "d"),
                                         Edit::copy(kp("d/b"), kp("e")),
                                         Edit::add(kp("z"), NodeSpec::ones(DType::kInt8, {3}))});
        CKPT_VERIFY_OK(edited);
        QCOMPARE(a->reads(), 0);
        QCOMPARE(b->reads(), 0);
        QVERIFY(at(*edited, "d/b")->array().get() == b.get());
        // Reading the edited leaf reads its source once; the moved one stays unread.
        const auto bf = valuesOf<std::uint16_t>(*at(*edited, "a")->array());
        QCOMPARE(bf, (std::vector<std::uint16_t>{0x3F80, 0x40E0, 0x4040, 0x4080}));
        QCOMPARE(a->reads(), 1);
        QCOMPARE(b->reads(), 0);
        QCOMPARE(valuesOf<std::int8_t>(*at(*edited, "z")->array()),
                 (std::vector<std::int8_t>{1, 1, 1}));
    }

    void keepsNodeAttributes() {
        NodePtr inner = Node::makeDict({{"x", Node::makeNone()}})->withAttributes({{"k", "v"}});
        NodePtr root = Node::makeDict({{"g", inner}});
        auto after = applyEdit(root, Edit::rename(kp("g/x"), "y"));
        CKPT_VERIFY_OK(after);
        QCOMPARE(at(*after, "g")->attributes().size(), std::size_t{1});
        QCOMPARE(at(*after, "g")->childKey(0), std::string("y"));
    }

    void misuseGivesClearErrors() {
        NodePtr demo = makeDemoTrainState();
        auto check = [&](const Edit& e, StatusCode code, const std::string& text) {
            const Status s = applyEdit(demo, e).status();
            QVERIFY2(!s.isOk(), e.describe().c_str());
            QVERIFY2(s.code() == code, s.toString().c_str());
            QVERIFY2(contains(s, text), s.toString().c_str());
        };
        check(Edit::rename(kp("params/x"), "y"), StatusCode::kNotFound, "no node at 'params/x'");
        check(Edit::remove(kp("nope/x")), StatusCode::kNotFound, "(root) has no child 'nope'");
        check(Edit::rename(kp("params"), "step"), StatusCode::kAlreadyExists,
              "'step' already exists");
        check(Edit::rename(kp("data/0"), "x"), StatusCode::kInvalidArgument,
              "only dict keys can be renamed");
        check(Edit::move(kp("params"), kp("params/Dense_0/p")), StatusCode::kInvalidArgument,
              "into itself");
        check(Edit::move(kp("step"), kp("nowhere/step")), StatusCode::kNotFound,
              "no node at 'nowhere'");
        check(Edit::move(kp("step"), kp("config")), StatusCode::kAlreadyExists,
              "'config' already exists");
        check(Edit::move(kp("step"), kp("data/5")), StatusCode::kInvalidArgument,
              "not an index 0..2");
        check(Edit::move(kp("step"), kp("config/model/x")), StatusCode::kInvalidArgument,
              "is a string, not a container");
        check(Edit::move(kp("step"), kp("x"), 9), StatusCode::kInvalidArgument, "position 9");
        check(Edit::remove({}), StatusCode::kInvalidArgument, "cannot delete the root");
        check(Edit::add(kp("step"), NodeSpec::none()), StatusCode::kAlreadyExists, "already exists");
        check(Edit::add(kp("w"), NodeSpec::full(DType::kInt8, {2}, std::int64_t{300})),
              StatusCode::kInvalidArgument, "value 300 does not fit int8");
        check(Edit::add(kp("w"), NodeSpec::copyOf(kp("params/nope"))), StatusCode::kNotFound,
              "no node at 'params/nope'");
        check(Edit::setScalar(kp("data/0"), 1.0), StatusCode::kInvalidArgument, "not a scalar");
        check(Edit::setScalar(kp("step"), 1.5), StatusCode::kInvalidArgument,
              "value 1.5 does not fit int64");
        check(Edit::setString(kp("step"), "x"), StatusCode::kInvalidArgument, "not a string");
        check(Edit::setCells(kp("data/1"), {{{2, 0}, std::int64_t{1}}}),
              StatusCode::kInvalidArgument, "index 2 is out of range in dimension 0");
        check(Edit::setCells(kp("data/1"), {{{0}, std::int64_t{1}}}), StatusCode::kInvalidArgument,
              "index of rank 1");
        check(Edit::setCells(kp("step"), {}), StatusCode::kInvalidArgument, "not an array");
        check(Edit::cast(kp("config/model"), DType::kFloat32), StatusCode::kInvalidArgument,
              "cannot cast string");
        check(Edit::cast(kp("params"), DType::kInt4), StatusCode::kUnsupported, "int4");
        check(Edit::convert(kp("params"), NodeKind::kList), StatusCode::kInvalidArgument,
              "keys must be \"0\"..\"n-1\"");
        check(Edit::convert(kp("step"), NodeKind::kList), StatusCode::kInvalidArgument,
              "cannot convert a scalar");
        // A failing step leaves the tree as it was (it is immutable) and invertEdit fails too.
        QVERIFY(!invertEdit(demo, Edit::remove(kp("nope"))).isOk());
    }

    void castSubtreeSkipsStringsAndBools() {
        NodePtr demo = makeDemoTrainState();
        auto cast = applyEdit(demo, Edit::cast({}, DType::kFloat32));
        CKPT_VERIFY_OK(cast);
        QCOMPARE(at(*cast, "step")->scalarDType(), DType::kFloat32);
        QCOMPARE(at(*cast, "data/1")->array()->dtype(), DType::kFloat32);
        QVERIFY(at(*cast, "config/model") == at(demo, "config/model"));
        QVERIFY(at(*cast, "config/use_bias") == at(demo, "config/use_bias"));
        // float32 leaves are already float32: shared, not wrapped.
        QVERIFY(at(*cast, "params") == at(demo, "params"));
        QCOMPARE(at(*cast, "step")->loadScalar()->toDouble(), 100.0);
        QVERIFY(!at(*cast, "step")->loadScalar()->isNative() ==
                !at(demo, "step")->loadScalar()->isNative());
        const StorageInfo info = at(*cast, "data/1")->array()->storage();
        QCOMPARE(info.format, std::string("edited: cast from int32"));
        QCOMPARE(at(*cast, "data/1")->array()->chunkShape(), at(demo, "data/1")->array()->chunkShape());
    }

    void castRoundsLikeNumpy() {
        // bfloat16: ties to even (1 + 2^-8 -> 1, 1 + 3*2^-8 -> 1 + 2^-6), pi, -0, inf, NaN.
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        auto src = makeMemorySource(arrayFrom<float>(
            DType::kFloat32, {7}, {1.0f, 1.00390625f, 1.01171875f, 3.14159265f, -0.0f, inf, nan}));
        auto bf = makeCastSource(src, DType::kBFloat16);
        CKPT_VERIFY_OK(bf);
        QCOMPARE(valuesOf<std::uint16_t>(**bf), (std::vector<std::uint16_t>{
                                                    0x3F80, 0x3F80, 0x3F82, 0x4049, 0x8000,
                                                    0x7F80, 0x7FC0}));
        // The generic path (float64 -> bfloat16) agrees with the float32 fast path.
        auto f64 = makeMemorySource(arrayFrom<double>(
            DType::kFloat64, {4}, {1.00390625, 1.01171875, 3.14159265, 1e-40}));
        auto bf64 = makeCastSource(f64, DType::kBFloat16);
        CKPT_VERIFY_OK(bf64);
        // 1e-40 is a bfloat16 subnormal: 1e-40 / 2^-133 = 1.089 -> 1.
        QCOMPARE(valuesOf<std::uint16_t>(**bf64),
                 (std::vector<std::uint16_t>{0x3F80, 0x3F82, 0x4049, 0x0001}));
        // float16: 65519 -> max, 65520 (a tie with 2^16) -> inf, 6e-8 -> smallest subnormal.
        auto h = makeCastSource(
            makeMemorySource(arrayFrom<float>(DType::kFloat32, {4}, {65519.0f, 65520.0f, 6e-8f, 1e-8f})),
            DType::kFloat16);
        CKPT_VERIFY_OK(h);
        QCOMPARE(valuesOf<std::uint16_t>(**h),
                 (std::vector<std::uint16_t>{0x7BFF, 0x7C00, 0x0001, 0x0000}));
        // float8_e4m3fn: 464 is a tie -> 448 (even), 500 -> NaN (no infinity), -0.4375 exact.
        auto e4 = makeCastSource(
            makeMemorySource(arrayFrom<float>(DType::kFloat32, {3}, {464.0f, 500.0f, -0.4375f})),
            DType::kFloat8E4M3FN);
        CKPT_VERIFY_OK(e4);
        QCOMPARE(valuesOf<std::uint8_t>(**e4), (std::vector<std::uint8_t>{0x7E, 0x7F, 0xAE}));
    }

    void castToIntegersTruncatesSaturatesAndWraps() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        auto f = makeMemorySource(arrayFrom<float>(
            DType::kFloat32, {7}, {1.9f, -1.9f, 127.5f, 200.0f, -300.0f, nan, -0.5f}));
        auto i8 = makeCastSource(f, DType::kInt8);
        CKPT_VERIFY_OK(i8);
        QCOMPARE(valuesOf<std::int8_t>(**i8),
                 (std::vector<std::int8_t>{1, -1, 127, 127, -128, 0, 0}));
        auto u8 = makeCastSource(f, DType::kUInt8);
        CKPT_VERIFY_OK(u8);
        QCOMPARE(valuesOf<std::uint8_t>(**u8),
                 (std::vector<std::uint8_t>{1, 0, 127, 200, 0, 0, 0}));
        auto i = makeMemorySource(arrayFrom<std::int32_t>(DType::kInt32, {3}, {300, -129, 5}));
        auto wrapped = makeCastSource(i, DType::kInt8);
        CKPT_VERIFY_OK(wrapped);
        QCOMPARE(valuesOf<std::int8_t>(**wrapped), (std::vector<std::int8_t>{44, 127, 5}));
        auto b = makeCastSource(f, DType::kBool);
        CKPT_VERIFY_OK(b);
        QCOMPARE(valuesOf<std::uint8_t>(**b), (std::vector<std::uint8_t>{1, 1, 1, 1, 1, 1, 1}));
    }

    void previewCastCountsOutcomes() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        auto f = makeMemorySource(arrayFrom<float>(
            DType::kFloat32, {6}, {1.0f, 1.0001f, 1e10f, nan, 3.0f, -70000.0f}));
        std::uint64_t lastDone = 0;
        auto r = previewCast(*f, DType::kFloat16, nullptr,
                             [&](std::uint64_t done, std::uint64_t) { lastDone = done; });
        CKPT_VERIFY_OK(r);
        QCOMPARE(r->count, std::uint64_t{6});
        QCOMPARE(r->outOfRange, std::uint64_t{2});
        QCOMPARE(r->nanCreated, std::uint64_t{0});
        QCOMPARE(r->changed, std::uint64_t{3});
        const double err = static_cast<double>(1.0001f) - 1.0;
        QCOMPARE(r->maxAbsError, err);
        QCOMPARE(r->maxRelError, err / static_cast<double>(1.0001f));
        QCOMPARE(lastDone, std::uint64_t{24});
        auto i = previewCast(*makeMemorySource(arrayFrom<float>(DType::kFloat32, {4},
                                                                 {1.5f, 300.0f, nan, -1.0f})),
                             DType::kInt8);
        CKPT_VERIFY_OK(i);
        QCOMPARE(i->outOfRange, std::uint64_t{2});
        QCOMPARE(i->changed, std::uint64_t{3});
        QCOMPARE(i->maxAbsError, 173.0);
        auto e4 = previewCast(*makeMemorySource(arrayFrom<float>(DType::kFloat32, {2},
                                                                  {500.0f, 1.0f})),
                              DType::kFloat8E4M3FN);
        CKPT_VERIFY_OK(e4);
        QCOMPARE(e4->nanCreated, std::uint64_t{1});
        QCOMPARE(e4->outOfRange, std::uint64_t{1});
        CancelToken cancel;
        cancel.cancel();
        QCOMPARE(previewCast(*f, DType::kFloat16, &cancel).status().code(), StatusCode::kCancelled);
    }

    void constantAndPatchedSources() {
        auto full = makeConstantSource(DType::kFloat32, {2, 3}, 1.5);
        CKPT_VERIFY_OK(full);
        QCOMPARE(valuesOf<float>(**full), (std::vector<float>(6, 1.5f)));
        QCOMPARE((*full)->storage().format, std::string("edited: constant 1.5"));
        auto zeros = makeConstantSource(DType::kBFloat16, {3}, std::int64_t{0});
        CKPT_VERIFY_OK(zeros);
        QCOMPARE((*zeros)->storage().format, std::string("edited: zeros"));
        auto base = std::make_shared<CountingSource>(
            arrayFrom<std::int32_t>(DType::kInt32, {2, 3}, {0, 1, 2, 3, 4, 5}));
        auto patched = makePatchedSource(base, {{{1, 2}, std::int64_t{50}}, {{0, 0}, std::int64_t{-7}}});
        CKPT_VERIFY_OK(patched);
        auto again = makePatchedSource(*patched, {{{0, 0}, std::int64_t{9}}});
        CKPT_VERIFY_OK(again);
        // Patching a patched source merges into one layer over the original.
        QVERIFY(dynamic_cast<const edit::PatchedSource&>(**again).source() == base);
        QCOMPARE(valuesOf<std::int32_t>(**again), (std::vector<std::int32_t>{9, 1, 2, 3, 4, 50}));
        Selection sel{{1, 1}, {1, 2}};
        auto part = (*again)->read(sel);
        CKPT_VERIFY_OK(part);
        std::vector<std::int32_t> got(2);
        std::memcpy(got.data(), part->bytes().data(), 8);
        QCOMPARE(got, (std::vector<std::int32_t>{4, 50}));
        QCOMPARE((*again)->storage().format, std::string("edited: 2 cells set"));
        QCOMPARE(makePatchedSource(base, {{{0, 0}, 1e10}}).status().code(),
                 StatusCode::kInvalidArgument);
    }

    void setValuesAreExactInTheNodesDType() {
        NodePtr root = Node::makeDict(
            {{"u", Node::makeScalar(Scalar::fromUInt64(1, false))},
             {"h", Node::makeScalar(Scalar::fromBits(DType::kFloat16,
                                                     std::as_bytes(std::span<const std::uint16_t>(
                                                         std::vector<std::uint16_t>{0}.data(), 1)))
                                        .value())}});
        auto r = applyRecipe(root, {Edit::setScalar(kp("u"), std::numeric_limits<std::uint64_t>::max()),
                                    Edit::setScalar(kp("h"), 0.1)});
        CKPT_VERIFY_OK(r);
        QCOMPARE(at(*r, "u")->loadScalar()->toUInt64(), std::numeric_limits<std::uint64_t>::max());
        QVERIFY(!at(*r, "u")->loadScalar()->isNative());
        // float16(0.1) = 0x2E66 (numpy).
        QCOMPARE(test::bytesOf(at(*r, "h")), std::string("\x66\x2E", 2));
    }

    void largeCastsReadInBoundedBlocks() {
        // 2100 x 1000 float64 = 16.8 MB: more than one 16 MiB block of source rows.
        Array a = Array::allocate(DType::kFloat64, {2100, 1000}).value();
        auto* d = reinterpret_cast<double*>(a.bytes().data());
        for (std::uint64_t i = 0; i < a.elementCount(); ++i) d[i] = static_cast<double>(i) + 0.1;
        auto cast = makeCastSource(makeMemorySource(std::move(a)), DType::kFloat32);
        CKPT_VERIFY_OK(cast);
        const auto got = valuesOf<float>(**cast);
        QCOMPARE(got.size(), std::size_t{2100000});
        for (std::size_t i : {std::size_t{0}, std::size_t{1049999}, std::size_t{1500000},
                              std::size_t{2099999}}) {
            QCOMPARE(got[i], static_cast<float>(static_cast<double>(i) + 0.1));
        }
    }

    void editedTreesSaveAndReopenEqual() {
        test::TempDir dir;
        auto edited = applyRecipe(makeDemoTrainState(),
                                  {Edit::cast(kp("params"), DType::kBFloat16),
                                   Edit::setCells(kp("data/1"), {{{1, 1}, std::int64_t{-4}}}),
                                   Edit::add(kp("zeros"), NodeSpec::zeros(DType::kInt16, {2, 2})),
                                   Edit::move(kp("config/model"), kp("model"), 0),
                                   Edit::remove(kp("opt_state"))});
        CKPT_VERIFY_OK(edited);
        const auto target = dir.path() / "edited.msgpack";
        WriteOptions options;
        options.sequenceEncoding = "array";  // lists stay lists on reopening
        CKPT_VERIFY_OK(writeCheckpoint(*edited, target, "flax", options));
        auto reopened = openCheckpoint(target);
        CKPT_VERIFY_OK(reopened);
        std::string why;
        QVERIFY2(test::sameTree(*edited, reopened->tree, why), why.c_str());
    }

    void stackAndUnstackRoundTripBitExact() {
        const NodePtr before = unrolled(3);
        auto stacked = applyEdit(before, Edit::stack(kp("params"), "layers_"));
        CKPT_VERIFY_OK(stacked);
        // The stacked entry takes the first layer's place.
        QCOMPARE(keysOf(at(*stacked, "params")),
                 (std::vector<std::string>{"embed", "layers", "head"}));
        QVERIFY(at(*stacked, "params/embed") == at(before, "params/embed"));
        const ArraySourcePtr kernel = at(*stacked, "params/layers/Dense_0/kernel")->array();
        QCOMPARE(kernel->dtype(), DType::kFloat32);
        QCOMPARE(kernel->shape(), (Shape{3, 3, 2}));
        // np.stack along axis 0: the layers' values one after the other.
        std::vector<float> expected;
        for (int k = 0; k < 3; ++k) {
            const auto part = ramp(6, 100.0F * static_cast<float>(k));
            expected.insert(expected.end(), part.begin(), part.end());
        }
        QCOMPARE(valuesOf<float>(*kernel), expected);
        QCOMPARE(valuesOf<float>(*at(*stacked, "params/layers/Dense_0/bias")->array()),
                 (std::vector<float>{50, 51, 150, 151, 250, 251}));
        // Scalars stack into a 1-d array; None stays.
        const NodePtr count = at(*stacked, "params/layers/count");
        QCOMPARE(count->kind(), NodeKind::kArray);
        QCOMPARE(count->array()->shape(), (Shape{3}));
        QCOMPARE(valuesOf<std::int32_t>(*count->array()), (std::vector<std::int32_t>{7, 8, 9}));
        QCOMPARE(at(*stacked, "params/layers/unused")->kind(), NodeKind::kNone);

        auto back = applyEdit(*stacked, Edit::unstack(kp("params/layers")));
        CKPT_VERIFY_OK(back);
        std::string why;
        QVERIFY2(test::sameTree(before, *back, why), why.c_str());
        // Unstacking a stack gives back the original leaves themselves.
        QVERIFY(at(*back, "params/layers_1/Dense_0/kernel")->array() ==
                at(before, "params/layers_1/Dense_0/kernel")->array());
        QVERIFY(at(*back, "params/layers_2/count") == at(before, "params/layers_2/count"));
    }

    void unstackSlicesAnArrayAndStacksBack() {
        // A scan-layout tree made directly (not by a stack): w (3, 2, 2) holding 0..11.
        const NodePtr w = floats({3, 2, 2}, ramp(12, 0));
        const NodePtr before =
            Node::makeDict({{"layers", Node::makeDict({{"w", w}, {"b", floats({3}, {5, 6, 7})}})},
                            {"other", floats({1}, {9})}});
        auto unstacked = applyEdit(before, Edit::unstack(kp("layers")));
        CKPT_VERIFY_OK(unstacked);
        QCOMPARE(keysOf(*unstacked),
                 (std::vector<std::string>{"layers_0", "layers_1", "layers_2", "other"}));
        for (int k = 0; k < 3; ++k) {
            const std::string layerKey = "layers_" + std::to_string(k);
            const ArraySourcePtr slice = at(*unstacked, (layerKey + "/w").c_str())->array();
            QCOMPARE(slice->shape(), (Shape{2, 2}));
            QCOMPARE(valuesOf<float>(*slice), ramp(4, 4.0F * static_cast<float>(k)));
            // A 1-d array gives 0-d arrays (numpy's b[k]).
            const ArraySourcePtr b = at(*unstacked, (layerKey + "/b").c_str())->array();
            QCOMPARE(b->shape(), Shape{});
            QCOMPARE(valuesOf<float>(*b), (std::vector<float>{5.0F + static_cast<float>(k)}));
        }
        // A sub-region of one slice.
        QCOMPARE(readFloats(*at(*unstacked, "layers_2/w")->array(), Selection{{1, 0}, {1, 2}}),
                 (std::vector<float>{10, 11}));
        // Stacking the slices back gives the original array source.
        auto restacked = applyEdit(*unstacked, Edit::stack({}, "layers_"));
        CKPT_VERIFY_OK(restacked);
        QVERIFY(at(*restacked, "layers/w")->array() == w->array());
        std::string why;
        QVERIFY2(test::sameTree(before, *restacked, why), why.c_str());
        // A custom prefix.
        auto blocks = applyEdit(before, Edit::unstack(kp("layers"), "block"));
        CKPT_VERIFY_OK(blocks);
        QCOMPARE(keysOf(*blocks),
                 (std::vector<std::string>{"block0", "block1", "block2", "other"}));
    }

    void stacksAlongAnInnerAxis() {
        std::vector<DictEntry> layers;
        for (int k = 0; k < 4; ++k) {
            layers.push_back(
                {"l" + std::to_string(k), floats({2, 3}, ramp(6, 10.0F * static_cast<float>(k)))});
        }
        const NodePtr before = Node::makeDict(std::move(layers));
        auto stacked = applyEdit(before, Edit::stack({}, "l", "stacked", 1));
        CKPT_VERIFY_OK(stacked);
        const ArraySourcePtr s = at(*stacked, "stacked")->array();
        QCOMPARE(s->shape(), (Shape{2, 4, 3}));
        // Element [i, k, j] is layer k's [i, j] = 10k + 3i + j.
        const auto all = valuesOf<float>(*s);
        for (int i = 0; i < 2; ++i) {
            for (int k = 0; k < 4; ++k) {
                for (int j = 0; j < 3; ++j) {
                    QCOMPARE(all[static_cast<std::size_t>((i * 4 + k) * 3 + j)],
                             static_cast<float>(10 * k + 3 * i + j));
                }
            }
        }
        QCOMPARE(readFloats(*s, Selection{{1, 1, 1}, {1, 2, 2}}),
                 (std::vector<float>{14, 15, 24, 25}));
        auto back = applyEdit(*stacked, Edit::unstack(kp("stacked"), "l", 1));
        CKPT_VERIFY_OK(back);
        std::string why;
        QVERIFY2(test::sameTree(before, *back, why), why.c_str());
        // The same array unstacked along axis 0 instead: 2 layers of (4, 3).
        auto rows = applyEdit(*stacked, Edit::unstack(kp("stacked"), "row_"));
        CKPT_VERIFY_OK(rows);
        QCOMPARE(at(*rows, "row_1")->array()->shape(), (Shape{4, 3}));
        QCOMPARE(readFloats(*at(*rows, "row_1")->array(), Selection{{2, 0}, {1, 3}}),
                 (std::vector<float>{23, 24, 25}));
    }

    void stackedReadsTouchOnlyTheSelectedLayers() {
        std::vector<std::shared_ptr<CountingSource>> sources;
        std::vector<DictEntry> entries;
        for (int k = 0; k < 4; ++k) {
            sources.push_back(std::make_shared<CountingSource>(
                arrayFrom<float>(DType::kFloat32, {2, 2}, ramp(4, 10.0F * static_cast<float>(k)))));
            entries.push_back({"layers_" + std::to_string(k),
                               Node::makeDict({{"w", Node::makeArray(sources.back())}})});
        }
        auto stacked = applyEdit(Node::makeDict(std::move(entries)), Edit::stack({}, "layers_"));
        CKPT_VERIFY_OK(stacked);
        for (const auto& s : sources) QCOMPARE(s->reads(), 0);  // nothing read by the edit
        const ArraySourcePtr w = at(*stacked, "layers/w")->array();
        QCOMPARE(w->chunkShape(), (Shape{1, 2, 2}));
        QCOMPARE(readFloats(*w, Selection{{1, 1, 0}, {2, 1, 2}}),
                 (std::vector<float>{12, 13, 22, 23}));
        QCOMPARE(sources[0]->reads(), 0);
        QCOMPARE(sources[1]->reads(), 1);
        QCOMPARE(sources[2]->reads(), 1);
        QCOMPARE(sources[3]->reads(), 0);
        // Streaming chunk by chunk reads each layer once.
        int chunks = 0;
        CKPT_VERIFY_OK(w->forEachChunk([&](const Selection&, const Array&) {
            ++chunks;
            return okStatus();
        }));
        QCOMPARE(chunks, 4);
        QCOMPARE(sources[0]->reads(), 1);
        QCOMPARE(sources[3]->reads(), 1);
        // An unstacked slice of an ordinary array reads only its own rows.
        auto base =
            std::make_shared<CountingSource>(arrayFrom<float>(DType::kFloat32, {3, 2}, ramp(6, 0)));
        auto slice = makeSliceSource(base, 0, 2);
        CKPT_VERIFY_OK(slice);
        QCOMPARE(valuesOf<float>(**slice), (std::vector<float>{4, 5}));
        QCOMPARE(base->reads(), 1);
    }

    void stackAndUnstackErrorsNameTheKeyPaths() {
        auto stackError = [](const NodePtr& root, const Edit& edit, StatusCode code,
                             const std::vector<std::string>& mentions) {
            const Status s = applyEdit(root, edit).status();
            QCOMPARE(s.code(), code);
            for (const std::string& m : mentions) {
                QVERIFY2(contains(s, m), (m + " not in: " + s.toString()).c_str());
            }
        };
        const NodePtr good = unrolled(4);
        // A gap.
        auto gap = applyEdit(good, Edit::remove(kp("params/layers_2"))).value();
        stackError(gap, Edit::stack(kp("params"), "layers_"), StatusCode::kInvalidArgument,
                   {"'params/layers_2' is missing", "layers_0, layers_1, layers_3"});
        // No layers at all, a leading zero, a parent that is no dict.
        stackError(good, Edit::stack(kp("params"), "block_"), StatusCode::kNotFound,
                   {"'params' has no key block_0"});
        auto zero = applyEdit(good, Edit::rename(kp("params/layers_3"), "layers_03")).value();
        stackError(zero, Edit::stack(kp("params"), "layers_"), StatusCode::kInvalidArgument,
                   {"'params/layers_03'", "no leading zeros"});
        stackError(Node::makeDict({{"l", Node::makeList({layer(0)})}}), Edit::stack(kp("l"), "x"),
                   StatusCode::kInvalidArgument, {"'l' is a list, not a dict"});
        // The result's key is taken.
        auto taken = applyEdit(good, Edit::add(kp("params/layers"), NodeSpec::none())).value();
        stackError(taken, Edit::stack(kp("params"), "layers_"), StatusCode::kAlreadyExists,
                   {"'params/layers' already exists"});
        // Different shapes, dtypes and key sets: every difference named, and nothing applied.
        NodePtr bad = applyEdit(good, Edit::replace(kp("params/layers_2/Dense_0/kernel"),
                                                    floats({4, 2}, ramp(8, 0))))
                          .value();
        bad =
            applyEdit(bad, Edit::cast(kp("params/layers_3/Dense_0/bias"), DType::kFloat16)).value();
        bad = applyEdit(bad, Edit::remove(kp("params/layers_1/unused"))).value();
        bad = applyEdit(bad, Edit::add(kp("params/layers_1/extra"), NodeSpec::none())).value();
        stackError(bad, Edit::stack(kp("params"), "layers_"), StatusCode::kInvalidArgument,
                   {"'params/layers_2/Dense_0/kernel' is float32 (4, 2) but "
                    "'params/layers_0/Dense_0/kernel' is float32 (3, 2)",
                    "'params/layers_3/Dense_0/bias' is float16 (2,) but "
                    "'params/layers_0/Dense_0/bias' is float32 (2,)",
                    "'params/layers_1' has no key 'unused'",
                    "'params/layers_1' has a key 'extra' that 'params/layers_0' lacks"});
        auto kinds =
            applyEdit(good, Edit::replace(kp("params/layers_1/unused"), Node::makeString("s")))
                .value();
        stackError(kinds, Edit::stack(kp("params"), "layers_"), StatusCode::kInvalidArgument,
                   {"'params/layers_1/unused' is a string but 'params/layers_0/unused' is a none"});
        stackError(good, Edit::stack(kp("params"), "layers_", "layers", 2),
                   StatusCode::kInvalidArgument,
                   {"'params/layers_0/Dense_0/bias' (float32 (2,)) has no axis 2"});

        // Unstack: lengths must agree, scalars have no axis, the new keys must be free.
        const NodePtr lengths =
            Node::makeDict({{"layers", Node::makeDict({{"a", floats({3, 2}, ramp(6, 0))},
                                                       {"b", floats({4}, ramp(4, 0))}})}});
        stackError(lengths, Edit::unstack(kp("layers")), StatusCode::kInvalidArgument,
                   {"cannot unstack 'layers'",
                    "'layers/b' (float32 (4,)) has 4 along axis 0 but 'layers/a' has 3"});
        stackError(lengths, Edit::unstack(kp("layers/b"), "b", 1), StatusCode::kInvalidArgument,
                   {"'layers/b' (float32 (4,)) has no axis 1"});
        const NodePtr withScalar = Node::makeDict(
            {{"layers", Node::makeDict({{"a", floats({2}, {1, 2})},
                                        {"s", Node::makeScalar(Scalar::fromInt64(1, false))}})},
             {"layers_1", Node::makeNone()}});
        stackError(withScalar, Edit::unstack(kp("layers")), StatusCode::kInvalidArgument,
                   {"'layers/s' is a scalar (int64 scalar)"});
        stackError(
            Node::makeDict({{"layers", floats({2}, {1, 2})}, {"layers_1", Node::makeNone()}}),
            Edit::unstack(kp("layers")), StatusCode::kAlreadyExists, {"'layers_1' already exists"});
        stackError(Node::makeDict({{"layers", Node::makeDict({{"n", Node::makeNone()}})}}),
                   Edit::unstack(kp("layers")), StatusCode::kInvalidArgument,
                   {"'layers' holds no array to unstack"});
        stackError(Node::makeDict({{"l", Node::makeList({floats({2}, {1, 2})})}}),
                   Edit::unstack(kp("l/0")), StatusCode::kInvalidArgument, {"'l' is a list"});
        stackError(good, Edit::unstack({}), StatusCode::kInvalidArgument,
                   {"cannot unstack the root"});
        stackError(good, Edit::unstack(kp("params/nope")), StatusCode::kNotFound,
                   {"no node at 'params/nope'"});
    }

    void stackAndUnstackInvertEachOther() {
        const NodePtr before = unrolled(3);
        const Edit stack = Edit::stack(kp("params"), "layers_");
        QCOMPARE(stack.newKey, std::string("layers"));
        QCOMPARE(stack.describe(), std::string("stack params/layers_*"));
        auto inverse = invertEdit(before, stack);
        CKPT_VERIFY_OK(inverse);
        QCOMPARE(inverse->kind, EditKind::kUnstack);
        QCOMPARE(inverse->path, kp("params/layers"));
        QCOMPARE(inverse->prefix, std::string("layers_"));
        const NodePtr after = applyEdit(before, stack).value();
        std::string why;
        QVERIFY2(test::sameTree(before, applyEdit(after, *inverse).value(), why), why.c_str());
        auto twice = invertEdit(after, *inverse);
        CKPT_VERIFY_OK(twice);
        QCOMPARE(twice->kind, EditKind::kStack);
        QCOMPARE(twice->path, kp("params"));
        QCOMPARE(twice->newKey, std::string("layers"));
        QVERIFY2(test::sameTree(after,
                                applyEdit(applyEdit(after, *inverse).value(), *twice).value(), why),
                 why.c_str());
        // An empty prefix (keys "0".."n-1") inverts to the same empty prefix.
        const NodePtr numbered = Node::makeDict({{"0", floats({1}, {1})}, {"1", floats({1}, {2})}});
        const Edit plain = Edit::stack({}, "", "all");
        auto plainInverse = invertEdit(numbered, plain);
        CKPT_VERIFY_OK(plainInverse);
        QCOMPARE(plainInverse->prefix, std::string());
        QVERIFY2(test::sameTree(
                     numbered, applyEdit(applyEdit(numbered, plain).value(), *plainInverse).value(),
                     why),
                 why.c_str());
        // The undo stack and its changed paths.
        EditSession session(before);
        CKPT_VERIFY_OK(session.apply(stack));
        QCOMPARE(session.changedPaths(), (std::vector<KeyPath>{kp("params"), kp("params/layers")}));
        CKPT_VERIFY_OK(session.undo());
        QVERIFY(session.root() == before);
        EditSession scanned(after);
        CKPT_VERIFY_OK(scanned.apply(*inverse));
        QCOMPARE(scanned.changedPaths(),
                 (std::vector<KeyPath>{kp("params/layers"), kp("params/layers_0"),
                                       kp("params/layers_1"), kp("params/layers_2")}));
    }

    void sessionUndoRedoAndDirty() {
        NodePtr demo = makeDemoTrainState();
        EditSession session(demo);
        QVERIFY(!session.isDirty());
        QVERIFY(!session.canUndo());
        CKPT_VERIFY_OK(session.apply(Edit::rename(kp("step"), "global_step")));
        CKPT_VERIFY_OK(session.apply(Edit::cast(kp("params"), DType::kBFloat16)));
        QVERIFY(session.isDirty());
        QCOMPARE(session.history().size(), std::size_t{2});
        const NodePtr edited = session.root();
        // A failing edit changes nothing.
        QVERIFY(!session.apply(Edit::remove(kp("nope"))).isOk());
        QVERIFY(session.root() == edited);
        QCOMPARE(session.changedPaths(),
                 (std::vector<KeyPath>{kp("global_step"), kp("params"), kp("step")}));
        CKPT_VERIFY_OK(session.undo());
        QCOMPARE(session.redoEdit()->kind, EditKind::kCast);
        CKPT_VERIFY_OK(session.undo());
        QVERIFY(session.root() == demo);
        QVERIFY(!session.isDirty());
        QCOMPARE(session.undo().code(), StatusCode::kInvalidArgument);
        CKPT_VERIFY_OK(session.redo());
        CKPT_VERIFY_OK(session.redo());
        QVERIFY(session.root() == edited);
        QCOMPARE(session.redo().code(), StatusCode::kInvalidArgument);
        CKPT_VERIFY_OK(session.undo());
        CKPT_VERIFY_OK(session.apply(Edit::remove(kp("data"))));
        QVERIFY(!session.canRedo());  // a new edit drops the redo stack
        QCOMPARE(session.history().back().kind, EditKind::kDelete);
        // The history replays to the same tree.
        auto replay = applyRecipe(demo, session.history());
        CKPT_VERIFY_OK(replay);
        std::string why;
        QVERIFY2(test::sameTree(*replay, session.root(), why), why.c_str());
    }
};

QTEST_GUILESS_MAIN(TestEdit)
#include "tst_edit.moc"
