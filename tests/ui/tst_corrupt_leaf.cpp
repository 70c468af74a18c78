// A leaf whose data is corrupt or missing shows a clear error in its preview; the rest of the
// tree keeps working. Checkpoints are damaged in a QTemporaryDir and opened in a MainWindow:
//  - Orbax written by our writer with one directory per array (zarr v2 and v3): a missing array
//    directory, missing array metadata (.zarray / zarr.json), a chunk overwritten with garbage;
//  - Orbax in OCDBT written by our writer (values over 1 KiB live out of line in the data file,
//    before the B+tree): the bytes of one array's value overwritten;
//  - the real orbax-checkpoint fixtures ($CKPT_SHARED_FIXTURES/orbax-compat): their values are
//    inline in the one B+tree node, so truncating its data file makes the whole checkpoint
//    unreadable, which must be a clear open error naming the file.
// A zarr chunk that is simply missing is not damage: zarr reads it as the fill value.
#include <QDir>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "previews/array_preview.h"
#include "views/main_window.h"

using ckpt::ui::ArrayPreview;
using ckpt::ui::MainWindow;
namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutMs = 20'000;

fs::path fixtures() {
    const char* dir = std::getenv("CKPT_SHARED_FIXTURES");
    return dir ? fs::path(dir) / "orbax-compat" : fs::path();
}

// Copies `from` to `to` and makes the copy writable (the shared fixtures are read-only).
void copyWritable(const fs::path& from, const fs::path& to) {
    fs::copy(from, to, fs::copy_options::recursive);
    fs::permissions(to, fs::perms::owner_all, fs::perm_options::add);
    for (const auto& entry : fs::recursive_directory_iterator(to)) {
        fs::permissions(entry.path(),
                        fs::perms::owner_read | fs::perms::owner_write |
                            (entry.is_directory() ? fs::perms::owner_exec : fs::perms::none),
                        fs::perm_options::add);
    }
}

ckpt::NodePtr floatArray(ckpt::Shape shape, float (*value)(std::uint64_t)) {
    auto array = ckpt::Array::allocate(ckpt::DType::kFloat32, std::move(shape)).value();
    auto* out = reinterpret_cast<float*>(array.bytes().data());
    for (std::uint64_t i = 0; i < array.elementCount(); ++i) out[i] = value(i);
    return ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(array)));
}

// {"big": float32[64, 64] of noise (16 KiB, does not compress below OCDBT's 1 KiB inline limit),
//  "small": int32[3] = [1, 2, 3], "nested": {"w": float32[8] = 0..7}}.
ckpt::NodePtr testTree() {
    auto small = ckpt::Array::allocate(ckpt::DType::kInt32, {3}).value();
    const std::int32_t values[3] = {1, 2, 3};
    std::memcpy(small.bytes().data(), values, sizeof values);
    return ckpt::Node::makeDict({
        {"big", floatArray({64, 64},
                           [](std::uint64_t i) {
                               std::uint64_t x =
                                   (i + 1) * 6364136223846793005ULL + 1442695040888963407ULL;
                               x ^= x >> 29;
                               return static_cast<float>(x % 100000) / 1000.0f;
                           })},
        {"small", ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(small)))},
        {"nested",
         ckpt::Node::makeDict({{"w", floatArray({8}, [](std::uint64_t i) { return float(i); })}})},
    });
}

// Opens `path` and waits; true when it opened. `error` gets the message when it did not.
bool openAndWait(MainWindow& window, const fs::path& path, QString* error = nullptr) {
    QSignalSpy opened(&window, &MainWindow::checkpointOpened);
    QSignalSpy failed(&window, &MainWindow::errorOccurred);
    if (!window.openPath(QString::fromStdString(path.string()))) return false;
    if (!QTest::qWaitFor([&] { return !opened.isEmpty() || !failed.isEmpty(); }, kTimeoutMs)) {
        return false;
    }
    if (!failed.isEmpty() && error) *error = failed.first().first().toString();
    return !opened.isEmpty();
}

// Selects `path` and waits until its statistics are done (or, for a leaf that could not be
// opened at all, until the preview shows its error at once).
bool selectAndWait(MainWindow& window, const ckpt::KeyPath& path) {
    ArrayPreview* preview = window.arrayPreview();
    QSignalSpy finished(preview, &ArrayPreview::statisticsFinished);
    if (!window.selectKeyPath(path)) return false;
    return QTest::qWaitFor(
        [&] {
            return !finished.isEmpty() || (!preview->isBusy() && !preview->errorText().isEmpty());
        },
        kTimeoutMs);
}

