#include "formats/flax_msgpack/flax_codec.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

#include <msgpack.hpp>

#include "formats/flax_msgpack/msgpack_value.h"
#include "text/utf8.h"

namespace ckpt::flax {

namespace {

// flax.serialization._MsgpackExtType, plus Orbax's tuple extension (orbax msgpack_utils).
enum ExtCode : std::int8_t { kExtNdarray = 1, kExtNativeComplex = 2, kExtNpScalar = 3, kExtTuple = 4 };

constexpr std::uint64_t kSlabBytes = 16ULL << 20;

// ---------------------------------------------------------------------------------------------
// Array sources over the decoded bytes.

struct Piece {
    const std::byte* data;
    std::uint64_t elements;
};

// Reads smaller than this do not bother releasing the pages they read.
constexpr std::uint64_t kReleaseBytes = 1ULL << 20;

class FlaxArraySource final : public ArraySource {
public:
    FlaxArraySource(std::shared_ptr<const void> owner, ReleaseFn release, std::string file,
                    DType dtype, Shape shape, std::vector<Piece> pieces, std::size_t firstOffset)
        : m_owner(std::move(owner)),
          m_release(std::move(release)),
          m_file(std::move(file)),
          m_dtype(dtype),
          m_shape(std::move(shape)),
          m_pieces(std::move(pieces)),
          m_firstOffset(firstOffset) {}

    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }

    Shape chunkShape() const override { return rowSlabChunkShape(m_dtype, m_shape, kSlabBytes); }

    StorageInfo storage() const override {
        StorageInfo info;
        info.format = "flax msgpack";
        info.file = m_file;
        info.location = "byte offset " + std::to_string(m_firstOffset);
        if (m_pieces.size() > 1) {
            info.location += ", flax-chunked in " + std::to_string(m_pieces.size()) + " pieces";
        }
        info.storedBytes = byteSize();
        return info;
    }

    Status readInto(const Selection& sel, std::span<std::byte> out,
                    const CancelToken* /*cancel*/) const override {
        const std::size_t item = itemSize(m_dtype);
        std::byte* dst = out.data();
        if (m_pieces.size() == 1) {
            copyHyperslab(m_pieces[0].data, m_shape, item, sel, dst);
            if (m_release && out.size() >= kReleaseBytes) {
                // The stretch of the file between the selection's first and last elements.
                std::uint64_t first = 0;
                std::uint64_t last = 0;
                for (std::size_t d = 0; d < m_shape.size(); ++d) {
                    first = first * static_cast<std::uint64_t>(m_shape[d]) +
                            static_cast<std::uint64_t>(sel.start[d]);
                    last = last * static_cast<std::uint64_t>(m_shape[d]) +
                           static_cast<std::uint64_t>(sel.start[d] + sel.count[d] - 1);
                }
                m_release({m_pieces[0].data + first * item, (last - first + 1) * item});
            }
            return okStatus();
        }
        // Chunked: the flat C-order element range is split across pieces.
        forEachContiguousRun(m_shape, item, sel, [&](std::size_t offset, std::size_t bytes) {
            std::uint64_t pos = offset / item;
            std::uint64_t left = bytes / item;
            std::size_t p = 0;
            std::uint64_t pieceStart = 0;
            while (p < m_pieces.size() && pieceStart + m_pieces[p].elements <= pos) {
                pieceStart += m_pieces[p].elements;
                ++p;
            }
            while (left > 0 && p < m_pieces.size()) {
                const std::uint64_t inPiece = pos - pieceStart;
                const std::uint64_t n = std::min(left, m_pieces[p].elements - inPiece);
                std::memcpy(dst, m_pieces[p].data + inPiece * item, n * item);
                if (m_release && n * item >= kReleaseBytes) {
                    m_release({m_pieces[p].data + inPiece * item, n * item});
                }
                dst += n * item;
                pos += n;
                left -= n;
                pieceStart += m_pieces[p].elements;
                ++p;
            }
        });
        return okStatus();
    }

private:
    std::shared_ptr<const void> m_owner;
    ReleaseFn m_release;
    std::string m_file;
    DType m_dtype;
    Shape m_shape;
    std::vector<Piece> m_pieces;
    std::size_t m_firstOffset;
};

// ---------------------------------------------------------------------------------------------
// Decoding.

class Decoder {
public:
    Decoder(std::shared_ptr<const void> owner, ReleaseFn release, std::span<const std::byte> bytes,
            std::string_view source)
        : m_owner(std::move(owner)), m_release(std::move(release)), m_bytes(bytes), m_source(source) {}

