#include "ckpt/core/tree.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <mutex>

namespace ckpt {

std::string_view nodeKindName(NodeKind kind) {
    switch (kind) {
        case NodeKind::kDict: return "dict";
        case NodeKind::kList: return "list";
        case NodeKind::kTuple: return "tuple";
        case NodeKind::kNone: return "none";
        case NodeKind::kArray: return "array";
        case NodeKind::kScalar: return "scalar";
        case NodeKind::kString: return "string";
        case NodeKind::kBytes: return "bytes";
    }
    return "unknown";
}

// --- Scalar -----------------------------------------------------------------------------------

namespace {
template <typename T>
Scalar scalarOf(DType dtype, T value, bool native) {
    std::byte bits[sizeof(T)];
    std::memcpy(bits, &value, sizeof(T));
    return Scalar::fromBits(dtype, bits, native).value();
}

std::string formatDouble(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    std::string s(buf, end);
    // Python prints integral floats with a trailing ".0".
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
}
}  // namespace

Scalar Scalar::fromBool(bool v, bool native) {
    return scalarOf<std::uint8_t>(DType::kBool, v ? 1 : 0, native);
}
Scalar Scalar::fromInt64(std::int64_t v, bool native) { return scalarOf(DType::kInt64, v, native); }
Scalar Scalar::fromUInt64(std::uint64_t v, bool native) {
    return scalarOf(DType::kUInt64, v, native);
}
Scalar Scalar::fromFloat64(double v, bool native) { return scalarOf(DType::kFloat64, v, native); }
Scalar Scalar::fromComplex128(std::complex<double> v, bool native) {
    double parts[2] = {v.real(), v.imag()};
    std::byte bits[16];
    std::memcpy(bits, parts, 16);
    return fromBits(DType::kComplex128, bits, native).value();
}

Result<Scalar> Scalar::fromBits(DType dtype, std::span<const std::byte> bits, bool native) {
    if (bits.size() != itemSize(dtype)) {
        return invalidArgumentError("scalar of dtype " + std::string(dtypeName(dtype)) + " needs " +
                                    std::to_string(itemSize(dtype)) + " bytes, got " +
                                    std::to_string(bits.size()));
    }
    Scalar s;
    s.m_dtype = dtype;
    s.m_native = native;
    std::memcpy(s.m_bits.data(), bits.data(), bits.size());
    return s;
}

std::string Scalar::toText() const {
    switch (dtypeInfo(m_dtype).kind) {
        case DTypeKind::kBool: return toInt64() != 0 ? "True" : "False";
        case DTypeKind::kSignedInt: return std::to_string(toInt64());
        case DTypeKind::kUnsignedInt: return std::to_string(toUInt64());
        case DTypeKind::kFloat: return formatDouble(toDouble());
        case DTypeKind::kComplex: {
            const auto c = toComplex();
            std::string im = formatDouble(c.imag());
            if (!im.empty() && im[0] != '-') im = "+" + im;
            return "(" + formatDouble(c.real()) + im + "j)";
        }
    }
    return {};
}

// --- Node -------------------------------------------------------------------------------------

namespace {
std::shared_ptr<Node> makeNode() { return std::make_shared<Node>(); }
}  // namespace

// The factories fill private members through a friend-free path: each builds a Node by copying
// a prototype with the field set. Node's members are private, so we go through a small builder.
struct NodeBuilder {
    static NodePtr build(NodeKind kind, std::vector<DictEntry> entries, std::vector<NodePtr> items,
                         ArraySourcePtr array, Scalar scalar, std::string text) {
        auto n = makeNode();
        n->m_kind = kind;
        n->m_entries = std::move(entries);
        n->m_items = std::move(items);
        n->m_array = std::move(array);
        n->m_scalar = scalar;
        n->m_text = std::move(text);
        return n;
    }
};

NodePtr Node::makeDict(std::vector<DictEntry> entries) {
    return NodeBuilder::build(NodeKind::kDict, std::move(entries), {}, nullptr, {}, {});
}
NodePtr Node::makeList(std::vector<NodePtr> items) {
    return NodeBuilder::build(NodeKind::kList, {}, std::move(items), nullptr, {}, {});
}
NodePtr Node::makeTuple(std::vector<NodePtr> items) {
    return NodeBuilder::build(NodeKind::kTuple, {}, std::move(items), nullptr, {}, {});
}
NodePtr Node::makeNone() {
    static const NodePtr none = NodeBuilder::build(NodeKind::kNone, {}, {}, nullptr, {}, {});
    return none;
}
NodePtr Node::makeArray(ArraySourcePtr source) {
    return NodeBuilder::build(NodeKind::kArray, {}, {}, std::move(source), {}, {});
}
NodePtr Node::makeScalar(Scalar value) {
    return NodeBuilder::build(NodeKind::kScalar, {}, {}, nullptr, value, {});
}
struct Node::LazyScalar {
    ArraySourcePtr source;
    bool native = false;
    std::once_flag once;
    Scalar value;
    Status status;
};

NodePtr Node::makeLazyScalar(ArraySourcePtr source, bool native) {
    auto zero = Scalar::fromBits(source->dtype(),
                                 std::vector<std::byte>(itemSize(source->dtype())), native);
    auto n = std::const_pointer_cast<Node>(
        NodeBuilder::build(NodeKind::kScalar, {}, {}, nullptr, zero.isOk() ? *zero : Scalar(), {}));
    n->m_lazyScalar = std::make_shared<LazyScalar>();
    n->m_lazyScalar->source = std::move(source);
    n->m_lazyScalar->native = native;
    return n;
}

DType Node::scalarDType() const {
    return m_lazyScalar ? m_lazyScalar->source->dtype() : m_scalar.dtype();
}

Result<Scalar> Node::loadScalar() const {
    if (!m_lazyScalar) return m_scalar;
    LazyScalar& lazy = *m_lazyScalar;
    std::call_once(lazy.once, [&lazy] {
        if (lazy.source->elementCount() != 1) {
            lazy.status = corruptionError("scalar stored with shape " +
                                          formatShape(lazy.source->shape()));
            return;
        }
        auto a = lazy.source->readAll();
        if (!a.isOk()) {
            lazy.status = a.status();
            return;
        }
        auto sc = Scalar::fromBits(a->dtype(), a->bytes(), lazy.native);
        if (!sc.isOk()) {
            lazy.status = sc.status();
            return;
        }
        lazy.value = *sc;
    });
    if (!lazy.status.isOk()) return lazy.status;
    return lazy.value;
}

const Scalar& Node::scalar() const {
    if (!m_lazyScalar) return m_scalar;
    auto v = loadScalar();
    return v.isOk() ? m_lazyScalar->value : m_scalar;
}

NodePtr Node::makeString(std::string text) {
    return NodeBuilder::build(NodeKind::kString, {}, {}, nullptr, {}, std::move(text));
}
NodePtr Node::makeBytes(std::string bytes) {
    return NodeBuilder::build(NodeKind::kBytes, {}, {}, nullptr, {}, std::move(bytes));
}

NodePtr Node::withAttributes(std::vector<std::pair<std::string, std::string>> attributes) const {
    auto n = std::make_shared<Node>(*this);
    n->m_attributes = std::move(attributes);
    return n;
}

const std::string* Node::attribute(std::string_view key) const {
    for (const auto& [k, v] : m_attributes) {
        if (k == key) return &v;
    }
    return nullptr;
}

std::size_t Node::childCount() const {
    if (m_kind == NodeKind::kDict) return m_entries.size();
    if (m_kind == NodeKind::kList || m_kind == NodeKind::kTuple) return m_items.size();
    return 0;
}

const NodePtr& Node::child(std::size_t i) const {
    return m_kind == NodeKind::kDict ? m_entries[i].value : m_items[i];
}

std::string Node::childKey(std::size_t i) const {
    return m_kind == NodeKind::kDict ? m_entries[i].key : std::to_string(i);
}

NodePtr Node::findChild(std::string_view key) const {
    if (m_kind == NodeKind::kDict) {
        for (const auto& e : m_entries) {
            if (e.key == key) return e.value;
        }
        return nullptr;
    }
    if (m_kind == NodeKind::kList || m_kind == NodeKind::kTuple) {
        std::size_t index = 0;
        auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
        if (ec != std::errc() || ptr != key.data() + key.size() || key.empty()) return nullptr;
        if (key.size() > 1 && key[0] == '0') return nullptr;  // one spelling per index
        if (index >= m_items.size()) return nullptr;
        return m_items[index];
    }
    return nullptr;
}

Result<NodePtr> findNode(const NodePtr& root, const KeyPath& path) {
    NodePtr node = root;
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (!node->isContainer()) {
            KeyPath prefix(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(i));
            return notFoundError("no key " + describeKeyPath(path) + ": " +
                                 describeKeyPath(prefix) + " is a " +
                                 std::string(nodeKindName(node->kind())) + ", not a container");
        }
        NodePtr next = node->findChild(path[i]);
        if (!next) {
            KeyPath prefix(path.begin(), path.begin() + static_cast<std::ptrdiff_t>(i));
            return notFoundError("no key " + describeKeyPath(path) + ": " +
                                 describeKeyPath(prefix) + " has no child '" + path[i] + "'");
        }
        node = std::move(next);
    }
    return node;
}

