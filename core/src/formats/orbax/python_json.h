// JSON text exactly as Python's json.dumps writes it by default (", " and ": " separators,
// ensure_ascii=True), so files we write are byte-identical to Orbax's where it matters for diffs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ckpt::orbax {

// json.dumps(value) with default separators, or compact (",", ":") when `compact`.
std::string pythonJsonDumps(const nlohmann::ordered_json& value, bool compact = false);

// base64.urlsafe_b64encode(text) (with '=' padding).
std::string urlsafeBase64(const std::string& text);

}  // namespace ckpt::orbax