    // `viaDicts`: reached from the root through maps only. flax (_unchunk_array_leaves_in_place)
    // joins chunked arrays only there; below a msgpack array the record stays a dict.
    Result<NodePtr> decode(const MpValue& v, KeyPath& path, bool viaDicts = true) {
        switch (v.type) {
            case MpType::kNil: return Node::makeNone();
            case MpType::kBool: return Node::makeScalar(Scalar::fromBool(v.boolean));
            case MpType::kInt: return Node::makeScalar(Scalar::fromInt64(v.i));
            case MpType::kUInt:
                if (v.u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    return Node::makeScalar(Scalar::fromInt64(static_cast<std::int64_t>(v.u)));
                }
                return Node::makeScalar(Scalar::fromUInt64(v.u));
            case MpType::kFloat32:
            case MpType::kFloat64: return Node::makeScalar(Scalar::fromFloat64(v.f));
            case MpType::kStr: {
                const std::string_view text = viewOf(m_bytes, v);
                if (!text::isValidUtf8(text)) return error(path, "string is not valid UTF-8");
                return Node::makeString(std::string(text));
            }
            case MpType::kBin: return Node::makeBytes(std::string(viewOf(m_bytes, v)));
            case MpType::kExt: return decodeExt(v, path);
            case MpType::kArray: {
                std::vector<NodePtr> items;
                items.reserve(v.children.size());
                for (std::size_t i = 0; i < v.children.size(); ++i) {
                    path.push_back(std::to_string(i));
                    CKPT_ASSIGN_OR_RETURN(NodePtr item, decode(v.children[i], path, false));
                    path.pop_back();
                    items.push_back(std::move(item));
                }
                return Node::makeList(std::move(items));
            }
            case MpType::kMap: return decodeMap(v, path, viaDicts);
        }
        return error(path, "unknown msgpack value");
    }

private:
    Status error(const KeyPath& path, const std::string& message) const {
        return corruptionError(std::string(m_source) + ": at key path " + describeKeyPath(path) +
                               ": " + message);
    }

    // Map keys as flax reads them (msgpack.unpackb(raw=False, strict_map_key=False)): strings,
    // and integers, which we show in decimal.
    Result<std::string> keyText(const MpValue& key, const KeyPath& path) const {
        if (key.type == MpType::kStr) {
            std::string_view text = viewOf(m_bytes, key);
            if (!text::isValidUtf8(text)) return error(path, "map key is not valid UTF-8");
            return std::string(text);
        }
        if (key.type == MpType::kUInt) return std::to_string(key.u);
        if (key.type == MpType::kInt) return std::to_string(key.i);
        return error(path, std::string("map key of msgpack type ") +
                               std::string(mpTypeName(key.type)) +
                               " (flax state dicts have string keys)");
    }

    const MpValue* findKey(const MpValue& map, std::string_view key) const {
        for (std::size_t i = 0; i + 1 < map.children.size(); i += 2) {
            const MpValue& k = map.children[i];
            if (k.type == MpType::kStr && viewOf(m_bytes, k) == key) return &map.children[i + 1];
        }
        return nullptr;
    }

    Result<NodePtr> decodeMap(const MpValue& v, KeyPath& path, bool viaDicts) {
        if (viaDicts && findKey(v, kChunkedArrayKey)) return decodeChunked(v, path);
        std::vector<DictEntry> entries;
        entries.reserve(v.children.size() / 2);
        std::unordered_map<std::string, std::size_t> seen;
        for (std::size_t i = 0; i + 1 < v.children.size(); i += 2) {
            CKPT_ASSIGN_OR_RETURN(std::string key, keyText(v.children[i], path));
            path.push_back(key);
            CKPT_ASSIGN_OR_RETURN(NodePtr value, decode(v.children[i + 1], path, viaDicts));
            path.pop_back();
            // A repeated key keeps its first position and its last value, as a Python dict does.
            auto [it, inserted] = seen.emplace(key, entries.size());
            if (inserted) {
                entries.push_back({std::move(key), std::move(value)});
            } else {
                entries[it->second].value = std::move(value);
            }
        }
        return Node::makeDict(std::move(entries));
    }

