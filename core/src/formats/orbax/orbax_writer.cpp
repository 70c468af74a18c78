#include "formats/orbax/orbax_writer.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "ckpt/core/sharded_writer.h"
#include "formats/ocdbt/ocdbt_store.h"
#include "formats/ocdbt/ocdbt_writer.h"
#include "formats/orbax/orbax_format.h"
#include "formats/orbax/python_json.h"
#include "formats/orbax/tree_metadata.h"
#include "formats/zarr/zarr_writer.h"
#include "io/atomic_file.h"
#include "kvstore/directory_writer.h"
#include "shard/process_barrier.h"

namespace ckpt::orbax {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

constexpr std::string_view kTmpSuffix = ".orbax-checkpoint-tmp";
constexpr const char* kStandardHandler =
    "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler";
constexpr const char* kJsonHandler =
    "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler";

std::int64_t nowNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Status writeFile(const fs::path& path, std::string_view text) {
    CKPT_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::create(path, true));
    CKPT_RETURN_IF_ERROR(w.write(text));
    return w.commit();
}

struct Leaf {
    std::vector<std::pair<std::string, KeyType>> keys;
    const Node* node;
};

// JAX's flatten order: dict keys sorted, sequences in order. Orbax records leaves in this order
// and restores dicts from it.
void flatten(const Node& node, std::vector<std::pair<std::string, KeyType>>& keys,
             std::vector<Leaf>& out) {
    switch (node.kind()) {
        case NodeKind::kDict: {
            if (node.childCount() == 0) break;
            std::vector<const DictEntry*> sorted;
            for (const auto& e : node.entries()) sorted.push_back(&e);
            std::sort(sorted.begin(), sorted.end(),
                      [](const DictEntry* a, const DictEntry* b) { return a->key < b->key; });
            for (const DictEntry* e : sorted) {
                keys.emplace_back(e->key, KeyType::kDict);
                flatten(*e->value, keys, out);
                keys.pop_back();
            }
            return;
        }
        case NodeKind::kList:
        case NodeKind::kTuple: {
            if (node.childCount() == 0) break;
            for (std::size_t i = 0; i < node.items().size(); ++i) {
                keys.emplace_back(std::to_string(i), KeyType::kSequence);
                flatten(*node.items()[i], keys, out);
                keys.pop_back();
            }
            return;
        }
        default: break;
    }
    out.push_back({keys, &node});
}

// Whether an array of this dtype is recorded as a jax.Array (restored onto a device) or as an
// np.ndarray. 64-bit dtypes only exist in JAX with jax_enable_x64.
bool isJaxArrayDtype(DType dtype) {
    switch (dtype) {
        case DType::kInt64:
        case DType::kUInt64:
        case DType::kFloat64:
        case DType::kComplex128: return false;
        default: return true;
    }
}

std::string paramNameOf(const Leaf& leaf) {
    std::string name;
    for (std::size_t i = 0; i < leaf.keys.size(); ++i) {
        if (i > 0) name += '.';
        name += leaf.keys[i].first;
    }
    return name;
}

KeyPath keyPathOf(const Leaf& leaf) {
    KeyPath p;
    for (const auto& k : leaf.keys) p.push_back(k.first);
    return p;
}

// The whole array as one chunk, or, when that exceeds `maxBytes`, the array's shape with its
// outermost dimensions halved (rounding up) until a chunk fits, so that chunks are contiguous
// slabs in C order (cheap to fill from any source, streamed). Dimensions of 0 count as 1 (zarr
// chunks are never empty).
Shape boundedChunkShape(const Shape& shape, std::size_t item, std::uint64_t maxBytes) {
    Shape chunk = shape;
    for (auto& d : chunk) d = std::max<std::int64_t>(d, 1);
    const auto bytes = [&] {
        std::uint64_t n = item;
        for (auto d : chunk) n *= static_cast<std::uint64_t>(d);
        return n;
    };
    while (bytes() > std::max<std::uint64_t>(maxBytes, item)) {
        auto outer = std::find_if(chunk.begin(), chunk.end(), [](std::int64_t d) { return d > 1; });
        if (outer == chunk.end()) break;
        *outer = (*outer + 1) / 2;
    }
    return chunk;
}

// Adds `key` to `object` without looking for it first: ordered_json's operator[] searches its
// members linearly, which made writing 100,000 leaves quadratic (minutes in memcmp). The caller
// guarantees the key is new (leaves have distinct key paths, and stored names are checked for
// collisions before they get here).
// Growth is done here too: ordered_json's members are pair<const string, json>, whose move may
// throw (the key is copied), so std::vector copies them when it grows, and every regrowth of
// `_METADATA`'s tree deep-copied all entries so far (a third of a 20,000-leaf save). Here the
// values are moved and only the keys copied.
void appendMember(json& object, std::string key, json value) {
    using Members = json::object_t::Container;
    Members& members = object.get_ref<json::object_t&>();
    if (members.size() == members.capacity()) {
        Members bigger;
        bigger.reserve(std::max<std::size_t>(8, 2 * members.capacity()));
        for (auto& [k, v] : members) bigger.emplace_back(k, std::move(v));
        members.swap(bigger);
    }
    members.emplace_back(std::move(key), std::move(value));
}

