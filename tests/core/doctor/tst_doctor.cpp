// Tests for ckpt/core/doctor.h: checkpoints written by the engine's own writers with planted
// problems (NaN/Inf, all-zero and constant leaves, a truncated chunk file, a deleted array
// directory, a stray array not in _METADATA, an unfinished step) give the expected findings with
// the right key paths and counts; a healthy checkpoint is healthy; the dtype census adds up; in a
// run, a leaf whose statistics jumped since the previous complete step is a stats-jump warning.
#include <QTemporaryDir>
#include <cstring>
#include <filesystem>
#include <limits>

#include "ckpt/core/doctor.h"
#include "ckpt/core/format.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

NodePtr f32(std::vector<float> values) {
    std::vector<std::byte> bytes(values.size() * sizeof(float));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    auto array =
        Array::fromBytes(DType::kFloat32, {static_cast<std::int64_t>(values.size())}, bytes);
    return Node::makeArray(makeMemorySource(std::move(*array)));
}

NodePtr healthyTree() {
    return Node::makeDict({{"params", Node::makeDict({{"w", f32({0.5F, -1.0F, 2.0F, 3.0F})},
                                                      {"b", f32({0.1F, 0.2F})}})}});
}

const Finding* findCode(const DoctorReport& r, const std::string& code) {
    for (const auto& f : r.findings) {
        if (f.code == code) return &f;
    }
    return nullptr;
}

DoctorReport examine(const fs::path& p, const DoctorOptions& o = {}) {
    auto r = examineCheckpoint(p, o);
    if (!r.isOk()) qFatal("%s", r.status().toString().c_str());
    return std::move(r).value();
}

// Regular files under `dir` that are chunk data (not zarr metadata).
std::vector<fs::path> chunkFiles(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name != "zarr.json" && name != ".zarray" && name != ".zattrs") {
            out.push_back(e.path());
        }
    }
    return out;
}

WriteOptions perArrayDirs() {
    WriteOptions o;
    o.orbaxOcdbt = false;
    return o;
}

}  // namespace