    // Reads the {"0": x, "1": y, ...} maps flax uses for tuples inside chunked arrays.
    Result<std::vector<const MpValue*>> indexedMap(const MpValue* map, const KeyPath& path,
                                                   std::string_view what) const {
        if (!map || map->type != MpType::kMap) {
            return error(path, "chunked array without a '" + std::string(what) + "' map");
        }
        const std::size_t n = map->children.size() / 2;
        std::vector<const MpValue*> out(n, nullptr);
        for (std::size_t i = 0; i + 1 < map->children.size(); i += 2) {
            const MpValue& k = map->children[i];
            std::string_view text = k.type == MpType::kStr ? viewOf(m_bytes, k) : std::string_view();
            std::size_t index = 0;
            bool ok = !text.empty() && text.size() <= 18 && (text.size() == 1 || text[0] != '0');
            for (char c : text) {
                if (c < '0' || c > '9') ok = false;
            }
            if (ok) index = std::stoull(std::string(text));
            if (!ok || index >= n || out[index]) {
                return error(path, "chunked array '" + std::string(what) +
                                       "' map has keys other than \"0\"..\"" +
                                       std::to_string(n == 0 ? 0 : n - 1) + "\"");
            }
            out[index] = &map->children[i + 1];
        }
        return out;
    }

    struct NdarrayView {
        DType dtype;
        Shape shape;
        std::size_t dataOffset;
        std::size_t dataSize;
    };

    // Parses the payload of ext 1 / ext 3: msgpack [shape, dtype_name, data].
    Result<NdarrayView> parseNdarray(const MpValue& ext, const KeyPath& path) const {
        auto payload = m_bytes.subspan(ext.offset, ext.size);
        MpLimits limits;
        limits.maxDepth = 4;
        limits.maxValues = 1u << 16;
        auto parsed = parseMsgpack(payload, limits);
        if (!parsed.isOk()) {
            return error(path, "ndarray payload: " + parsed.status().message());
        }
        const MpValue& tuple = *parsed;
        if (tuple.type != MpType::kArray || tuple.children.size() != 3) {
            return error(path, "ndarray payload is not a [shape, dtype, data] triple");
        }
        const MpValue& shapeValue = tuple.children[0];
        const MpValue& dtypeValue = tuple.children[1];
        const MpValue& dataValue = tuple.children[2];
        if (shapeValue.type != MpType::kArray) {
            return error(path, "ndarray shape is a msgpack " +
                                   std::string(mpTypeName(shapeValue.type)) + ", not an array");
        }
        if (shapeValue.children.size() > 64) {
            return error(path, "ndarray has rank " + std::to_string(shapeValue.children.size()) +
                                   " (at most 64 supported)");
        }
        NdarrayView view{};
        for (const MpValue& d : shapeValue.children) {
            if (d.type != MpType::kUInt ||
                d.u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return error(path, "ndarray shape has an entry that is not a non-negative integer");
            }
            view.shape.push_back(static_cast<std::int64_t>(d.u));
        }
        if (dtypeValue.type != MpType::kStr && dtypeValue.type != MpType::kBin) {
            return error(path, "ndarray dtype name is not a string");
        }
        const std::string_view dtypeText = viewOf(payload, dtypeValue);
        const auto dtype = dtypeFromName(dtypeText);
        if (!dtype) {
            return unsupportedError(std::string(m_source) + ": at key path " +
                                    describeKeyPath(path) + ": unsupported dtype '" +
                                    std::string(dtypeText) + "'");
        }
        view.dtype = *dtype;
        if (dataValue.type != MpType::kBin && dataValue.type != MpType::kStr) {
            return error(path, "ndarray data is not a binary blob");
        }
        auto bytes = checkedByteSize(view.dtype, view.shape);
        if (!bytes.isOk()) return error(path, bytes.status().message());
        if (*bytes != dataValue.size) {
            return error(path, "ndarray of shape " + formatShape(view.shape) + " and dtype " +
                                   std::string(dtypeText) + " needs " + std::to_string(*bytes) +
                                   " bytes but holds " + std::to_string(dataValue.size));
        }
        view.dataOffset = ext.offset + dataValue.offset;
        view.dataSize = dataValue.size;
        return view;
    }