// One array's data, to be written into the item's store.
struct ArrayJob {
    const ArraySource* source;
    std::string prefix;
    std::string where;
    zarr::ZarrWriteOptions options;
};

// Writes arrays' data on one thread per hardware thread (at most 8) while the caller is still
// adding them: the helpers start encoding the first arrays while the caller builds the metadata
// of the rest (for a tree of many small leaves that loop is a tenth of the save), and the caller
// joins them in finish(). Each array's chunks are read, encoded and compressed on one thread;
// the store is shared behind a lock. Progress is the sum over all arrays, reported under a lock
// so the callback is never entered twice at once.
class ArrayWritePool {
public:
    ArrayWritePool(kv::KvWriter& store, std::uint64_t total, const WriteOptions& options)
        : m_shared(store), m_total(total), m_options(options) {
        const unsigned threads = std::min(std::max(1u, std::thread::hardware_concurrency()), 8u);
        for (unsigned t = 1; t < threads; ++t) m_helpers.emplace_back([this] { work(); });
    }
    ~ArrayWritePool() {
        {
            std::lock_guard lock(m_mutex);
            m_closed = true;
        }
        m_abort.cancel();  // an early return: running arrays stop at their next chunk
        m_wake.notify_all();
        for (auto& h : m_helpers) h.join();
    }
    ArrayWritePool(const ArrayWritePool&) = delete;
    ArrayWritePool& operator=(const ArrayWritePool&) = delete;

    // What the caller writes small values (scalars) through while the helpers run.
    kv::KvWriter& writer() { return m_shared; }

    void add(ArrayJob job) {
        {
            std::lock_guard lock(m_mutex);
            m_jobs.push_back({std::move(job), 0});
        }
        m_wake.notify_one();
    }

    // No more arrays: the caller works too until all are written. The first error, if any.
    Status finish() {
        {
            std::lock_guard lock(m_mutex);
            m_closed = true;
        }
        m_wake.notify_all();
        work();
        for (auto& h : m_helpers) h.join();
        m_helpers.clear();
        if (!m_firstError.isOk()) return m_firstError;
        if (isCancelled(m_options.cancel)) return cancelledError("cancelled");
        return okStatus();
    }

private:
    struct Entry {
        ArrayJob job;
        std::uint64_t done;  // bytes reported so far, under m_progressMutex
    };

    void work() {
        zarr::ZarrScratch scratch;  // this thread's buffers, reused across its arrays
        for (;;) {
            Entry* entry = nullptr;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_next < m_jobs.size() || m_closed; });
                if (m_next >= m_jobs.size() || m_abort.isCancelled()) return;
                entry = &m_jobs[m_next++];  // a deque: stays put while more are added
            }
            ArrayJob& job = entry->job;
            job.options.scratch = &scratch;
            job.options.progress = [this, entry](std::uint64_t d, std::uint64_t) {
                // The user's cancel reaches writeZarrArray through m_abort, at its next chunk.
                if (isCancelled(m_options.cancel)) m_abort.cancel();
                std::lock_guard lock(m_progressMutex);
                m_sum += d - entry->done;
                entry->done = d;
                if (m_options.progress) m_options.progress(m_sum, m_total);
            };
            Status s = zarr::writeZarrArray(m_shared, job.prefix, *job.source, job.options, &m_abort);
            if (s.isOk()) {
                job.options.progress(job.source->byteSize(), 0);
                continue;
            }
            {
                std::lock_guard lock(m_progressMutex);
                if (m_firstError.isOk() && !isCancelled(m_options.cancel)) {
                    m_firstError = s.withContext(job.where);
                }
            }
            m_abort.cancel();
            return;
        }
    }

    // A KvWriter that the threads share: puts are serialised, encoding is not.
    class SharedKvWriter final : public kv::KvWriter {
    public:
        explicit SharedKvWriter(kv::KvWriter& inner) : m_inner(inner) {}
        Status put(std::string_view key, std::string_view value) override {
            std::lock_guard lock(m_mutex);
            return m_inner.put(key, value);
        }
        Status commit() override {
            std::lock_guard lock(m_mutex);
            return m_inner.commit();
        }

    private:
        kv::KvWriter& m_inner;
        std::mutex m_mutex;
    };

    SharedKvWriter m_shared;
    const std::uint64_t m_total;
    const WriteOptions& m_options;
    CancelToken m_abort;  // set on the first error, a user's cancel or an early return
    std::mutex m_mutex;   // m_jobs, m_next, m_closed
    std::condition_variable m_wake;
    std::deque<Entry> m_jobs;
    std::size_t m_next = 0;
    bool m_closed = false;
    std::mutex m_progressMutex;  // m_sum, Entry::done, m_firstError
    std::uint64_t m_sum = 0;
    Status m_firstError;
    std::vector<std::thread> m_helpers;
};

