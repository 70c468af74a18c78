// Recipes: the JSON form of a list of edits (schema in README.md, "ckpt apply").
//
// nlohmann_json is used without exceptions where it allows it; anything it still throws is
// caught here and becomes an InvalidArgument status.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "ckpt/core/edit.h"

namespace ckpt {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kRecipeVersion = 1;

// --- writing ---------------------------------------------------------------------------------

ordered_json valueJson(const EditValue& value) {
    if (const bool* b = std::get_if<bool>(&value)) return *b;
    if (const auto* i = std::get_if<std::int64_t>(&value)) return *i;
    if (const auto* u = std::get_if<std::uint64_t>(&value)) return *u;
    const double d = std::get<double>(value);
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    return d;
}

ordered_json nodeSpecJson(const NodeSpec& spec) {
    ordered_json j;
    switch (spec.kind) {
        case NodeSpec::Kind::kDict: j["kind"] = "dict"; break;
        case NodeSpec::Kind::kList: j["kind"] = "list"; break;
        case NodeSpec::Kind::kTuple: j["kind"] = "tuple"; break;
        case NodeSpec::Kind::kNone: j["kind"] = "none"; break;
        case NodeSpec::Kind::kString:
            j["kind"] = "string";
            j["value"] = spec.text;
            break;
        case NodeSpec::Kind::kScalar:
            j["kind"] = "scalar";
            j["dtype"] = dtypeName(spec.dtype);
            j["value"] = valueJson(spec.value);
            if (spec.native) j["native"] = true;
            break;
        case NodeSpec::Kind::kZeros:
        case NodeSpec::Kind::kOnes:
        case NodeSpec::Kind::kFull:
            j["kind"] = spec.kind == NodeSpec::Kind::kZeros  ? "zeros"
                        : spec.kind == NodeSpec::Kind::kOnes ? "ones"
                                                             : "full";
            j["dtype"] = dtypeName(spec.dtype);
            j["shape"] = spec.shape;
            if (spec.kind == NodeSpec::Kind::kFull) j["value"] = valueJson(spec.value);
            break;
        case NodeSpec::Kind::kCopyOf:
            j["kind"] = "copy";
            j["from"] = formatKeyPath(spec.from);
            break;
        case NodeSpec::Kind::kReference:
            j["kind"] = "reference";
            j["from"] = formatKeyPath(spec.from);
            break;
    }
    return j;
}

Result<ordered_json> stepJson(const Edit& e) {
    ordered_json j;
    j["op"] = editKindName(e.kind);
    j["path"] = formatKeyPath(e.path);
    switch (e.kind) {
        case EditKind::kRename: j["to"] = e.newKey; break;
        case EditKind::kMove:
        case EditKind::kCopy:
            j["to"] = formatKeyPath(e.to);
            if (e.position) j["position"] = *e.position;
            break;
        case EditKind::kDelete: break;
        case EditKind::kAdd:
            j["node"] = nodeSpecJson(e.node);
            if (e.position) j["position"] = *e.position;
            break;
        case EditKind::kSetScalar: j["value"] = valueJson(e.value); break;
        case EditKind::kSetString: j["value"] = e.text; break;
        case EditKind::kSetCells: {
            ordered_json cells = ordered_json::array();
            for (const CellEdit& c : e.cells) {
                cells.push_back({{"index", c.index}, {"value", valueJson(c.value)}});
            }
            j["cells"] = std::move(cells);
            break;
        }
        case EditKind::kCast: j["dtype"] = dtypeName(e.dtype); break;
        case EditKind::kConvert: j["to"] = nodeKindName(e.containerKind); break;
        case EditKind::kStack:
            j["prefix"] = e.prefix;
            j["to"] = e.newKey;
            if (e.axis != 0) j["axis"] = e.axis;
            break;
        case EditKind::kUnstack:
            j["prefix"] = e.prefix;
            if (e.axis != 0) j["axis"] = e.axis;
            break;
        case EditKind::kReplace:
        case EditKind::kInsert:
            return invalidArgumentError(std::string(editKindName(e.kind)) +
                                        " steps hold a whole node and cannot be written to a "
                                        "recipe");
    }
    return j;
}

// --- reading ---------------------------------------------------------------------------------

// One JSON object's fields, checked: every field must be known and read.
class Fields {
public:
    explicit Fields(const json& object) : m_object(object) {}

