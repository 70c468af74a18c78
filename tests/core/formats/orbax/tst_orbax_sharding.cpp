// Orbax multi-process checkpoints (formats/orbax/orbax_sharding.h) over a real two-process JAX
// save: data/multiprocess_2 was written by tests/interop/multiprocess_save.py (two processes,
// two CPU devices each, StandardCheckpointer → item/ with zarr v2, CheckpointManager with zarr v3
// → run/1/default), with every leaf's global value (expected.npz), the mesh devices and their
// processes (layout.json) and the shards each process held (held_<i>.json).
//
// Shown here: every leaf reads bit-exact through the merged root manifest; slice reads touch only
// the chunks they intersect (counted); each shard's writing process is one that held it and its
// devices are the mesh devices that held it; the `_sharding` entry parses to the saved mesh and
// spec; damaged or missing sharding records never fail the open or a read but fail sharding()
// naming the file and the key path; the process attribution falls back to the data file.
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "ckpt/core/format.h"
#include "ckpt/core/sharding.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/orbax/orbax_sharding.h"
#include "formats/zarr/zarr_array.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path fixture() {
    return fs::path(__FILE__).parent_path() / "data" / "multiprocess_2";
}

json readJson(const fs::path& p) {
    std::ifstream f(p);
    return json::parse(f, nullptr, false);
}

// The leaves of the saved tree: key path and param name.
const std::vector<std::pair<KeyPath, std::string>> kLeaves = {
    {{"w"}, "w"},           {{"nested", "e"}, "nested.e"},
    {{"scalar"}, "scalar"}, {{"i"}, "i"},
    {{"big"}, "big"},       {{"half"}, "half"}};

std::string bytesOf(const ArraySource& source, const Selection& sel) {
    auto a = source.read(sel);
    if (!a.isOk()) return "error: " + a.status().toString();
    return std::string(reinterpret_cast<const char*>(a->bytes().data()), a->byteSize());
}

const ArraySource* arrayAt(const NodePtr& root, const KeyPath& path) {
    auto node = findNode(root, path);
    if (!node.isOk() || (*node)->kind() != NodeKind::kArray) return nullptr;
    return (*node)->array().get();
}

// Records every key read through it.
class CountingStore final : public kv::KvStore {
public:
    explicit CountingStore(kv::KvStorePtr inner) : m_inner(std::move(inner)) {}
    Result<std::optional<std::string>> read(std::string_view key,
                                            const kv::ByteRange& range) const override {
        note(key);
        return m_inner->read(key, range);
    }
    Result<std::optional<kv::SharedBytes>> readShared(std::string_view key) const override {
        note(key);
        return m_inner->readShared(key);
    }
    Result<std::vector<std::string>> list(std::string_view prefix) const override {
        return m_inner->list(prefix);
    }
    std::string describe() const override { return m_inner->describe(); }
    std::multiset<std::string> take() const {
        std::lock_guard lock(m_mutex);
        return std::exchange(m_keys, {});
    }

private:
    void note(std::string_view key) const {
        std::lock_guard lock(m_mutex);
        m_keys.emplace(key);
    }
    kv::KvStorePtr m_inner;
    mutable std::mutex m_mutex;
    mutable std::multiset<std::string> m_keys;
};

// A copy of the fixture's item in a temporary directory, to damage.
fs::path copyItem(const test::TempDir& dir) {
    const fs::path out = dir.path() / "item";
    fs::copy(fixture() / "item", out, fs::copy_options::recursive);
    return out;
}

void writeFile(const fs::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << text;
}

}  // namespace