// A multi-process save's part for this process (writeOrbaxProcessShards).
struct ProcessPart {
    const ProcessSaveOptions* opts = nullptr;
    fs::path target;
    // This process's committed manifest, read before its done marker exists (afterwards process
    // 0 may commit, moving the temporary, at any moment).
    std::string manifest;
};

using shard::processName;
using shard::readWholeFile;

// Process 0: one new database at the item root holding every key of every process database, as
// Orbax's merge leaves it: values of at most max_inline_value_bytes inline in the merged leaf
// nodes, larger ones referenced where their process wrote them (data file base path
// `ocdbt.process_<i>/`, relative path `d/<hex>`), not copied.
Status mergeProcessDatabases(const fs::path& dir, const ProcessPart& part,
                             const CancelToken* cancel) {
    const std::string where = "merging the process databases of '" + part.target.string() + "'";
    const fs::path staging = dir / ".merge";
    CKPT_RETURN_IF_ERROR(io::removePath(staging));
    auto mergedOr = ocdbt::OcdbtWriter::create(staging, ocdbt::OcdbtWriterOptions{});
    if (!mergedOr.isOk()) return mergedOr.status().withContext(where);
    ocdbt::OcdbtWriter& merged = **mergedOr;
    const std::uint64_t maxInline = ocdbt::orbaxCompatibleConfig().maxInlineValueBytes;
    for (int p = 0; p < part.opts->processCount; ++p) {
        const std::string name = "ocdbt." + processName(p);
        const fs::path db = dir / name;
        std::error_code ec;
        if (!fs::exists(db / "manifest.ocdbt", ec)) {
            return corruptionError(where + ": '" + db.string() + "' has no manifest.ocdbt");
        }
        auto storeOr = ocdbt::OcdbtStore::open(db);
        if (!storeOr.isOk()) return storeOr.status().withContext(where);
        const ocdbt::OcdbtStore& store = **storeOr;
        auto entriesOr = store.listEntries();
        if (!entriesOr.isOk()) return entriesOr.status().withContext(where);
        for (const ocdbt::OcdbtEntryInfo& entry : *entriesOr) {
            if (isCancelled(cancel)) return cancelledError(where + ": cancelled");
            const std::string at = where + ", key '" + entry.key + "' of " + name;
            if (entry.isInline || entry.size <= maxInline) {
                auto valueOr = store.read(entry.key);
                if (!valueOr.isOk()) return valueOr.status().withContext(at);
                if (!*valueOr) return corruptionError(at + ": listed but absent");
                CKPT_RETURN_IF_ERROR(merged.put(entry.key, **valueOr).withContext(at));
                continue;
            }
            auto file = std::make_shared<const ocdbt::DataFileId>(
                ocdbt::DataFileId{name + "/", entry.dataFile});
            CKPT_RETURN_IF_ERROR(
                merged.putReference(entry.key, std::move(file), entry.offset, entry.size)
                    .withContext(at));
        }
    }
    CKPT_RETURN_IF_ERROR(merged.commit().withContext(where));
    std::error_code ec;
    if (fs::exists(staging / "d", ec)) {
        CKPT_RETURN_IF_ERROR(io::renamePath(staging / "d", dir / "d", false));
    }
    CKPT_RETURN_IF_ERROR(io::renamePath(staging / "manifest.ocdbt", dir / "manifest.ocdbt", false));
    CKPT_RETURN_IF_ERROR(io::removePath(staging));
    return io::syncDirectory(dir);
}

// The NamedSharding record of a leaf split by `plan` (a 1-D mesh "p" of one device per process,
// numbered as JAX numbers CPU devices: process * 2048).
json namedShardingRecord(const LeafShardPlan& plan) {
    json spec = json::array();
    if (!plan.replicated) {
        for (int d = 0; d < plan.axis; ++d) spec.push_back(nullptr);
        spec.push_back("p");
    }
    json devices = json::array();
    for (int p = 0; p < plan.processCount; ++p) {
        devices.push_back({{"id", static_cast<std::int64_t>(p) * 2048}});
    }
    return {{"sharding_type", "NamedSharding"}, {"shape", json::array({plan.processCount})},
            {"axis_names", json::array({"p"})}, {"axis_types", json::array({"AxisType.Auto"})},
            {"partition_spec", spec},           {"device_mesh", {{"mesh", devices}}}};
}

// json.dumps(list(shape)): "[2, 3]".
void appendShape(std::string& out, const Shape& shape) {
    out += '[';
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(shape[i]);
    }
    out += ']';
}

