#include "ckpt/core/sharding.h"

#include <algorithm>

namespace ckpt {

namespace {

// Mesh sizes above this are not real meshes (the largest TPU pods have tens of thousands of
// devices); refusing them bounds the work of devicesHolding().
constexpr std::uint64_t kMaxMeshDevices = std::uint64_t{1} << 24;

std::string quoted(const std::string& name) {
    return "'" + name + "'";
}

}  // namespace

std::uint64_t MeshSharding::deviceCount() const {
    std::uint64_t n = 1;
    for (std::int64_t s : meshShape) {
        if (s <= 0) return 0;
        n = std::min<std::uint64_t>(n * static_cast<std::uint64_t>(s), kMaxMeshDevices + 1);
    }
    return n;
}

std::string MeshSharding::partitionSpecText() const {
    std::string out = "P(";
    for (std::size_t d = 0; d < partitionSpec.size(); ++d) {
        if (d) out += ", ";
        const auto& axes = partitionSpec[d];
        if (axes.empty()) {
            out += "None";
        } else if (axes.size() == 1) {
            out += quoted(axes[0]);
        } else {
            out += "(";
            for (std::size_t i = 0; i < axes.size(); ++i) out += (i ? ", " : "") + quoted(axes[i]);
            out += ")";
        }
    }
    return out + ")";
}

std::string MeshSharding::meshText() const {
    if (meshShape.empty() && !device.empty()) return device;
    std::string out = "{";
    for (std::size_t i = 0; i < meshShape.size(); ++i) {
        if (i) out += ", ";
        out +=
            quoted(i < axisNames.size() ? axisNames[i] : "?") + ": " + std::to_string(meshShape[i]);
    }
    return out + "}";
}

const ShardedArray* shardingOf(const ArraySource& source) {
    return dynamic_cast<const ShardedArray*>(&source);
}

Result<std::vector<std::int64_t>> devicesHolding(const MeshSharding& mesh, const Shape& globalShape,
                                                 const Selection& box) {
    const std::size_t rank = globalShape.size();
    if (box.start.size() != rank || box.count.size() != rank) {
        return invalidArgumentError("shard rank does not match the array's");
    }
    if (mesh.meshShape.size() != mesh.axisNames.size()) {
        return invalidArgumentError("the mesh has " + std::to_string(mesh.meshShape.size()) +
                                    " sizes but " + std::to_string(mesh.axisNames.size()) +
                                    " axis names");
    }
    const std::uint64_t devices = mesh.deviceCount();
    if (devices == 0 || devices > kMaxMeshDevices) {
        return invalidArgumentError("mesh shape " + formatShape(mesh.meshShape) +
                                    " is not a valid device mesh");
    }
    if (!mesh.deviceIds.empty() && mesh.deviceIds.size() != devices) {
        return invalidArgumentError("the mesh " + mesh.meshText() + " has " +
                                    std::to_string(devices) + " devices but " +
                                    std::to_string(mesh.deviceIds.size()) + " device ids");
    }
    if (mesh.partitionSpec.size() > rank) {
        return invalidArgumentError("partition spec " + mesh.partitionSpecText() + " has " +
                                    std::to_string(mesh.partitionSpec.size()) +
                                    " entries for an array of rank " + std::to_string(rank));
    }
    // The mesh axes of each array dimension, as axis indices, major first.
    std::vector<std::vector<std::size_t>> dimAxes(rank);
    std::vector<bool> used(mesh.axisNames.size(), false);
    for (std::size_t d = 0; d < mesh.partitionSpec.size(); ++d) {
        for (const std::string& name : mesh.partitionSpec[d]) {
            const auto it = std::find(mesh.axisNames.begin(), mesh.axisNames.end(), name);
            if (it == mesh.axisNames.end()) {
                return invalidArgumentError("partition spec " + mesh.partitionSpecText() +
                                            " names axis " + quoted(name) + ", which the mesh " +
                                            mesh.meshText() + " lacks");
            }
            const auto a = static_cast<std::size_t>(it - mesh.axisNames.begin());
            if (used[a]) {
                return invalidArgumentError("partition spec " + mesh.partitionSpecText() +
                                            " uses axis " + quoted(name) + " twice");
            }
            used[a] = true;
            dimAxes[d].push_back(a);
        }
    }
    std::vector<std::int64_t> out;
    std::vector<std::int64_t> coord(mesh.meshShape.size(), 0);
    for (std::uint64_t flat = 0; flat < devices; ++flat) {
        bool holds = true;
        for (std::size_t d = 0; d < rank && holds; ++d) {
            if (dimAxes[d].empty()) continue;
            std::int64_t blocks = 1;
            std::int64_t block = 0;
            for (std::size_t a : dimAxes[d]) {
                blocks *= mesh.meshShape[a];
                block = block * mesh.meshShape[a] + coord[a];
            }
            const std::int64_t n = globalShape[d];
            const std::int64_t size = (n + blocks - 1) / blocks;
            const std::int64_t lo = std::min(block * size, n);
            const std::int64_t hi = std::min(lo + size, n);
            holds = box.start[d] >= lo && box.start[d] + box.count[d] <= hi;
        }
        if (holds) {
            out.push_back(mesh.deviceIds.empty() ? static_cast<std::int64_t>(flat)
                                                 : mesh.deviceIds[flat]);
        }
        // Next mesh coordinate in C order.
        for (std::size_t a = coord.size(); a-- > 0;) {
            if (++coord[a] < mesh.meshShape[a]) break;
            coord[a] = 0;
        }
    }
    return out;
}

Result<Selection> processBlock(const Shape& globalShape, std::int64_t index, std::int64_t count,
                               std::size_t axis) {
    if (count < 1) {
        return invalidArgumentError("a process count of " + std::to_string(count) +
                                    " (it must be at least 1)");
    }
    if (index < 0 || index >= count) {
        return invalidArgumentError("process index " + std::to_string(index) +
                                    " is outside 0.." + std::to_string(count - 1));
    }
    if (axis >= globalShape.size()) {
        return invalidArgumentError("cannot split dimension " + std::to_string(axis) + " of an array of shape " +
                                    formatShape(globalShape));
    }
    Selection sel = Selection::all(globalShape);
    const std::int64_t n = globalShape[axis];
    const std::int64_t per = n / count + (n % count != 0 ? 1 : 0);
    const std::int64_t start = std::min(n, index * per);
    sel.start[axis] = start;
    sel.count[axis] = std::min(per, n - start);
    return sel;
}

}  // namespace ckpt
