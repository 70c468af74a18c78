// OcdbtStore over real databases: every OCDBT database among the shared Orbax fixtures, and the
// tensorstore-written databases in data/ (interior nodes, out-of-line values, version-tree nodes,
// numbered manifests, merged multi-process layout, empty tree), checked against tensorstore's own
// listing and dump (data/*/expected.json).

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "formats/ocdbt/crc32c.h"
#include "formats/ocdbt/envelope.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "ocdbt_test_util.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::ocdbt;
using namespace ocdbt_test;

namespace {

const char* kDirect =
    "orbax-compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
    "pytree_checkpointable_has_metadata";

std::string zarray(int n) {
    return "{\"chunks\":[" + std::to_string(n) +
           "],\"compressor\":{\"id\":\"zstd\",\"level\":1},\"dimension_separator\":\".\","
           "\"dtype\":\"<i4\",\"fill_value\":null,\"filters\":null,\"order\":\"C\",\"shape\":[" +
           std::to_string(n) + "],\"zarr_format\":2}";
}

std::string int32s(std::initializer_list<std::int32_t> v) {
    std::string out;
    for (std::int32_t x : v) {
        for (int i = 0; i < 4; ++i)
            out += static_cast<char>((static_cast<std::uint32_t>(x) >> (8 * i)) & 0xFF);
    }
    return out;
}

std::string unzstd(const std::string& frame) {
    auto r = zstdDecompressBounded(std::as_bytes(std::span(frame.data(), frame.size())), 1 << 20);
    return r.isOk() ? toString(*r) : std::string("<not zstd>");
}

// Every key and value of a store, read one by one.
Result<std::map<std::string, std::string>> contents(const OcdbtStore& store) {
    CKPT_ASSIGN_OR_RETURN(auto keys, store.list());
    std::map<std::string, std::string> out;
    for (const auto& k : keys) {
        CKPT_ASSIGN_OR_RETURN(auto v, store.read(k));
        if (!v) return internalError("listed key " + k + " cannot be read");
        out[k] = std::move(*v);
    }
    return out;
}

// "btreenode::d/abc:848:99" -> ("d/abc", 848, 99); base path and relative path are joined.
struct Location {
    std::string path;
    std::uint64_t offset = 0, length = 0;
};
Location parseLocation(const QString& s) {
    const QStringList parts = s.split(':');
    Location loc;
    if (parts.size() < 5) return loc;
    loc.length = parts.at(parts.size() - 1).toULongLong();
    loc.offset = parts.at(parts.size() - 2).toULongLong();
    loc.path = (parts.at(1) + parts.mid(2, parts.size() - 4).join(':')).toStdString();
    return loc;
}

std::uint64_t u64(const QJsonValue& v) {
    return v.toString().toULongLong();
}

void copyTree(const fs::path& from, const fs::path& to) {
    fs::copy(from, to, fs::copy_options::recursive);
    for (const auto& e : fs::recursive_directory_iterator(to)) {
        fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    }
}

}  // namespace

class TestOcdbtStore : public QObject {
    Q_OBJECT
    fs::path m_fixtures;

