// The HDF5 reader's crash isolation (hdf5_isolation.h): a walk that crashes, aborts or hangs in
// the probe child becomes a Corruption error naming the file and the key path it was at; the
// calling process survives. And the damaged file that crashes libhdf5 1.10.8 itself
// (tests/fuzz/libhdf5-known/) opens to such an error instead of killing the process.
#include <QTest>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/format.h"
#include "formats/hdf5/hdf5_isolation.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (m_old) {
            ::setenv(m_name, m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
    std::optional<std::string> m_old;
};

bool contains(const Status& s, const std::string& text) {
    return s.message().find(text) != std::string::npos;
}

// Under AddressSanitizer an allocation past the child's limit ends the child in the sanitizer's
// out-of-memory report, not in a failed malloc: the error then says the child failed.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizedAllocator = true;
#else
constexpr bool kSanitizedAllocator = false;
#endif

// Peak resident memory of this process (not its children), in bytes.
std::uint64_t peakRssBytes() {
    rusage r{};
    ::getrusage(RUSAGE_SELF, &r);
    return static_cast<std::uint64_t>(r.ru_maxrss) * 1024;
}

}  // namespace

class TestHdf5Isolation : public QObject {
    Q_OBJECT
private slots:
    void aWalkThatFinishesLetsTheCallerGoOn() {
        CKPT_VERIFY_OK(hdf5::checkInChildProcess("f.h5", [] {}));
        // Even a walk that fails cleanly: the caller then sees the same failure itself.
        CKPT_VERIFY_OK(hdf5::checkInChildProcess("f.h5", [] { (void)openCheckpoint("/no/such"); }));
    }

