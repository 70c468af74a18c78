// The OCDBT write side: encoders as inverses of the decoders (re-encoding every object of the
// tensorstore-written fixtures gives back tensorstore's bytes), and OcdbtWriter databases read
// back by OcdbtStore — empty, single leaf, split leaves, several interior levels, inline and
// out-of-line values — plus the writer's error contract.

#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <map>

#include "formats/ocdbt/envelope.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "ocdbt_test_util.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::ocdbt;
using namespace ocdbt_test;

namespace {

// A deterministic value of `size` bytes that differs per key.
std::string valueFor(std::size_t i, std::size_t size) {
    std::string v(size, '\0');
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u + 12345u;
    for (auto& c : v) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return v;
}

// Sizes cycle through 0, 1, 1024 (largest inline), 1025 (smallest out-of-line); a few 1 MiB.
std::size_t sizeFor(std::size_t i) {
    if (i % 1000 == 7) return std::size_t{1} << 20;
    static constexpr std::size_t kSizes[] = {0, 1, 1024, 1025};
    return kSizes[i % 4];
}

// Keys with long shared prefixes, like zarr chunk keys.
std::string keyFor(std::size_t i) {
    return "params/layer_" + std::to_string(i % 37) + "/kernel/" + std::to_string(i);
}

Result<std::map<std::string, std::string>> contents(const OcdbtStore& store) {
    CKPT_ASSIGN_OR_RETURN(auto keys, store.list());
    std::map<std::string, std::string> out;
    for (const auto& k : keys) {
        CKPT_ASSIGN_OR_RETURN(auto v, store.read(k));
        if (!v) return internalError("listed key cannot be read");
        out[k] = std::move(*v);
    }
    return out;
}

Status writeAll(kv::KvWriter& w, const std::map<std::string, std::string>& kvs) {
    for (const auto& [k, v] : kvs) CKPT_RETURN_IF_ERROR(w.put(k, v));
    return w.commit();
}

// The B+tree nodes reachable from the current root: count, total and largest encoded size, and
// how many interior entries strip a subtree prefix. Reads each data file once.
struct TreeShape {
    int rootHeight = -1;
    std::size_t nodes = 0;
    std::size_t treeBytes = 0;
    std::size_t maxNodeBytes = 0;
    std::size_t nodesWithStrippedPrefix = 0;
};

TreeShape shapeOf(const fs::path& db) {
    TreeShape shape;
    auto m = decodeManifest(readFile(db / "manifest.ocdbt"));
    if (!m.isOk()) return shape;
    const auto* v = m->latestVersion();
    shape.rootHeight = v->rootHeight;
    if (v->root.location.isMissing()) return shape;
    std::map<std::string, std::vector<std::byte>> files;
    const DecodeLimits limits = nodeDecodeLimits(m->config);
    std::vector<IndirectDataReference> work{v->root.location};
    while (!work.empty()) {
        const IndirectDataReference ref = work.back();
        work.pop_back();
        auto& file = files[ref.file->fullPath()];
        if (file.empty()) file = readFile(db / ref.file->fullPath());
        if (ref.offset + ref.length > file.size()) return {};
        const std::span<const std::byte> bytes(file.data() + ref.offset, ref.length);
        ++shape.nodes;
        shape.treeBytes += bytes.size();
        shape.maxNodeBytes = std::max(shape.maxNodeBytes, bytes.size());
        auto node = decodeBtreeNode(bytes, ref.file->basePath, limits);
        if (!node.isOk()) return {};
        for (const auto& e : node->interiorEntries) {
            if (e.subtreeCommonPrefixLength > 0) ++shape.nodesWithStrippedPrefix;
            work.push_back(e.child.location);
        }
    }
    return shape;
}

}  // namespace

class TestOcdbtWriter : public QObject {
    Q_OBJECT

private slots:
    // --- encoders ---

