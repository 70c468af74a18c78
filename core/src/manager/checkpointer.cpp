#include "ckpt/core/checkpointer.h"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ckpt/core/array_source.h"
#include <cstring>
#include <map>

namespace ckpt {

namespace fs = std::filesystem;

namespace {

// Copy work is cut into slabs of about this size, so two threads share even one large array.
constexpr std::uint64_t kSlabBytes = std::uint64_t{32} << 20;

struct CopyTask {
    const ArraySource* source;
    std::span<std::byte> target;  // the whole array's buffer
    std::int64_t firstRow;  // along dimension 0; rank-0 arrays: one task for the element
    std::int64_t rows;
};

void collectArrays(const NodePtr& node, std::vector<const Node*>& out) {
    if (node->kind() == NodeKind::kArray) {
        out.push_back(node.get());
        return;
    }
    for (std::size_t i = 0; i < node->childCount(); ++i) collectArrays(node->child(i), out);
}

Status runCopy(const CopyTask& task, const CancelToken* cancel) {
    const ArraySource& src = *task.source;
    const Shape& shape = src.shape();
    if (shape.empty()) return src.readInto(Selection::all(shape), task.target, cancel);
    Selection sel = Selection::all(shape);
    sel.start[0] = task.firstRow;
    sel.count[0] = task.rows;
    const std::uint64_t rowBytes =
        shape[0] == 0 ? 0 : task.target.size() / static_cast<std::uint64_t>(shape[0]);
    const auto offset = static_cast<std::size_t>(rowBytes * static_cast<std::uint64_t>(task.firstRow));
    const auto size = static_cast<std::size_t>(rowBytes * static_cast<std::uint64_t>(task.rows));
    return src.readInto(sel, task.target.subspan(offset, size), cancel);
}

// A snapshot's copy of one array. Its buffer goes back to the pool (if any, and still alive) when
// the last reference to the snapshot is dropped.
class SnapshotSource final : public ArraySource {
public:
    SnapshotSource(DType dtype, Shape shape, SnapshotBufferPool::Buffer buffer,
                   std::weak_ptr<SnapshotBufferPool> pool)
        : m_dtype(dtype), m_shape(std::move(shape)), m_buffer(std::move(buffer)),
          m_pool(std::move(pool)) {}
    ~SnapshotSource() override {
        if (auto pool = m_pool.lock()) pool->give(std::move(m_buffer));
    }
    SnapshotSource(const SnapshotSource&) = delete;
    SnapshotSource& operator=(const SnapshotSource&) = delete;

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    StorageInfo storage() const override {
        StorageInfo info;
        info.format = "memory (snapshot)";
        return info;
    }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken*) const override {
        std::size_t pos = 0;
        forEachContiguousRun(m_shape, itemSize(m_dtype), selection,
                             [&](std::size_t offset, std::size_t bytes) {
                                 std::memcpy(out.data() + pos, m_buffer.data.get() + offset, bytes);
                                 pos += bytes;
                             });
        return okStatus();
    }
    std::optional<std::span<const std::byte>> residentBytes() const override {
        return std::span<const std::byte>(m_buffer.data.get(), m_buffer.size);
    }

private:
    DType m_dtype;
    Shape m_shape;
    SnapshotBufferPool::Buffer m_buffer;
    std::weak_ptr<SnapshotBufferPool> m_pool;
};

Result<NodePtr> rebuild(const NodePtr& node,
                        const std::unordered_map<const Node*, ArraySourcePtr>& copies) {
    NodePtr out;
    switch (node->kind()) {
        case NodeKind::kArray: out = Node::makeArray(copies.at(node.get())); break;
        case NodeKind::kScalar: {
            if (!node->isLazyScalar()) return node;  // an immutable value already
            auto value = node->loadScalar();
            if (!value.isOk()) return value.status();
            out = Node::makeScalar(*value);
            break;
        }
        case NodeKind::kDict: {
            std::vector<DictEntry> entries;
            entries.reserve(node->entries().size());
            for (const DictEntry& e : node->entries()) {
                auto child = rebuild(e.value, copies);
                if (!child.isOk()) return child.status().withContext("key '" + e.key + "'");
                entries.push_back({e.key, std::move(*child)});
            }
            out = Node::makeDict(std::move(entries));
            break;
        }
        case NodeKind::kList:
        case NodeKind::kTuple: {
            std::vector<NodePtr> items;
            items.reserve(node->items().size());
            for (std::size_t i = 0; i < node->items().size(); ++i) {
                auto child = rebuild(node->items()[i], copies);
                if (!child.isOk()) return child.status().withContext("item " + std::to_string(i));
                items.push_back(std::move(*child));
            }
            out = node->kind() == NodeKind::kList ? Node::makeList(std::move(items))
                                                  : Node::makeTuple(std::move(items));
            break;
        }
        default: return node;  // None, strings and bytes are immutable values
    }
    if (!node->attributes().empty()) out = out->withAttributes(node->attributes());
    return out;
}

}  // namespace

