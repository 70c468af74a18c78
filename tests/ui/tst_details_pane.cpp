// Tests for views/details_pane: every field for an array (blocking and non-blocking), a scalar
// (eager and lazy), a string, a container, a node with attributes (custom metadata, sharding,
// an unreadable leaf's error) and the checkpoint summary; late storage results; wrapping of long
// values inside the scroll area at a narrow width.
#include <QScrollBar>
#include <QTextBrowser>
#include <QTextDocument>
#include <QTest>
#include <atomic>
#include <cstring>

#include "ckpt/core/array.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "ckpt/core/sharding.h"
#include "previews/shard_picture.h"
#include "views/details_pane.h"

using ckpt::ui::DetailsPane;

namespace {

// An in-memory float32 array whose storage() is fixed and counted, so a test can tell whether
// the pane asked for it (for zarr, storage() lists the store: a disk read).
class FakeSource final : public ckpt::ArraySource {
public:
    FakeSource(ckpt::Shape shape, ckpt::StorageInfo info)
        : m_shape(std::move(shape)), m_info(std::move(info)) {}
    ckpt::DType dtype() const override { return ckpt::DType::kFloat32; }
    const ckpt::Shape& shape() const override { return m_shape; }
    ckpt::StorageInfo storage() const override {
        ++storageCalls;
        return m_info;
    }
    ckpt::Status readInto(const ckpt::Selection&, std::span<std::byte> out,
                          const ckpt::CancelToken*) const override {
        ++reads;
        std::memset(out.data(), 0, out.size());
        return ckpt::okStatus();
    }
    mutable std::atomic<int> storageCalls{0};
    mutable std::atomic<int> reads{0};

private:
    ckpt::Shape m_shape;
    ckpt::StorageInfo m_info;
};

ckpt::StorageInfo zarrInfo() {
    ckpt::StorageInfo info;
    info.format = "zarr v3";
    info.file = "/data/run_1/checkpoint_100/state";
    info.location = "key prefix 'params.w/' (zarr.json, dtype float32)";
    info.codecs = {"bytes(little)", "zstd(level=1)"};
    info.chunkShape = {64, 32};
    info.storedBytes = 16384;
    return info;
}

// [128, 64] float32 = 32 KiB in memory.
std::shared_ptr<FakeSource> fakeArray() {
    return std::make_shared<FakeSource>(ckpt::Shape{128, 64}, zarrInfo());
}

}  // namespace

