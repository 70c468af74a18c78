#include "formats/safetensors/safetensors_header.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace ckpt::safetensors {

namespace {

using Json = nlohmann::ordered_json;

struct CodeEntry {
    std::string_view code;
    DType dtype;
};

// safetensors/src/tensor.rs `enum Dtype` (0.8.0) against ml_dtypes names; F8_E4M3 is
// float8_e4m3fn (the reference's numpy binding maps it so).
constexpr std::array<CodeEntry, 19> kCodes{{
    {"BOOL", DType::kBool},
    {"U8", DType::kUInt8},
    {"I8", DType::kInt8},
    {"F8_E5M2", DType::kFloat8E5M2},
    {"F8_E4M3", DType::kFloat8E4M3FN},
    {"F8_E8M0", DType::kFloat8E8M0FNU},
    {"F8_E4M3FNUZ", DType::kFloat8E4M3FNUZ},
    {"F8_E5M2FNUZ", DType::kFloat8E5M2FNUZ},
    {"I16", DType::kInt16},
    {"U16", DType::kUInt16},
    {"F16", DType::kFloat16},
    {"BF16", DType::kBFloat16},
    {"I32", DType::kInt32},
    {"U32", DType::kUInt32},
    {"F32", DType::kFloat32},
    {"C64", DType::kComplex64},
    {"F64", DType::kFloat64},
    {"I64", DType::kInt64},
    {"U64", DType::kUInt64},
}};

// Sub-byte codes the reference knows but our DType does not model.
constexpr std::array<std::string_view, 3> kSubByteCodes{"F4", "F6_E2M3", "F6_E3M2"};

void putU64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::optional<std::string_view> dtypeCode(DType dtype) {
    for (const auto& e : kCodes) {
        if (e.dtype == dtype) return e.code;
    }
    return std::nullopt;
}

std::optional<DType> dtypeFromCode(std::string_view code) {
    for (const auto& e : kCodes) {
        if (e.code == code) return e.dtype;
    }
    return std::nullopt;
}

Result<Header> parseHeader(std::span<const std::byte> file, const std::string& fileName) {
    const std::string where = "safetensors file '" + fileName + "'";
    if (file.size() < 8) {
        return corruptionError(where + ": " + std::to_string(file.size()) +
                               " bytes is too short for the 8-byte header length");
    }
    std::uint64_t n = 0;
    for (std::size_t i = 8; i-- > 0;) n = (n << 8) | static_cast<std::uint8_t>(file[i]);
    if (n > kMaxHeaderBytes) {
        return corruptionError(where + ": header length " + std::to_string(n) +
                               " exceeds the 100000000-byte limit of safetensors");
    }
    if (n > file.size() - 8) {
        return corruptionError(where + ": header length " + std::to_string(n) +
                               " runs past the end (" + std::to_string(file.size()) + " bytes)");
    }
    const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), n);
    if (text.empty() || text.front() != '{') {
        return corruptionError(where + ": the header does not start with '{'");
    }
    Json doc = Json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return corruptionError(where + ": the header is not a valid JSON object");
    }
    Header h;
    h.dataStart = 8 + n;
    const std::uint64_t bufferLen = file.size() - h.dataStart;
    for (const auto& [name, info] : doc.items()) {
        const std::string tensorWhere = where + ": tensor '" + name + "'";
        if (name == "__metadata__") {
            if (!info.is_object())
                return corruptionError(where + ": __metadata__ is not an object");
            for (const auto& [k, v] : info.items()) {
                if (!v.is_string()) {
                    return corruptionError(where + ": __metadata__ value of '" + k +
                                           "' is not a string");
                }
                h.metadata.emplace_back(k, v.get<std::string>());
            }
            continue;
        }
        if (!info.is_object()) return corruptionError(tensorWhere + ": entry is not an object");
        auto dt = info.find("dtype");
        auto shape = info.find("shape");
        auto offsets = info.find("data_offsets");
        if (dt == info.end() || !dt->is_string() || shape == info.end() || !shape->is_array() ||
            offsets == info.end() || !offsets->is_array() || offsets->size() != 2 ||
            !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
            return corruptionError(
                tensorWhere + ": needs string dtype, array shape and two unsigned data_offsets");
        }
        TensorEntry e;
        e.name = name;
        const std::string code = dt->get<std::string>();
        auto d = dtypeFromCode(code);
        if (!d) {
            if (std::find(kSubByteCodes.begin(), kSubByteCodes.end(), code) !=
                kSubByteCodes.end()) {
                return unsupportedError(tensorWhere + ": dtype " + code +
                                        " (sub-byte) is not supported by this build");
            }
            return corruptionError(tensorWhere + ": unknown dtype '" + code + "'");
        }
        e.dtype = *d;
        for (const auto& dim : *shape) {
            if (!dim.is_number_unsigned() ||
                dim.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
                return corruptionError(tensorWhere +
                                       ": shape entries must be non-negative integers");
            }
            e.shape.push_back(static_cast<std::int64_t>(dim.get<std::uint64_t>()));
        }
        e.begin = (*offsets)[0].get<std::uint64_t>();
        e.end = (*offsets)[1].get<std::uint64_t>();
        auto bytes = checkedByteSize(e.dtype, e.shape);
        if (!bytes.isOk()) {
            return corruptionError(tensorWhere + ": shape " + formatShape(e.shape) +
                                   " overflows: " + bytes.status().message());
        }
        if (e.end < e.begin || e.end - e.begin != *bytes) {
            return corruptionError(tensorWhere + ": data_offsets [" + std::to_string(e.begin) +
                                   ", " + std::to_string(e.end) + "] hold " +
                                   (e.end < e.begin ? std::string("a negative size")
                                                    : std::to_string(e.end - e.begin) + " bytes") +
                                   " but dtype " + code + " and shape " + formatShape(e.shape) +
                                   " need " + std::to_string(*bytes));
        }
        if (e.end > bufferLen) {
            return corruptionError(tensorWhere + ": data_offsets [" + std::to_string(e.begin) +
                                   ", " + std::to_string(e.end) + "] run past the " +
                                   std::to_string(bufferLen) + "-byte data buffer");
        }
        h.tensors.push_back(std::move(e));
    }
    std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expected = 0;
    for (std::size_t i = 0; i < h.tensors.size(); ++i) {
        const auto& e = h.tensors[i];
        if (e.begin != expected) {
            const std::string other =
                i ? "tensor '" + h.tensors[i - 1].name + "'" : "the buffer start";
            return corruptionError(where + ": tensor '" + e.name + "': data_offsets [" +
                                   std::to_string(e.begin) + ", " + std::to_string(e.end) + "] " +
                                   (e.begin < expected ? "overlap " : "leave a gap after ") +
                                   other + " (expected to start at " + std::to_string(expected) +
                                   ")");
        }
        expected = e.end;
    }
    if (expected != bufferLen) {
        return corruptionError(where + ": the tensors cover " + std::to_string(expected) +
                               " of the " + std::to_string(bufferLen) +
                               " data bytes (file not fully covered)");
    }
    return h;
}

