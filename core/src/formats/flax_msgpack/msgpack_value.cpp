#include "formats/flax_msgpack/msgpack_value.h"

#include <msgpack.hpp>

namespace ckpt::flax {

std::string_view mpTypeName(MpType type) {
    switch (type) {
        case MpType::kNil: return "nil";
        case MpType::kBool: return "bool";
        case MpType::kInt: return "int";
        case MpType::kUInt: return "uint";
        case MpType::kFloat32: return "float32";
        case MpType::kFloat64: return "float64";
        case MpType::kStr: return "str";
        case MpType::kBin: return "bin";
        case MpType::kExt: return "ext";
        case MpType::kArray: return "array";
        case MpType::kMap: return "map";
    }
    return "?";
}

namespace {

// Builds the MpValue tree from msgpack-cxx's SAX-style callbacks.
class TreeBuilder {
public:
    TreeBuilder(const char* base, const MpLimits& limits) : m_base(base), m_limits(limits) {}

    bool visit_nil() { return add(MpValue{}); }
    bool visit_boolean(bool v) {
        MpValue x;
        x.type = MpType::kBool;
        x.boolean = v;
        return add(std::move(x));
    }
    bool visit_positive_integer(std::uint64_t v) {
        MpValue x;
        x.type = MpType::kUInt;
        x.u = v;
        return add(std::move(x));
    }
    bool visit_negative_integer(std::int64_t v) {
        MpValue x;
        x.type = MpType::kInt;
        x.i = v;
        return add(std::move(x));
    }
    bool visit_float32(float v) {
        MpValue x;
        x.type = MpType::kFloat32;
        x.f = static_cast<double>(v);
        return add(std::move(x));
    }
    bool visit_float64(double v) {
        MpValue x;
        x.type = MpType::kFloat64;
        x.f = v;
        return add(std::move(x));
    }
    bool visit_str(const char* v, std::uint32_t size) { return addSpan(MpType::kStr, v, size); }
    bool visit_bin(const char* v, std::uint32_t size) { return addSpan(MpType::kBin, v, size); }
    bool visit_ext(const char* v, std::uint32_t size) {
        // `v` points at the type byte; `size` counts it.
        if (size < 1) return fail("ext value without a type byte");
        MpValue x;
        x.type = MpType::kExt;
        x.extType = static_cast<std::int8_t>(v[0]);
        x.offset = static_cast<std::size_t>(v + 1 - m_base);
        x.size = size - 1;
        return add(std::move(x));
    }
    bool start_array(std::uint32_t n) { return open(MpType::kArray, n); }
    bool start_array_item() { return true; }
    bool end_array_item() { return true; }
    bool end_array() { return close(); }
    bool start_map(std::uint32_t n) { return open(MpType::kMap, n); }
    bool start_map_key() { return true; }
    bool end_map_key() { return true; }
    bool start_map_value() { return true; }
    bool end_map_value() { return true; }
    bool end_map() { return close(); }
    void parse_error(std::size_t parsed, std::size_t error) {
        if (m_error.empty()) {
            m_error = "invalid msgpack byte at offset " + std::to_string(error) +
                      " (parsed up to " + std::to_string(parsed) + ")";
        }
    }
    void insufficient_bytes(std::size_t parsed, std::size_t error) {
        if (m_error.empty()) {
            m_error = "truncated msgpack data: a value starting near offset " +
                      std::to_string(parsed) + " needs bytes beyond the end (" +
                      std::to_string(error) + ")";
        }
    }

    const std::string& error() const { return m_error; }
    bool done() const { return m_haveRoot && m_stack.empty(); }
    MpValue takeRoot() { return std::move(m_root); }

private:
    bool fail(std::string message) {
        if (m_error.empty()) m_error = std::move(message);
        return false;
    }
    bool count() {
        if (++m_values > m_limits.maxValues) {
            return fail("more than " + std::to_string(m_limits.maxValues) +
                        " msgpack values; refusing to parse further");
        }
        return true;
    }
    bool addSpan(MpType type, const char* v, std::uint32_t size) {
        MpValue x;
        x.type = type;
        x.offset = size ? static_cast<std::size_t>(v - m_base) : 0;
        x.size = size;
        return add(std::move(x));
    }
    bool add(MpValue v) {
        if (!count()) return false;
        if (m_stack.empty()) {
            m_root = std::move(v);
            m_haveRoot = true;
            return true;
        }
        m_stack.back()->children.push_back(std::move(v));
        return true;
    }
    bool open(MpType type, std::uint32_t n) {
        if (m_stack.size() >= m_limits.maxDepth) {
            return fail("msgpack nesting deeper than " + std::to_string(m_limits.maxDepth) +
                        " levels");
        }
        if (!count()) return false;
        MpValue x;
        x.type = type;
        // Reserve only what the remaining budget could hold; the count itself is untrusted.
        const std::uint64_t items = type == MpType::kMap ? 2ULL * n : n;
        x.children.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(items, 1024)));
        MpValue* slot = nullptr;
        if (m_stack.empty()) {
            m_root = std::move(x);
            m_haveRoot = true;
            slot = &m_root;
        } else {
            auto& siblings = m_stack.back()->children;
            siblings.push_back(std::move(x));
            slot = &siblings.back();
        }
        m_stack.push_back(slot);
        return true;
    }
    bool close() {
        if (m_stack.empty()) return fail("unbalanced msgpack container");
        m_stack.pop_back();
        return true;
    }

    const char* m_base;
    MpLimits m_limits;
    std::size_t m_values = 0;
    MpValue m_root;
    bool m_haveRoot = false;
    // The open containers, innermost last. Only the innermost one receives children, and it is
    // closed before its parent appends another child, so no open container is ever moved by a
    // vector reallocation and these pointers stay valid.
    std::vector<MpValue*> m_stack;
    std::string m_error;
};

}  // namespace

Result<MpValue> parseMsgpack(std::span<const std::byte> bytes, const MpLimits& limits) {
    if (bytes.empty()) return corruptionError("empty input: no msgpack value");
    const char* data = reinterpret_cast<const char*>(bytes.data());
    TreeBuilder builder(data, limits);
    std::size_t offset = 0;
    bool ok = false;
    try {
        ok = msgpack::v2::parse(data, bytes.size(), offset, builder);
    } catch (const std::exception& e) {
        return corruptionError(std::string("malformed msgpack: ") + e.what());
    }
    if (!ok || !builder.done()) {
        std::string why = builder.error();
        if (why.empty()) why = "malformed msgpack near offset " + std::to_string(offset);
        return corruptionError(why);
    }
    if (offset != bytes.size()) {
        return corruptionError("unexpected " + std::to_string(bytes.size() - offset) +
                               " trailing bytes after the msgpack value (at offset " +
                               std::to_string(offset) + ")");
    }
    return builder.takeRoot();
}

}  // namespace ckpt::flax
