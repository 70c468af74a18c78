// Colormaps for the heatmap: a sequential one (viridis-like) and a zero-centred diverging one.
//
// Pure functions of a value and a range; safe on any thread.
#pragma once

#include <QColor>
#include <QString>

namespace ckpt::ui {

enum class Colormap { kViridis, kDiverging };

// Drawn for NaN and ±Inf, in neither map.
QColor nonFiniteColor();

// "Viridis", "Diverging (zero-centred)".
QString colormapName(Colormap map);

// The colour of `t` in [0, 1] (clamped).
QColor colormapColor(Colormap map, double t);

// The colour of `value` for the range [lo, hi]. The diverging map is centred on zero: its range
// becomes [-m, m] with m = max(|lo|, |hi|). Non-finite values get nonFiniteColor().
QColor valueColor(Colormap map, double value, double lo, double hi);

}  // namespace ckpt::ui
