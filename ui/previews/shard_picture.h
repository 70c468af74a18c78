// ShardPicture: a small picture of which process wrote which block of a sharded array.
//
// The array is drawn as a rectangle cut into its shard grid along (at most) two split
// dimensions — rows along the first split dimension, columns along the second, or along the last
// dimension when only that one is split — each block as wide as the elements it holds and filled
// with its writing process's colour (grey when unknown), labelled with the process where it fits.
// When more than two dimensions are split, the blocks shown are those at index 0 of the others
// (the caption says so). Pure: builds a QImage, so it may run off the GUI thread.
#pragma once

#include <QColor>
#include <QImage>
#include <QList>
#include <QPair>
#include <QString>
#include <optional>
#include <string>

#include "ckpt/core/sharding.h"

namespace ckpt::ui {

struct ShardPicture {
    QImage image;
    QString caption;                         // "rows: dimension 0 in 4 blocks; …"
    QList<QPair<QString, QColor>> legend;    // ("process 0", colour), … in process order
    int rowDim = -1;                         // the dimension drawn as rows, -1: one row
    int colDim = -1;                         // the dimension drawn as columns, -1: one column
};

// The colour of process `process` ("0", "1", …; empty or not a number: grey).
QColor processColor(const std::string& process);

// Largest picture side in pixels.
inline constexpr int kShardPictureMaxSide = 120;

// The picture of `sharding` (ShardDetail::kFull: its shards listed), or nullopt when there is
// nothing to draw (one shard, or no listing).
std::optional<ShardPicture> drawShardPicture(const LeafSharding& sharding);

}  // namespace ckpt::ui
