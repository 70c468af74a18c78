#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/checkpointer.h"
#include "formats/orbax/orbax_writer.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

// A float32 source over a buffer the test can change after a snapshot; optionally slow.
class MutableSource final : public ArraySource {
public:
    MutableSource(Shape shape, std::chrono::milliseconds delay = {})
        : m_shape(std::move(shape)), m_delay(delay) {
        std::uint64_t n = 1;
        for (auto d : m_shape) n *= static_cast<std::uint64_t>(d);
        m_data.resize(n);
        for (std::uint64_t i = 0; i < n; ++i) m_data[i] = static_cast<float>(i % 1000) + 0.5f;
    }
    DType dtype() const override { return DType::kFloat32; }
    const Shape& shape() const override { return m_shape; }
    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken*) const override {
        if (m_delay.count() > 0) std::this_thread::sleep_for(m_delay);
        std::lock_guard lock(m_mutex);
        std::size_t pos = 0;
        forEachContiguousRun(m_shape, 4, sel, [&](std::size_t off, std::size_t len) {
            std::memcpy(out.data() + pos, reinterpret_cast<const std::byte*>(m_data.data()) + off, len);
            pos += len;
        });
        return okStatus();
    }
    void fill(float v) {
        std::lock_guard lock(m_mutex);
        std::fill(m_data.begin(), m_data.end(), v);
    }

private:
    Shape m_shape;
    std::chrono::milliseconds m_delay;
    mutable std::mutex m_mutex;
    std::vector<float> m_data;
};

NodePtr arrayNode(std::vector<float> values) {
    auto a = Array::fromBytes(DType::kFloat32, {static_cast<std::int64_t>(values.size())},
                              std::as_bytes(std::span(values)));
    return Node::makeArray(makeMemorySource(std::move(*a)));
}

NodePtr stepTree(float base) {
    return Node::makeDict({{"params", Node::makeDict({{"w", arrayNode({base, base + 1, base + 2})}})},
                           {"name", Node::makeString("run")}});
}

std::vector<float> readFloats(const Node& node) {
    auto a = node.array()->readAll();
    if (!a.isOk()) return {};
    std::vector<float> out(a->elementCount());
    std::memcpy(out.data(), a->bytes().data(), a->byteSize());
    return out;
}

ManagedStep stepWith(std::int64_t step, std::optional<double> loss) {
    ManagedStep s;
    s.step = step;
    if (loss) s.metrics = Metrics{{"loss", *loss}};
    return s;
}

std::vector<std::int64_t> kept(const std::vector<ManagedStep>& steps, const RetentionPolicy& p) {
    const auto keep = preservedSteps(steps, p);
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (keep[i]) out.push_back(steps[i].step);
    }
    return out;
}

}  // namespace

class TestCheckpointManager : public QObject {
    Q_OBJECT
private slots:
    void snapshotIsIndependentOfTheSource() {
        // 3000 x 4096 float32 = 48 MiB: more than one copy slab, so both threads take part.
        auto source = std::make_shared<MutableSource>(Shape{3000, 4096});
        const NodePtr tree = Node::makeDict({{"big", Node::makeArray(source)},
                                             {"small", arrayNode({1, 2, 3})}});
        auto snap = snapshotTree(tree, 2);
        CKPT_VERIFY_OK(snap);
        source->fill(-7.0f);  // the caller mutates its arrays after the snapshot
        const auto copied = readFloats(*(*snap)->findChild("big"));
        QCOMPARE(copied.size(), std::size_t{3000 * 4096});
        for (std::size_t i : {std::size_t{0}, std::size_t{999}, std::size_t{6'000'000},
                              copied.size() - 1}) {
            QCOMPARE(copied[i], static_cast<float>(i % 1000) + 0.5f);
        }
        QCOMPARE(readFloats(*(*snap)->findChild("small")), (std::vector<float>{1, 2, 3}));
    }