    Result<NodePtr> decodeExt(const MpValue& v, KeyPath& path) {
        switch (v.extType) {
            case kExtNdarray: {
                CKPT_ASSIGN_OR_RETURN(NdarrayView a, parseNdarray(v, path));
                std::vector<Piece> pieces{{m_bytes.data() + a.dataOffset,
                                           a.dataSize / itemSize(a.dtype)}};
                return Node::makeArray(std::make_shared<FlaxArraySource>(
                    m_owner, m_release, std::string(m_source), a.dtype, std::move(a.shape), std::move(pieces),
                    a.dataOffset));
            }
            case kExtNpScalar: {
                CKPT_ASSIGN_OR_RETURN(NdarrayView a, parseNdarray(v, path));
                if (!a.shape.empty()) {
                    return error(path, "numpy scalar with shape " + formatShape(a.shape) +
                                           " (expected ())");
                }
                auto scalar = Scalar::fromBits(a.dtype, m_bytes.subspan(a.dataOffset, a.dataSize),
                                               /*native=*/false);
                if (!scalar.isOk()) return error(path, scalar.status().message());
                return Node::makeScalar(*scalar);
            }
            case kExtNativeComplex: {
                auto parsed = parseMsgpack(m_bytes.subspan(v.offset, v.size), {4, 16});
                if (!parsed.isOk()) return error(path, "complex payload: " + parsed.status().message());
                const MpValue& pair = *parsed;
                auto number = [](const MpValue& x, double& out) {
                    switch (x.type) {
                        case MpType::kFloat32:
                        case MpType::kFloat64: out = x.f; return true;
                        case MpType::kInt: out = static_cast<double>(x.i); return true;
                        case MpType::kUInt: out = static_cast<double>(x.u); return true;
                        default: return false;
                    }
                };
                double re = 0;
                double im = 0;
                if (pair.type != MpType::kArray || pair.children.size() != 2 ||
                    !number(pair.children[0], re) || !number(pair.children[1], im)) {
                    return error(path, "complex payload is not a [real, imag] pair");
                }
                return Node::makeScalar(Scalar::fromComplex128({re, im}));
            }
            case kExtTuple: {
                MpLimits limits;
                auto parsed = parseMsgpack(m_bytes.subspan(v.offset, v.size), limits);
                if (!parsed.isOk()) return error(path, "tuple payload: " + parsed.status().message());
                if (parsed->type != MpType::kArray) {
                    return error(path, "tuple payload is not a msgpack array");
                }
                // Offsets inside the payload are relative to it; decode with a shifted view.
                Decoder inner(m_owner, m_release, m_bytes.subspan(v.offset, v.size), m_source);
                CKPT_ASSIGN_OR_RETURN(NodePtr list, inner.decode(*parsed, path));
                return Node::makeTuple(list->items());
            }
            default:
                return unsupportedError(std::string(m_source) + ": at key path " +
                                        describeKeyPath(path) + ": unknown msgpack ext type " +
                                        std::to_string(v.extType));
        }
    }