Status writeItem(const NodePtr& tree, const fs::path& dir, const WriteOptions& options,
                 ProcessPart* part = nullptr) {
    std::vector<Leaf> leaves;
    std::vector<std::pair<std::string, KeyType>> keys;
    flatten(*tree, keys, leaves);

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return ioError("cannot create '" + dir.string() + "': " + ec.message());
    if (options.orbaxZarrVersion != 2 && options.orbaxZarrVersion != 3) {
        return invalidArgumentError("Orbax arrays are zarr version 2 or 3, not " +
                                    std::to_string(options.orbaxZarrVersion));
    }
    const int processIndex = part ? part->opts->processIndex : 0;
    std::unique_ptr<kv::KvWriter> store;
    if (part) {
        const fs::path db = dir / ("ocdbt." + processName(processIndex));
        auto created = ocdbt::createOcdbtWriter(db);
        if (!created.isOk()) {
            return created.status().withContext("multi-process save of '" + part->target.string() +
                                                "'");
        }
        store = std::move(*created);
    } else if (options.orbaxOcdbt) {
        CKPT_ASSIGN_OR_RETURN(store, ocdbt::createOcdbtWriter(dir));
    } else {
        CKPT_ASSIGN_OR_RETURN(store, kv::openDirectoryWriter(dir));
    }

    // _METADATA's tree_metadata, _sharding and array_metadatas are built as text, in
    // json.dumps's format: a JSON tree per leaf cost about as much as encoding a small leaf's data.
    std::string treeText = "{";      // tree_metadata
    std::string shardingText = "{";  // _sharding (compact separators)
    std::string arrayMetaText;       // the items of array_metadatas
    treeText.reserve(leaves.size() * 200);
    shardingText.reserve(leaves.size() * 120);
    std::string valueText;
    json strings = json::object();
    std::map<std::string, KeyPath> names;  // param name -> first key path, to catch collisions
    const std::uint64_t total = summarizeTree(tree).byteCount;
    ArrayWritePool pool(*store, total, options);  // starts on the first array added below
    const std::string singleDevice =
        pythonJsonDumps({{"sharding_type", "SingleDeviceSharding"}, {"device_str", "cpu:0"}});

    for (const Leaf& leaf : leaves) {
        const std::string param = paramNameOf(leaf);
        const KeyPath path = keyPathOf(leaf);
        const Node& node = *leaf.node;
        const std::string where = "at key path " + describeKeyPath(path);
        const bool stored = node.kind() == NodeKind::kArray || node.kind() == NodeKind::kScalar ||
                            node.kind() == NodeKind::kString;
        if (stored) {
            auto [it, inserted] = names.emplace(param, path);
            if (!inserted) {
                return invalidArgumentError(where + ": Orbax stores it under the name '" + param +
                                            "', which " + describeKeyPath(it->second) +
                                            " also has (Orbax joins keys with '.')");
            }
        }
        std::vector<std::string> plainKeys;
        for (const auto& [k, t] : leaf.keys) plainKeys.push_back(k);
        switch (node.kind()) {
            case NodeKind::kArray: {
                const ArraySource& source = *node.array();
                zarr::ZarrWriteOptions zo;
                zo.zarrVersion = options.orbaxZarrVersion;
                // One chunk, as a single-device save writes, unless that is too big.
                zo.chunkShape = boundedChunkShape(source.shape(), itemSize(source.dtype()),
                                                  options.orbaxMaxChunkBytes);
                Shape writeShape = source.shape();
                for (auto& d : writeShape) d = std::max<std::int64_t>(d, 1);
                std::optional<LeafShardPlan> plan;
                if (part) {
                    // 64-bit arrays are numpy arrays: replicated, as Orbax writes them.
                    auto planned = planLeafShards(source.shape(), part->opts->processCount,
                                                  isJaxArrayDtype(source.dtype())
                                                      ? part->opts->shardAxis
                                                      : static_cast<int>(source.shape().size()));
                    if (!planned.isOk()) return planned.status().withContext(where);
                    plan = std::move(*planned);
                    zo.writeMetadata = processIndex == 0;
                    if (!plan->replicated) {
                        zo.chunkShape = plan->shardShape;
                        writeShape = plan->shardShape;
                        const std::size_t axis = static_cast<std::size_t>(plan->axis);
                        zo.chunkFilter = [axis, processIndex](const std::vector<std::int64_t>& at) {
                            return at[axis] == processIndex;
                        };
                    }
                }
                // The pool's threads write the data while this loop goes on (a replicated
                // leaf of a multi-process save by process 0 only).
                if (!plan || !plan->replicated || processIndex == 0) {
                    pool.add({&source, param.empty() ? "" : param + "/", where, std::move(zo)});
                }
                if (!isJaxArrayDtype(source.dtype())) {
                    // JAX (without jax_enable_x64) cannot hold 64-bit arrays, so such data was a
                    // numpy array; restoring it as a jax.Array would silently narrow it.
                    valueText = R"({"value_type": "np.ndarray", "skip_deserialize": false})";
                } else {
                    valueText = R"({"value_type": "jax.Array", "skip_deserialize": false, )"
                                R"("write_shape": )";
                    appendShape(valueText, writeShape);
                    valueText += '}';
                    if (shardingText.size() > 1) shardingText += ',';
                    appendPythonJsonString(shardingText, urlsafeBase64(param));
                    shardingText += ':';
                    appendPythonJsonString(shardingText,
                                           plan ? pythonJsonDumps(namedShardingRecord(*plan))
                                                : singleDevice);
                    if (!arrayMetaText.empty()) arrayMetaText += ", ";
                    arrayMetaText += R"({"array_metadata": {"param_name": )";
                    appendPythonJsonString(arrayMetaText, param);
                    arrayMetaText += R"(, "write_shape": )";
                    appendShape(arrayMetaText, writeShape);
                    arrayMetaText += R"(, "chunk_shape": )";
                    appendShape(arrayMetaText, writeShape);
                    arrayMetaText += R"(, "ext_metadata": null}})";
                }
                break;
            }
            case NodeKind::kScalar: {
                valueText = R"({"value_type": "scalar", "skip_deserialize": false})";
                if (processIndex != 0) break;  // replicated: process 0 writes it
                auto loaded = node.loadScalar();
                if (!loaded.isOk()) return loaded.status().withContext(where);
                const Scalar& sc = *loaded;
                auto array = Array::fromBytes(sc.dtype(), {}, sc.bits());
                if (!array.isOk()) return array.status().withContext(where);
                auto source = makeMemorySource(std::move(*array));
                zarr::ZarrWriteOptions zo;
                zo.zarrVersion = options.orbaxZarrVersion;
                Status s = zarr::writeZarrArray(pool.writer(), param.empty() ? "" : param + "/", *source,
                                                zo, options.cancel);
                if (!s.isOk()) return s.withContext(where);
                break;
            }
            case NodeKind::kString:
                appendMember(strings, param, node.text());
                valueText = R"({"value_type": "string", "skip_deserialize": false})";
                break;
            case NodeKind::kNone:
                valueText = R"({"value_type": "None", "skip_deserialize": true})";
                break;
            case NodeKind::kDict:
                valueText = R"({"value_type": "Dict", "skip_deserialize": true})";
                break;
            case NodeKind::kList:
                valueText = R"({"value_type": "List", "skip_deserialize": true})";
                break;
            case NodeKind::kTuple:
                valueText = R"({"value_type": "Tuple", "skip_deserialize": true})";
                break;
            case NodeKind::kBytes:
                return unsupportedError(where + ": Orbax has no type handler for bytes leaves");
        }
        if (treeText.size() > 1) treeText += ", ";
        appendPythonJsonString(treeText, pythonTupleRepr(plainKeys));
        treeText += R"(: {"key_metadata": [)";
        for (std::size_t i = 0; i < leaf.keys.size(); ++i) {
            if (i > 0) treeText += ", ";
            treeText += R"({"key": )";
            appendPythonJsonString(treeText, leaf.keys[i].first);
            treeText += R"(, "key_type": )";
            treeText += std::to_string(static_cast<int>(leaf.keys[i].second));
            treeText += '}';
        }
        treeText += R"(], "value_metadata": )";
        treeText += valueText;
        treeText += '}';
        if (isCancelled(options.cancel)) return cancelledError("cancelled");
    }
    treeText += '}';
    shardingText += '}';
    const std::string arrayMetadataRecord = R"({"array_metadatas": [)" + arrayMetaText + "]}";
    CKPT_RETURN_IF_ERROR(pool.finish());
    if (options.progress) options.progress(total, total);
    CKPT_RETURN_IF_ERROR(store->commit());

    if (part) {
        // Every process records every array (Orbax's array_metadatas/process_<i>), then says it
        // is done; process 0 waits for all, merges, and goes on to the item's side files.
        if (!arrayMetaText.empty()) {
            fs::create_directories(dir / "array_metadatas", ec);
            CKPT_RETURN_IF_ERROR(writeFile(dir / "array_metadatas" / processName(processIndex),
                                           arrayMetadataRecord));
        }
        const ProcessSaveOptions& o = *part->opts;
        const std::string treePrint = shard::fingerprint(
            treeText + "|axis=" + std::to_string(o.shardAxis) +
            "|zarr=" + std::to_string(options.orbaxZarrVersion));
        {
            const fs::path manifest =
                dir / ("ocdbt." + processName(processIndex)) / "manifest.ocdbt";
            CKPT_ASSIGN_OR_RETURN(auto text, readWholeFile(manifest));
            if (!text) return internalError("'" + manifest.string() + "' is missing");
            part->manifest = std::move(*text);
        }
        CKPT_RETURN_IF_ERROR(shard::writeDoneMarker(dir, o, treePrint));
        if (o.processIndex != 0) return okStatus();
        CKPT_RETURN_IF_ERROR(
            shard::waitForProcesses(dir, part->target, o, treePrint, options.cancel));
        CKPT_RETURN_IF_ERROR(mergeProcessDatabases(dir, *part, options.cancel));
        CKPT_RETURN_IF_ERROR(shard::removeDoneMarkers(dir, o));
    }

    std::string metadata = R"({"tree_metadata": )";
    metadata.reserve(treeText.size() + 200);
    metadata += treeText;
    metadata += R"(, "use_ocdbt": )";
    metadata += options.orbaxOcdbt ? "true" : "false";
    metadata += R"(, "use_zarr3": )";
    metadata += options.orbaxZarrVersion == 3 ? "true" : "false";
    metadata += R"(, "store_array_data_equal_to_fill_value": true, "custom_metadata": null})";
    CKPT_RETURN_IF_ERROR(writeFile(dir / "_METADATA", metadata));
    if (shardingText.size() > 2) CKPT_RETURN_IF_ERROR(writeFile(dir / "_sharding", shardingText));
    if (!strings.empty()) {
        CKPT_RETURN_IF_ERROR(writeFile(dir / "_strings.json", pythonJsonDumps(strings, true)));
    }
    if (!arrayMetaText.empty() && !part) {
        fs::create_directories(dir / "array_metadatas", ec);
        CKPT_RETURN_IF_ERROR(writeFile(dir / "array_metadatas" / "process_0", arrayMetadataRecord));
    }
    return okStatus();
}

