// JSON text exactly as Python's json.dumps writes it by default (", " and ": " separators,
// ensure_ascii=True), so files we write are byte-identical to Orbax's where it matters for diffs.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckpt::orbax {

// json.dumps(value) with default separators, or compact (",", ":") when `compact`.
std::string pythonJsonDumps(const nlohmann::ordered_json& value, bool compact = false);

// Appends json.dumps(value) (as above) or json.dumps(text) (a string) to `out`: for documents
// built as text, without a JSON tree per entry (_METADATA of 100,000 leaves).
void appendPythonJson(std::string& out, const nlohmann::ordered_json& value, bool compact = false);
void appendPythonJsonString(std::string& out, std::string_view text);

// base64.urlsafe_b64encode(text) (with '=' padding).
std::string urlsafeBase64(const std::string& text);

}  // namespace ckpt::orbax