    Result<NodePtr> decodeChunked(const MpValue& v, KeyPath& path) {
        CKPT_ASSIGN_OR_RETURN(auto dims, indexedMap(findKey(v, "shape"), path, "shape"));
        CKPT_ASSIGN_OR_RETURN(auto chunks, indexedMap(findKey(v, "chunks"), path, "chunks"));
        Shape shape;
        for (const MpValue* d : dims) {
            if (d->type != MpType::kUInt ||
                d->u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                return error(path, "chunked array shape has an entry that is not a non-negative integer");
            }
            shape.push_back(static_cast<std::int64_t>(d->u));
        }
        if (chunks.empty()) return error(path, "chunked array has no chunks");
        std::vector<Piece> pieces;
        std::optional<DType> dtype;
        std::uint64_t total = 0;
        std::size_t firstOffset = 0;
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            const MpValue* c = chunks[i];
            path.push_back("chunks");
            path.push_back(std::to_string(i));
            if (c->type != MpType::kExt || c->extType != kExtNdarray) {
                return error(path, "chunk is not an ndarray");
            }
            auto parsed = parseNdarray(*c, path);
            path.pop_back();
            path.pop_back();
            if (!parsed.isOk()) return parsed.status();
            if (parsed->shape.size() != 1) return error(path, "chunk " + std::to_string(i) + " is not 1-D");
            if (dtype && *dtype != parsed->dtype) {
                return error(path, "chunks have different dtypes");
            }
            dtype = parsed->dtype;
            if (i == 0) firstOffset = parsed->dataOffset;
            pieces.push_back({m_bytes.data() + parsed->dataOffset,
                              static_cast<std::uint64_t>(parsed->shape[0])});
            total += static_cast<std::uint64_t>(parsed->shape[0]);
        }
        auto expected = checkedElementCount(shape);
        if (!expected.isOk()) return error(path, expected.status().message());
        if (*expected != total) {
            return error(path, "chunked array of shape " + formatShape(shape) + " needs " +
                                   std::to_string(*expected) + " elements but its chunks hold " +
                                   std::to_string(total));
        }
        return Node::makeArray(std::make_shared<FlaxArraySource>(
            m_owner, m_release, std::string(m_source), *dtype, std::move(shape), std::move(pieces), firstOffset));
    }

    std::shared_ptr<const void> m_owner;
    ReleaseFn m_release;
    std::span<const std::byte> m_bytes;
    std::string_view m_source;
};

// ---------------------------------------------------------------------------------------------
// Encoding.

// msgpack-cxx packs into this; the encoder flushes it to the sink after every value.
struct ScratchBuffer {
    std::string bytes;
    void write(const char* p, std::size_t n) { bytes.append(p, n); }
};

// Always a msgpack float 64 (0xcb + big-endian bits), as Python's msgpack writes a float.
// msgpack-cxx 4.1's pack_double() writes integral values (1.0, -0.0) as integers, which would
// restore in Python as int and lose the sign of zero.
void packFloat64(ScratchBuffer& buf, double v) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, 8);
    char out[9];
    out[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
    buf.write(out, sizeof out);
}

class Encoder {
public:
    Encoder(ByteSink& sink, const WriteOptions& options)
        : m_sink(sink), m_options(options), m_packer(m_scratch) {}

    Status encode(const Node& node, KeyPath& path, bool chunkable) {
        if (isCancelled(m_options.cancel)) return cancelledError("cancelled");
        switch (node.kind()) {
            case NodeKind::kDict: {
                m_packer.pack_map(checked32(node.childCount()));
                for (const auto& e : node.entries()) {
                    m_packer.pack_str(checked32(e.key.size()));
                    m_packer.pack_str_body(e.key.data(), checked32(e.key.size()));
                    path.push_back(e.key);
                    CKPT_RETURN_IF_ERROR(encode(*e.value, path, chunkable));
                    path.pop_back();
                }
                return flush();
            }
            case NodeKind::kList:
            case NodeKind::kTuple: {
                const bool asMap = m_options.sequenceEncoding != "array";
                if (asMap) {
                    m_packer.pack_map(checked32(node.childCount()));
                } else {
                    m_packer.pack_array(checked32(node.childCount()));
                }
                for (std::size_t i = 0; i < node.items().size(); ++i) {
                    const std::string key = std::to_string(i);
                    if (asMap) {
                        m_packer.pack_str(checked32(key.size()));
                        m_packer.pack_str_body(key.data(), checked32(key.size()));
                    }
                    path.push_back(key);
                    // flax only chunks arrays reachable through dicts alone.
                    CKPT_RETURN_IF_ERROR(encode(*node.items()[i], path, chunkable && asMap));
                    path.pop_back();
                }
                return flush();
            }
            case NodeKind::kNone:
                m_packer.pack_nil();
                return flush();
            case NodeKind::kString:
                m_packer.pack_str(checked32(node.text().size()));
                m_packer.pack_str_body(node.text().data(), checked32(node.text().size()));
                return flush();
            case NodeKind::kBytes:
                m_packer.pack_bin(checked32(node.text().size()));
                m_packer.pack_bin_body(node.text().data(), checked32(node.text().size()));
                return flush();
            case NodeKind::kScalar: {
                auto value = node.loadScalar();
                if (!value.isOk()) return value.status().withContext("at key path " + formatKeyPath(path));
                return encodeScalar(*value);
            }
            case NodeKind::kArray: return encodeArray(*node.array(), path, chunkable);
        }
        return internalError("unknown node kind");
    }