SnapshotBufferPool::Buffer SnapshotBufferPool::take(std::size_t size) {
    {
        std::lock_guard lock(m_mutex);
        auto it = m_free.find(size);
        if (it != m_free.end()) {
            Buffer b{std::move(it->second), size};
            m_free.erase(it);
            return b;
        }
    }
    return {std::unique_ptr<std::byte[]>(new std::byte[std::max<std::size_t>(size, 1)]), size};
}

void SnapshotBufferPool::give(Buffer buffer) {
    if (!buffer.data) return;
    std::lock_guard lock(m_mutex);
    m_free.emplace(buffer.size, std::move(buffer.data));
}

void SnapshotBufferPool::clear() {
    std::multimap<std::size_t, std::unique_ptr<std::byte[]>> dropped;
    {
        std::lock_guard lock(m_mutex);
        dropped.swap(m_free);
    }
}

std::uint64_t SnapshotBufferPool::pooledBytes() const {
    std::lock_guard lock(m_mutex);
    std::uint64_t total = 0;
    for (const auto& entry : m_free) total += entry.first;
    return total;
}

Result<NodePtr> snapshotTree(const NodePtr& tree, int threads, const CancelToken* cancel,
                             const std::shared_ptr<SnapshotBufferPool>& pool) {
    if (!tree) return invalidArgumentError("no tree to snapshot");
    std::vector<const Node*> arrayNodes;
    collectArrays(tree, arrayNodes);
    // One target per distinct source (a source may appear at several key paths).
    std::unordered_map<const ArraySource*, std::size_t> slotOf;
    std::vector<const ArraySource*> sources;
    for (const Node* n : arrayNodes) {
        if (slotOf.emplace(n->array().get(), sources.size()).second) {
            sources.push_back(n->array().get());
        }
    }
    std::vector<SnapshotBufferPool::Buffer> targets(sources.size());
    std::vector<CopyTask> tasks;
    SnapshotBufferPool fresh;  // without a pool: plain allocations
    SnapshotBufferPool& from = pool ? *pool : fresh;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        const ArraySource& src = *sources[i];
        if (Status s = src.metadataStatus(); !s.isOk()) return s;
        auto bytes = checkedByteSize(src.dtype(), src.shape());
        if (!bytes.isOk()) return bytes.status();
        if (*bytes > Array::kDefaultMaxBytes) {
            return invalidArgumentError("an array of " + std::to_string(*bytes) +
                                        " bytes is too large to snapshot");
        }
        try {
            targets[i] = from.take(static_cast<std::size_t>(*bytes));
        } catch (const std::bad_alloc&) {
            return internalError("out of memory taking a snapshot of " + std::to_string(*bytes) +
                                 " bytes");
        }
        const std::span<std::byte> target(targets[i].data.get(), targets[i].size);
        const Shape& shape = src.shape();
        if (shape.empty()) {
            tasks.push_back({&src, target, 0, 0});
            continue;
        }
        if (shape[0] == 0 || target.empty()) continue;
        const std::uint64_t rowBytes = target.size() / static_cast<std::uint64_t>(shape[0]);
        const auto rowsPerTask = static_cast<std::int64_t>(
            std::max<std::uint64_t>(1, kSlabBytes / std::max<std::uint64_t>(rowBytes, 1)));
        for (std::int64_t r = 0; r < shape[0]; r += rowsPerTask) {
            tasks.push_back({&src, target, r, std::min(rowsPerTask, shape[0] - r)});
        }
    }
    // The pool holds at most one snapshot's buffers: what this one did not reuse goes.
    if (pool) pool->clear();

    std::atomic<std::size_t> next{0};
    std::mutex errorMutex;
    Status firstError;
    std::atomic<bool> failed{false};
    auto worker = [&] {
        for (std::size_t t = next++; t < tasks.size() && !failed.load(); t = next++) {
            Status s = isCancelled(cancel) ? cancelledError("snapshot cancelled")
                                           : runCopy(tasks[t], cancel);
            if (!s.isOk()) {
                std::lock_guard lock(errorMutex);
                if (firstError.isOk()) firstError = std::move(s);
                failed.store(true);
            }
        }
    };
    const std::size_t extra =
        std::min<std::size_t>(static_cast<std::size_t>(std::max(threads, 1)) - 1,
                              tasks.size() > 0 ? tasks.size() - 1 : 0);
    std::vector<std::thread> helpers;
    helpers.reserve(extra);
    for (std::size_t i = 0; i < extra; ++i) helpers.emplace_back(worker);
    worker();
    for (auto& h : helpers) h.join();
    if (!firstError.isOk()) return firstError.withContext("snapshot");

    std::unordered_map<const Node*, ArraySourcePtr> copies;
    std::vector<ArraySourcePtr> made(sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
        made[i] = std::make_shared<SnapshotSource>(sources[i]->dtype(), sources[i]->shape(),
                                                   std::move(targets[i]), pool);
    }
    for (const Node* n : arrayNodes) copies.emplace(n, made[slotOf.at(n->array().get())]);
    return rebuild(tree, copies);
}

