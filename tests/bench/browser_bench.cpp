// browser_bench: the browser's acceptance benchmark (run by hand; not a CTest test).
//
// Measures, against the targets of the browser issue:
//   * open    — openPath() of a 100,000-leaf Orbax checkpoint until checkpointOpened() has been
//               emitted and the tree viewport has painted the first level (target < 0.5 s);
//   * scroll  — the longest GUI-thread stall while the tree is scrolled page by page, expanding
//               the rows that come into view, with occasional scrollbar jumps (target < 50 ms);
//   * heatmap — selecting the 4096 × 4096 plane of a 4 GiB float32 (64, 4096, 4096) array until
//               sliceFinished() and the heatmap has painted (target < 1 s), and the longest stall
//               meanwhile (target < 50 ms); then, for information, until the whole-array
//               statistics the preview computes beside it have finished;
//   * the peak RSS (VmHWM) of each scenario.
//
// The parent process writes the data once into --work DIR (with the engine's Orbax writer, from
// generated ArraySources, so the 4 GiB array never sits in memory), then re-executes itself with
// --measure open|heatmap once per repetition, so each scenario's peak RSS is its own. Before the
// first repetition of each scenario the checkpoint's files are evicted from the page cache with
// posix_fadvise(DONTNEED) (no root needed; a VM host may still cache them), so run 1 is the
// coldest and the others are warm. Children print one "BENCH_RESULT {json}" line.
//
// Threading: everything here runs on the GUI thread; the window under test does its own
// background work on the global thread pool.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QEvent>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QModelIndex>
#include <QPointer>
#include <QProcess>
#include <QScrollBar>
#include <QTabWidget>
#include <QTimer>
#include <QTreeView>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpoint.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "models/tree_model.h"
#include "previews/array_preview.h"
#include "previews/heatmap_widget.h"
#include "views/checkpoint_page.h"
#include "views/main_window.h"

namespace fs = std::filesystem;
using namespace ckpt;

namespace {

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    fs::path work = "/tmp/ckpt-bench";
    bool keep = false;
    int repeat = 3;
    std::string jsonFile;
    std::string measure;  // child mode: "open" or "heatmap"
    bool onscreen = false;
    std::int64_t leaves = 100000;  // multiple of 10
    std::int64_t planes = 64;      // of the big array: (planes, 4096, 4096) float32
    int scrollMs = 3000;
};

void usage() {
    std::fprintf(stderr,
                 "usage: browser_bench [--work DIR] [--keep] [--repeat N] [--json FILE]\n"
                 "                     [--onscreen] [--leaves N] [--planes N] [--scroll-ms MS]\n"
                 "  --work DIR   where the checkpoints are written and reused (/tmp/ckpt-bench)\n"
                 "  --keep       keep the checkpoints afterwards (default: remove them)\n"
                 "  --repeat N   runs per scenario (3); the median, spread and run 1 are shown\n"
                 "  --json FILE  also write the numbers as JSON\n"
                 "  --onscreen   use the default Qt platform instead of offscreen\n"
                 "  --leaves N   leaves of the tree checkpoint (100000, a multiple of 10)\n"
                 "  --planes N   leading dimension of the (N, 4096, 4096) float32 array (64 = 4 "
                 "GiB)\n"
                 "  --scroll-ms MS  how long the tree is scrolled (3000)\n");
}

std::optional<Options> parseOptions(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        std::optional<std::string> v;
        if (a == "--keep") {
            o.keep = true;
        } else if (a == "--onscreen") {
            o.onscreen = true;
        } else if (a == "--work" && (v = next())) {
            o.work = *v;
        } else if (a == "--repeat" && (v = next())) {
            o.repeat = std::max(1, std::stoi(*v));
        } else if (a == "--json" && (v = next())) {
            o.jsonFile = *v;
        } else if (a == "--measure" && (v = next())) {
            o.measure = *v;
        } else if (a == "--leaves" && (v = next())) {
            o.leaves = std::max<std::int64_t>(10, std::stoll(*v) / 10 * 10);
        } else if (a == "--planes" && (v = next())) {
            o.planes = std::max<std::int64_t>(1, std::stoll(*v));
        } else if (a == "--scroll-ms" && (v = next())) {
            o.scrollMs = std::max(100, std::stoi(*v));
        } else {
            return std::nullopt;
        }
    }
    return o;
}

