#include "ckpt/core/keypath.h"

namespace ckpt {

std::string escapeKey(std::string_view key) {
    if (key.empty()) return "\\e";
    std::string out;
    out.reserve(key.size());
    for (char c : key) {
        if (c == '/' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

// One allocation per path (opening a 100,000-leaf checkpoint formats every leaf's path; a
// temporary string per key cost as much as the rest of adding the leaf).
std::string formatKeyPath(const KeyPath& path) {
    std::size_t size = path.empty() ? 0 : path.size() - 1;
    for (const std::string& key : path) size += key.empty() ? 2 : key.size();  // escapes are rare
    std::string out;
    out.reserve(size);
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (i > 0) out += '/';
        const std::string& key = path[i];
        if (key.empty()) {
            out += "\\e";
            continue;
        }
        for (const char c : key) {
            if (c == '/' || c == '\\') out += '\\';
            out += c;
        }
    }
    return out;
}

std::string describeKeyPath(const KeyPath& path) {
    if (path.empty()) return "(root)";
    std::string out(1, '\'');
    out += formatKeyPath(path);
    out += '\'';
    return out;
}

Result<KeyPath> parseKeyPath(std::string_view text) {
    KeyPath out;
    std::string current;
    bool haveKey = false;  // the current segment is non-empty or was written as \e
    auto flush = [&]() {
        if (haveKey) out.push_back(current);
        current.clear();
        haveKey = false;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\') {
            if (i + 1 >= text.size()) {
                return invalidArgumentError("key path '" + std::string(text) +
                                            "' ends with a lone backslash");
            }
            const char next = text[++i];
            if (next == '/' || next == '\\') {
                current += next;
            } else if (next == 'e') {
                if (!current.empty()) {
                    return invalidArgumentError("key path '" + std::string(text) +
                                                "': \\e must stand alone as an empty key");
                }
            } else {
                return invalidArgumentError("key path '" + std::string(text) +
                                            "': unknown escape '\\" + std::string(1, next) +
                                            "' (use \\/ for '/', \\\\ for '\\', \\e for an empty key)");
            }
            haveKey = true;
        } else if (c == '/') {
            if (!haveKey && !out.empty() && i + 1 < text.size()) {
                return invalidArgumentError("key path '" + std::string(text) +
                                            "' has an empty segment (write an empty key as \\e)");
            }
            flush();
        } else {
            current += c;
            haveKey = true;
        }
    }
    flush();
    return out;
}

}  // namespace ckpt
