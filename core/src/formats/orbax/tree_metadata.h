// Orbax `_METADATA`: the tree structure of a PyTree item, as orbax-checkpoint writes it
// (_src/metadata/tree.py). Pure: parses JSON text, builds nothing on disk.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/status.h"

namespace ckpt::orbax {

enum class KeyType { kSequence = 1, kDict = 2 };

struct KeyEntry {
    std::string key;
    KeyType type = KeyType::kDict;
};

struct LeafMetadata {
    std::vector<KeyEntry> path;       // outermost first
    std::string valueType;            // "jax.Array", "np.ndarray", "scalar", "string", "None",
                                      // "Dict", "List", "Tuple", "NamedTuple", custom names
    bool skipDeserialize = false;
    std::optional<Shape> writeShape;  // jax.Array only (0.11.1+)

    // '.'.join(keys): the storage name in OCDBT / zarr directories / _strings.json.
    std::string paramName() const;
};

struct TreeMetadata {
    std::vector<LeafMetadata> leaves;  // file order (JAX flatten order)
    std::optional<bool> useZarr3;
    std::optional<bool> useOcdbt;
    bool storeArrayDataEqualToFillValue = false;
    std::string customMetadataJson;  // raw JSON text, "null" when absent
};

// Parses `_METADATA`; `source` names the file in errors.
Result<TreeMetadata> parseTreeMetadata(std::string_view json, std::string_view source);

// Receives the leaves of `_METADATA` in file order as they are parsed (it may move from its
// argument); a non-OK status stops the parse with that status.
using LeafSink = std::function<Status(LeafMetadata&&)>;

// As above, but each leaf goes to `sink` as soon as it is parsed instead of into the result's
// `leaves` (left empty), so the caller can build while parsing goes on. `restart` runs when
// parsing starts over from the beginning (text the fast scanner does not handle, such as \u
// escapes, is parsed again by the full JSON parser): the leaves received so far must be
// forgotten, they will be sent again.
Result<TreeMetadata> parseTreeMetadata(std::string_view json, std::string_view source,
                                       const LeafSink& sink, const std::function<void()>& restart);

// Python's str(tuple(keys)) as orbax writes the tree_metadata keys: ('a',), ('b', 'c'), ().
std::string pythonTupleRepr(const std::vector<std::string>& keys);

}  // namespace ckpt::orbax
