#include "formats/orbax/python_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace ckpt::orbax {

namespace {

void appendEscaped(std::string& out, std::string_view s) {
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20 || c == 0x7f) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        // Decode one UTF-8 sequence (input is valid UTF-8: it came from nlohmann::json).
        std::uint32_t cp = 0;
        std::size_t n = 0;
        if ((c >> 5) == 0x6) {
            cp = c & 0x1F;
            n = 1;
        } else if ((c >> 4) == 0xE) {
            cp = c & 0x0F;
            n = 2;
        } else {
            cp = c & 0x07;
            n = 3;
        }
        for (std::size_t k = 1; k <= n && i + k < s.size(); ++k) {
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        }
        i += n + 1;
        char buf[16];
        if (cp >= 0x10000) {
            const std::uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
        }
        out += buf;
    }
    out += '"';
}

void dump(const nlohmann::ordered_json& j, bool compact, std::string& out) {
    const char* itemSep = compact ? "," : ", ";
    const char* keySep = compact ? ":" : ": ";
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::object: {
            out += '{';
            bool first = true;
            for (const auto& [k, v] : j.items()) {
                if (!first) out += itemSep;
                first = false;
                appendEscaped(out, k);
                out += keySep;
                dump(v, compact, out);
            }
            out += '}';
            return;
        }
        case nlohmann::ordered_json::value_t::array: {
            out += '[';
            bool first = true;
            for (const auto& v : j) {
                if (!first) out += itemSep;
                first = false;
                dump(v, compact, out);
            }
            out += ']';
            return;
        }
        case nlohmann::ordered_json::value_t::string: appendEscaped(out, j.get_ref<const std::string&>()); return;
        case nlohmann::ordered_json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; return;
        case nlohmann::ordered_json::value_t::null: out += "null"; return;
        case nlohmann::ordered_json::value_t::number_integer: out += std::to_string(j.get<std::int64_t>()); return;
        case nlohmann::ordered_json::value_t::number_unsigned: out += std::to_string(j.get<std::uint64_t>()); return;
        case nlohmann::ordered_json::value_t::number_float: {
            const double v = j.get<double>();
            if (std::isnan(v)) {
                out += "NaN";
            } else if (std::isinf(v)) {
                out += v > 0 ? "Infinity" : "-Infinity";
            } else {
                char buf[32];
                auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
                std::string s(buf, end);
                if (s.find_first_of(".eE") == std::string::npos) s += ".0";
                out += s;
            }
            return;
        }
        default: out += "null"; return;
    }
}

}  // namespace

void appendPythonJson(std::string& out, const nlohmann::ordered_json& value, bool compact) {
    dump(value, compact, out);
}

void appendPythonJsonString(std::string& out, std::string_view text) { appendEscaped(out, text); }

std::string pythonJsonDumps(const nlohmann::ordered_json& value, bool compact) {
    std::string out;
    dump(value, compact, out);
    return out;
}

std::string urlsafeBase64(const std::string& text) {
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(text[k]));
    };
    for (; i + 2 < text.size(); i += 3) {
        const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i + 1 == text.size()) {
        const std::uint32_t v = byte(i) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == text.size()) {
        const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

}  // namespace ckpt::orbax
