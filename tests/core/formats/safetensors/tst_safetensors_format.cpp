#include <cstring>
#include <fstream>

#include "ckpt/core/format.h"
#include "formats/safetensors/flat_tree.h"
#include "formats/safetensors/safetensors_format.h"
#include "formats/safetensors/safetensors_header.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;
namespace fs = std::filesystem;

using test::arrayOf;
using test::bytesOf;
using test::readFile;
using test::sameTree;
using test::writeFile;

namespace {

// A safetensors file with header `json` and `data` bytes.
std::string makeFile(const std::string& json, const std::string& data) {
    std::string out;
    std::uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    return out + json + data;
}

NodePtr fullTree() {
    std::vector<DictEntry> params;
    params.push_back({"Dense_0", Node::makeDict({{"kernel", arrayOf(DType::kFloat32, {2, 3})},
                                                 {"bias", arrayOf(DType::kBFloat16, {3})}})});
    params.push_back({"dotted.key", arrayOf(DType::kFloat8E4M3FN, {4})});
    std::vector<DictEntry> root;
    root.push_back({"params", Node::makeDict(std::move(params))});
    root.push_back({"layers", Node::makeList({arrayOf(DType::kInt8, {2}), Node::makeNone(),
                                              Node::makeTuple({arrayOf(DType::kUInt64, {1}),
                                                               Node::makeString("relu")})})});
    root.push_back({"step", Node::makeScalar(Scalar::fromInt64(7))});
    root.push_back(
        {"lr",
         Node::makeScalar(
             Scalar::fromBits(DType::kFloat32, std::as_bytes(std::span("\0\0\x80?", 4))).value())});
    root.push_back({"empty_dict", Node::makeDict({})});
    root.push_back({"empty_list", Node::makeList({})});
    root.push_back({"nothing", Node::makeNone()});
    root.push_back({"zero_d", arrayOf(DType::kFloat64, {})});
    root.push_back({"empty", arrayOf(DType::kFloat32, {0, 3})});
    std::vector<DictEntry> dtypes;
    for (DType d : {DType::kBool, DType::kUInt8, DType::kInt8, DType::kUInt16, DType::kInt16,
                    DType::kUInt32, DType::kInt32, DType::kUInt64, DType::kInt64, DType::kFloat16,
                    DType::kBFloat16, DType::kFloat32, DType::kFloat64, DType::kComplex64,
                    DType::kFloat8E4M3FN, DType::kFloat8E5M2, DType::kFloat8E8M0FNU,
                    DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2FNUZ}) {
        dtypes.push_back(
            {std::string(dtypeName(d)), arrayOf(d, {2, 2}, static_cast<std::uint8_t>(d))});
    }
    root.push_back({"dtypes", Node::makeDict(std::move(dtypes))});
    return Node::makeDict(std::move(root));
}

}  // namespace

