#include "formats/zarr/zarr_array.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "formats/zarr/zarr_chunk.h"
#include "formats/zarr/zarr_metadata.h"

namespace ckpt::zarr {

namespace {

class ZarrArraySource final : public ArraySource {
public:
    ZarrArraySource(kv::KvStorePtr store, std::string prefix, std::string name, ZarrMetadata md)
        : m_store(std::move(store)),
          m_prefix(std::move(prefix)),
          m_name(std::move(name)),
          m_md(std::move(md)) {
        const DTypeInfo& info = dtypeInfo(m_md.dtype);
        m_format.fill = m_md.fillValue;
        m_format.swapUnit = info.kind == DTypeKind::kComplex ? info.itemSize / 2 : info.itemSize;
    }
    // m_format.fill points into m_md.
    ZarrArraySource(const ZarrArraySource&) = delete;
    ZarrArraySource& operator=(const ZarrArraySource&) = delete;

    DType dtype() const override { return m_md.dtype; }
    const Shape& shape() const override { return m_md.shape; }
    Shape chunkShape() const override { return m_md.chunkShape; }

    StorageInfo storage() const override {
        StorageInfo info;
        info.format = m_md.zarrFormat == 2 ? "zarr v2" : "zarr v3";
        info.file = m_store->describe();
        info.location = "key prefix '" + m_prefix + "' (" +
                        (m_md.zarrFormat == 2 ? std::string(".zarray") : std::string("zarr.json")) +
                        ", dtype " + m_md.storedDType + ")";
        info.codecs = describeCodecs(m_md);
        info.chunkShape = m_md.chunkShape;
        info.storedBytes = storedChunkBytes();
        return info;
    }

    // Bytes of this array's chunks (or shards) in the store, metadata files excluded; 0 when the
    // store cannot list them. Computed once: a listing of a large array is not free.
    std::uint64_t storedChunkBytes() const {
        std::call_once(m_storedOnce, [this] {
            auto sizes = m_store->listSizes(m_prefix);
            if (!sizes.isOk()) return;
            std::uint64_t total = 0;
            for (const auto& [key, size] : *sizes) {
                const std::string_view name = std::string_view(key).substr(m_prefix.size());
                // Chunk keys: "0.1" / "0/1" (v2 and v3's v2 encoding), "c/0/1" / "c.0.1" / "c".
                const bool chunkKey =
                    !name.empty() &&
                    ((name[0] >= '0' && name[0] <= '9') ||
                     (name[0] == 'c' && (name.size() == 1 || name[1] == '/' || name[1] == '.')));
                if (chunkKey) total += size;
            }
            m_storedBytes = total;
        });
        return m_storedBytes;
    }

    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        const std::size_t rank = m_md.shape.size();
        const std::size_t item = itemSize(m_md.dtype);
        if (sel.start.size() != rank || sel.count.size() != rank) {
            return invalidArgumentError("selection rank does not match zarr array '" + m_name +
                                        "'");
        }
        for (std::int64_t c : sel.count) {
            if (c == 0) return okStatus();
        }
        if (out.size() != sel.elementCount() * item) {
            return invalidArgumentError("output buffer for zarr array '" + m_name +
                                        "' has the wrong size");
        }
        // The chunk grid cells the selection touches: [first, last] per dimension.
        std::vector<std::int64_t> first(rank), last(rank);
        for (std::size_t d = 0; d < rank; ++d) {
            first[d] = sel.start[d] / m_md.chunkShape[d];
            last[d] = (sel.start[d] + sel.count[d] - 1) / m_md.chunkShape[d];
        }
        std::vector<std::int64_t> index = first;
        std::vector<std::int64_t> origin(rank);
        while (true) {
            if (isCancelled(cancel)) return cancelledError("cancelled");
            for (std::size_t d = 0; d < rank; ++d) origin[d] = index[d] * m_md.chunkShape[d];
            CKPT_RETURN_IF_ERROR(readChunk(index, origin, sel, out));
            std::size_t d = rank;
            while (true) {
                if (d == 0) return okStatus();
                --d;
                if (++index[d] <= last[d]) break;
                index[d] = first[d];
            }
        }
    }

private:
    Status readChunk(const std::vector<std::int64_t>& index,
                     const std::vector<std::int64_t>& origin, const Selection& sel,
                     std::span<std::byte> out) const {
        const std::string key = m_prefix + chunkKey(m_md.keyEncoding, index);
        const OutView view = makeOutView(out, sel.start, sel.count, origin, m_format.item());
        // A read continuing where the last one stopped in the same large chunk takes over its
        // decoder (and the chunk's bytes) instead of decoding the chunk from its start again.
        std::unique_ptr<Stream> stream;
        {
            std::lock_guard lock(m_streamMutex);
            if (m_stream && m_stream->key == key) stream = std::move(m_stream);
        }
        if (!stream) {
            // Without a copy where the store can (OCDBT and directory stores map the file).
            auto value = m_store->readShared(key);
            if (!value.isOk()) return value.status().withContext(context(key));
            if (!value->has_value()) {
                fillRegion(m_md.chunkShape, m_format.fill, view);
                return okStatus();
            }
            stream = std::make_unique<Stream>();
            stream->key = key;
            stream->value = std::move(**value);
        }
        Status s = decodeChunkInto(m_md.codecs, m_md.chunkShape, stream->value.bytes, m_format,
                                   view, stream->value.release, &stream->cursor);
        if (!s.isOk()) return s.withContext(context(key));
        if (stream->cursor) {
            std::lock_guard lock(m_streamMutex);
            m_stream = std::move(stream);
        }
        return okStatus();
    }

