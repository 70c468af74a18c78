// Orbax `_METADATA`: the tree structure of a PyTree item, as orbax-checkpoint writes it
// (_src/metadata/tree.py). Pure: parses JSON text, builds nothing on disk.
#pragma once

#include <cstdint>
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

// Python's str(tuple(keys)) as orbax writes the tree_metadata keys: ('a',), ('b', 'c'), ().
std::string pythonTupleRepr(const std::vector<std::string>& keys);

}  // namespace ckpt::orbax