namespace {
void walkImpl(const NodePtr& node, KeyPath& path,
              const std::function<bool(const KeyPath&, const Node&)>& fn) {
    if (!fn(path, *node)) return;
    const std::size_t n = node->childCount();
    for (std::size_t i = 0; i < n; ++i) {
        path.push_back(node->childKey(i));
        walkImpl(node->child(i), path, fn);
        path.pop_back();
    }
}

void addLeaf(TreeSummary& s, const Node& node) {
    ++s.nodeCount;
    if (node.isContainer()) return;
    ++s.leafCount;
    if (node.kind() == NodeKind::kArray) {
        ++s.arrayCount;
        s.parameterCount += node.array()->elementCount();
        s.byteCount += node.array()->byteSize();
    } else if (node.kind() == NodeKind::kScalar) {
        s.parameterCount += 1;
        s.byteCount += itemSize(node.scalarDType());
    }
}
}  // namespace

void walkTree(const NodePtr& root, const std::function<bool(const KeyPath&, const Node&)>& fn) {
    KeyPath path;
    walkImpl(root, path, fn);
}



namespace {
void summarizeImpl(const Node& node, TreeSummary& s) {
    addLeaf(s, node);
    const std::size_t n = node.childCount();
    for (std::size_t i = 0; i < n; ++i) summarizeImpl(*node.child(i), s);
}
}  // namespace

TreeSummary summarizeNode(const Node& node) {
    TreeSummary s;
    summarizeImpl(node, s);
    return s;
}

TreeSummary summarizeTree(const NodePtr& root) { return summarizeNode(*root); }

}  // namespace ckpt