    void snapshotBuffersAreReusedOnlyOnceReleased() {
        auto pool = std::make_shared<SnapshotBufferPool>();
        auto tree = [](float base) {
            return Node::makeDict({{"a", arrayNode({base, base + 1})}, {"b", arrayNode({base})}});
        };
        auto firstResult = snapshotTree(tree(1), 2, nullptr, pool);
        CKPT_VERIFY_OK(firstResult);
        NodePtr first = std::move(firstResult).value();
        QCOMPARE(pool->pooledBytes(), std::uint64_t{0});
        auto second = snapshotTree(tree(5), 2, nullptr, pool);  // `first` still alive: fresh
        CKPT_VERIFY_OK(second);
        QCOMPARE(readFloats(*first->findChild("a")), (std::vector<float>{1, 2}));
        first.reset();  // released: its buffers go to the pool
        QCOMPARE(pool->pooledBytes(), std::uint64_t{12});
        auto third = snapshotTree(Node::makeDict({{"a", arrayNode({9, 10})}}), 2, nullptr, pool);
        CKPT_VERIFY_OK(third);
        // 8 bytes reused, the 4-byte buffer that matched nothing was dropped.
        QCOMPARE(pool->pooledBytes(), std::uint64_t{0});
        QCOMPARE(readFloats(*(*third)->findChild("a")), (std::vector<float>{9, 10}));
        QCOMPARE(readFloats(*(*second)->findChild("a")), (std::vector<float>{5, 6}));

        // An async save releases its snapshot before it reports being finished.
        test::TempDir dir;
        AsyncCheckpointer ckptr;
        CKPT_VERIFY_OK(ckptr.saveAsync(tree(1), dir.path() / "x", "orbax", {}));
        CKPT_VERIFY_OK(ckptr.waitUntilFinished());
        QCOMPARE(ckptr.bufferPool()->pooledBytes(), std::uint64_t{12});
    }

    void asyncSavesRoundTripInOrder() {
        test::TempDir dir;
        AsyncCheckpointer ckptr;
        CKPT_VERIFY_OK(ckptr.saveAsync(stepTree(1), dir.path() / "a", "orbax", {}));
        CKPT_VERIFY_OK(ckptr.saveAsync(stepTree(5), dir.path() / "b", "safetensors", {}));
        CKPT_VERIFY_OK(ckptr.waitUntilFinished());
        QVERIFY(!ckptr.isSaving());
        const SaveProgress p = ckptr.progress();
        QVERIFY(p.total > 0);
        QCOMPARE(p.done, p.total);
        Checkpointer sync;
        auto a = sync.restore(dir.path() / "a");
        CKPT_VERIFY_OK(a);
        QCOMPARE(readFloats(*a->tree->findChild("params")->findChild("w")), (std::vector<float>{1, 2, 3}));
        auto b = sync.restore(dir.path() / "b");
        CKPT_VERIFY_OK(b);
        QCOMPARE(b->format, std::string("safetensors"));
    }

    void backgroundErrorIsReportedOnceByTheNextCall() {
        test::TempDir dir;
        std::ofstream(dir.path() / "file") << "x";
        AsyncCheckpointer ckptr;
        // The parent of the target is a file: the write fails in the background.
        CKPT_VERIFY_OK(ckptr.saveAsync(stepTree(1), dir.path() / "file" / "ckpt", "orbax", {}));
        const Status next = ckptr.saveAsync(stepTree(2), dir.path() / "ok", "orbax", {});
        QVERIFY(!next.isOk());
        QVERIFY(!fs::exists(dir.path() / "ok"));  // the second save did not start
        CKPT_VERIFY_OK(ckptr.waitUntilFinished());  // reported once
        CKPT_VERIFY_OK(ckptr.saveAsync(stepTree(1), dir.path() / "file" / "ckpt", "orbax", {}));
        QVERIFY(!ckptr.waitUntilFinished().isOk());
    }

    void cancelStopsARunningSave() {
        test::TempDir dir;
        std::vector<DictEntry> leaves;
        for (int i = 0; i < 200; ++i) {
            leaves.push_back({"a" + std::to_string(i),
                              Node::makeArray(std::make_shared<MutableSource>(
                                  Shape{16}, std::chrono::milliseconds(5)))});
        }
        AsyncCheckpointer ckptr;
        CKPT_VERIFY_OK(ckptr.saveAsync(Node::makeDict(std::move(leaves)), dir.path() / "c", "orbax",
                                       {}, SnapshotMode::kReference));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        QVERIFY(ckptr.isSaving());
        ckptr.cancel();
        CKPT_VERIFY_ERROR(ckptr.waitUntilFinished(), StatusCode::kCancelled);
        QVERIFY(!fs::exists(dir.path() / "c"));
        QVERIFY(!fs::exists(dir.path() / "c.orbax-checkpoint-tmp"));
    }