    void reencodesEveryTensorstoreObjectByteForByte() {
        std::size_t checked = 0;
        for (const auto& db : databasesUnder(localData())) {
            for (const auto& obj : encodedObjects(db)) {
                const std::string where = db.filename().string() + "/" + obj.name;
                const std::uint32_t magic = obj.kind == EncodedObject::kManifest ? kManifestMagic
                                            : obj.kind == EncodedObject::kBtreeNode
                                                ? kBtreeNodeMagic
                                                : kVersionTreeNodeMagic;
                auto env = decodeEnvelope(obj.bytes, magic, kHardMaxDecodedBytes);
                QVERIFY2(env.isOk(), where.c_str());
                Result<std::vector<std::byte>> again = internalError("unset");
                if (obj.kind == EncodedObject::kManifest) {
                    auto m = decodeManifestBody(env->body);
                    QVERIFY2(m.isOk(), where.c_str());
                    again = encodeManifestBody(*m);
                } else if (obj.kind == EncodedObject::kBtreeNode) {
                    auto n = decodeBtreeNodeBody(env->body, obj.transitivePath, obj.limits);
                    QVERIFY2(n.isOk(), where.c_str());
                    // Decoded paths include the transitive path; the encoder wants them relative.
                    for (auto& e : n->leafEntries) {
                        if (auto* r = std::get_if<IndirectDataReference>(&e.value)) {
                            r->file = std::make_shared<const DataFileId>(
                                DataFileId{r->file->basePath.substr(obj.transitivePath.size()),
                                           r->file->relativePath});
                        }
                    }
                    for (auto& e : n->interiorEntries) {
                        auto& f = e.child.location.file;
                        f = std::make_shared<const DataFileId>(DataFileId{
                            f->basePath.substr(obj.transitivePath.size()), f->relativePath});
                    }
                    again = encodeBtreeNodeBody(*n);
                } else {
                    auto n = decodeVersionTreeNodeBody(env->body, obj.transitivePath, obj.limits);
                    QVERIFY2(n.isOk(), where.c_str());
                    again = encodeVersionTreeNodeBody(*n);
                }
                QVERIFY2(again.isOk(), (where + ": " + again.status().toString()).c_str());
                QVERIFY2(*again == env->body, where.c_str());
                // And the whole envelope decodes back to the same body.
                auto wrapped = encodeEnvelope(magic, *again, env->header.compression, 0);
                QVERIFY(wrapped.isOk());
                auto env2 = decodeEnvelope(*wrapped, magic, kHardMaxDecodedBytes);
                QVERIFY(env2.isOk());
                QCOMPARE(env2->header.compression, env->header.compression);
                QVERIFY(env2->body == env->body);
                ++checked;
            }
        }
        QVERIFY2(checked >= 20, std::to_string(checked).c_str());
    }

    void reencodesTheOrbaxManifestExample() {
        const auto root = sharedFixtures();
        QVERIFY2(root, "CKPT_SHARED_FIXTURES is not set");
        const fs::path file = *root /
                              "orbax-compat/v0_checkpoints/direct_checkpoint/"
                              "checkpoint_metadata_present/pytree_checkpointable_has_metadata/"
                              "manifest.ocdbt";
        const auto bytes = readFile(file);
        QCOMPARE(bytes.size(), std::size_t{113});
        auto env = decodeEnvelope(bytes, kManifestMagic, 1 << 20);
        QVERIFY(env.isOk());
        auto m = decodeManifestBody(env->body);
        QVERIFY(m.isOk());
        auto body = encodeManifestBody(*m);
        QVERIFY(body.isOk());
        QVERIFY(*body == env->body);
        // Our default config is that one, uuid aside.
        Config ours = orbaxCompatibleConfig();
        ours.uuid = m->config.uuid;
        ByteWriter a, b;
        writeConfig(a, ours);
        writeConfig(b, m->config);
        QVERIFY(a.bytes() == b.bytes());
    }