    Status finish() { return flush(); }

private:
    static std::uint32_t checked32(std::size_t n) { return static_cast<std::uint32_t>(n); }

    Status flush() {
        if (m_scratch.bytes.empty()) return okStatus();
        Status s = m_sink.write(std::as_bytes(std::span(m_scratch.bytes.data(), m_scratch.bytes.size())));
        m_scratch.bytes.clear();
        return s;
    }

    // Packs the ndarray payload header [shape, dtype, <bin header>] (everything but the data).
    static std::string ndarrayPrefix(DType dtype, const Shape& shape, std::uint64_t dataBytes) {
        ScratchBuffer buf;
        msgpack::packer<ScratchBuffer> p(buf);
        p.pack_array(3);
        p.pack_array(static_cast<std::uint32_t>(shape.size()));
        for (std::int64_t d : shape) p.pack_int64(d);
        const std::string_view name = dtypeName(dtype);
        p.pack_str(static_cast<std::uint32_t>(name.size()));
        p.pack_str_body(name.data(), static_cast<std::uint32_t>(name.size()));
        p.pack_bin(static_cast<std::uint32_t>(dataBytes));
        return std::move(buf.bytes);
    }

    Status writeExtNdarrayHeader(std::int8_t code, DType dtype, const Shape& shape,
                                 std::uint64_t dataBytes) {
        const std::string prefix = ndarrayPrefix(dtype, shape, dataBytes);
        m_packer.pack_ext(prefix.size() + dataBytes, code);
        m_scratch.bytes += prefix;
        return flush();
    }

    Status encodeScalar(const Scalar& s) {
        if (s.isNative()) {
            switch (s.dtype()) {
                case DType::kBool:
                    if (s.toInt64() != 0) {
                        m_packer.pack_true();
                    } else {
                        m_packer.pack_false();
                    }
                    return flush();
                case DType::kInt64: m_packer.pack_int64(s.toInt64()); return flush();
                case DType::kUInt64: m_packer.pack_uint64(s.toUInt64()); return flush();
                case DType::kFloat64: packFloat64(m_scratch, s.toDouble()); return flush();
                case DType::kComplex128: {
                    ScratchBuffer buf;
                    msgpack::packer<ScratchBuffer> p(buf);
                    p.pack_array(2);
                    packFloat64(buf, s.toComplex().real());
                    packFloat64(buf, s.toComplex().imag());
                    m_packer.pack_ext(buf.bytes.size(), kExtNativeComplex);
                    m_packer.pack_ext_body(buf.bytes.data(), checked32(buf.bytes.size()));
                    return flush();
                }
                default: break;  // other dtypes have no Python builtin: write a numpy scalar
            }
        }
        const auto bits = s.bits();
        CKPT_RETURN_IF_ERROR(writeExtNdarrayHeader(kExtNpScalar, s.dtype(), {}, bits.size()));
        return m_sink.write(bits);
    }

    Status streamData(const ArraySource& source, const KeyPath& path) {
        Status s = forEachCOrderBlock(
            source, kSlabBytes,
            [&](std::span<const std::byte> block) { return writeData(block); },
            m_options.cancel);
        return s.isOk() ? s : s.withContext("at key path " + describeKeyPath(path));
    }

    Status writeData(std::span<const std::byte> block) {
        CKPT_RETURN_IF_ERROR(m_sink.write(block));
        m_done += block.size();
        if (m_options.progress) m_options.progress(m_done, m_total);
        return okStatus();
    }

    Status encodeArray(const ArraySource& source, KeyPath& path, bool chunkable) {
        const std::uint64_t bytes = source.byteSize();
        const std::uint64_t item = itemSize(source.dtype());
        if (chunkable && bytes > m_options.maxChunkBytes) {
            return encodeChunked(source, path);
        }
        if (bytes > std::numeric_limits<std::uint32_t>::max() - 64) {
            return invalidArgumentError("at key path " + describeKeyPath(path) + ": array of " +
                                        std::to_string(bytes) +
                                        " bytes is too large for one msgpack value and flax "
                                        "only chunks arrays held in dicts");
        }
        (void)item;
        CKPT_RETURN_IF_ERROR(writeExtNdarrayHeader(kExtNdarray, source.dtype(), source.shape(), bytes));
        return streamData(source, path);
    }

