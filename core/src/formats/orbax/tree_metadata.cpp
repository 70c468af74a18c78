#include "formats/orbax/tree_metadata.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

namespace ckpt::orbax {

using json = nlohmann::json;  // only its SAX interface types are used

std::string LeafMetadata::paramName() const {
    std::size_t size = path.empty() ? 0 : path.size() - 1;
    for (const KeyEntry& k : path) size += k.key.size();
    std::string out;
    out.reserve(size);
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

// Builds TreeMetadata from SAX events in one pass. `_METADATA` of a 100,000-leaf checkpoint is
// ~28 MB of JSON; a DOM of it (and ordered_json's linear key lookup) cost seconds, this costs a
// scan. Entries are kept in file order (JAX flatten order). A tuple key repeated in the file
// (which Python's json never writes) gives two entries with the same key path, which the
// reader rejects as corrupt when it builds the tree.
class MetadataSax final : public nlohmann::json_sax<json> {
public:
    explicit MetadataSax(std::string where, const LeafSink* sink = nullptr)
        : m_where(std::move(where)), m_sink(sink) {}

    TreeMetadata out;
    Status error;        // the first problem; parsing stops there
    bool sawTree = false;

    bool null() override { return scalar(Value::kNull); }
    bool boolean(bool value) override {
        m_bool = value;
        return scalar(Value::kBool);
    }
    bool number_integer(number_integer_t value) override {
        m_int = value;
        return scalar(Value::kInt);
    }
    bool number_unsigned(number_unsigned_t value) override {
        m_uint = value;
        return scalar(Value::kUInt);
    }
    bool number_float(number_float_t value, const string_t&) override {
        m_float = value;
        return scalar(Value::kFloat);
    }
    bool string(string_t& value) override { return stringView(value); }
    // The fast scanner's entry points: views of the text (or of its unescaping buffer), valid
    // for the call only; a key's view must stay valid until the next key in its object.
    bool stringView(std::string_view value) {
        m_string = value;
        return scalar(Value::kString);
    }
    bool keyView(std::string_view value) {
        if (!m_stack.empty() && m_stack.back().ctx == Ctx::kCustom) {
            std::string copy(value);
            return m_custom->key(copy);
        }
        if (!m_stack.empty()) m_stack.back().key = value;
        return true;
    }
    bool binary(binary_t&) override { return fail(corruptionError(m_where + ": not valid JSON")); }
    bool start_object(std::size_t) override { return open(true); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(false); }
    bool end_array() override { return close(); }
    bool key(string_t& value) override {
        if (!m_stack.empty() && m_stack.back().ctx == Ctx::kCustom) return m_custom->key(value);
        if (!m_stack.empty()) {
            Frame& top = m_stack.back();
            top.keyStore = value;
            top.key = top.keyStore;
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return fail(corruptionError(m_where + ": not valid JSON"));
    }

private:
    enum class Ctx { kRoot, kTree, kEntry, kKeyList, kKeyObject, kValueMeta, kWriteShape, kSkip,
                     kCustom };
    enum class Value { kNull, kBool, kInt, kUInt, kFloat, kString };
    struct Frame {
        Ctx ctx = Ctx::kRoot;
        std::string_view key;  // the last key seen in this object: a view of the text or keyStore
        std::string keyStore;  // a key that is not a view of the text (nlohmann, escapes)
        int depth = 0;    // kSkip / kCustom: containers open inside
    };

    bool fail(Status status) {
        if (error.isOk()) error = std::move(status);
        return false;
    }
    std::string at() const { return m_where + ": entry " + m_entryKey; }

    // The context of a container that opens here, or kSkip.
    bool open(bool object) {
        if (m_stack.empty()) {
            if (!object) return fail(corruptionError(m_where + ": not a JSON object"));
            m_stack.push(Ctx::kRoot);
            return true;
        }
        Frame& top = m_stack.back();
        switch (top.ctx) {
            case Ctx::kSkip:
                ++top.depth;
                return true;
            case Ctx::kCustom:
                ++top.depth;
                m_customObject.push_back(object);
                return object ? m_custom->start_object(std::size_t(-1))
                              : m_custom->start_array(std::size_t(-1));
            case Ctx::kRoot:
                if (top.key == "tree_metadata") {
                    if (!object) return fail(treeMissing());
                    sawTree = true;
                    m_stack.push(Ctx::kTree);
                    return true;
                }
                if (top.key == "custom_metadata") return startCustom(object);
                break;
            case Ctx::kTree:
                m_entryKey = top.key;
                if (!object) return fail(corruptionError(at() + " is not an object"));
                m_leaf = LeafMetadata{};
                m_path.clear();
                m_hasKeys = m_hasValue = m_hasValueType = false;
                m_stack.push(Ctx::kEntry);
                return true;
            case Ctx::kEntry:
                if (top.key == "key_metadata") {
                    if (object) return fail(corruptionError(at() + " has no key_metadata list"));
                    m_hasKeys = true;
                    m_stack.push(Ctx::kKeyList);
                    return true;
                }
                if (top.key == "value_metadata") {
                    if (!object) {
                        return fail(corruptionError(at() + " has no value_metadata object"));
                    }
                    m_hasValue = true;
                    m_stack.push(Ctx::kValueMeta);
                    return true;
                }
                break;
            case Ctx::kKeyList:
                if (!object) return fail(malformedKey());
                m_keyEntry = KeyEntry{};
                m_hasKey = m_hasKeyType = false;
                m_stack.push(Ctx::kKeyObject);
                return true;
            case Ctx::kKeyObject:
                if (top.key == "key") return fail(keyNotScalar());
                if (top.key == "key_type") return fail(corruptionError(at() + ": key_type is not an integer"));
                break;
            case Ctx::kValueMeta:
                if (top.key == "write_shape" && !object) {
                    m_leaf.writeShape = Shape{};
                    m_leaf.writeShape->reserve(4);
                    m_stack.push(Ctx::kWriteShape);
                    return true;
                }
                break;
            case Ctx::kWriteShape:
                return fail(shapeEntry());
        }
        m_stack.push(Ctx::kSkip, 1);
        return true;
    }

    bool close() {
        if (m_stack.empty()) return fail(corruptionError(m_where + ": not valid JSON"));
        Frame& top = m_stack.back();
        switch (top.ctx) {
            case Ctx::kSkip:
                if (--top.depth > 0) return true;
                break;
            case Ctx::kCustom: {
                const bool ok = top.depth > 0 && (m_customObject.back() ? m_custom->end_object()
                                                                        : m_custom->end_array());
                m_customObject.pop_back();
                if (--top.depth > 0) return ok;
                finishCustom();
                break;
            }
            case Ctx::kEntry: {
                if (!m_hasKeys) return fail(corruptionError(at() + " has no key_metadata list"));
                if (!m_hasValue) return fail(corruptionError(at() + " has no value_metadata object"));
                if (m_leaf.valueType.empty() && !m_hasValueType) {
                    return fail(corruptionError(at() + ": value_metadata has no value_type"));
                }
                m_hasValueType = false;
                // One allocation for the path (push_back would grow it 1, 2, 4, ...).
                m_leaf.path.assign(std::make_move_iterator(m_path.begin()),
                                   std::make_move_iterator(m_path.end()));
                m_path.clear();
                if (m_sink) {
                    if (Status st = (*m_sink)(std::move(m_leaf)); !st.isOk()) {
                        return fail(std::move(st));
                    }
                } else {
                    out.leaves.push_back(std::move(m_leaf));
                }
                break;
            }
            case Ctx::kKeyObject:
                if (!m_hasKey || !m_hasKeyType) return fail(malformedKey());
                m_path.push_back(std::move(m_keyEntry));
                break;
            case Ctx::kValueMeta:
                if (!m_hasValueType) {
                    return fail(corruptionError(at() + ": value_metadata has no value_type"));
                }
                break;
            default:
                break;
        }
        m_stack.pop();
        return true;
    }

    bool scalar(Value kind) {
        if (m_stack.empty()) return fail(corruptionError(m_where + ": not a JSON object"));
        Frame& top = m_stack.back();
        switch (top.ctx) {
            case Ctx::kSkip:
                return true;
            case Ctx::kCustom:
                return forwardCustom(kind);
            case Ctx::kRoot:
                if (top.key == "tree_metadata") return fail(treeMissing());
                if (top.key == "custom_metadata") {
                    if (!startCustom(std::nullopt)) return false;
                    const bool ok = forwardCustom(kind);
                    finishCustom();
                    m_stack.pop();
                    return ok;
                }
                if (kind == Value::kBool) {
                    if (top.key == "use_zarr3") out.useZarr3 = m_bool;
                    if (top.key == "use_ocdbt") out.useOcdbt = m_bool;
                    if (top.key == "store_array_data_equal_to_fill_value") {
                        out.storeArrayDataEqualToFillValue = m_bool;
                    }
                }
                return true;
            case Ctx::kTree:
                m_entryKey = top.key;
                return fail(corruptionError(at() + " is not an object"));
            case Ctx::kEntry:
                if (top.key == "key_metadata") {
                    return fail(corruptionError(at() + " has no key_metadata list"));
                }
                if (top.key == "value_metadata") {
                    return fail(corruptionError(at() + " has no value_metadata object"));
                }
                return true;
            case Ctx::kKeyList:
                return fail(malformedKey());
            case Ctx::kKeyObject:
                if (top.key == "key") {
                    if (kind == Value::kString) {
                        m_keyEntry.key.assign(m_string);
                    } else if (kind == Value::kInt) {
                        m_keyEntry.key = std::to_string(m_int);
                    } else if (kind == Value::kUInt) {
                        m_keyEntry.key = std::to_string(m_uint);
                    } else {
                        return fail(keyNotScalar());
                    }
                    m_hasKey = true;
                } else if (top.key == "key_type") {
                    std::int64_t t = 0;
                    if (kind == Value::kInt) {
                        t = m_int;
                    } else if (kind == Value::kUInt && m_uint <= 2) {
                        t = static_cast<std::int64_t>(m_uint);
                    } else if (kind == Value::kUInt) {
                        return fail(unsupportedError(at() + ": unknown key_type " +
                                                     std::to_string(m_uint)));
                    } else {
                        return fail(corruptionError(at() + ": key_type is not an integer"));
                    }
                    if (t == 1) {
                        m_keyEntry.type = KeyType::kSequence;
                    } else if (t == 2) {
                        m_keyEntry.type = KeyType::kDict;
                    } else {
                        return fail(unsupportedError(at() + ": unknown key_type " + std::to_string(t)));
                    }
                    m_hasKeyType = true;
                }
                return true;
            case Ctx::kValueMeta:
                if (top.key == "value_type") {
                    if (kind != Value::kString) {
                        return fail(corruptionError(at() + ": value_metadata has no value_type"));
                    }
                    m_leaf.valueType.assign(m_string);
                    m_hasValueType = true;
                } else if (top.key == "skip_deserialize" && kind == Value::kBool) {
                    m_leaf.skipDeserialize = m_bool;
                }
                return true;
            case Ctx::kWriteShape:
                if (kind == Value::kUInt) {
                    m_leaf.writeShape->push_back(static_cast<std::int64_t>(
                        std::min<std::uint64_t>(m_uint, static_cast<std::uint64_t>(INT64_MAX))));
                    return true;
                }
                if (kind == Value::kInt && m_int >= 0) {
                    m_leaf.writeShape->push_back(m_int);
                    return true;
                }
                return fail(shapeEntry());
        }
        return true;
    }

    // custom_metadata is kept as JSON text, in its own key order: a small DOM of just it.
    bool startCustom(std::optional<bool> object) {
        m_customValue = nlohmann::ordered_json();
        m_custom = std::make_unique<nlohmann::detail::json_sax_dom_parser<nlohmann::ordered_json>>(
            m_customValue, /*allow_exceptions=*/false);
        m_stack.push(Ctx::kCustom, object ? 1 : 0);
        if (!object) return true;
        m_customObject.push_back(*object);
        return *object ? m_custom->start_object(std::size_t(-1))
                       : m_custom->start_array(std::size_t(-1));
    }
    bool forwardCustom(Value kind) {
        switch (kind) {
            case Value::kNull: return m_custom->null();
            case Value::kBool: return m_custom->boolean(m_bool);
            case Value::kInt: return m_custom->number_integer(m_int);
            case Value::kUInt: return m_custom->number_unsigned(m_uint);
            case Value::kFloat: return m_custom->number_float(m_float, {});
            case Value::kString: {
                std::string copy(m_string);
                return m_custom->string(copy);
            }
        }
        return true;
    }
    void finishCustom() {
        out.customMetadataJson = m_customValue.dump();
        m_custom.reset();
    }

    Status treeMissing() const { return corruptionError(m_where + ": no \"tree_metadata\" object"); }
    Status malformedKey() const { return corruptionError(at() + ": malformed key_metadata element"); }
    Status keyNotScalar() const {
        return corruptionError(at() + ": key is neither a string nor an integer");
    }
    Status shapeEntry() const {
        return corruptionError(at() + ": write_shape has a non-integer entry");
    }

    std::string m_where;
    const LeafSink* m_sink;  // null: leaves go to out.leaves
    // Frames are reused, not destroyed on pop: their keyStore strings keep their capacity.
    class FrameStack {
    public:
        bool empty() const { return m_size == 0; }
        Frame& back() { return m_frames[m_size - 1]; }
        void push(Ctx ctx, int depth = 0) {
            if (m_size == m_frames.size()) m_frames.emplace_back();
            Frame& f = m_frames[m_size++];
            f.ctx = ctx;
            f.key = {};
            f.depth = depth;
        }
        void pop() { --m_size; }

    private:
        std::deque<Frame> m_frames;  // stable addresses: a key may view its frame's keyStore
        std::size_t m_size = 0;
    };
    FrameStack m_stack;
    std::vector<KeyEntry> m_path;  // the current entry's keys (reused)
    std::string m_entryKey;
    LeafMetadata m_leaf;
    KeyEntry m_keyEntry;
    bool m_hasKeys = false;
    bool m_hasValue = false;
    bool m_hasValueType = false;
    bool m_hasKey = false;
    bool m_hasKeyType = false;
    // The current scalar, set just before scalar() runs.
    bool m_bool = false;
    std::int64_t m_int = 0;
    std::uint64_t m_uint = 0;
    double m_float = 0;
    std::string_view m_string;
    // custom_metadata
    nlohmann::ordered_json m_customValue;
    std::unique_ptr<nlohmann::detail::json_sax_dom_parser<nlohmann::ordered_json>> m_custom;
    std::vector<bool> m_customObject;  // open containers inside it: object (true) or array
};

// A strict JSON scanner for the plain text orbax writes, feeding the same SAX handler as
// nlohmann's parser. nlohmann's lexer (a std::string per token, locale-aware number parsing) spent
// most of the ~0.3 s a 28 MB `_METADATA` took; this one reuses one string buffer and scans
// plain runs with memchr-like loops. It handles what orbax writes: objects, arrays, ASCII
// strings with the simple escapes, integers, true/false/null. On anything else (\u escapes,
// non-ASCII bytes, fractions and exponents, integers that do not fit 64 bits) and on any syntax
// error it gives up, and the caller parses the whole text again with nlohmann, which stays the
// reference for edge cases and error messages.
class FastJsonScanner {
public:
    enum class Outcome { kDone, kHandlerStopped, kGiveUp };

    // Templated on the handler so that its calls are direct (MetadataSax is final), not one
    // virtual call per token.
    template <class Sax>
    Outcome run(std::string_view text, Sax& sax) {
        m_p = text.data();
        m_end = text.data() + text.size();
        std::vector<char> stack;  // '{' or '[' per open container
        bool needValue = true;    // else: a value just ended
        while (true) {
            if (needValue) {
                skipSpace();
                if (m_p == m_end) return Outcome::kGiveUp;
                const char c = *m_p;
                if (c == '{' || c == '[') {
                    ++m_p;
                    const bool object = c == '{';
                    if (!(object ? sax.start_object(std::size_t(-1))
                                 : sax.start_array(std::size_t(-1)))) {
                        return Outcome::kHandlerStopped;
                    }
                    skipSpace();
                    if (m_p < m_end && *m_p == (object ? '}' : ']')) {
                        ++m_p;
                        if (!(object ? sax.end_object() : sax.end_array())) {
                            return Outcome::kHandlerStopped;
                        }
                        needValue = false;
                        continue;
                    }
                    stack.push_back(c);
                    if (object) {
                        const Outcome o = key(sax);
                        if (o != Outcome::kDone) return o;
                    }
                    continue;  // a value follows
                }
                bool ok = false;
                if (c == '"') {
                    ++m_p;
                    std::string_view s;
                    if (!scanString(s)) return Outcome::kGiveUp;
                    ok = sax.stringView(s);
                } else if (c == 't' || c == 'f' || c == 'n') {
                    if (literal("true")) {
                        ok = sax.boolean(true);
                    } else if (literal("false")) {
                        ok = sax.boolean(false);
                    } else if (literal("null")) {
                        ok = sax.null();
                    } else {
                        return Outcome::kGiveUp;
                    }
                } else if (c == '-' || (c >= '0' && c <= '9')) {
                    const Outcome o = number(sax, ok);
                    if (o != Outcome::kDone) return o;
                } else {
                    return Outcome::kGiveUp;
                }
                if (!ok) return Outcome::kHandlerStopped;
                needValue = false;
                continue;
            }
            skipSpace();
            if (stack.empty()) return m_p == m_end ? Outcome::kDone : Outcome::kGiveUp;
            if (m_p == m_end) return Outcome::kGiveUp;
            const bool object = stack.back() == '{';
            if (*m_p == ',') {
                ++m_p;
                needValue = true;
                if (object) {
                    skipSpace();
                    const Outcome o = key(sax);
                    if (o != Outcome::kDone) return o;
                }
                continue;
            }
            if (*m_p != (object ? '}' : ']')) return Outcome::kGiveUp;
            ++m_p;
            stack.pop_back();
            if (!(object ? sax.end_object() : sax.end_array())) return Outcome::kHandlerStopped;
        }
    }

private:
    void skipSpace() {
        while (m_p < m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t')) ++m_p;
    }

    // `"key" :` at m_p (spaces before it already skipped); reports the key.
    template <class Sax>
    Outcome key(Sax& sax) {
        if (m_p == m_end || *m_p != '"') return Outcome::kGiveUp;
        ++m_p;
        std::string_view s;
        if (!scanString(s)) return Outcome::kGiveUp;
        skipSpace();
        if (m_p == m_end || *m_p != ':') return Outcome::kGiveUp;
        ++m_p;
        // A view of the text stays valid; one of m_string would not outlive the next string.
        const bool ok = s.data() == m_string.data() ? sax.key(m_string) : sax.keyView(s);
        return ok ? Outcome::kDone : Outcome::kHandlerStopped;
    }

    // The rest of a string after its opening quote: `out` views the text when it has no escape,
    // else m_string holding it unescaped. False: give up.
    bool scanString(std::string_view& out) {
        {
            const char* run = m_p;
            while (m_p < m_end) {
                const auto c = static_cast<unsigned char>(*m_p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++m_p;
            }
            if (m_p == m_end) return false;
            if (*m_p == '"') {
                out = std::string_view(run, static_cast<std::size_t>(m_p - run));
                ++m_p;
                return true;
            }
            m_p = run;  // an escape (or a byte to give up on): the slow loop below
        }
        m_string.clear();
        while (true) {
            const char* run = m_p;
            while (m_p < m_end) {
                const auto c = static_cast<unsigned char>(*m_p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++m_p;
            }
            m_string.append(run, static_cast<std::size_t>(m_p - run));
            if (m_p == m_end) return false;
            const char c = *m_p++;
            if (c == '"') {
                out = m_string;
                return true;
            }
            if (c != '\\' || m_p == m_end) return false;  // control or non-ASCII byte
            switch (*m_p++) {
                case '"': m_string += '"'; break;
                case '\\': m_string += '\\'; break;
                case '/': m_string += '/'; break;
                case 'b': m_string += '\b'; break;
                case 'f': m_string += '\f'; break;
                case 'n': m_string += '\n'; break;
                case 'r': m_string += '\r'; break;
                case 't': m_string += '\t'; break;
                default: return false;  // \u and invalid escapes
            }
        }
    }

    bool literal(std::string_view word) {
        if (static_cast<std::size_t>(m_end - m_p) < word.size() ||
            std::string_view(m_p, word.size()) != word) {
            return false;
        }
        m_p += word.size();
        return true;
    }

    // An integer as JSON spells it; fractions, exponents and overflow give up.
    template <class Sax>
    Outcome number(Sax& sax, bool& ok) {
        const char* start = m_p;
        const bool negative = *m_p == '-';
        if (negative) ++m_p;
        const char* digits = m_p;
        while (m_p < m_end && *m_p >= '0' && *m_p <= '9') ++m_p;
        if (m_p == digits || (*digits == '0' && m_p - digits > 1)) return Outcome::kGiveUp;
        if (m_p < m_end && (*m_p == '.' || *m_p == 'e' || *m_p == 'E')) return Outcome::kGiveUp;
        if (negative) {
            std::int64_t v = 0;
            const auto [end, ec] = std::from_chars(start, m_p, v);
            if (ec != std::errc() || end != m_p) return Outcome::kGiveUp;
            ok = sax.number_integer(v);
        } else {
            std::uint64_t v = 0;
            const auto [end, ec] = std::from_chars(start, m_p, v);
            if (ec != std::errc() || end != m_p) return Outcome::kGiveUp;
            ok = sax.number_unsigned(v);
        }
        return Outcome::kDone;
    }

    const char* m_p = nullptr;
    const char* m_end = nullptr;
    std::string m_string;  // the current string or key, reused
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

namespace {

Result<TreeMetadata> parse(std::string_view text, std::string_view source, const LeafSink* sink,
                           const std::function<void()>* restart) {
    {
        MetadataSax sax{std::string(source), sink};
        sax.out.customMetadataJson = "null";
        // An entry takes 150-300 bytes of text; growing the vector by doubling moved ~100,000
        // entries several times.
        if (!sink) sax.out.leaves.reserve(std::min<std::size_t>(text.size() / 256, 1 << 20));
        switch (FastJsonScanner().run(text, sax)) {
            case FastJsonScanner::Outcome::kDone:
                if (!sax.sawTree) {
                    return corruptionError(std::string(source) + ": no \"tree_metadata\" object");
                }
                return std::move(sax.out);
            case FastJsonScanner::Outcome::kHandlerStopped:
                if (!sax.error.isOk()) return sax.error;
                break;  // the custom_metadata DOM refused: let nlohmann say why
            case FastJsonScanner::Outcome::kGiveUp:
                break;
        }
    }
    if (restart && *restart) (*restart)();
    MetadataSax sax{std::string(source), sink};
    sax.out.customMetadataJson = "null";
    const bool ok = nlohmann::json::sax_parse(text, &sax, nlohmann::json::input_format_t::json,
                                              /*strict=*/true, /*ignore_comments=*/false);
    if (!ok || !sax.error.isOk()) {
        if (!sax.error.isOk()) return sax.error;
        return corruptionError(std::string(source) + ": not valid JSON");
    }
    if (!sax.sawTree) return corruptionError(std::string(source) + ": no \"tree_metadata\" object");
    return std::move(sax.out);
}

}  // namespace

Result<TreeMetadata> parseTreeMetadata(std::string_view text, std::string_view source) {
    return parse(text, source, nullptr, nullptr);
}

Result<TreeMetadata> parseTreeMetadata(std::string_view text, std::string_view source,
                                       const LeafSink& sink, const std::function<void()>& restart) {
    return parse(text, source, &sink, &restart);
}

}  // namespace ckpt::orbax