    void encodesDataFileTablesWithBasePaths() {
        DataFileTableBuilder t;
        t.add({"ocdbt.process_1/", "d/bbb"});
        t.add({"", "d/abc"});
        t.add({"ocdbt.process_0/", "d/aaa"});
        t.add({"ocdbt.process_0/", "d/aab"});
        t.add({"", "d/abd"});
        t.add({"", "d/abc"});  // duplicate
        QCOMPARE(t.size(), std::size_t{5});
        ByteWriter w;
        CKPT_VERIFY_OK(t.finalize(w));
        ByteReader r(w.bytes());
        ExpansionBudget budget(1 << 20);
        auto table = decodeDataFileTable(r, "x/", budget);
        CKPT_VERIFY_OK(table.status());
        QVERIFY(r.atEnd());
        QCOMPARE(table->size(), std::size_t{5});
        const std::vector<std::string> want = {"x/d/abc", "x/d/abd", "x/ocdbt.process_0/d/aaa",
                                               "x/ocdbt.process_0/d/aab",
                                               "x/ocdbt.process_1/d/bbb"};
        for (std::size_t i = 0; i < want.size(); ++i) {
            QCOMPARE((*table)[i]->fullPath(), want[i]);
        }
        QCOMPARE((*table)[3]->basePath, std::string("x/ocdbt.process_0/"));
        QCOMPARE(t.indexOf({"ocdbt.process_0/", "d/aab"}), std::uint64_t{3});
        // Tensorstore's own bytes for a single file (FORMATS.md 3.10).
        DataFileTableBuilder one;
        one.add({"", "d/9f51d9b77c0c771353c577b65dc7bba5"});
        ByteWriter w1;
        CKPT_VERIFY_OK(one.finalize(w1));
        QCOMPARE(toString(w1.bytes()), std::string("\x01\x22\x00"
                                                   "d/9f51d9b77c0c771353c577b65dc7bba5",
                                                   37));
    }

    void encoderRejectsInvalidNodes() {
        BtreeNode empty;
        QCOMPARE(encodeBtreeNodeBody(empty).status().code(), StatusCode::kInvalidArgument);
        BtreeNode unsorted;
        unsorted.leafEntries = {{"b", std::string("1")}, {"a", std::string("2")}};
        QCOMPARE(encodeBtreeNodeBody(unsorted).status().code(), StatusCode::kInvalidArgument);
        BtreeNode dup;
        dup.leafEntries = {{"a", std::string("1")}, {"a", std::string("2")}};
        QCOMPARE(encodeBtreeNodeBody(dup).status().code(), StatusCode::kInvalidArgument);
        Manifest noVersions;
        QCOMPARE(encodeManifestBody(noVersions).status().code(), StatusCode::kInvalidArgument);
    }

    // --- the writer ---

    void roundTrips_data() {
        QTest::addColumn<int>("count");
        QTest::newRow("0 keys") << 0;
        QTest::newRow("1 key") << 1;
        QTest::newRow("5 keys") << 5;
        QTest::newRow("1000 keys") << 1000;
        QTest::newRow("20000 keys") << 20000;
    }

