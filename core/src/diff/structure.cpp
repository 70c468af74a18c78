// Structure files (parseStructure, loadStructure, structureToJson): see ckpt/core/diff.h.
//
// The JSON node shape is `ckpt tree --json`'s (README.md); nlohmann::json is used only here.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "ckpt/core/diff.h"
#include "ckpt/core/edit.h"

namespace ckpt {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kStructureOnlyFormat = "structure only";

// dtype and shape, no values: what a structure file's array stands for.
class StructureOnlySource final : public ArraySource {
public:
    StructureOnlySource(DType dtype, Shape shape, std::string where)
        : m_dtype(dtype), m_shape(std::move(shape)), m_where(std::move(where)) {}

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    StorageInfo storage() const override {
        StorageInfo info;
        info.format = std::string(kStructureOnlyFormat);
        return info;
    }
    Status readInto(const Selection&, std::span<std::byte>, const CancelToken*) const override {
        return unsupportedError(m_where +
                                " is structure only (from a structure file): it has no values");
    }

private:
    DType m_dtype;
    Shape m_shape;
    std::string m_where;
};

class Parser {
public:
    explicit Parser(std::string_view source) : m_source(source) {}

    Result<NodePtr> node(const Json& j, KeyPath& path) {
        if (!j.is_object()) return error(path, "a node must be a JSON object");
        auto type = j.find("type");
        if (type == j.end() || !type->is_string())
            return error(path, "a node needs a \"type\" string");
        const std::string& t = type->get_ref<const std::string&>();
        if (t == "dict") return dict(j, path);
        if (t == "list" || t == "tuple") return sequence(j, path, t == "list");
        if (t == "none") return Node::makeNone();
        if (t == "array") return array(j, path);
        if (t == "scalar") return scalar(j, path);
        if (t == "string") {
            auto v = j.find("value");
            if (v == j.end() || !v->is_string())
                return error(path, "a string needs a \"value\" string");
            return Node::makeString(v->get<std::string>());
        }
        if (t == "bytes") {
            auto v = j.find("size");
            if (v == j.end() || !v->is_number_unsigned() || v->get<std::uint64_t>() > (1u << 30)) {
                return error(path, "bytes need a \"size\" (a non-negative integer up to 2^30)");
            }
            return Node::makeBytes(std::string(v->get<std::size_t>(), '\0'));
        }
        return error(path, "unknown node type '" + t + "'");
    }

private:
    Status error(const KeyPath& path, const std::string& what) const {
        return invalidArgumentError(std::string(m_source) + ": at key path " +
                                    describeKeyPath(path) + ": " + what);
    }

    Result<NodePtr> dict(const Json& j, KeyPath& path) {
        auto children = j.find("children");
        if (children == j.end() || !children->is_object()) {
            return error(path, "a dict needs a \"children\" object");
        }
        std::vector<DictEntry> entries;
        for (const auto& [key, value] : children->items()) {
            path.push_back(key);
            CKPT_ASSIGN_OR_RETURN(NodePtr child, node(value, path));
            path.pop_back();
            entries.push_back({key, std::move(child)});
        }
        return Node::makeDict(std::move(entries));
    }

    Result<NodePtr> sequence(const Json& j, KeyPath& path, bool isList) {
        auto items = j.find("items");
        if (items == j.end() || !items->is_array()) {
            return error(path, "a list or tuple needs an \"items\" array");
        }
        std::vector<NodePtr> out;
        for (std::size_t i = 0; i < items->size(); ++i) {
            path.push_back(std::to_string(i));
            CKPT_ASSIGN_OR_RETURN(NodePtr child, node((*items)[i], path));
            path.pop_back();
            out.push_back(std::move(child));
        }
        return isList ? Node::makeList(std::move(out)) : Node::makeTuple(std::move(out));
    }

    Result<DType> dtypeOf(const Json& j, const KeyPath& path) {
        auto d = j.find("dtype");
        if (d == j.end() || !d->is_string()) return error(path, "needs a \"dtype\" string");
        auto dtype = dtypeFromName(d->get_ref<const std::string&>());
        if (!dtype) return error(path, "unknown dtype '" + d->get<std::string>() + "'");
        return *dtype;
    }

