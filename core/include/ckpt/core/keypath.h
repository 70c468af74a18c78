// Key paths: where a node sits in a checkpoint tree.
//
// A key path is the list of keys from the root: dict keys, and list/tuple indices written in
// decimal ("0", "1", ...). Its text form joins the keys with '/': "params/dense/kernel",
// "data/0". A key that contains '/' or '\' escapes them with a backslash ("a\/b" is the single
// key "a/b"); an empty key is written as "\e" so that every key path has exactly one text form.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt {

using KeyPath = std::vector<std::string>;

std::string formatKeyPath(const KeyPath& path);
// "" and "/" both name the root; leading and trailing '/' are ignored.
Result<KeyPath> parseKeyPath(std::string_view text);

// Escapes one key for use inside a key path text.
std::string escapeKey(std::string_view key);

// For messages: the key path text in quotes, or "(root)".
std::string describeKeyPath(const KeyPath& path);

}  // namespace ckpt
