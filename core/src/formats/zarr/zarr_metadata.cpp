#include "formats/zarr/zarr_metadata.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>

#include "formats/zarr/zarr_codecs.h"

namespace ckpt::zarr {

namespace {

using json = nlohmann::json;

// Nested sharding deeper than this is refused (TensorStore allows nesting; nobody nests deep).
constexpr int kMaxShardingDepth = 8;

Status corrupt(const std::string& what) {
    return corruptionError(what);
}

// True when `j` nests no deeper than `depth` and holds few values, so dumping it is cheap and
// cannot recurse deeply (json::dump is recursive; hostile metadata may nest arbitrarily).
bool isSmall(const json& j, int depth, std::size_t& budget) {
    if (budget == 0) return false;
    --budget;
    if (!j.is_structured()) return true;
    if (depth == 0) return false;
    for (const json& child : j) {
        if (!isSmall(child, depth - 1, budget)) return false;
    }
    return true;
}

std::string jsonSnippet(const json& j) {
    std::size_t budget = 64;
    if (!isSmall(j, 4, budget)) return j.is_array() ? "a large array" : "a large object";
    std::string s = j.dump();
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
}

const json* member(const json& obj, const char* name) {
    auto it = obj.find(name);
    return it == obj.end() ? nullptr : &*it;
}

// An integer JSON value (or a float with an integral value) within [lo, hi].
Result<std::int64_t> jsonInt(const json& j, std::int64_t lo, std::int64_t hi,
                             const std::string& what) {
    std::int64_t v = 0;
    if (j.is_number_unsigned()) {
        const auto u = j.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return corrupt(what + " " + jsonSnippet(j) + " is out of range");
        }
        v = static_cast<std::int64_t>(u);
    } else if (j.is_number_integer()) {
        v = j.get<std::int64_t>();
    } else if (j.is_number_float()) {
        const double d = j.get<double>();
        // 2^63 is exactly representable; anything at or above it does not fit.
        if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18) || std::trunc(d) != d) {
            return corrupt(what + " " + jsonSnippet(j) + " is not an integer");
        }
        v = static_cast<std::int64_t>(d);
    } else {
        return corrupt(what + " must be an integer, got " + jsonSnippet(j));
    }
    if (v < lo || v > hi) {
        return corrupt(what + " " + std::to_string(v) + " is outside [" + std::to_string(lo) +
                       ", " + std::to_string(hi) + "]");
    }
    return v;
}

Result<Shape> jsonShape(const json& j, std::int64_t minDim, const std::string& what) {
    if (!j.is_array()) return corrupt(what + " must be an array, got " + jsonSnippet(j));
    if (j.size() > kMaxRank) {
        return corrupt(what + " has rank " + std::to_string(j.size()) + ", more than the " +
                       std::to_string(kMaxRank) + " zarr readers support");
    }
    Shape shape;
    for (const json& d : j) {
        CKPT_ASSIGN_OR_RETURN(std::int64_t v,
                              jsonInt(d, minDim, std::numeric_limits<std::int64_t>::max(), what));
        shape.push_back(v);
    }
    return shape;
}

Result<std::string> jsonString(const json& j, const std::string& what) {
    if (!j.is_string()) return corrupt(what + " must be a string, got " + jsonSnippet(j));
    return j.get<std::string>();
}

// ---- element encodings for fill values --------------------------------------------------------

struct MiniFloatFormat {
    DType dtype;
    std::uint32_t maxFinite;                // largest positive finite bit pattern
    std::uint32_t nan;                      // the default NaN TensorStore / ml_dtypes produce
    std::optional<std::uint32_t> infinity;  // IEEE-style +inf; none for fn / fnuz
    std::uint32_t signBit;
    bool unsignedZeroOnly;  // fnuz: no negative zero
};

// Default NaNs from tensorstore/driver/zarr3/default_nan.h and ml_dtypes 0.6 (checked with
// numpy: np.array([nan]).astype(t)); maxima from ml_dtypes.finfo(t).max.
constexpr std::array<MiniFloatFormat, 10> kMiniFloats = {{
    {DType::kFloat16, 0x7bff, 0x7e00, 0x7c00, 0x8000, false},
    {DType::kBFloat16, 0x7f7f, 0x7fc0, 0x7f80, 0x8000, false},
    {DType::kFloat8E4M3FN, 0x7e, 0x7f, std::nullopt, 0x80, false},
    {DType::kFloat8E4M3FNUZ, 0x7f, 0x80, std::nullopt, 0x80, true},
    {DType::kFloat8E5M2, 0x7b, 0x7e, 0x7c, 0x80, false},
    {DType::kFloat8E5M2FNUZ, 0x7f, 0x80, std::nullopt, 0x80, true},
    {DType::kFloat8E4M3B11FNUZ, 0x7f, 0x80, std::nullopt, 0x80, true},
    {DType::kFloat8E4M3, 0x77, 0x7c, 0x78, 0x80, false},
    {DType::kFloat8E3M4, 0x6f, 0x78, 0x70, 0x80, false},
    // No NaN or infinity: ml_dtypes turns NaN into -0 (0x8) and saturates overflow to ±6.
    {DType::kFloat4E2M1FN, 0x7, 0x8, std::nullopt, 0x8, false},
}};

double patternValue(DType dtype, std::uint32_t bits) {
    std::array<std::byte, 2> b{static_cast<std::byte>(bits & 0xff),
                               static_cast<std::byte>((bits >> 8) & 0xff)};
    return elementToDouble(dtype, b.data());
}