// The number after "label: " in the Statistics text, or NaN.
double statistic(const ArrayPreview& preview, const QString& label) {
    const QStringList lines = preview.statisticsText().split(QLatin1Char('\n'));
    for (const QString& line : lines) {
        if (line.startsWith(label + QStringLiteral(": "))) {
            bool ok = false;
            const double v = line.mid(label.size() + 2).toDouble(&ok);
            if (ok) return v;
        }
    }
    return std::nan("");
}

// The healthy leaves of testTree() preview with the right statistics.
void verifyHealthyLeaves(MainWindow& window) {
    ArrayPreview* preview = window.arrayPreview();
    QVERIFY(selectAndWait(window, {"small"}));
    QVERIFY2(preview->errorText().isEmpty(), qPrintable(preview->errorText()));
    QCOMPARE(statistic(*preview, "Elements"), 3.0);
    QCOMPARE(statistic(*preview, "Min"), 1.0);
    QCOMPARE(statistic(*preview, "Max"), 3.0);
    QCOMPARE(statistic(*preview, "Mean"), 2.0);
    QVERIFY(selectAndWait(window, {"nested", "w"}));
    QVERIFY2(preview->errorText().isEmpty(), qPrintable(preview->errorText()));
    QCOMPARE(statistic(*preview, "Elements"), 8.0);
    QCOMPARE(statistic(*preview, "Min"), 0.0);
    QCOMPARE(statistic(*preview, "Max"), 7.0);
    QCOMPARE(statistic(*preview, "Mean"), 3.5);
}

// Selecting "big" shows an error naming the leaf and containing `problem` (case-insensitive).
void verifyBigShowsError(MainWindow& window, const QStringList& problems) {
    ArrayPreview* preview = window.arrayPreview();
    QVERIFY(selectAndWait(window, {"big"}));
    const QString error = preview->errorText();
    QVERIFY2(!error.isEmpty(), qPrintable(preview->statisticsText()));
    QVERIFY2(error.contains(QStringLiteral("'big'")), qPrintable(error));
    bool named = false;
    for (const QString& problem : problems)
        named = named || error.contains(problem, Qt::CaseInsensitive);
    QVERIFY2(named, qPrintable(QStringLiteral("%1\n(expected one of: %2)")
                                   .arg(error, problems.join(QStringLiteral(", ")))));
}

// The directory of the array "big" in a directory-per-array Orbax item.
fs::path bigDir(const fs::path& item) {
    return item / "big";
}

}  // namespace