fs::path treePath(const Options& o) { return o.work / ("tree" + std::to_string(o.leaves) + ".orbax"); }
fs::path bigPath(const Options& o) { return o.work / ("big" + std::to_string(o.planes) + ".orbax"); }
const KeyPath kBigLeaf = {"params", "embedding"};
constexpr std::int64_t kPlane = 4096;

// ---------------------------------------------------------------------------------------------
// Data: float32 arrays whose values are computed in readInto, so nothing large is ever held.

std::uint32_t hash32(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return static_cast<std::uint32_t>(x);
}

// Smooth structure (row and column waves per plane) plus noise, like trained weights: not
// constant and only mildly compressible.
class GeneratedSource final : public ArraySource {
public:
    GeneratedSource(Shape shape, std::uint32_t seed) : m_shape(std::move(shape)), m_seed(seed) {}

    DType dtype() const override { return DType::kFloat32; }
    const Shape& shape() const override { return m_shape; }

    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        const std::size_t rank = m_shape.size();
        float* dst = reinterpret_cast<float*>(out.data());
        if (rank == 0) {
            *dst = value(0, 1.0f);
            return okStatus();
        }
        const std::size_t last = rank - 1;
        const std::int64_t c0 = sel.start[last];
        const auto n = static_cast<std::size_t>(sel.count[last]);
        std::vector<float> colTerm(n);
        for (std::size_t c = 0; c < n; ++c) {
            colTerm[c] = std::cos(0.0047f * static_cast<float>(c0 + static_cast<std::int64_t>(c)));
        }
        // Odometer over the leading dimensions of the selection.
        std::vector<std::int64_t> idx(sel.start.begin(), sel.start.end());
        std::uint64_t rows = 1;
        for (std::size_t d = 0; d < last; ++d) rows *= static_cast<std::uint64_t>(sel.count[d]);
        for (std::uint64_t r = 0; r < rows; ++r) {
            if ((r & 1023) == 0 && isCancelled(cancel)) return cancelledError("cancelled");
            std::uint64_t flat = 0;  // linear index of (idx[0..last-1], c0)
            for (std::size_t d = 0; d < rank; ++d) {
                flat = flat * static_cast<std::uint64_t>(m_shape[d]) +
                       static_cast<std::uint64_t>(d == last ? c0 : idx[d]);
            }
            const std::int64_t row = rank >= 2 ? idx[last - 1] : 0;
            std::uint64_t plane = 0;
            for (std::size_t d = 0; d + 2 < rank; ++d) {
                plane = plane * static_cast<std::uint64_t>(m_shape[d]) +
                        static_cast<std::uint64_t>(idx[d]);
            }
            const float rowTerm =
                std::sin(0.0031f * static_cast<float>(row) + 0.7f * static_cast<float>(plane) +
                         static_cast<float>(m_seed % 97));
            for (std::size_t c = 0; c < n; ++c) {
                *dst++ = value(flat + c, rowTerm * colTerm[c]);
            }
            for (std::size_t d = last; d-- > 0;) {
                if (++idx[d] < sel.start[d] + sel.count[d]) break;
                idx[d] = sel.start[d];
            }
        }
        return okStatus();
    }

private:
    float value(std::uint64_t flat, float smooth) const {
        const std::uint32_t h = hash32(flat * 0x9E3779B97F4A7C15ULL + m_seed);
        const float noise = static_cast<float>(h >> 8) * (1.0f / 16777216.0f) - 0.5f;
        return 0.5f * smooth + 0.05f * noise;
    }

    Shape m_shape;
    std::uint32_t m_seed;
};

NodePtr generatedArray(Shape shape, std::uint32_t seed) {
    return Node::makeArray(std::make_shared<GeneratedSource>(std::move(shape), seed));
}