Status writeCheckpointMetadata(const fs::path& dir, const json& itemHandlers, std::int64_t start) {
    const json meta = {{"item_handlers", itemHandlers},
                       {"metrics", json::object()},
                       {"performance_metrics", json::object()},
                       {"init_timestamp_nsecs", start},
                       {"commit_timestamp_nsecs", nowNanos()},
                       {"custom_metadata", json::object()}};
    return writeFile(dir / "_CHECKPOINT_METADATA", pythonJsonDumps(meta));
}

// Orbax's AtomicRenameTemporaryPath: build in `<final>.orbax-checkpoint-tmp`, write
// commit_success.txt last, rename. A stale temporary directory from a crashed save is replaced.
// `sharedTmp`: a multi-process save's temporary directory, which the other processes are
// writing into (not removed first).
template <typename Fill>
Status commitDirectory(const fs::path& finalPath, bool overwrite, Fill&& fill,
                       const fs::path& sharedTmp = {}) {
    std::error_code ec;
    if (fs::exists(finalPath, ec) && !overwrite) {
        return alreadyExistsError("'" + finalPath.string() + "' already exists");
    }
    fs::path tmp = finalPath;
    tmp += std::string(kTmpSuffix);
    if (!sharedTmp.empty()) {
        tmp = sharedTmp;
    } else {
        CKPT_RETURN_IF_ERROR(io::removePath(tmp));
    }
    Status s = fill(tmp);
    if (s.isOk()) {
        s = writeFile(tmp / "commit_success.txt",
                      "Checkpoint commit was successful to " + finalPath.string());
    }
    if (!s.isOk()) {
        (void)io::removePath(tmp);
        return s;
    }
    return shard::commitDirectoryRename(tmp, finalPath, overwrite);
}

}  // namespace

