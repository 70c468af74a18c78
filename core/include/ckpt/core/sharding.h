// Sharding: how a leaf was split across devices and processes when it was saved.
//
// A JAX array saved by several processes is stored as one global array whose storage chunks are
// its shards (Orbax: one zarr chunk per written shard, in per-process OCDBT databases merged into
// the item's root manifest). Reading never needs this: the leaf's ArraySource serves the global
// array. This header describes it for display: the global shape, the shard grid, each shard's
// index ranges, which process wrote it and which devices held it where that is known, and the
// format's record of the jax.sharding (Orbax's `_sharding` file: mesh, axis names, partition
// spec, mesh device ids). Byte-level facts: core/src/formats/orbax/FORMAT.md.
//
// Sources that know their sharding implement ShardedArray; shardingOf() finds it. Describing
// is lazy: nothing is read when a checkpoint opens, and a damaged or missing sharding record
// never fails the open or a read — sharding() reports it, naming the file and the key path.
//
// Thread-safety: every const member may be called from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/cancel.h"
#include "ckpt/core/status.h"

namespace ckpt {

// The jax.sharding a leaf was saved with, as the format recorded it.
struct MeshSharding {
    // "NamedSharding", "SingleDeviceSharding" or another jax.sharding class name.
    std::string type;
    // NamedSharding: the mesh — one size and one name per axis — and its devices' ids in C order
    // of the mesh (empty when the format did not record them).
    Shape meshShape;
    std::vector<std::string> axisNames;
    std::vector<std::int64_t> deviceIds;
    // NamedSharding: for each array dimension, the mesh axes it is split over, major first
    // (empty: not split). Shorter than the array's rank when trailing dimensions are not split.
    std::vector<std::vector<std::string>> partitionSpec;
    // SingleDeviceSharding: the device, e.g. "cpu:0".
    std::string device;

    // Number of devices in the mesh (product of meshShape; 1 for a single device).
    std::uint64_t deviceCount() const;
    // JAX's spelling: "P('x', None)", "P(('a', 'b'), None)", "P()".
    std::string partitionSpecText() const;
    // "{'a': 2, 'b': 2}"; for a single device its name.
    std::string meshText() const;
};

// One shard: a block of the global array stored as one unit.
struct Shard {
    Selection index;     // global index ranges: [start, start + count) per dimension
    std::string key;     // the storage key of its chunk (e.g. "w/c/1/0"), relative to the store
    bool stored = true;  // false: no chunk was written (reads give the fill value)
    // The process that wrote it ("0", "1", … as in Orbax's `ocdbt.process_<id>`); empty when
    // unknown (a format without per-process storage, or an unlisted key).
    std::string process;
    // The mesh devices whose part of the array contains this shard, from the recorded sharding;
    // empty when there is none. More than one: the shard is replicated over those devices.
    std::vector<std::int64_t> devices;
};

enum class ShardDetail {
    kSummary,  // mesh, shard grid and shard count only (no storage listing)
    kFull,     // also every shard with its key, stored flag, process and devices
};

struct LeafSharding {
    Shape globalShape;
    Shape shardShape;                  // the storage grid's block shape (Orbax's write_shape)
    std::uint64_t shardCount = 0;      // blocks of the grid
    std::optional<MeshSharding> mesh;  // absent: the format recorded none for this leaf
    std::vector<Shard> shards;         // kFull: every block, in C order of the grid
    // Every process that wrote part of the checkpoint item this leaf belongs to ("0", "1", …),
    // and of those, the ones that wrote a shard of this leaf (kFull only).
    std::vector<std::string> itemProcesses;
    std::vector<std::string> leafProcesses;
    // Partial information worth showing ("no _sharding entry for 'w'").
    std::vector<std::string> notes;
};

// Implemented by ArraySources whose format records how the array was sharded.
class ShardedArray {
public:
    virtual ~ShardedArray() = default;
    // Reads what `detail` needs on first use (later calls reuse it). Errors name the file and
    // the key path: a malformed `_sharding` entry, an unreadable array, a storage listing that
    // fails. A full listing of more than kMaxListedShards shards is refused (Unsupported).
    virtual Result<LeafSharding> sharding(ShardDetail detail = ShardDetail::kFull,
                                          const CancelToken* cancel = nullptr) const = 0;
};

inline constexpr std::uint64_t kMaxListedShards = std::uint64_t{1} << 20;

// The sharding description of `source`, or null when its format records none (a source made
// by an edit, an in-memory array, a format without shards).
const ShardedArray* shardingOf(const ArraySource& source);

// The devices of `mesh` whose block of an array of `globalShape` contains all of `box`, by
// JAX's rule for NamedSharding: dimension d split over axes (a1, …, ak) is cut into
// size(a1)·…·size(ak) blocks of ceil(n / blocks) elements, the device at mesh coordinate c taking
// block a1-major index of (c[a1], …, c[ak]). Device ids are mesh positions when none are
// recorded. InvalidArgument when the spec names an unknown axis or one twice, has more entries
// than `globalShape` has dimensions, or the device ids do not fill the mesh.
Result<std::vector<std::int64_t>> devicesHolding(const MeshSharding& mesh, const Shape& globalShape,
                                                 const Selection& box);

// Re-sharding: the block of an array of `globalShape` that process `index` of `count` holds when
// the array is split along dimension `axis` as JAX's NamedSharding splits a dimension over one
// mesh axis of `count` devices: blocks of ceil(n / count) elements, so the last blocks may be
// short or empty. A process reading its block reads only the stored shards that intersect it.
// InvalidArgument for count < 1, index outside [0, count), a 0-d array or `axis` past its rank.
Result<Selection> processBlock(const Shape& globalShape, std::int64_t index, std::int64_t count,
                               std::size_t axis);

}  // namespace ckpt