    Result<EditValue> valueOf(const Json& v, const KeyPath& path) {
        if (v.is_boolean()) return EditValue{v.get<bool>()};
        if (v.is_number_unsigned()) return EditValue{v.get<std::uint64_t>()};
        if (v.is_number_integer()) return EditValue{v.get<std::int64_t>()};
        if (v.is_number_float()) return EditValue{v.get<double>()};
        if (v.is_string()) {
            const std::string& s = v.get_ref<const std::string&>();
            if (s == "nan") return EditValue{std::numeric_limits<double>::quiet_NaN()};
            if (s == "inf") return EditValue{std::numeric_limits<double>::infinity()};
            if (s == "-inf") return EditValue{-std::numeric_limits<double>::infinity()};
        }
        return error(path, "a value must be a number, true/false or \"nan\"/\"inf\"/\"-inf\"");
    }

    Result<NodePtr> scalar(const Json& j, KeyPath& path) {
        CKPT_ASSIGN_OR_RETURN(DType dtype, dtypeOf(j, path));
        auto v = j.find("value");
        if (v == j.end()) {
            return Node::makeLazyScalar(std::make_shared<StructureOnlySource>(
                dtype, Shape{}, "'" + formatKeyPath(path) + "'"));
        }
        CKPT_ASSIGN_OR_RETURN(EditValue value, valueOf(*v, path));
        auto s = scalarFromValue(dtype, value);
        if (!s.isOk()) return error(path, s.status().message());
        return Node::makeScalar(*s);
    }

    Status flatten(const Json& v, const KeyPath& path, std::vector<const Json*>& out) {
        if (!v.is_array()) {
            out.push_back(&v);
            return okStatus();
        }
        for (const Json& item : v) {
            if (out.size() > (1u << 24)) return error(path, "too many default values");
            CKPT_RETURN_IF_ERROR(flatten(item, path, out));
        }
        return okStatus();
    }

    Result<NodePtr> array(const Json& j, KeyPath& path) {
        CKPT_ASSIGN_OR_RETURN(DType dtype, dtypeOf(j, path));
        auto s = j.find("shape");
        if (s == j.end() || !s->is_array()) return error(path, "an array needs a \"shape\" list");
        Shape shape;
        for (const Json& d : *s) {
            if (!d.is_number_integer() || d.get<std::int64_t>() < 0) {
                return error(path, "shape entries must be non-negative integers");
            }
            shape.push_back(d.get<std::int64_t>());
        }
        auto count = checkedElementCount(shape);
        if (!count.isOk()) return error(path, count.status().message());
        auto v = j.find("value");
        if (v == j.end()) {
            return Node::makeArray(std::make_shared<StructureOnlySource>(
                dtype, shape, "'" + formatKeyPath(path) + "'"));
        }
        if (!v->is_array()) {  // one value: a constant fill
            CKPT_ASSIGN_OR_RETURN(EditValue value, valueOf(*v, path));
            auto source = makeConstantSource(dtype, shape, value);
            if (!source.isOk()) return error(path, source.status().message());
            return Node::makeArray(*source);
        }
        std::vector<const Json*> flat;
        CKPT_RETURN_IF_ERROR(flatten(*v, path, flat));
        if (flat.size() != *count) {
            return error(path, "\"value\" holds " + std::to_string(flat.size()) +
                                   " values, the shape " + formatShape(shape) + " needs " +
                                   std::to_string(*count));
        }
        auto allocated = Array::allocate(dtype, shape);
        if (!allocated.isOk()) return error(path, allocated.status().message());
        Array data = std::move(*allocated);
        const std::size_t item = itemSize(dtype);
        for (std::size_t i = 0; i < flat.size(); ++i) {
            CKPT_ASSIGN_OR_RETURN(EditValue value, valueOf(*flat[i], path));
            auto bits = scalarFromValue(dtype, value);
            if (!bits.isOk()) return error(path, bits.status().message());
            std::memcpy(data.bytes().data() + i * item, bits->bits().data(), item);
        }
        return Node::makeArray(makeMemorySource(std::move(data)));
    }

    std::string_view m_source;
};

Json elementJson(DType dtype, const std::byte* p) {
    if (dtype == DType::kBool) return elementToInt64(dtype, p) != 0;
    if (isInteger(dtype)) {
        if (dtypeInfo(dtype).kind == DTypeKind::kUnsignedInt) return elementToUInt64(dtype, p);
        return elementToInt64(dtype, p);
    }
    auto real = [](double x) -> Json {
        if (std::isnan(x)) return "nan";
        if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
        return x;
    };
    if (isComplex(dtype)) {
        const auto z = elementToComplex(dtype, p);
        return Json::array({real(z.real()), real(z.imag())});
    }
    return real(elementToDouble(dtype, p));
}

class Writer {
public:
    Writer(const StructureOptions& options, const CancelToken* cancel)
        : m_options(options), m_cancel(cancel) {}

