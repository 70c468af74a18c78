#include <cstring>

#include <fstream>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "formats/orbax/orbax_format.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
    const QByteArray dir = qgetenv("CKPT_SHARED_FIXTURES");
    if (dir.isEmpty()) qFatal("CKPT_SHARED_FIXTURES is not set (CTest sets it to ../shared/fixtures)");
    return fs::path(dir.toStdString()) / "orbax-compat";
}

std::vector<std::int32_t> int32s(const NodePtr& root, const KeyPath& path) {
    auto node = findNode(root, path);
    if (!node.isOk() || (*node)->kind() != NodeKind::kArray) return {};
    auto a = (*node)->array()->readAll();
    if (!a.isOk() || a->dtype() != DType::kInt32) return {};
    std::vector<std::int32_t> v(a->elementCount());
    std::memcpy(v.data(), a->bytes().data(), a->byteSize());
    return v;
}

}  // namespace

class TestOrbaxFormat : public QObject {
    Q_OBJECT
private slots:
    void opensSingleItemCheckpoint() {
        const fs::path dir = fixtures() / "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata";
        QCOMPARE(orbax::classifyDirectory(dir), orbax::DirectoryKind::kItem);
        auto ckpt = openCheckpoint(dir);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->format, std::string("orbax"));
        QCOMPARE(int32s(ckpt->tree, {"a"}), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
        QCOMPARE(int32s(ckpt->tree, {"b", "c"}), (std::vector<std::int32_t>{1, 2, 3}));
        QVERIFY(ckpt->warnings.empty());
    }
    void opensCompositeStepsOfBothApis() {
        for (const char* sub : {"v0_checkpoints/composite_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata",
                                "v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"}) {
            const fs::path dir = fixtures() / sub;
            QCOMPARE(orbax::classifyDirectory(dir), orbax::DirectoryKind::kStep);
            auto ckpt = openCheckpoint(dir);
            CKPT_VERIFY_OK(ckpt);
            QCOMPARE(ckpt->tree->childCount(), std::size_t{2});
            QCOMPARE(int32s(ckpt->tree, {"state", "a"}), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
            QCOMPARE(int32s(ckpt->tree, {"state", "b", "c"}), (std::vector<std::int32_t>{1, 2, 3}));
            auto meta = findNode(ckpt->tree, {"metadata", "metadata"});
            CKPT_VERIFY_OK(meta);
            QCOMPARE((*meta)->text(), std::string("json_data"));
        }
    }
    void infersStructureWithoutMetadata() {
        const fs::path dir = fixtures() / "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_missing_metadata";
        auto ckpt = openCheckpoint(dir);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(int32s(ckpt->tree, {"b", "c"}), (std::vector<std::int32_t>{1, 2, 3}));
        QCOMPARE(ckpt->warnings.size(), std::size_t{1});
    }
    void nonCriticalAlterationsStillOpen() {
        for (const char* api : {"v0_checkpoints/direct_checkpoint", "v0_checkpoints/composite_checkpoint",
                                "v1_checkpoints/composite_checkpoint"}) {
            for (const auto& e : fs::directory_iterator(fixtures() / api / "non_critical_metadata_alterations")) {
                auto ckpt = openCheckpoint(e.path());
                QVERIFY2(ckpt.isOk(), (e.path().string() + ": " + ckpt.status().toString()).c_str());
            }
        }
    }
    void criticalAlterationsFailClearly() {
        for (const char* api : {"v0_checkpoints/direct_checkpoint", "v0_checkpoints/composite_checkpoint",
                                "v1_checkpoints/composite_checkpoint"}) {
            for (const char* what : {"missing_pytree_data_dir_d", "missing_pytree_data_file_manifest.ocdbt"}) {
                const fs::path dir = fixtures() / api / "critical_metadata_alterations" / what;
                auto ckpt = openCheckpoint(dir);
                QVERIFY2(!ckpt.isOk(), dir.string().c_str());
                QVERIFY2(ckpt.status().message().find(dir.string()) != std::string::npos,
                         ckpt.status().toString().c_str());
            }
        }
    }
    void listsManagerStepsAndSkipsUnfinished() {
        test::TempDir root;
        const fs::path item = fixtures() / "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata";
        for (const char* step : {"0", "100", "7"}) {
            fs::copy(item, root.path() / step, fs::copy_options::recursive);
        }
        fs::copy(item, root.path() / "200.orbax-checkpoint-tmp", fs::copy_options::recursive);
        fs::create_directory(root.path() / "notes_3");  // not a checkpoint
        auto steps = orbax::listManagerSteps(root.path());
        QCOMPARE(steps.size(), std::size_t{4});
        QCOMPARE(steps[0].step, std::string("0"));
        QCOMPARE(steps[2].step, std::string("100"));
        QVERIFY(!steps[3].complete);
        auto ckpt = openCheckpoint(root.path());
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(*ckpt->step, std::string("100"));  // the latest complete step
        OpenOptions o;
        o.step = "200";
        auto tmp = openCheckpoint(root.path(), o);
        QCOMPARE(tmp.status().code(), StatusCode::kInvalidArgument);
        QVERIFY(tmp.status().message().find("incomplete") != std::string::npos);
    }
    void openReadsNoChunkAndOneBadLeafKeepsTheRest() {
        // Our own writer, one directory per array (zarr v2), so single files can be damaged.
        test::TempDir tmp;
        const fs::path dir = tmp.path() / "ckpt";
        WriteOptions o;
        o.orbaxOcdbt = false;
        o.orbaxZarrVersion = 2;
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), dir, "orbax", o));
        // Garbage in every chunk of the kernel: opening must not notice (no chunk is read)...
        std::ofstream(dir / "params.Dense_0.kernel" / "0.0", std::ios::trunc) << "not zstd";
        // A scalar is a 0-d array in Orbax: its value is read when asked for, not at open.
        std::ofstream(dir / "step" / "0", std::ios::trunc) << "not zstd";
        // ...and the bias loses its array metadata: that leaf becomes an error, the rest browses.
        fs::remove(dir / "params.Dense_0.bias" / ".zarray");
        auto ckpt = openCheckpoint(dir);
        CKPT_VERIFY_OK(ckpt);
        auto kernel = findNode(ckpt->tree, {"params", "Dense_0", "kernel"});
        CKPT_VERIFY_OK(kernel);
        QCOMPARE((*kernel)->kind(), NodeKind::kArray);
        // Array metadata is read on first use, not at open.
        QVERIFY(!(*kernel)->array()->metadataLoaded());
        QCOMPARE((*kernel)->array()->shape(), (Shape{5, 3}));
        QVERIFY((*kernel)->array()->metadataLoaded());
        CKPT_VERIFY_OK((*kernel)->array()->metadataStatus());
        auto data = (*kernel)->array()->readAll();
        QCOMPARE(data.status().code(), StatusCode::kCorruption);
        QVERIFY2(data.status().message().find("params/Dense_0/kernel") != std::string::npos,
                 data.status().toString().c_str());
        // The bias is an array whose metadata status is the error (found when first used, so
        // opening gives no warning), naming _METADATA and the key path; reads fail with it.
        auto bias = findNode(ckpt->tree, {"params", "Dense_0", "bias"});
        CKPT_VERIFY_OK(bias);
        QCOMPARE((*bias)->kind(), NodeKind::kArray);
        QVERIFY(ckpt->warnings.empty());
        const Status biasError = (*bias)->array()->metadataStatus();
        CKPT_VERIFY_ERROR(biasError, StatusCode::kNotFound);
        QVERIFY2(biasError.message().find("params/Dense_0/bias") != std::string::npos &&
                     biasError.message().find("_METADATA") != std::string::npos,
                 biasError.toString().c_str());
        QCOMPARE((*bias)->array()->shape(), Shape{0});
        QCOMPARE((*bias)->array()->readAll().status().toString(), biasError.toString());
        auto step = findNode(ckpt->tree, {"step"});
        CKPT_VERIFY_OK(step);
        QCOMPARE((*step)->kind(), NodeKind::kScalar);
        QVERIFY((*step)->isLazyScalar());
        QCOMPARE((*step)->scalarDType(), DType::kInt64);
        auto stepValue = (*step)->loadScalar();
        QCOMPARE(stepValue.status().code(), StatusCode::kCorruption);
        QVERIFY2(stepValue.status().message().find("step") != std::string::npos,
                 stepValue.status().toString().c_str());
        QCOMPARE(int32s(ckpt->tree, {"data", "1"}), (std::vector<std::int32_t>{10, 11, 12, 13}));
    }

    // A _METADATA over 1 MiB is parsed on a second thread while the tree is built: the same tree
    // as in line, in file order; a late \u escape (the parse starts over) and a duplicate key
    // path (the build fails while the parser is still running) both come out right.
    void largeMetadataIsParsedWhileBuilding() {
        test::TempDir tmp;
        const fs::path dir = tmp.path() / "ckpt";
        WriteOptions o;
        o.orbaxOcdbt = false;
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), dir, "orbax", o));
        const fs::path metaPath = dir / "_METADATA";
        std::string original;
        {
            std::ifstream in(metaPath);
            original.assign(std::istreambuf_iterator<char>(in), {});
        }
        // Extra leaves (arrays without data: opened lazily, so only they are unreadable) go in
        // front of the writer's own entries, right after the opening of tree_metadata.
        const std::string marker = "\"tree_metadata\": {";
        const std::size_t at = original.find(marker);
        QVERIFY(at != std::string::npos);
        const auto withExtra = [&](int count, const std::string& lastKey) {
            std::string extra;
            for (int i = 0; i < count; ++i) {
                const std::string k = i + 1 == count ? lastKey : "extra_" + std::to_string(i);
                extra += "\"('" + k + "', 'w')\": {\"key_metadata\": [{\"key\": \"" + k +
                         "\", \"key_type\": 2}, {\"key\": \"w\", \"key_type\": 2}], "
                         "\"value_metadata\": {\"value_type\": \"jax.Array\", "
                         "\"skip_deserialize\": false, \"write_shape\": [4, 4]}}, ";
            }
            std::string text = original;
            text.insert(at + marker.size(), extra);
            std::ofstream(metaPath, std::ios::trunc) << text;
            return text.size();
        };
        constexpr int kExtra = 8000;
        QVERIFY(withExtra(kExtra, "extra_last") > (std::size_t{1} << 20));
        auto ckpt = openCheckpoint(dir);
        CKPT_VERIFY_OK(ckpt);
        const NodePtr& root = ckpt->tree;
        QCOMPARE(root->childCount(), std::size_t(kExtra) + makeDemoTrainState()->childCount());
        for (int i : {0, 1, 4095, 7998}) {
            QCOMPARE(root->childKey(static_cast<std::size_t>(i)), "extra_" + std::to_string(i));
        }
        QCOMPARE(root->childKey(kExtra - 1), std::string("extra_last"));
        auto extra = findNode(root, {"extra_17", "w"});
        CKPT_VERIFY_OK(extra);
        CKPT_VERIFY_ERROR((*extra)->array()->metadataStatus(), StatusCode::kNotFound);
        QCOMPARE(int32s(root, {"data", "1"}), (std::vector<std::int32_t>{10, 11, 12, 13}));

        // A \u escape near the end: the fast scanner gives up there and the parse starts over.
        withExtra(kExtra, "\\u00e9t\\u00e9");
        auto escaped = openCheckpoint(dir);
        CKPT_VERIFY_OK(escaped);
        QCOMPARE(escaped->tree->childCount(), root->childCount());
        QCOMPARE(escaped->tree->childKey(kExtra - 1), std::string("\xc3\xa9t\xc3\xa9"));
        QCOMPARE(escaped->tree->childKey(3), std::string("extra_3"));

        // The last extra leaf repeats the first (a JSON key given twice): as Python's json
        // reads it, one leaf, in the first place.
        withExtra(kExtra, "extra_0");
        auto twice = openCheckpoint(dir);
        CKPT_VERIFY_OK(twice);
        QCOMPARE(twice->tree->childCount(), root->childCount() - 1);
        QCOMPARE(twice->tree->childKey(0), std::string("extra_0"));
        QCOMPARE(twice->tree->childKey(kExtra - 2), std::string("extra_7998"));

        // A leaf that is also a container: the build fails while the parser is still running
        // (the second entry is early), and the error names the key path.
        withExtra(kExtra, "extra_last");
        std::string text;
        {
            std::ifstream in(metaPath);
            text.assign(std::istreambuf_iterator<char>(in), {});
        }
        const std::string bad = "\"('extra_1', 'w', 'x')\": {\"key_metadata\": [{\"key\": "
                                "\"extra_1\", \"key_type\": 2}, {\"key\": \"w\", \"key_type\": 2}, "
                                "{\"key\": \"x\", \"key_type\": 2}], \"value_metadata\": "
                                "{\"value_type\": \"None\"}}, ";
        const std::size_t second = text.find("\"('extra_2', 'w')\"");
        QVERIFY(second != std::string::npos);
        text.insert(second, bad);
        std::ofstream(metaPath, std::ios::trunc) << text;
        auto broken = openCheckpoint(dir);
        CKPT_VERIFY_ERROR(broken, StatusCode::kCorruption);
        QVERIFY2(broken.status().message().find("a leaf has children") != std::string::npos &&
                     broken.status().message().find("extra_1/w/x") != std::string::npos,
                 broken.status().toString().c_str());
    }
};

QTEST_GUILESS_MAIN(TestOrbaxFormat)
#include "tst_orbax_format.moc"
