// Crash consistency of every writer (issue 11): crash_writer rewrites one target again and again
// and is killed with SIGKILL at random moments (kTrials per format; CKPT_CRASH_TRIALS overrides).
// After every kill the target opens and holds exactly one version, all of its values equal — the
// last one reported committed, or the one being written if its commit landed just before the
// kill — never a torn mix, never an older one, never missing.
#include <QTest>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/core/format.h"
#include "tests/core/reliability/crash_tree.h"
#include "tests/test_util.h"

extern char** environ;

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

constexpr int kDefaultTrials = 200;

int trials() {
    const QByteArray text = qgetenv("CKPT_CRASH_TRIALS");
    bool ok = false;
    const int n = text.toInt(&ok);
    return ok && n > 0 ? n : kDefaultTrials;
}

// A running crash_writer with its stdout on a non-blocking pipe.
struct Child {
    pid_t pid = -1;
    int out = -1;
    std::string buffer;
    std::int64_t lastCommitted = -1;

    // Reads what the child printed so far; updates lastCommitted.
    void drain() {
        char chunk[4096];
        for (;;) {
            const ssize_t n = ::read(out, chunk, sizeof chunk);
            if (n <= 0) break;
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
        std::size_t end = 0;
        while ((end = buffer.find('\n')) != std::string::npos) {
            const std::string line = buffer.substr(0, end);
            buffer.erase(0, end + 1);
            if (line.rfind("committed ", 0) == 0) lastCommitted = std::stoll(line.substr(10));
        }
    }
};

Child spawnWriter(const std::string& format, const fs::path& target, std::int64_t first) {
    int fds[2];
    if (::pipe(fds) != 0) return {};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    const std::string firstText = std::to_string(first);
    const std::string targetText = target.string();
    std::vector<char*> argv = {const_cast<char*>(CKPT_CRASH_WRITER), const_cast<char*>(format.c_str()),
                               const_cast<char*>(targetText.c_str()),
                               const_cast<char*>(firstText.c_str()), nullptr};
    Child child;
    if (posix_spawn(&child.pid, CKPT_CRASH_WRITER, &actions, nullptr, argv.data(), environ) != 0) {
        child.pid = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    child.out = fds[0];
    ::fcntl(child.out, F_SETFL, O_NONBLOCK);
    return child;
}

// For a run directory: every step listed is complete, opens, and holds version == its step.
// Returns what is wrong, or an empty string.
QString checkEveryStep(const fs::path& run, const Checkpoint& latest) {
    if (latest.steps.empty()) return QStringLiteral("the run lists no step");
    for (const StepEntry& entry : latest.steps) {
        if (!entry.complete) continue;  // an unfinished save, listed as such, is not a step
        OpenOptions options;
        options.step = entry.step;
        auto opened = openCheckpoint(run, options);
        if (!opened.isOk()) {
            return QStringLiteral("step %1 does not open: %2")
                .arg(QString::fromStdString(entry.step))
                .arg(QString::fromStdString(opened.status().toString()));
        }
        const auto version = test::crashVersion(opened->tree);
        if (!version || std::to_string(*version) != entry.step) {
            return QStringLiteral("step %1 is torn or holds another version")
                .arg(QString::fromStdString(entry.step));
        }
    }
    return {};
}

}  // namespace

class TestCrashConsistency : public QObject {
    Q_OBJECT

private slots:
    void killedWriterNeverTearsOrLoses_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("name");
        QTest::newRow("orbax") << "orbax" << "ckpt";
        QTest::newRow("flax") << "flax" << "ckpt.msgpack";
        QTest::newRow("hdf5") << "hdf5" << "ckpt.h5";
        QTest::newRow("safetensors") << "safetensors" << "ckpt.safetensors";
        QTest::newRow("npz") << "npz" << "ckpt.npz";
        // Run directories: step N holds version N; each write also deletes all but 2 steps.
        QTest::newRow("flax run directory") << "flax-steps" << "run";
        QTest::newRow("orbax run directory") << "orbax-steps" << "run";
    }

