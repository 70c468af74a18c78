#include "formats/npz/npy_header.h"

#include <cstring>
#include <string_view>

namespace ckpt::npz {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::uint64_t kMaxHeaderText = 1u << 24;  // numpy itself caps at 10000 unless trusted

struct Parser {
    std::string_view s;
    std::size_t pos = 0;

    void ws() {
        while (pos < s.size() &&
               (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
            ++pos;
    }
    bool eat(char c) {
        ws();
        if (pos < s.size() && s[pos] == c) {
            ++pos;
            return true;
        }
        return false;
    }
    bool peek(char c) {
        ws();
        return pos < s.size() && s[pos] == c;
    }
    std::optional<std::string> str() {
        ws();
        if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"')) return std::nullopt;
        const char q = s[pos++];
        std::string out;
        while (pos < s.size() && s[pos] != q) {
            if (s[pos] == '\\') return std::nullopt;  // numpy never writes escapes in these keys
            out += s[pos++];
        }
        if (pos >= s.size()) return std::nullopt;
        ++pos;
        return out;
    }
    std::optional<bool> boolean() {
        ws();
        if (s.substr(pos, 4) == "True") {
            pos += 4;
            return true;
        }
        if (s.substr(pos, 5) == "False") {
            pos += 5;
            return false;
        }
        return std::nullopt;
    }
    std::optional<std::int64_t> integer() {
        ws();
        std::size_t start = pos;
        std::int64_t v = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (v > (INT64_MAX - 9) / 10) return std::nullopt;
            v = v * 10 + (s[pos++] - '0');
        }
        if (pos < s.size() && s[pos] == 'L') ++pos;  // Python 2 longs
        if (pos == start) return std::nullopt;
        return v;
    }
    std::optional<Shape> tuple() {
        if (!eat('(')) return std::nullopt;
        Shape shape;
        if (eat(')')) return shape;
        while (true) {
            auto v = integer();
            if (!v) return std::nullopt;
            shape.push_back(*v);
            if (eat(')')) return shape;
            if (!eat(',')) return std::nullopt;
            if (eat(')')) return shape;
        }
    }
};

}  // namespace

Result<std::uint64_t> npyHeaderSize(std::span<const std::byte> b, const std::string& where) {
    if (b.size() < 10) return corruptionError(where + ": too short for an npy header");
    if (std::memcmp(b.data(), kMagic, 6) != 0)
        return corruptionError(where + ": not an npy array (bad magic)");
    const auto major = static_cast<std::uint8_t>(b[6]);
    const auto minor = static_cast<std::uint8_t>(b[7]);
    if (minor != 0 || major < 1 || major > 3) {
        return unsupportedError(where + ": npy format version " + std::to_string(major) + "." +
                                std::to_string(minor) + " is not supported");
    }
    std::uint64_t len = 0;
    std::uint64_t fixed = 10;
    if (major == 1) {
        len = static_cast<std::uint8_t>(b[8]) |
              (static_cast<std::uint64_t>(static_cast<std::uint8_t>(b[9])) << 8);
    } else {
        if (b.size() < 12) return corruptionError(where + ": too short for an npy header");
        for (std::size_t i = 12; i-- > 8;) len = (len << 8) | static_cast<std::uint8_t>(b[i]);
        fixed = 12;
    }
    if (len > kMaxHeaderText)
        return corruptionError(where + ": npy header length " + std::to_string(len) +
                               " is implausible");
    return fixed + len;
}

std::optional<DType> dtypeForDescr(const std::string& descr, bool& bigEndian, bool& rawVoid) {
    bigEndian = false;
    rawVoid = false;
    if (descr.size() < 3) return std::nullopt;
    const char order = descr[0];
    if (order != '<' && order != '>' && order != '|' && order != '=') return std::nullopt;
    const std::string_view t = std::string_view(descr).substr(1);
    struct Entry {
        std::string_view code;
        DType dtype;
    };
    static constexpr Entry kTable[] = {
        {"b1", DType::kBool},      {"i1", DType::kInt8},        {"u1", DType::kUInt8},
        {"i2", DType::kInt16},     {"u2", DType::kUInt16},      {"i4", DType::kInt32},
        {"u4", DType::kUInt32},    {"i8", DType::kInt64},       {"u8", DType::kUInt64},
        {"f2", DType::kFloat16},   {"f4", DType::kFloat32},     {"f8", DType::kFloat64},
        {"c8", DType::kComplex64}, {"c16", DType::kComplex128}, {"V1", DType::kUInt8},
        {"V2", DType::kUInt16},    {"V4", DType::kUInt32},      {"V8", DType::kUInt64},
        {"f1", DType::kUInt8},  // numpy 2.4 writes ml_dtypes float8_e5m2 so (and cannot read it)
    };
    for (const auto& e : kTable) {
        if (e.code == t) {
            rawVoid = t[0] == 'V' || t == "f1";
            bigEndian = order == '>' && itemSize(e.dtype) > 1 && !rawVoid;
            return e.dtype;
        }
    }
    return std::nullopt;
}

Result<NpyHeader> parseNpyHeader(std::span<const std::byte> b, const std::string& where) {
    CKPT_ASSIGN_OR_RETURN(std::uint64_t total, npyHeaderSize(b, where));
    if (b.size() < total) return corruptionError(where + ": npy header runs past the data");
    const std::size_t fixed = static_cast<std::uint8_t>(b[6]) == 1 ? 10 : 12;
    Parser p{std::string_view(reinterpret_cast<const char*>(b.data()) + fixed,
                              static_cast<std::size_t>(total) - fixed)};
    auto bad = [&](const std::string& why) {
        return corruptionError(where + ": malformed npy header (" + why + ")");
    };
    NpyHeader h;
    h.headerBytes = total;
    bool haveDescr = false, haveOrder = false, haveShape = false;
    if (!p.eat('{')) return bad("expected '{'");
    while (!p.eat('}')) {
        auto key = p.str();
        if (!key) return bad("expected a quoted key");
        if (!p.eat(':')) return bad("expected ':' after '" + *key + "'");
        if (*key == "descr" && !haveDescr) {
            if (p.peek('[')) {
                return unsupportedError(where + ": structured npy dtypes are not supported");
            }
            auto v = p.str();
            if (!v) return bad("descr is not a string");
            h.descr = *v;
            haveDescr = true;
        } else if (*key == "fortran_order" && !haveOrder) {
            auto v = p.boolean();
            if (!v) return bad("fortran_order is not True or False");
            h.fortranOrder = *v;
            haveOrder = true;
        } else if (*key == "shape" && !haveShape) {
            auto v = p.tuple();
            if (!v) return bad("shape is not a tuple of non-negative integers");
            h.shape = std::move(*v);
            haveShape = true;
        } else {
            return bad("unexpected or repeated key '" + *key + "'");
        }
        if (!p.eat(',')) {
            if (!p.eat('}')) return bad("expected ',' or '}'");
            break;
        }
    }
    p.ws();
    if (p.pos != p.s.size()) return bad("text after the dict");
    if (!haveDescr || !haveOrder || !haveShape)
        return bad("descr, fortran_order and shape are all required");
    auto d = dtypeForDescr(h.descr, h.bigEndian, h.rawVoid);
    if (!d) {
        if (h.descr.find('O') != std::string::npos) {
            return unsupportedError(where + ": object arrays (descr '" + h.descr +
                                    "') need pickle, which is never loaded");
        }
        return unsupportedError(where + ": npy dtype '" + h.descr + "' is not supported");
    }
    h.dtype = *d;
    auto bytes = checkedByteSize(h.dtype, h.shape);
    if (!bytes.isOk())
        return corruptionError(where + ": shape " + formatShape(h.shape) + " overflows");
    return h;
}

std::string descrForDType(DType dtype) {
    switch (dtype) {
        case DType::kBool:
            return "|b1";
        case DType::kInt8:
            return "|i1";
        case DType::kUInt8:
            return "|u1";
        case DType::kInt16:
            return "<i2";
        case DType::kUInt16:
            return "<u2";
        case DType::kInt32:
            return "<i4";
        case DType::kUInt32:
            return "<u4";
        case DType::kInt64:
            return "<i8";
        case DType::kUInt64:
            return "<u8";
        case DType::kFloat16:
            return "<f2";
        case DType::kFloat32:
            return "<f4";
        case DType::kFloat64:
            return "<f8";
        case DType::kComplex64:
            return "<c8";
        case DType::kComplex128:
            return "<c16";
        default:
            return "|V" + std::to_string(itemSize(dtype));
    }
}

std::string encodeNpyHeader(DType dtype, const Shape& shape) {
    std::string dict =
        "{'descr': '" + descrForDType(dtype) + "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) dict += ", ";
        dict += std::to_string(shape[i]);
    }
    if (shape.size() == 1) dict += ",";
    dict += "), }";
    std::size_t fixed = 10;
    std::size_t total = (fixed + dict.size() + 1 + 63) / 64 * 64;
    int major = 1;
    if (total - fixed > 65535) {
        fixed = 12;
        total = (fixed + dict.size() + 1 + 63) / 64 * 64;
        major = 2;
    }
    const std::size_t len = total - fixed;
    std::string out(kMagic, 6);
    out.push_back(static_cast<char>(major));
    out.push_back('\0');
    for (std::size_t i = 0; i < fixed - 8; ++i)
        out.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
    out += dict;
    out.append(len - dict.size() - 1, ' ');
    out.push_back('\n');
    return out;
}

}  // namespace ckpt::npz