std::uint32_t encodeMiniFloat(const MiniFloatFormat& f, double value) {
    if (std::isnan(value)) return f.nan;
    const bool negative = std::signbit(value);
    const double mag = std::fabs(value);
    const std::uint32_t sign = negative ? f.signBit : 0;
    const auto overflow = [&]() -> std::uint32_t {
        if (f.infinity) return *f.infinity | sign;
        if (f.dtype == DType::kFloat4E2M1FN) return f.maxFinite | sign;
        return f.unsignedZeroOnly ? f.nan : (f.nan | sign);
    };
    if (std::isinf(mag)) return overflow();
    // Positive finite patterns 0..maxFinite increase monotonically in value: binary search for
    // the largest pattern whose value is <= mag, then round to nearest, ties to the even pattern.
    const double maxValue = patternValue(f.dtype, f.maxFinite);
    std::uint32_t lo = 0;
    std::uint32_t hi = f.maxFinite;
    if (mag >= maxValue) {
        lo = f.maxFinite;
    } else {
        while (lo < hi) {
            const std::uint32_t mid = lo + (hi - lo + 1) / 2;
            if (patternValue(f.dtype, mid) <= mag) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
    }
    std::uint32_t bits = lo;
    const double below = patternValue(f.dtype, lo);
    double above = 0;
    if (lo == f.maxFinite) {
        above = maxValue + (maxValue - patternValue(f.dtype, f.maxFinite - 1));
    } else {
        above = patternValue(f.dtype, lo + 1);
    }
    if (mag > below) {
        const double dBelow = mag - below;
        const double dAbove = above - mag;
        if (dAbove < dBelow || (dAbove == dBelow && (lo & 1U) != 0)) bits = lo + 1;
    }
    if (bits > f.maxFinite) return overflow();
    if (bits == 0 && f.unsignedZeroOnly) return 0;
    return bits | sign;
}

std::uint8_t encodeE8M0(double value) {
    // Unsigned powers of two 2^(b-127), b in 0..254; 0xFF is NaN. Zero, negatives and NaN have no
    // encoding and become NaN, as in ml_dtypes. Ties (1.5 * 2^k) round up.
    if (!(value > 0) || std::isinf(value)) return 0xFF;
    int exponent = 0;
    const double mantissa = std::frexp(value, &exponent);  // value = mantissa * 2^exponent
    int e = exponent - 1;                                  // value = (2*mantissa) * 2^e
    if (2 * mantissa >= 1.5) ++e;
    const int biased = e + 127;
    if (biased < 0) return 0;
    if (biased > 254) return 0xFF;
    return static_cast<std::uint8_t>(biased);
}

void putLE(std::vector<std::byte>& out, std::uint64_t bits, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i) {
        out.push_back(static_cast<std::byte>((bits >> (8 * i)) & 0xff));
    }
}

// A float component of a fill value: number, "NaN", "Infinity", "-Infinity", a raw bit pattern
// "0x7fc00000" (v3 spec), or a decimal string (TensorStore's v2 reader accepts those too).
Result<std::vector<std::byte>> floatFill(DType dtype, const json& j) {
    const std::size_t item = itemSize(dtype);
    if (j.is_number()) return encodeDouble(dtype, j.get<double>());
    if (!j.is_string()) {
        return corrupt("fill_value " + jsonSnippet(j) + " is not a valid " +
                       std::string(dtypeName(dtype)));
    }
    const std::string s = j.get<std::string>();
    if (s == "NaN") return encodeDouble(dtype, std::numeric_limits<double>::quiet_NaN());
    if (s == "Infinity") return encodeDouble(dtype, std::numeric_limits<double>::infinity());
    if (s == "-Infinity") return encodeDouble(dtype, -std::numeric_limits<double>::infinity());
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        if (s.size() - 2 > 2 * item) {
            return corrupt("fill_value \"" + s + "\" has more hex digits than a " +
                           std::string(dtypeName(dtype)) + " holds");
        }
        std::uint64_t bits = 0;
        for (std::size_t i = 2; i < s.size(); ++i) {
            const char c = s[i];
            int digit = 0;
            if (c >= '0' && c <= '9') {
                digit = c - '0';
            } else if (c >= 'a' && c <= 'f') {
                digit = c - 'a' + 10;
            } else if (c >= 'A' && c <= 'F') {
                digit = c - 'A' + 10;
            } else {
                return corrupt("fill_value \"" + s + "\" is not a hex bit pattern");
            }
            bits = (bits << 4) | static_cast<std::uint64_t>(digit);
        }
        std::vector<std::byte> out;
        putLE(out, bits, item);
        return out;
    }
    // Decimal string, finite only.
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || std::isnan(d) || std::isinf(d)) {
        return corrupt("fill_value \"" + s + "\" is not a valid " + std::string(dtypeName(dtype)));
    }
    return encodeDouble(dtype, d);
}

Result<std::vector<std::byte>> base64Fill(const std::string& s, std::size_t item, Endian endian,
                                          std::size_t swapUnit) {
    std::vector<std::byte> out;
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t pad = 0;
    for (char c : s) {
        int v = -1;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=') {
            ++pad;
            continue;
        }
        if (v < 0 || pad > 0) return corrupt("fill_value \"" + s + "\" is not valid base64");
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::byte>((acc >> bits) & 0xff));
        }
        if (out.size() > item) break;
    }
    if (out.size() != item) {
        return corrupt("fill_value \"" + s + "\" does not decode to " + std::to_string(item) +
                       " base64 bytes");
    }
    if (endian == Endian::kBig && swapUnit > 1) byteSwapInPlace(out, swapUnit);
    return out;
}