Result<fs::path> detachStep(const fs::path& stepDir) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(stepDir, ec))) return fs::path();
    // Renamed first, so that neither Orbax nor we ever list a half-deleted step: a name holding
    // ".orbax-checkpoint-tmp" is a temporary path to both (and to Orbax's tmp cleanup).
    fs::path doomed = stepDir;
    doomed += std::string(kTmpSuffix) + "-deleting-" + std::to_string(nowNanos());
    CKPT_RETURN_IF_ERROR(io::renamePath(stepDir, doomed, false));
    const fs::path parent = stepDir.has_parent_path() ? stepDir.parent_path() : fs::path(".");
    CKPT_RETURN_IF_ERROR(io::syncDirectory(parent));
    return doomed;
}

Status deleteStep(const fs::path& stepDir) {
    CKPT_ASSIGN_OR_RETURN(fs::path doomed, detachStep(stepDir));
    return doomed.empty() ? okStatus() : io::removePath(doomed);
}

bool isDetachedStep(const fs::path& path) {
    const std::string marker = std::string(kTmpSuffix) + "-deleting-";
    const std::string name = path.filename().string();
    const std::size_t at = name.find(marker);
    if (at == std::string::npos || at == 0) return false;
    const std::string_view ns = std::string_view(name).substr(at + marker.size());
    return !ns.empty() &&
           std::all_of(ns.begin(), ns.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void finishInterruptedDeletions(const fs::path& root) {
    std::error_code ec;
    std::vector<fs::path> doomed;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        if (isDetachedStep(it->path())) doomed.push_back(it->path());
    }
    for (const fs::path& path : doomed) (void)io::removePath(path);
}

Status writeManagerStep(const fs::path& stepDir,
                        const std::vector<std::pair<std::string, NodePtr>>& trees,
                        const std::vector<JsonItem>& jsonItems, const WriteOptions& options) {
    const std::int64_t start = nowNanos();
    std::map<std::string, std::string> handlers;  // sorted by item name, as Orbax writes them
    for (const auto& [name, tree] : trees) {
        if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
            return invalidArgumentError("'" + name + "' is not a valid item name");
        }
        if (!handlers.emplace(name, kStandardHandler).second) return invalidArgumentError("item '" + name + "' is given twice");
    }
    for (const JsonItem& item : jsonItems) {
        if (item.name.empty() || item.name.find('/') != std::string::npos ||
            item.fileName.empty() || item.fileName.find('/') != std::string::npos) {
            return invalidArgumentError("'" + item.name + "/" + item.fileName +
                                        "' is not a valid JSON item");
        }
        if (!handlers.emplace(item.name, kJsonHandler).second) return invalidArgumentError("item '" + item.name + "' is given twice");
    }
    const fs::path parent = stepDir.has_parent_path() ? stepDir.parent_path() : fs::path(".");
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return ioError("cannot create '" + parent.string() + "': " + ec.message());
    return commitDirectory(stepDir, options.overwrite, [&](const fs::path& tmp) {
        std::error_code mkEc;
        fs::create_directories(tmp, mkEc);
        if (mkEc) return ioError("cannot create '" + tmp.string() + "': " + mkEc.message());
        // Progress over all items: each tree item reports its own bytes from `base` on.
        std::uint64_t total = 0;
        for (const auto& entry : trees) total += summarizeTree(entry.second).byteCount;
        std::uint64_t base = 0;
        for (const auto& [name, tree] : trees) {
            WriteOptions itemOptions = options;
            if (options.progress) {
                itemOptions.progress = [&options, base, total](std::uint64_t d, std::uint64_t) {
                    options.progress(base + d, total);
                };
            }
            Status s = writeItem(tree, tmp / name, itemOptions);
            if (!s.isOk()) return s.withContext("item '" + name + "'");
            base += summarizeTree(tree).byteCount;
        }
        for (const JsonItem& item : jsonItems) {
            fs::create_directories(tmp / item.name, mkEc);
            if (mkEc) return ioError("cannot create item '" + item.name + "': " + mkEc.message());
            Status s = writeFile(tmp / item.name / item.fileName, item.text);
            if (!s.isOk()) return s;
        }
        json itemHandlers = json::object();
        for (const auto& [name, handler] : handlers) itemHandlers[name] = handler;
        return writeCheckpointMetadata(tmp, itemHandlers, start);
    });
}

