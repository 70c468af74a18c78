// Hostile input (issue 11), each case a test: keys that look like paths are never written outside
// the target; symbolic links inside a checkpoint that lead outside it are refused, naming the
// link; nesting 100,000 deep and a dict header declaring 10 million keys fail fast with a clear
// error; declared sizes whose product overflows or exceeds the read limit are refused before any
// allocation; compressed data inflating beyond its declared size is an error.
#include <QTest>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <zstd.h>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

void writeBytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::set<std::string> listing(const fs::path& root) {
    std::set<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        out.insert(fs::relative(entry.path(), root).generic_string());
    }
    return out;
}

NodePtr floats(Shape shape) {
    Array a = Array::allocate(DType::kFloat32, shape).value();
    for (std::uint64_t i = 0; i < a.elementCount(); ++i) {
        const float v = static_cast<float>(i);
        std::memcpy(a.bytes().data() + i * 4, &v, 4);
    }
    return Node::makeArray(makeMemorySource(std::move(a)));
}

// Reads every array and scalar; the first error.
Status readEverything(const NodePtr& root) {
    Status first = okStatus();
    walkTree(root, [&](const KeyPath&, const Node& node) {
        if (!first.isOk()) return false;
        if (node.kind() == NodeKind::kArray) first = node.array()->readAll().status();
        if (node.kind() == NodeKind::kScalar) first = node.loadScalar().status();
        return true;
    });
    return first;
}

bool mentions(const Status& status, const std::string& text) {
    return status.message().find(text) != std::string::npos;
}

}  // namespace