// The fill value of `dtype` from its JSON form; null means zero (TensorStore reads missing
// chunks of a v2 array with fill_value null as zeros).
Result<std::vector<std::byte>> parseFillValue(const json& j, DType dtype, Endian endian) {
    const std::size_t item = itemSize(dtype);
    std::vector<std::byte> out;
    if (j.is_null()) return std::vector<std::byte>(item, std::byte{0});
    const DTypeInfo& info = dtypeInfo(dtype);
    switch (info.kind) {
        case DTypeKind::kBool:
            if (j.is_boolean())
                return std::vector<std::byte>{j.get<bool>() ? std::byte{1} : std::byte{0}};
            if (j.is_number_integer() &&
                (j.get<std::int64_t>() == 0 || j.get<std::int64_t>() == 1)) {
                return std::vector<std::byte>{static_cast<std::byte>(j.get<std::int64_t>())};
            }
            return corrupt("fill_value " + jsonSnippet(j) + " is not a bool");
        case DTypeKind::kSignedInt: {
            const int bitsN = static_cast<int>(item * 8);
            const std::int64_t hi = bitsN == 64 ? std::numeric_limits<std::int64_t>::max()
                                                : (std::int64_t{1} << (bitsN - 1)) - 1;
            const std::int64_t lo = -hi - 1;
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(j, lo, hi, "fill_value"));
            putLE(out, static_cast<std::uint64_t>(v), item);
            return out;
        }
        case DTypeKind::kUnsignedInt: {
            std::uint64_t v = 0;
            if (j.is_number_unsigned()) {
                v = j.get<std::uint64_t>();
            } else {
                CKPT_ASSIGN_OR_RETURN(
                    std::int64_t s,
                    jsonInt(j, 0, std::numeric_limits<std::int64_t>::max(), "fill_value"));
                v = static_cast<std::uint64_t>(s);
            }
            if (item < 8 && v >= (std::uint64_t{1} << (item * 8))) {
                return corrupt("fill_value " + jsonSnippet(j) + " does not fit " +
                               std::string(info.name));
            }
            putLE(out, v, item);
            return out;
        }
        case DTypeKind::kFloat:
            return floatFill(dtype, j);
        case DTypeKind::kComplex: {
            const DType part = dtype == DType::kComplex64 ? DType::kFloat32 : DType::kFloat64;
            if (j.is_string()) {  // v2 allows base64 of the raw element
                return base64Fill(j.get<std::string>(), item, endian, item / 2);
            }
            if (!j.is_array() || j.size() != 2) {
                return corrupt("fill_value " + jsonSnippet(j) + " is not a [real, imag] pair for " +
                               std::string(info.name));
            }
            CKPT_ASSIGN_OR_RETURN(auto re, floatFill(part, j[0]));
            CKPT_ASSIGN_OR_RETURN(auto im, floatFill(part, j[1]));
            out = std::move(re);
            out.insert(out.end(), im.begin(), im.end());
            return out;
        }
    }
    return corrupt("fill_value " + jsonSnippet(j) + " is not supported");
}

// ---- dtypes -----------------------------------------------------------------------------------

Status unsupportedDType(std::string_view text, std::string_view version) {
    return unsupportedError("zarr " + std::string(version) + " dtype '" + std::string(text) +
                            "' is not supported");
}

std::string formatList(const Shape& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i > 0) out += ",";
        out += std::to_string(s[i]);
    }
    return out + "]";
}

void describeChain(const CodecChain& chain, int zarrFormat, std::vector<std::string>& out) {
    if (!chain.order.empty()) {
        if (zarrFormat == 2) {
            out.emplace_back("order=F");
        } else {
            Shape o(chain.order.begin(), chain.order.end());
            out.push_back("transpose(order=" + formatList(o) + ")");
        }
    }
    if (chain.sharding) {
        std::string s = "sharding_indexed(chunk_shape=" + formatList(chain.sharding->subChunkShape);
        if (!chain.sharding->indexAtEnd) s += ", index_location=start";
        if (!chain.sharding->indexCrc32c) s += ", index without crc32c";
        if (chain.sharding->indexEndian == Endian::kBig) s += ", big-endian index";
        out.push_back(s + ")");
        describeChain(chain.sharding->inner, zarrFormat, out);
    } else if (chain.endian == Endian::kBig) {
        out.emplace_back(zarrFormat == 2 ? "big-endian" : "bytes(endian=big)");
    }
    for (const auto& c : chain.bytesCodecs) out.push_back(c.describe());
}

// ---- codecs -----------------------------------------------------------------------------------

Result<BytesCodec> parseV2Compressor(const json& j) {
    if (!j.is_object())
        return corrupt("compressor must be null or an object, got " + jsonSnippet(j));
    const json* id = member(j, "id");
    if (!id) return corrupt("compressor has no \"id\"");
    CKPT_ASSIGN_OR_RETURN(std::string name, jsonString(*id, "compressor id"));
    BytesCodec c;
    const auto level = [&](std::int64_t lo, std::int64_t hi, int dflt) -> Result<int> {
        const json* l = member(j, "level");
        if (!l || l->is_null()) return dflt;
        CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*l, lo, hi, name + " level"));
        return static_cast<int>(v);
    };
    if (name == "zstd") {
        c.kind = BytesCodec::Kind::kZstd;
        CKPT_ASSIGN_OR_RETURN(c.level, level(-131072, 22, 0));
        if (const json* ck = member(j, "checksum"); ck && ck->is_boolean())
            c.checksum = ck->get<bool>();
    } else if (name == "zlib" || name == "gzip") {
        c.kind = name == "zlib" ? BytesCodec::Kind::kZlib : BytesCodec::Kind::kGzip;
        CKPT_ASSIGN_OR_RETURN(c.level, level(-1, 9, 1));
    } else if (name == "bz2") {
        c.kind = BytesCodec::Kind::kBz2;
        CKPT_ASSIGN_OR_RETURN(c.level, level(1, 9, 1));
    } else if (name == "blosc") {
        c.kind = BytesCodec::Kind::kBlosc;
        c.bloscCname = "lz4";
        if (const json* cn = member(j, "cname"); cn && cn->is_string())
            c.bloscCname = cn->get<std::string>();
        if (const json* cl = member(j, "clevel"); cl && cl->is_number_integer()) {
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*cl, 0, 9, "blosc clevel"));
            c.level = static_cast<int>(v);
        } else {
            c.level = 5;
        }
        if (const json* sh = member(j, "shuffle"); sh && sh->is_number_integer()) {
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*sh, -1, 2, "blosc shuffle"));
            c.bloscShuffle = static_cast<int>(v);
        } else {
            c.bloscShuffle = -1;
        }
    } else {
        return unsupportedError("zarr v2 compressor '" + name + "' is not supported");
    }
    return c;
}

