#include <cstring>

#include "ckpt/core/demo.h"
#include "formats/flax_msgpack/flax_codec.h"
#include "formats/flax_msgpack/msgpack_value.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::flax;

namespace {

class VectorSink final : public ByteSink {
public:
    Status write(std::span<const std::byte> b) override {
        bytes->insert(bytes->end(), b.begin(), b.end());
        return okStatus();
    }
    std::shared_ptr<std::vector<std::byte>> bytes = std::make_shared<std::vector<std::byte>>();
};

std::shared_ptr<std::vector<std::byte>> encode(const NodePtr& tree, WriteOptions options = {}) {
    VectorSink sink;
    const Status s = encodeFlaxTree(tree, sink, options);
    if (!s.isOk()) qFatal("encode failed: %s", s.toString().c_str());
    return sink.bytes;
}

Result<NodePtr> decode(const std::shared_ptr<std::vector<std::byte>>& bytes) {
    return decodeFlaxTree(bytes, *bytes, "mem.msgpack");
}

std::vector<std::byte> leafBytes(const Node& n) {
    if (n.kind() == NodeKind::kArray) {
        auto a = n.array()->readAll().value();
        return {a.bytes().begin(), a.bytes().end()};
    }
    if (n.kind() == NodeKind::kScalar) return {n.scalar().bits().begin(), n.scalar().bits().end()};
    const auto* p = reinterpret_cast<const std::byte*>(n.text().data());
    return {p, p + n.text().size()};
}

// Structural and bitwise equality; `seqAsDict` accepts a dict keyed "0".. for a list/tuple.
void compareTrees(const Node& a, const Node& b, bool seqAsDict, const std::string& where = "") {
    const bool aSeq = a.kind() == NodeKind::kList || a.kind() == NodeKind::kTuple;
    if (aSeq && seqAsDict) {
        QCOMPARE(b.kind(), NodeKind::kDict);
    } else {
        QVERIFY2(a.kind() == b.kind(), where.c_str());
    }
    QCOMPARE(a.childCount(), b.childCount());
    for (std::size_t i = 0; i < a.childCount(); ++i) {
        QCOMPARE(a.childKey(i), b.childKey(i));
        compareTrees(*a.child(i), *b.child(i), seqAsDict, where + "/" + a.childKey(i));
    }
    if (a.kind() == NodeKind::kArray) {
        QCOMPARE(a.array()->dtype(), b.array()->dtype());
        QCOMPARE(a.array()->shape(), b.array()->shape());
    }
    if (a.kind() == NodeKind::kScalar) {
        QCOMPARE(a.scalar().dtype(), b.scalar().dtype());
        QCOMPARE(a.scalar().isNative(), b.scalar().isNative());
    }
    if (a.isLeaf()) QVERIFY2(leafBytes(a) == leafBytes(b), where.c_str());
}

NodePtr arrayOf(DType dtype, Shape shape) {
    Array a = Array::allocate(dtype, std::move(shape)).value();
    for (std::size_t i = 0; i < a.byteSize(); ++i) a.bytes()[i] = static_cast<std::byte>(i * 7 + 3);
    return Node::makeArray(makeMemorySource(std::move(a)));
}

}  // namespace

