// ckpt/core/sharded_writer.h: N "processes" (threads here; tests/interop/test_multiprocess_write.py
// runs real ckpt processes) write one Orbax checkpoint together. The result reopens bit-exact, each
// shard is reported as written by its process, a missing process means nothing is committed
// (and a previous checkpoint stays), stale temporaries are cleaned, and bad input is refused
// naming the target.
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "ckpt/core/checkpoint.h"
#include "ckpt/core/sharded_writer.h"
#include "ckpt/core/sharding.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "tests/test_util.h"
#include "tests/tree_testing.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

// Random bits: chunks that zstd cannot shrink below OCDBT's inline limit.
NodePtr randomArray(DType dtype, Shape shape, unsigned seed) {
    Array a = Array::allocate(dtype, std::move(shape)).value();
    std::mt19937 rng(seed);
    for (auto& b : a.bytes()) b = static_cast<std::byte>(rng() & 0xff);
    return Node::makeArray(makeMemorySource(std::move(a)));
}

// Keys in sorted order, as Orbax (and so our reader) lists them.
NodePtr sampleTree(std::uint8_t seed) {
    std::vector<DictEntry> nested;
    nested.push_back({"bias", test::arrayOf(DType::kInt32, {8}, seed + 1)});
    nested.push_back({"kernel", test::arrayOf(DType::kFloat32, {8, 3}, seed)});
    std::vector<DictEntry> top;
    top.push_back({"big", randomArray(DType::kBFloat16, {16, 300}, seed + 4u)});
    // 64-bit: a numpy array in Orbax, replicated.
    top.push_back({"counts", test::arrayOf(DType::kInt64, {8, 2}, seed + 3)});
    top.push_back({"dense", Node::makeDict(std::move(nested))});
    top.push_back({"name", Node::makeString("run-" + std::to_string(seed))});
    // 3 rows divide neither 2 nor 4 processes: replicated, written by process 0.
    top.push_back({"odd", test::arrayOf(DType::kFloat32, {3, 5}, seed + 2)});
    top.push_back({"step", Node::makeScalar(Scalar::fromInt64(7 + seed, false))});
    return Node::makeDict(std::move(top));
}

// The array at `keys` (owned by `tree`), or null.
const ArraySource* arrayAt(const NodePtr& tree, const std::vector<std::string>& keys) {
    auto node = findNode(tree, keys);
    return node.isOk() && *node && (*node)->kind() == NodeKind::kArray ? (*node)->array().get()
                                                                       : nullptr;
}

// Runs processes `indices` of an N-process save on threads; returns each one's status.
std::vector<Status> saveOnThreads(const NodePtr& tree, const fs::path& target, int count,
                                  const std::vector<int>& indices, const std::string& saveId,
                                  std::chrono::milliseconds timeout, bool overwrite = false,
                                  std::vector<int> counts = {}) {
    std::vector<Status> results(indices.size());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < indices.size(); ++t) {
        threads.emplace_back([&, t] {
            ProcessSaveOptions p;
            p.processIndex = indices[t];
            p.processCount = counts.empty() ? count : counts[t];
            p.saveId = saveId;
            p.timeout = timeout;
            WriteOptions o;
            o.overwrite = overwrite;
            results[t] = writeOrbaxProcessShards(tree, target, p, o);
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

// Names in `dir` other than `keep`.
std::set<std::string> othersIn(const fs::path& dir, const std::string& keep) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().filename() != keep) names.insert(e.path().filename().string());
    }
    return names;
}

}  // namespace

