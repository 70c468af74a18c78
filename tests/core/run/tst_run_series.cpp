// Tests for ckpt/core/run_series.h: series over small runs written by the engine's own writers
// (Orbax CheckpointManager roots and flax checkpoint_<step> files) give the numbers worked out by
// hand; a subtree's numbers equal those of its leaves' concatenated data; the cache answers a
// repeated leaf or a subtree of computed leaves without reading (reads counted through a
// wrapping source) and misses once a step is rewritten; a leaf missing in one step, an
// unfinished step and an unopenable step are per-point errors; cancel stops the series; and
// compareRunSteps ranks the most changed leaf first.
#include <QtTest/QtTest>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "ckpt/core/format.h"
#include "ckpt/core/run_series.h"
#include "ckpt/core/stats.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

Array f32Array(const std::vector<float>& values, Shape shape = {}) {
    if (shape.empty()) shape = {static_cast<std::int64_t>(values.size())};
    std::vector<std::byte> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return std::move(Array::fromBytes(DType::kFloat32, std::move(shape), bytes)).value();
}

NodePtr f32(const std::vector<float>& values, Shape shape = {}) {
    return Node::makeArray(makeMemorySource(f32Array(values, std::move(shape))));
}

NodePtr i32(const std::vector<std::int32_t>& values) {
    std::vector<std::byte> bytes(values.size() * sizeof(std::int32_t));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    auto array = Array::fromBytes(DType::kInt32, {static_cast<std::int64_t>(values.size())}, bytes);
    return Node::makeArray(makeMemorySource(std::move(array).value()));
}

std::vector<float> scaled(std::vector<float> v, float k) {
    for (float& x : v) x *= k;
    return v;
}

// Step s of the small run: w = [1,-2,3,-4]·s, b = [0.5,0.5]·s.
NodePtr stepTree(int s) {
    const auto k = static_cast<float>(s);
    return Node::makeDict({{"params", Node::makeDict({{"w", f32(scaled({1, -2, 3, -4}, k))},
                                                      {"b", f32(scaled({0.5F, 0.5F}, k))}})}});
}

void writeStep(const NodePtr& tree, const fs::path& root, const std::string& format, int step,
               bool perArrayDirs = false) {
    WriteOptions o;
    o.step = std::to_string(step);
    o.orbaxOcdbt = !perArrayDirs;
    const Status s = writeCheckpoint(tree, root, format, o);
    if (!s.isOk()) qFatal("%s", s.toString().c_str());
}

RunSeries series(const fs::path& root, const std::string& keyPath, StatsCache* cache = nullptr) {
    SeriesOptions o;
    o.cache = cache;
    auto r = computeRunSeries(root, std::move(parseKeyPath(keyPath)).value(), o);
    if (!r.isOk()) qFatal("%s", r.status().toString().c_str());
    return std::move(r).value();
}

bool near(double a, double b, double rtol = 1e-12) {
    return std::abs(a - b) <= rtol * std::max(std::abs(a), std::abs(b));
}

#define CKPT_VERIFY_NEAR(a, b) \
    QVERIFY2(near((a), (b)), (std::to_string(a) + " != " + std::to_string(b)).c_str())

// Counts the reads that reach the wrapped source.
class CountingSource final : public ArraySource {
public:
    explicit CountingSource(ArraySourcePtr inner) : m_inner(std::move(inner)) {}
    DType dtype() const override { return m_inner->dtype(); }
    const Shape& shape() const override { return m_inner->shape(); }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        ++m_reads;
        return m_inner->readInto(selection, out, cancel);
    }
    int reads() const { return m_reads.load(); }

private:
    ArraySourcePtr m_inner;
    mutable std::atomic<int> m_reads{0};
};

// Regular files under `dir` that are chunk data (not zarr metadata).
std::vector<fs::path> chunkFiles(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name != "zarr.json" && name != ".zarray" && name != ".zattrs") {
            out.push_back(e.path());
        }
    }
    return out;
}

}  // namespace

