#include "models/display_text.h"

#include <array>

namespace ckpt::ui {

QString humanBytes(std::uint64_t bytes) {
    if (bytes < 1024) return QStringLiteral("%1 B").arg(bytes);
    static constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    auto value = static_cast<double>(bytes) / 1024.0;
    std::size_t unit = 0;
    // Switch units before rounding could print "1024.0 KiB".
    while (value >= 1023.95 && unit + 1 < kUnits.size()) {
        value /= 1024.0;
        ++unit;
    }
    return QStringLiteral("%1 %2").arg(value, 0, 'f', 1).arg(QLatin1String(kUnits[unit]));
}

QString groupedCount(std::uint64_t count) {
    QString digits = QString::number(count);
    for (auto pos = digits.size() - 3; pos > 0; pos -= 3) digits.insert(pos, QLatin1Char(','));
    return digits;
}

QString countedNoun(std::uint64_t count, const QString& singular, const QString& plural) {
    return groupedCount(count) + QLatin1Char(' ') + (count == 1 ? singular : plural);
}

}  // namespace ckpt::ui
