#include <fstream>
#include <set>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "formats/flax_msgpack/flax_format.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {
std::set<std::string> names(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}
Status writeStep(const fs::path& dir, const std::string& step, int keep = 0, bool overwrite = false,
                 std::optional<double> every = {}) {
    WriteOptions o;
    o.step = step;
    o.keep = keep;
    o.overwrite = overwrite;
    o.keepEveryNSteps = every;
    return writeCheckpoint(makeDemoTrainState(), dir, "flax", o);
}
}  // namespace

class TestFlaxFormat : public QObject {
    Q_OBJECT
private slots:
    void naturalSortMatchesFlax() {
        using flax::naturalLess;
        QVERIFY(naturalLess("checkpoint_2", "checkpoint_10"));
        QVERIFY(!naturalLess("checkpoint_10", "checkpoint_2"));
        QVERIFY(naturalLess("checkpoint_-0.2", "checkpoint_0.1"));
        QVERIFY(naturalLess("checkpoint_0.5", "checkpoint_1"));
        QVERIFY(naturalLess("checkpoint_1e2", "checkpoint_101"));
    }
    void writesAndOpensSingleFiles() {
        test::TempDir dir;
        const fs::path file = dir.path() / "state.msgpack";
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), file, "flax"));
        CKPT_VERIFY_ERROR(writeCheckpoint(makeDemoTrainState(), file, "flax"), StatusCode::kAlreadyExists);
        WriteOptions o;
        o.overwrite = true;
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), file, "flax", o));
        auto ckpt = openCheckpoint(file);
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->format, std::string("flax"));
        QCOMPARE(ckpt->layout, std::string("single file"));
        QCOMPARE(summarizeTree(ckpt->tree).arrayCount, std::uint64_t{8});
        QCOMPARE(names(dir.path()), (std::set<std::string>{"state.msgpack"}));
    }
    void stepDirectoryFollowsFlaxKeepRules() {
        test::TempDir dir;
        for (int step = 1; step <= 5; ++step) CKPT_VERIFY_OK(writeStep(dir.path(), std::to_string(step), 2));
        QCOMPARE(names(dir.path()), (std::set<std::string>{"checkpoint_4", "checkpoint_5"}));
        auto ckpt = openCheckpoint(dir.path());
        CKPT_VERIFY_OK(ckpt);
        QCOMPARE(ckpt->layout, std::string("step directory"));
        QCOMPARE(*ckpt->step, std::string("5"));
        QCOMPARE(ckpt->steps.size(), std::size_t{2});
        OpenOptions older;
        older.step = "4";
        QCOMPARE(*openCheckpoint(dir.path(), older)->step, std::string("4"));
        older.step = "3";
        CKPT_VERIFY_ERROR(openCheckpoint(dir.path(), older), StatusCode::kNotFound);
    }
    void refusesExistingOrOlderStepsWithoutOverwrite() {
        test::TempDir dir;
        CKPT_VERIFY_OK(writeStep(dir.path(), "10"));
        CKPT_VERIFY_ERROR(writeStep(dir.path(), "10"), StatusCode::kAlreadyExists);
        CKPT_VERIFY_ERROR(writeStep(dir.path(), "9"), StatusCode::kAlreadyExists);
        CKPT_VERIFY_OK(writeStep(dir.path(), "11"));
        // Overwriting an older step deletes the newer ones, as flax does.
        CKPT_VERIFY_OK(writeStep(dir.path(), "9", 0, true));
        QCOMPARE(names(dir.path()), (std::set<std::string>{"checkpoint_9"}));
    }
    void keepEveryNStepsKeepsSpacedOldSteps() {
        test::TempDir dir;
        for (int step = 1; step <= 9; ++step) {
            CKPT_VERIFY_OK(writeStep(dir.path(), std::to_string(step), 2, false, 3.0));
        }
        // flax: old steps are kept when step - last_kept >= 3, starting from -inf.
        QCOMPARE(names(dir.path()), (std::set<std::string>{"checkpoint_1", "checkpoint_4",
                                                           "checkpoint_7", "checkpoint_8",
                                                           "checkpoint_9"}));
    }
    void listingIgnoresTemporaryEntries() {
        test::TempDir dir;
        CKPT_VERIFY_OK(writeStep(dir.path(), "1"));
        std::ofstream(dir.path() / "checkpoint_tmp") << "partial";
        std::ofstream(dir.path() / "checkpoint_7_gda") << "x";
        fs::create_directory(dir.path() / "checkpoint_8.orbax-checkpoint-tmp-3");
        auto steps = flax::listFlaxSteps(dir.path());
        CKPT_VERIFY_OK(steps);
        QCOMPARE(steps->size(), std::size_t{1});
        QCOMPARE(steps->front().step, std::string("1"));
    }
};

QTEST_GUILESS_MAIN(TestFlaxFormat)
#include "tst_flax_format.moc"