class TestSafetensorsFormat : public QObject {
    Q_OBJECT
private slots:
    void roundTripsEveryKindExactly() {
        test::TempDir dir;
        const fs::path file = dir.path() / "model.safetensors";
        NodePtr tree = fullTree();
        CKPT_VERIFY_OK(writeCheckpoint(tree, file, "safetensors"));
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->format, std::string("safetensors"));
        QVERIFY2(ckpt->warnings.empty(), ckpt->warnings.empty() ? "" : ckpt->warnings[0].c_str());
        std::string why;
        QVERIFY2(sameTree(tree, ckpt->tree, why), why.c_str());
        // Storage facts and lazy slices.
        auto kernel = findNode(ckpt->tree, {"params", "Dense_0", "kernel"});
        CKPT_VERIFY_OK(kernel);
        const StorageInfo info = (*kernel)->array()->storage();
        QCOMPARE(info.format, std::string("safetensors"));
        QCOMPARE(info.file, file.string());
        QVERIFY(info.codecs.empty());
        QCOMPARE(info.storedBytes, std::uint64_t{24});
        Selection sel{{1, 1}, {1, 2}};
        Array part = (*kernel)->array()->read(sel).value();
        const std::string whole = bytesOf(*kernel);
        QCOMPARE(std::string(reinterpret_cast<const char*>(part.bytes().data()), 8),
                 whole.substr(16, 8));
    }
    void headerIsPaddedAndDataFollows() {
        test::TempDir dir;
        const fs::path file = dir.path() / "a.safetensors";
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"a", arrayOf(DType::kFloat32, {3})}}), file,
                                       "safetensors"));
        const std::string bytes = readFile(file);
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
        QCOMPARE(n % 8, std::uint64_t{0});
        QCOMPARE(bytes.size(), 8 + n + 12);
        QCOMPARE(bytes[8], '{');
        // Compact JSON, metadata first, each tensor once, then the padding.
        const std::string header = bytes.substr(8, n);
        QVERIFY2(header.rfind("{\"__metadata__\":{", 0) == 0, header.c_str());
        const std::string tail =
            "},\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        const std::size_t end = header.find_last_not_of(' ') + 1;
        QVERIFY2(end >= tail.size() && header.compare(end - tail.size(), tail.size(), tail) == 0,
                 header.c_str());
    }
    void fallsBackToDotSplitWithoutStructure() {
        test::TempDir dir;
        const fs::path file = dir.path() / "plain.safetensors";
        writeFile(
            file,
            makeFile(
                R"({"__metadata__":{"format":"pt"},"b.x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a.y.z":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})",
                "\x05\x06"));
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        const NodePtr& t = ckpt->tree;
        QCOMPARE(t->childCount(), std::size_t{3});  // a, b (dict), and "b" kept whole
        QCOMPARE(t->childKey(0), std::string("a"));
        QCOMPARE(bytesOf(*findNode(t, {"a", "y", "z"})), std::string("\x05"));
        QCOMPARE(bytesOf(*findNode(t, {"b", "x"})), std::string("\x06"));
        QCOMPARE(t->attributes().size(), std::size_t{1});
        QCOMPARE(t->attributes()[0].second, std::string("pt"));
        // A structure record that does not match the tensors is ignored with a warning.
        const fs::path bad = dir.path() / "bad.safetensors";
        writeFile(
            bad, makeFile("{\"__metadata__\":{\"ckpt_studio.tree\":\"{\\\"ckpt_studio_tree\\\":1,"
                          "\\\"root\\\":{\\\"dict\\\":[[\\\"q\\\",{\\\"array\\\":\\\"missing\\\"}]]"
                          "}}\"},\"a.b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                          "\x01"));
        auto c2 = openCheckpoint(bad);
        CKPT_VERIFY_OK(c2);
        QCOMPARE(c2->warnings.size(), std::size_t{1});
        QVERIFY(findNode(c2->tree, {"a", "b"}).isOk());
    }
    void refusesTreesItCannotHold() {
        test::TempDir dir;
        const fs::path file = dir.path() / "x.safetensors";
        auto check = [&](const NodePtr& tree, const std::string& mention) {
            Status s = writeCheckpoint(tree, file, "safetensors");
            QCOMPARE(s.code(), StatusCode::kInvalidArgument);
            QVERIFY2(s.message().find(mention) != std::string::npos, s.message().c_str());
            QVERIFY(!fs::exists(file));
        };
        check(Node::makeDict({{"a", Node::makeDict({{"raw", Node::makeBytes("xy")}})}}), "a/raw");
        check(Node::makeDict({{"c", arrayOf(DType::kComplex128, {2})}}), "complex128");
        check(Node::makeDict({{"f", arrayOf(DType::kFloat8E4M3, {2})}}), "float8_e4m3");
        check(Node::makeDict({{"f", arrayOf(DType::kFloat8E3M4, {2})}}), "'f'");
        check(Node::makeDict({{"a.b", arrayOf(DType::kInt8, {1})},
                              {"a", Node::makeDict({{"b", arrayOf(DType::kInt8, {1})}})}}),
              "both flatten to the tensor name 'a.b'");
        check(arrayOf(DType::kInt8, {1}), "root");
        check(Node::makeDict({{"__metadata__", arrayOf(DType::kInt8, {1})}}),
              "'__metadata__', which the format reserves");
        QVERIFY(fs::is_empty(dir.path()));
    }
    void rejectsHostileHeaders() {
        test::TempDir dir;
        struct Case {
            const char* name;
            std::string bytes;
            const char* mention;
        };
        std::string huge(8, '\0');
        huge[0] = '\x01';
        huge[4] = '\x01';  // 2^32 + 1
        std::string pastEof = makeFile("{}", "");
        pastEof[0] = 100;
        const std::vector<Case> cases = {
            {"short", "abc", "too short"},
            {"huge", huge + "{}", "exceeds"},
            {"pasteof", pastEof, "past the end"},
            {"badjson", makeFile("{\"a\": [1,", ""), "not a valid JSON"},
            {"notbrace", makeFile("[1]     ", ""), "does not start"},
            {"overlap",
             makeFile(
                 R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                 "xyz"),
             "'b'"},
            {"range",
             makeFile(
                 R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"evil":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                 "xyz"),
             "'evil'"},
            {"size", makeFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"),
             "'w'"},
            {"gap", makeFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab"),
             "'w'"},
            {"tail", makeFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "ab"),
             "not fully covered"},
            {"dtype", makeFile(R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", "a"),
             "'w'"},
            {"overflow",
             makeFile(
                 R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                 "abcdefgh"),
             "'w'"},
            {"negshape", makeFile(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "a"),
             "'w'"},
            {"meta", makeFile(R"({"__metadata__":{"k":1}})", ""), "__metadata__"},
        };
        for (const auto& c : cases) {
            const fs::path file = dir.path() / (std::string(c.name) + ".safetensors");
            writeFile(file, c.bytes);
            auto r = openCheckpoint(file);
            QVERIFY2(!r.isOk(), c.name);
            QVERIFY2(r.status().code() == StatusCode::kCorruption, r.status().toString().c_str());
            QVERIFY2(r.status().message().find(file.string()) != std::string::npos,
                     r.status().message().c_str());
            QVERIFY2(r.status().message().find(c.mention) != std::string::npos,
                     r.status().message().c_str());
        }
        // F4 is known to safetensors but not to us: Unsupported, naming the tensor.
        const fs::path f4 = dir.path() / "f4.safetensors";
        writeFile(f4, makeFile(R"({"q":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", "a"));
        auto r = openCheckpoint(f4);
        QCOMPARE(r.status().code(), StatusCode::kUnsupported);
        QVERIFY(r.status().message().find("'q'") != std::string::npos);
    }
    void truncationAndByteFlipsNeverCrash() {
        test::TempDir dir;
        const fs::path file = dir.path() / "src.safetensors";
        CKPT_VERIFY_OK(writeCheckpoint(fullTree(), file, "safetensors"));
        const std::string good = readFile(file);
        const fs::path cut = dir.path() / "cut.safetensors";
        for (std::size_t n = 0; n < good.size(); n += (n < 64 ? 1 : 97)) {
            writeFile(cut, good.substr(0, n));
            auto r = openCheckpoint(cut);
            QVERIFY2(!r.isOk(), std::to_string(n).c_str());
        }
        for (std::size_t i = 0; i < good.size(); i += 13) {
            std::string flipped = good;
            flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
            writeFile(cut, flipped);
            auto r = openCheckpoint(cut);
            if (r.isOk()) {
                walkTree(r->tree, [](const KeyPath&, const Node& n) {
                    if (n.kind() == NodeKind::kArray) (void)n.array()->readAll();
                    return true;
                });
            }
        }
    }
    void opensShardedSetsThroughTheIndex() {
        test::TempDir dir;
        CKPT_VERIFY_OK(writeCheckpoint(
            Node::makeDict({{"a", Node::makeDict({{"w", arrayOf(DType::kFloat32, {2})}})}}),
            dir.path() / "model-00001-of-00002.safetensors", "safetensors"));
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"b", arrayOf(DType::kInt32, {3})}}),
                                       dir.path() / "model-00002-of-00002.safetensors",
                                       "safetensors"));
        const fs::path index = dir.path() / "model.safetensors.index.json";
        writeFile(
            index,
            R"({"metadata":{"total_size":20},"weight_map":{"a.w":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
        for (const fs::path& p : {index, dir.path()}) {
            auto ckpt = openCheckpoint(p);
            CKPT_VERIFY_OK(ckpt);
            QCOMPARE(ckpt->format, std::string("safetensors"));
            QVERIFY(findNode(ckpt->tree, {"a", "w"}).isOk());
            QCOMPARE((*findNode(ckpt->tree, {"b"}))->array()->dtype(), DType::kInt32);
        }
        for (const char* evil :
             {"../model-00002-of-00002.safetensors", "/etc/passwd", "a/../../x"}) {
            writeFile(index, std::string(R"({"weight_map":{"b":")") + evil + "\"}}");
            auto r = openCheckpoint(index);
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
            QVERIFY(r.status().message().find(index.string()) != std::string::npos);
        }
        writeFile(index, R"({"weight_map":{"zz":"model-00002-of-00002.safetensors"}})");
        auto r = openCheckpoint(index);
        QCOMPARE(r.status().code(), StatusCode::kCorruption);
        QVERIFY(r.status().message().find("'zz'") != std::string::npos);
    }
    void writerHonoursOverwriteAndCancel() {
        test::TempDir dir;
        const fs::path file = dir.path() / "m.safetensors";
        NodePtr tree = Node::makeDict({{"a", arrayOf(DType::kFloat32, {1000})}});
        CKPT_VERIFY_OK(writeCheckpoint(tree, file, "safetensors"));
        CKPT_VERIFY_ERROR(writeCheckpoint(tree, file, "safetensors"), StatusCode::kAlreadyExists);
        WriteOptions o;
        o.overwrite = true;
        std::uint64_t last = 0;
        o.progress = [&](std::uint64_t done, std::uint64_t) { last = done; };
        CKPT_VERIFY_OK(writeCheckpoint(tree, file, "safetensors", o));
        QCOMPARE(last, std::uint64_t{4000});
        CancelToken cancel;
        cancel.cancel();
        o.cancel = &cancel;
        const fs::path other = dir.path() / "n.safetensors";
        CKPT_VERIFY_ERROR(writeCheckpoint(tree, other, "safetensors", o), StatusCode::kCancelled);
        QVERIFY(!fs::exists(other));
    }
    void dtypeCodesMatchTheReference() {
        using safetensors::dtypeCode;
        QCOMPARE(std::string(*dtypeCode(DType::kFloat8E4M3FN)), std::string("F8_E4M3"));
        QCOMPARE(std::string(*dtypeCode(DType::kBFloat16)), std::string("BF16"));
        QCOMPARE(std::string(*dtypeCode(DType::kComplex64)), std::string("C64"));
        QCOMPARE(std::string(*dtypeCode(DType::kFloat8E8M0FNU)), std::string("F8_E8M0"));
        QVERIFY(!dtypeCode(DType::kComplex128));
        QVERIFY(!dtypeCode(DType::kFloat8E4M3B11FNUZ));
    }
};

QTEST_GUILESS_MAIN(TestSafetensorsFormat)
#include "tst_safetensors_format.moc"
