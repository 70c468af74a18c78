// Flat tensor stores (safetensors, npz): a tree flattened to named tensors plus a structure record.
//
// Both formats hold a flat list of named arrays. flattenTree() turns a tree into that list (names
// are the key paths joined with a separator) plus a JSON "structure" text that records what the
// names cannot: container kinds, exact keys, None, empty containers, strings and scalar flags.
// rebuildFromStructure() is its exact inverse; buildBySplit() is the fallback for files written by
// other tools (split names on the separator into nested dicts). Pure functions, thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/tree.h"

namespace ckpt::flat {

struct FlatLeaf {
    KeyPath path;
    std::string name;  // path joined with the separator
    NodePtr node;      // an array or a scalar node
};

struct FlatTree {
    std::vector<FlatLeaf> leaves;  // in tree order
    std::string structureJson;     // see FORMAT.md of safetensors ("structure record")
};

struct FlattenRules {
    char separator = '.';
    std::string_view formatName;  // for messages
    // Returns an error (naming why) if the format cannot store `dtype`.
    std::function<Status(DType dtype)> checkDType;
    // Returns an error if the format cannot use `key` as one path segment (may be empty).
    std::function<Status(std::string_view key)> checkKey;
};

// Fails with InvalidArgument naming the key path for bytes leaves, unsupported dtypes, keys the
// rules refuse, keys or strings that are not UTF-8, a root that is not a container, and two paths
// whose names collide.
Result<FlatTree> flattenTree(const NodePtr& root, const FlattenRules& rules);

// A named tensor as read back: an array node (0-d arrays may become scalars).
using NamedNode = std::pair<std::string, NodePtr>;

// Rebuilds the tree recorded by flattenTree. Fails (InvalidArgument with the reason) when the
// record does not parse or does not match `tensors` exactly (every tensor used once, scalars 0-d);
// the caller then falls back to buildBySplit.
// `retype` is asked when the record names another dtype than the tensor has (npz stores
// bfloat16/float8 as raw void bytes); it returns the re-typed node or an error.
using RetypeFn = std::function<Result<NodePtr>(const NodePtr& array, DType recorded)>;
Result<NodePtr> rebuildFromStructure(std::string_view structureJson,
                                     const std::vector<NamedNode>& tensors,
                                     const RetypeFn& retype = {});

// Splits each name on `separator` into nested dicts, in the given order. A name whose prefix is
// already a leaf (or that names an existing dict) is kept whole under the deepest dict that exists.
NodePtr buildBySplit(const std::vector<NamedNode>& tensors, char separator);

}  // namespace ckpt::flat
