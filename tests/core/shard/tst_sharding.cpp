// ckpt/core/sharding.h without files: JAX's spelling of meshes and partition specs, and which
// devices hold a block of an array under a NamedSharding (devicesHolding), including uneven
// splits, replication, several axes on one dimension and the refusals of inconsistent records.
#include "ckpt/core/sharding.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {

// The 2x2 mesh of a two-process save with two CPU devices each (ids as JAX numbers them).
MeshSharding mesh2x2(std::vector<std::vector<std::string>> spec) {
    MeshSharding m;
    m.type = "NamedSharding";
    m.meshShape = {2, 2};
    m.axisNames = {"a", "b"};
    m.deviceIds = {0, 1, 2048, 2049};
    m.partitionSpec = std::move(spec);
    return m;
}

Selection box(std::vector<std::int64_t> start, std::vector<std::int64_t> count) {
    return Selection{std::move(start), std::move(count)};
}

using Ids = std::vector<std::int64_t>;

}  // namespace

class TestSharding : public QObject {
    Q_OBJECT
private slots:
    void spellsSpecsAndMeshesAsJax() {
        QCOMPARE(mesh2x2({{"a", "b"}, {}}).partitionSpecText(), std::string("P(('a', 'b'), None)"));
        QCOMPARE(mesh2x2({{"a"}, {"b"}, {}}).partitionSpecText(), std::string("P('a', 'b', None)"));
        QCOMPARE(mesh2x2({}).partitionSpecText(), std::string("P()"));
        QCOMPARE(mesh2x2({}).meshText(), std::string("{'a': 2, 'b': 2}"));
        QCOMPARE(mesh2x2({}).deviceCount(), std::uint64_t{4});
        MeshSharding single;
        single.type = "SingleDeviceSharding";
        single.device = "cpu:0";
        QCOMPARE(single.meshText(), std::string("cpu:0"));
        QCOMPARE(single.deviceCount(), std::uint64_t{1});
    }

    void findsTheDeviceOfEachBlock() {
        // (16, 128) split over ('a', 'b') on axis 0: four row blocks of 4, 'a' major.
        const MeshSharding m = mesh2x2({{"a", "b"}, {}});
        const Shape shape{16, 128};
        const Ids expected[] = {{0}, {1}, {2048}, {2049}};
        for (std::int64_t r = 0; r < 4; ++r) {
            auto ids = devicesHolding(m, shape, box({r * 4, 0}, {4, 128}));
            CKPT_VERIFY_OK(ids);
            QCOMPARE(*ids, expected[r]);
        }
        // A block that straddles two devices' parts is held whole by none.
        auto straddle = devicesHolding(m, shape, box({3, 0}, {2, 128}));
        CKPT_VERIFY_OK(straddle);
        QVERIFY(straddle->empty());
    }

    void replicatedDimensionsGiveEveryReplica() {
        // Split over 'a' only: both devices of a row of the mesh hold the block.
        auto ids = devicesHolding(mesh2x2({{"a"}, {}}), {6, 4}, box({3, 2}, {3, 2}));
        CKPT_VERIFY_OK(ids);
        QCOMPARE(*ids, (Ids{2048, 2049}));
        // Fully replicated (a scalar, P()): every device.
        auto all = devicesHolding(mesh2x2({}), {}, box({}, {}));
        CKPT_VERIFY_OK(all);
        QCOMPARE(*all, (Ids{0, 1, 2048, 2049}));
        // Second dimension over 'b' on a 2-D array: columns split, rows replicated over 'a'.
        auto cols = devicesHolding(mesh2x2({{}, {"b"}}), {2, 8}, box({0, 4}, {2, 4}));
        CKPT_VERIFY_OK(cols);
        QCOMPARE(*cols, (Ids{1, 2049}));
    }

