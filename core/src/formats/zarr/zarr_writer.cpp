#include "formats/zarr/zarr_writer.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <vector>

#include "formats/zarr/zarr_codecs.h"
#include "formats/zarr/zarr_metadata.h"

namespace ckpt::zarr {

namespace {

using ojson = nlohmann::ordered_json;

ojson shapeJson(const Shape& shape) {
    ojson a = ojson::array();
    for (std::int64_t d : shape) a.push_back(d);
    return a;
}

// TensorStore writes the `bytes` codec without configuration for one-byte types.
ojson bytesCodecJson(DType dtype) {
    ojson j = ojson::object();
    if (itemSize(dtype) > 1) j["configuration"] = ojson{{"endian", "little"}};
    j["name"] = "bytes";
    return j;
}

// The fill value TensorStore writes for an unspecified zarr v3 fill value: zero in JSON form.
ojson zeroFillJson(DType dtype) {
    switch (dtypeInfo(dtype).kind) {
        case DTypeKind::kBool:
            return false;
        case DTypeKind::kSignedInt:
        case DTypeKind::kUnsignedInt:
            return 0;
        case DTypeKind::kFloat:
            return 0.0;
        case DTypeKind::kComplex:
            return ojson::array({0.0, 0.0});
    }
    return 0;
}

Status unsupportedForTensorStore(DType dtype) {
    return unsupportedError("zarr writer: dtype " + std::string(dtypeName(dtype)) +
                            " cannot be stored by TensorStore 0.1.86 (so Orbax cannot restore it)");
}

}  // namespace

Result<std::string> zarrV2DTypeString(DType dtype) {
    switch (dtype) {
        case DType::kBool:
            return std::string("|b1");
        case DType::kInt8:
            return std::string("|i1");
        case DType::kUInt8:
            return std::string("|u1");
        case DType::kInt16:
            return std::string("<i2");
        case DType::kInt32:
            return std::string("<i4");
        case DType::kInt64:
            return std::string("<i8");
        case DType::kUInt16:
            return std::string("<u2");
        case DType::kUInt32:
            return std::string("<u4");
        case DType::kUInt64:
            return std::string("<u8");
        case DType::kFloat16:
            return std::string("<f2");
        case DType::kFloat32:
            return std::string("<f4");
        case DType::kFloat64:
            return std::string("<f8");
        case DType::kComplex64:
            return std::string("<c8");
        case DType::kComplex128:
            return std::string("<c16");
        case DType::kFloat8E4M3:
        case DType::kUInt2:
        case DType::kUInt4:
            return unsupportedForTensorStore(dtype);
        case DType::kInt2:
        case DType::kInt4:
        case DType::kFloat4E2M1FN:
        case DType::kBFloat16:
        case DType::kFloat8E4M3FN:
        case DType::kFloat8E5M2:
        case DType::kFloat8E4M3FNUZ:
        case DType::kFloat8E5M2FNUZ:
        case DType::kFloat8E4M3B11FNUZ:
        case DType::kFloat8E3M4:
        case DType::kFloat8E8M0FNU:
            return std::string(dtypeName(dtype));  // extension names, no byte-order prefix
    }
    return internalError("zarr writer: unknown dtype");
}

Result<std::string> zarrV3DataTypeName(DType dtype) {
    if (dtype == DType::kFloat8E4M3 || dtype == DType::kUInt2 || dtype == DType::kUInt4) {
        return unsupportedForTensorStore(dtype);
    }
    return std::string(dtypeName(dtype));
}

Result<ZarrWriteOptions> resolveWriteOptions(DType dtype, const Shape& shape,
                                             const ZarrWriteOptions& options) {
    ZarrWriteOptions r = options;
    if (r.zarrVersion != 2 && r.zarrVersion != 3) {
        return invalidArgumentError("zarr writer: zarr version " + std::to_string(r.zarrVersion) +
                                    " (expected 2 or 3)");
    }
    if (shape.size() > kMaxRank) {
        return invalidArgumentError("zarr writer: rank " + std::to_string(shape.size()) +
                                    " exceeds TensorStore's limit of " + std::to_string(kMaxRank));
    }
    CKPT_RETURN_IF_ERROR(checkedByteSize(dtype, shape));
    if (r.chunkShape.empty()) {
        r.chunkShape = shape;
        for (std::int64_t& d : r.chunkShape) d = std::max<std::int64_t>(d, 1);
    } else if (r.chunkShape.size() != shape.size()) {
        return invalidArgumentError("zarr writer: chunk shape " + formatShape(r.chunkShape) +
                                    " has another rank than the array shape " + formatShape(shape));
    }
    for (std::int64_t d : r.chunkShape) {
        if (d < 1) {
            return invalidArgumentError("zarr writer: chunk shape " + formatShape(r.chunkShape) +
                                        " has a dimension < 1");
        }
    }
    auto chunkBytes = checkedByteSize(dtype, r.chunkShape);
    if (!chunkBytes.isOk() || *chunkBytes > kMaxChunkBytes) {
        return invalidArgumentError("zarr writer: chunk shape " + formatShape(r.chunkShape) +
                                    " exceeds " + std::to_string(kMaxChunkBytes >> 30) +
                                    " GiB per chunk");
    }
    if (!r.zstdLevel) r.zstdLevel = r.zarrVersion == 2 ? kOrbaxZstdLevelV2 : kOrbaxZstdLevelV3;
    if (*r.zstdLevel < ZSTD_minCLevel() || *r.zstdLevel > ZSTD_maxCLevel()) {
        return invalidArgumentError("zarr writer: zstd level " + std::to_string(*r.zstdLevel) +
                                    " is out of range");
    }
    return r;
}

Result<std::string> zarrMetadataJson(DType dtype, const Shape& shape,
                                     const ZarrWriteOptions& resolved) {
    const int level = resolved.zstdLevel.value_or(resolved.zarrVersion == 2 ? kOrbaxZstdLevelV2
                                                                            : kOrbaxZstdLevelV3);
    ojson j = ojson::object();
    if (resolved.zarrVersion == 2) {
        CKPT_ASSIGN_OR_RETURN(std::string dt, zarrV2DTypeString(dtype));
        j["chunks"] = shapeJson(resolved.chunkShape);
        j["compressor"] = resolved.compress ? ojson{{"id", "zstd"}, {"level", level}} : ojson();
        j["dimension_separator"] = ".";
        j["dtype"] = dt;
        j["fill_value"] = nullptr;
        j["filters"] = nullptr;
        j["order"] = "C";
        j["shape"] = shapeJson(shape);
        j["zarr_format"] = 2;
        return j.dump();
    }
    CKPT_ASSIGN_OR_RETURN(std::string dt, zarrV3DataTypeName(dtype));
    ojson codecs = ojson::array();
    codecs.push_back(bytesCodecJson(dtype));
    if (resolved.compress) {
        codecs.push_back(
            ojson{{"configuration", {{"checksum", false}, {"level", level}}}, {"name", "zstd"}});
    }
    if (resolved.v3Sharding) {
        ojson config = ojson::object();
        config["chunk_shape"] = shapeJson(resolved.chunkShape);
        config["codecs"] = std::move(codecs);
        config["index_codecs"] =
            ojson::array({ojson{{"configuration", {{"endian", "little"}}}, {"name", "bytes"}},
                          ojson{{"name", "crc32c"}}});
        codecs = ojson::array(
            {ojson{{"configuration", std::move(config)}, {"name", "sharding_indexed"}}});
    }
    j["chunk_grid"] = ojson{{"configuration", {{"chunk_shape", shapeJson(resolved.chunkShape)}}},
                            {"name", "regular"}};
    j["chunk_key_encoding"] = ojson{{"name", "default"}};
    j["codecs"] = std::move(codecs);
    j["data_type"] = dt;
    j["fill_value"] = zeroFillJson(dtype);
    j["node_type"] = "array";
    j["shape"] = shapeJson(shape);
    j["zarr_format"] = 3;
    return j.dump();
}

char* EncodeBuffer::reserve(std::size_t n) {
    if (n > m_capacity) {
        auto grown = std::unique_ptr<char[]>(new char[n]);  // default-initialised: not zeroed
        if (m_size > 0) std::memcpy(grown.get(), m_data.get(), m_size);
        m_data = std::move(grown);
        m_capacity = n;
    }
    return m_data.get();
}

void EncodeBuffer::append(const char* p, std::size_t n) {
    if (m_size + n > m_capacity) reserve(std::max(m_size + n, m_capacity + m_capacity / 2));
    if (n > 0) std::memcpy(m_data.get() + m_size, p, n);
    m_size += n;
}

Status encodeZarrChunkInto(std::span<const std::byte> chunkBytes, const ZarrWriteOptions& resolved,
                           EncodeBuffer& out) {
    try {
        if (resolved.compress) {
            const int level = resolved.zstdLevel.value_or(
                resolved.zarrVersion == 2 ? kOrbaxZstdLevelV2 : kOrbaxZstdLevelV3);
            const std::size_t bound = ZSTD_compressBound(chunkBytes.size());
            char* dst = out.reserve(bound);
            // A context kept in the scratch saves setting up zstd's tables for every chunk.
            ZSTD_CCtx* context = nullptr;
            if (resolved.scratch) {
                if (!resolved.scratch->zstd) {
                    resolved.scratch->zstd.reset(ZSTD_createCCtx(), [](ZSTD_CCtx* c) { ZSTD_freeCCtx(c); });
                }
                context = resolved.scratch->zstd.get();
            }
            const std::size_t n =
                context ? ZSTD_compressCCtx(context, dst, bound, chunkBytes.data(),
                                            chunkBytes.size(), level)
                        : ZSTD_compress(dst, bound, chunkBytes.data(), chunkBytes.size(), level);
            if (ZSTD_isError(n)) {
                return internalError(std::string("zstd compression failed: ") +
                                     ZSTD_getErrorName(n));
            }
            out.setSize(n);
        } else {
            out.setSize(0);
            out.append(reinterpret_cast<const char*>(chunkBytes.data()), chunkBytes.size());
        }
        if (resolved.zarrVersion == 3 && resolved.v3Sharding) {
            // One inner chunk at offset 0: index = u64le offset, u64le nbytes, u32le CRC-32C.
            std::byte index[20];
            const std::uint64_t fields[2] = {0, out.size()};
            for (std::size_t f = 0; f < 2; ++f) {
                for (std::size_t i = 0; i < 8; ++i) {
                    index[f * 8 + i] = static_cast<std::byte>((fields[f] >> (8 * i)) & 0xff);
                }
            }
            const std::uint32_t crc = crc32c(std::span<const std::byte>(index, 16));
            for (std::size_t i = 0; i < 4; ++i) {
                index[16 + i] = static_cast<std::byte>((crc >> (8 * i)) & 0xff);
            }
            out.append(reinterpret_cast<const char*>(index), sizeof index);
        }
        return okStatus();
    } catch (const std::bad_alloc&) {
        return internalError("out of memory encoding a zarr chunk of " +
                             std::to_string(chunkBytes.size()) + " bytes");
    }
}

Result<std::string> encodeZarrChunk(std::span<const std::byte> chunkBytes,
                                    const ZarrWriteOptions& resolved) {
    EncodeBuffer out;
    CKPT_RETURN_IF_ERROR(encodeZarrChunkInto(chunkBytes, resolved, out));
    return std::string(out.view());
}

Status writeZarrArray(kv::KvWriter& out, std::string_view prefixIn, const ArraySource& source,
                      const ZarrWriteOptions& options, const CancelToken* cancel) {
    std::string prefix(prefixIn);
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    const std::string where = "writing zarr array '" + (prefix.empty() ? "/" : prefix) + "'";
    const auto chunkContext = [&where](const std::string& key) {
        std::string text = where;
        text.append(", chunk '").append(key).append("'");
        return text;
    };
    const DType dtype = source.dtype();
    const Shape& shape = source.shape();
    const std::size_t item = itemSize(dtype);

    auto resolvedOr = resolveWriteOptions(dtype, shape, options);
    if (!resolvedOr.isOk()) return resolvedOr.status().withContext(where);
    const ZarrWriteOptions& opt = *resolvedOr;
    // The metadata text, made once per distinct (dtype, shape, options) a thread sees in a row.
    std::string ownMetadata;
    const std::string* metadata = &ownMetadata;
    {
        ZarrScratch::MetadataKey mkey{dtype,
                                      shape,
                                      opt.chunkShape,
                                      opt.zarrVersion,
                                      opt.zstdLevel.value_or(0),
                                      opt.compress,
                                      opt.v3Sharding};
        if (opt.scratch && opt.scratch->metadataFor == mkey) {
            metadata = &opt.scratch->metadata;
        } else {
            auto metadataOr = zarrMetadataJson(dtype, shape, opt);
            if (!metadataOr.isOk()) return metadataOr.status().withContext(where);
            if (opt.scratch) {
                opt.scratch->metadata = std::move(*metadataOr);
                opt.scratch->metadataFor = std::move(mkey);
                metadata = &opt.scratch->metadata;
            } else {
                ownMetadata = std::move(*metadataOr);
            }
        }
    }

    const std::size_t rank = shape.size();
    std::vector<std::int64_t> gridCount(rank);
    bool anyChunk = true;
    for (std::size_t d = 0; d < rank; ++d) {
        gridCount[d] = shape[d] / opt.chunkShape[d] + (shape[d] % opt.chunkShape[d] != 0 ? 1 : 0);
        if (gridCount[d] == 0) anyChunk = false;
    }
    ChunkKeyEncoding keys;
    keys.v3Default = opt.zarrVersion == 3;
    keys.separator = opt.zarrVersion == 3 ? '/' : '.';

    if (anyChunk) {
        // Byte strides of the chunk buffer (C order).
        std::vector<std::size_t> chunkStride(rank);
        std::size_t stride = item;
        for (std::size_t d = rank; d-- > 0;) {
            chunkStride[d] = stride;
            stride *= static_cast<std::size_t>(opt.chunkShape[d]);
        }
        const std::size_t chunkBytes = stride;  // checked <= kMaxChunkBytes by resolve
        std::optional<ByteBuffer> buffer;  // for ragged edge chunks only, allocated on first use
        std::optional<std::span<const std::byte>> resident = source.residentBytes();
        if (resident && resident->size() != source.byteSize()) resident.reset();

        std::vector<std::int64_t> index(rank, 0);
        std::uint64_t bytesDone = 0;
        Selection sel;
        sel.start.resize(rank);
        sel.count.resize(rank);
        for (;;) {
            if (isCancelled(cancel)) return cancelledError(where + ": cancelled");
            const auto advance = [&] {
                // Next grid index in C order; false after the last.
                std::size_t d = rank;
                while (d-- > 0) {
                    if (++index[d] < gridCount[d]) return true;
                    index[d] = 0;
                }
                return false;
            };
            if (opt.chunkFilter && !opt.chunkFilter(index)) {
                if (!advance()) break;
                continue;
            }
            const std::string key = chunkKey(keys, index);
            bool full = true;
            for (std::size_t d = 0; d < rank; ++d) {
                sel.start[d] = index[d] * opt.chunkShape[d];
                sel.count[d] = std::min(opt.chunkShape[d], shape[d] - sel.start[d]);
                if (sel.count[d] != opt.chunkShape[d]) full = false;
            }
            std::span<const std::byte> chunk;
            Array data;
            // A full chunk whose rows are whole (every dimension after the first spans the array)
            // is one contiguous run of a resident source: encoded in place, not copied out first.
            const bool inPlace = full && resident && [&] {
                for (std::size_t d = 1; d < rank; ++d) {
                    if (sel.count[d] != shape[d]) return false;
                }
                return true;
            }();
            if (inPlace) {
                const std::size_t offset =
                    rank == 0 ? 0
                              : static_cast<std::size_t>(sel.start[0]) * (chunkBytes /
                                    static_cast<std::size_t>(opt.chunkShape[0]));
                chunk = resident->subspan(offset, chunkBytes);
            } else if (full && opt.scratch) {
                // Straight into the reused buffer (the selection is inside the array).
                opt.scratch->chunk.resize(chunkBytes);
                const std::span<std::byte> into(opt.scratch->chunk.data(), chunkBytes);
                const Status readStatus = source.readInto(sel, into, cancel);
                if (!readStatus.isOk()) return readStatus.withContext(chunkContext(key));
                chunk = into;
            } else {
                auto dataOr = source.read(sel, cancel);
                if (!dataOr.isOk()) {
                    return dataOr.status().withContext(chunkContext(key));
                }
                data = std::move(*dataOr);
            }
            if (inPlace) {
                // chunk already set
            } else if (full && !opt.scratch) {
                chunk = data.bytes();
            } else if (!full) {
                // Ragged edge chunk: zero padding (the fill value) around the selection's rows.
                if (!buffer) {
                    auto allocated = ByteBuffer::allocate(chunkBytes);
                    if (!allocated.isOk()) return allocated.status().withContext(chunkContext(key));
                    buffer.emplace(std::move(*allocated));
                }
                std::memset(buffer->data(), 0, chunkBytes);
                const std::size_t row = static_cast<std::size_t>(sel.count[rank - 1]) * item;
                std::vector<std::int64_t> at(rank, 0);
                std::size_t src = 0;
                for (;;) {
                    std::size_t dst = 0;
                    for (std::size_t d = 0; d + 1 < rank; ++d) {
                        dst += static_cast<std::size_t>(at[d]) * chunkStride[d];
                    }
                    if (row > 0) std::memcpy(buffer->data() + dst, data.bytes().data() + src, row);
                    src += row;
                    std::size_t d = rank - 1;
                    while (d-- > 0) {
                        if (++at[d] < sel.count[d]) break;
                        at[d] = 0;
                    }
                    if (d == static_cast<std::size_t>(-1)) break;
                }
                chunk = buffer->bytes();
            }
            const bool skip = !opt.writeChunksEqualToFill &&
                              std::all_of(chunk.begin(), chunk.end(),
                                          [](std::byte b) { return b == std::byte{0}; });
            if (!skip) {
                EncodeBuffer ownEncoded;
                EncodeBuffer& encoded = opt.scratch ? opt.scratch->encoded : ownEncoded;
                const Status enc = encodeZarrChunkInto(chunk, opt, encoded);
                if (!enc.isOk()) return enc.withContext(chunkContext(key));
                const Status put = out.put(prefix + key, encoded.view());
                if (!put.isOk()) return put.withContext(chunkContext(key));
            }
            if (opt.progress) {
                bytesDone += sel.elementCount() * item;
                opt.progress(bytesDone, source.byteSize());
            }
            if (!advance()) break;
        }
    }
    if (!opt.writeMetadata) return okStatus();
    const std::string metadataKey = prefix + (opt.zarrVersion == 2 ? ".zarray" : "zarr.json");
    return out.put(metadataKey, *metadata).withContext(where);
}

}  // namespace ckpt::zarr