Status Checkpointer::save(const NodePtr& tree, const fs::path& target, std::string_view format,
                          const WriteOptions& options) const {
    return writeCheckpoint(tree, target, format, options);
}

Result<Checkpoint> Checkpointer::restore(const fs::path& path, const OpenOptions& options,
                                         std::string_view format) const {
    return openCheckpoint(path, options, format);
}

AsyncCheckpointer::AsyncCheckpointer(int snapshotThreads, bool reuseSnapshotBuffers)
    : m_snapshotThreads(std::max(snapshotThreads, 1)),
      m_pool(reuseSnapshotBuffers ? std::make_shared<SnapshotBufferPool>() : nullptr),
      m_worker([this] { workerLoop(); }) {}

AsyncCheckpointer::~AsyncCheckpointer() {
    {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [this] { return !m_running && !m_pending; });
        m_stop = true;
    }
    m_cv.notify_all();
    m_worker.join();
}

void AsyncCheckpointer::workerLoop() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_cv.wait(lock, [this] { return m_stop || m_pending.has_value(); });
        if (!m_pending) return;  // stopping with nothing queued
        Job job = std::move(*m_pending);
        m_pending.reset();
        auto token = m_cancel;
        lock.unlock();
        ProgressFn report = [this](std::uint64_t done, std::uint64_t total) {
            m_total.store(total, std::memory_order_relaxed);
            m_done.store(done, std::memory_order_relaxed);
        };
        Status result = job(*token, report);
        job = nullptr;  // drop the snapshot (its buffers return to the pool) before "finished"
        lock.lock();
        m_running = false;
        if (!result.isOk()) m_unreported = std::move(result);
        m_cv.notify_all();
    }
}

Status AsyncCheckpointer::runAsync(Job job) {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [this] { return !m_running && !m_pending; });
    if (!m_unreported.isOk()) return std::exchange(m_unreported, Status());
    m_cancel = std::make_shared<CancelToken>();
    m_done.store(0);
    m_total.store(0);
    m_pending = std::move(job);
    m_running = true;
    lock.unlock();
    m_cv.notify_all();
    return okStatus();
}

Status AsyncCheckpointer::saveAsync(const NodePtr& tree, const fs::path& target,
                                    std::string format, WriteOptions options, SnapshotMode mode) {
    // Wait for (and report) the previous save before taking the snapshot, as Orbax does.
    CKPT_RETURN_IF_ERROR(waitUntilFinished());
    NodePtr snapshot = tree;
    if (mode == SnapshotMode::kCopy) {
        CKPT_ASSIGN_OR_RETURN(snapshot, snapshotTree(tree, m_snapshotThreads, nullptr, m_pool));
    }
    return runAsync([snapshot, target, format = std::move(format), options = std::move(options)](
                        const CancelToken& token, const ProgressFn& report) {
        WriteOptions o = options;
        o.cancel = &token;
        o.progress = report;
        return writeCheckpoint(snapshot, target, format, o);
    });
}

Status AsyncCheckpointer::waitUntilFinished() {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [this] { return !m_running && !m_pending; });
    return std::exchange(m_unreported, Status());
}

void AsyncCheckpointer::cancel() {
    std::lock_guard lock(m_mutex);
    if (m_running && m_cancel) m_cancel->cancel();
}

bool AsyncCheckpointer::isSaving() const {
    std::lock_guard lock(m_mutex);
    return m_running;
}

SaveProgress AsyncCheckpointer::progress() const {
    SaveProgress p;
    p.done = m_done.load(std::memory_order_relaxed);
    p.total = m_total.load(std::memory_order_relaxed);
    p.running = isSaving();
    return p;
}

}  // namespace ckpt