class TestFlaxCodec : public QObject {
    Q_OBJECT
private slots:
    void roundTripsTheDemoAsStateDict() {
        NodePtr demo = makeDemoTrainState();
        auto bytes = encode(demo);
        auto back = decode(bytes);
        CKPT_VERIFY_OK(back);
        compareTrees(*demo, **back, /*seqAsDict=*/true);
    }
    void roundTripsSequencesAsArrays() {
        NodePtr demo = makeDemoTrainState();
        WriteOptions o;
        o.sequenceEncoding = "array";
        auto back = decode(encode(demo, o));
        CKPT_VERIFY_OK(back);
        // Tuples come back as lists (msgpack has one array type); everything else is equal.
        auto opt = findNode(*back, {"opt_state"});
        QCOMPARE((*opt)->kind(), NodeKind::kList);
        auto kernel = findNode(*back, {"opt_state", "0", "mu", "Dense_0", "kernel"});
        CKPT_VERIFY_OK(kernel);
        QCOMPARE(leafBytes(**kernel),
                 leafBytes(**findNode(demo, {"opt_state", "0", "mu", "Dense_0", "kernel"})));
    }
    void everyDtypeAndShapeRoundTrips() {
        std::vector<DictEntry> entries;
        for (const auto& info : allDTypes()) {
            entries.push_back({std::string(info.name), arrayOf(info.dtype, {2, 3})});
            entries.push_back({std::string(info.name) + "_0d", arrayOf(info.dtype, {})});
            auto scalarBits = std::vector<std::byte>(info.itemSize, std::byte{1});
            entries.push_back({std::string(info.name) + "_np",
                               Node::makeScalar(*Scalar::fromBits(info.dtype, scalarBits))});
        }
        entries.push_back({"empty", arrayOf(DType::kFloat32, {3, 0, 2})});
        entries.push_back({"text", Node::makeString("héllo")});
        entries.push_back({"raw", Node::makeBytes(std::string("\x00\x01", 2))});
        entries.push_back({"none", Node::makeNone()});
        entries.push_back({"big_int", Node::makeScalar(Scalar::fromUInt64(1ULL << 63))});
        entries.push_back({"neg", Node::makeScalar(Scalar::fromInt64(-5))});
        entries.push_back({"cplx", Node::makeScalar(Scalar::fromComplex128({1.5, -2}))});
        entries.push_back({"a/b", Node::makeDict({})});
        NodePtr tree = Node::makeDict(std::move(entries));
        auto back = decode(encode(tree));
        CKPT_VERIFY_OK(back);
        compareTrees(*tree, **back, true);
    }
    void chunksLargeArraysLikeFlax() {
        NodePtr tree = Node::makeDict({{"w", arrayOf(DType::kFloat64, {10, 10})},
                                       {"small", arrayOf(DType::kFloat64, {8})}});
        WriteOptions o;
        o.maxChunkBytes = 64;  // 8 float64 per piece; "small" is exactly 64 bytes: not chunked
        auto bytes = encode(tree, o);
        auto parsed = parseMsgpack(*bytes);
        CKPT_VERIFY_OK(parsed);
        const MpValue& w = parsed->children[1];
        QCOMPARE(w.type, MpType::kMap);
        QCOMPARE(w.children.size(), std::size_t{6});
        QCOMPARE(viewOf(*bytes, w.children[0]), std::string_view(kChunkedArrayKey));
        const MpValue& chunks = w.children[5];
        QCOMPARE(chunks.children.size(), std::size_t{2 * 13});  // ceil(100 / 8) pieces
        QCOMPARE(parsed->children[3].type, MpType::kExt);
        auto back = decode(bytes);
        CKPT_VERIFY_OK(back);
        compareTrees(*tree, **back, true);
        auto slice = (*findNode(*back, {"w"}))->array()->read(Selection{{3, 5}, {4, 5}});
        CKPT_VERIFY_OK(slice);
        auto whole = (*findNode(tree, {"w"}))->array()->read(Selection{{3, 5}, {4, 5}});
        QVERIFY(std::equal(slice->bytes().begin(), slice->bytes().end(), whole->bytes().begin()));
    }
    void errorsNameTheKeyPath() {
        // {"params": {"w": ext1([[2], "float32", bin(4)])}}: 2 float32 need 8 bytes.
        const std::vector<int> payload = {0x93, 0x91, 0x02, 0xa7, 'f', 'l', 'o', 'a', 't', '3', '2',
                                          0xc4, 0x04, 0, 0, 0, 0};
        std::vector<int> doc = {0x81, 0xa6, 'p', 'a', 'r', 'a', 'm', 's', 0x81, 0xa1, 'w',
                                0xc7, static_cast<int>(payload.size()), 0x01};
        doc.insert(doc.end(), payload.begin(), payload.end());
        auto bytes = std::make_shared<std::vector<std::byte>>();
        for (int x : doc) bytes->push_back(static_cast<std::byte>(x));
        auto r = decode(bytes);
        QCOMPARE(r.status().code(), StatusCode::kCorruption);
        QVERIFY2(r.status().message().find("mem.msgpack: at key path 'params/w'") == 0,
                 r.status().message().c_str());
        QVERIFY(r.status().message().find("needs 8 bytes but holds 4") != std::string::npos);
    }
    void unknownDtypeIsUnsupported() {
        const std::vector<int> doc = {0x81, 0xa1, 'x', 0xc7, 0x09, 0x01, 0x93, 0x90, 0xa4, '<',
                                      'U', '1', '0', 0xc4, 0x00};
        auto bytes = std::make_shared<std::vector<std::byte>>();
        for (int x : doc) bytes->push_back(static_cast<std::byte>(x));
        auto r = decode(bytes);
        QCOMPARE(r.status().code(), StatusCode::kUnsupported);
        QVERIFY(r.status().message().find("'<U10'") != std::string::npos);
    }
    void survivesEveryTruncationAndByteFlip() {
        // Under the asan preset this proves no out-of-bounds access on hostile bytes.
        auto good = encode(makeDemoTrainState());
        for (std::size_t n = 0; n < good->size(); ++n) {
            auto cut = std::make_shared<std::vector<std::byte>>(good->begin(), good->begin() + static_cast<std::ptrdiff_t>(n));
            auto r = decode(cut);
            QVERIFY2(!r.isOk(), ("truncated to " + std::to_string(n) + " decoded").c_str());
        }
        int failures = 0;
        for (std::size_t i = 0; i < good->size(); ++i) {
            for (int bit : {0, 3, 7}) {
                auto flipped = std::make_shared<std::vector<std::byte>>(*good);
                (*flipped)[i] ^= static_cast<std::byte>(1 << bit);
                auto r = decode(flipped);
                if (!r.isOk()) {
                    ++failures;
                    continue;
                }
                // A flip that still decodes must give a tree whose leaves can all be read.
                walkTree(*r, [](const KeyPath&, const Node& node) {
                    if (node.kind() == NodeKind::kArray) (void)node.array()->readAll();
                    return true;
                });
            }
        }
        QVERIFY(failures > 0);
    }
};

QTEST_GUILESS_MAIN(TestFlaxCodec)
#include "tst_flax_codec.moc"