// A v3 codec entry: {"name": ..., "configuration": {...}} or the bare name string.
struct CodecEntry {
    std::string name;
    json config = json::object();
};

Result<CodecEntry> codecEntry(const json& j) {
    CodecEntry e;
    if (j.is_string()) {
        e.name = j.get<std::string>();
        return e;
    }
    if (!j.is_object()) return corrupt("codec must be an object, got " + jsonSnippet(j));
    const json* name = member(j, "name");
    if (!name) return corrupt("codec " + jsonSnippet(j) + " has no \"name\"");
    CKPT_ASSIGN_OR_RETURN(e.name, jsonString(*name, "codec name"));
    if (const json* cfg = member(j, "configuration")) {
        if (!cfg->is_object()) {
            return corrupt("configuration of codec '" + e.name + "' must be an object");
        }
        e.config = *cfg;
    }
    return e;
}

Result<Endian> parseEndian(const json& config, const std::string& codec) {
    const json* e = member(config, "endian");
    // The spec requires "endian" for multi-byte types; TensorStore omits it for 1-byte types.
    // A missing value is read as little-endian.
    if (!e || e->is_null()) return Endian::kLittle;
    CKPT_ASSIGN_OR_RETURN(std::string s, jsonString(*e, codec + " endian"));
    if (s == "little") return Endian::kLittle;
    if (s == "big") return Endian::kBig;
    return corrupt(codec + " endian \"" + s + "\" is neither \"little\" nor \"big\"");
}

Result<BytesCodec> parseV3BytesCodec(const CodecEntry& e) {
    BytesCodec c;
    const json& cfg = e.config;
    if (e.name == "zstd") {
        c.kind = BytesCodec::Kind::kZstd;
        if (const json* l = member(cfg, "level")) {
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*l, -131072, 22, "zstd level"));
            c.level = static_cast<int>(v);
        }
        if (const json* ck = member(cfg, "checksum"); ck && ck->is_boolean())
            c.checksum = ck->get<bool>();
    } else if (e.name == "gzip") {
        c.kind = BytesCodec::Kind::kGzip;
        c.level = 6;
        if (const json* l = member(cfg, "level")) {
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*l, 0, 9, "gzip level"));
            c.level = static_cast<int>(v);
        }
    } else if (e.name == "crc32c") {
        c.kind = BytesCodec::Kind::kCrc32c;
    } else if (e.name == "blosc") {
        c.kind = BytesCodec::Kind::kBlosc;
        c.bloscCname = "lz4";
        if (const json* cn = member(cfg, "cname"); cn && cn->is_string())
            c.bloscCname = cn->get<std::string>();
        if (const json* cl = member(cfg, "clevel")) {
            CKPT_ASSIGN_OR_RETURN(std::int64_t v, jsonInt(*cl, 0, 9, "blosc clevel"));
            c.level = static_cast<int>(v);
        }
        if (const json* sh = member(cfg, "shuffle"); sh && sh->is_string()) {
            const std::string s = sh->get<std::string>();
            c.bloscShuffle = s == "shuffle" ? 1 : s == "bitshuffle" ? 2 : 0;
        }
    } else {
        return unsupportedError("zarr v3 codec '" + e.name + "' is not supported");
    }
    return c;
}

bool isArrayToArray(const std::string& name) {
    return name == "transpose";
}
bool isArrayToBytes(const std::string& name) {
    return name == "bytes" || name == "sharding_indexed" || name == "endian";
}

Result<std::vector<std::size_t>> parseTransposeOrder(const json& cfg, std::size_t rank) {
    const json* o = member(cfg, "order");
    if (!o) return corrupt("transpose codec has no \"order\"");
    std::vector<std::size_t> order(rank);
    if (o->is_string()) {
        const std::string s = o->get<std::string>();
        if (s == "C") {
            std::iota(order.begin(), order.end(), std::size_t{0});
        } else if (s == "F") {
            for (std::size_t i = 0; i < rank; ++i) order[i] = rank - 1 - i;
        } else {
            return corrupt("transpose order \"" + s + "\" is not \"C\", \"F\" or a permutation");
        }
        return order;
    }
    if (!o->is_array() || o->size() != rank) {
        return corrupt("transpose order " + jsonSnippet(*o) + " is not a permutation of rank " +
                       std::to_string(rank));
    }
    std::vector<bool> seen(rank, false);
    for (std::size_t i = 0; i < rank; ++i) {
        CKPT_ASSIGN_OR_RETURN(
            std::int64_t v,
            jsonInt((*o)[i], 0, static_cast<std::int64_t>(rank) - 1, "transpose order entry"));
        const auto u = static_cast<std::size_t>(v);
        if (seen[u])
            return corrupt("transpose order " + jsonSnippet(*o) + " repeats " + std::to_string(u));
        seen[u] = true;
        order[i] = u;
    }
    return order;
}