    // Checks `store` against tensorstore's expected.json of `db`.
    void checkAgainstTensorstore(const fs::path& db) {
        const QJsonObject expected = readJson(db / "expected.json");
        QVERIFY2(!expected.isEmpty(), (db / "expected.json").string().c_str());
        auto store = OcdbtStore::open(db);
        CKPT_VERIFY_OK(store);
        const OcdbtStore& s = **store;
        QCOMPARE(s.manifestFile(), expected["manifest_file"].toString().toStdString());

        // Config.
        const QJsonObject dump = expected["dump"].toObject();
        const QJsonObject cfg = dump["config"].toObject();
        QCOMPARE(s.config().uuidHex(), cfg["uuid"].toString().toStdString());
        QCOMPARE(std::uint64_t{s.config().maxInlineValueBytes}, u64(cfg["max_inline_value_bytes"]));
        QCOMPARE(std::uint64_t{s.config().maxDecodedNodeBytes}, u64(cfg["max_decoded_node_bytes"]));
        QCOMPARE(std::uint64_t{s.config().versionTreeArityLog2},
                 u64(cfg["version_tree_arity_log2"]));
        QCOMPARE(s.config().compression == CompressionMethod::kZstd, cfg["compression"].isObject());

        // Inline versions and version-tree node references of the manifest.
        const QJsonArray versions = dump["versions"].toArray();
        QCOMPARE(s.manifest().versions.size(), static_cast<std::size_t>(versions.size()));
        const QJsonArray vnodes = dump["version_tree_nodes"].toArray();
        QCOMPARE(s.manifest().versionTreeNodes.size(), static_cast<std::size_t>(vnodes.size()));
        for (qsizetype i = 0; i < vnodes.size(); ++i) {
            const auto& mine = s.manifest().versionTreeNodes[static_cast<std::size_t>(i)];
            const QJsonObject theirs = vnodes[i].toObject();
            QCOMPARE(mine.generationNumber, u64(theirs["generation_number"]));
            QCOMPARE(std::uint64_t{mine.height}, u64(theirs["height"]));
            QCOMPARE(mine.numGenerations, u64(theirs["num_generations"]));
            QCOMPARE(mine.commitTimeNs, u64(theirs["commit_time"]));
            const Location loc = parseLocation(theirs["location"].toString());
            QCOMPARE(mine.location.file->fullPath(), loc.path);
            QCOMPARE(mine.location.offset, loc.offset);
            QCOMPARE(mine.location.length, loc.length);
        }

        // Every version, through the version tree.
        auto all = s.allVersions();
        CKPT_VERIFY_OK(all);
        const QJsonArray allExpected = expected["all_versions"].toArray();
        QCOMPARE(all->size(), static_cast<std::size_t>(allExpected.size()));
        for (qsizetype i = 0; i < allExpected.size(); ++i) {
            const auto& mine = (*all)[static_cast<std::size_t>(i)];
            const QJsonObject theirs = allExpected[i].toObject();
            QCOMPARE(mine.generationNumber, u64(theirs["generation_number"]));
            QCOMPARE(std::uint64_t{mine.rootHeight}, u64(theirs["root_height"]));
            QCOMPARE(mine.commitTimeNs, u64(theirs["commit_time"]));
            const QJsonObject root = theirs["root"].toObject();
            const QJsonObject stats = root["statistics"].toObject();
            QCOMPARE(mine.root.statistics.numKeys, u64(stats["num_keys"]));
            QCOMPARE(mine.root.statistics.numTreeBytes, u64(stats["num_tree_bytes"]));
            QCOMPARE(mine.root.statistics.numIndirectValueBytes,
                     u64(stats["num_indirect_value_bytes"]));
            if (!root.contains("location")) {
                QVERIFY(mine.root.location.isMissing());
                continue;
            }
            const Location loc = parseLocation(root["location"].toString());
            QCOMPARE(mine.root.location.file->fullPath(), loc.path);
            QCOMPARE(mine.root.location.offset, loc.offset);
            QCOMPARE(mine.root.location.length, loc.length);
        }
        QCOMPARE(s.latestVersion()->generationNumber, all->back().generationNumber);

        // Keys and values of the latest version.
        std::map<std::string, std::string> want;
        for (const auto& pair : expected["keys"].toArray()) {
            want[fromHex(pair.toArray()[0].toString())] = fromHex(pair.toArray()[1].toString());
        }
        auto got = contents(s);
        CKPT_VERIFY_OK(got);
        QVERIFY2(*got == want, db.string().c_str());

        // list(prefix) for every prefix of every key, and for keys that are absent.
        std::set<std::string> prefixes = {"", "\xff", "zzz", "params/dense_9"};
        for (const auto& [k, v] : want) {
            for (std::size_t n = 0; n <= k.size(); ++n) prefixes.insert(k.substr(0, n));
        }
        for (const auto& p : prefixes) {
            auto listed = s.list(p);
            CKPT_VERIFY_OK(listed);
            std::vector<std::string> expect;
            for (const auto& [k, v] : want) {
                if (k.compare(0, p.size(), p) == 0) expect.push_back(k);
            }
            QVERIFY2(*listed == expect, ("prefix " + p + " in " + db.string()).c_str());
        }
        // Keys around the present ones are absent.
        for (const auto& [k, v] : want) {
            for (const std::string& probe :
                 {k + '\0', k.substr(0, k.size() - 1) + "\x7f", std::string("\x01") + k}) {
                if (want.count(probe)) continue;
                auto r = s.read(probe);
                CKPT_VERIFY_OK(r);
                QVERIFY2(!r->has_value(), probe.c_str());
            }
        }
        // Sizes and locations reported by listEntries.
        auto entries = s.listEntries();
        CKPT_VERIFY_OK(entries);
        for (const auto& e : *entries) {
            QCOMPARE(e.size, std::uint64_t{want[e.key].size()});
            QCOMPARE(e.isInline, e.dataFile.empty());
        }
    }

private slots:
    void initTestCase() {
        const auto fx = sharedFixtures();
        QVERIFY2(fx.has_value(),
                 "CKPT_SHARED_FIXTURES is not set; run through ctest, or set it to the "
                 "shared/fixtures folder beside the repository");
        m_fixtures = *fx;
        QVERIFY2(fs::is_directory(m_fixtures / kDirect),
                 ("missing fixture " + (m_fixtures / kDirect).string()).c_str());
    }