namespace {

// CheckpointManager's max_to_keep / keep_period after a save: of the complete steps, all but the
// `keep` newest are deleted, oldest first, except those a multiple of `keepPeriod` (Orbax's
// CheckpointManager._remove_old_checkpoints). Unfinished temporary steps are left alone.
Status removeOldSteps(const fs::path& root, int keep, std::optional<double> keepPeriod) {
    if (keep <= 0) return okStatus();
    finishInterruptedDeletions(root);
    std::vector<std::pair<std::uint64_t, fs::path>> complete;
    for (const StepEntry& s : listManagerSteps(root)) {
        if (!s.complete) continue;
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(s.step.data(), s.step.data() + s.step.size(), n);
        if (ec != std::errc() || p != s.step.data() + s.step.size()) continue;
        complete.emplace_back(n, s.path);
    }
    std::sort(complete.begin(), complete.end());
    if (complete.size() <= static_cast<std::size_t>(keep)) return okStatus();
    const std::size_t excess = complete.size() - static_cast<std::size_t>(keep);
    for (std::size_t i = 0; i < excess; ++i) {
        const auto& [step, dir] = complete[i];
        if (keepPeriod && *keepPeriod >= 1 &&
            step % static_cast<std::uint64_t>(*keepPeriod) == 0) {
            continue;
        }
        CKPT_RETURN_IF_ERROR(deleteStep(dir));
    }
    return okStatus();
}

class OrbaxWriter final : public FormatWriter {
public:
    std::string_view name() const override { return "orbax"; }

    Status write(const NodePtr& tree, const fs::path& target,
                 const WriteOptions& options) const override {
        const std::int64_t start = nowNanos();
        if (!options.step) {
            // StandardCheckpointer.save(target, tree).
            return commitDirectory(target, options.overwrite, [&](const fs::path& tmp) {
                CKPT_RETURN_IF_ERROR(writeItem(tree, tmp, options));
                return writeCheckpointMetadata(
                    tmp,
                    "orbax.checkpoint._src.handlers.standard_checkpoint_handler."
                    "StandardCheckpointHandler",
                    start);
            });
        }
        // CheckpointManager.save(step, args=StandardSave(tree)): <root>/<step>/default/.
        const std::string& step = *options.step;
        if (step.empty() || !std::all_of(step.begin(), step.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return invalidArgumentError("Orbax steps are non-negative integers, not '" + step + "'");
        }
        std::error_code ec;
        fs::create_directories(target, ec);
        if (ec) return ioError("cannot create '" + target.string() + "': " + ec.message());
        const Status committed = writeManagerStep(target / step, {{"default", tree}}, {}, options);
        if (!committed.isOk()) return committed;
        return removeOldSteps(target, options.keep, options.keepEveryNSteps);
    }
};

}  // namespace

std::unique_ptr<FormatWriter> makeOrbaxWriter() { return std::make_unique<OrbaxWriter>(); }

namespace {

}  // namespace

}  // namespace ckpt::orbax

