// Display text shared by models and views: byte sizes, counts and shapes as people read them.
//
// Pure functions; safe on any thread. Output does not depend on the locale, so tests and
// screenshots read the same everywhere.
#pragma once

#include <QString>
#include <cstdint>

namespace ckpt::ui {

// "0 B", "60 B", "1023 B", "1.0 KiB", "1.2 MiB", ... (binary units, one decimal above 1 KiB).
QString humanBytes(std::uint64_t bytes);

// "7", "1,234", "1,234,567".
QString groupedCount(std::uint64_t count);

// "1 leaf" / "3 leaves": `count` grouped, with the singular or plural noun.
QString countedNoun(std::uint64_t count, const QString& singular, const QString& plural);

}  // namespace ckpt::ui