    void readsTheDirectCheckpoint() {
        auto kv = openOcdbtStore(m_fixtures / kDirect);
        CKPT_VERIFY_OK(kv);
        auto keys = (*kv)->list();
        CKPT_VERIFY_OK(keys);
        QCOMPARE(*keys, (std::vector<std::string>{"a/.zarray", "a/0", "b.c/.zarray", "b.c/0"}));
        QCOMPARE(**(*kv)->read("a/.zarray"), zarray(8));
        QCOMPARE(**(*kv)->read("b.c/.zarray"), zarray(3));
        const std::string a0 = **(*kv)->read("a/0");
        QCOMPARE(a0.size(), std::size_t{41});
        QCOMPARE(a0.substr(0, 4), std::string("\x28\xb5\x2f\xfd"));  // zstd frame
        QCOMPARE(unzstd(a0), int32s({0, 1, 2, 3, 4, 5, 6, 7}));
        const std::string bc0 = **(*kv)->read("b.c/0");
        QCOMPARE(bc0.size(), std::size_t{21});
        QCOMPARE(unzstd(bc0), int32s({1, 2, 3}));
        QVERIFY(!(*kv)->read("a/1")->has_value());
        QVERIFY(!(*kv)->read("")->has_value());
        QCOMPARE((*kv)->describe(), "OCDBT database at '" + (m_fixtures / kDirect).string() + "'");

        // Byte ranges within a value, and ranges past its end.
        QCOMPARE(**(*kv)->read("a/0", {1, 3}), a0.substr(1, 3));
        QCOMPARE(**(*kv)->read("a/0", {41, 0}), std::string());
        QCOMPARE(**(*kv)->read("a/0", {40, std::nullopt}), a0.substr(40));
        CKPT_VERIFY_ERROR((*kv)->read("a/0", {42, std::nullopt}), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR((*kv)->read("a/0", {40, 2}), StatusCode::kCorruption);
    }
    void processDatabaseHoldsTheSameEntries() {
        auto top = OcdbtStore::open(m_fixtures / kDirect);
        CKPT_VERIFY_OK(top);
        auto proc = OcdbtStore::open(m_fixtures / kDirect / "ocdbt.process_0");
        CKPT_VERIFY_OK(proc);
        // Four commits (one per zarr key), of which the fourth is current.
        QCOMPARE((*proc)->manifest().versions.size(), std::size_t{4});
        QCOMPARE((*proc)->latestVersion()->generationNumber, std::uint64_t{4});
        auto a = contents(**top);
        auto b = contents(**proc);
        CKPT_VERIFY_OK(a);
        CKPT_VERIFY_OK(b);
        QCOMPARE(a->size(), std::size_t{4});
        QVERIFY(*a == *b);
    }
    void opensEveryFixtureDatabase() {
        int opened = 0, missingData = 0;
        for (const auto& db : databasesUnder(m_fixtures)) {
            auto store = OcdbtStore::open(db);
            const bool noData = !fs::exists(db / "d");
            if (noData) {
                // critical_metadata_alterations/missing_pytree_data_dir_d: the manifest names a
                // root node in d/, which is gone.
                CKPT_VERIFY_ERROR(store, StatusCode::kNotFound);
                const std::string msg = store.status().message();
                QVERIFY2(msg.find("OCDBT database at '" + db.string() + "'") == 0, msg.c_str());
                QVERIFY2(msg.find("B+tree node in file 'd/") != std::string::npos, msg.c_str());
                QVERIFY2(msg.find((db / "d").string()) != std::string::npos, msg.c_str());
                ++missingData;
                continue;
            }
            CKPT_VERIFY_OK(store);
            auto all = contents(**store);
            CKPT_VERIFY_OK(all);
            QVERIFY2(!all->empty(), db.string().c_str());
            // A merged top-level database holds exactly what its process databases hold.
            if (fs::exists(db / "ocdbt.process_0/manifest.ocdbt")) {
                std::map<std::string, std::string> merged;
                for (const auto& e : fs::directory_iterator(db)) {
                    if (e.path().filename().string().rfind("ocdbt.process_", 0) != 0) continue;
                    auto proc = OcdbtStore::open(e.path());
                    CKPT_VERIFY_OK(proc);
                    auto part = contents(**proc);
                    CKPT_VERIFY_OK(part);
                    merged.insert(part->begin(), part->end());
                }
                QVERIFY2(merged == *all, db.string().c_str());
            }
            ++opened;
        }
        QVERIFY(opened >= 70);
        QCOMPARE(missingData, 3);
    }
    void missingManifestIsNotFound() {
        int checked = 0;
        for (const auto& e : fs::recursive_directory_iterator(m_fixtures)) {
            if (e.path().filename() != "missing_pytree_data_file_manifest.ocdbt") continue;
            // The item directory (direct) or its state/ subdirectory (composite).
            fs::path db = e.path();
            if (fs::exists(db / "state")) db /= "state";
            QVERIFY(!fs::exists(db / "manifest.ocdbt"));
            auto store = openOcdbtStore(db);
            CKPT_VERIFY_ERROR(store, StatusCode::kNotFound);
            const std::string msg = store.status().message();
            QVERIFY2(msg.find("OCDBT database at '" + db.string() + "'") == 0, msg.c_str());
            QVERIFY2(msg.find((db / "manifest.ocdbt").string()) != std::string::npos, msg.c_str());
            // Its per-process database is intact.
            CKPT_VERIFY_OK(openOcdbtStore(db / "ocdbt.process_0"));
            ++checked;
        }
        QCOMPARE(checked, 3);
        CKPT_VERIFY_ERROR(openOcdbtStore(m_fixtures / "no-such-dir"), StatusCode::kNotFound);
    }

    void matchesTensorstoreOnMultiLevelTree() {
        checkAgainstTensorstore(localData() / "multilevel");
        auto s = OcdbtStore::open(localData() / "multilevel");
        CKPT_VERIFY_OK(s);
        QVERIFY((*s)->latestVersion()->rootHeight >= 2);
        QCOMPARE((*s)->manifest().versionTreeNodes.size(), std::size_t{2});
        auto entries = (*s)->listEntries();
        CKPT_VERIFY_OK(entries);
        int indirect = 0;
        for (const auto& e : *entries) indirect += !e.isInline;
        QVERIFY(indirect > 5);
        // A byte range of an out-of-line value.
        for (const auto& e : *entries) {
            if (e.isInline || e.size < 10) continue;
            auto whole = (*s)->read(e.key);
            auto part = (*s)->read(e.key, {3, 5});
            CKPT_VERIFY_OK(part);
            QCOMPARE(**part, (*whole)->substr(3, 5));
            CKPT_VERIFY_ERROR((*s)->read(e.key, {e.size + 1, std::nullopt}),
                              StatusCode::kCorruption);
        }
    }
    void matchesTensorstoreOnNumberedUncompressed() {
        checkAgainstTensorstore(localData() / "numbered_raw");
        auto s = OcdbtStore::open(localData() / "numbered_raw");
        CKPT_VERIFY_OK(s);
        QVERIFY((*s)->config().manifestKind == ManifestKind::kNumbered);
        QVERIFY((*s)->config().compression == CompressionMethod::kNone);
    }
    void numberedManifestsUseTheHighestNumber() {
        test::TempDir tmp;
        const fs::path db = tmp.path() / "db";
        copyTree(localData() / "numbered_raw", db);
        // A damaged newest manifest is an error (tensorstore does not fall back either).
        fs::resize_file(db / "manifest.0000000000000008", 50);
        auto damaged = OcdbtStore::open(db);
        CKPT_VERIFY_ERROR(damaged, StatusCode::kCorruption);
        QVERIFY2(damaged.status().message().find("manifest.0000000000000008") != std::string::npos,
                 damaged.status().message().c_str());
        // Without it, generation 7 is current.
        fs::remove(db / "manifest.0000000000000008");
        auto older = OcdbtStore::open(db);
        CKPT_VERIFY_OK(older);
        QCOMPARE((*older)->manifestFile(), std::string("manifest.0000000000000007"));
        QCOMPARE((*older)->latestVersion()->generationNumber, std::uint64_t{7});
        // A file whose name does not match its newest generation is corrupt.
        fs::copy_file(db / "manifest.0000000000000007", db / "manifest.0000000000000009");
        CKPT_VERIFY_ERROR(OcdbtStore::open(db), StatusCode::kCorruption);
        // With no numbered manifest at all the database is empty.
        for (const auto& e : fs::directory_iterator(db)) {
            if (parseNumberedManifestName(e.path().filename().string())) fs::remove(e.path());
        }
        auto empty = OcdbtStore::open(db);
        CKPT_VERIFY_OK(empty);
        QVERIFY((*empty)->latestVersion() == nullptr);
        QVERIFY((*empty)->list()->empty());
        QVERIFY(!(*empty)->read("step_0/value_01")->has_value());
    }
    void matchesTensorstoreOnMergedProcesses() {
        checkAgainstTensorstore(localData() / "merged");
        checkAgainstTensorstore(localData() / "merged/ocdbt.process_0");
        checkAgainstTensorstore(localData() / "merged/ocdbt.process_1");
        auto s = OcdbtStore::open(localData() / "merged");
        CKPT_VERIFY_OK(s);
        auto entries = (*s)->listEntries();
        CKPT_VERIFY_OK(entries);
        std::set<std::string> dirs;
        for (const auto& e : *entries) {
            if (!e.isInline) dirs.insert(e.dataFile.substr(0, e.dataFile.find("/d/")));
        }
        QCOMPARE(dirs, (std::set<std::string>{"ocdbt.process_0", "ocdbt.process_1"}));
    }
    void matchesTensorstoreOnEmptyTree() {
        checkAgainstTensorstore(localData() / "empty");
        auto s = OcdbtStore::open(localData() / "empty");
        CKPT_VERIFY_OK(s);
        QVERIFY((*s)->latestVersion()->root.location.isMissing());
        QVERIFY((*s)->list()->empty());
        QVERIFY(!(*s)->read("gone")->has_value());
    }

    void concurrentReadersAgreeWithASmallCache() {
        const fs::path db = localData() / "multilevel";
        auto reference = OcdbtStore::open(db);
        CKPT_VERIFY_OK(reference);
        auto want = contents(**reference);
        CKPT_VERIFY_OK(want);
        OcdbtStore::Options options;
        options.nodeCacheBytes = 2048;  // forces evictions
        auto store = OcdbtStore::open(db, options);
        CKPT_VERIFY_OK(store);
        std::atomic<int> mismatches{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int round = 0; round < 20; ++round) {
                    for (const auto& [k, v] : *want) {
                        auto got = (*store)->read(k);
                        if (!got.isOk() || !got->has_value() || **got != v) ++mismatches;
                    }
                    auto keys = (*store)->list(t % 2 ? "params/" : "");
                    if (!keys.isOk()) ++mismatches;
                }
            });
        }
        for (auto& th : threads) th.join();
        QCOMPARE(mismatches.load(), 0);
    }

    void rejectsPathsOutsideTheDatabase() {
        CKPT_VERIFY_OK(checkDataFilePath("d/9f51d9b77c0c771353c577b65dc7bba5"));
        CKPT_VERIFY_OK(checkDataFilePath("ocdbt.process_0/d/1b516cc8f0245ad9bc9655a19e43ecb7"));
        for (const std::string& bad :
             std::vector<std::string>{"", "/etc/passwd", "../x", "d/../../x", "d/..", "..", "d//x",
                                      "./d/x", "d/x/", std::string("d/x\0y", 5)}) {
            CKPT_VERIFY_ERROR(checkDataFilePath(bad), StatusCode::kCorruption);
        }
        // A manifest whose root lies at "../f51d9b…": re-encoded from the direct checkpoint's,
        // with "d/9" of the path replaced by "../" (an uncompressed envelope, made here).
        test::TempDir tmp;
        copyTree(m_fixtures / kDirect, tmp.path() / "db");
        auto env =
            decodeEnvelope(readFile(tmp.path() / "db/manifest.ocdbt"), kManifestMagic, 1 << 20);
        CKPT_VERIFY_OK(env);
        std::string body = toString(env->body);
        const auto at = body.find("d/9f51");
        QVERIFY(at != std::string::npos);
        body.replace(at, 3, "../");
        std::vector<std::byte> b(body.size());
        for (std::size_t i = 0; i < body.size(); ++i) b[i] = static_cast<std::byte>(body[i]);
        const auto encoded = wrapUncompressed(kManifestMagic, b);
        {
            std::ofstream out(tmp.path() / "db/manifest.ocdbt", std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(encoded.data()),
                      static_cast<std::streamsize>(encoded.size()));
        }
        auto store = OcdbtStore::open(tmp.path() / "db");
        CKPT_VERIFY_ERROR(store, StatusCode::kCorruption);
        QVERIFY2(
            store.status().message().find("escapes the database directory") != std::string::npos,
            store.status().message().c_str());
    }
    void damagedDataFilesNameTheFileAndOffset() {
        test::TempDir tmp;
        copyTree(localData() / "multilevel", tmp.path() / "db");
        auto store = OcdbtStore::open(tmp.path() / "db");
        CKPT_VERIFY_OK(store);
        // Truncate the file holding an out-of-line value; reading it must fail cleanly.
        auto entries = (*store)->listEntries();
        CKPT_VERIFY_OK(entries);
        const auto it = std::find_if(entries->begin(), entries->end(),
                                     [](const OcdbtEntryInfo& e) { return !e.isInline; });
        QVERIFY(it != entries->end());
        const fs::path file = tmp.path() / "db" / it->dataFile;
        // A fresh store, so that no mapping of the old file size is cached.
        fs::resize_file(file, it->offset);
        auto fresh = OcdbtStore::open(tmp.path() / "db");
        if (!fresh.isOk()) {  // the truncated file may also hold the root or a path node
            QCOMPARE(fresh.status().code(), StatusCode::kCorruption);
            QVERIFY(fresh.status().message().find(it->dataFile) != std::string::npos);
            return;
        }
        auto r = (*fresh)->read(it->key);
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        const std::string msg = r.status().message();
        QVERIFY2(msg.find("file '" + it->dataFile + "'") != std::string::npos, msg.c_str());
        QVERIFY2(msg.find("at offset " + std::to_string(it->offset)) != std::string::npos,
                 msg.c_str());
        QVERIFY2(msg.find("reading key") != std::string::npos, msg.c_str());
    }
};


QTEST_GUILESS_MAIN(TestOcdbtStore)
#include "tst_ocdbt_store.moc"
