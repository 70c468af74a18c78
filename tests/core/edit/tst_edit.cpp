// Edits on immutable trees: every kind applied and inverted, sharing of untouched subtrees,
// laziness, errors, cast values against independently known results, previewCast, EditSession.
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
