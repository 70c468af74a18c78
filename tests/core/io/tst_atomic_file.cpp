#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "io/atomic_file.h"
#include "io/mapped_file.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
std::size_t entries(const fs::path& dir) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}
}  // namespace

class TestAtomicFile : public QObject {
    Q_OBJECT
private slots:
    void staleTemporariesOfDeadWritersAreRemoved() {
        ckpt::test::TempDir dir;
        const auto target = dir.path() / "ckpt.msgpack";
        // A process that has exited: its pid names a dead writer.
        const pid_t child = ::fork();
        if (child == 0) ::_exit(0);
        ::waitpid(child, nullptr, 0);
        const std::string prefix = "ckpt.msgpack.ckpt-tmp-";
        // <prefix><pid>-<counter>-<host>; the host may contain '-'.
        const std::string ours = io::temporaryPathFor(target).filename().string().substr(prefix.size());
        const std::string host = ours.substr(ours.find('-', ours.find('-') + 1) + 1);
        const std::vector<std::string> names = {
            prefix + std::to_string(child) + "-0-" + host,     // dead, this host: removed
            prefix + std::to_string(::getpid()) + "-7-" + host,  // this process: kept
            prefix + std::to_string(child) + "-0-otherhost",   // another host: kept
            "ckpt.msgpack.backup",                              // not a temporary: kept
            "other.msgpack.ckpt-tmp-" + std::to_string(child) + "-0-" + host,  // another target
        };
        for (const std::string& name : names) std::ofstream(dir.path() / name) << "x";
        std::filesystem::create_directory(dir.path() / (prefix + std::to_string(child) + "-1-" + host));
        io::removeStaleTemporaries(target);
        QVERIFY(!std::filesystem::exists(dir.path() / names[0]));
        QVERIFY(!std::filesystem::exists(dir.path() / (prefix + std::to_string(child) + "-1-" + host)));
        for (std::size_t i = 1; i < names.size(); ++i) {
            QVERIFY2(std::filesystem::exists(dir.path() / names[i]), names[i].c_str());
        }
    }

    void commitPublishesTheWholeFile() {
        test::TempDir dir;
        const fs::path target = dir.path() / "out.bin";
        auto w = io::AtomicFileWriter::create(target, false);
        CKPT_VERIFY_OK(w);
        CKPT_VERIFY_OK(w->write(std::string_view("hello ")));
        QVERIFY(!fs::exists(target));  // nothing visible before commit
        CKPT_VERIFY_OK(w->write(std::string(3 << 20, 'x')));  // larger than the buffer
        CKPT_VERIFY_OK(w->commit());
        QCOMPARE(fs::file_size(target), std::uintmax_t{6 + (3 << 20)});
        QCOMPARE(entries(dir.path()), std::size_t{1});  // no temp file left
    }
    void abandonedWriteLeavesTargetUntouched() {
        test::TempDir dir;
        const fs::path target = dir.path() / "out.bin";
        std::ofstream(target) << "old";
        {
            auto w = io::AtomicFileWriter::create(target, true);
            CKPT_VERIFY_OK(w);
            CKPT_VERIFY_OK(w->write(std::string_view("new data")));
        }  // destroyed without commit
        QCOMPARE(slurp(target), std::string("old"));
        QCOMPARE(entries(dir.path()), std::size_t{1});
    }
    void refusesToReplaceWithoutOverwrite() {
        test::TempDir dir;
        const fs::path target = dir.path() / "out.bin";
        std::ofstream(target) << "old";
        CKPT_VERIFY_ERROR(io::AtomicFileWriter::create(target, false), StatusCode::kAlreadyExists);
        auto w = io::AtomicFileWriter::create(target, true);
        CKPT_VERIFY_OK(w);
        CKPT_VERIFY_OK(w->write(std::string_view("new")));
        CKPT_VERIFY_OK(w->commit());
        QCOMPARE(slurp(target), std::string("new"));
        CKPT_VERIFY_ERROR(io::AtomicFileWriter::create(dir.path() / "no" / "x", false),
                          StatusCode::kNotFound);
    }
    void mapsFiles() {
        test::TempDir dir;
        std::ofstream(dir.path() / "f") << "abc";
        auto m = io::MappedFile::open(dir.path() / "f");
        CKPT_VERIFY_OK(m);
        QCOMPARE((*m)->bytes().size(), std::size_t{3});
        std::ofstream(dir.path() / "empty");
        auto e = io::MappedFile::open(dir.path() / "empty");
        CKPT_VERIFY_OK(e);
        QCOMPARE((*e)->bytes().size(), std::size_t{0});
        CKPT_VERIFY_ERROR(io::MappedFile::open(dir.path() / "missing"), StatusCode::kNotFound);
        CKPT_VERIFY_ERROR(io::MappedFile::open(dir.path()), StatusCode::kInvalidArgument);
    }
};

QTEST_GUILESS_MAIN(TestAtomicFile)
#include "tst_atomic_file.moc"
