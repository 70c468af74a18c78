// `ckpt shards` and the sharding summaries of `tree`, `show` and `info` (app/cli/shard_commands.h)
// over the real two-process Orbax save in tests/core/formats/orbax/data/multiprocess_2.
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "shard_commands.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path fixture() {
    return fs::path(__FILE__).parent_path().parent_path().parent_path() / "core" / "formats" /
           "orbax" / "data" / "multiprocess_2";
}

}  // namespace

class TestShardCommands : public QObject {
    Q_OBJECT
private slots:
    void listsEveryShardWithItsWriterAndDevices() {
        std::ostringstream out, err;
        QCOMPARE(cli::runShards({{fixture() / "run", "", {}}, "default/half", false}, out, err), 0);
        const std::string expected =
            "default/half: int32 (6, 4)\n"
            "sharding  NamedSharding P('a', None) on mesh {'a': 2, 'b': 2}, devices 0, 1, 2048, "
            "2049\n"
            "shards    4 of (3, 2), written by processes 0, 1 (the item has 2 processes)\n"
            "index       process  devices           key\n"
            "[0:3, 0:2]  0        0,1               half/c/0/0\n"
            "[0:3, 2:4]  0        0,1               half/c/0/1\n"
            "[3:6, 0:2]  1        2048,2049         half/c/1/0\n"
            "[3:6, 2:4]  1        2048,2049         half/c/1/1\n";
        QCOMPARE(out.str(), expected);
        QVERIFY(err.str().empty());
    }

    void jsonHasTheMeshSpecAndShards() {
        std::ostringstream out, err;
        QCOMPARE(cli::runShards({{fixture() / "item", "", {}}, "big", true}, out, err), 0);
        const json j = json::parse(out.str());
        QCOMPARE(j["dtype"], "float32");
        QCOMPARE(j["global_shape"], json::array({16, 128}));
        QCOMPARE(j["shard_shape"], json::array({4, 128}));
        QCOMPARE(j["sharding"]["partition_spec"], json::parse(R"([["a", "b"], null])"));
        QCOMPARE(j["sharding"]["partition_spec_text"], "P(('a', 'b'), None)");
        QCOMPARE(j["sharding"]["device_ids"], json::array({0, 1, 2048, 2049}));
        QCOMPARE(j["processes"], json::array({"0", "1"}));
        QCOMPARE(j["shards"].size(), std::size_t{4});
        QCOMPARE(j["shards"][2],
                 json::parse(R"({"start": [8, 0], "stop": [12, 128], "key": "big/2.0",
            "stored": true, "process": "1", "devices": [2048]})"));
    }

    void treeShowAndInfoSummariseIt() {
        std::ostringstream tree, show, info, err;
        QCOMPARE(cli::runTree({{fixture() / "item", "", {}}, false}, tree, err), 0);
        QVERIFY2(tree.str().find("├── i  int32 (2, 16)  128 B  sharded P(None, 'x') on mesh "
                                 "{'x': 4}, 4 shards of (2, 4)\n") != std::string::npos,
                 tree.str().c_str());
        // The replicated scalar is one shard: nothing to say.
        QVERIFY(tree.str().find("scalar  float32 ()  4 B\n") != std::string::npos);
        QCOMPARE(cli::runShow({{fixture() / "item", "", {}}, "w", true, 0}, show, err), 0);
        const json shown = json::parse(show.str());
        QCOMPARE(shown["sharding"]["shard_count"], 4);
        QCOMPARE(shown["sharding"]["sharding"]["partition_spec_text"], "P('x', None)");
        QVERIFY(!shown["sharding"].contains("shards"));
        QCOMPARE(cli::runInfo({{fixture() / "item", "", {}}, true}, info, err), 0);
        const json i = json::parse(info.str());
        QCOMPARE(i["sharded_leaves"], 5);
        QCOMPARE(i["processes"], json::array({"0", "1"}));
    }

    void refusesWhatHasNoShards() {
        std::ostringstream out, err;
        QCOMPARE(cli::runShards({{fixture() / "item", "", {}}, "nested", false}, out, err), 1);
        QVERIFY2(err.str().find("'nested' is a dict, not an array") != std::string::npos,
                 err.str().c_str());
        err.str("");
        QCOMPARE(cli::runShards({{fixture() / "expected.npz", "", {}}, "w", false}, out, err), 1);
        QVERIFY2(err.str().find("the npz format records no shards") != std::string::npos,
                 err.str().c_str());
        err.str("");
        QCOMPARE(cli::runShards({{fixture() / "item", "", {}}, "nope", false}, out, err), 1);
        QVERIFY2(err.str().find("nope") != std::string::npos, err.str().c_str());
        QVERIFY(out.str().empty());
    }

    void formatsIndexRanges() {
        QCOMPARE(cli::formatShardIndex(Selection{{0, 4}, {2, 4}}), std::string("[0:2, 4:8]"));
        QCOMPARE(cli::formatShardIndex(Selection{}), std::string("[]"));
    }
};

QTEST_GUILESS_MAIN(TestShardCommands)
#include "tst_shard_commands.moc"