class TestDetailsPane : public QObject {
    Q_OBJECT

private slots:
    void arrayBlockingShowsEveryField() {
        DetailsPane pane;
        auto source = fakeArray();
        pane.showNode(ckpt::Node::makeArray(source), {"params", "w"});
        QCOMPARE(pane.title(), QStringLiteral("params/w"));
        QCOMPARE(pane.fieldValue("Key path"), QStringLiteral("params/w"));
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("array"));
        QCOMPARE(pane.fieldValue("DType"), QStringLiteral("float32"));
        QVERIFY(pane.fieldValue("Shape").contains("128"));
        QVERIFY(pane.fieldValue("Shape").contains("64"));
        QCOMPARE(pane.fieldValue("Elements"), QStringLiteral("8,192"));
        QCOMPARE(pane.fieldValue("Size"), QStringLiteral("32.0 KiB (32,768 bytes)"));
        QCOMPARE(pane.fieldValue("Format"), QStringLiteral("zarr v3"));
        QCOMPARE(pane.fieldValue("File"), QStringLiteral("/data/run_1/checkpoint_100/state"));
        QCOMPARE(pane.fieldValue("Location"),
                 QStringLiteral("key prefix 'params.w/' (zarr.json, dtype float32)"));
        QCOMPARE(pane.fieldValue("Codecs"), QStringLiteral("bytes(little), zstd(level=1)"));
        QVERIFY2(pane.fieldValue("Chunks").contains("(4 chunks)"),
                 qPrintable(pane.fieldValue("Chunks")));
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("16.0 KiB (16,384 bytes)"));
        QVERIFY2(pane.fieldValue("Compression ratio").startsWith("2.00"),
                 qPrintable(pane.fieldValue("Compression ratio")));
        QVERIFY(pane.fieldValue("Sharding").isNull());  // none given
        QCOMPARE(source->storageCalls.load(), 1);
        QCOMPARE(source->reads.load(), 0);
        QVERIFY(pane.fieldsText().contains("Codecs: bytes(little), zstd(level=1)"));
    }

    void arrayNonBlockingNeverCallsStorage() {
        DetailsPane pane;
        auto source = fakeArray();
        const ckpt::NodePtr node = ckpt::Node::makeArray(source);
        pane.showNode(node, {"params", "w"}, std::nullopt);
        QCOMPARE(source->storageCalls.load(), 0);
        QCOMPARE(pane.fieldValue("DType"), QStringLiteral("float32"));
        QCOMPARE(pane.fieldValue("Storage"), QStringLiteral("computing\u2026"));
        QVERIFY(pane.fieldValue("Format").isNull());

        // A late result for another node is dropped.
        pane.setStorage(ckpt::Node::makeArray(fakeArray()), zarrInfo());
        QVERIFY(pane.fieldValue("Format").isNull());

        // The storage without its (slow) stored size, then the size from the rollups.
        ckpt::StorageInfo info = zarrInfo();
        info.storedBytes = 0;
        pane.showNode(node, {"params", "w"}, info, std::nullopt);
        QCOMPARE(pane.fieldValue("Format"), QStringLiteral("zarr v3"));
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("unknown"));
        pane.setStoredBytes(node, 8192);
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("8.0 KiB (8,192 bytes)"));
        QVERIFY(pane.fieldValue("Compression ratio").startsWith("4.00"));

        // Storage arriving after a stored size: the caller's size wins.
        pane.showNode(node, {"params", "w"}, std::nullopt, 4096);
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("4.0 KiB (4,096 bytes)"));
        pane.setStorage(node, zarrInfo());
        QCOMPARE(pane.fieldValue("Codecs"), QStringLiteral("bytes(little), zstd(level=1)"));
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("4.0 KiB (4,096 bytes)"));
        QVERIFY(pane.fieldValue("Compression ratio").startsWith("8.00"));
        QCOMPARE(source->storageCalls.load(), 0);
        QCOMPARE(source->reads.load(), 0);
    }

    void memoryArrayFromDemo() {
        DetailsPane pane;
        const ckpt::NodePtr root = ckpt::makeDemoTrainState();
        const ckpt::KeyPath path{"params", "Dense_0", "kernel"};
        pane.showNode(ckpt::findNode(root, path).value(), path);
        QCOMPARE(pane.fieldValue("Key path"), QStringLiteral("params/Dense_0/kernel"));
        QCOMPARE(pane.fieldValue("DType"), QStringLiteral("float32"));
        QCOMPARE(pane.fieldValue("Elements"), QStringLiteral("15"));
        QCOMPARE(pane.fieldValue("Size"), QStringLiteral("60 B"));
        QCOMPARE(pane.fieldValue("Format"), QStringLiteral("memory"));
        QCOMPARE(pane.fieldValue("Codecs"), QStringLiteral("none (raw bytes)"));
        QCOMPARE(pane.fieldValue("Chunks"), QStringLiteral("not chunked"));
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("60 B"));
    }

    void scalar() {
        DetailsPane pane;
        pane.showNode(ckpt::Node::makeScalar(ckpt::Scalar::fromFloat64(0.001)),
                      {"config", "learning_rate"});
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("scalar"));
        QCOMPARE(pane.fieldValue("DType"), QStringLiteral("float64"));
        QCOMPARE(pane.fieldValue("Shape"), QStringLiteral("()"));
        QCOMPARE(pane.fieldValue("Size"), QStringLiteral("8 B"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("0.001"));
        QCOMPARE(pane.fieldValue("Python type"), QStringLiteral("builtin"));

        // The non-blocking overload shows an in-memory scalar's value too.
        pane.showNode(ckpt::Node::makeScalar(ckpt::Scalar::fromInt64(100, false)), {"step"},
                      std::nullopt);
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("100"));
        QCOMPARE(pane.fieldValue("Python type"), QStringLiteral("numpy scalar"));
    }

    void lazyScalarIsNotReadByTheNonBlockingOverload() {
        DetailsPane pane;
        auto source = std::make_shared<FakeSource>(ckpt::Shape{}, zarrInfo());
        const ckpt::NodePtr node = ckpt::Node::makeLazyScalar(source);
        pane.showNode(node, {"step"}, std::nullopt);
        QCOMPARE(source->reads.load(), 0);
        QCOMPARE(pane.fieldValue("DType"), QStringLiteral("float32"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("computing\u2026"));
        // The caller's off-thread read arrives (a late one for another node is dropped).
        pane.setScalarValue(ckpt::Node::makeScalar(ckpt::Scalar::fromInt64(1)),
                            ckpt::Scalar::fromInt64(1));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("computing\u2026"));
        pane.setScalarValue(node, ckpt::Scalar::fromInt64(100, false));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("100"));
        QCOMPARE(pane.fieldValue("Python type"), QStringLiteral("numpy scalar"));
        pane.setScalarValue(node, ckpt::Status(ckpt::StatusCode::kCorruption, "chunk 'step/0'"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("unreadable: chunk 'step/0'"));
        QCOMPARE(source->reads.load(), 0);
        pane.showNode(node, {"step"});  // blocking: reads it
        QCOMPARE(source->reads.load(), 1);
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("0.0"));
    }

    void string() {
        DetailsPane pane;
        pane.showNode(ckpt::Node::makeString("mlp"), {"config", "model"});
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("string"));
        QCOMPARE(pane.fieldValue("Type"), QStringLiteral("str"));
        QCOMPARE(pane.fieldValue("Length"), QStringLiteral("3 bytes"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("mlp"));
        // Very long strings are elided to 300 characters.
        pane.showNode(ckpt::Node::makeString(std::string(1000, 'x')), {"s"});
        QCOMPARE(pane.fieldValue("Value").size(), 301);
        QCOMPARE(pane.fieldValue("Length"), QStringLiteral("1,000 bytes"));
    }

    void container() {
        DetailsPane pane;
        const ckpt::NodePtr root = ckpt::makeDemoTrainState();
        const ckpt::TreeSummary summary = ckpt::summarizeNode(*root);
        pane.showNode(root, {});
        QCOMPARE(pane.title(), QStringLiteral("(root)"));
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("dict with 5 keys"));
        QCOMPARE(pane.fieldValue("Leaves"), QString::number(summary.leafCount));
        QCOMPARE(pane.fieldValue("Arrays"), QString::number(summary.arrayCount));
        QCOMPARE(pane.fieldValue("Parameters"), QString::number(summary.parameterCount));
        QVERIFY(pane.fieldValue("Size").endsWith(" B"));
        QVERIFY(pane.fieldValue("Stored").isNull());  // not given, not computed

        // Non-blocking: without the rollup a container's totals are pending, not walked here.
        const ckpt::KeyPath data{"data"};
        const ckpt::NodePtr dataNode = ckpt::findNode(root, data).value();
        pane.showNode(dataNode, data, std::nullopt, 48);
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("list of 2 items"));
        QVERIFY(pane.fieldValue("Leaves").isNull());
        QVERIFY(pane.fieldValue("Size").contains(QStringLiteral("computing")));
        // With it: its numbers, and the stored size the caller gave.
        ckpt::NodeRollup rollup;
        rollup.leafCount = 2;
        rollup.arrayCount = 2;
        rollup.parameterCount = 8;
        rollup.memoryBytes = 32;
        pane.showNode(dataNode, data, std::nullopt, 48, rollup);
        QCOMPARE(pane.fieldValue("Leaves"), QStringLiteral("2"));
        QCOMPARE(pane.fieldValue("Parameters"), QStringLiteral("8"));
        QCOMPARE(pane.fieldValue("Stored"), QStringLiteral("48 B"));
        QVERIFY(pane.fieldValue("Compression ratio").startsWith("0.67"));
    }

    void attributesShardingAndErrors() {
        DetailsPane pane;
        const ckpt::NodePtr node =
            ckpt::Node::makeArray(fakeArray())
                ->withAttributes(
                    {{"units", "m/s"},
                     {"sharding", R"({"sharding_type": "NamedSharding", "mesh": [["data", 8]]})"}});
        pane.showNode(node, {"w"});
        QCOMPARE(pane.fieldValue("@units"), QStringLiteral("m/s"));
        QCOMPARE(pane.fieldValue("Sharding"),
                 QStringLiteral(R"({"sharding_type": "NamedSharding", "mesh": [["data", 8]]})"));
        QVERIFY(pane.fieldValue("@sharding").isNull());

        const ckpt::NodePtr broken = ckpt::Node::makeNone()->withAttributes(
            {{"error", "DataLoss: at key path 'a': chunk 'a/0' is truncated"}});
        pane.showNode(broken, {"a"});
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("none (unreadable leaf)"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("unreadable"));
        QVERIFY(pane.fieldValue("@error").contains("truncated"));

        pane.showNode(ckpt::Node::makeNone(), {"opt_state", "1"});
        QCOMPARE(pane.fieldValue("Kind"), QStringLiteral("none"));
        QCOMPARE(pane.fieldValue("Value"), QStringLiteral("None"));
    }

    void shardingOfAMultiProcessSave() {
        // The real two-process Orbax save of tests/core/formats/orbax/data/multiprocess_2.
        const auto dir = std::filesystem::path(__FILE__).parent_path().parent_path() / "core" /
                         "formats" / "orbax" / "data" / "multiprocess_2" / "item";
        auto ckpt = ckpt::openCheckpoint(dir);
        QVERIFY2(ckpt.isOk(), ckpt.status().toString().c_str());
        auto big = ckpt::findNode(ckpt->tree, {"big"});
        auto scalar = ckpt::findNode(ckpt->tree, {"scalar"});
        QVERIFY(big.isOk() && scalar.isOk());
        const QString expected = QStringLiteral(
            "P(('a', 'b'), None) on mesh {'a': 2, 'b': 2}, 4 shards of (4, 128); the item was "
            "written by 2 processes");
        DetailsPane pane;
        pane.showNode(*big, {"big"});
        QCOMPARE(pane.fieldValue("Sharding"), expected);
        // One piece (a replicated scalar): no row.
        pane.showNode(*scalar, {"scalar"});
        QVERIFY(pane.fieldValue("Sharding").isNull());
        // Non-blocking: shown once the caller hands it over, for the node still shown only.
        pane.showNode(*big, {"big"}, std::nullopt);
        QVERIFY(pane.fieldValue("Sharding").isNull());
        pane.setSharding(*scalar, QStringLiteral("stale"));
        QVERIFY(pane.fieldValue("Sharding").isNull());
        pane.setSharding(*big, DetailsPane::shardingText(*(*big)->array()));
        QCOMPARE(pane.fieldValue("Sharding"), expected);
        QVERIFY(pane.shownShardPicture().isNull());
        pane.setShardPicture(*scalar, DetailsPane::shardPicture(*(*big)->array()));  // stale
        QVERIFY(pane.shownShardPicture().isNull());
        pane.setShardPicture(*big, DetailsPane::shardPicture(*(*big)->array()));
        QVERIFY(!pane.shownShardPicture().isNull());
        QVERIFY(pane.textView()->toHtml().contains("process 1"));
    }

    void shardPictureShowsTheWritingProcesses() {
        const auto dir = std::filesystem::path(__FILE__).parent_path().parent_path() / "core" /
                         "formats" / "orbax" / "data" / "multiprocess_2" / "item";
        auto ckpt = ckpt::openCheckpoint(dir);
        QVERIFY2(ckpt.isOk(), ckpt.status().toString().c_str());
        DetailsPane pane;
        // big (16, 128), P(('a', 'b'), None): four row blocks, processes 0, 0, 1, 1.
        auto big = ckpt::findNode(ckpt->tree, {"big"});
        QVERIFY(big.isOk());
        pane.showNode(*big, {"big"});
        QImage image = pane.shownShardPicture();
        QVERIFY(!image.isNull());
        const QColor p0 = ckpt::ui::processColor("0");
        const QColor p1 = ckpt::ui::processColor("1");
        QVERIFY(p0 != p1);
        for (int block = 0; block < 4; ++block) {
            const int y = image.height() * (2 * block + 1) / 8;
            QCOMPARE(image.pixelColor(3, y).rgb(), (block < 2 ? p0 : p1).rgb());
        }
        QVERIFY(pane.textView()->toPlainText().remove(QChar(0x200B)).contains("rows: dimension 0 in 4 blocks"));
        // nested.e (4, 8, 3), P('a', 'b', None) on a 2x2 mesh of two processes' devices: rows
        // are dimension 0 in 2 blocks, columns dimension 1 in 2 blocks, and each block is drawn
        // in the colour of the process that wrote it (ckpt shards lists it).
        auto e = ckpt::findNode(ckpt->tree, {"nested", "e"});
        QVERIFY(e.isOk());
        auto listing = ckpt::shardingOf(*(*e)->array())->sharding(ckpt::ShardDetail::kFull);
        QVERIFY(listing.isOk());
        QCOMPARE(listing->shards.size(), std::size_t{4});
        pane.showNode(*e, {"nested", "e"});
        image = pane.shownShardPicture();
        QVERIFY(!image.isNull());
        QVERIFY(pane.textView()->toPlainText().remove(QChar(0x200B)).contains("columns: dimension 1 in 2 blocks"));
        for (const ckpt::Shard& shard : listing->shards) {
            const int r = static_cast<int>(shard.index.start[0] / listing->shardShape[0]);
            const int c = static_cast<int>(shard.index.start[1] / listing->shardShape[1]);
            const QPoint at(image.width() * c / 2 + 3, image.height() * r / 2 + 3);
            QCOMPARE(image.pixelColor(at).rgb(), ckpt::ui::processColor(shard.process).rgb());
        }
        // An array in one piece: no picture.
        auto scalar = ckpt::findNode(ckpt->tree, {"scalar"});
        QVERIFY(scalar.isOk());
        pane.showNode(*scalar, {"scalar"});
        QVERIFY(pane.shownShardPicture().isNull());
    }

    void checkpointSummary() {
        DetailsPane pane;
        ckpt::Checkpoint checkpoint;
        checkpoint.format = "orbax";
        checkpoint.layout = "step directory";
        checkpoint.path = "/runs/exp/100/state";
        checkpoint.root = "/runs/exp";
        checkpoint.tree = ckpt::makeDemoTrainState();
        checkpoint.step = "100";
        checkpoint.steps = {{"100", "100", "/runs/exp/100", true},
                            {"200", "200", "/runs/exp/200", false}};
        checkpoint.properties = {{"storage", "OCDBT"}, {"custom_metadata", R"({"custom":"meta"})"}};
        checkpoint.warnings = {"leaf 'x' could not be read"};
        const ckpt::TreeSummary summary = ckpt::summarizeTree(checkpoint.tree);
        pane.showCheckpoint(checkpoint, summary);
        QCOMPARE(pane.title(), QStringLiteral("state"));
        QCOMPARE(pane.fieldValue("Path"), QStringLiteral("/runs/exp/100/state"));
        QCOMPARE(pane.fieldValue("Format"), QStringLiteral("orbax"));
        QCOMPARE(pane.fieldValue("Layout"), QStringLiteral("step directory"));
        QCOMPARE(pane.fieldValue("Step"), QStringLiteral("100"));
        QCOMPARE(pane.fieldValue("Steps in directory"), QStringLiteral("2"));
        QCOMPARE(pane.fieldValue("Leaves"), QString::number(summary.leafCount));
        QCOMPARE(pane.fieldValue("Arrays"), QString::number(summary.arrayCount));
        QCOMPARE(pane.fieldValue("Parameters"), QString::number(summary.parameterCount));
        QCOMPARE(pane.fieldValue("storage"), QStringLiteral("OCDBT"));
        QCOMPARE(pane.fieldValue("custom_metadata"), QStringLiteral(R"({"custom":"meta"})"));
        QCOMPARE(pane.fieldValue("Warning"), QStringLiteral("leaf 'x' could not be read"));

        pane.showHint(QStringLiteral("Open a checkpoint\u2026"));
        QCOMPARE(pane.title(), QStringLiteral("Open a checkpoint\u2026"));
        QVERIFY(pane.fieldsText().isEmpty());
    }

    void breakableInsertsBreakOpportunities() {
        const QChar zwsp(0x200B);
        QCOMPARE(DetailsPane::breakable("a/b_c"), QString("a/") + zwsp + "b_" + zwsp + "c");
        const QString hash(40, QLatin1Char('f'));
        const QString broken = DetailsPane::breakable(hash);
        QVERIFY(broken.contains(zwsp));
        QString plain = broken;
        plain.remove(zwsp);
        QCOMPARE(plain, hash);
        QCOMPARE(DetailsPane::breakable("short"), QStringLiteral("short"));
        QCOMPARE(DetailsPane::breakable("ends/"), QStringLiteral("ends/"));
    }

    void longValuesWrapInsideTheScrollArea() {
        DetailsPane pane;
        pane.resize(360, 300);
        ckpt::KeyPath path;
        for (int i = 0; i < 12; ++i) path.push_back("transformer_layer_block_" + std::to_string(i));
        ckpt::StorageInfo info = zarrInfo();
        info.file =
            "/very/long/path/to/some/experiment_directory_with_a_long_name/checkpoints/"
            "step_000000123456/state/ocdbt.process_0/d/0123456789abcdef0123456789abcdef";
        pane.showNode(ckpt::Node::makeArray(std::make_shared<FakeSource>(ckpt::Shape{4}, info)),
                      path);
        pane.show();
        QVERIFY(QTest::qWaitForWindowExposed(&pane));
        QTextBrowser* view = pane.textView();
        QVERIFY(view);
        // Laid out at the viewport's width: nothing sticks out to the right, the long key path
        // and file name wrapped onto several lines, and the pane scrolls vertically instead.
        const int viewportWidth = view->viewport()->width();
        QTextDocument* document = view->document();
        QVERIFY2(document->size().width() <= viewportWidth + 1,
                 qPrintable(QStringLiteral("%1 > %2").arg(document->size().width()).arg(viewportWidth)));
        QVERIFY(!view->horizontalScrollBar()->isVisible());
        const QString plain = document->toPlainText().remove(QChar(0x200B));
        QVERIFY(plain.contains(QString::fromStdString(info.file)));
        QVERIFY(plain.contains(QString::fromStdString(ckpt::formatKeyPath(path))));
        // Many more lines than rows: the long values wrapped.
        const int lineHeight = view->fontMetrics().lineSpacing();
        QVERIFY2(document->size().height() > 14 * lineHeight,
                 qPrintable(QString::number(document->size().height())));
    }
};

QTEST_MAIN(TestDetailsPane)
#include "tst_details_pane.moc"