    Result<Json> node(const Node& n) {
        if (isCancelled(m_cancel)) return cancelledError("skeleton cancelled");
        switch (n.kind()) {
            case NodeKind::kDict: {
                Json children = Json::object();
                for (const auto& e : n.entries()) {
                    CKPT_ASSIGN_OR_RETURN(Json child, node(*e.value));
                    children[e.key] = std::move(child);
                }
                return Json{{"type", "dict"}, {"children", std::move(children)}};
            }
            case NodeKind::kList:
            case NodeKind::kTuple: {
                Json items = Json::array();
                for (const auto& item : n.items()) {
                    CKPT_ASSIGN_OR_RETURN(Json child, node(*item));
                    items.push_back(std::move(child));
                }
                return Json{{"type", n.kind() == NodeKind::kList ? "list" : "tuple"},
                            {"items", std::move(items)}};
            }
            case NodeKind::kNone:
                return Json{{"type", "none"}};
            case NodeKind::kArray:
                return array(*n.array());
            case NodeKind::kScalar: {
                Json j{{"type", "scalar"}, {"dtype", std::string(dtypeName(n.scalarDType()))}};
                auto value = n.loadScalar();
                if (value.isOk()) j["value"] = elementJson(value->dtype(), value->bits().data());
                return j;
            }
            case NodeKind::kString:
                return Json{{"type", "string"}, {"value", n.text()}};
            case NodeKind::kBytes:
                return Json{{"type", "bytes"}, {"size", n.text().size()}};
        }
        return internalError("unknown node kind");
    }

private:
    Result<Json> array(const ArraySource& a) {
        CKPT_RETURN_IF_ERROR(a.metadataStatus());
        Json j{
            {"type", "array"}, {"dtype", std::string(dtypeName(a.dtype()))}, {"shape", a.shape()}};
        if (a.elementCount() == 0 || a.elementCount() > m_options.maxValueElements ||
            isStructureOnly(a)) {
            return j;
        }
        CKPT_ASSIGN_OR_RETURN(Array data, a.readAll(m_cancel));
        Json values = Json::array();
        for (std::uint64_t i = 0; i < data.elementCount(); ++i) {
            values.push_back(elementJson(data.dtype(), data.elementPtr(i)));
        }
        j["value"] = std::move(values);  // flat, C order
        return j;
    }

    const StructureOptions& m_options;
    const CancelToken* m_cancel;
};

}  // namespace

bool isStructureOnly(const ArraySource& source) {
    return dynamic_cast<const StructureOnlySource*>(&source) != nullptr;
}

Result<NodePtr> parseStructure(std::string_view json, std::string_view sourceName) {
    Json j = Json::parse(json, nullptr, false);
    if (j.is_discarded()) {
        return invalidArgumentError(std::string(sourceName) + ": not valid JSON");
    }
    if (!j.is_object()) {
        return invalidArgumentError(std::string(sourceName) +
                                    ": a structure file is a JSON object");
    }
    auto version = j.find("ckpt_studio_structure");
    if (version != j.end() &&
        (!version->is_number_integer() || version->get<std::int64_t>() != kStructureVersion)) {
        return invalidArgumentError(std::string(sourceName) +
                                    ": unsupported \"ckpt_studio_structure\" version " +
                                    version->dump() + " (this build reads 1)");
    }
    auto tree = j.find("tree");
    if (tree == j.end()) {
        return invalidArgumentError(std::string(sourceName) +
                                    ": a structure file needs a \"tree\" node");
    }
    Parser parser(sourceName);
    KeyPath path;
    return parser.node(*tree, path);
}

Result<NodePtr> loadStructure(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return ioError("cannot open structure file '" + path.string() + "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return ioError("cannot read structure file '" + path.string() + "'");
    return parseStructure(text.str(), "'" + path.string() + "'");
}

bool isStructureFile(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    const auto first = head.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || head[first] != '{') return false;
    return head.find("\"ckpt_studio_structure\"") != std::string::npos;
}

Result<std::string> structureToJson(const NodePtr& root, const StructureOptions& options,
                                    const CancelToken* cancel) {
    if (!root) return invalidArgumentError("skeleton: no tree");
    Writer writer(options, cancel);
    CKPT_ASSIGN_OR_RETURN(Json tree, writer.node(*root));
    Json doc{{"ckpt_studio_structure", kStructureVersion}, {"tree", std::move(tree)}};
    return doc.dump(1) + "\n";
}

}  // namespace ckpt
