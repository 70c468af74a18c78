// Corruption sweeps (issue 11): every file of a checkpoint in every format, truncated at many
// lengths and with single bytes flipped at many offsets, is opened and every leaf read in full
// (and streamed through computeStats). Each damaged copy must give a correct read or a clear
// error — never a crash, a hang or an allocation beyond the read limit (run under the asan/ci
// presets, ASan/UBSan turn those into failures). An error must name a path inside the checkpoint.
//
// Fixtures: checkpoints written by the engine in each format (Orbax OCDBT and plain zarr, Flax
// msgpack, HDF5, safetensors, npz) and the real Orbax fixtures under ../shared/fixtures (when
// present). Small files are swept at every offset; larger ones at kSamples evenly spaced offsets
// plus their first and last bytes, so the suite stays within a minute or two under ASan.
#include <QTest>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"
#include "ckpt/core/stats.h"
#include "ckpt/core/tree.h"
#include "tests/test_util.h"

using namespace ckpt;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kSweepAllBelow = 512;  // files this small: every offset
constexpr std::size_t kSamples = 96;         // larger files: this many offsets, plus the ends
constexpr std::size_t kEdge = 24;            // ... and this many bytes at each end
constexpr std::size_t kFixturesSwept = 3;    // of the shared Orbax fixtures

std::string readBytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeBytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::size_t> offsets(std::size_t size) {
    std::set<std::size_t> out;
    if (size <= kSweepAllBelow) {
        for (std::size_t i = 0; i < size; ++i) out.insert(i);
    } else {
        for (std::size_t i = 0; i < kEdge; ++i) {
            out.insert(i);
            out.insert(size - 1 - i);
        }
        for (std::size_t i = 0; i < kSamples; ++i) out.insert(i * (size - 1) / (kSamples - 1));
    }
    return {out.begin(), out.end()};
}

std::vector<fs::path> filesUnder(const fs::path& root) {
    std::vector<fs::path> files;
    if (fs::is_regular_file(root)) return {root};
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

struct Outcome {
    std::size_t cases = 0;
    std::size_t ok = 0;
    std::size_t errors = 0;
    std::vector<std::string> unnamed;  // errors that name no path of the checkpoint
};

// Opens `root` and reads everything; returns the first error (or OK).
Status exercise(const fs::path& root) {
    auto opened = openCheckpoint(root);
    if (!opened.isOk()) return opened.status();
    Status first = okStatus();
    walkTree(opened->tree, [&](const KeyPath&, const Node& node) {
        if (!first.isOk()) return false;
        if (node.kind() == NodeKind::kArray) {
            const ArraySource& source = *node.array();
            auto all = source.readAll();
            if (!all.isOk()) {
                first = all.status();
                return false;
            }
            auto stats = computeStats(source);
            if (!stats.isOk()) first = stats.status();
        } else if (node.kind() == NodeKind::kScalar) {
            auto value = node.loadScalar();
            if (!value.isOk()) first = value.status();
        }
        return true;
    });
    return first;
}

void sweep(const fs::path& original, const fs::path& work, Outcome& outcome) {
    std::error_code ec;
    fs::remove_all(work, ec);
    fs::create_directories(work.parent_path());
    fs::copy(original, work, fs::copy_options::recursive);
    // The undamaged copy reads.
    const Status clean = exercise(work);
    if (!clean.isOk()) QFAIL(("the undamaged fixture fails: " + clean.toString()).c_str());
    const std::string name = work.filename().string();
    const auto check = [&](const Status& status, const std::string& what) {
        ++outcome.cases;
        if (status.isOk()) {
            ++outcome.ok;
            return;
        }
        ++outcome.errors;
        if (status.message().find(name) == std::string::npos) {
            outcome.unnamed.push_back(what + ": " + status.toString());
        }
    };
    for (const fs::path& file : filesUnder(work)) {
        const std::string bytes = readBytes(file);
        const std::string rel = fs::relative(file, work.parent_path()).string();
        for (const std::size_t length : offsets(bytes.size())) {
            writeBytes(file, bytes.substr(0, length));
            check(exercise(work), rel + " truncated to " + std::to_string(length));
        }
        for (const std::size_t at : offsets(bytes.size())) {
            std::string flipped = bytes;
            flipped[at] = static_cast<char>(~static_cast<unsigned char>(flipped[at]));
            writeBytes(file, flipped);
            check(exercise(work), rel + " byte " + std::to_string(at) + " flipped");
        }
        writeBytes(file, bytes);
    }
}

NodePtr floats(Shape shape, float scale) {
    Array a = Array::allocate(DType::kFloat32, shape).value();
    for (std::uint64_t i = 0; i < a.elementCount(); ++i) {
        const float v = scale * static_cast<float>(i % 97) - 3.0F;
        std::memcpy(a.bytes().data() + i * 4, &v, 4);
    }
    return Node::makeArray(makeMemorySource(std::move(a)));
}

NodePtr ints(Shape shape) {
    Array a = Array::allocate(DType::kInt32, shape).value();
    for (std::uint64_t i = 0; i < a.elementCount(); ++i) {
        const auto v = static_cast<std::int32_t>(i * 7);
        std::memcpy(a.bytes().data() + i * 4, &v, 4);
    }
    return Node::makeArray(makeMemorySource(std::move(a)));
}

// Arrays only, so that every format can hold it.
NodePtr sampleTree() {
    return Node::makeDict({
        {"params", Node::makeDict({{"dense", Node::makeDict({{"kernel", floats({16, 8}, 0.5F)},
                                                             {"bias", floats({8}, 0.1F)}})},
                                   {"embed", floats({4, 4, 2}, 2.0F)}})},
        {"step", ints({})},
        {"counts", ints({5})},
    });
}

}  // namespace

