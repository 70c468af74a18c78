#include <fstream>

#include "ckpt/core/format.h"
#include "formats/npz/npy_header.h"
#include "formats/npz/npz_format.h"
#include "formats/npz/zip_codec.h"
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

std::span<const std::byte> asBytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

std::string archiveOf(const std::vector<std::pair<std::string, std::string>>& files) {
    using namespace ckpt::npz;
    std::string out;
    std::vector<ZipWriteEntry> entries;
    for (const auto& [name, data] : files) {
        ZipWriteEntry e;
        e.name = name;
        e.size = data.size();
        e.localHeaderOffset = out.size();
        e.crc32 = crc32Update(0, asBytes(data));
        out += encodeLocalHeader(e) + data + encodeDataDescriptor(e);
        entries.push_back(e);
    }
    return out + encodeCentralDirectory(entries, out.size(), kZip64Limit);
}

std::string npy(const std::string& dict, const std::string& data) {
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(dict.size() & 0xFF));
    out.push_back(static_cast<char>(dict.size() >> 8));
    return out + dict + data;
}

NodePtr fullTree() {
    std::vector<DictEntry> dtypes;
    for (const auto& info : allDTypes()) {
        dtypes.push_back({std::string(info.name),
                          arrayOf(info.dtype, {2, 3}, static_cast<std::uint8_t>(info.dtype))});
    }
    return Node::makeDict({
        {"params",
         Node::makeDict({{"Dense_0", Node::makeDict({{"kernel", arrayOf(DType::kFloat32, {2, 3})},
                                                     {"bias", arrayOf(DType::kBFloat16, {3})}})},
                         {"a.b/c", arrayOf(DType::kInt16, {2})}})},
        {"layers", Node::makeList(
                       {arrayOf(DType::kInt8, {2}), Node::makeNone(),
                        Node::makeTuple({Node::makeString("gelu"), arrayOf(DType::kUInt8, {0})})})},
        {"step", Node::makeScalar(Scalar::fromInt64(3))},
        {"np_scalar", Node::makeScalar(Scalar::fromFloat64(0.5, false))},
        {"empty", Node::makeDict({})},
        {"zero_d", arrayOf(DType::kComplex64, {})},
        {"dtypes", Node::makeDict(std::move(dtypes))},
    });
}

}  // namespace