class TestCorruptLeaf : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        if (!std::getenv("CKPT_SHARED_FIXTURES")) {
            QFAIL("CKPT_SHARED_FIXTURES is not set (CTest sets it to ../shared/fixtures)");
        }
        QVERIFY2(fs::is_directory(fixtures()), fixtures().string().c_str());
    }

    void directoryPerArray_data() {
        QTest::addColumn<int>("zarrVersion");
        QTest::addColumn<QString>("damage");
        for (int version : {2, 3}) {
            for (const char* damage : {"missing-array-dir", "missing-metadata", "garbage-chunk"}) {
                QTest::addRow("zarr v%d, %s", version, damage) << version << QString(damage);
            }
        }
    }

    void directoryPerArray() {
        QFETCH(int, zarrVersion);
        QFETCH(QString, damage);
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const fs::path dir = fs::path(tmp.path().toStdString()) / "ckpt";
        ckpt::WriteOptions options;
        options.orbaxOcdbt = false;
        options.orbaxZarrVersion = zarrVersion;
        const ckpt::Status written = ckpt::writeCheckpoint(testTree(), dir, "orbax", options);
        QVERIFY2(written.isOk(), written.toString().c_str());
        QVERIFY2(fs::is_directory(bigDir(dir)), bigDir(dir).string().c_str());

        QStringList problems;
        if (damage == "missing-array-dir") {
            fs::remove_all(bigDir(dir));
            problems = {"not found", "missing", "no such"};
        } else if (damage == "missing-metadata") {
            QVERIFY(fs::remove(bigDir(dir) / (zarrVersion == 2 ? ".zarray" : "zarr.json")));
            problems = {"not found", "missing", "no such"};
        } else {
            int chunks = 0;
            for (const auto& entry : fs::recursive_directory_iterator(bigDir(dir))) {
                const std::string name = entry.path().filename().string();
                if (!entry.is_regular_file() || name == ".zarray" || name == ".zattrs" ||
                    name == "zarr.json") {
                    continue;
                }
                std::ofstream(entry.path(), std::ios::binary | std::ios::trunc)
                    << std::string(37, '\xAB');
                ++chunks;
            }
            QVERIFY(chunks > 0);
            problems = {"corrupt", "zstd", "decod", "decompress", "size", "bytes"};
        }

        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QString openError;
        QVERIFY2(openAndWait(window, dir, &openError), qPrintable(openError));
        verifyBigShowsError(window, problems);
        verifyHealthyLeaves(window);
        // Back to the damaged leaf and away again: nothing sticks.
        verifyBigShowsError(window, problems);
        QVERIFY(selectAndWait(window, {"small"}));
        QVERIFY(window.arrayPreview()->errorText().isEmpty());
    }

    void ocdbtValueBytesOverwritten() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const fs::path dir = fs::path(tmp.path().toStdString()) / "ckpt";
        ckpt::WriteOptions options;  // OCDBT, zarr v3
        const ckpt::Status written = ckpt::writeCheckpoint(testTree(), dir, "orbax", options);
        QVERIFY2(written.isOk(), written.toString().c_str());
        // Our writer appends the out-of-line values (only the chunk of "big" exceeds the 1 KiB
        // inline limit) to the data file first and the B+tree after them, so the file's first
        // bytes are that chunk. (Truncating the file would cut the B+tree: see the next test.)
        std::vector<fs::path> dataFiles;
        for (const auto& entry : fs::recursive_directory_iterator(dir)) {
            if (entry.is_regular_file() && entry.path().parent_path().filename() == "d") {
                dataFiles.push_back(entry.path());
            }
        }
        QCOMPARE(dataFiles.size(), std::size_t{1});
        QVERIFY(fs::file_size(dataFiles[0]) > 4096);
        {
            std::fstream file(dataFiles[0], std::ios::binary | std::ios::in | std::ios::out);
            QVERIFY(file.is_open());
            file.seekp(0);
            const std::string garbage(64, '\xAB');
            file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
        }

        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QString openError;
        QVERIFY2(openAndWait(window, dir, &openError), qPrintable(openError));
        verifyBigShowsError(window, {"corrupt", "zstd", "checksum", "crc", "decod"});
        verifyHealthyLeaves(window);
    }

    void realFixtureDataFileTruncated() {
        const fs::path source = fixtures() /
                                "v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/"
                                "pytree_checkpointable_has_metadata";
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const fs::path dir = fs::path(tmp.path().toStdString()) / "item";
        copyWritable(source, dir);

        // Undamaged, it reads {'a': 0..7, 'b': {'c': [1, 2, 3]}}.
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QString openError;
            QVERIFY2(openAndWait(window, dir, &openError), qPrintable(openError));
            ArrayPreview* preview = window.arrayPreview();
            QVERIFY(selectAndWait(window, {"a"}));
            QVERIFY2(preview->errorText().isEmpty(), qPrintable(preview->errorText()));
            QCOMPARE(statistic(*preview, "Elements"), 8.0);
            QCOMPARE(statistic(*preview, "Min"), 0.0);
            QCOMPARE(statistic(*preview, "Max"), 7.0);
            QCOMPARE(statistic(*preview, "Mean"), 3.5);
            QVERIFY(selectAndWait(window, {"b", "c"}));
            QCOMPARE(statistic(*preview, "Mean"), 2.0);
        }

        // The merged database's one data file (its B+tree node, values inline) cut short.
        fs::path dataFile;
        for (const auto& entry : fs::directory_iterator(dir / "d")) dataFile = entry.path();
        QVERIFY(!dataFile.empty());
        fs::resize_file(dataFile, 10);
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QString openError;
        QVERIFY(!openAndWait(window, dir, &openError));
        QVERIFY2(openError.contains(QString::fromStdString(dataFile.filename().string())),
                 qPrintable(openError));
        QVERIFY2(openError.contains(QStringLiteral("beyond the end")), qPrintable(openError));
        QVERIFY(window.lastError() == openError || !window.lastError().isEmpty());
    }
};

QTEST_MAIN(TestCorruptLeaf)
#include "tst_corrupt_leaf.moc"