class TestRunSeries : public QObject {
    Q_OBJECT

private slots:
    void orbaxRunSeriesHasTheHandComputedNumbers() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        for (int s = 1; s <= 3; ++s) writeStep(stepTree(s), root, "orbax", s);
        // A CheckpointManager step holds its items by name: the tree is {"default": ...}.
        const RunSeries r = series(root, "default/params/w");
        QCOMPARE(r.format, std::string("orbax"));
        QCOMPARE(r.points.size(), std::size_t{3});
        for (int s = 1; s <= 3; ++s) {
            const SeriesPoint& p = r.points[static_cast<std::size_t>(s - 1)];
            QCOMPARE(p.step, std::to_string(s));
            QVERIFY2(p.stats, p.error.c_str());
            // w = [1,-2,3,-4]·s: Σx² = 30s², mean = -0.5s, E[x²] = 7.5s², std = sqrt(7.25)·s.
            QCOMPARE(p.stats->count, std::uint64_t{4});
            QCOMPARE(p.stats->leaves, std::uint64_t{1});
            CKPT_VERIFY_NEAR(p.stats->norm, std::sqrt(30.0) * s);
            CKPT_VERIFY_NEAR(p.stats->mean, -0.5 * s);
            CKPT_VERIFY_NEAR(p.stats->std, std::sqrt(7.25) * s);
            CKPT_VERIFY_NEAR(p.stats->maxAbs, 4.0 * s);
        }
    }

    void flaxRunSeriesCoversEveryStepFile() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        for (int s = 1; s <= 3; ++s) writeStep(stepTree(s), root, "flax", s * 10);
        // The whole tree: w and b together, [1,-2,3,-4,0.5,0.5]·s.
        const RunSeries r = series(root, "");
        QCOMPARE(r.format, std::string("flax"));
        QCOMPARE(r.points.size(), std::size_t{3});
        const SeriesPoint& p = r.points[1];
        QCOMPARE(p.step, std::string("20"));
        QVERIFY2(p.stats, p.error.c_str());
        QCOMPARE(p.stats->leaves, std::uint64_t{2});
        QCOMPARE(p.stats->count, std::uint64_t{6});
        CKPT_VERIFY_NEAR(p.stats->norm, std::sqrt(30.5) * 2);
        CKPT_VERIFY_NEAR(p.stats->mean, (-2.0 + 1.0) / 6.0 * 2);
        CKPT_VERIFY_NEAR(p.stats->maxAbs, 8.0);
    }

    void subtreeNumbersEqualThoseOfTheConcatenatedData() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const std::vector<float> w = {0.25F, -1.5F, 2.0F, 7.0F, -3.25F, 0.0F};
        const std::vector<float> b = {1e-3F, nan, -2e-3F, 5.0F};
        const std::vector<std::int32_t> n = {3, -4, 12};
        auto tree = Node::makeDict(
            {{"params", Node::makeDict({{"w", f32(w, {2, 3})},
                                        {"b", f32(b)},
                                        {"n", i32(n)},
                                        {"name", Node::makeString("skipped")},
                                        {"lr", Node::makeScalar(Scalar::fromFloat64(0.5))}})}});
        // The same values (float32 → double, as the readers convert) in one array.
        std::vector<double> all;
        for (float x : w) all.push_back(static_cast<double>(x));
        for (float x : b) all.push_back(static_cast<double>(x));
        for (std::int32_t x : n) all.push_back(static_cast<double>(x));
        all.push_back(0.5);
        std::vector<std::byte> bytes(all.size() * sizeof(double));
        std::memcpy(bytes.data(), all.data(), bytes.size());
        const ArrayStats expected = computeStats(
            Array::fromBytes(DType::kFloat64, {static_cast<std::int64_t>(all.size())}, bytes)
                .value());
        double sumSquares = 0;
        double maxAbs = 0;
        for (double x : all) {
            if (std::isnan(x)) continue;
            sumSquares += x * x;
            maxAbs = std::max(maxAbs, std::abs(x));
        }

        auto got = subtreeStats(findNode(tree, {"params"}).value(), {"params"}, nullptr, "id");
        CKPT_VERIFY_OK(got);
        QCOMPARE(got->leaves, std::uint64_t{4});  // w, b, n, lr; the string is skipped
        QCOMPARE(got->count, std::uint64_t{all.size()});
        QCOMPARE(got->finite, std::uint64_t{all.size() - 1});
        QCOMPARE(got->nan, std::uint64_t{1});
        CKPT_VERIFY_NEAR(got->mean, expected.mean);
        CKPT_VERIFY_NEAR(got->std, expected.std);
        CKPT_VERIFY_NEAR(got->norm, std::sqrt(sumSquares));
        QCOMPARE(got->maxAbs, maxAbs);

        // The same through a run written to disk.
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        writeStep(tree, root, "orbax", 7);
        const RunSeries r = series(root, "default/params");
        QCOMPARE(r.points.size(), std::size_t{1});
        QVERIFY2(r.points[0].stats, r.points[0].error.c_str());
        CKPT_VERIFY_NEAR(r.points[0].stats->std, expected.std);
        CKPT_VERIFY_NEAR(r.points[0].stats->norm, std::sqrt(sumSquares));
    }

    void cacheAnswersRepeatedLeavesAndSubtreesWithoutReading() {
        auto a = std::make_shared<CountingSource>(makeMemorySource(f32Array({1, 2, 3})));
        auto b = std::make_shared<CountingSource>(makeMemorySource(f32Array({4, 5})));
        auto root = Node::makeDict({{"a", Node::makeArray(a)}, {"b", Node::makeArray(b)}});
        StatsCache cache;
        std::uint64_t read = 0;

        auto first = subtreeStats(root->findChild("a"), {"a"}, &cache, "step", nullptr, {}, &read);
        CKPT_VERIFY_OK(first);
        QCOMPARE(a->reads(), 1);
        QCOMPARE(read, std::uint64_t{1});

        auto again = subtreeStats(root->findChild("a"), {"a"}, &cache, "step", nullptr, {}, &read);
        CKPT_VERIFY_OK(again);
        QCOMPARE(a->reads(), 1);  // from the cache
        QCOMPARE(read, std::uint64_t{0});
        QCOMPARE(again->norm, first->norm);

        // The whole tree: only b is new.
        auto whole = subtreeStats(root, {}, &cache, "step", nullptr, {}, &read);
        CKPT_VERIFY_OK(whole);
        QCOMPARE(a->reads(), 1);
        QCOMPARE(b->reads(), 1);
        QCOMPARE(read, std::uint64_t{1});
        CKPT_VERIFY_NEAR(whole->norm, std::sqrt(1.0 + 4 + 9 + 16 + 25));

        // Another step identity is another entry.
        CKPT_VERIFY_OK(subtreeStats(root, {}, &cache, "other", nullptr, {}, &read));
        QCOMPARE(a->reads(), 2);
        QCOMPARE(b->reads(), 2);
        const StatsCache::Counters c = cache.counters();
        QCOMPARE(c.entries, std::size_t{4});
        QCOMPARE(c.hits, std::uint64_t{2});  // a again, a in the whole tree

        // Without a cache, everything is read each time.
        CKPT_VERIFY_OK(subtreeStats(root, {}, nullptr, "step", nullptr, {}, &read));
        QCOMPARE(read, std::uint64_t{2});
        QCOMPARE(a->reads(), 3);
    }

    void cacheIsSharedBetweenThreads() {
        std::vector<NodePtr> leaves;
        for (int i = 0; i < 8; ++i) leaves.push_back(f32(scaled({1, 2, 3, 4}, float(i + 1))));
        std::vector<DictEntry> entries;
        for (int i = 0; i < 8; ++i) entries.push_back({std::to_string(i), leaves[std::size_t(i)]});
        const NodePtr root = Node::makeDict(std::move(entries));
        StatsCache cache(6);  // smaller than the working set: eviction runs concurrently too
        std::vector<double> norms(4);
        std::vector<std::thread> threads;
        for (std::size_t t = 0; t < norms.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int round = 0; round < 50; ++round) {
                    auto r = subtreeStats(root, {}, &cache, round % 2 ? "odd" : "even");
                    norms[t] = r.isOk() ? r->norm : -1;
                }
            });
        }
        for (auto& th : threads) th.join();
        double expected = 0;
        for (int i = 1; i <= 8; ++i) expected += 30.0 * i * i;
        for (double n : norms) CKPT_VERIFY_NEAR(n, std::sqrt(expected));
        QVERIFY(cache.counters().entries <= 6);
    }

    void cacheEvictsTheLeastRecentlyUsed() {
        StatsCache cache(2);
        ArrayStats s;
        s.count = 1;
        cache.insert("id", {"x"}, s);
        cache.insert("id", {"y"}, s);
        QVERIFY(cache.find("id", {"x"}));  // x is now the most recent
        cache.insert("id", {"z"}, s);
        QVERIFY(cache.find("id", {"x"}));
        QVERIFY(!cache.find("id", {"y"}));
        QVERIFY(cache.find("id", {"z"}));
        QCOMPARE(cache.counters().entries, std::size_t{2});
        cache.clear();
        QVERIFY(!cache.find("id", {"x"}));
    }

    void seriesReusesTheCacheUntilAStepIsRewritten() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        writeStep(stepTree(1), root, "orbax", 1);
        writeStep(stepTree(2), root, "orbax", 2);
        StatsCache cache;
        const RunSeries first = series(root, "default/params", &cache);
        QCOMPARE(first.points.size(), std::size_t{2});
        QCOMPARE(first.points[0].leavesRead, std::uint64_t{2});
        QCOMPARE(first.points[1].leavesRead, std::uint64_t{2});

        const RunSeries second = series(root, "default/params", &cache);
        QCOMPARE(second.points[0].leavesRead, std::uint64_t{0});
        QCOMPARE(second.points[1].leavesRead, std::uint64_t{0});
        QCOMPARE(second.points[1].stats->norm, first.points[1].stats->norm);
        // A leaf of an already computed subtree is a hit too.
        QCOMPARE(series(root, "default/params/b", &cache).points[1].leavesRead, std::uint64_t{0});

        // Step 2 rewritten with other values: its identity changes, step 1's does not.
        WriteOptions o;
        o.step = "2";
        o.overwrite = true;
        CKPT_VERIFY_OK(writeCheckpoint(stepTree(5), root, "orbax", o));
        const RunSeries third = series(root, "default/params", &cache);
        QCOMPARE(third.points[0].leavesRead, std::uint64_t{0});
        QCOMPARE(third.points[1].leavesRead, std::uint64_t{2});
        CKPT_VERIFY_NEAR(third.points[1].stats->norm, std::sqrt(30.5) * 5);
    }

    void stepIdentityFollowsTheFiles() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        writeStep(stepTree(1), root, "orbax", 1, /*perArrayDirs=*/true);
        const fs::path step = root / "1";
        auto before = stepDataIdentity(step);
        CKPT_VERIFY_OK(before);
        QCOMPARE(stepDataIdentity(step).value(), *before);  // stable
        const auto chunks = chunkFiles(step);
        QVERIFY(!chunks.empty());
        const fs::path chunk = chunks.front();
        const auto mtime = fs::last_write_time(chunk);
        // A file written again (same size, new modification time): a new identity.
        fs::last_write_time(chunk, mtime - std::chrono::seconds(5));
        QVERIFY(stepDataIdentity(step).value() != *before);
        fs::last_write_time(chunk, mtime);
        QCOMPARE(stepDataIdentity(step).value(), *before);
        // A new file in the step.
        std::ofstream(step / "extra") << "x";
        QVERIFY(stepDataIdentity(step).value() != *before);
        fs::remove(step / "extra");
        QCOMPARE(stepDataIdentity(step).value(), *before);
        CKPT_VERIFY_ERROR(stepDataIdentity(tmp.path() / "absent"), StatusCode::kIoError);
    }

    void leafMissingInOneStepIsThatPointsError() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        writeStep(stepTree(1), root, "orbax", 1);
        writeStep(Node::makeDict({{"params", Node::makeDict({{"w", f32({1, 1, 1, 1})}})}}), root,
                  "orbax", 2);
        writeStep(stepTree(3), root, "orbax", 3);
        const RunSeries r = series(root, "default/params/b");
        QCOMPARE(r.points.size(), std::size_t{3});
        QVERIFY(r.points[0].stats);
        QVERIFY(!r.points[1].stats);
        QVERIFY2(r.points[1].error.find("step 2: no key 'default/params/b'") != std::string::npos,
                 r.points[1].error.c_str());
        QVERIFY(r.points[2].stats);
        CKPT_VERIFY_NEAR(r.points[2].stats->norm, std::sqrt(0.5) * 3);
        // The subtree is there in every step, with one leaf fewer at step 2.
        const RunSeries params = series(root, "default/params");
        QCOMPARE(params.points[1].stats->leaves, std::uint64_t{1});
        QCOMPARE(params.points[2].stats->leaves, std::uint64_t{2});
    }

    void unfinishedAndUnreadableStepsArePointErrors() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        writeStep(stepTree(1), root, "orbax", 1, true);
        writeStep(stepTree(2), root, "orbax", 2, true);
        writeStep(stepTree(3), root, "orbax", 3, true);
        fs::create_directories(root / "4.orbax-checkpoint-tmp-1234" / "default");
        // Step 1: a truncated chunk of params/w. Step 2: its _METADATA is garbage.
        const auto chunks = chunkFiles(root / "1" / "default" / "params.w");
        QVERIFY(!chunks.empty());
        fs::resize_file(chunks.front(), fs::file_size(chunks.front()) / 2);
        std::ofstream(root / "2" / "default" / "_METADATA", std::ios::trunc) << "{not json";

        const RunSeries r = series(root, "default/params");
        QCOMPARE(r.points.size(), std::size_t{4});
        QVERIFY(!r.points[0].stats);
        QVERIFY2(r.points[0].error.find("params/w") != std::string::npos,
                 r.points[0].error.c_str());
        QVERIFY(!r.points[1].stats);
        QVERIFY2(r.points[1].error.find("cannot open step 2") != std::string::npos,
                 r.points[1].error.c_str());
        QVERIFY2(r.points[2].stats, r.points[2].error.c_str());
        QCOMPARE(r.points[3].step, std::string("4"));
        QVERIFY(!r.points[3].complete);
        QVERIFY(!r.points[3].stats);
        QVERIFY2(r.points[3].error.find("incomplete") != std::string::npos,
                 r.points[3].error.c_str());
    }

    void cancelStopsTheSeries() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        for (int s = 1; s <= 3; ++s) writeStep(stepTree(s), root, "orbax", s);
        CancelToken cancel;
        cancel.cancel();
        CKPT_VERIFY_ERROR(computeRunSeries(root, {}, {}, &cancel), StatusCode::kCancelled);

        // Cancelled from the per-point callback after the first point.
        CancelToken later;
        SeriesOptions o;
        o.cache = nullptr;
        int points = 0;
        o.onPoint = [&](const SeriesPoint&) {
            ++points;
            later.cancel();
        };
        std::vector<std::uint64_t> progress;
        CKPT_VERIFY_ERROR(computeRunSeries(root, {}, o, &later,
                                           [&](std::uint64_t done, std::uint64_t total) {
                                               QCOMPARE(total, std::uint64_t{3});
                                               progress.push_back(done);
                                           }),
                          StatusCode::kCancelled);
        QCOMPARE(points, 1);
        QCOMPARE(progress, std::vector<std::uint64_t>{1});
    }

    void singleCheckpointIsNotARun() {
        test::TempDir tmp;
        const fs::path p = tmp.path() / "one";
        CKPT_VERIFY_OK(writeCheckpoint(stepTree(1), p, "orbax"));
        CKPT_VERIFY_ERROR(computeRunSeries(p, {}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(subtreeStats(Node::makeString("x"), {"s"}, nullptr, "id"),
                          StatusCode::kInvalidArgument);
    }

    void changesRankTheJumpedLeafFirst() {
        test::TempDir tmp;
        const fs::path root = tmp.path() / "run";
        const float nan = std::numeric_limits<float>::quiet_NaN();
        writeStep(Node::makeDict({{"w", f32({1, 2, 3, 4})},
                                  {"b", f32({1, 1})},
                                  {"same", f32({7, 7})},
                                  {"gone", f32({1, 2})}}),
                  root, "orbax", 1);
        writeStep(Node::makeDict({{"w", f32(scaled({1, 2, 3, 4}, 1.5F))},
                                  {"b", f32({100, 100})},
                                  {"same", f32({7, 7})},
                                  {"new", f32({3})}}),
                  root, "orbax", 2);
        auto c = compareRunSteps(root, "1", "2");
        CKPT_VERIFY_OK(c);
        QCOMPARE(c->stepA, std::string("1"));
        QCOMPARE(c->stepB, std::string("2"));
        QCOMPARE(c->leavesCompared, std::uint64_t{3});
        QCOMPARE(c->leavesChanged, std::uint64_t{2});
        QCOMPARE(c->top.size(), std::size_t{2});
        QCOMPARE(formatKeyPath(c->top[0].path), std::string("default/b"));
        CKPT_VERIFY_NEAR(c->top[0].relativeChange, 99.0);  // ‖(99,99)‖ / ‖(1,1)‖
        QCOMPARE(c->top[0].maxAbsDiff, 99.0);
        QCOMPARE(formatKeyPath(c->top[1].path), std::string("default/w"));
        CKPT_VERIFY_NEAR(c->top[1].relativeChange, 0.5);
        CKPT_VERIFY_NEAR(c->top[1].diffNorm, 0.5 * std::sqrt(30.0));
        QCOMPARE(c->onlyInA.size(), std::size_t{1});
        QCOMPARE(formatKeyPath(c->onlyInA[0].path), std::string("default/gone"));
        QCOMPARE(c->onlyInB.size(), std::size_t{1});
        QCOMPARE(formatKeyPath(c->onlyInB[0].path), std::string("default/new"));

        ChangesOptions top1;
        top1.topK = 1;
        auto one = compareRunSteps(root, "1", "2", top1);
        CKPT_VERIFY_OK(one);
        QCOMPARE(one->top.size(), std::size_t{1});
        QCOMPARE(one->leavesChanged, std::uint64_t{2});

        // A NaN appearing outranks any finite change.
        writeStep(Node::makeDict({{"w", f32(scaled({1, 2, 3, 4}, 1.5F))},
                                  {"b", f32({100, nan})},
                                  {"same", f32({7, 7.5F})},
                                  {"new", f32({3})}}),
                  root, "orbax", 3);
        auto n = compareRunSteps(root, "2", "3");
        CKPT_VERIFY_OK(n);
        QCOMPARE(n->top.size(), std::size_t{2});
        QCOMPARE(formatKeyPath(n->top[0].path), std::string("default/b"));
        QCOMPARE(n->top[0].nonFiniteMismatch, std::uint64_t{1});
        QCOMPARE(formatKeyPath(n->top[1].path), std::string("default/same"));

        CKPT_VERIFY_ERROR(compareRunSteps(root, "1", "9"), StatusCode::kNotFound);
    }
};

QTEST_GUILESS_MAIN(TestRunSeries)
#include "tst_run_series.moc"
