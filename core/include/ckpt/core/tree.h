// The pytree: what every checkpoint format is read into and written from.
//
// Containers are dict (string keys, order kept), list and tuple; leaves are None, N-D arrays
// (behind a lazy ArraySource), scalars, strings and raw bytes. Nodes are immutable and shared
// (NodePtr = shared_ptr<const Node>), so an edited tree shares every untouched subtree with its
// source and can be handed between threads freely.
#pragma once

#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"

namespace ckpt {

enum class NodeKind { kDict, kList, kTuple, kNone, kArray, kScalar, kString, kBytes };

// "dict", "list", "tuple", "none", "array", "scalar", "string", "bytes".
std::string_view nodeKindName(NodeKind kind);

// A single value of a numeric dtype, kept as its exact little-endian bits.
// `native` marks a Python builtin (int, float, bool, complex) as opposed to a numpy scalar
// (np.float32(1.0)); formats that tell the two apart (Flax msgpack) keep the distinction.
class Scalar {
public:
    static Scalar fromBool(bool v, bool native = true);
    static Scalar fromInt64(std::int64_t v, bool native = true);
    static Scalar fromUInt64(std::uint64_t v, bool native = true);
    static Scalar fromFloat64(double v, bool native = true);
    static Scalar fromComplex128(std::complex<double> v, bool native = true);
    // Bits of one element of `dtype` (itemSize(dtype) bytes, at most 16).
    static Result<Scalar> fromBits(DType dtype, std::span<const std::byte> bits, bool native = false);

    DType dtype() const { return m_dtype; }
    bool isNative() const { return m_native; }
    std::span<const std::byte> bits() const { return {m_bits.data(), itemSize(m_dtype)}; }

    double toDouble() const { return elementToDouble(m_dtype, m_bits.data()); }
    std::complex<double> toComplex() const { return elementToComplex(m_dtype, m_bits.data()); }
    std::int64_t toInt64() const { return elementToInt64(m_dtype, m_bits.data()); }
    std::uint64_t toUInt64() const { return elementToUInt64(m_dtype, m_bits.data()); }
    // Python-like text: "True", "3", "0.5", "(1+2j)", "nan".
    std::string toText() const;

private:
    DType m_dtype = DType::kFloat64;
    bool m_native = true;
    std::array<std::byte, 16> m_bits{};
};

class Node;
struct NodeBuilder;
using NodePtr = std::shared_ptr<const Node>;

struct DictEntry {
    std::string key;
    NodePtr value;
};

class Node {
public:
    static NodePtr makeDict(std::vector<DictEntry> entries);
    static NodePtr makeList(std::vector<NodePtr> items);
    static NodePtr makeTuple(std::vector<NodePtr> items);
    static NodePtr makeNone();
    static NodePtr makeArray(ArraySourcePtr source);
    static NodePtr makeScalar(Scalar value);
    // A scalar whose value lives in storage (e.g. Orbax's 0-d zarr array): the dtype is known at
    // once, the value is read from `source` (one element) the first time it is asked for.
    static NodePtr makeLazyScalar(ArraySourcePtr source, bool native = false);
    static NodePtr makeString(std::string text);
    static NodePtr makeBytes(std::string bytes);

    NodeKind kind() const { return m_kind; }
    bool isContainer() const {
        return m_kind == NodeKind::kDict || m_kind == NodeKind::kList || m_kind == NodeKind::kTuple;
    }
    bool isLeaf() const { return !isContainer(); }

    // Containers: children in order. For a dict, childKey(i) is the key; for a list or a tuple,
    // it is the decimal index.
    std::size_t childCount() const;
    const NodePtr& child(std::size_t i) const;
    std::string childKey(std::size_t i) const;
    // The child under `key` (a dict key, or a decimal index into a list/tuple); null if absent.
    NodePtr findChild(std::string_view key) const;

    const std::vector<DictEntry>& entries() const { return m_entries; }  // dict only
    const std::vector<NodePtr>& items() const { return m_items; }        // list/tuple only

    const ArraySourcePtr& array() const { return m_array; }  // array only
    // Scalar only. loadScalar() reads a lazy scalar's value once (thread-safe) and reports a
    // failed read; scalar() is for display and gives a zero of the right dtype when it failed.
    // Writers and anything that must not invent a value use loadScalar().
    DType scalarDType() const;
    Result<Scalar> loadScalar() const;
    const Scalar& scalar() const;
    bool isLazyScalar() const { return m_lazyScalar != nullptr; }
    const std::string& text() const { return m_text; }       // string and bytes

    // Optional key/value metadata attached by a format (HDF5 attributes, Orbax metadata).
    const std::vector<std::pair<std::string, std::string>>& attributes() const {
        return m_attributes;
    }
    NodePtr withAttributes(std::vector<std::pair<std::string, std::string>> attributes) const;
    // The value of attribute `key`, or null. A reader marks a leaf it could not open as a None
    // carrying the reason under "error".
    const std::string* attribute(std::string_view key) const;

    Node() = default;  // use the make* factories

private:
    friend struct NodeBuilder;
    NodeKind m_kind = NodeKind::kNone;
    std::vector<DictEntry> m_entries;
    std::vector<NodePtr> m_items;
    ArraySourcePtr m_array;
    Scalar m_scalar;
    struct LazyScalar;
    std::shared_ptr<LazyScalar> m_lazyScalar;  // lazy scalars only; shared by attribute copies
    std::string m_text;
    std::vector<std::pair<std::string, std::string>> m_attributes;
};

// The node at `path`, or NotFound naming the first missing key.
Result<NodePtr> findNode(const NodePtr& root, const KeyPath& path);

// Calls fn(path, node) for every node, parents before children (root first with an empty path).
// Returning false from fn skips that node's children.
void walkTree(const NodePtr& root,
              const std::function<bool(const KeyPath&, const Node&)>& fn);

struct TreeSummary {
    std::uint64_t nodeCount = 0;
    std::uint64_t leafCount = 0;
    std::uint64_t arrayCount = 0;
    std::uint64_t parameterCount = 0;  // elements of arrays + scalars
    std::uint64_t byteCount = 0;       // in-memory bytes of arrays and scalars
};
TreeSummary summarizeTree(const NodePtr& root);

// Elements and in-memory bytes of one node's subtree.
TreeSummary summarizeNode(const Node& node);

}  // namespace ckpt