// layers_{i}/{attn/{query,key,value}/{kernel,bias}, mlp/{kernel,bias}, norm/{scale,bias}}:
// ten small float32 leaves per layer.
NodePtr makeWideTree(std::int64_t leaves) {
    std::vector<DictEntry> layers;
    std::uint32_t seed = 1;
    auto kernelBias = [&](std::int64_t in, std::int64_t outDim) {
        std::vector<DictEntry> e;
        e.push_back({"kernel", generatedArray({in, outDim}, seed++)});
        e.push_back({"bias", generatedArray({outDim}, seed++)});
        return Node::makeDict(std::move(e));
    };
    for (std::int64_t i = 0; i < leaves / 10; ++i) {
        std::vector<DictEntry> attn;
        attn.push_back({"query", kernelBias(8, 8)});
        attn.push_back({"key", kernelBias(8, 8)});
        attn.push_back({"value", kernelBias(8, 8)});
        std::vector<DictEntry> norm;
        norm.push_back({"scale", generatedArray({8}, seed++)});
        norm.push_back({"bias", generatedArray({8}, seed++)});
        std::vector<DictEntry> layer;
        layer.push_back({"attn", Node::makeDict(std::move(attn))});
        layer.push_back({"mlp", kernelBias(8, 16)});
        layer.push_back({"norm", Node::makeDict(std::move(norm))});
        layers.push_back({"layers_" + std::to_string(i), Node::makeDict(std::move(layer))});
    }
    return Node::makeDict(std::move(layers));
}

NodePtr makeBigTree(std::int64_t planes) {
    std::vector<DictEntry> params;
    params.push_back({kBigLeaf[1], generatedArray({planes, kPlane, kPlane}, 7)});
    std::vector<DictEntry> root;
    root.push_back({kBigLeaf[0], Node::makeDict(std::move(params))});
    return Node::makeDict(std::move(root));
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Writes `tree` to `target` with the Orbax writer unless a previous run completed it (marked by
// `target`.done). Returns false on error.
bool ensureCheckpoint(const NodePtr& tree, const fs::path& target, const char* what) {
    const fs::path done = fs::path(target.string() + ".done");
    if (fs::exists(done) && fs::exists(target)) {
        std::printf("reusing %s: %s\n", what, target.c_str());
        return true;
    }
    std::printf("writing %s: %s ...\n", what, target.c_str());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    WriteOptions options;
    options.overwrite = true;
    int lastPercent = -1;
    options.progress = [&](std::uint64_t d, std::uint64_t total) {
        const int percent = total ? static_cast<int>(100 * d / total) : 0;
        if (percent / 10 != lastPercent / 10) {
            std::fprintf(stderr, "  %d%%\n", percent);
            lastPercent = percent;
        }
    };
    const Status s = writeCheckpoint(tree, target, "orbax", options);
    if (!s.isOk()) {
        std::fprintf(stderr, "writing %s failed: %s\n", target.c_str(), s.toString().c_str());
        return false;
    }
    std::ofstream(done) << "complete\n";
    std::uintmax_t bytes = 0;
    for (const auto& e : fs::recursive_directory_iterator(target)) {
        if (e.is_regular_file()) bytes += e.file_size();
    }
    std::printf("  wrote %.1f MiB in %.1f s\n", static_cast<double>(bytes) / (1 << 20),
                secondsSince(t0));
    return true;
}

// Drops the clean page-cache pages of every file under `dir` (no root needed).
void evictFromPageCache(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
        if (!e.is_regular_file()) continue;
        const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ::fdatasync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

// ---------------------------------------------------------------------------------------------
// Child side: measurements inside one process.

// Peak and current resident set (MiB) from /proc/self/status.
double procStatusMiB(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::size_t n = std::strlen(field);
    while (std::getline(in, line)) {
        if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
            return std::stod(line.substr(n + 1)) / 1024.0;  // kB
        }
    }
    return -1;
}
double peakRssMiB() { return procStatusMiB("VmHWM"); }

// A 2 ms heartbeat on the GUI thread: the largest gap between two beats is the longest time the
// event loop could not run (a stall), give or take the interval.
class StallMonitor {
public:
    StallMonitor() {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(2);
        QObject::connect(&m_timer, &QTimer::timeout, [this] {
            const qint64 now = m_clock.nsecsElapsed();
            const double gap = static_cast<double>(now - m_last) / 1e6;
            m_max = std::max(m_max, gap);
            if (gap > 50) ++m_over50;
            if (gap > 20 && m_log.size() < 600) {
                m_log += QString("%1@%2 ")
                             .arg(gap, 0, 'f', 0)
                             .arg(static_cast<double>(now - m_start) / 1e6, 0, 'f', 0);
            }
            m_last = now;
        });
        m_clock.start();
    }
    void reset() {
        m_max = 0;
        m_over50 = 0;
        m_log.clear();
        m_last = m_start = m_clock.nsecsElapsed();
        if (!m_timer.isActive()) m_timer.start();
    }
    // Counts the gap still open now, so a stall that has not ended yet is not missed.
    double maxMs() const {
        return std::max(m_max, static_cast<double>(m_clock.nsecsElapsed() - m_last) / 1e6);
    }
    int over50() const { return m_over50; }
    // Gaps over 20 ms as "gap@time" (ms since reset()), for finding what stalls.
    QString log() const { return m_log.trimmed(); }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_last = 0;
    qint64 m_start = 0;
    QString m_log;
    double m_max = 0;
    int m_over50 = 0;
};

// Notes when a watched widget receives a paint event after watch().
class PaintProbe final : public QObject {
public:
    void watch(QWidget* widget) {
        if (widget != m_widget) {
            if (m_widget) m_widget->removeEventFilter(this);
            m_widget = widget;
            if (widget) widget->installEventFilter(this);
        }
        m_painted = false;
    }
    bool painted() const { return m_painted; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (watched == m_widget && event->type() == QEvent::Paint) m_painted = true;
        return QObject::eventFilter(watched, event);
    }

private:
    QPointer<QWidget> m_widget;
    bool m_painted = false;
};

// Runs the event loop until `done` or `timeoutMs`; false on timeout.
bool waitUntil(const std::function<bool()>& done, int timeoutMs) {
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeoutMs) return false;
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
    }
    return true;
}

