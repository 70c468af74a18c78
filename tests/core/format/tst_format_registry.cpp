#include <fstream>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

class TestFormatRegistry : public QObject {
    Q_OBJECT
private slots:
    void knowsBuiltinFormats() {
        const auto& r = FormatRegistry::builtin();
        QVERIFY(r.reader("flax"));
        QVERIFY(r.writer("flax"));
        QVERIFY(!r.reader("nope"));
    }
    void detectsFlaxFiles() {
        test::TempDir dir;
        CKPT_VERIFY_OK(writeCheckpoint(makeDemoTrainState(), dir.path() / "x.bin", "flax"));
        auto reader = FormatRegistry::builtin().detect(dir.path() / "x.bin");
        CKPT_VERIFY_OK(reader);
        QCOMPARE((*reader)->name(), std::string_view("flax"));
    }
    void unknownInputsGetClearErrors() {
        test::TempDir dir;
        std::ofstream(dir.path() / "notes.txt") << "hello";
        auto r = openCheckpoint(dir.path() / "notes.txt");
        QCOMPARE(r.status().code(), StatusCode::kUnsupported);
        QVERIFY(r.status().message().find("notes.txt") != std::string::npos);
        CKPT_VERIFY_ERROR(openCheckpoint(dir.path() / "missing"), StatusCode::kNotFound);
        CKPT_VERIFY_ERROR(openCheckpoint(dir.path(), {}, "hdf9"), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(writeCheckpoint(makeDemoTrainState(), dir.path() / "o", "hdf9"),
                          StatusCode::kInvalidArgument);
    }
};

QTEST_GUILESS_MAIN(TestFormatRegistry)
#include "tst_format_registry.moc"
