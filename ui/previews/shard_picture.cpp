#include "previews/shard_picture.h"

#include <QFont>
#include <QPainter>
#include <algorithm>
#include <charconv>
#include <map>
#include <vector>

namespace ckpt::ui {

namespace {

// Pixel edges of the blocks of `blockLength` elements (the last may be short) that cut a dimension
// of `length` elements drawn over `pixels` pixels, proportional to the elements.
std::vector<int> edges(std::int64_t length, std::int64_t blockLength, int pixels) {
    std::vector<int> out{0};
    if (length <= 0 || blockLength <= 0) {
        out.push_back(pixels);
        return out;
    }
    for (std::int64_t start = blockLength; start < length; start += blockLength) {
        out.push_back(static_cast<int>(static_cast<double>(start) / static_cast<double>(length) *
                                       pixels));
    }
    out.push_back(pixels);
    return out;
}

}  // namespace

QColor processColor(const std::string& process) {
    int p = -1;
    const auto [end, ec] = std::from_chars(process.data(), process.data() + process.size(), p);
    if (process.empty() || ec != std::errc() || end != process.data() + process.size() || p < 0) {
        return QColor(160, 160, 160);
    }
    // Golden-angle hues: neighbouring process numbers get clearly different colours.
    return QColor::fromHsv((p * 137 + 210) % 360, 120, 225);
}

std::optional<ShardPicture> drawShardPicture(const LeafSharding& sharding) {
    const Shape& global = sharding.globalShape;
    const Shape& block = sharding.shardShape;
    if (sharding.shardCount <= 1 || sharding.shards.empty() || block.size() != global.size()) {
        return std::nullopt;
    }
    std::vector<int> split;
    for (std::size_t d = 0; d < global.size(); ++d) {
        if (block[d] > 0 && block[d] < global[d]) split.push_back(static_cast<int>(d));
    }
    if (split.empty()) return std::nullopt;
    ShardPicture picture;
    const int rank = static_cast<int>(global.size());
    if (split.size() >= 2) {
        picture.rowDim = split[0];
        picture.colDim = split[1];
    } else if (split[0] == rank - 1) {
        picture.colDim = split[0];
    } else {
        picture.rowDim = split[0];
    }
    const auto dim = [](const std::vector<std::int64_t>& v, int d) {
        return v[static_cast<std::size_t>(d)];
    };
    const auto blocksAlong = [&](int d) {
        return d < 0 ? std::int64_t{1} : (dim(global, d) + dim(block, d) - 1) / dim(block, d);
    };
    const std::int64_t rows = blocksAlong(picture.rowDim);
    const std::int64_t cols = blocksAlong(picture.colDim);

    // The rectangle keeps the drawn dimensions' aspect ratio within limits, so a (16, 128)
    // array is not a sliver.
    const auto extentOf = [&](int d) { return d < 0 ? std::int64_t{1} : dim(global, d); };
    double aspect = static_cast<double>(extentOf(picture.colDim)) /
                    static_cast<double>(std::max<std::int64_t>(extentOf(picture.rowDim), 1));
    if (picture.rowDim < 0 || picture.colDim < 0) aspect = 1.0;  // stripes in a square
    aspect = std::clamp(aspect, 1.0 / 2.0, 2.0);
    int width = kShardPictureMaxSide;
    int height = static_cast<int>(kShardPictureMaxSide / aspect);
    if (height > kShardPictureMaxSide) {
        height = kShardPictureMaxSide;
        width = static_cast<int>(kShardPictureMaxSide * aspect);
    }
    width = std::max(width, 32);
    height = std::max(height, 32);
    const std::vector<int> xs = edges(extentOf(picture.colDim),
                                      picture.colDim < 0 ? 1 : dim(block, picture.colDim), width - 1);
    const std::vector<int> ys = edges(extentOf(picture.rowDim),
                                      picture.rowDim < 0 ? 1 : dim(block, picture.rowDim), height - 1);

    picture.image = QImage(width, height, QImage::Format_ARGB32_Premultiplied);
    picture.image.fill(Qt::transparent);
    QPainter painter(&picture.image);
    QFont font = painter.font();
    font.setPixelSize(10);
    painter.setFont(font);
    std::map<int, std::string> processes;  // ordered by number; unknown ones last
    bool unknown = false;
    for (const Shard& shard : sharding.shards) {
        if (shard.index.start.size() != global.size()) continue;
        bool shown = true;  // index 0 of every split dimension that is not drawn
        for (int d : split) {
            if (d != picture.rowDim && d != picture.colDim && dim(shard.index.start, d) != 0) {
                shown = false;
            }
        }
        if (!shown) continue;
        const auto at = [&](int d) {
            return d < 0 ? std::size_t{0} : static_cast<std::size_t>(dim(shard.index.start, d) / dim(block, d));
        };
        const std::size_t r = at(picture.rowDim);
        const std::size_t c = at(picture.colDim);
        if (r + 1 >= ys.size() || c + 1 >= xs.size()) continue;
        const QRect cell(QPoint(xs[c], ys[r]), QPoint(xs[c + 1], ys[r + 1]));
        const QColor color = shard.stored ? processColor(shard.process) : QColor(235, 235, 235);
        painter.fillRect(cell, color);
        if (cols * rows <= 4096) {
            painter.setPen(QColor(60, 60, 60));
            painter.drawRect(cell);
        }
        if (!shard.process.empty() && cell.width() >= 18 && cell.height() >= 13) {
            painter.setPen(Qt::black);
            painter.drawText(cell, Qt::AlignCenter, QString::fromStdString(shard.process));
        }
        int number = -1;
        const auto [end, ec] = std::from_chars(shard.process.data(),
                                               shard.process.data() + shard.process.size(), number);
        if (!shard.process.empty() && ec == std::errc() &&
            end == shard.process.data() + shard.process.size()) {
            processes.emplace(number, shard.process);
        } else {
            unknown = true;
        }
    }
    painter.end();
    for (const auto& [number, name] : processes) {
        picture.legend.append({QStringLiteral("process %1").arg(QString::fromStdString(name)),
                               processColor(name)});
    }
    if (unknown) picture.legend.append({QStringLiteral("process unknown"), processColor("")});

    QStringList parts;
    if (picture.rowDim >= 0) {
        parts.append(QStringLiteral("rows: dimension %1 in %2 blocks").arg(picture.rowDim).arg(rows));
    }
    if (picture.colDim >= 0) {
        parts.append(
            QStringLiteral("columns: dimension %1 in %2 blocks").arg(picture.colDim).arg(cols));
    }
    if (split.size() > 2) {
        QStringList others;
        for (std::size_t i = 2; i < split.size(); ++i) others.append(QString::number(split[i]));
        parts.append(QStringLiteral("the blocks at index 0 of dimension %1")
                         .arg(others.join(QStringLiteral(", "))));
    }
    picture.caption = parts.join(QStringLiteral("; "));
    return picture;
}

}  // namespace ckpt::ui