class TestHostileInput : public QObject {
    Q_OBJECT

private slots:
    void keysThatLookLikePathsStayInsideTheTarget_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("name");
        QTest::newRow("orbax") << "orbax" << "ckpt";
        QTest::newRow("flax") << "flax" << "ckpt.msgpack";
        QTest::newRow("hdf5") << "hdf5" << "ckpt.h5";
        QTest::newRow("safetensors") << "safetensors" << "ckpt.safetensors";
        QTest::newRow("npz") << "npz" << "ckpt.npz";
    }

    void keysThatLookLikePathsStayInsideTheTarget() {
        QFETCH(QString, format);
        QFETCH(QString, name);
        test::TempDir dir;
        const fs::path sandbox = dir.path() / "sandbox";
        const fs::path outside = dir.path() / "outside";
        fs::create_directories(sandbox);
        fs::create_directories(outside);
        writeBytes(outside / "keep.txt", "untouched");
        const std::vector<std::string> keys = {"..",       "../../escape", "a/b",     "/abs",
                                               std::string("nul\0byte", 8), "C:\\x", ".", ""};
        for (const std::string& key : keys) {
            const NodePtr tree = Node::makeDict(
                {{"params", Node::makeDict({{key, floats({3})}, {"ok", floats({2})}})}});
            const fs::path target = sandbox / name.toStdString();
            std::error_code ec;
            fs::remove_all(target, ec);
            const Status written = writeCheckpoint(tree, target, format.toStdString());
            // Whatever happened, nothing outside the target: the sandbox holds only the target,
            // and the directory beside it is as it was.
            for (const std::string& entry : listing(sandbox)) {
                QVERIFY2(entry.rfind(name.toStdString(), 0) == 0,
                         ("key '" + key + "' wrote " + entry).c_str());
            }
            QCOMPARE(listing(outside), (std::set<std::string>{"keep.txt"}));
            QCOMPARE(listing(dir.path()).count("escape"), std::size_t{0});
            if (!written.isOk()) {
                QVERIFY2(!written.message().empty(), "an empty error");
                continue;
            }
            // Written: it opens and reads back.
            auto opened = openCheckpoint(target);
            CKPT_VERIFY_OK(opened.status());
            CKPT_VERIFY_OK(readEverything(opened->tree));
        }
    }

    void symlinkOutsideTheCheckpointIsRefused() {
        test::TempDir dir;
        const fs::path ckpt = dir.path() / "ckpt";
        const NodePtr tree = Node::makeDict({{"w", floats({64})}, {"b", floats({4})}});
        CKPT_VERIFY_OK(writeCheckpoint(tree, ckpt, "orbax"));
        CKPT_VERIFY_OK(readEverything(openCheckpoint(ckpt)->tree));

        // The data directory moved out and linked back in.
        const fs::path away = dir.path() / "elsewhere";
        fs::create_directories(away);
        fs::rename(ckpt / "d", away / "d");
        fs::create_directory_symlink(away / "d", ckpt / "d");
        auto opened = openCheckpoint(ckpt);
        Status status = opened.isOk() ? readEverything(opened->tree) : opened.status();
        QVERIFY2(!status.isOk() && mentions(status, "outside"), status.toString().c_str());
        fs::remove(ckpt / "d");
        fs::rename(away / "d", ckpt / "d");
        CKPT_VERIFY_OK(readEverything(openCheckpoint(ckpt)->tree));

        // A metadata file linked to one outside.
        fs::rename(ckpt / "_METADATA", away / "_METADATA");
        fs::create_symlink(away / "_METADATA", ckpt / "_METADATA");
        opened = openCheckpoint(ckpt);
        status = opened.isOk() ? readEverything(opened->tree) : opened.status();
        QVERIFY2(!status.isOk() && mentions(status, "_METADATA") && mentions(status, "outside"),
                 status.toString().c_str());

        // A link that stays inside the checkpoint is fine.
        fs::remove(ckpt / "_METADATA");
        fs::rename(away / "_METADATA", ckpt / "_METADATA.real");
        fs::create_symlink("_METADATA.real", ckpt / "_METADATA");
        CKPT_VERIFY_OK(readEverything(openCheckpoint(ckpt)->tree));
    }

    void safetensorsShardLinkedOutsideIsRefused() {
        test::TempDir dir;
        const fs::path shards = dir.path() / "model";
        fs::create_directories(shards);
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"w", floats({4})}}),
                                       dir.path() / "shard.safetensors", "safetensors"));
        fs::create_symlink(dir.path() / "shard.safetensors",
                           shards / "model-00001-of-00001.safetensors");
        writeBytes(shards / "model.safetensors.index.json",
                   R"({"metadata": {}, "weight_map": {"w": "model-00001-of-00001.safetensors"}})");
        auto opened = openCheckpoint(shards);
        const Status status = opened.isOk() ? readEverything(opened->tree) : opened.status();
        QVERIFY2(!status.isOk() && mentions(status, "outside"), status.toString().c_str());
    }

    void nestingDeepFailsCleanly() {
        test::TempDir dir;
        // Flax msgpack: {"a": {"a": ... 100,000 deep ... None}}.
        std::string bytes;
        for (int i = 0; i < 100'000; ++i) bytes += "\x81\xa1" "a";
        bytes += '\xc0';
        writeBytes(dir.path() / "deep.msgpack", bytes);
        auto opened = openCheckpoint(dir.path() / "deep.msgpack");
        QVERIFY(!opened.isOk());
        QVERIFY2(mentions(opened.status(), "deep.msgpack") && mentions(opened.status(), "nest"),
                 opened.status().toString().c_str());

        // Orbax _METADATA nested 100,000 deep.
        const fs::path ckpt = dir.path() / "ckpt";
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"w", floats({2})}}), ckpt, "orbax"));
        writeBytes(ckpt / "_METADATA", "{\"tree_metadata\": " + std::string(100'000, '[') +
                                           std::string(100'000, ']') + "}");
        opened = openCheckpoint(ckpt);
        QVERIFY(!opened.isOk());
        QVERIFY2(mentions(opened.status(), "_METADATA"), opened.status().toString().c_str());
    }

    void tenMillionKeysDeclaredFailsFast() {
        test::TempDir dir;
        // A map32 header declaring 10,000,000 entries, followed by three.
        std::string bytes = "\xdf\x00\x98\x96\x80";
        for (int i = 0; i < 3; ++i) bytes += std::string("\xa1") + char('a' + i) + '\xc0';
        writeBytes(dir.path() / "wide.msgpack", bytes);
        const auto start = std::chrono::steady_clock::now();
        auto opened = openCheckpoint(dir.path() / "wide.msgpack");
        const auto took = std::chrono::steady_clock::now() - start;
        QVERIFY(!opened.isOk());
        QVERIFY2(mentions(opened.status(), "wide.msgpack"), opened.status().toString().c_str());
        QVERIFY(took < std::chrono::seconds(5));
    }

    void decompressionBombIsAnError() {
        // An Orbax checkpoint without OCDBT keeps each zarr chunk in a file: the one chunk of a
        // 16-element float32 array (64 bytes) becomes a zstd frame of 512 MiB of zeros.
        test::TempDir dir;
        const fs::path ckpt = dir.path() / "ckpt";
        WriteOptions options;
        options.orbaxOcdbt = false;
        CKPT_VERIFY_OK(writeCheckpoint(Node::makeDict({{"w", floats({16})}}), ckpt, "orbax",
                                       options));
        // As a zarr v2 array (older Orbax), whose chunk file is the frame itself.
        fs::remove_all(ckpt / "w");
        fs::create_directories(ckpt / "w");
        writeBytes(ckpt / "w" / ".zarray",
                   R"({"zarr_format": 2, "shape": [16], "chunks": [16], "dtype": "<f4",
                       "compressor": {"id": "zstd", "level": 1}, "fill_value": null,
                       "filters": null, "order": "C"})");
        ZSTD_CCtx* cctx = ZSTD_createCCtx();
        const std::string zeros(1 << 20, '\0');
        std::string frame;
        std::string out(ZSTD_CStreamOutSize(), '\0');
        for (int i = 0; i < 512; ++i) {
            ZSTD_inBuffer in{zeros.data(), zeros.size(), 0};
            const ZSTD_EndDirective mode = i == 511 ? ZSTD_e_end : ZSTD_e_continue;
            std::size_t left = 0;
            do {
                ZSTD_outBuffer o{out.data(), out.size(), 0};
                left = ZSTD_compressStream2(cctx, &o, &in, mode);
                QVERIFY(!ZSTD_isError(left));
                frame.append(out.data(), o.pos);
            } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
        }
        ZSTD_freeCCtx(cctx);
        QVERIFY(frame.size() < (1 << 20));
        writeBytes(ckpt / "w" / "0", frame);
        auto opened = openCheckpoint(ckpt);
        CKPT_VERIFY_OK(opened.status());
        const Status status = readEverything(opened->tree);
        QVERIFY2(!status.isOk() && mentions(status, "chunk 'w/0'") &&
                     mentions(status, ckpt.string()) && mentions(status, "more than the 64 bytes"),
                 status.toString().c_str());
    }

    void declaredSizesBeyondTheLimitAreRefused() {
        test::TempDir dir;
        // safetensors: a shape whose product overflows 64 bits, and one of 2^40 float32
        // elements (4 TiB) with 8 bytes of data.
        const auto header = [](const std::string& json) {
            std::string out(8, '\0');
            const std::uint64_t n = json.size();
            std::memcpy(out.data(), &n, 8);
            return out + json;
        };
        writeBytes(dir.path() / "overflow.safetensors",
                   header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})") +
                       std::string(8, '\0'));
        auto opened = openCheckpoint(dir.path() / "overflow.safetensors");
        QVERIFY2(!opened.isOk() && mentions(opened.status(), "overflow.safetensors"),
                 opened.status().toString().c_str());

        // In flax msgpack: an ndarray claiming 2^40 elements over 8 bytes of data.
        std::string nd = "\x93\x91\xcf";  // (shape=[u64], dtype, buffer)
        const std::uint64_t big = std::uint64_t{1} << 40;
        for (int shift = 56; shift >= 0; shift -= 8) nd += static_cast<char>((big >> shift) & 0xff);
        nd += "\xa7" "float32" "\xc4\x08" + std::string(8, '\0');
        std::string ext = "\xc7";
        ext += static_cast<char>(nd.size());
        ext += '\x01';
        ext += nd;
        writeBytes(dir.path() / "huge.msgpack", std::string("\x81\xa1w") + ext);
        opened = openCheckpoint(dir.path() / "huge.msgpack");
        const Status status = opened.isOk() ? readEverything(opened->tree) : opened.status();
        QVERIFY2(!status.isOk() && mentions(status, "huge.msgpack"), status.toString().c_str());

        // A leaf that is legitimately larger than one read may allocate is refused, not
        // allocated: 2^31 float32 elements declared by a real-looking safetensors file whose
        // data is absent.
        writeBytes(dir.path() / "big.safetensors",
                   header(R"({"w":{"dtype":"F32","shape":[2147483648],"data_offsets":[0,8589934592]}})"));
        opened = openCheckpoint(dir.path() / "big.safetensors");
        QVERIFY2(!opened.isOk() && mentions(opened.status(), "big.safetensors"),
                 opened.status().toString().c_str());
    }
};

QTEST_MAIN(TestHostileInput)
#include "tst_hostile_input.moc"