std::string encodeHeader(const std::vector<TensorEntry>& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata) {
    // Written member by member: an ordered_json object finds each new key by a linear search,
    // quadratic in the tensor count (100,000 tensors: 30 s). The caller's names are unique and
    // never "__metadata__". The bytes are what doc.dump(-1) of the same object gives.
    std::string json = "{";
    const auto member = [&json](const std::string& key, const Json& value) {
        if (json.size() > 1) json += ',';
        json += Json(key).dump(-1, ' ', false, Json::error_handler_t::replace);
        json += ':';
        json += value.dump(-1, ' ', false, Json::error_handler_t::replace);
    };
    if (!metadata.empty()) {
        Json meta = Json::object();
        for (const auto& [k, v] : metadata) meta[k] = v;
        member("__metadata__", meta);
    }
    for (const auto& e : tensors) {
        Json info = Json::object();
        info["dtype"] = std::string(dtypeCode(e.dtype).value_or("?"));
        Json shape = Json::array();
        for (auto d : e.shape) shape.push_back(static_cast<std::uint64_t>(d));
        info["shape"] = std::move(shape);
        info["data_offsets"] = Json::array({e.begin, e.end});
        member(e.name, info);
    }
    json += '}';
    json.resize((json.size() + 7) / 8 * 8, ' ');
    std::string out;
    out.reserve(8 + json.size());
    putU64(out, json.size());
    out += json;
    return out;
}

}  // namespace ckpt::safetensors