double msSince(const QElapsedTimer& t) { return static_cast<double>(t.nsecsElapsed()) / 1e6; }

void emitResult(const QJsonObject& result) {
    std::printf("BENCH_RESULT %s\n", QJsonDocument(result).toJson(QJsonDocument::Compact).constData());
    std::fflush(stdout);
}

// Opens `path` in `w` and waits until it is opened and `probe` has seen a paint. Returns the ms
// taken or a negative value on error/timeout.
double openAndPaint(ui::MainWindow& w, const fs::path& path, PaintProbe& probe, int timeoutMs) {
    bool opened = false;
    bool failed = false;
    const auto c1 = QObject::connect(&w, &ui::MainWindow::checkpointOpened, [&] {
        // The tree view belongs to the checkpoint's tab; the first level must reach the screen.
        // The update is what a shown view schedules anyway; the probe waits for its paint.
        if (QTreeView* view = w.treeView()) {
            opened = true;
            probe.watch(view->viewport());
            view->viewport()->update();
        } else {
            failed = true;
        }
    });
    const auto c2 = QObject::connect(&w, &ui::MainWindow::errorOccurred, [&](const QString& m) {
        std::fprintf(stderr, "open failed: %s\n", qPrintable(m));
        failed = true;
    });
    QElapsedTimer t;
    t.start();
    if (!w.openPath(QString::fromStdString(path.string()), ui::MainWindow::Recent::kSkip)) {
        return -1;
    }
    const bool ok =
        waitUntil([&] { return failed || (opened && probe.painted()); }, timeoutMs);
    const double ms = msSince(t);
    QObject::disconnect(c1);
    QObject::disconnect(c2);
    if (!ok || failed) return -1;
    return ms;
}