    void unevenSplitsUseCeilingBlocks() {
        // 5 rows over 2 devices: blocks [0:3] and [3:5], as JAX cuts them.
        MeshSharding m;
        m.type = "NamedSharding";
        m.meshShape = {2};
        m.axisNames = {"x"};
        m.partitionSpec = {{"x"}};
        auto last = devicesHolding(m, {5}, box({3}, {2}));
        CKPT_VERIFY_OK(last);
        QCOMPARE(*last, (Ids{1}));  // no ids recorded: mesh positions
        auto first = devicesHolding(m, {5}, box({0}, {3}));
        CKPT_VERIFY_OK(first);
        QCOMPARE(*first, (Ids{0}));
    }

    void refusesInconsistentRecords() {
        CKPT_VERIFY_ERROR(devicesHolding(mesh2x2({{"z"}}), {4}, box({0}, {4})),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(devicesHolding(mesh2x2({{"a"}, {"a"}}), {4, 4}, box({0, 0}, {4, 4})),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(devicesHolding(mesh2x2({{"a"}, {}, {}}), {4, 4}, box({0, 0}, {4, 4})),
                          StatusCode::kInvalidArgument);
        MeshSharding ids = mesh2x2({{"a"}});
        ids.deviceIds.pop_back();
        CKPT_VERIFY_ERROR(devicesHolding(ids, {4}, box({0}, {4})), StatusCode::kInvalidArgument);
        MeshSharding zero = mesh2x2({});
        zero.meshShape = {0, 2};
        CKPT_VERIFY_ERROR(devicesHolding(zero, {4}, box({0}, {4})), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(devicesHolding(mesh2x2({}), {4}, box({0, 0}, {4, 4})),
                          StatusCode::kInvalidArgument);
        auto named = devicesHolding(mesh2x2({{"z"}}), {4}, box({0}, {4}));
        QVERIFY(named.status().message().find("'z'") != std::string::npos);
    }

    void processBlocksSplitLikeJax() {
        // 10 rows among 4 processes: blocks of ceil(10/4) = 3, the last one short.
        const std::vector<std::pair<std::int64_t, std::int64_t>> rows = {{0, 3}, {3, 3}, {6, 3}, {9, 1}};
        for (std::int64_t i = 0; i < 4; ++i) {
            auto b = ckpt::processBlock({10, 6}, i, 4, 0);
            QVERIFY(b.isOk());
            QCOMPARE(b->start, (std::vector<std::int64_t>{rows[static_cast<std::size_t>(i)].first, 0}));
            QCOMPARE(b->count, (std::vector<std::int64_t>{rows[static_cast<std::size_t>(i)].second, 6}));
        }
        // 2 columns among 3 processes: the third block is empty.
        auto empty = ckpt::processBlock({4, 2}, 2, 3, 1);
        QVERIFY(empty.isOk());
        QCOMPARE(empty->count, (std::vector<std::int64_t>{4, 0}));
        QCOMPARE(empty->elementCount(), std::uint64_t{0});
        auto whole = ckpt::processBlock({5}, 0, 1, 0);
        QVERIFY(whole.isOk());
        QCOMPARE(whole->count, (std::vector<std::int64_t>{5}));
        QCOMPARE(ckpt::processBlock({4}, 4, 4, 0).status().code(), ckpt::StatusCode::kInvalidArgument);
        QCOMPARE(ckpt::processBlock({4}, -1, 4, 0).status().code(), ckpt::StatusCode::kInvalidArgument);
        QCOMPARE(ckpt::processBlock({4}, 0, 0, 0).status().code(), ckpt::StatusCode::kInvalidArgument);
        QCOMPARE(ckpt::processBlock({4}, 0, 2, 1).status().code(), ckpt::StatusCode::kInvalidArgument);
        QCOMPARE(ckpt::processBlock({}, 0, 2, 0).status().code(), ckpt::StatusCode::kInvalidArgument);
    }

    void memorySourcesRecordNoSharding() {
        auto a = Array::allocate(DType::kFloat32, {2, 2});
        CKPT_VERIFY_OK(a);
        auto source = makeMemorySource(std::move(*a));
        QVERIFY(shardingOf(*source) == nullptr);
    }
};

QTEST_GUILESS_MAIN(TestSharding)
#include "tst_sharding.moc"