    void retentionMatchesOrbaxPolicies() {
        std::vector<ManagedStep> steps;
        // losses 10, 9, 0.5, 7, 6, 5, 4 at steps 0..6 (what orbax kept in a real run:
        // max_to_keep=2, keep_period=4, best_fn=loss, best_mode=min -> [0, 2, 4, 6]).
        const double losses[] = {10, 9, 0.5, 7, 6, 5, 4};
        for (int i = 0; i < 7; ++i) steps.push_back(stepWith(i, losses[i]));
        RetentionPolicy p;
        p.maxToKeep = 2;
        p.keepPeriod = 4;
        p.bestMetric = "loss";
        p.bestMode = BestMode::kMin;
        QCOMPARE(kept(steps, p), (std::vector<std::int64_t>{0, 2, 4, 6}));
        QCOMPARE(bestStep(steps, p), std::optional<std::int64_t>(2));
        p.bestMode = BestMode::kMax;
        QCOMPARE(kept(steps, p), (std::vector<std::int64_t>{0, 1, 4}));
        QCOMPARE(bestStep(steps, p), std::optional<std::int64_t>(0));
        // LatestN with keep_period.
        RetentionPolicy latest;
        latest.maxToKeep = 3;
        latest.keepPeriod = 3;
        QCOMPARE(kept(steps, latest), (std::vector<std::int64_t>{0, 3, 4, 5, 6}));
        latest.keepPeriod.reset();
        latest.maxToKeep = 0;  // None: keep all
        QCOMPARE(kept(steps, latest).size(), std::size_t{7});
    }

    void bestNTiesAndMissingMetricsFollowOrbax() {
        // Equal losses: Python's stable sort keeps step order, the last N are kept -> newer wins,
        // in both modes.
        std::vector<ManagedStep> steps = {stepWith(1, 3.0), stepWith(2, 3.0), stepWith(3, 3.0),
                                          stepWith(4, std::nullopt)};
        RetentionPolicy p;
        p.maxToKeep = 1;
        p.bestMetric = "loss";
        p.bestMode = BestMode::kMin;
        QCOMPARE(kept(steps, p), (std::vector<std::int64_t>{3, 4}));
        QCOMPARE(bestStep(steps, p), std::optional<std::int64_t>(3));
        p.bestMode = BestMode::kMax;
        QCOMPARE(kept(steps, p), (std::vector<std::int64_t>{3, 4}));
        p.keepCheckpointsWithoutMetrics = false;
        QCOMPARE(kept(steps, p), (std::vector<std::int64_t>{3}));
    }

    void managerSavesListsRestoresAndPrunes() {
        test::TempDir dir;
        CheckpointManagerOptions o;
        o.retention.maxToKeep = 2;
        o.retention.bestMetric = "loss";
        o.retention.bestMode = BestMode::kMin;
        auto m = CheckpointManager::open(dir.path(), o);
        CKPT_VERIFY_OK(m);
        const double losses[] = {5, 1, 4, 3};
        for (int s = 0; s < 4; ++s) {
            auto saved = (*m)->save(s, {{"default", stepTree(float(s))}, {"extra", stepTree(100)}},
                                    Metrics{{"loss", losses[s]}});
            CKPT_VERIFY_OK(saved);
            QVERIFY(*saved);
        }
        CKPT_VERIFY_OK((*m)->waitUntilFinished());
        QCOMPARE((*m)->allSteps(), (std::vector<std::int64_t>{1, 3}));
        QCOMPARE((*m)->bestStep(), std::optional<std::int64_t>(1));
        auto steps = (*m)->steps();
        CKPT_VERIFY_OK(steps);
        QCOMPARE((*steps)[0].items, (std::vector<std::string>{"default", "extra"}));
        QVERIFY((*steps)[0].commitTimestampNs.has_value());
        QCOMPARE((*steps)[1].metrics->at("loss"), 3.0);
        auto restored = (*m)->restore(3);
        CKPT_VERIFY_OK(restored);
        QCOMPARE(readFloats(*restored->tree->findChild("params")->findChild("w")),
                 (std::vector<float>{3, 4, 5}));
        // No leftovers: deleted steps went through a temporary name and are gone.
        std::size_t entries = 0;
        for (const auto& e : fs::directory_iterator(dir.path())) {
            QVERIFY2(e.path().filename().string().find(".orbax-checkpoint-tmp") == std::string::npos,
                     e.path().string().c_str());
            ++entries;
        }
        QCOMPARE(entries, std::size_t{2});
        CKPT_VERIFY_ERROR((*m)->save(3, {{"default", stepTree(0)}}, {}, true).status(),
                          StatusCode::kAlreadyExists);
        CKPT_VERIFY_ERROR((*m)->save(9, {{"metrics", stepTree(0)}}).status(),
                          StatusCode::kInvalidArgument);
    }