class TestDoctor : public QObject {
    Q_OBJECT

private slots:
    void healthyCheckpointIsHealthy() {
        QTemporaryDir tmp;
        const fs::path p = fs::path(tmp.path().toStdString()) / "ckpt";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), p, "orbax"));
        const DoctorReport r = examine(p);
        QVERIFY2(r.healthy(), r.findings.empty() ? "" : r.findings.front().message.c_str());
        QCOMPARE(r.arraysRead, std::uint64_t{2});
        QCOMPARE(r.census.at("float32").count, std::uint64_t{2});
        QCOMPARE(r.census.at("float32").bytes, std::uint64_t{24});
    }

    void healthyFlaxFileIsHealthy() {
        QTemporaryDir tmp;
        const fs::path p = fs::path(tmp.path().toStdString()) / "state.msgpack";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), p, "flax"));
        QVERIFY(examine(p).healthy());
    }

    void reportsNanInfZeroAndConstantLeaves() {
        QTemporaryDir tmp;
        const fs::path p = fs::path(tmp.path().toStdString()) / "ckpt";
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        auto tree = Node::makeDict({{"params", Node::makeDict({
                                                   {"nan", f32({1.0F, nan, nan, 2.0F})},
                                                   {"inf", f32({inf, -inf, 1.0F})},
                                                   {"zero", f32({0.0F, 0.0F, 0.0F})},
                                                   {"ones", f32({1.0F, 1.0F})},
                                               })}});
        CKPT_VERIFY_OK(writeCheckpoint(tree, p, "orbax"));
        const DoctorReport r = examine(p);
        QVERIFY(!r.healthy());
        const Finding* f = findCode(r, doctor_code::kNan);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/nan"));
        QCOMPARE(f->severity, FindingSeverity::kError);
        QVERIFY2(f->message.find("2 NaN of 4") != std::string::npos, f->message.c_str());
        f = findCode(r, doctor_code::kInf);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/inf"));
        QVERIFY2(f->message.find("1 +Inf and 1 -Inf") != std::string::npos, f->message.c_str());
        f = findCode(r, doctor_code::kAllZero);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/zero"));
        QCOMPARE(f->severity, FindingSeverity::kInfo);  // zero-initialised biases are normal
        f = findCode(r, doctor_code::kConstant);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/ones"));
        QCOMPARE(f->severity, FindingSeverity::kInfo);
        // Errors come first.
        QCOMPARE(r.findings.front().severity, FindingSeverity::kError);
        QCOMPARE(r.count(FindingSeverity::kError), std::size_t{2});
    }

    void reportsTruncatedChunkAsReadError() {
        QTemporaryDir tmp;
        const fs::path p = fs::path(tmp.path().toStdString()) / "ckpt";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), p, "orbax", perArrayDirs()));
        const auto chunks = chunkFiles(p / "params.w");
        QVERIFY(!chunks.empty());
        fs::resize_file(chunks.front(), fs::file_size(chunks.front()) / 2);
        const DoctorReport r = examine(p);
        const Finding* f = findCode(r, doctor_code::kReadError);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/w"));
        QCOMPARE(r.count(FindingSeverity::kError), std::size_t{1});
    }

    void reportsDeletedArrayAndStrayArray() {
        QTemporaryDir tmp;
        const fs::path p = fs::path(tmp.path().toStdString()) / "ckpt";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), p, "orbax", perArrayDirs()));
        fs::copy(p / "params.b", p / "params.stray", fs::copy_options::recursive);
        fs::remove_all(p / "params.w");
        const DoctorReport r = examine(p);
        const Finding* f = findCode(r, doctor_code::kMissingData);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/w"));
        // The reader's own warning about the same leaf is not repeated.
        QVERIFY(!findCode(r, doctor_code::kOpenWarning));
        f = findCode(r, doctor_code::kOrphanArray);
        QVERIFY(f);
        QCOMPARE(f->keyPath, std::string("params/stray"));
    }

    void reportsIncompleteStep() {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "run";
        WriteOptions o;
        o.step = "1";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), root, "orbax", o));
        fs::create_directories(root / "2.orbax-checkpoint-tmp-1234" / "default");
        const DoctorReport r = examine(root);
        QCOMPARE(r.step.value_or(""), std::string("1"));
        const Finding* f = findCode(r, doctor_code::kIncompleteStep);
        QVERIFY(f);
        QVERIFY2(f->message.find("step 2") != std::string::npos, f->message.c_str());
        QVERIFY(!r.healthy());
    }

    void reportsStatsJumpAgainstThePreviousStep() {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "run";
        // w grows 1% a step except at step 3, where it is 100 times larger; b starts at zero
        // (zero-initialised, not a jump) and then moves; `ones` starts constant (std 0).
        const std::vector<float> w = {0.5F, -1.0F, 2.0F, 3.0F};
        for (int step = 1; step <= 4; ++step) {
            std::vector<float> ws = w;
            for (float& x : ws) x *= (1.0F + 0.01F * static_cast<float>(step)) * (step == 3 ? 100 : 1);
            const float k = static_cast<float>(step - 1);
            auto tree = Node::makeDict(
                {{"params", Node::makeDict({{"w", f32(ws)},
                                            {"b", f32({0.1F * k, -0.2F * k})},
                                            {"ones", f32({1, 1 + 0.001F * k, 1})}})}});
            WriteOptions o;
            o.step = std::to_string(step);
            CKPT_VERIFY_OK(writeCheckpoint(tree, root, "orbax", o));
        }
        auto jumps = [](const DoctorReport& r) {
            std::vector<const Finding*> out;
            for (const auto& f : r.findings) {
                if (f.code == doctor_code::kStatsJump) out.push_back(&f);
            }
            return out;
        };
        DoctorOptions o;
        o.step = "1";
        DoctorReport r = examine(root, o);
        QVERIFY(!r.previousStep);  // nothing before step 1
        QVERIFY(jumps(r).empty());
        QVERIFY(r.healthy());

        o.step = "2";
        r = examine(root, o);
        QCOMPARE(r.previousStep.value_or(""), std::string("1"));
        QVERIFY(jumps(r).empty());  // b left zero, ones left constant: not jumps
        QVERIFY(r.healthy());

        o.step = "3";
        r = examine(root, o);
        QCOMPARE(jumps(r).size(), std::size_t{1});
        const Finding* f = jumps(r).front();
        QCOMPARE(f->keyPath, std::string("default/params/w"));
        QCOMPARE(f->severity, FindingSeverity::kWarning);
        QVERIFY2(f->message.find("since step 2") != std::string::npos, f->message.c_str());
        QVERIFY2(f->message.find("norm 3.85 -> 388.8 (x101)") != std::string::npos, f->message.c_str());
        QVERIFY(!r.healthy());

        // Progress covers both steps' arrays: 3 leaves of 16 + 8 + 12 bytes, read twice.
        std::uint64_t lastDone = 0;
        std::uint64_t lastTotal = 0;
        CKPT_VERIFY_OK(examineCheckpoint(root, o, nullptr, [&](std::uint64_t d, std::uint64_t t) {
            QVERIFY(d <= t);
            lastDone = d;
            lastTotal = t;
        }));
        QCOMPARE(lastTotal, std::uint64_t{72});
        QCOMPARE(lastDone, std::uint64_t{72});

        // The latest step: w fell back by the same factor.
        r = examine(root);
        QCOMPARE(r.step.value_or(""), std::string("4"));
        QCOMPARE(jumps(r).size(), std::size_t{1});
        QCOMPARE(jumps(r).front()->keyPath, std::string("default/params/w"));

        // Thresholds are options: a factor above the jump, no shift test, finds nothing.
        o.step = "3";
        o.jumpFactor = 200;
        o.meanShiftStds = 0;
        QVERIFY(jumps(examine(root, o)).empty());
        // The mean-shift test alone still sees it (mean moved by far more than 10 std).
        o.meanShiftStds = 10;
        QCOMPARE(jumps(examine(root, o)).size(), std::size_t{1});
    }

    void statsJumpSkipsAnIncompletePreviousStep() {
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()) / "run";
        WriteOptions o;
        o.step = "5";
        CKPT_VERIFY_OK(writeCheckpoint(healthyTree(), root, "orbax", o));
        fs::create_directories(root / "4.orbax-checkpoint-tmp-99" / "default");
        const DoctorReport r = examine(root);
        QVERIFY(!r.previousStep);
        QVERIFY(!findCode(r, doctor_code::kStatsJump));
    }

    void openFailureIsAnError() {
        QTemporaryDir tmp;
        auto r = examineCheckpoint(fs::path(tmp.path().toStdString()) / "absent");
        QVERIFY(!r.isOk());
    }
};

QTEST_GUILESS_MAIN(TestDoctor)
#include "tst_doctor.moc"
