// ocdbt_tool: a test-only driver for the interop suite (tests/interop/test_ocdbt_interop.py).
//
//   ocdbt_tool write DIR [--hex-keys] < {"key": "<hex value>", ...}
//       writes a new OCDBT database in DIR with OcdbtWriter;
//   ocdbt_tool dump DIR [--hex-keys]
//       prints {"key": "<hex value>", ...} for every key of the database, read with OcdbtStore.
// With --hex-keys the JSON keys are hex too (for keys that are not UTF-8). Exit status 0 on
// success, 1 with the Status text on stderr otherwise. Not installed.

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/ocdbt/ocdbt_store.h"
#include "formats/ocdbt/ocdbt_writer.h"

namespace {

std::string toHex(std::string_view s) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() * 2);
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        out += kDigits[c >> 4];
        out += kDigits[c & 0xF];
    }
    return out;
}

bool fromHex(std::string_view hex, std::string& out) {
    if (hex.size() % 2 != 0) return false;
    const auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    out.clear();
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = digit(hex[i]);
        const int lo = digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>((hi << 4) | lo);
    }
    return true;
}

int failWith(const std::string& message) {
    std::fprintf(stderr, "ocdbt_tool: %s\n", message.c_str());
    return 1;
}

int writeDb(const std::string& dir, bool hexKeys) {
    // Read stdin in blocks (parsing through a stdio-synchronised std::cin is per character).
    std::string text;
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
    nlohmann::json input;
    try {
        input = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        return failWith(std::string("invalid JSON on stdin: ") + e.what());
    }
    if (!input.is_object()) return failWith("stdin must hold a JSON object");
    auto writer = ckpt::ocdbt::createOcdbtWriter(dir);
    if (!writer.isOk()) return failWith(writer.status().toString());
    for (const auto& [jsonKey, jsonValue] : input.items()) {
        std::string key = jsonKey;
        if (hexKeys && !fromHex(jsonKey, key)) return failWith("bad hex key " + jsonKey);
        std::string value;
        if (!jsonValue.is_string() || !fromHex(jsonValue.get<std::string>(), value)) {
            return failWith("value of " + jsonKey + " is not a hex string");
        }
        const ckpt::Status s = (*writer)->put(key, value);
        if (!s.isOk()) return failWith(s.toString());
    }
    const ckpt::Status s = (*writer)->commit();
    if (!s.isOk()) return failWith(s.toString());
    return 0;
}

int dumpDb(const std::string& dir, bool hexKeys) {
    auto store = ckpt::ocdbt::openOcdbtStore(dir);
    if (!store.isOk()) return failWith(store.status().toString());
    auto keys = (*store)->list();
    if (!keys.isOk()) return failWith(keys.status().toString());
    nlohmann::json out = nlohmann::json::object();
    for (const auto& key : *keys) {
        auto value = (*store)->read(key);
        if (!value.isOk()) return failWith(value.status().toString());
        if (!*value) return failWith("listed key cannot be read: " + toHex(key));
        out[hexKeys ? toHex(key) : key] = toHex(**value);
    }
    // Keys that are not UTF-8 are replaced rather than aborting the dump; use --hex-keys for them.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        return failWith("usage: ocdbt_tool write|dump DIR [--hex-keys]");
    }
    const std::string mode = argv[1];
    const std::string dir = argv[2];
    bool hexKeys = false;
    if (argc == 4) {
        if (std::string(argv[3]) != "--hex-keys")
            return failWith("unknown option " + std::string(argv[3]));
        hexKeys = true;
    }
    if (mode == "write") return writeDb(dir, hexKeys);
    if (mode == "dump") return dumpDb(dir, hexKeys);
    return failWith("unknown mode " + mode);
}
