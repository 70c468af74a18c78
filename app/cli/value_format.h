// Text and JSON renderings of leaf values for the CLI: numpy-style array printing with elision,
// Python-style scalars, and JSON numbers that survive NaN and infinities.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ckpt/core/array_source.h"
#include "ckpt/core/stats.h"
#include "ckpt/core/tree.h"

namespace ckpt::cli {

// One element as text: integers exactly, floats in shortest round-trip form ("nan", "inf").
std::string formatElement(DType dtype, const std::byte* p);

// One element as JSON: integers exactly, floats as numbers or "nan"/"inf"/"-inf",
// complex as [re, im].
nlohmann::json elementJson(DType dtype, const std::byte* p);

// numpy-like text of the array: nested brackets, each dimension longer than 2*edge elided to
// its first and last `edge` entries when the array has more than `threshold` elements.
Result<std::string> formatArray(const ArraySource& source, std::uint64_t threshold = 1000,
                                std::int64_t edge = 3);

std::string humanBytes(std::uint64_t bytes);

nlohmann::json statsJson(const ArrayStats& stats);

// A double as a JSON number, or "nan"/"inf"/"-inf".
nlohmann::json doubleJson(double v);

}  // namespace ckpt::cli