class TestNpzFormat : public QObject {
    Q_OBJECT
private slots:
    void roundTripsEveryKindExactly() {
        test::TempDir dir;
        const fs::path file = dir.path() / "state.npz";
        NodePtr tree = fullTree();
        CKPT_VERIFY_OK(writeCheckpoint(tree, file, "npz"));
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->format, std::string("npz"));
        QVERIFY2(ckpt->warnings.empty(), ckpt->warnings.empty() ? "" : ckpt->warnings[0].c_str());
        std::string why;
        QVERIFY2(sameTree(tree, ckpt->tree, why), why.c_str());
        auto kernel = findNode(ckpt->tree, {"params", "Dense_0", "kernel"});
        const StorageInfo info = (*kernel)->array()->storage();
        QCOMPARE(info.format, std::string("npz"));
        QVERIFY(info.codecs.empty());
        QVERIFY(info.location.find("params/Dense_0/kernel.npy") != std::string::npos);
    }
    void zip64RoundTripWithForcedThreshold() {
        test::TempDir dir;
        const fs::path file = dir.path() / "z64.npz";
        NodePtr tree = fullTree();
        CKPT_VERIFY_OK(npz::writeNpz(tree, file, {}, 100));
        const std::string bytes = readFile(file);
        QVERIFY(bytes.find("PK\x06\x06") != std::string::npos);
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        std::string why;
        QVERIFY2(sameTree(tree, ckpt->tree, why), why.c_str());
    }
    void readsForeignLayoutsWithoutSidecar() {
        test::TempDir dir;
        const fs::path file = dir.path() / "foreign.npz";
        // Fortran order 2x3 int16: memory holds columns; big-endian float32; a bfloat16 as |V2.
        std::string fdata;
        for (int v : {0, 3, 1, 4, 2, 5}) {
            fdata.push_back(static_cast<char>(v));
            fdata.push_back('\0');
        }
        const std::string be("\x3f\x80\x00\x00\x40\x00\x00\x00", 8);
        writeFile(
            file,
            archiveOf({
                {"params/w.npy",
                 npy("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }\n", fdata)},
                {"be.npy", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", be)},
                {"raw.npy",
                 npy("{'descr': '|V2', 'fortran_order': False, 'shape': (1,), }\n", "\x80\x3f")},
                {"notes.txt", "hi"},
            }));
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        auto w = findNode(ckpt->tree, {"params", "w"});
        CKPT_VERIFY_OK(w);
        std::string expect;
        for (int v : {0, 1, 2, 3, 4, 5}) {
            expect.push_back(static_cast<char>(v));
            expect.push_back('\0');
        }
        QCOMPARE(bytesOf(*w), expect);
        Array col = (*w)->array()->read(Selection{{0, 1}, {2, 1}}).value();
        QCOMPARE(std::string(reinterpret_cast<const char*>(col.bytes().data()), 4),
                 std::string("\x01\0\x04\0", 4));
        QCOMPARE(bytesOf(*findNode(ckpt->tree, {"be"})),
                 std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8));
        QCOMPARE((*findNode(ckpt->tree, {"raw"}))->array()->dtype(), DType::kUInt16);
        QCOMPARE(ckpt->warnings.size(), std::size_t{2});  // raw void + notes.txt
    }
    void rejectsHostileArchives() {
        test::TempDir dir;
        const std::string okNpy =
            npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", "abcdefgh");
        struct Case {
            const char* file;
            std::string bytes;
            const char* entry;
            StatusCode code;
        };
        const std::vector<Case> cases = {
            {"lying.npz",
             archiveOf(
                 {{"w.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }\n",
                                "abcdefgh")}}),
             "w.npy", StatusCode::kCorruption},
            {"evil.npz", archiveOf({{"../evil.npy", okNpy}}), "../evil.npy",
             StatusCode::kCorruption},
            {"abs.npz", archiveOf({{"/abs.npy", okNpy}}), "/abs.npy", StatusCode::kCorruption},
            {"object.npz",
             archiveOf({{"o.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n",
                                      "12345678")}}),
             "o.npy", StatusCode::kUnsupported},
        };
        for (const auto& c : cases) {
            const fs::path file = dir.path() / c.file;
            writeFile(file, c.bytes);
            auto r = openCheckpoint(file);
            QVERIFY2(!r.isOk(), c.file);
            QVERIFY2(r.status().code() == c.code, r.status().toString().c_str());
            QVERIFY2(r.status().message().find(file.string()) != std::string::npos,
                     r.status().message().c_str());
            QVERIFY2(r.status().message().find(c.entry) != std::string::npos,
                     r.status().message().c_str());
        }
        // CRC mismatch: the open succeeds (lazy), the whole read fails naming the entry.
        std::string flipped = archiveOf({{"w.npy", okNpy}});
        const std::size_t at = flipped.find("abcdefgh");
        flipped[at] = 'X';
        const fs::path crc = dir.path() / "crc.npz";
        writeFile(crc, flipped);
        auto ckpt = openCheckpoint(crc);
        CKPT_VERIFY_OK(ckpt);
        auto read = (*findNode(ckpt->tree, {"w"}))->array()->readAll();
        QCOMPARE(read.status().code(), StatusCode::kCorruption);
        QVERIFY(read.status().message().find("CRC") != std::string::npos);
        QVERIFY(read.status().message().find("'w.npy'") != std::string::npos);
    }
    void truncatedArchiveAtEveryLengthFails() {
        test::TempDir dir;
        const fs::path src = dir.path() / "small.npz";
        CKPT_VERIFY_OK(writeCheckpoint(
            Node::makeDict({{"a", arrayOf(DType::kInt8, {3})},
                            {"b", Node::makeList({arrayOf(DType::kFloat32, {2})})}}),
            src, "npz"));
        const std::string good = readFile(src);
        const fs::path cut = dir.path() / "cut.npz";
        for (std::size_t n = 0; n < good.size(); ++n) {
            writeFile(cut, good.substr(0, n));
            QVERIFY2(!openCheckpoint(cut, {}, "npz").isOk(), std::to_string(n).c_str());
        }
        for (std::size_t i = 0; i < good.size(); ++i) {
            std::string flipped = good;
            flipped[i] = static_cast<char>(flipped[i] ^ 0x41);
            writeFile(cut, flipped);
            auto r = openCheckpoint(cut, {}, "npz");
            if (r.isOk()) {
                walkTree(r->tree, [](const KeyPath&, const Node& n) {
                    if (n.kind() == NodeKind::kArray) (void)n.array()->readAll();
                    if (n.kind() == NodeKind::kScalar) (void)n.loadScalar();
                    return true;
                });
            }
        }
    }
    void refusesTreesItCannotHold() {
        test::TempDir dir;
        const fs::path file = dir.path() / "x.npz";
        auto check = [&](const NodePtr& tree, const std::string& mention) {
            Status s = writeCheckpoint(tree, file, "npz");
            QCOMPARE(s.code(), StatusCode::kInvalidArgument);
            QVERIFY2(s.message().find(mention) != std::string::npos, s.message().c_str());
            QVERIFY(!fs::exists(file));
        };
        check(Node::makeDict({{"p", Node::makeDict({{"raw", Node::makeBytes("x")}})}}), "p/raw");
        check(Node::makeDict({{"..", arrayOf(DType::kInt8, {1})}}), "'..'");
        check(Node::makeDict({{"a/b", arrayOf(DType::kInt8, {1})},
                              {"a", Node::makeDict({{"b", arrayOf(DType::kInt8, {1})}})}}),
              "both flatten");
        QVERIFY(fs::is_empty(dir.path()));
    }
};

QTEST_GUILESS_MAIN(TestNpzFormat)
#include "tst_npz_format.moc"