namespace ckpt {

namespace fs = std::filesystem;

Selection LeafShardPlan::shardOf(int processIndex) const {
    Selection sel;
    sel.start.assign(globalShape.size(), 0);
    sel.count = globalShape;
    if (replicated) {
        if (processIndex != 0) std::fill(sel.count.begin(), sel.count.end(), 0);
        return sel;
    }
    const auto a = static_cast<std::size_t>(axis);
    sel.start[a] = static_cast<std::int64_t>(processIndex) * shardShape[a];
    sel.count[a] = shardShape[a];
    return sel;
}

Result<LeafShardPlan> planLeafShards(const Shape& globalShape, int processCount, int shardAxis) {
    if (processCount < 1) {
        return invalidArgumentError("the process count must be at least 1, not " +
                                    std::to_string(processCount));
    }
    if (shardAxis < 0) {
        return invalidArgumentError("the shard axis must be >= 0, not " +
                                    std::to_string(shardAxis));
    }
    LeafShardPlan plan;
    plan.globalShape = globalShape;
    plan.shardShape = globalShape;
    for (auto& d : plan.shardShape) d = std::max<std::int64_t>(d, 1);
    plan.processCount = processCount;
    const auto a = static_cast<std::size_t>(shardAxis);
    if (a < globalShape.size() && globalShape[a] >= processCount &&
        globalShape[a] % processCount == 0) {
        plan.replicated = false;
        plan.axis = shardAxis;
        plan.shardShape[a] = globalShape[a] / processCount;
    }
    return plan;
}

fs::path multiProcessTemporaryPath(const fs::path& target, const std::string& saveId) {
    fs::path tmp = target;
    tmp += std::string(orbax::kTmpSuffix) + "-mp-" + saveId;
    return tmp;
}

Status writeOrbaxProcessShards(const NodePtr& tree, const fs::path& targetIn,
                               const ProcessSaveOptions& process, const WriteOptions& options) {
    fs::path target = targetIn.lexically_normal();
    if (!target.has_filename()) target = target.parent_path();
    const std::string where = "multi-process save of '" + target.string() + "'";
    if (options.step) {
        return unsupportedError(where +
                                ": a multi-process save writes one item directory, not a "
                                "CheckpointManager step");
    }
    if (!options.orbaxOcdbt) {
        return unsupportedError(where + ": a multi-process save needs OCDBT");
    }
    auto prepared = shard::prepareSharedTemporary(target, process);
    if (!prepared.isOk()) return prepared.status();
    const fs::path tmp = *prepared;
    const std::string own = shard::doneMarkerName(process.processIndex);
    std::error_code ec;

    orbax::ProcessPart part;
    part.opts = &process;
    part.target = target;
    if (process.processIndex != 0) {
        Status s = orbax::writeItem(tree, tmp, options, &part);
        if (!s.isOk()) return s.withContext(where);
        const std::string db = "ocdbt." + shard::processName(process.processIndex);
        // The committed target holds this process's database: its manifest names a fresh random
        // uuid, so it identifies this attempt.
        const fs::path committedManifest = target / db / "manifest.ocdbt";
        const std::string& ours = part.manifest;
        Status committed = shard::waitForCommit(
            target, tmp, process,
            [&]() -> Result<bool> {
                CKPT_ASSIGN_OR_RETURN(auto text, shard::readWholeFile(committedManifest));
                return text && *text == ours;
            },
            options.cancel);
        if (!committed.isOk()) {
            // This process's part goes; the temporary too once nothing else is in it (a
            // process 0 still at work would time out waiting for this part).
            const std::string name = shard::processName(process.processIndex);
            (void)io::removePath(tmp / own);
            (void)io::removePath(tmp / ("ocdbt." + name));
            (void)io::removePath(tmp / "array_metadatas" / name);
            fs::remove(tmp / "array_metadatas", ec);  // only when empty
            fs::remove(tmp, ec);
        }
        return committed;
    }
    const std::int64_t start = orbax::nowNanos();
    Status s = orbax::commitDirectory(
        target, options.overwrite,
        [&](const fs::path& dir) {
            CKPT_RETURN_IF_ERROR(orbax::writeItem(tree, dir, options, &part));
            return orbax::writeCheckpointMetadata(
                dir,
                "orbax.checkpoint._src.handlers.standard_checkpoint_handler."
                "StandardCheckpointHandler",
                start);
        },
        tmp);
    if (!s.isOk()) {
        (void)io::removePath(tmp);  // the other processes see it gone and stop waiting
        return s.withContext(where);
    }
    return okStatus();
}

}  // namespace ckpt