    void roundTrips() {
        QFETCH(int, count);
        test::TempDir tmp;
        const fs::path db = tmp.path() / "db" / "nested";  // created by the writer
        std::map<std::string, std::string> kvs;
        std::uint64_t indirectBytes = 0;
        for (std::size_t i = 0; i < static_cast<std::size_t>(count); ++i) {
            const std::size_t size = sizeFor(i);
            kvs[keyFor(i)] = valueFor(i, size);
            if (size > 1024) indirectBytes += size;
        }
        {
            auto writer = createOcdbtWriter(db);
            CKPT_VERIFY_OK(writer.status());
            CKPT_VERIFY_OK(writeAll(**writer, kvs));
        }
        auto store = OcdbtStore::open(db);
        CKPT_VERIFY_OK(store.status());
        auto got = contents(**store);
        CKPT_VERIFY_OK(got.status());
        QCOMPARE(got->size(), kvs.size());
        QVERIFY(*got == kvs);

        // Inline iff size <= 1024; statistics; config as Orbax writes it.
        auto entries = (*store)->listEntries();
        CKPT_VERIFY_OK(entries.status());
        for (const auto& e : *entries) QCOMPARE(e.isInline, e.size <= 1024);
        const auto& cfg = (*store)->config();
        QCOMPARE(cfg.maxInlineValueBytes, 1024u);
        QCOMPARE(cfg.maxDecodedNodeBytes, 100000000u);
        QCOMPARE(int(cfg.versionTreeArityLog2), 4);
        QCOMPARE(cfg.compression, CompressionMethod::kZstd);
        QCOMPARE(cfg.zstdLevel, 0);
        QCOMPARE(cfg.manifestKind, ManifestKind::kSingle);
        const auto* v = (*store)->latestVersion();
        QVERIFY(v);
        QCOMPARE(v->generationNumber, std::uint64_t{1});
        QCOMPARE((*store)->manifest().versions.size(), std::size_t{1});
        QVERIFY((*store)->manifest().versionTreeNodes.empty());
        QCOMPARE(v->root.statistics.numKeys, kvs.size());
        QCOMPARE(v->root.statistics.numIndirectValueBytes, indirectBytes);
        const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        QVERIFY(v->commitTimeNs <= static_cast<std::uint64_t>(now));
        QVERIFY(v->commitTimeNs + 600'000'000'000ull > static_cast<std::uint64_t>(now));

        const TreeShape shape = shapeOf(db);
        if (count == 0) {
            QVERIFY(v->root.location.isMissing());
            QCOMPARE(shape.nodes, std::size_t{0});
        } else {
            QVERIFY(!v->root.location.isMissing());
            QCOMPARE(v->root.statistics.numTreeBytes, std::uint64_t{shape.treeBytes});
            QVERIFY(shape.maxNodeBytes < (std::size_t{2} << 20));
        }
        if (count == 20000) {
            QVERIFY(v->rootHeight >= 1);
            QVERIFY(shape.nodes >= 20);  // split into leaves of <= 1024 entries
        } else if (count > 0) {
            QCOMPARE(int(v->rootHeight), 0);
        }
        // One data file at most; nothing but the manifest and d/ in the directory.
        std::size_t dataFiles = 0;
        if (fs::exists(db / "d")) {
            for (const auto& f : fs::directory_iterator(db / "d")) {
                QCOMPARE(f.path().filename().string().size(), std::size_t{32});
                ++dataFiles;
            }
        }
        QCOMPARE(dataFiles, count == 0 ? std::size_t{0} : std::size_t{1});
        for (const auto& f : fs::directory_iterator(db)) {
            const auto name = f.path().filename().string();
            QVERIFY2(name == "manifest.ocdbt" || name == "d", name.c_str());
        }
    }

    void buildsDeepTreesWithStrippedPrefixes() {
        test::TempDir tmp;
        OcdbtWriterOptions options;
        options.maxNodeEntries = 4;  // clamps to 4: forces many levels
        std::map<std::string, std::string> kvs;
        for (std::size_t i = 0; i < 1000; ++i)
            kvs[keyFor(i)] = valueFor(i, sizeFor(i % 4));  // no 1 MiB values
        kvs[""] = "empty key";
        kvs[std::string("\xff\xfe\x00z", 4)] = std::string("\x00\x01", 2);
        {
            auto writer = OcdbtWriter::create(tmp.path(), options);
            CKPT_VERIFY_OK(writer.status());
            CKPT_VERIFY_OK(writeAll(**writer, kvs));
        }
        auto store = OcdbtStore::open(tmp.path());
        CKPT_VERIFY_OK(store.status());
        auto got = contents(**store);
        CKPT_VERIFY_OK(got.status());
        QVERIFY(*got == kvs);
        QVERIFY((*store)->latestVersion()->rootHeight >= 4);
        QVERIFY(shapeOf(tmp.path()).nodesWithStrippedPrefix > 0);
        // Prefix listing and absent keys between, before and after the stored ones.
        auto layer3 = (*store)->list("params/layer_3/");
        CKPT_VERIFY_OK(layer3.status());
        std::vector<std::string> want;
        for (const auto& [k, _] : kvs) {
            if (k.rfind("params/layer_3/", 0) == 0) want.push_back(k);
        }
        QVERIFY(!want.empty());
        QVERIFY(*layer3 == want);
        for (const std::string absent : {"params/layer_3/kernel/4", "params/layer_3/", "a",
                                         "params/layer_99", "zzz", "params/layer_1/kernel/10000"}) {
            auto r = (*store)->read(absent);
            CKPT_VERIFY_OK(r.status());
            QVERIFY2(!r->has_value(), absent.c_str());
        }
    }

    void uncompressedConfigRoundTrips() {
        test::TempDir tmp;
        OcdbtWriterOptions options;
        options.config.compression = CompressionMethod::kNone;
        options.config.maxInlineValueBytes = 10;
        std::map<std::string, std::string> kvs = {{"a", "short"}, {"b", std::string(11, 'x')}};
        {
            auto writer = OcdbtWriter::create(tmp.path(), options);
            CKPT_VERIFY_OK(writer.status());
            CKPT_VERIFY_OK(writeAll(**writer, kvs));
        }
        auto store = OcdbtStore::open(tmp.path());
        CKPT_VERIFY_OK(store.status());
        QCOMPARE((*store)->config().compression, CompressionMethod::kNone);
        auto got = contents(**store);
        CKPT_VERIFY_OK(got.status());
        QVERIFY(*got == kvs);
        auto entries = (*store)->listEntries();
        CKPT_VERIFY_OK(entries.status());
        QVERIFY((*entries)[0].isInline);
        QVERIFY(!(*entries)[1].isInline);
    }

    void rejectsDuplicateKeys() {
        test::TempDir tmp;
        auto writer = createOcdbtWriter(tmp.path() / "db");
        CKPT_VERIFY_OK(writer.status());
        CKPT_VERIFY_OK((*writer)->put("k", "1"));
        CKPT_VERIFY_ERROR((*writer)->put("k", "2"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_OK((*writer)->put("big", std::string(5000, 'b')));
        CKPT_VERIFY_ERROR((*writer)->put("big", std::string(5000, 'c')),
                          StatusCode::kInvalidArgument);
        // The writer is still usable and the first values win.
        CKPT_VERIFY_OK((*writer)->commit());
        auto store = OcdbtStore::open(tmp.path() / "db");
        CKPT_VERIFY_OK(store.status());
        auto got = contents(**store);
        CKPT_VERIFY_OK(got.status());
        const std::map<std::string, std::string> want = {{"big", std::string(5000, 'b')},
                                                         {"k", "1"}};
        QVERIFY(*got == want);
    }

    void rejectsOverlongKeys() {
        test::TempDir tmp;
        auto writer = createOcdbtWriter(tmp.path() / "db");
        CKPT_VERIFY_OK(writer.status());
        CKPT_VERIFY_ERROR((*writer)->put(std::string(65536, 'k'), "v"),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_OK((*writer)->put(std::string(65535, 'k'), "v"));
        CKPT_VERIFY_OK((*writer)->commit());
        auto store = OcdbtStore::open(tmp.path() / "db");
        CKPT_VERIFY_OK(store.status());
        auto v = (*store)->read(std::string(65535, 'k'));
        CKPT_VERIFY_OK(v.status());
        QCOMPARE(v->value_or(""), std::string("v"));
    }

    void rejectsPutAndCommitAfterCommit() {
        test::TempDir tmp;
        auto writer = createOcdbtWriter(tmp.path() / "db");
        CKPT_VERIFY_OK(writer.status());
        CKPT_VERIFY_OK((*writer)->put("a", "1"));
        CKPT_VERIFY_OK((*writer)->commit());
        CKPT_VERIFY_ERROR((*writer)->put("b", "2"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR((*writer)->commit(), StatusCode::kInvalidArgument);
        auto store = OcdbtStore::open(tmp.path() / "db");
        CKPT_VERIFY_OK(store.status());
        auto keys = (*store)->list();
        CKPT_VERIFY_OK(keys.status());
        QCOMPARE(*keys, std::vector<std::string>{"a"});
    }

    void abandonedWriterLeavesNoDatabase() {
        test::TempDir tmp;
        const fs::path db = tmp.path() / "db";
        {
            auto writer = createOcdbtWriter(db);
            CKPT_VERIFY_OK(writer.status());
            CKPT_VERIFY_OK((*writer)->put("small", "1"));
            CKPT_VERIFY_OK((*writer)->put("large", std::string(100000, 'x')));
            QVERIFY(fs::exists(db / "d"));
        }
        QVERIFY(!fs::exists(db / "manifest.ocdbt"));
        QVERIFY(!fs::exists(db / "d"));  // its data file removed too
        QCOMPARE(OcdbtStore::open(db).status().code(), StatusCode::kNotFound);
    }

    // Values are written by a background thread; a write that fails there (here: past the
    // process's file size limit) surfaces at a later put or at commit, names the data file, and
    // leaves no database behind.
    void reportsAFailedDataWriteWithTheFile() {
        test::TempDir tmp;
        const fs::path db = tmp.path() / "db";
        rlimit old{};
        QCOMPARE(::getrlimit(RLIMIT_FSIZE, &old), 0);
        const auto previous = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
        rlimit low = old;
        low.rlim_cur = 3u << 20;
        QCOMPARE(::setrlimit(RLIMIT_FSIZE, &low), 0);
        Status failure;
        {
            auto writer = createOcdbtWriter(db);
            if (writer.isOk()) {
                for (std::size_t i = 0; i < 2000 && failure.isOk(); ++i) {
                    failure = (*writer)->put(keyFor(i), valueFor(i, 5000));  // 10 MB in all
                }
                if (failure.isOk()) failure = (*writer)->commit();
            } else {
                failure = writer.status();
            }
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, previous);
        QVERIFY(!failure.isOk());
        const std::string text = failure.toString();
        QVERIFY2(text.find("writing '" + (db / "d").string() + "/") != std::string::npos,
                 text.c_str());
        QVERIFY2(text.find(std::strerror(EFBIG)) != std::string::npos, text.c_str());
        QVERIFY(!fs::exists(db / "manifest.ocdbt"));
        QVERIFY(!fs::exists(db / "d"));
    }

    void refusesNonEmptyDirectories() {
        test::TempDir tmp;
        { std::ofstream(tmp.path() / "something") << "x"; }
        QCOMPARE(createOcdbtWriter(tmp.path()).status().code(), StatusCode::kAlreadyExists);
        QCOMPARE(createOcdbtWriter(tmp.path() / "something").status().code(),
                 StatusCode::kAlreadyExists);
        // An existing empty directory is fine.
        fs::create_directory(tmp.path() / "empty");
        auto writer = createOcdbtWriter(tmp.path() / "empty");
        CKPT_VERIFY_OK(writer.status());
        CKPT_VERIFY_OK((*writer)->commit());
        auto store = OcdbtStore::open(tmp.path() / "empty");
        CKPT_VERIFY_OK(store.status());
        auto keys = (*store)->list();
        CKPT_VERIFY_OK(keys.status());
        QVERIFY(keys->empty());
        // A second writer on a committed database is refused.
        QCOMPARE(createOcdbtWriter(tmp.path() / "empty").status().code(),
                 StatusCode::kAlreadyExists);
    }
};

QTEST_GUILESS_MAIN(TestOcdbtWriter)
#include "tst_ocdbt_writer.moc"