class TestCorruptionSweep : public QObject {
    Q_OBJECT

private slots:
    void sweep_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("fileName");
        QTest::newRow("flax") << "flax" << "ckpt.msgpack";
        QTest::newRow("orbax") << "orbax" << "ckpt_orbax";
        QTest::newRow("hdf5") << "hdf5" << "ckpt.h5";
        QTest::newRow("safetensors") << "safetensors" << "ckpt.safetensors";
        QTest::newRow("npz") << "npz" << "ckpt.npz";
    }

    void sweep() {
        QFETCH(QString, format);
        QFETCH(QString, fileName);
        const fs::path original = m_dir.path() / "original" / fileName.toStdString();
        fs::create_directories(original.parent_path());
        CKPT_VERIFY_OK(writeCheckpoint(sampleTree(), original, format.toStdString()));
        Outcome outcome;
        ::sweep(original, m_dir.path() / "work" / fileName.toStdString(), outcome);
        report(outcome);
    }

    void realOrbaxFixtures() {
        const QByteArray shared = qgetenv("CKPT_SHARED_FIXTURES");
        const fs::path root = fs::path(shared.toStdString()) / "orbax-compat";
        if (shared.isEmpty() || !fs::exists(root)) QSKIP("no shared fixtures");
        // One checkpoint of each layout the fixtures hold, found by their _METADATA files.
        std::vector<fs::path> checkpoints;
        for (const auto& entry : fs::recursive_directory_iterator(root)) {
            if (entry.path().filename() == "_METADATA") checkpoints.push_back(entry.path().parent_path());
        }
        std::sort(checkpoints.begin(), checkpoints.end());
        // The ones that open undamaged (some fixtures are deliberately broken), a few spread
        // over the list: each takes seconds under ASan.
        std::vector<fs::path> readable;
        for (const fs::path& checkpoint : checkpoints) {
            if (exercise(checkpoint).isOk()) readable.push_back(checkpoint);
        }
        QVERIFY(!readable.empty());
        Outcome outcome;
        for (std::size_t i = 0; i < kFixturesSwept; ++i) {
            const fs::path& checkpoint = readable[i * (readable.size() - 1) / (kFixturesSwept - 1)];
            qInfo("sweeping %s", checkpoint.string().c_str());
            ::sweep(checkpoint, m_dir.path() / "fixture" / ("fixture_" + std::to_string(i)),
                    outcome);
        }
        report(outcome);
    }

private:
    static void report(const Outcome& outcome) {
        qInfo("%zu damaged copies: %zu read, %zu clear errors", outcome.cases, outcome.ok,
              outcome.errors);
        for (const std::string& line : outcome.unnamed) qWarning("unnamed: %s", line.c_str());
        QVERIFY2(outcome.unnamed.empty(),
                 (std::to_string(outcome.unnamed.size()) +
                  " errors do not name a path of the checkpoint; first: " +
                  (outcome.unnamed.empty() ? std::string() : outcome.unnamed.front()))
                     .c_str());
    }

    test::TempDir m_dir;
};

QTEST_MAIN(TestCorruptionSweep)
#include "tst_corruption_sweep.moc"
