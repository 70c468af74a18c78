// Multi-process HDF5 saves (ckpt/core/sharded_writer.h, writeHdf5ProcessShards) and the reader's
// virtual datasets (formats/hdf5/hdf5_virtual.h). N "processes" (threads here;
// tests/interop/test_hdf5_multiprocess.py runs real ckpt processes and h5py) write one
// checkpoint directory; it reopens bit-exact with each block reported as its process's shard; a
// missing process commits nothing and leaves the previous checkpoint; damaged virtual datasets
// (a missing source file or dataset, a wrong source shape or dtype, a gap, an overlap, an
// absolute or escaping source name) are errors naming the file and the key path, never zeros.
#include <hdf5.h>

#include <fstream>
#include <set>
#include <thread>

#include "ckpt/core/checkpoint.h"
#include "ckpt/core/sharded_writer.h"
#include "ckpt/core/sharding.h"
#include "formats/hdf5/hdf5_lib.h"
#include "formats/hdf5/hdf5_virtual.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

NodePtr sampleTree(std::uint8_t seed) {
    std::vector<DictEntry> nested;
    nested.push_back({"bias", test::arrayOf(DType::kInt32, {8}, seed + 1)});
    nested.push_back({"kernel", test::arrayOf(DType::kFloat32, {8, 3}, seed)});
    std::vector<DictEntry> top;
    top.push_back({"big", test::arrayOf(DType::kBFloat16, {16, 300}, seed + 4)});
    top.push_back({"counts", test::arrayOf(DType::kInt64, {8, 2}, seed + 3)});
    top.push_back({"dense", Node::makeDict(std::move(nested))});
    top.push_back({"name", Node::makeString("run-" + std::to_string(seed))});
    // 3 rows divide neither 2 nor 4 processes: replicated, in the master.
    top.push_back({"odd", test::arrayOf(DType::kFloat32, {3, 5}, seed + 2)});
    // '%' and '/' in a key: escaped link names, and '%' is H5Pset_virtual's substitution mark.
    top.push_back({"pct%/x", test::arrayOf(DType::kUInt8, {8}, seed + 5)});
    top.push_back({"step", Node::makeScalar(Scalar::fromInt64(7 + seed, false))});
    return Node::makeDict(std::move(top));
}

// The array at `keys` (owned by `tree`), or null.
const ArraySource* arrayAt(const NodePtr& tree, const std::vector<std::string>& keys) {
    auto node = findNode(tree, keys);
    return node.isOk() && *node && (*node)->kind() == NodeKind::kArray ? (*node)->array().get()
                                                                       : nullptr;
}

const Node* nodeAt(const NodePtr& tree, const std::string& key) {
    for (const auto& e : tree->entries()) {
        if (e.key == key) return e.value.get();
    }
    return nullptr;
}

std::vector<Status> saveOnThreads(const NodePtr& tree, const fs::path& target, int count,
                                  const std::vector<int>& indices, const std::string& saveId,
                                  std::chrono::milliseconds timeout, bool overwrite = false) {
    std::vector<Status> results(indices.size());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < indices.size(); ++t) {
        threads.emplace_back([&, t] {
            ProcessSaveOptions p;
            p.processIndex = indices[t];
            p.processCount = count;
            p.saveId = saveId;
            p.timeout = timeout;
            WriteOptions o;
            o.overwrite = overwrite;
            results[t] = writeHdf5ProcessShards(tree, target, p, o);
        });
    }
    for (auto& th : threads) th.join();
    return results;
}

std::vector<int> allOf(int n) {
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back(i);
    return v;
}