    Status checkKnown(std::initializer_list<std::string_view> allowed) const {
        for (const auto& item : m_object.items()) {
            bool known = false;
            for (std::string_view a : allowed) known = known || item.key() == a;
            if (!known) return invalidArgumentError("unknown field '" + item.key() + "'");
        }
        return okStatus();
    }
    bool has(const char* name) const { return m_object.contains(name); }
    Result<const json*> get(const char* name) const {
        auto it = m_object.find(name);
        if (it == m_object.end()) {
            return invalidArgumentError("missing field '" + std::string(name) + "'");
        }
        return &*it;
    }
    Result<std::string> string(const char* name) const {
        CKPT_ASSIGN_OR_RETURN(const json* v, get(name));
        if (!v->is_string()) {
            return invalidArgumentError("field '" + std::string(name) + "' must be a string");
        }
        return v->get<std::string>();
    }
    Result<KeyPath> path(const char* name) const {
        CKPT_ASSIGN_OR_RETURN(std::string text, string(name));
        auto parsed = parseKeyPath(text);
        if (!parsed.isOk()) return parsed.status().withContext("field '" + std::string(name) + "'");
        return parsed;
    }
    Result<DType> dtype(const char* name) const {
        CKPT_ASSIGN_OR_RETURN(std::string text, string(name));
        auto d = dtypeFromName(text);
        if (!d) return invalidArgumentError("unknown dtype '" + text + "'");
        return *d;
    }
    Result<std::optional<std::int64_t>> optionalInt(const char* name) const {
        if (!has(name)) return std::optional<std::int64_t>();
        CKPT_ASSIGN_OR_RETURN(const json* v, get(name));
        if (!v->is_number_integer()) {
            return invalidArgumentError("field '" + std::string(name) + "' must be an integer");
        }
        return std::optional<std::int64_t>(v->get<std::int64_t>());
    }

private:
    const json& m_object;
};

Result<EditValue> valueFrom(const json& v) {
    if (v.is_boolean()) return EditValue{v.get<bool>()};
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return EditValue{static_cast<std::int64_t>(u)};
        }
        return EditValue{u};
    }
    if (v.is_number_integer()) return EditValue{v.get<std::int64_t>()};
    if (v.is_number_float()) return EditValue{v.get<double>()};
    if (v.is_string()) {
        const auto s = v.get<std::string>();
        if (s == "nan") return EditValue{std::numeric_limits<double>::quiet_NaN()};
        if (s == "inf" || s == "+inf") return EditValue{std::numeric_limits<double>::infinity()};
        if (s == "-inf") return EditValue{-std::numeric_limits<double>::infinity()};
    }
    return invalidArgumentError("a value must be a number, true/false, or \"nan\"/\"inf\"/\"-inf\"");
}

Result<EditValue> valueField(const Fields& f, const char* name) {
    CKPT_ASSIGN_OR_RETURN(const json* v, f.get(name));
    auto value = valueFrom(*v);
    if (!value.isOk()) return value.status().withContext("field '" + std::string(name) + "'");
    return value;
}

Result<Shape> shapeFrom(const json& v) {
    if (!v.is_array()) return invalidArgumentError("a shape must be an array of integers");
    Shape shape;
    for (const json& d : v) {
        if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
            return invalidArgumentError("a shape must be an array of non-negative integers");
        }
        shape.push_back(d.get<std::int64_t>());
    }
    return shape;
}