    void killedWriterNeverTearsOrLoses() {
        QFETCH(QString, format);
        QFETCH(QString, name);
        test::TempDir dir;
        const fs::path target = dir.path() / name.toStdString();
        // Version 0, complete, is what every trial starts from.
        const bool steps = format.endsWith("-steps");
        const std::string writeFormat =
            steps ? format.chopped(6).toStdString() : format.toStdString();
        WriteOptions first;
        if (steps) first.step = "0";
        CKPT_VERIFY_OK(writeCheckpoint(test::crashTree(0), target, writeFormat, first));

        // Calibration: how long until a child's first commit, and between commits.
        using Clock = std::chrono::steady_clock;
        Child probe = spawnWriter(format.toStdString(), target, 1);
        QVERIFY(probe.pid > 0);
        const auto started = Clock::now();
        while (probe.lastCommitted < 3 && Clock::now() - started < std::chrono::seconds(60)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            probe.drain();
        }
        const auto window = Clock::now() - started;
        ::kill(probe.pid, SIGKILL);
        ::waitpid(probe.pid, nullptr, 0);
        probe.drain();
        ::close(probe.out);
        QVERIFY2(probe.lastCommitted >= 3, "the writer did not commit three versions in 60 s");
        auto version = test::crashVersion(openCheckpoint(target)->tree);
        QVERIFY(version && (*version == probe.lastCommitted || *version == probe.lastCommitted + 1));
        std::int64_t current = *version;

        // The trials: kill anywhere in [0, the time of startup plus three writes].
        std::mt19937_64 rng(0xC0FFEEu + static_cast<unsigned>(qHash(format)));
        const auto maxDelay = std::chrono::duration_cast<std::chrono::microseconds>(window);
        std::uniform_int_distribution<std::int64_t> delay(0, maxDelay.count());
        const int n = trials();
        int caughtMidWrite = 0;
        int stepsChecked = 0;
        for (int trial = 0; trial < n; ++trial) {
            Child child = spawnWriter(format.toStdString(), target, current + 1);
            QVERIFY(child.pid > 0);
            std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
            ::kill(child.pid, SIGKILL);
            int status = 0;
            ::waitpid(child.pid, &status, 0);
            child.drain();
            ::close(child.out);
            QVERIFY2(WIFSIGNALED(status),
                     qPrintable(QStringLiteral("trial %1: the writer exited by itself").arg(trial)));
            const std::int64_t committed = std::max(child.lastCommitted, current);
            auto opened = openCheckpoint(target);
            if (!opened.isOk()) {
                QFAIL(qPrintable(QStringLiteral("trial %1: the target does not open: %2")
                                     .arg(trial)
                                     .arg(QString::fromStdString(opened.status().toString()))));
            }
            version = test::crashVersion(opened->tree);
            if (!version) QFAIL(qPrintable(QStringLiteral("trial %1: torn checkpoint").arg(trial)));
            if (steps) {
                // Every step the run lists is complete and holds its own version.
                const QString bad = checkEveryStep(target, *opened);
                if (!bad.isEmpty()) QFAIL(qPrintable(QStringLiteral("trial %1: %2").arg(trial).arg(bad)));
                ++stepsChecked;
            }
            if (*version != committed && *version != committed + 1) {
                QFAIL(qPrintable(QStringLiteral("trial %1: version %2, expected %3 or %4")
                                     .arg(trial)
                                     .arg(*version)
                                     .arg(committed)
                                     .arg(committed + 1)));
            }
            if (*version == committed + 1 || child.lastCommitted < current + 1) ++caughtMidWrite;
            current = *version;
        }
        // Whatever the kills left beside the target (temporary files or directories).
        std::size_t leftovers = 0;
        for (const auto& entry : fs::directory_iterator(dir.path())) {
            if (entry.path() != target) ++leftovers;
        }
        qInfo("%s: %d kills, every one left version N or N+1 intact (%d before any commit of "
              "that run or just after one); %zu leftovers beside the target",
              qPrintable(format), n, caughtMidWrite, leftovers);
        if (steps) qInfo("%s: every listed step checked after each of %d kills", qPrintable(format), stepsChecked);
        // A normal write after all that still works and replaces the target.
        WriteOptions options;
        if (steps) {
            options.step = std::to_string(current + 1);
            options.keep = 2;
        } else {
            options.overwrite = true;
        }
        CKPT_VERIFY_OK(writeCheckpoint(test::crashTree(current + 1), target, writeFormat, options));
        auto last = openCheckpoint(target);
        CKPT_VERIFY_OK(last);
        QCOMPARE(test::crashVersion(last->tree), std::optional<std::int64_t>(current + 1));
        if (steps) {
            // Retention caught up: the newest 2 steps, every one complete, nothing half-written
            // left inside the run directory.
            QVERIFY2(checkEveryStep(target, *last).isEmpty(), qPrintable(checkEveryStep(target, *last)));
            QStringList names;
            for (const StepEntry& e : last->steps)
                names << QString::fromStdString(e.name) + (e.complete ? "" : " (unfinished)");
            QVERIFY2(last->steps.size() == 2, qPrintable(names.join(", ")));
        }
        // At most the last kill's temporary was left, and the write above removed it.
        QVERIFY(leftovers <= 1);
        for (const auto& entry : fs::directory_iterator(dir.path())) {
            QVERIFY2(entry.path() == target, entry.path().string().c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestCrashConsistency)
#include "tst_crash_consistency.moc"