Result<std::uint64_t> checkedProduct(const Shape& shape, const std::string& what) {
    auto n = checkedElementCount(shape);
    if (!n.isOk()) return corrupt(what + " " + formatShape(shape) + " has too many elements");
    return *n;
}

Result<CodecChain> parseV3CodecChain(const json& list, const Shape& chunkShape, std::size_t item,
                                     int depth);

Result<std::shared_ptr<const ShardingCodec>> parseSharding(const json& cfg, const Shape& encShape,
                                                           std::size_t item, int depth) {
    if (depth >= kMaxShardingDepth) {
        return corrupt("sharding_indexed nested more than " + std::to_string(kMaxShardingDepth) +
                       " deep");
    }
    auto sharding = std::make_shared<ShardingCodec>();
    const json* cs = member(cfg, "chunk_shape");
    if (!cs) return corrupt("sharding_indexed has no \"chunk_shape\"");
    CKPT_ASSIGN_OR_RETURN(sharding->subChunkShape,
                          jsonShape(*cs, 1, "sharding_indexed chunk_shape"));
    if (sharding->subChunkShape.size() != encShape.size()) {
        return corrupt("sharding_indexed chunk_shape " + formatList(sharding->subChunkShape) +
                       " does not match the rank of chunk shape " + formatList(encShape));
    }
    Shape grid(encShape.size());
    for (std::size_t d = 0; d < encShape.size(); ++d) {
        if (encShape[d] % sharding->subChunkShape[d] != 0) {
            return corrupt("sharding_indexed chunk_shape " + formatList(sharding->subChunkShape) +
                           " does not evenly divide the shard shape " + formatList(encShape));
        }
        grid[d] = encShape[d] / sharding->subChunkShape[d];
    }
    CKPT_ASSIGN_OR_RETURN(std::uint64_t entries, checkedProduct(grid, "shard grid"));
    if (entries > kMaxShardEntries) {
        return corrupt("shard grid " + formatList(grid) + " has more than 2^30 inner chunks");
    }
    if (const json* loc = member(cfg, "index_location")) {
        CKPT_ASSIGN_OR_RETURN(std::string s, jsonString(*loc, "index_location"));
        if (s == "start") {
            sharding->indexAtEnd = false;
        } else if (s != "end") {
            return corrupt("index_location \"" + s + "\" is neither \"start\" nor \"end\"");
        }
    }
    // index_codecs: [bytes] optionally followed by crc32c (TensorStore's default when absent).
    if (const json* ic = member(cfg, "index_codecs")) {
        if (!ic->is_array() || ic->empty()) return corrupt("index_codecs must be a non-empty list");
        CKPT_ASSIGN_OR_RETURN(CodecEntry first, codecEntry((*ic)[0]));
        if (first.name != "bytes") {
            return unsupportedError("sharding_indexed index_codecs starting with '" + first.name +
                                    "' are not supported (expected bytes, crc32c)");
        }
        CKPT_ASSIGN_OR_RETURN(sharding->indexEndian,
                              parseEndian(first.config, "index bytes codec"));
        sharding->indexCrc32c = false;
        if (ic->size() > 2) {
            return unsupportedError("sharding_indexed index_codecs " + jsonSnippet(*ic) +
                                    " are not supported (expected bytes, crc32c)");
        }
        if (ic->size() == 2) {
            CKPT_ASSIGN_OR_RETURN(CodecEntry second, codecEntry((*ic)[1]));
            if (second.name != "crc32c") {
                return unsupportedError("sharding_indexed index codec '" + second.name +
                                        "' is not supported (expected crc32c)");
            }
            sharding->indexCrc32c = true;
        }
    }
    const json* codecs = member(cfg, "codecs");
    if (!codecs) return corrupt("sharding_indexed has no \"codecs\"");
    CKPT_ASSIGN_OR_RETURN(sharding->inner,
                          parseV3CodecChain(*codecs, sharding->subChunkShape, item, depth + 1));
    return std::shared_ptr<const ShardingCodec>(std::move(sharding));
}

Result<CodecChain> parseV3CodecChain(const json& list, const Shape& chunkShape, std::size_t item,
                                     int depth) {
    if (!list.is_array() || list.empty()) {
        return corrupt("codecs must be a non-empty list, got " + jsonSnippet(list));
    }
    CodecChain chain;
    const std::size_t rank = chunkShape.size();
    std::size_t i = 0;
    std::vector<CodecEntry> entries;
    for (const json& j : list) {
        CKPT_ASSIGN_OR_RETURN(CodecEntry e, codecEntry(j));
        entries.push_back(std::move(e));
    }
    Shape encShape = chunkShape;
    for (; i < entries.size() && isArrayToArray(entries[i].name); ++i) {
        CKPT_ASSIGN_OR_RETURN(auto order, parseTransposeOrder(entries[i].config, rank));
        // Composing: after the earlier transposes encoded dim e holds decoded dim prev[e]; this
        // one puts old dim order[e] at e.
        std::vector<std::size_t> composed(rank);
        Shape shape(rank);
        for (std::size_t e = 0; e < rank; ++e) {
            composed[e] = chain.order.empty() ? order[e] : chain.order[order[e]];
            shape[e] = encShape[order[e]];
        }
        chain.order = std::move(composed);
        encShape = std::move(shape);
    }
    if (!chain.order.empty()) {
        bool identity = true;
        for (std::size_t e = 0; e < rank; ++e) identity = identity && chain.order[e] == e;
        if (identity) chain.order.clear();
    }
    if (i == entries.size() || !isArrayToBytes(entries[i].name)) {
        if (i < entries.size()) {
            // An unknown codec where array -> bytes belongs is more likely new than corrupt.
            const auto& n = entries[i].name;
            if (n != "zstd" && n != "gzip" && n != "crc32c" && n != "blosc") {
                return unsupportedError("zarr v3 codec '" + n + "' is not supported");
            }
        }
        return corrupt("codecs " + jsonSnippet(list) + " have no array -> bytes codec");
    }
    const CodecEntry& a2b = entries[i++];
    if (a2b.name == "sharding_indexed") {
        CKPT_ASSIGN_OR_RETURN(chain.sharding, parseSharding(a2b.config, encShape, item, depth));
    } else {
        CKPT_ASSIGN_OR_RETURN(chain.endian, parseEndian(a2b.config, a2b.name + " codec"));
    }
    for (; i < entries.size(); ++i) {
        if (isArrayToArray(entries[i].name) || isArrayToBytes(entries[i].name)) {
            return corrupt("codec '" + entries[i].name +
                           "' appears after the array -> bytes codec");
        }
        CKPT_ASSIGN_OR_RETURN(BytesCodec c, parseV3BytesCodec(entries[i]));
        chain.bytesCodecs.push_back(std::move(c));
    }
    return chain;
}