Result<NodeSpec> nodeSpecFrom(const json& j) {
    if (!j.is_object()) return invalidArgumentError("field 'node' must be an object");
    const Fields f(j);
    CKPT_ASSIGN_OR_RETURN(std::string kind, f.string("kind"));
    NodeSpec spec;
    if (kind == "dict" || kind == "list" || kind == "tuple" || kind == "none") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"kind"}));
        spec.kind = kind == "dict"   ? NodeSpec::Kind::kDict
                    : kind == "list" ? NodeSpec::Kind::kList
                    : kind == "tuple" ? NodeSpec::Kind::kTuple
                                      : NodeSpec::Kind::kNone;
        return spec;
    }
    if (kind == "string") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "value"}));
        CKPT_ASSIGN_OR_RETURN(std::string text, f.string("value"));
        return NodeSpec::string(std::move(text));
    }
    if (kind == "scalar") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "dtype", "value", "native"}));
        CKPT_ASSIGN_OR_RETURN(DType dtype, f.dtype("dtype"));
        CKPT_ASSIGN_OR_RETURN(EditValue value, valueField(f, "value"));
        bool native = false;
        if (f.has("native")) {
            CKPT_ASSIGN_OR_RETURN(const json* n, f.get("native"));
            if (!n->is_boolean()) return invalidArgumentError("field 'native' must be true/false");
            native = n->get<bool>();
        }
        return NodeSpec::scalar(dtype, value, native);
    }
    if (kind == "zeros" || kind == "ones" || kind == "full") {
        if (kind == "full") {
            CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "dtype", "shape", "value"}));
        } else {
            CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "dtype", "shape"}));
        }
        CKPT_ASSIGN_OR_RETURN(DType dtype, f.dtype("dtype"));
        CKPT_ASSIGN_OR_RETURN(const json* shapeJson, f.get("shape"));
        CKPT_ASSIGN_OR_RETURN(Shape shape, shapeFrom(*shapeJson));
        if (kind == "zeros") return NodeSpec::zeros(dtype, std::move(shape));
        if (kind == "ones") return NodeSpec::ones(dtype, std::move(shape));
        CKPT_ASSIGN_OR_RETURN(EditValue value, valueField(f, "value"));
        return NodeSpec::full(dtype, std::move(shape), value);
    }
    if (kind == "copy") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "from"}));
        CKPT_ASSIGN_OR_RETURN(KeyPath from, f.path("from"));
        return NodeSpec::copyOf(std::move(from));
    }
    if (kind == "reference") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"kind", "from"}));
        CKPT_ASSIGN_OR_RETURN(KeyPath from, f.path("from"));
        return NodeSpec::fromReference(std::move(from));
    }
    return invalidArgumentError("unknown node kind '" + kind +
                                "' (dict, list, tuple, none, string, scalar, zeros, ones, full, "
                                "copy, reference)");
}

Result<std::vector<CellEdit>> cellsFrom(const json& j) {
    if (!j.is_array()) return invalidArgumentError("field 'cells' must be an array");
    std::vector<CellEdit> cells;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const json& c = j[i];
        const std::string where = "cell " + std::to_string(i);
        if (!c.is_object()) return invalidArgumentError(where + " must be an object");
        const Fields f(c);
        Status known = f.checkKnown({"index", "value"});
        if (!known.isOk()) return known.withContext(where);
        auto index = f.get("index");
        if (!index.isOk()) return index.status().withContext(where);
        if (!(*index)->is_array()) return invalidArgumentError(where + ": 'index' must be an array");
        CellEdit cell;
        for (const json& d : **index) {
            if (!d.is_number_integer()) {
                return invalidArgumentError(where + ": 'index' must hold integers");
            }
            cell.index.push_back(d.get<std::int64_t>());
        }
        auto value = valueField(f, "value");
        if (!value.isOk()) return value.status().withContext(where);
        cell.value = *value;
        cells.push_back(std::move(cell));
    }
    return cells;
}

Result<NodeKind> containerKindFrom(const std::string& text) {
    if (text == "dict") return NodeKind::kDict;
    if (text == "list") return NodeKind::kList;
    if (text == "tuple") return NodeKind::kTuple;
    return invalidArgumentError("cannot convert to '" + text + "' (dict, list or tuple)");
}

