#include "formats/orbax/tree_metadata.h"

#include <nlohmann/json.hpp>
#include <unordered_set>

namespace ckpt::orbax {

// std::map objects: ordered_json finds keys by linear search, which made parsing the
// tree_metadata of a 100,000-leaf checkpoint quadratic (tens of seconds). File order, which
// is the tree's order, is recorded separately while parsing.
using json = nlohmann::json;

std::string LeafMetadata::paramName() const {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (i > 0) out += '.';
        out += path[i].key;
    }
    return out;
}

namespace {

// Python repr() of a str: single quotes unless the text has ' and no ".
std::string pythonStrRepr(const std::string& s) {
    const bool hasSingle = s.find('\'') != std::string::npos;
    const bool hasDouble = s.find('"') != std::string::npos;
    const char quote = (hasSingle && !hasDouble) ? '"' : '\'';
    std::string out(1, quote);
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (ch == quote) {
                    out += '\\';
                    out += static_cast<char>(c);
                } else if (c < 0x20 || c == 0x7f) {
                    char buf[5];
                    std::snprintf(buf, sizeof buf, "\\x%02x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += quote;
    return out;
}

// SAX handler that records the keys of the top-level "tree_metadata" object, in order.
struct KeyOrder final : nlohmann::json_sax<json> {
    std::vector<std::string> keys;
    int depth = 0;             // objects and arrays currently open
    bool inTree = false;       // the last top-level key was "tree_metadata"

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
        ++depth;
        return true;
    }
    bool end_object() override {
        --depth;
        return true;
    }
    bool start_array(std::size_t) override {
        ++depth;
        return true;
    }
    bool end_array() override {
        --depth;
        return true;
    }
    bool key(string_t& value) override {
        if (depth == 1) {
            inTree = value == "tree_metadata";
        } else if (depth == 2 && inTree) {
            keys.push_back(value);
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }
};

}  // namespace

std::string pythonTupleRepr(const std::vector<std::string>& keys) {
    std::string out = "(";
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i > 0) out += ", ";
        out += pythonStrRepr(keys[i]);
    }
    if (keys.size() == 1) out += ",";
    return out + ")";
}

Result<TreeMetadata> parseTreeMetadata(std::string_view text, std::string_view source) {
    const std::string where(source);
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return corruptionError(where + ": not valid JSON");
    if (!doc.is_object()) return corruptionError(where + ": not a JSON object");
    auto treeIt = doc.find("tree_metadata");
    if (treeIt == doc.end() || !treeIt->is_object()) {
        return corruptionError(where + ": no \"tree_metadata\" object");
    }
    // The keys of tree_metadata in file order (JAX flatten order), from a second, SAX-only pass
    // (nlohmann's parse callbacks rescan the parent object at every child's end: quadratic).
    KeyOrder keyOrder;
    nlohmann::json::sax_parse(text, &keyOrder, nlohmann::json::input_format_t::json,
                              /*strict=*/true, /*ignore_comments=*/false);
    const std::vector<std::string>& order = keyOrder.keys;
    TreeMetadata out;
    out.leaves.reserve(treeIt->size());
    std::unordered_set<std::string_view> seen;
    for (const std::string& tupleKey : order) {
        // A key repeated in the file counts once, at its first place (the value is the last).
        if (!seen.insert(tupleKey).second) continue;
        const auto found = treeIt->find(tupleKey);
        if (found == treeIt->end()) continue;  // a key of a nested object at depth 2
        const json& entry = *found;
        const std::string at = where + ": entry " + tupleKey;
        if (!entry.is_object()) return corruptionError(at + " is not an object");
        LeafMetadata leaf;
        auto keys = entry.find("key_metadata");
        if (keys == entry.end() || !keys->is_array()) {
            return corruptionError(at + " has no key_metadata list");
        }
        for (const auto& k : *keys) {
            if (!k.is_object() || !k.contains("key") || !k.contains("key_type")) {
                return corruptionError(at + ": malformed key_metadata element");
            }
            const json& key = k["key"];
            const json& type = k["key_type"];
            KeyEntry e;
            if (key.is_string()) {
                e.key = key.get<std::string>();
            } else if (key.is_number_integer()) {
                e.key = std::to_string(key.get<std::int64_t>());
            } else {
                return corruptionError(at + ": key is neither a string nor an integer");
            }
            if (!type.is_number_integer()) return corruptionError(at + ": key_type is not an integer");
            const auto t = type.get<std::int64_t>();
            if (t == 1) {
                e.type = KeyType::kSequence;
            } else if (t == 2) {
                e.type = KeyType::kDict;
            } else {
                return unsupportedError(at + ": unknown key_type " + std::to_string(t));
            }
            leaf.path.push_back(std::move(e));
        }
        auto value = entry.find("value_metadata");
        if (value == entry.end() || !value->is_object()) {
            return corruptionError(at + " has no value_metadata object");
        }
        if (auto vt = value->find("value_type"); vt != value->end() && vt->is_string()) {
            leaf.valueType = vt->get<std::string>();
        } else {
            return corruptionError(at + ": value_metadata has no value_type");
        }
        if (auto sd = value->find("skip_deserialize"); sd != value->end() && sd->is_boolean()) {
            leaf.skipDeserialize = sd->get<bool>();
        }
        if (auto ws = value->find("write_shape"); ws != value->end() && ws->is_array()) {
            Shape shape;
            for (const auto& d : *ws) {
                if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
                    return corruptionError(at + ": write_shape has a non-integer entry");
                }
                shape.push_back(d.get<std::int64_t>());
            }
            leaf.writeShape = std::move(shape);
        }
        out.leaves.push_back(std::move(leaf));
    }
    auto optBool = [&](const char* name) -> std::optional<bool> {
        auto it = doc.find(name);
        if (it != doc.end() && it->is_boolean()) return it->get<bool>();
        return std::nullopt;
    };
    out.useZarr3 = optBool("use_zarr3");
    out.useOcdbt = optBool("use_ocdbt");
    out.storeArrayDataEqualToFillValue = optBool("store_array_data_equal_to_fill_value").value_or(false);
    auto custom = doc.find("custom_metadata");
    out.customMetadataJson = custom == doc.end() ? "null" : custom->dump();
    return out;
}

}  // namespace ckpt::orbax