Status checkChunkSize(const Shape& chunkShape, DType dtype) {
    CKPT_ASSIGN_OR_RETURN(std::uint64_t n, checkedProduct(chunkShape, "chunk shape"));
    if (n > kMaxChunkBytes / itemSize(dtype)) {
        return unsupportedError("chunk shape " + formatShape(chunkShape) + " of " +
                                std::string(dtypeName(dtype)) +
                                " needs more than the 16 GiB this reader decodes at once");
    }
    return okStatus();
}

Status checkShape(const Shape& shape, DType dtype) {
    auto bytes = checkedByteSize(dtype, shape);
    if (!bytes.isOk()) return corrupt("shape " + formatShape(shape) + " is too large");
    return okStatus();
}

Result<json> parseObject(std::string_view text, const char* file) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return corrupt(std::string(file) + " is not valid JSON");
    if (!j.is_object()) return corrupt(std::string(file) + " is not a JSON object");
    return j;
}

}  // namespace

std::string BytesCodec::describe() const {
    switch (kind) {
        case Kind::kZstd:
            return "zstd(level=" + std::to_string(level) + ")";
        case Kind::kGzip:
            return "gzip(level=" + std::to_string(level) + ")";
        case Kind::kZlib:
            return "zlib(level=" + std::to_string(level) + ")";
        case Kind::kBz2:
            return "bz2(level=" + std::to_string(level) + ")";
        case Kind::kCrc32c:
            return "crc32c";
        case Kind::kBlosc:
            return "blosc(cname=" + bloscCname + ", clevel=" + std::to_string(level) +
                   ", shuffle=" + std::to_string(bloscShuffle) + ")";
    }
    return "?";
}

std::vector<std::byte> encodeDouble(DType dtype, double value) {
    std::vector<std::byte> out;
    switch (dtype) {
        case DType::kFloat32:
            putLE(out, std::bit_cast<std::uint32_t>(static_cast<float>(value)), 4);
            return out;
        case DType::kFloat64:
            putLE(out, std::bit_cast<std::uint64_t>(value), 8);
            return out;
        case DType::kComplex64:
            putLE(out, std::bit_cast<std::uint32_t>(static_cast<float>(value)), 4);
            putLE(out, 0, 4);
            return out;
        case DType::kComplex128:
            putLE(out, std::bit_cast<std::uint64_t>(value), 8);
            putLE(out, 0, 8);
            return out;
        case DType::kFloat8E8M0FNU:
            out.push_back(static_cast<std::byte>(encodeE8M0(value)));
            return out;
        default:
            break;
    }
    for (const auto& f : kMiniFloats) {
        if (f.dtype == dtype) {
            putLE(out, encodeMiniFloat(f, value), itemSize(dtype));
            return out;
        }
    }
    // Integers and bool: saturating conversion (only used for display-free defaults).
    const std::size_t item = itemSize(dtype);
    if (dtype == DType::kBool) {
        out.push_back(std::byte{value != 0 ? std::uint8_t{1} : std::uint8_t{0}});
        return out;
    }
    const double clamped = std::isnan(value) ? 0.0 : std::clamp(value, -9.2e18, 9.2e18);
    putLE(out, static_cast<std::uint64_t>(static_cast<std::int64_t>(clamped)), item);
    return out;
}