    void shouldSaveFollowsTheInterval() {
        test::TempDir dir;
        CheckpointManagerOptions o;
        o.saveIntervalSteps = 5;
        o.async = false;
        auto m = CheckpointManager::open(dir.path(), o);
        CKPT_VERIFY_OK(m);
        QVERIFY((*m)->shouldSave(3));  // the first save is always made
        auto first = (*m)->save(3, {{"default", stepTree(0)}});
        CKPT_VERIFY_OK(first);
        QVERIFY(*first);
        QVERIFY(!(*m)->shouldSave(3));
        QVERIFY(!(*m)->shouldSave(4));
        QVERIFY((*m)->shouldSave(5));
        auto skipped = (*m)->save(7, {{"default", stepTree(0)}});
        CKPT_VERIFY_OK(skipped);
        QVERIFY(!*skipped);
        QCOMPARE((*m)->allSteps(), (std::vector<std::int64_t>{3}));
    }

    void temporaryDirectoriesAreNeverStepsAndAreCleanedUp() {
        test::TempDir dir;
        fs::create_directories(dir.path() / "7.orbax-checkpoint-tmp" / "default");
        fs::create_directories(dir.path() / "8.orbax-checkpoint-tmp-deleting-123");
        fs::create_directories(dir.path() / "007");   // not Orbax's step name (zero padded)
        fs::create_directories(dir.path() / "notes");
        auto listed = listSteps(dir.path());
        CKPT_VERIFY_OK(listed);
        QVERIFY(listed->empty());
        CheckpointManagerOptions o;
        o.cleanupTmpDirectories = true;
        auto m = CheckpointManager::open(dir.path(), o);
        CKPT_VERIFY_OK(m);
        QVERIFY(!fs::exists(dir.path() / "7.orbax-checkpoint-tmp"));
        QVERIFY(!fs::exists(dir.path() / "8.orbax-checkpoint-tmp-deleting-123"));
        QVERIFY(fs::exists(dir.path() / "notes"));
    }

    void pruneDryRunDeletesNothing() {
        test::TempDir dir;
        CheckpointManagerOptions o;
        o.async = false;
        auto m = CheckpointManager::open(dir.path(), o);
        CKPT_VERIFY_OK(m);
        for (int s = 0; s < 4; ++s) CKPT_VERIFY_OK((*m)->save(s, {{"default", stepTree(0)}}));
        RetentionPolicy p;
        p.maxToKeep = 1;
        auto would = pruneSteps(dir.path(), p, true);
        CKPT_VERIFY_OK(would);
        QCOMPARE(*would, (std::vector<std::int64_t>{0, 1, 2}));
        QCOMPARE((*m)->allSteps().size(), std::size_t{4});
        auto removed = pruneSteps(dir.path(), p, false);
        CKPT_VERIFY_OK(removed);
        QCOMPARE((*m)->allSteps(), (std::vector<std::int64_t>{3}));
    }

    void aDetachedStepIsGoneFromListingsBeforeItsFilesAre() {
        test::TempDir dir;
        CheckpointManagerOptions o;
        o.async = false;
        auto m = CheckpointManager::open(dir.path(), o);
        CKPT_VERIFY_OK(m);
        for (int s = 0; s < 3; ++s) {
            CKPT_VERIFY_OK((*m)->save(s, {{"default", stepTree(static_cast<float>(s))}}));
        }
        auto detached = detachManagedStep(dir.path(), 1);
        CKPT_VERIFY_OK(detached);
        QVERIFY(fs::is_directory(*detached));
        QVERIFY(!fs::exists(dir.path() / "1"));
        auto listed = listSteps(dir.path());
        CKPT_VERIFY_OK(listed);
        QCOMPARE(listed->size(), std::size_t{2});
        QVERIFY(listed->at(0).step == 0 && listed->at(1).step == 2);
        // Twice: the step is no longer there.
        CKPT_VERIFY_ERROR(detachManagedStep(dir.path(), 1), StatusCode::kNotFound);
        // Only a detached step is removed, never a live one.
        CKPT_VERIFY_ERROR(removeDetachedStep(dir.path() / "2"), StatusCode::kInvalidArgument);
        QVERIFY(fs::exists(dir.path() / "2"));
        CKPT_VERIFY_OK(removeDetachedStep(*detached));
        QVERIFY(!fs::exists(*detached));
        // A removal that never ran is finished by the next retention pass.
        auto again = detachManagedStep(dir.path(), 0);
        CKPT_VERIFY_OK(again);
        RetentionPolicy keepAll;
        CKPT_VERIFY_OK(pruneSteps(dir.path(), keepAll, false));
        QVERIFY(!fs::exists(*again));
        QVERIFY(fs::exists(dir.path() / "2"));
    }
};

QTEST_GUILESS_MAIN(TestCheckpointManager)
#include "tst_checkpoint_manager.moc"
