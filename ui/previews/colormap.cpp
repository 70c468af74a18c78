#include "previews/colormap.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace ckpt::ui {

namespace {

struct Stop {
    int r, g, b;
};

// Samples of matplotlib's viridis at t = 0, 1/8, ..., 1.
constexpr std::array<Stop, 9> kViridis{{{68, 1, 84},
                                        {71, 44, 122},
                                        {59, 81, 139},
                                        {44, 113, 142},
                                        {33, 144, 141},
                                        {39, 173, 129},
                                        {92, 200, 99},
                                        {170, 220, 50},
                                        {253, 231, 37}}};

// Blue, white, red (after ColorBrewer RdBu, reversed) at t = 0, 1/4, 1/2, 3/4, 1.
constexpr std::array<Stop, 5> kDiverging{
    {{33, 102, 172}, {146, 197, 222}, {247, 247, 247}, {244, 165, 130}, {178, 24, 43}}};

template <std::size_t N>
QColor interpolate(const std::array<Stop, N>& stops, double t) {
    t = std::clamp(t, 0.0, 1.0);
    const double x = t * static_cast<double>(N - 1);
    const auto i = std::min(static_cast<std::size_t>(x), N - 2);
    const double f = x - static_cast<double>(i);
    auto mix = [f](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * f)); };
    return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g),
            mix(stops[i].b, stops[i + 1].b)};
}

}  // namespace

QColor nonFiniteColor() {
    return {255, 0, 255};  // magenta: in neither map
}

QString colormapName(Colormap map) {
    return map == Colormap::kViridis ? QStringLiteral("Viridis")
                                     : QStringLiteral("Diverging (zero-centred)");
}

QColor colormapColor(Colormap map, double t) {
    return map == Colormap::kViridis ? interpolate(kViridis, t) : interpolate(kDiverging, t);
}

QColor valueColor(Colormap map, double value, double lo, double hi) {
    if (!std::isfinite(value)) return nonFiniteColor();
    if (map == Colormap::kDiverging) {
        const double m = std::max(std::abs(lo), std::abs(hi));
        lo = -m;
        hi = m;
    }
    const double t = hi > lo ? (value - lo) / (hi - lo) : 0.5;
    return colormapColor(map, t);
}

}  // namespace ckpt::ui
