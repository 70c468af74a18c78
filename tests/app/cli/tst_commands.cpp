#include <nlohmann/json.hpp>
#include <cstring>
#include <sstream>
#include <tuple>
#include <vector>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "commands.h"
#include "run_commands.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

cli::CatArgs catArgs(const fs::path& path, const std::string& keyPath) {
    cli::CatArgs a;
    a.source.path = path;
    a.keyPath = keyPath;
    return a;
}

class TestCommands : public QObject {
    Q_OBJECT
    test::TempDir m_dir;
    fs::path m_demo;

private slots:
    void initTestCase() {
        m_demo = m_dir.path() / "demo.msgpack";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), m_demo, "flax"));
    }
    void treeJsonFollowsTheContract() {
        std::ostringstream out, err;
        QCOMPARE(cli::runTree({{m_demo, "", {}}, true}, out, err), 0);
        auto j = nlohmann::ordered_json::parse(out.str());
        QCOMPARE(j["format"], "flax");
        const auto& kernel = j["tree"]["children"]["params"]["children"]["Dense_0"]["children"]["kernel"];
        QCOMPARE(kernel["type"], "array");
        QCOMPARE(kernel["dtype"], "float32");
        QCOMPARE(kernel["shape"], nlohmann::json::array({5, 3}));
        QCOMPARE(j["tree"]["children"]["step"]["value"], 100);
        QCOMPARE(j["tree"]["children"]["config"]["children"]["model"]["value"], "mlp");
        // Written as a flax state dict, the tuple comes back as a dict keyed "0", "1".
        QCOMPARE(j["tree"]["children"]["opt_state"]["children"]["1"]["type"], "none");
        // Keys keep file order (the demo starts with "step").
        QCOMPARE(j["tree"]["children"].begin().key(), std::string("step"));
    }
    void catWritesRawBytes() {
        std::ostringstream out, err;
        QCOMPARE(cli::runCat(catArgs(m_demo, "data/0"), out, err), 0);
        const std::string bytes = out.str();
        QCOMPARE(bytes.size(), std::size_t{16});
        // Re-sharded: process 1 of 2 gets the second half; 3 of 4 the last quarter.
        for (const auto& [index, count, from, size] :
             std::vector<std::tuple<int, int, std::size_t, std::size_t>>{{1, 2, 8, 8}, {3, 4, 12, 4}}) {
            std::ostringstream part, partErr;
            cli::CatArgs a = catArgs(m_demo, "data/0");
            a.processIndex = index;
            a.processCount = count;
            QCOMPARE(cli::runCat(a, part, partErr), 0);
            QCOMPARE(part.str(), bytes.substr(from, size));
        }
        std::ostringstream bad, badErr;
        cli::CatArgs a = catArgs(m_demo, "data/0");
        a.processIndex = 2;
        a.processCount = 2;
        QCOMPARE(cli::runCat(a, bad, badErr), 1);
        QVERIFY2(badErr.str().find("process index 2 is outside 0..1") != std::string::npos &&
                     badErr.str().find("data/0") != std::string::npos,
                 badErr.str().c_str());
        a.processCount.reset();
        QCOMPARE(cli::runCat(a, bad, badErr), 1);
        std::int32_t v[4];
        std::memcpy(v, bytes.data(), 16);
        QCOMPARE(v[3], 3);
    }
    void showJsonHasValuesAndStats() {
        std::ostringstream out, err;
        cli::ShowArgs args{{m_demo, "", {}}, "data/1", true, {}};
        QCOMPARE(cli::runShow(args, out, err), 0);
        auto j = nlohmann::json::parse(out.str());
        QCOMPARE(j["values"], nlohmann::json::array({10, 11, 12, 13}));
        QCOMPARE(j["stats"]["mean"], 11.5);
        QCOMPARE(j["stats"]["zeros"], 0);
    }
    void seriesAndChangesOverAFlaxRun() {
        // Steps 1 and 2 of a flax run: the demo state, then only data/0, changed.
        const fs::path run = m_dir.path() / "run";
        WriteOptions o;
        o.step = "1";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), run, "flax", o));
        std::vector<std::int32_t> values = {20, 22, 24, 26};
        std::vector<std::byte> bytes(sizeof values[0] * values.size());
        std::memcpy(bytes.data(), values.data(), bytes.size());
        auto array = Array::fromBytes(DType::kInt32, {4}, bytes);
        auto tree = Node::makeDict({{"data", Node::makeList({Node::makeArray(makeMemorySource(
                                                  std::move(array).value()))})}});
        o.step = "2";
        CKPT_VERIFY_OK(writeCheckpoint(tree, run, "flax", o));

        std::ostringstream out, err;
        QCOMPARE(cli::runSeries({run, "", "data/1", true}, out, err), 0);
        auto j = nlohmann::json::parse(out.str());
        QCOMPARE(j["points"].size(), std::size_t{2});
        QCOMPARE(j["points"][0]["mean"], 11.5);  // 10, 11, 12, 13
        QCOMPARE(j["points"][0]["max_abs"], 13.0);
        QCOMPARE(j["points"][0]["error"], nullptr);
        QVERIFY(j["points"][1]["error"].get<std::string>().find("data/1") != std::string::npos);

        std::ostringstream out2, err2;
        QCOMPARE(cli::runChanges({run, "", "1", "2", 20, true}, out2, err2), 0);
        auto c = nlohmann::json::parse(out2.str());
        QCOMPARE(c["top"].size(), std::size_t{1});
        QCOMPARE(c["top"][0]["path"], "data/0");
        QCOMPARE(c["top"][0]["max_abs_diff"], 23.0);  // 0, 1, 2, 3 -> 20, 22, 24, 26
        QCOMPARE(c["only_in_b"].size(), std::size_t{0});
        QVERIFY(!c["only_in_a"].empty());  // params, step, ... are gone at step 2

        // A single checkpoint is not a run: exit 1 with the reason.
        std::ostringstream out3, err3;
        QCOMPARE(cli::runSeries({m_demo, "", "data/1", false}, out3, err3), 1);
        QVERIFY(err3.str().find("not a run directory") != std::string::npos);
    }
    void errorsNameFileAndKeyPath() {
        std::ostringstream out, err;
        QCOMPARE(cli::runShow({{m_demo, "", {}}, "params/nope", false, {}}, out, err), 1);
        QVERIFY(err.str().find(m_demo.string()) != std::string::npos);
        QVERIFY(err.str().find("'params' has no child 'nope'") != std::string::npos);
        std::ostringstream out2, err2;
        QCOMPARE(cli::runCat(catArgs(m_demo, "params"), out2, err2), 1);
        QVERIFY(err2.str().find("is a dict") != std::string::npos);
        QVERIFY(out2.str().empty());
        // A leaf the reader could not open: cat and show give its reason, not "a none".
        const fs::path damaged = (fs::path(qgetenv("CKPT_TEST_DATA").toStdString()) / ".." /
                                  "fuzz" / "libhdf5-known" / "compact-storage-short.h5")
                                     .lexically_normal();
        QVERIFY2(fs::exists(damaged), damaged.c_str());
        std::ostringstream out3, err3, out4, err4;
        QCOMPARE(cli::runCat(catArgs(damaged, "config/layers/0"), out3, err3), 1);
        QVERIFY(out3.str().empty());
        QCOMPARE(cli::runShow({{damaged, "", {}}, "config/layers/0", false, {}}, out4, err4), 1);
        for (const std::string& e : {err3.str(), err4.str()}) {
            QVERIFY2(e.find("'config/layers/0' could not be read") != std::string::npos &&
                         e.find("compact storage holds 0 bytes") != std::string::npos &&
                         e.find(damaged.string()) != std::string::npos,
                     e.c_str());
        }
    }
    void convertKeepsChosenSubtrees() {
        std::ostringstream out, err;
        cli::ConvertArgs args;
        args.source.path = m_demo;
        args.target = m_dir.path() / "params.msgpack";
        args.to = "flax";
        args.subtrees = {"params", "step"};
        QCOMPARE(cli::runConvert(args, out, err), 0);
        auto ckpt = openCheckpoint(args.target);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->tree->childCount(), std::size_t{2});
        QCOMPARE(ckpt->tree->childKey(0), std::string("step"));
        // The source is untouched and a second convert to the same target refuses to overwrite.
        std::ostringstream out2, err2;
        QCOMPARE(cli::runConvert(args, out2, err2), 1);
        QVERIFY(err2.str().find("already exists") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestCommands)
#include "tst_commands.moc"