    void aCrashNamesTheFileTheSignalAndTheKeyPath() {
        const Status s = hdf5::checkInChildProcess("/data/damaged.h5", [] {
            hdf5::noteProgress({"params", "dense", "kernel"});
            ::raise(SIGSEGV);
        });
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, "'/data/damaged.h5'") && contains(s, "crashed (SIGSEGV)") &&
                     contains(s, "key path 'params/dense/kernel'"),
                 s.toString().c_str());
    }

    void anAbortOrAnExitCountsAsACrash() {
        const Status aborted = hdf5::checkInChildProcess("a.h5", [] { std::abort(); });
        QVERIFY2(contains(aborted, "crashed (SIGABRT)") && contains(aborted, "superblock"),
                 aborted.toString().c_str());
        const Status exited = hdf5::checkInChildProcess("b.h5", [] { ::_exit(1); });
        QVERIFY2(contains(exited, "failed fatally (exit status 1)"), exited.toString().c_str());
    }

    void aHangIsKilledAtTheTimeLimit() {
        ScopedEnv limit("CKPT_HDF5_OPEN_TIMEOUT", "1");
        const auto started = std::chrono::steady_clock::now();
        const Status s = hdf5::checkInChildProcess("slow.h5", [] {
            hdf5::noteProgress({"opt_state"});
            for (;;) ::pause();
        });
        const auto took = std::chrono::steady_clock::now() - started;
        QVERIFY2(contains(s, "within 1 s") && contains(s, "'opt_state'") &&
                     contains(s, "CKPT_HDF5_OPEN_TIMEOUT"),
                 s.toString().c_str());
        QVERIFY(took < std::chrono::seconds(30));
    }

    void aHangingChildDiesWithItsParent() {
        // A process killed while its probe child spins in libhdf5 must not leave the child
        // running (it would spin forever: seen when libFuzzer killed a parent on its timeout).
        int fds[2];
        QVERIFY(::pipe(fds) == 0);
        const pid_t middle = ::fork();
        if (middle == 0) {
            ::close(fds[0]);
            (void)hdf5::checkInChildProcess("hang.h5", [fd = fds[1]] {
                const pid_t me = ::getpid();
                (void)!::write(fd, &me, sizeof me);
                for (;;) ::pause();
            });
            ::_exit(0);
        }
        ::close(fds[1]);
        pid_t probe = -1;
        QCOMPARE(::read(fds[0], &probe, sizeof probe), static_cast<ssize_t>(sizeof probe));
        ::close(fds[0]);
        QVERIFY(probe > 0 && ::kill(probe, 0) == 0);  // the probe child runs
        ::kill(middle, SIGKILL);
        ::waitpid(middle, nullptr, 0);
        // The probe child was reparented; it must be gone within a few seconds.
        bool gone = false;
        for (int i = 0; i < 200 && !gone; ++i) {
            gone = ::kill(probe, 0) != 0;
            if (!gone) ::usleep(20000);
        }
        if (!gone) ::kill(probe, SIGKILL);
        QVERIFY(gone);
    }

    void theChildsMemoryIsBounded() {
        ScopedEnv budget("CKPT_HDF5_OPEN_MEMORY", "64M");
        // Within the budget: the walk finishes and the caller goes on.
        CKPT_VERIFY_OK(hdf5::checkInChildProcess("small.h5", [] {
            std::vector<char> v(16 << 20, 'x');
            if (v.back() != 'x') std::abort();
        }));
        // Past it: an error naming the file, the limit and where the walk was; never the
        // allocation in this process.
        const Status s = hdf5::checkInChildProcess("/data/huge.h5", [] {
            hdf5::noteProgress({"config", "model"});
            std::vector<char> v(256 << 20, 'x');
            if (v.back() != 'x') std::abort();
        });
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, "'/data/huge.h5'") && contains(s, "key path 'config/model'"),
                 s.toString().c_str());
        if (!kSanitizedAllocator) {
            QVERIFY2(contains(s, "needed more than 64 MiB of memory") &&
                         contains(s, "CKPT_HDF5_OPEN_MEMORY"),
                     s.toString().c_str());
        }
    }

    void anInvalidMemoryBudgetIsAnError() {
        ScopedEnv budget("CKPT_HDF5_OPEN_MEMORY", "lots");
        bool ran = false;
        const Status s = hdf5::checkInChildProcess("x.h5", [&ran] { ran = true; });
        QCOMPARE(s.code(), StatusCode::kInvalidArgument);
        QVERIFY2(contains(s, "CKPT_HDF5_OPEN_MEMORY='lots' is not a byte count"),
                 s.toString().c_str());
        QVERIFY(!ran);
    }

    void isolationOffRunsNothingInAChild() {
        ScopedEnv off("CKPT_HDF5_ISOLATION", "0");
        QVERIFY(!hdf5::isolationEnabled());
        // The crashing walk is not run at all (here it would kill the test).
        CKPT_VERIFY_OK(hdf5::checkInChildProcess("x.h5", [] { ::raise(SIGSEGV); }));
    }

    void theFileThatCrashesLibhdf5OpensToAnError() {
        // A variable-length string attribute whose global-heap object length is damaged:
        // libhdf5 1.10.8 copies ~738 MB out of a 4 KiB heap collection (H5HG_read).
        const fs::path file = knownFile("h5hg-read-vlen-attribute.h5");
        QVERIFY2(fs::exists(file), file.c_str());
        auto opened = openCheckpoint(file);
        QVERIFY(!opened.isOk());
        const Status& s = opened.status();
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, file.string()) && contains(s, "libhdf5") &&
                     contains(s, "key path 'config/layers'"),
                 s.toString().c_str());
        // Opened again (the process is unharmed): the same answer.
        QCOMPARE(openCheckpoint(file).status().message(), s.message());
    }

    void theFileThatHangsLibhdf5OpensToAnError() {
        // Found by fuzz_open_hdf5: reading the variable-length string attribute of 'step' never
        // returns (H5HG_read -> H5AC_protect, spinning).
        ScopedEnv limit("CKPT_HDF5_OPEN_TIMEOUT", "2");
        const fs::path file = knownFile("h5hg-read-vlen-hang.h5");
        QVERIFY2(fs::exists(file), file.c_str());
        const Status s = openCheckpoint(file).status();
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, file.string()) && contains(s, "within 2 s") &&
                     contains(s, "key path 'step'"),
                 s.toString().c_str());
    }

    void theFileThatMakesLibhdf5AllocateGigabytesOpensToAnError() {
        // Found by fuzz_open_hdf5 (out of memory at 2 GiB): the stored length of the
        // variable-length string config/model is damaged, and H5Dread -> H5T__conv_vlen
        // allocated 2.7 GB for this 32 KiB file. The probe child reaches its memory limit, and
        // this process never makes the allocation.
        const fs::path file = knownFile("h5t-conv-vlen-huge-length.h5");
        QVERIFY2(fs::exists(file), file.c_str());
        const Status s = openCheckpoint(file).status();
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, file.string()) && contains(s, "libhdf5") &&
                     contains(s, "key path 'config/model'"),
                 s.toString().c_str());
        if (!kSanitizedAllocator) {
            QVERIFY2(contains(s, "needed more than 1 GiB of memory"), s.toString().c_str());
        }
        QVERIFY2(peakRssBytes() < (1ULL << 30), std::to_string(peakRssBytes()).c_str());
    }

    void aCompactDatasetHoldingTooFewBytesIsAnErrorNotACrash() {
        // Found by fuzz_open_hdf5 (ASan: SEGV reading address 0 in H5VM_memcpyvv under
        // H5D__select_read): config/layers/0 is a compact int64 scalar whose stored size is 0,
        // and libhdf5 copied its 8 bytes from a null buffer. A data read runs in this process,
        // after the probe child; the reader now checks the stored size when it opens the file.
        const fs::path file = knownFile("compact-storage-short.h5");
        QVERIFY2(fs::exists(file), file.c_str());
        auto opened = openCheckpoint(file);
        CKPT_VERIFY_OK(opened);
        const NodePtr leaf = opened->tree->findChild("config")->findChild("layers")->child(0);
        QVERIFY(leaf && leaf->kind() == NodeKind::kNone);
        std::string error;
        for (const auto& [key, value] : leaf->attributes()) {
            if (key == "error") error = value;
        }
        QVERIFY2(error.find("'config/layers/0'") != std::string::npos &&
                     error.find("compact storage holds 0 bytes, but its shape and dtype need 8") !=
                         std::string::npos,
                 error.c_str());
        bool warned = false;
        for (const std::string& w : opened->warnings) warned = warned || w == error;
        QVERIFY(warned);
    }

    void aChunkThatDecodesShortIsAnErrorNotAnOverRead() {
        // Found by fuzz_open_hdf5 (ASan: heap-buffer-overflow in H5VM_memcpyvv under H5Dread):
        // the chunk dimensions of params/Dense_0/kernel were damaged to hold 100 bytes while its
        // zstd data decodes to 60, and libhdf5 copied a whole chunk out of the short buffer. The
        // zstd filter now insists on the chunk's size.
        const fs::path file = knownFile("chunk-decodes-short.h5");
        QVERIFY2(fs::exists(file), file.c_str());
        auto opened = openCheckpoint(file);
        CKPT_VERIFY_OK(opened);
        const NodePtr kernel = opened->tree->findChild("params")->findChild("Dense_0")->findChild(
            "kernel");
        QVERIFY(kernel && kernel->array());
        const Status s = kernel->array()->readAll().status();
        QCOMPARE(s.code(), StatusCode::kCorruption);
        QVERIFY2(contains(s, file.string()) && contains(s, "'params/Dense_0/kernel'") &&
                     contains(s, "decoded to 60 bytes, but its chunk holds 100"),
                 s.toString().c_str());
        // Its neighbours, intact, still read.
        CKPT_VERIFY_OK(opened->tree->findChild("params")->findChild("Dense_0")->findChild("bias")
                           ->array()->readAll());
    }

private:
    static fs::path knownFile(const char* name) {
        return (fs::path(qgetenv("CKPT_TEST_DATA").toStdString()) / ".." / "fuzz" /
                "libhdf5-known" / name)
            .lexically_normal();
    }
};

QTEST_GUILESS_MAIN(TestHdf5Isolation)
#include "tst_hdf5_isolation.moc"
