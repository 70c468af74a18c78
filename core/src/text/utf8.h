// UTF-8 validation shared by the formats that store text (msgpack strings, safetensors keys).
#pragma once

#include <string_view>

namespace ckpt::text {

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view s);

}  // namespace ckpt::text