class TestMultiprocessWrite : public QObject {
    Q_OBJECT
private slots:
    void plansEvenBlocksAndReplicatesTheRest() {
        auto p = planLeafShards({8, 3}, 4, 0);
        CKPT_VERIFY_OK(p);
        QVERIFY(!p->replicated);
        QCOMPARE(p->shardShape, (Shape{2, 3}));
        QCOMPARE(p->shardOf(3).start, (std::vector<std::int64_t>{6, 0}));
        QCOMPARE(p->shardOf(3).count, (std::vector<std::int64_t>{2, 3}));
        auto q = planLeafShards({8, 3}, 4, 1);  // 3 columns over 4 processes
        CKPT_VERIFY_OK(q);
        QVERIFY(q->replicated);
        QCOMPARE(q->shardOf(1).elementCount(), std::uint64_t{0});
        QCOMPARE(q->shardOf(0).elementCount(), std::uint64_t{24});
        auto scalar = planLeafShards({}, 2, 0);
        CKPT_VERIFY_OK(scalar);
        QVERIFY(scalar->replicated);
        CKPT_VERIFY_ERROR(planLeafShards({4}, 0, 0), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(planLeafShards({4}, 2, -1), StatusCode::kInvalidArgument);
    }

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
        // Only the checkpoint is left: no temporary, no done markers, no staging.
        QCOMPARE(othersIn(dir.path(), "ckpt"), std::set<std::string>{});
        for (int p = 0; p < count; ++p) {
            QVERIFY(fs::exists(target / ("ocdbt.process_" + std::to_string(p)) / "manifest.ocdbt"));
            QVERIFY(fs::exists(target / "array_metadatas" / ("process_" + std::to_string(p))));
            QVERIFY(!fs::exists(target / (".done.process_" + std::to_string(p))));
        }
        QVERIFY(fs::exists(target / "manifest.ocdbt"));
        QVERIFY(fs::exists(target / "commit_success.txt"));
        QVERIFY(!fs::exists(target / ".merge"));

        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        std::string why;
        QVERIFY2(test::sameTree(ckpt->tree, tree, why), why.c_str());

        // Each row block of the split leaves is its process's shard.
        for (const auto& keys : std::vector<std::vector<std::string>>{
                 {"dense", "kernel"}, {"dense", "bias"}, {"big"}}) {
            const ArraySource* a = arrayAt(ckpt->tree, keys);
            QVERIFY(a);
            const ShardedArray* sharded = shardingOf(*a);
            QVERIFY(sharded);
            auto s = sharded->sharding(ShardDetail::kFull);
            CKPT_VERIFY_OK(s);
            QCOMPARE(s->shards.size(), static_cast<std::size_t>(count));
            QVERIFY(s->mesh.has_value());
            QCOMPARE(s->mesh->type, std::string("NamedSharding"));
            QCOMPARE(s->mesh->axisNames, std::vector<std::string>{"p"});
            QCOMPARE(s->mesh->meshShape, (Shape{count}));
            std::vector<std::int64_t> ids;
            for (int p = 0; p < count; ++p) ids.push_back(std::int64_t{p} * 2048);
            QCOMPARE(s->mesh->deviceIds, ids);
            const std::int64_t rows = a->shape()[0] / count;
            for (int p = 0; p < count; ++p) {
                const Shard& shard = s->shards[static_cast<std::size_t>(p)];
                QCOMPARE(shard.index.start[0], rows * p);
                QCOMPARE(shard.index.count[0], rows);
                QCOMPARE(shard.process, std::to_string(p));
                QCOMPARE(shard.devices, (std::vector<std::int64_t>{std::int64_t{p} * 2048}));
            }
            QCOMPARE(s->leafProcesses.size(), static_cast<std::size_t>(count));
        }
        // As Orbax merges: the big chunks (> 1024 bytes) stay in their process's data file and
        // the merged tree refers to them there; small values are inline. Nothing is copied.
        auto root = ocdbt::OcdbtStore::open(target);
        CKPT_VERIFY_OK(root);
        auto entries = (*root)->listEntries("big/");
        CKPT_VERIFY_OK(entries);
        std::set<std::string> referenced;
        for (const auto& e : *entries) {
            if (e.key == "big/zarr.json") continue;
            QVERIFY2(!e.isInline, e.key.c_str());
            referenced.insert(e.dataFile.substr(0, e.dataFile.find('/')));
        }
        std::set<std::string> processDbs;
        for (int p = 0; p < count; ++p) processDbs.insert("ocdbt.process_" + std::to_string(p));
        QCOMPARE(referenced, processDbs);
        std::uintmax_t rootBytes = 0;
        for (const auto& f : fs::directory_iterator(target / "d")) rootBytes += f.file_size();
        QVERIFY2(rootBytes < 16 * 300 * 2 / 2, std::to_string(rootBytes).c_str());

        // A replicated leaf: one shard, by process 0, held by every device.
        const ArraySource* odd = arrayAt(ckpt->tree, {"odd"});
        QVERIFY(odd);
        auto s = shardingOf(*odd)->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(s);
        QCOMPARE(s->shards.size(), std::size_t{1});
        QCOMPARE(s->shards[0].process, std::string("0"));
        QCOMPARE(s->shards[0].devices.size(), static_cast<std::size_t>(count));
    }