std::set<std::string> namesIn(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

// Hand-made virtual datasets for the damage cases, with libhdf5 directly.
struct Block {
    std::string file;
    std::string dataset;
    hsize_t row = 0;   // first row of the block in the 4x3 virtual dataset
    hsize_t rows = 0;  // rows it maps
};

void writeSource(const fs::path& path, const char* name, hsize_t rows, hid_t type, float base) {
    hdf5::Lock lock = hdf5::lockHdf5();
    const hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {rows, 3};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<float> values(rows * 3);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = base + static_cast<float>(i);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(d);
    H5Sclose(space);
    H5Fclose(f);
}

void writeMaster(const fs::path& dir, const std::vector<Block>& blocks) {
    hdf5::Lock lock = hdf5::lockHdf5();
    const hid_t f =
        H5Fcreate((dir / "checkpoint.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {4, 3};
    const hid_t vspace = H5Screate_simple(2, dims, nullptr);
    const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    for (const Block& b : blocks) {
        const hsize_t srcDims[2] = {b.rows, 3};
        const hid_t src = H5Screate_simple(2, srcDims, nullptr);
        const hsize_t start[2] = {b.row, 0};
        H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, nullptr, srcDims, nullptr);
        H5Pset_virtual(dcpl, vspace, b.file.c_str(), b.dataset.c_str(), src);
        H5Sclose(src);
    }
    H5Sselect_all(vspace);
    const hid_t d = H5Dcreate2(f, "w", H5T_IEEE_F32LE, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(vspace);
    H5Fclose(f);
}

// A 4x3 float32 "w" over process_0.h5 (rows 0-1, values 0..5) and process_1.h5 (rows 2-3,
// values 100..105).
void writeGoodVirtual(const fs::path& dir) {
    writeSource(dir / "process_0.h5", "w", 2, H5T_IEEE_F32LE, 0);
    writeSource(dir / "process_1.h5", "w", 2, H5T_IEEE_F32LE, 100);
    writeMaster(dir, {{"process_0.h5", "/w", 0, 2}, {"process_1.h5", "/w", 2, 2}});
}

// The error of opening or reading leaf "w" (OK when both work).
Status leafError(const fs::path& dir) {
    auto ckpt = openCheckpoint(dir);
    if (!ckpt.isOk()) return ckpt.status();
    const Node* w = nodeAt(ckpt->tree, "w");
    if (!w) return internalError("no leaf w");
    if (w->kind() != NodeKind::kArray) {
        return ckpt->warnings.empty() ? internalError("w is not an array")
                                      : corruptionError(ckpt->warnings.front());
    }
    auto data = w->array()->readAll();
    return data.isOk() ? okStatus() : data.status();
}

#define VERIFY_MENTIONS(status, text)                            \
    QVERIFY2((status).message().find(text) != std::string::npos, \
             ("expected '" + std::string(text) + "' in: " + (status).toString()).c_str())

}  // namespace

class TestHdf5Multiprocess : public QObject {
    Q_OBJECT
private slots:
    void processesWriteOneCheckpoint_data() {
        QTest::addColumn<int>("count");
        QTest::newRow("1") << 1;
        QTest::newRow("2") << 2;
        QTest::newRow("4") << 4;
    }
    void processesWriteOneCheckpoint() {
        QFETCH(int, count);
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        const NodePtr tree = sampleTree(static_cast<std::uint8_t>(count));
        for (const Status& s :
             saveOnThreads(tree, target, count, allOf(count), "s1", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(s);
        }
        // Only the checkpoint directory is left, holding the master and one file per process.
        QCOMPARE(namesIn(dir.path()), std::set<std::string>{"ckpt"});
        std::set<std::string> files{"checkpoint.h5"};
        for (int p = 0; p < count; ++p) files.insert("process_" + std::to_string(p) + ".h5");
        QCOMPARE(namesIn(target), files);

        // The directory and its master file open alike, bit-exact.
        for (const fs::path& path : {target, target / "checkpoint.h5"}) {
            auto ckpt = openCheckpoint(path);
            CKPT_VERIFY_OK(ckpt);
            QCOMPARE(ckpt->format, std::string("hdf5"));
            QVERIFY(ckpt->warnings.empty());
            std::string why;
            QVERIFY2(test::sameTree(ckpt->tree, tree, why), why.c_str());
        }
        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        std::vector<std::string> all;
        for (int p = 0; p < count; ++p) all.push_back(std::to_string(p));
        // Every leaf whose first dimension divides is split, block p by process p (any dtype).
        for (const auto& keys : std::vector<std::vector<std::string>>{
                 {"dense", "kernel"}, {"dense", "bias"}, {"big"}, {"counts"}, {"pct%/x"}}) {
            const ArraySource* a = arrayAt(ckpt->tree, keys);
            QVERIFY(a);
            const ShardedArray* sharded = shardingOf(*a);
            QVERIFY2(sharded, keys.back().c_str());
            auto s = sharded->sharding(ShardDetail::kFull);
            CKPT_VERIFY_OK(s);
            QCOMPARE(s->globalShape, a->shape());
            QCOMPARE(s->shardCount, static_cast<std::uint64_t>(count));
            QCOMPARE(s->shards.size(), static_cast<std::size_t>(count));
            QVERIFY(!s->mesh.has_value());
            const std::int64_t rows = a->shape()[0] / count;
            QCOMPARE(s->shardShape[0], rows);
            for (int p = 0; p < count; ++p) {
                const Shard& shard = s->shards[static_cast<std::size_t>(p)];
                QCOMPARE(shard.index.start[0], rows * p);
                QCOMPARE(shard.index.count[0], rows);
                QCOMPARE(shard.process, std::to_string(p));
                QVERIFY2(shard.key.rfind("process_" + std::to_string(p) + ".h5:/", 0) == 0,
                         shard.key.c_str());
            }
            QCOMPARE(s->leafProcesses, all);
            QCOMPARE(s->itemProcesses, all);
            // A slice across a block boundary reads the right elements.
            if (count > 1 && a->shape().size() == 2) {
                Selection sel{{rows - 1, 1}, {2, 1}};
                auto got = a->read(sel);
                CKPT_VERIFY_OK(got);
                const ArraySource* orig = arrayAt(tree, keys);
                auto want = orig->read(sel);
                CKPT_VERIFY_OK(want);
                QVERIFY(std::equal(got->bytes().begin(), got->bytes().end(), want->bytes().begin(),
                                   want->bytes().end()));
            }
        }
        // Replicated (3 rows, unless one process): a plain dataset in the master, no shards.
        const ArraySource* odd = arrayAt(ckpt->tree, {"odd"});
        QVERIFY(odd);
        QCOMPARE(shardingOf(*odd) == nullptr, count > 1);
        QCOMPARE(odd->storage().file, (target / "checkpoint.h5").string());
    }

    void aMissingProcessCommitsNothing() {
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        const NodePtr before = sampleTree(1);
        for (const Status& s :
             saveOnThreads(before, target, 2, {0, 1}, "a", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(s);
        }
        // Process 1 never comes: process 0 times out, removes the temporary; the previous
        // checkpoint is untouched.
        const NodePtr after = sampleTree(9);
        auto r = saveOnThreads(after, target, 2, {0}, "b", std::chrono::milliseconds(300), true);
        QCOMPARE(r[0].code(), StatusCode::kIoError);
        VERIFY_MENTIONS(r[0], "timed out");
        VERIFY_MENTIONS(r[0], target.string());
        VERIFY_MENTIONS(r[0], "process(es) 1");
        QCOMPARE(namesIn(dir.path()), std::set<std::string>{"ckpt"});
        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        std::string why;
        QVERIFY2(test::sameTree(ckpt->tree, before, why), why.c_str());

        // Process 0 never comes: process 1 gives up, nothing is committed, its part is gone.
        const fs::path fresh = dir.path() / "fresh";
        auto lone = saveOnThreads(after, fresh, 2, {1}, "c", std::chrono::milliseconds(300));
        QCOMPARE(lone[0].code(), StatusCode::kIoError);
        VERIFY_MENTIONS(lone[0], "waiting for process 0");
        QVERIFY(!fs::exists(fresh));
        QCOMPARE(namesIn(dir.path()), std::set<std::string>{"ckpt"});

        // Overwrite with every process: the new checkpoint replaces the old one.
        for (const Status& s :
             saveOnThreads(after, target, 2, {0, 1}, "d", std::chrono::seconds(60), true)) {
            CKPT_VERIFY_OK(s);
        }
        QCOMPARE(namesIn(dir.path()), std::set<std::string>{"ckpt"});
        auto reopened = openCheckpoint(target);
        CKPT_VERIFY_OK(reopened);
        QVERIFY2(test::sameTree(reopened->tree, after, why), why.c_str());

        // Without overwrite an existing target is refused, untouched.
        auto exists = saveOnThreads(before, target, 2, {0, 1}, "e", std::chrono::seconds(1));
        QCOMPARE(exists[0].code(), StatusCode::kAlreadyExists);
        QVERIFY(!exists[1].isOk());
        QCOMPARE(namesIn(dir.path()), std::set<std::string>{"ckpt"});
    }

    void slicesReadOnlyTheBlocksTheyTouch() {
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        const NodePtr tree = sampleTree(4);
        for (const Status& s :
             saveOnThreads(tree, target, 4, allOf(4), "s", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(s);
        }
        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        // Process 3's file goes after the open: reads of blocks 0-2 never touch it.
        fs::remove(target / "process_3.h5");
        const ArraySource* big = arrayAt(ckpt->tree, {"big"});
        QVERIFY(big);
        auto head = big->read(Selection{{1, 7}, {10, 20}});  // rows 1-10: blocks 0, 1, 2
        CKPT_VERIFY_OK(head);
        auto want = arrayAt(tree, {"big"})->read(Selection{{1, 7}, {10, 20}});
        CKPT_VERIFY_OK(want);
        QVERIFY(std::equal(head->bytes().begin(), head->bytes().end(), want->bytes().begin(),
                           want->bytes().end()));
        auto all = big->readAll();
        QVERIFY(!all.isOk());
        VERIFY_MENTIONS(all.status(), "process_3.h5");
        VERIFY_MENTIONS(all.status(), "'big'");
    }

    void handMadeVirtualDatasetReads() {
        test::TempDir dir;
        writeGoodVirtual(dir.path());
        auto ckpt = openCheckpoint(dir.path());
        CKPT_VERIFY_OK(ckpt);
        const Node* w = nodeAt(ckpt->tree, "w");
        QVERIFY(w && w->kind() == NodeKind::kArray);
        auto data = w->array()->readAll();
        CKPT_VERIFY_OK(data);
        const float* v = reinterpret_cast<const float*>(data->bytes().data());
        QCOMPARE(v[0], 0.0f);
        QCOMPARE(v[5], 5.0f);
        QCOMPARE(v[6], 100.0f);
        QCOMPARE(v[11], 105.0f);
        auto s = shardingOf(*w->array())->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(s);
        QCOMPARE(s->shards.size(), std::size_t{2});
        QCOMPARE(s->shards[1].process, std::string("1"));
        QCOMPARE(s->shards[1].key, std::string("process_1.h5:/w"));
    }

    void damagedVirtualDatasetsAreErrors_data() {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("missing source file") << "missing-file"
                                             << "process_1.h5' is missing";
        QTest::newRow("missing source dataset") << "missing-dataset"
                                                << "source dataset is missing";
        QTest::newRow("wrong source shape") << "wrong-shape"
                                            << "the mapping expects (2, 3)";
        QTest::newRow("wrong source dtype") << "wrong-dtype"
                                            << "dtype is int32";
        QTest::newRow("gap") << "gap"
                             << "a gap";
        QTest::newRow("overlap") << "overlap"
                                 << "overlap";
        QTest::newRow("absolute source") << "absolute"
                                         << "absolute path";
        QTest::newRow("escaping source") << "dotdot"
                                         << "leaves the checkpoint's directory";
        QTest::newRow("escaping symlink") << "symlink"
                                          << "outside the checkpoint's directory";
        QTest::newRow("truncated source file") << "truncated"
                                               << "process_1.h5' is truncated";
    }
    void damagedVirtualDatasetsAreErrors() {
        QFETCH(QString, damage);
        QFETCH(QString, mentions);
        test::TempDir outer;
        const fs::path dir = outer.path() / "ckpt";
        fs::create_directories(dir);
        writeGoodVirtual(dir);
        // A well-formed file outside the checkpoint that libhdf5 itself would happily read.
        writeSource(outer.path() / "outside.h5", "w", 2, H5T_IEEE_F32LE, 7);
        const std::string d = damage.toStdString();
        if (d == "missing-file") {
            fs::remove(dir / "process_1.h5");
        } else if (d == "missing-dataset") {
            writeSource(dir / "process_1.h5", "other", 2, H5T_IEEE_F32LE, 0);
        } else if (d == "wrong-shape") {
            writeSource(dir / "process_1.h5", "w", 3, H5T_IEEE_F32LE, 0);
        } else if (d == "wrong-dtype") {
            writeSource(dir / "process_1.h5", "w", 2, H5T_STD_I32LE, 0);
        } else if (d == "gap") {
            writeMaster(dir, {{"process_0.h5", "/w", 0, 2}});
        } else if (d == "overlap") {
            writeMaster(dir, {{"process_0.h5", "/w", 0, 2},
                              {"process_1.h5", "/w", 1, 2},
                              {"process_1.h5", "/w", 2, 2}});
        } else if (d == "absolute") {
            writeMaster(dir, {{"process_0.h5", "/w", 0, 2},
                              {(outer.path() / "outside.h5").string(), "/w", 2, 2}});
        } else if (d == "dotdot") {
            writeMaster(dir, {{"process_0.h5", "/w", 0, 2}, {"../outside.h5", "/w", 2, 2}});
        } else if (d == "truncated") {
            fs::resize_file(dir / "process_1.h5", fs::file_size(dir / "process_1.h5") - 100);
        } else if (d == "symlink") {
            fs::remove(dir / "process_1.h5");
            fs::create_symlink(outer.path() / "outside.h5", dir / "process_1.h5");
        }
        const Status s = leafError(dir);
        QVERIFY2(!s.isOk(), d.c_str());
        VERIFY_MENTIONS(s, mentions.toStdString());
        VERIFY_MENTIONS(s, "checkpoint.h5");  // the file
        VERIFY_MENTIONS(s, "'w'");            // the key path
    }

    void sourceNamesResolveInsideTheDirectory() {
        const fs::path dir = "/ckpt/run";
        auto ok = hdf5::resolveVirtualSourceFile(dir, "sub/./process_1.h5");
        CKPT_VERIFY_OK(ok);
        QCOMPARE(*ok, fs::path("/ckpt/run/sub/process_1.h5"));
        CKPT_VERIFY_ERROR(hdf5::resolveVirtualSourceFile(dir, ""), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(hdf5::resolveVirtualSourceFile(dir, "/etc/passwd"),
                          StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(hdf5::resolveVirtualSourceFile(dir, "a/../../x.h5"),
                          StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(hdf5::resolveVirtualSourceFile(dir, ".."), StatusCode::kCorruption);
    }
};

QTEST_GUILESS_MAIN(TestHdf5Multiprocess)
#include "tst_hdf5_multiprocess.moc"