int measureOpen(const Options& o) {
    ui::MainWindow w;
    w.setErrorDialogsEnabled(false);
    w.resize(1280, 900);
    w.show();
    waitUntil([] { return false; }, 200);  // settle: first paint of the empty window
    StallMonitor stalls;
    PaintProbe probe;
    const double rssBefore = peakRssMiB();
    stalls.reset();
    const double openMs = openAndPaint(w, treePath(o), probe, 60000);
    if (openMs < 0) return 2;
    QJsonObject r;
    const double openStall = stalls.maxMs();
    r["open_stall_log"] = stalls.log();
    r["open_ms"] = openMs;
    r["open_stall_ms"] = openStall;
    r["open_peak_rss_mib"] = peakRssMiB();
    r["startup_rss_mib"] = rssBefore;
    r["top_level_rows"] = w.model()->rowCount();

    // Scroll page by page, expanding every container that comes into view, with a jump of the
    // scrollbar thumb every 20th step; one step per 16 ms frame.
    QTreeView* view = w.treeView();
    QAbstractItemModel* model = view->model();
    std::mt19937 rng(42);
    int steps = 0;
    int expanded = 0;
    QTimer scroller;
    scroller.setInterval(16);
    QObject::connect(&scroller, &QTimer::timeout, [&] {
        QModelIndex idx = view->indexAt(QPoint(4, 2));
        const int visibleRows = view->viewport()->height() / std::max(1, view->sizeHintForRow(0)) + 1;
        for (int k = 0; k < visibleRows && idx.isValid(); ++k) {
            if (model->hasChildren(idx) && !view->isExpanded(idx)) {
                view->expand(idx);
                ++expanded;
            }
            idx = view->indexBelow(idx);
        }
        QScrollBar* bar = view->verticalScrollBar();
        if (++steps % 20 == 0) {
            bar->setValue(std::uniform_int_distribution<int>(0, bar->maximum())(rng));
        } else {
            bar->setValue(bar->value() + bar->pageStep());
        }
    });
    QElapsedTimer t;
    stalls.reset();
    t.start();
    scroller.start();
    waitUntil([&] { return t.elapsed() >= o.scrollMs; }, o.scrollMs + 60000);
    scroller.stop();
    r["scroll_stall_ms"] = stalls.maxMs();
    r["scroll_stalls_over_50ms"] = stalls.over50();
    r["scroll_stall_log"] = stalls.log();
    r["scroll_steps"] = steps;
    r["scroll_expanded"] = expanded;
    r["scroll_peak_rss_mib"] = peakRssMiB();

    // The engine's share of the open (warm by now): ckpt::openCheckpoint and the tree summary
    // the window computes beside it, on this thread without any widget.
    const auto c0 = std::chrono::steady_clock::now();
    Result<Checkpoint> opened = openCheckpoint(treePath(o));
    r["core_open_ms"] = secondsSince(c0) * 1000;
    if (opened.isOk()) {
        const auto s0 = std::chrono::steady_clock::now();
        const TreeSummary summary = summarizeTree(opened->tree);
        r["core_summary_ms"] = secondsSince(s0) * 1000;
        r["leaves"] = static_cast<double>(summary.leafCount);
    }
    emitResult(r);
    return 0;
}

int measureHeatmap(const Options& o) {
    ui::MainWindow w;
    w.setErrorDialogsEnabled(false);
    w.resize(1280, 900);
    w.show();
    waitUntil([] { return false; }, 200);
    PaintProbe treeProbe;
    const double openMs = openAndPaint(w, bigPath(o), treeProbe, 60000);
    if (openMs < 0) return 2;
    ui::ArrayPreview* preview = w.arrayPreview();
    preview->setPreferredTab(ui::ArrayPreview::kHeatmapTab);
    PaintProbe heatProbe;
    bool sliced = false;
    bool statsDone = false;
    double sliceMs = 0;
    double statsMs = 0;
    QElapsedTimer t;
    QObject::connect(preview, &ui::ArrayPreview::sliceFinished, [&] {
        sliced = true;
        sliceMs = msSince(t);
        heatProbe.watch(preview->heatmapWidget());
    });
    QObject::connect(preview, &ui::ArrayPreview::statisticsFinished, [&] {
        statsDone = true;
        statsMs = msSince(t);
    });
    waitUntil([] { return false; }, 100);
    StallMonitor stalls;
    stalls.reset();
    t.start();
    if (!w.selectKeyPath(kBigLeaf)) {
        std::fprintf(stderr, "no leaf %s\n", formatKeyPath(kBigLeaf).c_str());
        return 2;
    }
    if (!waitUntil([&] { return sliced && heatProbe.painted(); }, 300000)) {
        std::fprintf(stderr, "heatmap timed out (%s)\n", qPrintable(preview->errorText()));
        return 2;
    }
    QJsonObject r;
    r["heatmap_open_ms"] = openMs;
    r["heatmap_slice_ms"] = sliceMs;
    r["heatmap_ms"] = msSince(t);
    r["heatmap_stall_ms"] = stalls.maxMs();
    r["heatmap_stall_log"] = stalls.log();
    r["heatmap_peak_rss_mib"] = peakRssMiB();
    const ui::SliceImage& image = preview->heatmapWidget()->image();
    r["heatmap_cells"] = QString("%1x%2 of %3x%4")
                             .arg(image.displayRows)
                             .arg(image.displayCols)
                             .arg(image.rows)
                             .arg(image.cols);
    r["heatmap_tab"] = preview->tabs()->currentIndex() == ui::ArrayPreview::kHeatmapTab;
    if (!preview->errorText().isEmpty()) r["error"] = preview->errorText();
    // The statistics of the whole array run beside the heatmap; wait for them too (information:
    // how long a full pass over 4 GiB takes and what it costs in memory and stalls).
    if (waitUntil([&] { return statsDone; }, 600000)) {
        r["stats_ms"] = statsMs;
        r["stats_stall_ms"] = stalls.maxMs();
        r["stats_stall_log"] = stalls.log();
        r["stats_peak_rss_mib"] = peakRssMiB();
    }
    emitResult(r);
    return 0;
}