    void aMissingProcessCommitsNothing() {
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        const NodePtr before = sampleTree(1);
        for (const Status& s :
             saveOnThreads(before, target, 2, {0, 1}, "a", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(s);
        }
        // Process 1 never comes: process 0 times out, removes the temporary, and the previous
        // checkpoint is untouched.
        const NodePtr after = sampleTree(9);
        auto r = saveOnThreads(after, target, 2, {0}, "b", std::chrono::milliseconds(300), true);
        QCOMPARE(r[0].code(), StatusCode::kIoError);
        QVERIFY2(r[0].message().find("timed out") != std::string::npos, r[0].message().c_str());
        QVERIFY2(r[0].message().find(target.string()) != std::string::npos, r[0].message().c_str());
        QVERIFY2(r[0].message().find("process(es) 1") != std::string::npos, r[0].message().c_str());
        QCOMPARE(othersIn(dir.path(), "ckpt"), std::set<std::string>{});
        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        std::string why;
        QVERIFY2(test::sameTree(ckpt->tree, before, why), why.c_str());

        // Process 0 never comes: process 1 gives up after its timeout, nothing is committed.
        const fs::path fresh = dir.path() / "fresh";
        auto lone = saveOnThreads(after, fresh, 2, {1}, "c", std::chrono::milliseconds(300));
        QCOMPARE(lone[0].code(), StatusCode::kIoError);
        QVERIFY2(lone[0].message().find("waiting for process 0") != std::string::npos,
                 lone[0].message().c_str());
        QVERIFY(!fs::exists(fresh));

        // The next full save succeeds (and cleans process 1's stale temporary).
        for (const Status& st :
             saveOnThreads(after, fresh, 2, {0, 1}, "d", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(st);
        }
        QCOMPARE(othersIn(dir.path(), "ckpt"), std::set<std::string>{"fresh"});
        auto reopened = openCheckpoint(fresh);
        CKPT_VERIFY_OK(reopened);
        QVERIFY2(test::sameTree(reopened->tree, after, why), why.c_str());
    }

    void staleTemporariesAreCleaned() {
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        // A crashed earlier attempt (another save id) and a crashed single-process save.
        const fs::path stale = multiProcessTemporaryPath(target, "old");
        fs::create_directories(stale / "ocdbt.process_1" / "d");
        { std::ofstream(stale / ".done.process_1") << "{}"; }
        fs::create_directories(dir.path() / "ckpt.orbax-checkpoint-tmp");
        // Not ours: another target's temporary stays.
        fs::create_directories(dir.path() / "other.orbax-checkpoint-tmp-mp-old");
        const NodePtr tree = sampleTree(3);
        for (const Status& s :
             saveOnThreads(tree, target, 2, {0, 1}, "new", std::chrono::seconds(60))) {
            CKPT_VERIFY_OK(s);
        }
        QCOMPARE(othersIn(dir.path(), "ckpt"),
                 std::set<std::string>{"other.orbax-checkpoint-tmp-mp-old"});
        auto ckpt = openCheckpoint(target);
        CKPT_VERIFY_OK(ckpt);
        std::string why;
        QVERIFY2(test::sameTree(ckpt->tree, tree, why), why.c_str());
    }

    void badInputIsRefusedNamingTheTarget() {
        test::TempDir dir;
        const fs::path target = dir.path() / "ckpt";
        const NodePtr tree = sampleTree(2);
        const auto one = [&](int index, int count, const std::string& id) {
            ProcessSaveOptions p;
            p.processIndex = index;
            p.processCount = count;
            p.saveId = id;
            p.timeout = std::chrono::milliseconds(200);
            return writeOrbaxProcessShards(tree, target, p, WriteOptions{});
        };
        for (const Status& s : {one(2, 2, "x"), one(0, 0, "x"), one(-1, 2, "x"), one(0, 1, ""),
                                one(0, 1, "a/b"), one(0, 1, std::string(65, 'a'))}) {
            QCOMPARE(s.code(), StatusCode::kInvalidArgument);
            QVERIFY2(s.message().find(target.string()) != std::string::npos, s.message().c_str());
        }
        WriteOptions step;
        step.step = "3";
        ProcessSaveOptions p;
        p.saveId = "x";
        CKPT_VERIFY_ERROR(writeOrbaxProcessShards(tree, target, p, step), StatusCode::kUnsupported);
        QVERIFY(fs::is_empty(dir.path()));

        // Processes told different process counts: process 0 refuses, naming process 1's count;
        // process 1 sees the save abandoned. Nothing is committed.
        auto r =
            saveOnThreads(tree, target, 0, {0, 1}, "m", std::chrono::seconds(20), false, {2, 3});
        QCOMPARE(r[0].code(), StatusCode::kInvalidArgument);
        QVERIFY2(r[0].message().find("process count 3") != std::string::npos,
                 r[0].message().c_str());
        QVERIFY(!r[1].isOk());
        QVERIFY(!fs::exists(target));

        // A different tree in one process is refused too.
        std::vector<Status> mixed(2);
        std::thread other([&] {
            ProcessSaveOptions q;
            q.processIndex = 1;
            q.processCount = 2;
            q.saveId = "t";
            q.timeout = std::chrono::seconds(20);
            mixed[1] = writeOrbaxProcessShards(test::arrayOf(DType::kFloat32, {4}), target, q, {});
        });
        ProcessSaveOptions q0;
        q0.processCount = 2;
        q0.saveId = "t";
        q0.timeout = std::chrono::seconds(20);
        mixed[0] = writeOrbaxProcessShards(tree, target, q0, {});
        other.join();
        QCOMPARE(mixed[0].code(), StatusCode::kInvalidArgument);
        QVERIFY2(mixed[0].message().find("another tree") != std::string::npos,
                 mixed[0].message().c_str());
        QVERIFY(!mixed[1].isOk());
        QVERIFY(!fs::exists(target));

        // An existing target without overwrite: refused, the target untouched.
        fs::create_directories(target);
        // (Process 1 learns it from its timeout, then removes its part and the temporary.)
        auto exists = saveOnThreads(tree, target, 2, {0, 1}, "e", std::chrono::seconds(1));
        QCOMPARE(exists[0].code(), StatusCode::kAlreadyExists);
        QVERIFY(!exists[1].isOk());
        QVERIFY(fs::is_empty(target));
        QCOMPARE(othersIn(dir.path(), "ckpt"), std::set<std::string>{});
    }
};

QTEST_GUILESS_MAIN(TestMultiprocessWrite)
#include "tst_multiprocess_write.moc"
