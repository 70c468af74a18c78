#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/demo.h"
#include "manager_commands.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

class TestManagerCommands : public QObject {
    Q_OBJECT
    test::TempDir m_dir;
    fs::path m_root;

private slots:
    void initTestCase() {
        m_root = m_dir.path() / "run";
        CheckpointManagerOptions o;
        o.async = false;
        o.retention.bestMetric = "loss";  // so that metrics are written, as Orbax does
        auto m = CheckpointManager::open(m_root, o);
        CKPT_VERIFY_OK(m);
        const double losses[] = {3.0, 1.25, 2.0, 4.0};
        for (int s = 0; s < 4; ++s) {
            CKPT_VERIFY_OK((*m)->save(s * 10, {{"default", makeDemoTrainState()}},
                                      Metrics{{"loss", losses[s]}}));
        }
        // An unfinished save: never a step, never pruned.
        fs::create_directories(m_root / "40.orbax-checkpoint-tmp" / "default");
    }

    void stepsJsonListsMetricsAndBest() {
        std::ostringstream out, err;
        cli::StepsArgs args;
        args.root = m_root;
        args.json = true;
        args.retention.bestMetric = "loss";
        args.retention.bestMode = "min";
        QCOMPARE(cli::runSteps(args, out, err), 0);
        const auto j = nlohmann::json::parse(out.str());
        QCOMPARE(j["steps"].size(), std::size_t{4});
        QCOMPARE(j["steps"][1]["step"], 10);
        QCOMPARE(j["steps"][1]["metrics"]["loss"], 1.25);
        QCOMPARE(j["steps"][1]["best"], true);
        QCOMPARE(j["steps"][0]["best"], false);
        QCOMPARE(j["steps"][0]["items"], nlohmann::json::array({"default"}));
        QVERIFY(j["steps"][0]["bytes"].get<std::uint64_t>() > 0);
        QCOMPARE(j["best_step"], 10);
        QCOMPARE(j["latest_step"], 30);
        args.retention.bestMode = "max";
        std::ostringstream outMax;
        QCOMPARE(cli::runSteps(args, outMax, err), 0);
        QCOMPARE(nlohmann::json::parse(outMax.str())["best_step"], 30);
    }

    void stepsTextMarksTheBestStep() {
        std::ostringstream out, err;
        cli::StepsArgs args;
        args.root = m_root;
        args.retention.bestMetric = "loss";
        args.retention.bestMode = "min";
        QCOMPARE(cli::runSteps(args, out, err), 0);
        const std::string text = out.str();
        QVERIFY2(text.find("loss=1.25  (best)") != std::string::npos, text.c_str());
        QCOMPARE(std::count(text.begin(), text.end(), '\n'), 5L);  // header + 4 steps
        QVERIFY(text.find("orbax-checkpoint-tmp") == std::string::npos);
    }

    void stepsOfAFileIsAnError() {
        const fs::path file = m_dir.path() / "file";
        std::ofstream(file) << "x";
        std::ostringstream out, err;
        cli::StepsArgs args;
        args.root = file;
        QCOMPARE(cli::runSteps(args, out, err), 1);
        QVERIFY2(err.str().find(file.string()) != std::string::npos, err.str().c_str());
    }

    void pruneKeepsTheBestAndLeavesTemporaryDirectories() {
        cli::PruneArgs args;
        args.root = m_root;
        args.retention.maxToKeep = 2;
        args.retention.bestMetric = "loss";
        args.retention.bestMode = "min";
        args.json = true;
        args.dryRun = true;
        std::ostringstream dry, err;
        QCOMPARE(cli::runPrune(args, dry, err), 0);
        QCOMPARE(nlohmann::json::parse(dry.str())["removed"], nlohmann::json::array({0, 30}));
        QVERIFY(fs::exists(m_root / "0"));
        args.dryRun = false;
        std::ostringstream done;
        QCOMPARE(cli::runPrune(args, done, err), 0);
        QCOMPARE(nlohmann::json::parse(done.str())["kept"], nlohmann::json::array({10, 20}));
        QVERIFY(!fs::exists(m_root / "0"));
        QVERIFY(!fs::exists(m_root / "30"));
        QVERIFY(fs::exists(m_root / "40.orbax-checkpoint-tmp"));
    }
};

QTEST_GUILESS_MAIN(TestManagerCommands)
#include "tst_manager_commands.moc"