// Saving the big checkpoint after a one-cell edit (Save As, Orbax): how long, the longest GUI
// stall, the peak RSS as a share of the checkpoint's size, whether progress was reported; then
// a second save cancelled after 1 s must leave nothing behind.
int measureSave(const Options& o) {
    ui::MainWindow w;
    w.setErrorDialogsEnabled(false);
    w.setConfirmDiscard(false);
    w.resize(1280, 900);
    w.show();
    waitUntil([] { return false; }, 200);
    PaintProbe treeProbe;
    if (openAndPaint(w, bigPath(o), treeProbe, 60000) < 0) return 2;
    ui::CheckpointPage* page = w.currentPage();
    const std::vector<std::int64_t> cell = {o.planes - 1, kPlane - 1, kPlane - 1};
    if (Status s = page->applyEdit(Edit::setCells(kBigLeaf, {CellEdit{cell, 42.0}})); !s.isOk()) {
        std::fprintf(stderr, "edit failed: %s\n", s.toString().c_str());
        return 2;
    }
    const double sizeMiB = static_cast<double>(o.planes) * kPlane * kPlane * 4 / (1 << 20);
    const fs::path target = o.work / "saved.orbax";
    const fs::path cancelled = o.work / "cancelled.orbax";
    fs::remove_all(target);
    fs::remove_all(cancelled);
    int progressSignals = 0;
    QObject::connect(page, &ui::CheckpointPage::saveProgress, [&] { ++progressSignals; });
    std::optional<Status> finished;
    QObject::connect(page, &ui::CheckpointPage::saveFinished,
                     [&](const QString&, const Status& s) { finished = s; });
    const double rssBefore = peakRssMiB();
    StallMonitor stalls;
    stalls.reset();
    QElapsedTimer t;
    t.start();
    page->saveAs(QString::fromStdString(target.string()), QStringLiteral("orbax"), false);
    if (!waitUntil([&] { return finished.has_value(); }, 600000) || !finished->isOk()) {
        std::fprintf(stderr, "save failed: %s\n", finished ? finished->toString().c_str() : "timeout");
        return 2;
    }
    QJsonObject r;
    r["save_ms"] = msSince(t);
    r["save_stall_ms"] = stalls.maxMs();
    r["save_stall_log"] = stalls.log();
    r["save_peak_rss_mib"] = peakRssMiB();
    r["save_peak_rss_pct"] = 100.0 * peakRssMiB() / sizeMiB;
    r["save_rss_before_mib"] = rssBefore;
    r["save_progress_signals"] = progressSignals;
    r["save_mib_per_s"] = sizeMiB / (msSince(t) / 1000.0);
    // The saved array has the edited cell (read back from disk).
    auto reopened = openCheckpoint(target);
    bool cellOk = false;
    if (reopened.isOk()) {
        if (auto leaf = findNode(reopened->tree, kBigLeaf); leaf.isOk()) {
            Selection sel;
            sel.start = cell;
            sel.count = {1, 1, 1};
            float value = 0;
            auto bytes = std::as_writable_bytes(std::span(&value, 1));
            cellOk = (*leaf)->array()->readInto(sel, bytes, nullptr).isOk() && value == 42.0f;
        }
    }
    r["save_cell_read_back"] = cellOk;
    // The tab shows the saved checkpoint now; edit again and cancel a save after 1 s.
    waitUntil([&] { return !page->isOpening(); }, 60000);
    waitUntil([] { return false; }, 200);
    if (Status s = page->applyEdit(Edit::setCells(kBigLeaf, {CellEdit{cell, 7.0}})); !s.isOk()) {
        return 2;
    }
    finished.reset();
    page->saveAs(QString::fromStdString(cancelled.string()), QStringLiteral("orbax"), false);
    waitUntil([] { return false; }, 1000);
    page->cancelSave();
    QElapsedTimer c;
    c.start();
    if (!waitUntil([&] { return finished.has_value(); }, 60000)) return 2;
    r["cancel_ms"] = msSince(c);
    r["cancel_clean"] = finished->code() == StatusCode::kCancelled && !fs::exists(cancelled);
    std::size_t leftovers = 0;
    for (const auto& e : fs::directory_iterator(o.work)) {
        if (e.path().filename().string().find("cancelled") != std::string::npos) ++leftovers;
    }
    r["cancel_leftovers"] = static_cast<double>(leftovers);
    fs::remove_all(target);
    emitResult(r);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Parent side: data, repetitions, the table.

struct Metric {
    const char* key;
    const char* label;
    const char* unit;
    double target;  // 0 = information only
};

const Metric kMetrics[] = {
    {"open_ms", "open 100k-leaf checkpoint, first level painted", "ms", 500},
    {"open_peak_rss_mib", "  peak RSS (open)", "MiB", 0},
    {"open_stall_ms", "  longest GUI stall during open", "ms", 0},
    {"core_open_ms", "  engine only: openCheckpoint, warm (info)", "ms", 0},
    {"core_summary_ms", "  engine only: summarizeTree (info)", "ms", 0},
    {"scroll_stall_ms", "longest GUI stall scrolling/expanding the tree", "ms", 50},
    {"scroll_peak_rss_mib", "  peak RSS (after scrolling)", "MiB", 0},
    {"heatmap_ms", "first heatmap of a 4096x4096 plane of a 4 GiB array", "ms", 1000},
    {"heatmap_slice_ms", "  of which until sliceFinished", "ms", 0},
    {"heatmap_stall_ms", "longest GUI stall while the heatmap loads", "ms", 50},
    {"heatmap_peak_rss_mib", "  peak RSS (heatmap)", "MiB", 0},
    {"stats_ms", "  statistics+histogram of the whole 4 GiB (info)", "ms", 0},
    {"stats_stall_ms", "  longest GUI stall until statistics done", "ms", 50},
    {"stats_peak_rss_mib", "  peak RSS (statistics done)", "MiB", 0},
    {"save_peak_rss_pct", "save big array after a 1-cell edit: peak RSS % of size", "%", 25},
    {"save_ms", "  save time (Orbax, OCDBT, zstd)", "ms", 0},
    {"save_mib_per_s", "  save throughput", "MiB/s", 0},
    {"save_peak_rss_mib", "  peak RSS (save)", "MiB", 0},
    {"save_stall_ms", "  longest GUI stall during the save", "ms", 50},
    {"save_progress_signals", "  progress updates received", "", 0},
    {"cancel_ms", "  cancel a second save after 1 s: until finished", "ms", 0},
    {"cancel_leftovers", "  files left by the cancelled save", "", 0},
};

std::optional<QJsonObject> runChild(const Options& o, const char* scenario) {
    QProcess p;
    QStringList args = {"--measure", scenario, "--work", QString::fromStdString(o.work.string()),
                        "--leaves", QString::number(o.leaves), "--planes",
                        QString::number(o.planes), "--scroll-ms", QString::number(o.scrollMs)};
    if (o.onscreen) args << "--onscreen";
    p.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    p.start(QCoreApplication::applicationFilePath(), args);
    if (!p.waitForFinished(30 * 60 * 1000) || p.exitCode() != 0) {
        std::fprintf(stderr, "child %s failed (exit %d)\n", scenario, p.exitCode());
        return std::nullopt;
    }
    const QList<QByteArray> lines = p.readAllStandardOutput().split('\n');
    for (const QByteArray& line : lines) {
        if (line.startsWith("BENCH_RESULT ")) {
            return QJsonDocument::fromJson(line.mid(13)).object();
        }
    }
    return std::nullopt;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long memTotalMiB() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    long kb = 0;
    in >> key >> kb;
    return kb / 1024;
}

int runParent(const Options& o) {
    std::error_code ec;
    fs::create_directories(o.work, ec);
    const auto t0 = std::chrono::steady_clock::now();
    if (!ensureCheckpoint(makeWideTree(o.leaves), treePath(o), "tree checkpoint")) return 1;
    if (!ensureCheckpoint(makeBigTree(o.planes), bigPath(o), "big-array checkpoint")) return 1;
    std::printf("data ready after %.1f s\n", secondsSince(t0));

    std::map<std::string, std::vector<double>> values;
    std::map<std::string, QString> notes;
    for (const char* scenario : {"open", "heatmap", "save"}) {
        for (int i = 0; i < o.repeat; ++i) {
            if (i == 0) evictFromPageCache(std::string(scenario) == "open" ? treePath(o) : bigPath(o));
            if (std::string(scenario) == "save" && i > 0) break;  // one save: it takes a while
            std::printf("run %s %d/%d%s\n", scenario, i + 1, o.repeat, i == 0 ? " (evicted cache)" : "");
            std::fflush(stdout);
            const std::optional<QJsonObject> r = runChild(o, scenario);
            if (!r) return 1;
            for (auto it = r->begin(); it != r->end(); ++it) {
                if (it->isDouble()) {
                    values[it.key().toStdString()].push_back(it->toDouble());
                } else {
                    notes[it.key().toStdString()] = it->isString() ? it->toString()
                                                                   : (it->toBool() ? "yes" : "no");
                }
            }
        }
    }

    const unsigned cores = std::thread::hardware_concurrency();
    std::printf("\nmachine: %u cores, %ld MiB RAM; platform %s; %d runs per scenario; run 1 after "
                "evicting the files from the page cache, later runs warm\n",
                cores, memTotalMiB(), o.onscreen ? "default" : "offscreen", o.repeat);
    std::printf("%-52s %10s %10s %21s %8s  %s\n", "metric", "run 1", "median", "min..max",
                "target", "result");
    QJsonArray jsonMetrics;
    bool allPass = true;
    for (const Metric& m : kMetrics) {
        const auto it = values.find(m.key);
        if (it == values.end()) continue;
        const std::vector<double>& v = it->second;
        const double med = median(v);
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        const bool pass = m.target <= 0 || med < m.target;
        allPass = allPass && pass;
        char range[64];
        std::snprintf(range, sizeof range, "%.1f..%.1f", *lo, *hi);
        char target[32] = "-";
        if (m.target > 0) std::snprintf(target, sizeof target, "<%.0f", m.target);
        std::printf("%-52s %10.1f %10.1f %21s %8s  %s %s\n", m.label, v.front(), med, range, target,
                    m.unit, m.target > 0 ? (pass ? "PASS" : "FAIL") : "");
        QJsonObject j;
        j["metric"] = m.key;
        j["unit"] = m.unit;
        j["first"] = v.front();
        j["median"] = med;
        j["min"] = *lo;
        j["max"] = *hi;
        j["values"] = QJsonArray::fromVariantList([&] {
            QVariantList l;
            for (double x : v) l << x;
            return l;
        }());
        if (m.target > 0) {
            j["target"] = m.target;
            j["pass"] = pass;
        }
        jsonMetrics.append(j);
    }
    for (const auto& [k, v] : notes) std::printf("%s: %s\n", k.c_str(), qPrintable(v));
    for (const char* k : {"leaves", "top_level_rows", "scroll_steps", "scroll_expanded",
                          "scroll_stalls_over_50ms"}) {
        const auto it = values.find(k);
        if (it != values.end()) std::printf("%s (median): %.0f\n", k, median(it->second));
    }

    if (!o.jsonFile.empty()) {
        QJsonObject doc;
        doc["machine"] = QJsonObject{{"cores", static_cast<int>(cores)},
                                     {"ram_mib", static_cast<double>(memTotalMiB())}};
        doc["repeat"] = o.repeat;
        doc["leaves"] = static_cast<double>(o.leaves);
        doc["big_shape"] = QString("(%1, 4096, 4096) float32").arg(o.planes);
        doc["metrics"] = jsonMetrics;
        std::ofstream(o.jsonFile) << QJsonDocument(doc).toJson().toStdString();
    }
    if (!o.keep) {
        for (const fs::path& p : {treePath(o), bigPath(o)}) {
            fs::remove_all(p, ec);
            fs::remove(p.string() + ".done", ec);
        }
    }
    return allPass ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> options;
    try {
        options = parseOptions(argc, argv);
    } catch (const std::exception&) {  // std::stoi on a bad number
        options.reset();
    }
    if (!options) {
        usage();
        return 64;
    }
    if (options->measure.empty()) {
        QCoreApplication app(argc, argv);
        return runParent(*options);
    }
    if (!options->onscreen && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        qputenv("QT_QPA_PLATFORM", "offscreen");
    }
    QApplication app(argc, argv);
    if (options->measure == "open") return measureOpen(*options);
    if (options->measure == "heatmap") return measureHeatmap(*options);
    if (options->measure == "save") return measureSave(*options);
    usage();
    return 64;
}