class TestOrbaxSharding : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QVERIFY2(fs::is_directory(fixture() / "item"), fixture().string().c_str());
        auto expected = openCheckpoint(fixture() / "expected.npz");
        CKPT_VERIFY_OK(expected);
        m_expected = expected->tree;
        m_layout = readJson(fixture() / "layout.json");
        QVERIFY(m_layout.is_object());
        for (int p = 0; p < 2; ++p) {
            m_held.push_back(readJson(fixture() / ("held_" + std::to_string(p) + ".json")));
            QVERIFY(m_held.back().is_object());
        }
    }

    void everyLeafReadsBitExactThroughTheMergedManifest() {
        for (const fs::path& path : {fixture() / "item", fixture() / "run"}) {
            auto ckpt = openCheckpoint(path);
            CKPT_VERIFY_OK(ckpt);
            QVERIFY(ckpt->warnings.empty());
            const KeyPath prefix = path.filename() == "run" ? KeyPath{"default"} : KeyPath{};
            for (const auto& [keyPath, param] : kLeaves) {
                KeyPath full = prefix;
                full.insert(full.end(), keyPath.begin(), keyPath.end());
                const ArraySource* got = arrayAt(ckpt->tree, full);
                const ArraySource* want = arrayAt(m_expected, {param});
                QVERIFY2(got && want, param.c_str());
                // expected.npz holds bfloat16 as numpy's raw 2-byte void: the dtype comes from
                // layout.json, the bytes from the npz.
                QCOMPARE(std::string(dtypeName(got->dtype())),
                         m_layout["leaves"][param]["dtype"].get<std::string>());
                QCOMPARE(got->shape(), want->shape());
                QCOMPARE(bytesOf(*got, Selection::all(got->shape())),
                         bytesOf(*want, Selection::all(want->shape())));
            }
        }
    }

    void sliceReadsTouchOnlyTheShardsTheyIntersect() {
        // zarr v2 in the item, zarr v3 (sharding_indexed) in the manager step.
        const struct {
            fs::path dir;
            std::string shard2, shard0, shard1;
        } cases[] = {{fixture() / "item", "big/2.0", "big/0.0", "big/1.0"},
                     {fixture() / "run/1/default", "big/c/2/0", "big/c/0/0", "big/c/1/0"}};
        const ArraySource* want = arrayAt(m_expected, {"big"});
        QVERIFY(want);
        for (const auto& c : cases) {
            auto merged = ocdbt::openOcdbtStore(c.dir);
            CKPT_VERIFY_OK(merged);
            auto counting = std::make_shared<CountingStore>(*merged);
            auto big = zarr::openZarrArray(counting, "big/", "big");
            CKPT_VERIFY_OK(big);
            counting->take();  // the metadata read
            // Rows 8..11 are process 1's first shard (out of line in ocdbt.process_1/d/).
            const Selection inOne{{9, 5}, {2, 100}};
            QCOMPARE(bytesOf(**big, inOne), bytesOf(*want, inOne));
            QCOMPARE(counting->take(), (std::multiset<std::string>{c.shard2}));
            // Rows 3..4 straddle the first two shards, both written by process 0.
            const Selection straddle{{3, 0}, {2, 128}};
            QCOMPARE(bytesOf(**big, straddle), bytesOf(*want, straddle));
            QCOMPARE(counting->take(), (std::multiset<std::string>{c.shard0, c.shard1}));
        }
        // The checkpoint's leaf is the same lazy source: opening reads no chunk, and its slice
        // equals the global array's.
        auto ckpt = openCheckpoint(fixture() / "item");
        CKPT_VERIFY_OK(ckpt);
        const ArraySource* big = arrayAt(ckpt->tree, {"big"});
        QVERIFY(big);
        QVERIFY(!big->metadataLoaded());
        const Selection sel{{12, 7}, {4, 9}};
        QCOMPARE(bytesOf(*big, sel), bytesOf(*want, sel));
    }

    void shardsNameTheProcessThatHeldThemAndTheirDevices() {
        std::map<std::int64_t, std::string> processOfDevice;
        std::vector<std::int64_t> ids;
        for (const json& d : m_layout["devices"]) {
            processOfDevice[d["id"].get<std::int64_t>()] = std::to_string(d["process"].get<int>());
            ids.push_back(d["id"].get<std::int64_t>());
        }
        for (const fs::path& path : {fixture() / "item", fixture() / "run/1/default"}) {
            auto ckpt = openCheckpoint(path);
            CKPT_VERIFY_OK(ckpt);
            for (const auto& [keyPath, param] : kLeaves) {
                const ArraySource* a = arrayAt(ckpt->tree, keyPath);
                QVERIFY(a);
                const ShardedArray* sharded = shardingOf(*a);
                QVERIFY2(sharded, param.c_str());
                auto s = sharded->sharding(ShardDetail::kFull);
                CKPT_VERIFY_OK(s);
                QCOMPARE(s->globalShape, a->shape());
                QCOMPARE(s->itemProcesses, (std::vector<std::string>{"0", "1"}));
                QVERIFY(s->notes.empty());
                // The recorded mesh is the one saved.
                const json& leaf = m_layout["leaves"][param];
                QVERIFY(s->mesh.has_value());
                QCOMPARE(s->mesh->type, std::string("NamedSharding"));
                QCOMPARE(s->mesh->deviceIds, ids);  // both meshes hold every device in order
                const std::vector<std::string> axes1d{"x"}, axes2d{"a", "b"};
                QCOMPARE(s->mesh->axisNames, leaf["mesh"] == "1d" ? axes1d : axes2d);
                QCOMPARE(s->mesh->partitionSpec.size(), leaf["spec"].size());
                for (std::size_t d = 0; d < leaf["spec"].size(); ++d) {
                    const json& want = leaf["spec"][d];
                    std::vector<std::string> axes;
                    if (want.is_string()) axes.push_back(want.get<std::string>());
                    if (want.is_array()) axes = want.get<std::vector<std::string>>();
                    QCOMPARE(s->mesh->partitionSpec[d], axes);
                }
                QCOMPARE(s->shards.size(), static_cast<std::size_t>(s->shardCount));
                std::set<std::string> writers;
                for (const Shard& shard : s->shards) {
                    QVERIFY(shard.stored);
                    QVERIFY2(!shard.process.empty(), (param + " " + shard.key).c_str());
                    writers.insert(shard.process);
                    // The writer held these elements (held_<p>.json: its addressable shards).
                    const json& held = m_held[std::stoul(shard.process)][param];
                    bool inside = false;
                    for (const json& box : held) {
                        bool all = true;
                        for (std::size_t d = 0; d < shard.index.start.size(); ++d) {
                            all = all && shard.index.start[d] >= box[d][0].get<std::int64_t>() &&
                                  shard.index.start[d] + shard.index.count[d] <=
                                      box[d][1].get<std::int64_t>();
                        }
                        inside = inside || all;
                    }
                    QVERIFY2(inside, (param + " " + shard.key + " by " + shard.process).c_str());
                    // Its devices are on the writing process's side of the mesh (one of them).
                    QVERIFY(!shard.devices.empty());
                    bool onWriter = false;
                    for (std::int64_t dev : shard.devices)
                        onWriter |= processOfDevice[dev] == shard.process;
                    QVERIFY2(onWriter, (param + " " + shard.key).c_str());
                }
                QCOMPARE(std::vector<std::string>(writers.begin(), writers.end()),
                         s->leafProcesses);
                // Every split leaf was written by both processes; the replicated scalar by one.
                QCOMPARE(s->leafProcesses.size(),
                         param == "scalar" ? std::size_t{1} : std::size_t{2});
            }
        }
    }

    void summaryReadsNoStorageListing() {
        auto ckpt = openCheckpoint(fixture() / "item");
        CKPT_VERIFY_OK(ckpt);
        const ArraySource* half = arrayAt(ckpt->tree, {"half"});
        auto s = shardingOf(*half)->sharding(ShardDetail::kSummary);
        CKPT_VERIFY_OK(s);
        // Replica-parallel saving split each (3, 4) device block among its two replicas.
        QCOMPARE(s->shardShape, (Shape{3, 2}));
        QCOMPARE(s->shardCount, std::uint64_t{4});
        QVERIFY(s->shards.empty());
        QCOMPARE(s->mesh->partitionSpecText(), std::string("P('a', None)"));
        QCOMPARE(s->mesh->meshText(), std::string("{'a': 2, 'b': 2}"));
    }

    void parsesRealShardingEntries() {
        const json file = readJson(fixture() / "item" / "_sharding");
        QVERIFY(file.is_object());
        auto big = orbax::parseShardingEntry(file["Ymln"].get<std::string>());  // "big"
        CKPT_VERIFY_OK(big);
        QCOMPARE(big->partitionSpecText(), std::string("P(('a', 'b'), None)"));
        QCOMPARE(big->meshShape, (Shape{2, 2}));
        auto single = orbax::parseShardingEntry(
            R"({"sharding_type": "SingleDeviceSharding", "device_str": "cpu:0"})");
        CKPT_VERIFY_OK(single);
        QCOMPARE(single->device, std::string("cpu:0"));
    }

    void rejectsMalformedShardingEntries() {
        for (
            const char* bad : {
                "",
                "[]",
                "{not json",
                R"({"shape": [2]})",
                R"({"sharding_type": 3})",
                R"({"sharding_type": "SingleDeviceSharding"})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"]})",
                R"({"sharding_type": "NamedSharding", "shape": [0], "axis_names": ["x"], "partition_spec": []})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x", "y"], "partition_spec": []})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": [1], "partition_spec": []})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": [7]})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": [["x", 1]]})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": [], "device_mesh": {"mesh": [{"id": 0}]}})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": [], "device_mesh": {"mesh": [{"id": 0}, {"di": 1}]}})",
                R"({"sharding_type": "NamedSharding", "shape": [2], "axis_names": ["x"], "partition_spec": [], "device_mesh": 5})",
                R"({"sharding_type": "NamedSharding", "shape": [16777216, 16777216], "axis_names": ["x", "y"], "partition_spec": [], "device_mesh": {"mesh": []}})",
            }) {
            CKPT_VERIFY_ERROR(orbax::parseShardingEntry(bad), StatusCode::kCorruption);
        }
        CKPT_VERIFY_ERROR(orbax::parseShardingEntry(R"({"sharding_type": "PositionalSharding"})"),
                          StatusCode::kUnsupported);
    }

    void parsesChunkKeysOfBothZarrVersions() {
        using V = std::vector<std::int64_t>;
        QCOMPARE(orbax::parseChunkKey("1.0", 2), std::optional<V>(V{1, 0}));
        QCOMPARE(orbax::parseChunkKey("1/0", 2), std::optional<V>(V{1, 0}));
        QCOMPARE(orbax::parseChunkKey("c/3/0/12", 3), std::optional<V>(V{3, 0, 12}));
        QCOMPARE(orbax::parseChunkKey("c.2", 1), std::optional<V>(V{2}));
        QCOMPARE(orbax::parseChunkKey("c", 0), std::optional<V>(V{}));
        QCOMPARE(orbax::parseChunkKey("0", 0), std::optional<V>(V{}));
        for (const auto& [name, rank] :
             std::vector<std::pair<std::string, std::size_t>>{{"zarr.json", 2},
                                                              {".zarray", 2},
                                                              {"1.0", 3},
                                                              {"c/1", 2},
                                                              {"1.-1", 2},
                                                              {"1..0", 2},
                                                              {"", 1},
                                                              {"c", 1},
                                                              {"1", 0},
                                                              {"c/", 1},
                                                              {"99999999999999999999", 1}}) {
            QVERIFY2(!orbax::parseChunkKey(name, rank), name.c_str());
        }
        QCOMPARE(orbax::processOfPath("ocdbt.process_1/d/ab"), std::string("1"));
        QCOMPARE(orbax::processOfPath("ocdbt.process_/d/ab"), std::string());
        QCOMPARE(orbax::processOfPath("d/ab"), std::string());
    }

    void damagedShardingFileNeverFailsTheOpenOrAReadButFailsSharding() {
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        writeFile(item / "_sharding", "{not json");
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        QVERIFY(ckpt->warnings.empty());
        const ArraySource* w = arrayAt(ckpt->tree, {"w"});
        const ArraySource* want = arrayAt(m_expected, {"w"});
        QCOMPARE(bytesOf(*w, Selection::all(w->shape())),
                 bytesOf(*want, Selection::all(want->shape())));
        auto s = shardingOf(*w)->sharding(ShardDetail::kSummary);
        CKPT_VERIFY_ERROR(s, StatusCode::kCorruption);
        const std::string message = s.status().message();
        QVERIFY2(message.find((item / "_sharding").string()) != std::string::npos, message.c_str());
        QVERIFY2(message.find("'w'") != std::string::npos, message.c_str());
    }

    void badEntryFailsOnlyItsLeafNamingFileEntryAndKeyPath() {
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        json file = readJson(item / "_sharding");
        // "w": a spec naming an axis the mesh lacks; "i": not an Orbax sharding at all.
        json w = json::parse(file["dw=="].get<std::string>());
        w["partition_spec"] = json::array({"z", nullptr});
        file["dw=="] = w.dump();
        file["aQ=="] = "[1, 2]";
        writeFile(item / "_sharding", file.dump());
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        // The spec is only checked against the mesh when shards are listed.
        auto wSummary = shardingOf(*arrayAt(ckpt->tree, {"w"}))->sharding(ShardDetail::kSummary);
        CKPT_VERIFY_OK(wSummary);
        auto wFull = shardingOf(*arrayAt(ckpt->tree, {"w"}))->sharding(ShardDetail::kFull);
        CKPT_VERIFY_ERROR(wFull, StatusCode::kInvalidArgument);
        QVERIFY2(wFull.status().message().find("_sharding") != std::string::npos &&
                     wFull.status().message().find("'w'") != std::string::npos &&
                     wFull.status().message().find("'z'") != std::string::npos,
                 wFull.status().message().c_str());
        auto i = shardingOf(*arrayAt(ckpt->tree, {"i"}))->sharding(ShardDetail::kSummary);
        CKPT_VERIFY_ERROR(i, StatusCode::kCorruption);
        QVERIFY2(i.status().message().find("entry 'aQ==' ('i')") != std::string::npos &&
                     i.status().message().find("key path 'i'") != std::string::npos,
                 i.status().message().c_str());
        // The other leaves are untouched.
        CKPT_VERIFY_OK(shardingOf(*arrayAt(ckpt->tree, {"big"}))->sharding(ShardDetail::kFull));
    }

    void missingShardingIsANoteNotAnError() {
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        fs::remove(item / "_sharding");
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        auto s = shardingOf(*arrayAt(ckpt->tree, {"big"}))->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(s);
        QVERIFY(!s->mesh);
        QCOMPARE(s->notes, (std::vector<std::string>{"no _sharding file in the item"}));
        QCOMPARE(s->shardCount, std::uint64_t{4});
        QVERIFY(s->shards[0].devices.empty());
        QCOMPARE(s->shards[3].process, std::string("1"));
    }

    void aWriteShapeThatDisagreesWithTheChunksIsANote() {
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        std::string meta;
        {
            std::ifstream in(item / "_METADATA");
            meta.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        const std::string from = R"("write_shape": [2, 6])";  // "w"
        const auto at = meta.find(from);
        QVERIFY(at != std::string::npos);
        meta.replace(at, from.size(), R"("write_shape": [4, 6])");
        writeFile(item / "_METADATA", meta);
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        auto s = shardingOf(*arrayAt(ckpt->tree, {"w"}))->sharding(ShardDetail::kSummary);
        CKPT_VERIFY_OK(s);
        QCOMPARE(s->notes, (std::vector<std::string>{
                               "_METADATA write_shape (4, 6) differs from the stored chunk grid "
                               "(2, 6)"}));
        QCOMPARE(s->shardCount, std::uint64_t{4});  // the stored grid is what counts
    }

    void withoutAProcessManifestOutOfLineShardsStillNameTheirProcess() {
        // The merged tree keeps big's (out-of-line) chunks in ocdbt.process_<id>/d/ files; the
        // small chunks were copied inline into the merged root and only the process database
        // lists their writer.
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        fs::remove(item / "ocdbt.process_1" / "manifest.ocdbt");
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        auto big = shardingOf(*arrayAt(ckpt->tree, {"big"}))->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(big);
        QCOMPARE(big->itemProcesses, (std::vector<std::string>{"0"}));
        QCOMPARE(big->notes.size(), std::size_t{1});
        QVERIFY2(big->notes[0].find("ocdbt.process_1") != std::string::npos, big->notes[0].c_str());
        QCOMPARE(big->shards[2].process, std::string("1"));
        QCOMPARE(big->shards[3].process, std::string("1"));
        QCOMPARE(big->leafProcesses, (std::vector<std::string>{"0", "1"}));
        auto w = shardingOf(*arrayAt(ckpt->tree, {"w"}))->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(w);
        QCOMPARE(w->shards[0].process, std::string("0"));
        QCOMPARE(w->shards[3].process, std::string());  // inline, and its writer's list is gone
        // Reading is unaffected: the merged manifest does not need the process manifests.
        const ArraySource* want = arrayAt(m_expected, {"big"});
        const ArraySource* got = arrayAt(ckpt->tree, {"big"});
        QCOMPARE(bytesOf(*got, Selection::all(got->shape())),
                 bytesOf(*want, Selection::all(want->shape())));
    }

    void missingChunksAreListedAsNotStored() {
        // A directory-per-array copy of "w" without its last chunk: absent chunks read as the
        // fill value, and the listing says so.
        test::TempDir dir;
        const fs::path item = dir.path() / "item";
        fs::create_directories(item / "w");
        auto merged = ocdbt::openOcdbtStore(fixture() / "item");
        CKPT_VERIFY_OK(merged);
        for (const std::string key : {"w/.zarray", "w/0.0", "w/1.0", "w/2.0"}) {
            auto value = (*merged)->read(key);
            CKPT_VERIFY_OK(value);
            QVERIFY(value->has_value());
            writeFile(item / key, **value);
        }
        writeFile(
            item / "_METADATA",
            R"J({"tree_metadata": {"('w',)": {"key_metadata": [{"key": "w", "key_type": 2}], )J"
            R"J("value_metadata": {"value_type": "jax.Array", "skip_deserialize": false}}}, )J"
            R"J("use_ocdbt": false, "use_zarr3": false})J");
        auto ckpt = openCheckpoint(item);
        CKPT_VERIFY_OK(ckpt);
        auto s = shardingOf(*arrayAt(ckpt->tree, {"w"}))->sharding(ShardDetail::kFull);
        CKPT_VERIFY_OK(s);
        QCOMPARE(s->shards.size(), std::size_t{4});
        QVERIFY(s->shards[2].stored);
        QCOMPARE(s->shards[2].key, std::string("w/2.0"));
        QVERIFY(!s->shards[3].stored);
        QVERIFY(s->itemProcesses.empty());
        QCOMPARE(s->shards[0].process, std::string());
    }

    void damagedCopiesGiveCleanErrorsNamingTheCheckpoint() {
        // Every file of the item truncated and byte-flipped at sampled offsets: opening, reading
        // every leaf and listing its shards give a correct result or an error naming a path of
        // the checkpoint — never a crash (ASan/UBSan in the ci preset).
        test::TempDir dir;
        const fs::path item = copyItem(dir);
        std::vector<fs::path> files;
        for (const auto& e : fs::recursive_directory_iterator(item)) {
            if (e.is_regular_file()) files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        std::size_t cases = 0, errors = 0;
        std::vector<std::string> unnamed;
        const auto exercise = [&](const std::string& what) {
            ++cases;
            Status first;
            auto ckpt = openCheckpoint(item);
            if (!ckpt.isOk()) {
                first = ckpt.status();
            } else {
                for (const auto& [keyPath, param] : kLeaves) {
                    const ArraySource* a = arrayAt(ckpt->tree, keyPath);
                    if (!a) continue;
                    if (auto all = a->readAll(); !all.isOk() && first.isOk()) first = all.status();
                    if (const ShardedArray* sharded = shardingOf(*a)) {
                        auto s = sharded->sharding(ShardDetail::kFull);
                        if (!s.isOk() && first.isOk()) first = s.status();
                    }
                }
            }
            if (first.isOk()) return;
            ++errors;
            if (first.message().find(item.string()) == std::string::npos) {
                unnamed.push_back(what + ": " + first.toString());
            }
        };
        constexpr std::size_t kSamples = 40;
        for (const fs::path& file : files) {
            std::string bytes;
            {
                std::ifstream in(file, std::ios::binary);
                bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            }
            const std::string rel = fs::relative(file, item).string();
            std::set<std::size_t> at;
            for (std::size_t i = 0; i < kSamples && !bytes.empty(); ++i) {
                at.insert(i * (bytes.size() - 1) / (kSamples - 1));
            }
            for (std::size_t n : at) {
                writeFile(file, bytes.substr(0, n));
                exercise(rel + " truncated to " + std::to_string(n));
                std::string flipped = bytes;
                flipped[n] = static_cast<char>(~static_cast<unsigned char>(flipped[n]));
                writeFile(file, flipped);
                exercise(rel + " byte " + std::to_string(n) + " flipped");
            }
            writeFile(file, bytes);
        }
        qInfo("%zu damaged copies, %zu clear errors", cases, errors);
        QVERIFY(errors > 0);
        QVERIFY2(unnamed.empty(),
                 (std::to_string(unnamed.size()) + " errors name no path; first: " +
                  (unnamed.empty() ? std::string() : unnamed.front()))
                     .c_str());
    }

private:
    NodePtr m_expected;
    json m_layout;
    std::vector<json> m_held;
};

QTEST_GUILESS_MAIN(TestOrbaxSharding)
#include "tst_orbax_sharding.moc"