Result<Edit> stepFrom(const json& j) {
    if (!j.is_object()) return invalidArgumentError("a step must be an object");
    const Fields f(j);
    CKPT_ASSIGN_OR_RETURN(std::string op, f.string("op"));
    CKPT_ASSIGN_OR_RETURN(KeyPath path, f.path("path"));
    if (op == "rename") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "to", "comment"}));
        CKPT_ASSIGN_OR_RETURN(std::string key, f.string("to"));
        return Edit::rename(std::move(path), std::move(key));
    }
    if (op == "move" || op == "copy") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "to", "position", "comment"}));
        CKPT_ASSIGN_OR_RETURN(KeyPath to, f.path("to"));
        CKPT_ASSIGN_OR_RETURN(auto position, f.optionalInt("position"));
        if (op == "move") return Edit::move(std::move(path), std::move(to), position);
        return Edit::copy(std::move(path), std::move(to), position);
    }
    if (op == "delete") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "comment"}));
        return Edit::remove(std::move(path));
    }
    if (op == "add") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "node", "position", "comment"}));
        CKPT_ASSIGN_OR_RETURN(const json* nodeJson, f.get("node"));
        auto spec = nodeSpecFrom(*nodeJson);
        if (!spec.isOk()) return spec.status().withContext("node");
        CKPT_ASSIGN_OR_RETURN(auto position, f.optionalInt("position"));
        return Edit::add(std::move(path), std::move(*spec), position);
    }
    if (op == "set") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "value", "comment"}));
        CKPT_ASSIGN_OR_RETURN(EditValue value, valueField(f, "value"));
        return Edit::setScalar(std::move(path), value);
    }
    if (op == "set_string") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "value", "comment"}));
        CKPT_ASSIGN_OR_RETURN(std::string text, f.string("value"));
        return Edit::setString(std::move(path), std::move(text));
    }
    if (op == "set_cells") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "cells", "comment"}));
        CKPT_ASSIGN_OR_RETURN(const json* cellsJson, f.get("cells"));
        CKPT_ASSIGN_OR_RETURN(std::vector<CellEdit> cells, cellsFrom(*cellsJson));
        return Edit::setCells(std::move(path), std::move(cells));
    }
    if (op == "cast") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "dtype", "comment"}));
        CKPT_ASSIGN_OR_RETURN(DType dtype, f.dtype("dtype"));
        return Edit::cast(std::move(path), dtype);
    }
    if (op == "stack" || op == "unstack") {
        if (op == "stack") {
            CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "prefix", "to", "axis", "comment"}));
        } else {
            CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "prefix", "axis", "comment"}));
        }
        CKPT_ASSIGN_OR_RETURN(auto axis, f.optionalInt("axis"));
        if (axis && *axis < 0) return invalidArgumentError("field 'axis' must be 0 or more");
        if (op == "unstack") {
            if (path.empty()) return invalidArgumentError("cannot unstack the root");
            Edit e = Edit::unstack(std::move(path), {}, axis.value_or(0));
            if (f.has("prefix")) {
                CKPT_ASSIGN_OR_RETURN(e.prefix, f.string("prefix"));
            }
            return e;
        }
        CKPT_ASSIGN_OR_RETURN(std::string prefix, f.string("prefix"));
        Edit e = Edit::stack(std::move(path), std::move(prefix), {}, axis.value_or(0));
        if (f.has("to")) {
            CKPT_ASSIGN_OR_RETURN(e.newKey, f.string("to"));
        }
        return e;
    }
    if (op == "convert") {
        CKPT_RETURN_IF_ERROR(f.checkKnown({"op", "path", "to", "comment"}));
        CKPT_ASSIGN_OR_RETURN(std::string to, f.string("to"));
        CKPT_ASSIGN_OR_RETURN(NodeKind kind, containerKindFrom(to));
        return Edit::convert(std::move(path), kind);
    }
    return invalidArgumentError("unknown op '" + op +
                                "' (rename, move, delete, copy, add, set, set_string, set_cells, "
                                "cast, convert, stack, unstack)");
}

Result<std::vector<Edit>> parseRecipe(std::string_view text) {
    const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return invalidArgumentError("recipe is not valid JSON");
    if (!doc.is_object()) return invalidArgumentError("recipe must be a JSON object");
    const Fields top(doc);
    CKPT_RETURN_IF_ERROR(top.checkKnown({"ckpt_studio_recipe", "steps", "comment"}));
    CKPT_ASSIGN_OR_RETURN(const json* version, top.get("ckpt_studio_recipe"));
    if (!version->is_number_integer() || version->get<std::int64_t>() != kRecipeVersion) {
        return invalidArgumentError("unsupported recipe version " + version->dump() +
                                    " (this build reads version 1)");
    }
    CKPT_ASSIGN_OR_RETURN(const json* steps, top.get("steps"));
    if (!steps->is_array()) return invalidArgumentError("'steps' must be an array");
    std::vector<Edit> out;
    for (std::size_t i = 0; i < steps->size(); ++i) {
        auto step = stepFrom((*steps)[i]);
        if (!step.isOk()) {
            std::string label = "step " + std::to_string(i + 1);
            const json& s = (*steps)[i];
            if (s.is_object() && s.contains("op") && s["op"].is_string()) {
                label += " (" + s["op"].get<std::string>() + ")";
            }
            return step.status().withContext(label);
        }
        out.push_back(std::move(*step));
    }
    return out;
}

}  // namespace

Result<std::string> recipeToJson(const std::vector<Edit>& steps) {
    ordered_json doc;
    doc["ckpt_studio_recipe"] = kRecipeVersion;
    ordered_json list = ordered_json::array();
    for (std::size_t i = 0; i < steps.size(); ++i) {
        auto step = stepJson(steps[i]);
        if (!step.isOk()) {
            return step.status().withContext("step " + std::to_string(i + 1) + " (" +
                                             steps[i].describe() + ")");
        }
        list.push_back(std::move(*step));
    }
    doc["steps"] = std::move(list);
    return doc.dump(2) + "\n";
}

Result<std::vector<Edit>> recipeFromJson(std::string_view text) {
    try {
        return parseRecipe(text);
    } catch (const std::exception& e) {
        return invalidArgumentError(std::string("recipe: ") + e.what());
    }
}

}  // namespace ckpt