Result<DType> parseZarrV2DType(std::string_view text, Endian* endian) {
    *endian = Endian::kLittle;
    // Extension names TensorStore writes without a byte-order prefix (always little-endian).
    if (text == "bfloat16" || text.starts_with("float8_") || text.starts_with("float4_") ||
        text == "int2" || text == "int4" || text == "uint2" || text == "uint4") {
        if (auto d = dtypeFromName(text)) return *d;
        return unsupportedDType(text, "v2");
    }
    if (text.size() < 3) return unsupportedDType(text, "v2");
    const char order = text[0];
    const char kind = text[1];
    const std::string_view size = text.substr(2);
    if (order != '<' && order != '>' && order != '|') return unsupportedDType(text, "v2");
    if (order == '>') *endian = Endian::kBig;
    const auto pick =
        [&](std::initializer_list<std::pair<std::string_view, DType>> table) -> Result<DType> {
        for (const auto& [s, d] : table) {
            if (s == size) {
                if (itemSize(d) > 1 && order == '|') break;  // multi-byte types need an order
                if (itemSize(d) == 1) *endian = Endian::kLittle;
                return d;
            }
        }
        return unsupportedDType(text, "v2");
    };
    switch (kind) {
        case 'b':
            if (size != "1") return unsupportedDType(text, "v2");
            *endian = Endian::kLittle;
            return DType::kBool;
        case 'i':
            return pick({{"1", DType::kInt8},
                         {"2", DType::kInt16},
                         {"4", DType::kInt32},
                         {"8", DType::kInt64}});
        case 'u':
            return pick({{"1", DType::kUInt8},
                         {"2", DType::kUInt16},
                         {"4", DType::kUInt32},
                         {"8", DType::kUInt64}});
        case 'f':
            return pick({{"2", DType::kFloat16}, {"4", DType::kFloat32}, {"8", DType::kFloat64}});
        case 'c':
            return pick({{"8", DType::kComplex64}, {"16", DType::kComplex128}});
        default:
            return unsupportedDType(text, "v2");
    }
}

Result<DType> parseZarrV3DataType(std::string_view text) {
    if (auto d = dtypeFromName(text)) return *d;
    return unsupportedDType(text, "v3");
}

Result<ZarrMetadata> parseZarrV2Metadata(std::string_view jsonText) {
    CKPT_ASSIGN_OR_RETURN(json j, parseObject(jsonText, ".zarray"));
    ZarrMetadata md;
    md.zarrFormat = 2;
    const json* fmt = member(j, "zarr_format");
    if (!fmt) return corrupt(".zarray has no \"zarr_format\"");
    CKPT_ASSIGN_OR_RETURN(std::int64_t version, jsonInt(*fmt, 0, 1000, "zarr_format"));
    if (version != 2) {
        return unsupportedError(".zarray has zarr_format " + std::to_string(version) +
                                ", expected 2");
    }
    const json* shape = member(j, "shape");
    const json* chunks = member(j, "chunks");
    const json* dtype = member(j, "dtype");
    if (!shape || !chunks || !dtype) {
        return corrupt(".zarray lacks one of \"shape\", \"chunks\", \"dtype\"");
    }
    CKPT_ASSIGN_OR_RETURN(md.shape, jsonShape(*shape, 0, "shape"));
    CKPT_ASSIGN_OR_RETURN(md.chunkShape, jsonShape(*chunks, 1, "chunks"));
    if (md.chunkShape.size() != md.shape.size()) {
        return corrupt("chunks " + formatList(md.chunkShape) + " do not match the rank of shape " +
                       formatList(md.shape));
    }
    if (dtype->is_array()) return unsupportedError("zarr structured dtypes are not supported");
    CKPT_ASSIGN_OR_RETURN(md.storedDType, jsonString(*dtype, "dtype"));
    CKPT_ASSIGN_OR_RETURN(md.dtype, parseZarrV2DType(md.storedDType, &md.codecs.endian));
    CKPT_RETURN_IF_ERROR(checkShape(md.shape, md.dtype));
    CKPT_RETURN_IF_ERROR(checkChunkSize(md.chunkShape, md.dtype));

    if (const json* order = member(j, "order")) {
        CKPT_ASSIGN_OR_RETURN(std::string o, jsonString(*order, "order"));
        if (o == "F") {
            const std::size_t rank = md.shape.size();
            for (std::size_t i = 0; i < rank; ++i) md.codecs.order.push_back(rank - 1 - i);
            if (rank < 2) md.codecs.order.clear();
        } else if (o != "C") {
            return corrupt("order \"" + o + "\" is neither \"C\" nor \"F\"");
        }
    }
    if (const json* filters = member(j, "filters")) {
        if (!filters->is_null() && !(filters->is_array() && filters->empty())) {
            if (!filters->is_array()) return corrupt("filters must be null or a list");
            return unsupportedError("zarr v2 filters " + jsonSnippet(*filters) +
                                    " are not supported");
        }
    }
    if (const json* comp = member(j, "compressor"); comp && !comp->is_null()) {
        CKPT_ASSIGN_OR_RETURN(BytesCodec c, parseV2Compressor(*comp));
        md.codecs.bytesCodecs.push_back(std::move(c));
    }
    md.keyEncoding.v3Default = false;
    md.keyEncoding.separator = '.';
    if (const json* sep = member(j, "dimension_separator"); sep && !sep->is_null()) {
        CKPT_ASSIGN_OR_RETURN(std::string s, jsonString(*sep, "dimension_separator"));
        if (s != "." && s != "/") {
            return corrupt("dimension_separator \"" + s + "\" is neither \".\" nor \"/\"");
        }
        md.keyEncoding.separator = s[0];
    }
    const json* fill = member(j, "fill_value");
    CKPT_ASSIGN_OR_RETURN(md.fillValue,
                          parseFillValue(fill ? *fill : json(nullptr), md.dtype, md.codecs.endian));
    return md;
}

