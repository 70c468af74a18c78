// zarr arrays inside the real Orbax checkpoints under $CKPT_SHARED_FIXTURES/orbax-compat (written
// by orbax-checkpoint itself; see that folder's README): zarr v2 + zstd in the v0 checkpoints,
// zarr v3 + sharding_indexed + zstd in the v1 ones, both stored in OCDBT. Every variant must
// either read the known values ({'a': 0..7, 'b': {'c': [1, 2, 3]}}) or fail with an error.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "formats/ocdbt/ocdbt_store.h"
#include "formats/zarr/zarr_array.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
    const char* dir = std::getenv("CKPT_SHARED_FIXTURES");
    return dir ? fs::path(dir) / "orbax-compat" : fs::path();
}

// Every OCDBT database root (a manifest.ocdbt that is not a per-process one).
std::vector<fs::path> databases() {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(fixtures(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const fs::path p = it->path();
        if (p.filename() != "manifest.ocdbt") continue;
        if (p.parent_path().filename().string().starts_with("ocdbt.process_")) continue;
        out.push_back(p.parent_path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::int32_t> ints(const Array& a) {
    std::vector<std::int32_t> v(a.elementCount());
    std::memcpy(v.data(), a.bytes().data(), a.byteSize());
    return v;
}

}  // namespace

class TestZarrOrbaxFixtures : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        if (!std::getenv("CKPT_SHARED_FIXTURES")) {
            QFAIL("CKPT_SHARED_FIXTURES is not set (CTest sets it to ../shared/fixtures)");
        }
        QVERIFY2(fs::is_directory(fixtures()), fixtures().string().c_str());
    }

    void readsV0ZarrV2Arrays() {
        const fs::path dir = fixtures() /
                             "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                             "pytree_checkpointable_has_metadata";
        auto store = ocdbt::openOcdbtStore(dir);
        CKPT_VERIFY_OK(store);
        auto a = zarr::openZarrArray(*store, "a", "a");
        CKPT_VERIFY_OK(a);
        QCOMPARE((*a)->dtype(), DType::kInt32);
        QCOMPARE((*a)->shape(), Shape{8});
        const StorageInfo info = (*a)->storage();
        QCOMPARE(info.format, std::string("zarr v2"));
        QCOMPARE(info.codecs, std::vector<std::string>{"zstd(level=1)"});
        QCOMPARE(info.chunkShape, Shape{8});
        auto all = (*a)->readAll();
        CKPT_VERIFY_OK(all);
        QCOMPARE(ints(*all), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
        auto part = (*a)->read(Selection{{3}, {4}});
        CKPT_VERIFY_OK(part);
        QCOMPARE(ints(*part), (std::vector<std::int32_t>{3, 4, 5, 6}));
        auto bc = zarr::openZarrArray(*store, "b.c/", "b.c");
        CKPT_VERIFY_OK(bc);
        auto bcAll = (*bc)->readAll();
        CKPT_VERIFY_OK(bcAll);
        QCOMPARE(ints(*bcAll), (std::vector<std::int32_t>{1, 2, 3}));
    }

    void readsV1ZarrV3ShardedArrays() {
        const fs::path dir = fixtures() /
                             "v1_checkpoints/composite_checkpoint/checkpoint_metadata_present/"
                             "pytree_checkpointable_has_metadata/state";
        auto store = ocdbt::openOcdbtStore(dir);
        CKPT_VERIFY_OK(store);
        auto a = zarr::openZarrArray(*store, "a", "a");
        CKPT_VERIFY_OK(a);
        const StorageInfo info = (*a)->storage();
        QCOMPARE(info.format, std::string("zarr v3"));
        QCOMPARE(info.codecs,
                 (std::vector<std::string>{"sharding_indexed(chunk_shape=[8])", "zstd(level=3)"}));
        auto all = (*a)->readAll();
        CKPT_VERIFY_OK(all);
        QCOMPARE(ints(*all), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
        auto bc = zarr::openZarrArray(*store, "b.c", "b.c");
        CKPT_VERIFY_OK(bc);
        auto bcPart = (*bc)->read(Selection{{1}, {2}});
        CKPT_VERIFY_OK(bcPart);
        QCOMPARE(ints(*bcPart), (std::vector<std::int32_t>{2, 3}));
    }

    void everyVariantReadsTheRightValuesOrFails() {
        const auto dbs = databases();
        QVERIFY(dbs.size() >= 30);
        int read = 0;
        for (const fs::path& dir : dbs) {
            const std::string name = fs::relative(dir, fixtures()).string();
            auto store = ocdbt::openOcdbtStore(dir);
            if (!store.isOk()) {
                // Only the variants whose data directory was removed may fail.
                QVERIFY2(name.find("missing_pytree_data_dir_d") != std::string::npos,
                         (name + ": " + store.status().toString()).c_str());
                continue;
            }
            const bool v1 = name.starts_with("v1_");
            for (const auto& [key, values] :
                 {std::pair<std::string, std::vector<std::int32_t>>{"a", {0, 1, 2, 3, 4, 5, 6, 7}},
                  {"b.c", {1, 2, 3}}}) {
                auto arr = zarr::openZarrArray(*store, key, key);
                CKPT_VERIFY_OK(arr);
                QCOMPARE((*arr)->storage().format, std::string(v1 ? "zarr v3" : "zarr v2"));
                auto all = (*arr)->readAll();
                CKPT_VERIFY_OK(all);
                QVERIFY2(ints(*all) == values, (name + " " + key).c_str());
                ++read;
            }
        }
        QVERIFY(read >= 60);
    }
};

QTEST_GUILESS_MAIN(TestZarrOrbaxFixtures)
#include "tst_zarr_orbax_fixtures.moc"