    std::string context(const std::string& key) const {
        return "zarr array '" + m_name + "', chunk '" + key + "' in " + m_store->describe();
    }

    kv::KvStorePtr m_store;
    std::string m_prefix;
    std::string m_name;
    ZarrMetadata m_md;
    // The decoder of a large chunk read part way (see decodeChunkInto), kept for the next read.
    struct Stream {
        std::string key;
        kv::SharedBytes value;
        std::unique_ptr<ZstdCursor> cursor;
    };
    mutable std::mutex m_streamMutex;
    mutable std::unique_ptr<Stream> m_stream;
    mutable std::once_flag m_storedOnce;
    mutable std::uint64_t m_storedBytes = 0;
    ElementFormat m_format;
};

}  // namespace

// Parsed metadata by "<zarr format>:<text>". Parse errors are not cached.
struct MetadataCache::Impl {
    std::mutex mutex;
    std::unordered_map<std::string, ZarrMetadata> parsed;
};

MetadataCache::MetadataCache() : m_impl(std::make_unique<Impl>()) {}
MetadataCache::~MetadataCache() = default;

namespace {

Result<ZarrMetadata> parseCached(MetadataCache::Impl* cache, char version,
                                 const std::string& text) {
    std::string key;
    if (cache) {
        key.reserve(text.size() + 2);
        key += version;
        key += ':';
        key += text;
        const std::lock_guard lock(cache->mutex);
        if (auto it = cache->parsed.find(key); it != cache->parsed.end()) return it->second;
    }
    Result<ZarrMetadata> md = version == '3' ? parseZarrV3Metadata(text) : parseZarrV2Metadata(text);
    if (cache && md.isOk()) {
        const std::lock_guard lock(cache->mutex);
        cache->parsed.emplace(std::move(key), *md);
    }
    return md;
}

}  // namespace

Result<ArraySourcePtr> openZarrArray(kv::KvStorePtr store, std::string prefix,
                                     std::string displayName, MetadataCache* cache) {
    MetadataCache::Impl* const memo = cache ? cache->impl() : nullptr;
    if (!store) return invalidArgumentError("openZarrArray: no store");
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    const auto where = [&](const std::string& key) {
        return "zarr array '" + displayName + "' ('" + key + "' in " + store->describe() + ")";
    };
    const std::string v3Key = prefix + "zarr.json";
    auto v3 = store->read(v3Key);
    if (!v3.isOk()) return v3.status().withContext(where(v3Key));
    Result<ZarrMetadata> md = Status(StatusCode::kInternal, "unset");
    std::string metaKey;
    if (v3->has_value()) {
        metaKey = v3Key;
        md = parseCached(memo, '3', **v3);
    } else {
        const std::string v2Key = prefix + ".zarray";
        auto v2 = store->read(v2Key);
        if (!v2.isOk()) return v2.status().withContext(where(v2Key));
        if (!v2->has_value()) {
            return notFoundError(where(prefix) + ": neither .zarray nor zarr.json exists");
        }
        metaKey = v2Key;
        md = parseCached(memo, '2', **v2);
    }
    if (!md.isOk()) return md.status().withContext(where(metaKey));
    return ArraySourcePtr(std::make_shared<ZarrArraySource>(
        std::move(store), std::move(prefix), std::move(displayName), std::move(md).value()));
}

}  // namespace ckpt::zarr
