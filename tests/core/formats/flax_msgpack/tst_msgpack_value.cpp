#include "formats/flax_msgpack/msgpack_value.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::flax;

namespace {
std::vector<std::byte> bytesOf(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int x : v) out.push_back(static_cast<std::byte>(x));
    return out;
}
}  // namespace

class TestMsgpackValue : public QObject {
    Q_OBJECT
private slots:
    void parsesScalarsAndContainers() {
        // {"a": [1, -2, 1.5, nil, true], "b": bin(2)}
        auto b = bytesOf({0x82, 0xa1, 'a', 0x95, 0x01, 0xfe, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
                          0xc0, 0xc3, 0xa1, 'b', 0xc4, 0x02, 0xaa, 0xbb});
        auto r = parseMsgpack(b);
        CKPT_VERIFY_OK(r);
        QCOMPARE(r->type, MpType::kMap);
        QCOMPARE(r->children.size(), std::size_t{4});
        const MpValue& arr = r->children[1];
        QCOMPARE(arr.children.size(), std::size_t{5});
        QCOMPARE(arr.children[0].u, std::uint64_t{1});
        QCOMPARE(arr.children[1].i, std::int64_t{-2});
        QCOMPARE(arr.children[2].f, 1.5);
        QCOMPARE(arr.children[3].type, MpType::kNil);
        QCOMPARE(arr.children[4].boolean, true);
        const MpValue& bin = r->children[3];
        QCOMPARE(bin.type, MpType::kBin);
        QCOMPARE(bin.offset, std::size_t{21});
        QCOMPARE(bin.size, std::size_t{2});
    }
    void extPointsAtPayload() {
        auto b = bytesOf({0xd5, 0x07, 0x11, 0x22});  // fixext 2, type 7
        auto r = parseMsgpack(b);
        CKPT_VERIFY_OK(r);
        QCOMPARE(r->type, MpType::kExt);
        QCOMPARE(r->extType, std::int8_t{7});
        QCOMPARE(r->offset, std::size_t{2});
        QCOMPARE(r->size, std::size_t{2});
    }
    void rejectsTruncationAtEveryLength() {
        auto b = bytesOf({0x82, 0xa1, 'a', 0x93, 0x01, 0xcd, 0x01, 0x00, 0xc4, 0x02, 0xaa, 0xbb,
                          0xa1, 'b', 0xc0});
        CKPT_VERIFY_OK(parseMsgpack(b));
        for (std::size_t n = 0; n < b.size(); ++n) {
            auto r = parseMsgpack(std::span(b).first(n));
            QVERIFY2(!r.isOk(), ("prefix of " + std::to_string(n) + " bytes parsed").c_str());
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
        }
    }
    void rejectsTrailingBytes() {
        auto r = parseMsgpack(bytesOf({0x01, 0x02}));
        QCOMPARE(r.status().code(), StatusCode::kCorruption);
        QVERIFY(r.status().message().find("trailing") != std::string::npos);
    }
    void absurdDeclaredSizesFailFast() {
        // array32 of 2^32-1 items, bin32 of 4 GiB, map32 of 2^32-1 pairs, ext32 of 4 GiB.
        for (auto b : {bytesOf({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}),
                       bytesOf({0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}),
                       bytesOf({0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xc0}),
                       bytesOf({0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00})}) {
            auto r = parseMsgpack(b);
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
        }
    }
    void limitsDepthAndCount() {
        std::vector<std::byte> deep(100000, std::byte{0x91});
        deep.push_back(std::byte{0xc0});
        auto r = parseMsgpack(deep);
        QCOMPARE(r.status().code(), StatusCode::kCorruption);
        QVERIFY(r.status().message().find("nesting") != std::string::npos);

        std::vector<std::byte> many{std::byte{0xdc}, std::byte{0x03}, std::byte{0xe8}};  // 1000
        many.insert(many.end(), 1000, std::byte{0xc0});
        MpLimits limits;
        limits.maxValues = 100;
        r = parseMsgpack(many, limits);
        QCOMPARE(r.status().code(), StatusCode::kCorruption);
        CKPT_VERIFY_OK(parseMsgpack(many));
    }
};

QTEST_GUILESS_MAIN(TestMsgpackValue)
#include "tst_msgpack_value.moc"