    // flax.serialization._chunk: {"__msgpack_chunked_array__": True, "shape": {"0": d0, ...},
    // "chunks": {"0": 1-D piece, ...}} with pieces of int(MAX_CHUNK_SIZE / itemsize) elements.
    Status encodeChunked(const ArraySource& source, const KeyPath& path) {
        const std::uint64_t item = itemSize(source.dtype());
        const std::uint64_t total = source.elementCount();
        const std::uint64_t perPiece = std::max<std::uint64_t>(1, m_options.maxChunkBytes / item);
        const std::uint64_t pieces = (total + perPiece - 1) / perPiece;
        auto packKey = [&](std::string_view key) {
            m_packer.pack_str(checked32(key.size()));
            m_packer.pack_str_body(key.data(), checked32(key.size()));
        };
        m_packer.pack_map(3);
        packKey(kChunkedArrayKey);
        m_packer.pack_true();
        packKey("shape");
        m_packer.pack_map(checked32(source.shape().size()));
        for (std::size_t d = 0; d < source.shape().size(); ++d) {
            packKey(std::to_string(d));
            m_packer.pack_int64(source.shape()[d]);
        }
        packKey("chunks");
        m_packer.pack_map(checked32(pieces));
        CKPT_RETURN_IF_ERROR(flush());

        std::uint64_t piece = 0;
        std::uint64_t leftInPiece = 0;  // bytes still to write in the current piece
        auto startPiece = [&]() -> Status {
            const std::uint64_t elems = std::min(perPiece, total - piece * perPiece);
            packKey(std::to_string(piece));
            ++piece;
            leftInPiece = elems * item;
            return writeExtNdarrayHeader(kExtNdarray, source.dtype(),
                                         {static_cast<std::int64_t>(elems)}, elems * item);
        };
        Status s = forEachCOrderBlock(
            source, kSlabBytes,
            [&](std::span<const std::byte> block) -> Status {
                while (!block.empty()) {
                    if (leftInPiece == 0) CKPT_RETURN_IF_ERROR(startPiece());
                    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(leftInPiece, block.size()));
                    CKPT_RETURN_IF_ERROR(writeData(block.first(n)));
                    block = block.subspan(n);
                    leftInPiece -= n;
                }
                return okStatus();
            },
            m_options.cancel);
        return s.isOk() ? s : s.withContext("at key path " + describeKeyPath(path));
    }

public:
    void setTotal(std::uint64_t total) { m_total = total; }

private:
    ByteSink& m_sink;
    const WriteOptions& m_options;
    ScratchBuffer m_scratch;
    msgpack::packer<ScratchBuffer> m_packer;
    std::uint64_t m_done = 0;
    std::uint64_t m_total = 0;
};

}  // namespace

Result<NodePtr> decodeFlaxTree(std::shared_ptr<const void> owner, std::span<const std::byte> bytes,
                               std::string_view sourceName, ReleaseFn release) {
    auto parsed = parseMsgpack(bytes);
    if (!parsed.isOk()) return parsed.status().withContext(sourceName);
    Decoder decoder(std::move(owner), std::move(release), bytes, sourceName);
    KeyPath path;
    return decoder.decode(*parsed, path);
}

Status encodeFlaxTree(const NodePtr& root, ByteSink& sink, const WriteOptions& options) {
    if (options.sequenceEncoding != "state-dict" && options.sequenceEncoding != "array") {
        return invalidArgumentError("unknown flax sequence encoding '" + options.sequenceEncoding +
                                    "' (use 'state-dict' or 'array')");
    }
    if (options.maxChunkBytes == 0 || options.maxChunkBytes > (1ULL << 31) - 1024) {
        return invalidArgumentError("flax chunk size must be between 1 and 2^31-1024 bytes");
    }
    Encoder encoder(sink, options);
    encoder.setTotal(summarizeTree(root).byteCount);
    KeyPath path;
    CKPT_RETURN_IF_ERROR(encoder.encode(*root, path, true));
    return encoder.finish();
}

}  // namespace ckpt::flax
