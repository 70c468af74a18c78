// LazyZarrArray (formats/zarr/zarr_lazy_array.h): the zarr metadata is read on first use and
// exactly once, also when many threads ask at once; a missing or corrupt zarr.json becomes a
// metadataStatus() error naming the context and the key path, with dtype uint8, shape {0} and
// reads that fail with the same error.
#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "ckpt/core/stats.h"
#include "formats/zarr/zarr_lazy_array.h"
#include "kvstore/directory_store.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& root, const std::string& key, std::string_view bytes) {
    const fs::path file = root / key;
    fs::create_directories(file.parent_path());
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A raw (uncompressed) little-endian int32 [4] array in one chunk: 10, 11, 12, 13.
void writeArray(const fs::path& root, const std::string& prefix) {
    put(root, prefix + "zarr.json",
        R"({"zarr_format":3,"node_type":"array","shape":[4],"data_type":"int32",)"
        R"("chunk_grid":{"name":"regular","configuration":{"chunk_shape":[4]}},)"
        R"("chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},)"
        R"("fill_value":0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}}]})");
    const std::int32_t values[4] = {10, 11, 12, 13};
    put(root, prefix + "c/0",
        std::string_view(reinterpret_cast<const char*>(values), sizeof values));
}

// Counts reads of metadata keys through the wrapped store.
class CountingStore final : public kv::KvStore {
public:
    explicit CountingStore(kv::KvStorePtr inner) : m_inner(std::move(inner)) {}
    Result<std::optional<std::string>> read(std::string_view key,
                                            const kv::ByteRange& range) const override {
        if (key.ends_with("zarr.json") || key.ends_with(".zarray")) ++metadataReads;
        return m_inner->read(key, range);
    }
    Result<std::vector<std::string>> list(std::string_view prefix) const override {
        return m_inner->list(prefix);
    }
    Result<std::vector<std::pair<std::string, std::uint64_t>>> listSizes(
        std::string_view prefix) const override {
        return m_inner->listSizes(prefix);
    }
    std::string describe() const override { return m_inner->describe(); }
    mutable std::atomic<int> metadataReads{0};

private:
    kv::KvStorePtr m_inner;
};

std::shared_ptr<CountingStore> countingStore(const fs::path& dir) {
    auto inner = kv::openDirectoryStore(dir);
    if (!inner.isOk()) qFatal("%s", inner.status().toString().c_str());
    return std::make_shared<CountingStore>(*inner);
}

ArraySourcePtr lazy(const std::shared_ptr<CountingStore>& store, const std::string& prefix,
                    const std::string& name) {
    return zarr::makeLazyZarrArray(store, prefix, name, std::make_shared<zarr::MetadataCache>(),
                                   std::make_shared<const std::string>("/ckpt/_METADATA"));
}

bool contains(const Status& s, const std::string& what) {
    return s.toString().find(what) != std::string::npos;
}

}  // namespace

class TestZarrLazyArray : public QObject {
    Q_OBJECT
private slots:
    void readsMetadataOnFirstUseOnly() {
        test::TempDir tmp;
        writeArray(tmp.path(), "params.w/");
        auto store = countingStore(tmp.path());
        const ArraySourcePtr a = lazy(store, "params.w/", "params/w");
        QCOMPARE(store->metadataReads.load(), 0);
        QVERIFY(!a->metadataLoaded());
        QCOMPARE(a->dtype(), DType::kInt32);
        QVERIFY(a->metadataLoaded());
        QCOMPARE(a->shape(), Shape{4});
        QCOMPARE(a->chunkShape(), Shape{4});
        CKPT_VERIFY_OK(a->metadataStatus());
        QCOMPARE(a->storage().format, std::string("zarr v3"));
        auto all = a->readAll();
        CKPT_VERIFY_OK(all);
        std::int32_t got[4] = {};
        std::memcpy(got, all->bytes().data(), sizeof got);
        QCOMPARE(got[0], 10);
        QCOMPARE(got[3], 13);
        QCOMPARE(store->metadataReads.load(), 1);
    }

    void loadsOnceUnderConcurrentFirstUse() {
        test::TempDir tmp;
        writeArray(tmp.path(), "w/");
        for (int round = 0; round < 20; ++round) {
            auto store = countingStore(tmp.path());
            const ArraySourcePtr a = lazy(store, "w/", "w");
            std::atomic<int> wrong{0};
            std::vector<std::thread> threads;
            for (int t = 0; t < 8; ++t) {
                threads.emplace_back([&, t] {
                    const bool ok = t % 2 == 0
                                        ? a->shape() == Shape{4}
                                        : a->dtype() == DType::kInt32 && a->metadataStatus().isOk();
                    if (!ok) ++wrong;
                });
            }
            for (auto& th : threads) th.join();
            QCOMPARE(wrong.load(), 0);
            QCOMPARE(store->metadataReads.load(), 1);
        }
    }

    void missingMetadataIsAnErrorNamingTheKeyPath() {
        test::TempDir tmp;
        writeArray(tmp.path(), "w/");
        fs::remove(tmp.path() / "w" / "zarr.json");
        auto store = countingStore(tmp.path());
        const ArraySourcePtr a = lazy(store, "w/", "params/w");
        const Status status = a->metadataStatus();
        CKPT_VERIFY_ERROR(status, StatusCode::kNotFound);
        QVERIFY2(contains(status, "/ckpt/_METADATA") && contains(status, "'params/w'"),
                 status.toString().c_str());
        QVERIFY(a->metadataLoaded());
        QCOMPARE(a->dtype(), DType::kUInt8);
        QCOMPARE(a->shape(), Shape{0});
        QCOMPARE(a->elementCount(), std::uint64_t{0});
        QCOMPARE(a->storage().format, std::string("unreadable"));
        // Reads fail with the same error, whichever way they come.
        auto all = a->readAll();
        CKPT_VERIFY_ERROR(all, StatusCode::kNotFound);
        QCOMPARE(all.status().toString(), status.toString());
        std::byte out[4];
        CKPT_VERIFY_ERROR(a->readInto(Selection{{0}, {1}}, out, nullptr), StatusCode::kNotFound);
        CKPT_VERIFY_ERROR(computeStats(*a), StatusCode::kNotFound);
        CKPT_VERIFY_ERROR(forEachCOrderBlock(*a, 1024, [](auto) { return okStatus(); }),
                          StatusCode::kNotFound);
        // The failed open is remembered, not retried.
        QCOMPARE(store->metadataReads.load(), 2);  // zarr.json, then .zarray
        (void)a->metadataStatus();
        QCOMPARE(store->metadataReads.load(), 2);
    }

    void corruptMetadataIsCorruption() {
        test::TempDir tmp;
        put(tmp.path(), "w/zarr.json", "{\"zarr_format\":3,");
        auto store = countingStore(tmp.path());
        const ArraySourcePtr a = lazy(store, "w/", "w");
        const Status status = a->metadataStatus();
        CKPT_VERIFY_ERROR(status, StatusCode::kCorruption);
        QVERIFY2(contains(status, "'w'"), status.toString().c_str());
    }
};

QTEST_GUILESS_MAIN(TestZarrLazyArray)
#include "tst_zarr_lazy_array.moc"
