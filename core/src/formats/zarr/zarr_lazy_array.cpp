#include "formats/zarr/zarr_lazy_array.h"

#include <atomic>
#include <mutex>

#include "ckpt/core/keypath.h"

namespace ckpt::zarr {

namespace {

class LazyZarrArraySource final : public ArraySource {
public:
    LazyZarrArraySource(kv::KvStorePtr store, std::string prefix, std::string displayName,
                        std::shared_ptr<MetadataCache> cache,
                        std::shared_ptr<const std::string> errorContext)
        : m_store(std::move(store)),
          m_prefix(std::move(prefix)),
          m_name(std::move(displayName)),
          m_cache(std::move(cache)),
          m_context(std::move(errorContext)) {}

    bool metadataLoaded() const override { return m_loaded.load(std::memory_order_acquire); }
    Status metadataStatus() const override {
        load();
        return m_status;
    }

    DType dtype() const override {
        const ArraySource* real = load();
        return real ? real->dtype() : DType::kUInt8;
    }
    const Shape& shape() const override {
        const ArraySource* real = load();
        return real ? real->shape() : m_emptyShape;
    }
    Shape chunkShape() const override {
        const ArraySource* real = load();
        return real ? real->chunkShape() : m_emptyShape;
    }
    StorageInfo storage() const override {
        if (const ArraySource* real = load()) return real->storage();
        StorageInfo info;
        info.format = "unreadable";
        info.file = m_store->describe();
        info.location = m_status.toString();
        return info;
    }
    Status readInto(const Selection& selection, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        const ArraySource* real = load();
        if (!real) return m_status;
        return real->readInto(selection, out, cancel);
    }

private:
    // The real source, or null when it could not be opened (m_status says why).
    const ArraySource* load() const {
        std::call_once(m_once, [this] {
            auto opened = openZarrArray(m_store, m_prefix, m_name, m_cache.get());
            if (opened.isOk()) {
                m_real = std::move(opened).value();
            } else {
                std::string where = m_context ? *m_context + ": " : std::string();
                auto path = parseKeyPath(m_name);
                where +=
                    "at key path " + (path.isOk() ? describeKeyPath(*path) : "'" + m_name + "'");
                m_status = opened.status().withContext(where);
            }
            // The cache only speeds up opening; let it go once nothing here needs it.
            m_cache.reset();
            m_loaded.store(true, std::memory_order_release);
        });
        return m_real.get();
    }

    kv::KvStorePtr m_store;
    std::string m_prefix;
    std::string m_name;
    mutable std::shared_ptr<MetadataCache> m_cache;
    std::shared_ptr<const std::string> m_context;
    const Shape m_emptyShape{0};
    mutable std::once_flag m_once;
    mutable std::atomic<bool> m_loaded{false};
    mutable ArraySourcePtr m_real;  // written once, inside m_once
    mutable Status m_status;        // likewise
};

}  // namespace

ArraySourcePtr makeLazyZarrArray(kv::KvStorePtr store, std::string prefix, std::string displayName,
                                 std::shared_ptr<MetadataCache> cache,
                                 std::shared_ptr<const std::string> errorContext) {
    return std::make_shared<LazyZarrArraySource>(std::move(store), std::move(prefix),
                                                 std::move(displayName), std::move(cache),
                                                 std::move(errorContext));
}

}  // namespace ckpt::zarr