Result<ZarrMetadata> parseZarrV3Metadata(std::string_view jsonText) {
    CKPT_ASSIGN_OR_RETURN(json j, parseObject(jsonText, "zarr.json"));
    ZarrMetadata md;
    md.zarrFormat = 3;
    const json* fmt = member(j, "zarr_format");
    if (!fmt) return corrupt("zarr.json has no \"zarr_format\"");
    CKPT_ASSIGN_OR_RETURN(std::int64_t version, jsonInt(*fmt, 0, 1000, "zarr_format"));
    if (version != 3) {
        return unsupportedError("zarr.json has zarr_format " + std::to_string(version) +
                                ", expected 3");
    }
    const json* nodeType = member(j, "node_type");
    if (!nodeType) return corrupt("zarr.json has no \"node_type\"");
    CKPT_ASSIGN_OR_RETURN(std::string node, jsonString(*nodeType, "node_type"));
    if (node == "group") return invalidArgumentError("zarr.json describes a group, not an array");
    if (node != "array") return corrupt("node_type \"" + node + "\" is not \"array\"");

    static constexpr std::array<std::string_view, 11> kKnown = {
        "zarr_format",         "node_type",  "shape",  "data_type",  "chunk_grid",
        "chunk_key_encoding",  "fill_value", "codecs", "attributes", "dimension_names",
        "storage_transformers"};
    for (const auto& [key, value] : j.items()) {
        if (std::find(kKnown.begin(), kKnown.end(), key) != kKnown.end()) continue;
        // Spec: unknown members must carry "must_understand": false to be ignored.
        if (value.is_object()) {
            const json* mu = member(value, "must_understand");
            if (mu && mu->is_boolean() && !mu->get<bool>()) continue;
        }
        return unsupportedError("zarr.json member \"" + key +
                                "\" is not understood (and not marked must_understand: false)");
    }
    const json* shape = member(j, "shape");
    const json* dataType = member(j, "data_type");
    const json* grid = member(j, "chunk_grid");
    const json* codecs = member(j, "codecs");
    if (!shape || !dataType || !grid || !codecs) {
        return corrupt(
            "zarr.json lacks one of \"shape\", \"data_type\", \"chunk_grid\", \"codecs\"");
    }
    CKPT_ASSIGN_OR_RETURN(md.shape, jsonShape(*shape, 0, "shape"));
    if (dataType->is_object()) {
        const json* n = member(*dataType, "name");
        if (!n || !n->is_string()) return corrupt("data_type object has no \"name\"");
        md.storedDType = n->get<std::string>();
    } else {
        CKPT_ASSIGN_OR_RETURN(md.storedDType, jsonString(*dataType, "data_type"));
    }
    CKPT_ASSIGN_OR_RETURN(md.dtype, parseZarrV3DataType(md.storedDType));
    CKPT_RETURN_IF_ERROR(checkShape(md.shape, md.dtype));

    if (!grid->is_object()) return corrupt("chunk_grid must be an object");
    const json* gridName = member(*grid, "name");
    if (!gridName || !gridName->is_string() || gridName->get<std::string>() != "regular") {
        return unsupportedError("chunk_grid " + jsonSnippet(*grid) + " is not a regular grid");
    }
    const json* gridCfg = member(*grid, "configuration");
    const json* cs = gridCfg && gridCfg->is_object() ? member(*gridCfg, "chunk_shape") : nullptr;
    if (!cs) return corrupt("chunk_grid has no configuration.chunk_shape");
    CKPT_ASSIGN_OR_RETURN(md.chunkShape, jsonShape(*cs, 1, "chunk_shape"));
    if (md.chunkShape.size() != md.shape.size()) {
        return corrupt("chunk_shape " + formatList(md.chunkShape) +
                       " does not match the rank of shape " + formatList(md.shape));
    }
    CKPT_RETURN_IF_ERROR(checkChunkSize(md.chunkShape, md.dtype));

    md.keyEncoding.v3Default = true;
    md.keyEncoding.separator = '/';
    if (const json* kenc = member(j, "chunk_key_encoding")) {
        CKPT_ASSIGN_OR_RETURN(CodecEntry e, codecEntry(*kenc));
        if (e.name == "default") {
            md.keyEncoding = {true, '/'};
        } else if (e.name == "v2") {
            md.keyEncoding = {false, '.'};
        } else {
            return unsupportedError("chunk_key_encoding '" + e.name + "' is not supported");
        }
        if (const json* sep = member(e.config, "separator")) {
            CKPT_ASSIGN_OR_RETURN(std::string s, jsonString(*sep, "chunk_key_encoding separator"));
            if (s != "." && s != "/") {
                return corrupt("chunk_key_encoding separator \"" + s +
                               "\" is neither \".\" nor \"/\"");
            }
            md.keyEncoding.separator = s[0];
        }
    }
    if (const json* st = member(j, "storage_transformers")) {
        if (!(st->is_array() && st->empty())) {
            return unsupportedError("zarr v3 storage_transformers are not supported");
        }
    }
    CKPT_ASSIGN_OR_RETURN(md.codecs,
                          parseV3CodecChain(*codecs, md.chunkShape, itemSize(md.dtype), 0));
    const json* fill = member(j, "fill_value");
    if (!fill) return corrupt("zarr.json has no \"fill_value\"");
    // v3 fill values are byte-order independent (JSON numbers or little-endian-independent bit
    // patterns); the base64 form for complex is a v2 feature but harmless to accept.
    CKPT_ASSIGN_OR_RETURN(md.fillValue, parseFillValue(*fill, md.dtype, Endian::kLittle));
    return md;
}

std::string chunkKey(const ChunkKeyEncoding& encoding, std::span<const std::int64_t> index) {
    std::string key;
    if (encoding.v3Default) {
        key = "c";
        for (std::int64_t i : index) {
            key += encoding.separator;
            key += std::to_string(i);
        }
        return key;
    }
    if (index.empty()) return "0";
    for (std::size_t d = 0; d < index.size(); ++d) {
        if (d > 0) key += encoding.separator;
        key += std::to_string(index[d]);
    }
    return key;
}

std::vector<std::string> describeCodecs(const ZarrMetadata& metadata) {
    std::vector<std::string> out;
    describeChain(metadata.codecs, metadata.zarrFormat, out);
    return out;
}

}  // namespace ckpt::zarr
