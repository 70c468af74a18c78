#include <algorithm>

#include "ckpt/core/format.h"
#include "formats/flax_msgpack/flax_format.h"
#include "formats/hdf5/hdf5_format.h"
#include "formats/orbax/orbax_format.h"
#include "formats/npz/npz_format.h"
#include "formats/orbax/orbax_writer.h"
#include "formats/safetensors/safetensors_format.h"

namespace ckpt {

namespace fs = std::filesystem;

const FormatRegistry& FormatRegistry::builtin() {
    static const FormatRegistry registry = [] {
        FormatRegistry r;
        r.add(flax::makeFlaxReader());
        r.add(flax::makeFlaxWriter());
        r.add(orbax::makeOrbaxReader());
        r.add(orbax::makeOrbaxWriter());
        r.add(hdf5::makeHdf5Reader());
        r.add(hdf5::makeHdf5Writer());
        r.add(safetensors::makeSafetensorsReader());
        r.add(safetensors::makeSafetensorsWriter());
        r.add(npz::makeNpzReader());
        r.add(npz::makeNpzWriter());
        return r;
    }();
    return registry;
}

void FormatRegistry::add(std::unique_ptr<FormatReader> reader) {
    m_readers.push_back(std::move(reader));
}
void FormatRegistry::add(std::unique_ptr<FormatWriter> writer) {
    m_writers.push_back(std::move(writer));
}

const FormatReader* FormatRegistry::reader(std::string_view name) const {
    for (const auto& r : m_readers) {
        if (r->name() == name) return r.get();
    }
    return nullptr;
}

const FormatWriter* FormatRegistry::writer(std::string_view name) const {
    for (const auto& w : m_writers) {
        if (w->name() == name) return w.get();
    }
    return nullptr;
}

std::vector<std::string> FormatRegistry::readerNames() const {
    std::vector<std::string> names;
    for (const auto& r : m_readers) names.emplace_back(r->name());
    return names;
}

std::vector<std::string> FormatRegistry::writerNames() const {
    std::vector<std::string> names;
    for (const auto& w : m_writers) names.emplace_back(w->name());
    return names;
}

Result<const FormatReader*> FormatRegistry::detect(const fs::path& path) const {
    std::error_code ec;
    if (!fs::exists(path, ec)) return notFoundError("'" + path.string() + "' does not exist");
    const FormatReader* best = nullptr;
    int bestScore = 0;
    for (const auto& r : m_readers) {
        const int score = r->probe(path);
        if (score > bestScore) {
            best = r.get();
            bestScore = score;
        }
    }
    if (!best) {
        std::string known;
        for (const auto& n : readerNames()) known += (known.empty() ? "" : ", ") + n;
        return unsupportedError("'" + path.string() +
                                "' is not a checkpoint in a format this build reads (" + known + ")");
    }
    return best;
}

namespace {
std::string joinedNames(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}
}  // namespace

Result<Checkpoint> openCheckpoint(const fs::path& path, const OpenOptions& options,
                                  std::string_view format) {
    const auto& registry = FormatRegistry::builtin();
    const FormatReader* reader = nullptr;
    if (format.empty()) {
        CKPT_ASSIGN_OR_RETURN(reader, registry.detect(path));
    } else {
        reader = registry.reader(format);
        if (!reader) {
            return invalidArgumentError("unknown format '" + std::string(format) + "' (readable: " +
                                        joinedNames(registry.readerNames()) + ")");
        }
    }
    return reader->open(path, options);
}

Status writeCheckpoint(const NodePtr& tree, const fs::path& target, std::string_view format,
                       const WriteOptions& options) {
    const auto& registry = FormatRegistry::builtin();
    const FormatWriter* writer = registry.writer(format);
    if (!writer) {
        return invalidArgumentError("unknown output format '" + std::string(format) +
                                    "' (writable: " + joinedNames(registry.writerNames()) + ")");
    }
    return writer->write(tree, target, options);
}

namespace {
// `paths` restricted to those below the current node, with the first key stripped.
NodePtr selectImpl(const NodePtr& node, const std::vector<KeyPath>& paths) {
    for (const auto& p : paths) {
        if (p.empty()) return node;  // the whole subtree is selected
    }
    std::vector<DictEntry> entries;
    std::vector<NodePtr> items;
    const std::size_t n = node->childCount();
    for (std::size_t i = 0; i < n; ++i) {
        const std::string key = node->childKey(i);
        std::vector<KeyPath> below;
        for (const auto& p : paths) {
            if (p.front() == key) below.emplace_back(p.begin() + 1, p.end());
        }
        if (below.empty()) continue;
        NodePtr child = selectImpl(node->child(i), below);
        if (node->kind() == NodeKind::kDict) {
            entries.push_back({key, std::move(child)});
        } else {
            items.push_back(std::move(child));
        }
    }
    // A partial list is no longer the same list: keep the selected items as a dict keyed by
    // their original indices so that key paths stay valid.
    if (node->kind() == NodeKind::kDict) return Node::makeDict(std::move(entries));
    if (items.size() == n) {
        return node->kind() == NodeKind::kList ? Node::makeList(std::move(items))
                                               : Node::makeTuple(std::move(items));
    }
    std::vector<DictEntry> asDict;
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string key = node->childKey(i);
        for (const auto& p : paths) {
            if (p.front() == key) {
                asDict.push_back({key, items[k++]});
                break;
            }
        }
    }
    return Node::makeDict(std::move(asDict));
}
}  // namespace

Result<NodePtr> selectSubtrees(const NodePtr& root, const std::vector<KeyPath>& paths) {
    if (paths.empty()) return root;
    for (const auto& p : paths) {
        CKPT_RETURN_IF_ERROR(findNode(root, p));
    }
    return selectImpl(root, paths);
}

}  // namespace ckpt
