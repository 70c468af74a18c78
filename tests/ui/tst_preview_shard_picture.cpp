// Tests for previews/shard_picture: which dimensions are drawn, block colours by process (grey
// when unknown, light for a shard never stored), proportional edges of a ragged last block,
// the caption when more than two dimensions are split, and nothing to draw for one shard.
#include <QTest>
#include <functional>
#include <string>

#include "ckpt/core/sharding.h"
#include "previews/shard_picture.h"

using ckpt::ui::drawShardPicture;
using ckpt::ui::processColor;

namespace {

// A regular grid of `block` over `global`, process of each shard from `processOf(flat index)`.
ckpt::LeafSharding grid(const ckpt::Shape& global, const ckpt::Shape& block,
                        const std::function<std::string(std::size_t)>& processOf) {
    ckpt::LeafSharding s;
    s.globalShape = global;
    s.shardShape = block;
    std::vector<std::int64_t> counts;
    std::uint64_t total = 1;
    for (std::size_t d = 0; d < global.size(); ++d) {
        counts.push_back((global[d] + block[d] - 1) / block[d]);
        total *= static_cast<std::uint64_t>(counts.back());
    }
    s.shardCount = total;
    for (std::uint64_t i = 0; i < total; ++i) {
        ckpt::Shard shard;
        std::uint64_t rest = i;
        shard.index.start.assign(global.size(), 0);
        shard.index.count.assign(global.size(), 0);
        for (std::size_t d = global.size(); d-- > 0;) {
            const auto at = static_cast<std::int64_t>(rest % static_cast<std::uint64_t>(counts[d]));
            rest /= static_cast<std::uint64_t>(counts[d]);
            shard.index.start[d] = at * block[d];
            shard.index.count[d] = std::min(block[d], global[d] - shard.index.start[d]);
        }
        shard.process = processOf(i);
        s.shards.push_back(shard);
    }
    return s;
}

}  // namespace

class TestShardPicture : public QObject {
    Q_OBJECT

private slots:
    void oneShardHasNoPicture() {
        const auto s = grid({4, 4}, {4, 4}, [](std::size_t) { return "0"; });
        QVERIFY(!drawShardPicture(s).has_value());
        ckpt::LeafSharding unlisted = grid({4, 4}, {2, 4}, [](std::size_t) { return "0"; });
        unlisted.shards.clear();  // a summary: nothing to draw
        QVERIFY(!drawShardPicture(unlisted).has_value());
    }

    void lastDimensionSplitIsDrawnAsColumns() {
        // (2, 16) split in 4 along dimension 1: one row of four columns, processes 0..3.
        const auto s = grid({2, 16}, {2, 4}, [](std::size_t i) { return std::to_string(i); });
        const auto p = drawShardPicture(s);
        QVERIFY(p.has_value());
        QCOMPARE(p->rowDim, -1);
        QCOMPARE(p->colDim, 1);
        QCOMPARE(p->legend.size(), qsizetype{4});
        QCOMPARE(p->legend[3].first, QStringLiteral("process 3"));
        for (int c = 0; c < 4; ++c) {
            const int x = p->image.width() * c / 4 + 3;
            QCOMPARE(p->image.pixelColor(x, 2).rgb(), processColor(std::to_string(c)).rgb());
        }
        QCOMPARE(p->image.width(), p->image.height());  // stripes in a square
    }

    void raggedBlocksAreProportional() {
        // (10,) in blocks of 8: the second block holds 2 of 10 elements, a fifth of the width.
        const auto s = grid({10}, {8}, [](std::size_t i) { return std::to_string(i); });
        const auto p = drawShardPicture(s);
        QVERIFY(p.has_value());
        const int w = p->image.width();
        QCOMPARE(p->image.pixelColor(w * 7 / 10, 3).rgb(), processColor("0").rgb());
        QCOMPARE(p->image.pixelColor(w * 9 / 10, 3).rgb(), processColor("1").rgb());
    }

    void unknownAndUnstoredShards() {
        auto s = grid({4, 4}, {2, 2}, [](std::size_t i) { return i == 3 ? "" : "1"; });
        s.shards[1].stored = false;
        const auto p = drawShardPicture(s);
        QVERIFY(p.has_value());
        const int w = p->image.width(), h = p->image.height();
        QCOMPARE(p->image.pixelColor(3, 3).rgb(), processColor("1").rgb());
        QCOMPARE(p->image.pixelColor(w - 4, h - 4).rgb(), processColor("").rgb());
        QVERIFY(p->image.pixelColor(w - 4, 3).rgb() != processColor("1").rgb());  // not stored
        QCOMPARE(p->legend.back().first, QStringLiteral("process unknown"));
        QVERIFY(processColor("x") == processColor(""));
    }

    void moreThanTwoSplitDimensions() {
        // (4, 4, 4) in (2, 2, 2) blocks: rows dim 0, columns dim 1, the blocks at index 0 of 2.
        const auto s = grid({4, 4, 4}, {2, 2, 2}, [](std::size_t i) { return std::to_string(i); });
        const auto p = drawShardPicture(s);
        QVERIFY(p.has_value());
        QCOMPARE(p->rowDim, 0);
        QCOMPARE(p->colDim, 1);
        QVERIFY(p->caption.contains("index 0 of dimension 2"));
        // Flat index of block (r, c, 0) is r*4 + c*2: processes 0, 2, 4, 6 are shown, odd not.
        QCOMPARE(p->legend.size(), qsizetype{4});
        QCOMPARE(p->image.pixelColor(p->image.width() - 4, p->image.height() - 4).rgb(),
                 processColor("6").rgb());
    }
};

QTEST_MAIN(TestShardPicture)
#include "tst_preview_shard_picture.moc"
