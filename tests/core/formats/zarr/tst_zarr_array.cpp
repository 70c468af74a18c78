// ZarrArraySource over arrays this test writes itself into a temp directory: hand-written
// metadata JSON (in the forms TensorStore writes) and chunks encoded here (zstd via libzstd,
// shards and gzip/zlib "stored" blocks assembled byte by byte). Checks values across ragged edge
// chunks, that only intersecting chunks are read, fill values, and that corrupt chunks give a
// Corruption status naming the array and the chunk key.
#include <zstd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_codecs.h"
#include "kvstore/directory_store.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::zarr;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::byte>;

Bytes toBytes(std::string_view s) {
    Bytes b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}

void put(const fs::path& root, const std::string& key, std::span<const std::byte> bytes) {
    const fs::path file = root / key;
    fs::create_directories(file.parent_path());
    std::ofstream f(file, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void put(const fs::path& root, const std::string& key, std::string_view text) {
    put(root, key, toBytes(text));
}

Bytes zstdCompress(std::span<const std::byte> raw, int level = 1) {
    Bytes out(ZSTD_compressBound(raw.size()));
    const std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
    if (ZSTD_isError(n)) qFatal("ZSTD_compress failed");
    out.resize(n);
    return out;
}

void appendLE(Bytes& out, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
void appendBE(Bytes& out, std::uint64_t v, std::size_t n) {
    for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

std::uint32_t crc32Ieee(std::span<const std::byte> data) {
    std::uint32_t c = 0xFFFFFFFFU;
    for (std::byte b : data) {
        c ^= std::to_integer<std::uint32_t>(b);
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? (c >> 1) ^ 0xEDB88320U : c >> 1;
    }
    return c ^ 0xFFFFFFFFU;
}

// A deflate stream made of one final "stored" block (no compression), wrapped as gzip or zlib.
Bytes deflateStored(std::span<const std::byte> raw, bool gzip) {
    Bytes out;
    if (gzip) {
        for (int b : {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff})
            out.push_back(static_cast<std::byte>(b));
    } else {
        out.push_back(std::byte{0x78});
        out.push_back(std::byte{0x01});
    }
    out.push_back(std::byte{0x01});
    appendLE(out, raw.size(), 2);
    appendLE(out, ~raw.size() & 0xffff, 2);
    out.insert(out.end(), raw.begin(), raw.end());
    if (gzip) {
        appendLE(out, crc32Ieee(raw), 4);
        appendLE(out, raw.size(), 4);
    } else {
        std::uint32_t a = 1, b = 0;
        for (std::byte x : raw) {
            a = (a + std::to_integer<std::uint32_t>(x)) % 65521;
            b = (b + a) % 65521;
        }
        appendBE(out, (b << 16) | a, 4);
    }
    return out;
}

Bytes withCrc32c(Bytes b) {
    appendLE(b, crc32c(b), 4);
    return b;
}

// The reference array: int32 value 1000 * linear index + 7, C order.
struct Reference {
    Shape shape;
    std::vector<std::int32_t> values;
    explicit Reference(Shape s) : shape(std::move(s)) {
        values.resize(static_cast<std::size_t>(*checkedElementCount(shape)));
        for (std::size_t i = 0; i < values.size(); ++i) {
            values[i] = static_cast<std::int32_t>(1000 * i + 7);
        }
    }
    std::vector<std::int32_t> slice(const Selection& sel) const {
        std::vector<std::int32_t> out(sel.elementCount());
        copyHyperslab(reinterpret_cast<const std::byte*>(values.data()), shape, 4, sel,
                      reinterpret_cast<std::byte*>(out.data()));
        return out;
    }
    // The C-order elements of the chunk of `chunk` shape at grid position `index`; positions
    // past the array edge hold `pad`. `order` (encoded dim e = decoded dim order[e]) permutes it.
    Bytes chunkBytes(const Shape& chunk, std::span<const std::int64_t> index,
                     bool bigEndian = false, const std::vector<std::size_t>& order = {},
                     std::int32_t pad = 0x5A5A5A5A) const {
        const std::size_t rank = shape.size();
        Shape enc = chunk;
        for (std::size_t e = 0; e < order.size(); ++e) enc[e] = chunk[order[e]];
        const auto n = static_cast<std::size_t>(*checkedElementCount(chunk));
        Bytes out;
        std::vector<std::int64_t> ex(rank, 0);  // encoded coordinates, C order
        for (std::size_t k = 0; k < n; ++k) {
            std::int64_t linear = 0;
            bool inside = true;
            for (std::size_t d = 0; d < rank; ++d) {
                // decoded dim d sits at encoded position e with order[e] == d
                std::int64_t local = ex[d];
                if (!order.empty()) {
                    for (std::size_t e = 0; e < rank; ++e) {
                        if (order[e] == d) local = ex[e];
                    }
                }
                const std::int64_t g = index[d] * chunk[d] + local;
                inside = inside && g < shape[d];
                linear = linear * shape[d] + g;
            }
            const std::int32_t v = inside ? values[static_cast<std::size_t>(linear)] : pad;
            if (bigEndian) {
                appendBE(out, static_cast<std::uint32_t>(v), 4);
            } else {
                appendLE(out, static_cast<std::uint32_t>(v), 4);
            }
            for (std::size_t d = rank; d-- > 0;) {
                if (++ex[d] < enc[d]) break;
                ex[d] = 0;
            }
        }
        return out;
    }
};

// Records every key read, so tests can check which chunks a read touched.
class CountingStore final : public kv::KvStore {
public:
    explicit CountingStore(kv::KvStorePtr base) : m_base(std::move(base)) {}
    Result<std::optional<std::string>> read(std::string_view key,
                                            const kv::ByteRange& range) const override {
        {
            std::lock_guard lock(m_mutex);
            m_keys.emplace_back(key);
        }
        return m_base->read(key, range);
    }
    Result<std::vector<std::string>> list(std::string_view prefix) const override {
        return m_base->list(prefix);
    }
    std::string describe() const override { return "counting " + m_base->describe(); }
    std::multiset<std::string> takeKeys() const {
        std::lock_guard lock(m_mutex);
        std::multiset<std::string> out(m_keys.begin(), m_keys.end());
        m_keys.clear();
        return out;
    }

private:
    kv::KvStorePtr m_base;
    mutable std::mutex m_mutex;
    mutable std::vector<std::string> m_keys;
};

std::vector<std::int32_t> readInts(const ArraySource& a, const Selection& sel, Status* status) {
    auto arr = a.read(sel);
    if (!arr.isOk()) {
        *status = arr.status();
        return {};
    }
    std::vector<std::int32_t> out(arr->elementCount());
    std::memcpy(out.data(), arr->bytes().data(), arr->byteSize());
    *status = okStatus();
    return out;
}

// Every (start, count) pair along each dimension of a rank <= 2 shape, or `limit` random ones.
std::vector<Selection> selections(const Shape& shape) {
    std::vector<Selection> out;
    if (shape.empty()) return {Selection::all(shape)};
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> perDim;
    for (std::int64_t n : shape) {
        std::vector<std::pair<std::int64_t, std::int64_t>> v;
        for (std::int64_t s = 0; s < n; ++s) {
            for (std::int64_t c = 1; s + c <= n; ++c) v.emplace_back(s, c);
        }
        perDim.push_back(std::move(v));
    }
    std::vector<std::size_t> i(shape.size(), 0);
    while (true) {
        Selection sel;
        for (std::size_t d = 0; d < shape.size(); ++d) {
            sel.start.push_back(perDim[d][i[d]].first);
            sel.count.push_back(perDim[d][i[d]].second);
        }
        out.push_back(sel);
        std::size_t d = shape.size();
        while (true) {
            if (d == 0) return out;
            --d;
            if (++i[d] < perDim[d].size()) break;
            i[d] = 0;
        }
    }
}

std::string joinShape(const Shape& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
}

std::string v2Zarray(const Shape& shape, const Shape& chunks, const std::string& dtype,
                     const std::string& compressor, const std::string& fill = "null",
                     const std::string& order = "C", const std::string& sep = ".") {
    return R"({"chunks":)" + joinShape(chunks) + R"(,"compressor":)" + compressor +
           R"(,"dimension_separator":")" + sep + R"(","dtype":")" + dtype + R"(","fill_value":)" +
           fill + R"(,"filters":null,"order":")" + order + R"(","shape":)" + joinShape(shape) +
           R"(,"zarr_format":2})";
}

std::string v3ZarrJson(const Shape& shape, const Shape& chunks, const std::string& codecs,
                       const std::string& fill = "0", const std::string& dtype = "int32") {
    return R"({"chunk_grid":{"configuration":{"chunk_shape":)" + joinShape(chunks) +
           R"(},"name":"regular"},"chunk_key_encoding":{"name":"default"},"codecs":)" + codecs +
           R"(,"data_type":")" + dtype + R"(","fill_value":)" + fill +
           R"(,"node_type":"array","shape":)" + joinShape(shape) + R"(,"zarr_format":3})";
}

const char* kZstd1 = R"({"id":"zstd","level":1})";
const char* kLE = R"({"configuration":{"endian":"little"},"name":"bytes"})";
const char* kZstdV3 = R"({"configuration":{"checksum":false,"level":3},"name":"zstd"})";

std::string shardingCodec(const Shape& sub, const std::string& inner, bool indexAtEnd = true,
                          bool crc = true) {
    std::string s = R"({"configuration":{"chunk_shape":)" + joinShape(sub) + R"(,"codecs":)" +
                    inner + R"(,"index_codecs":[)" + kLE + (crc ? R"(,{"name":"crc32c"})" : "") +
                    "]";
    if (!indexAtEnd) s += R"(,"index_location":"start")";
    return s + R"(},"name":"sharding_indexed"})";
}

// A shard: encoded inner chunks (nullopt = missing) in C order plus the u64le index.
Bytes makeShard(const std::vector<std::optional<Bytes>>& inner, bool indexAtEnd = true,
                bool crc = true) {
    const std::uint64_t indexBytes = inner.size() * 16 + (crc ? 4 : 0);
    Bytes data, index;
    std::uint64_t offset = indexAtEnd ? 0 : indexBytes;
    for (const auto& c : inner) {
        if (!c) {
            appendLE(index, ~std::uint64_t{0}, 8);
            appendLE(index, ~std::uint64_t{0}, 8);
            continue;
        }
        appendLE(index, offset, 8);
        appendLE(index, c->size(), 8);
        data.insert(data.end(), c->begin(), c->end());
        offset += c->size();
    }
    if (crc) index = withCrc32c(index);
    Bytes out;
    if (indexAtEnd) {
        out = data;
        out.insert(out.end(), index.begin(), index.end());
    } else {
        out = index;
        out.insert(out.end(), data.begin(), data.end());
    }
    return out;
}

// Writes a v2 int32 array "arr" of `shape` / `chunks`, zstd-compressed, into `dir`.
void writeV2(const fs::path& dir, const Reference& ref, const Shape& chunks,
             const std::string& fill = "null") {
    put(dir, "arr/.zarray", v2Zarray(ref.shape, chunks, "<i4", kZstd1, fill));
    std::vector<std::int64_t> idx(ref.shape.size(), 0);
    Shape grid(ref.shape.size());
    for (std::size_t d = 0; d < grid.size(); ++d)
        grid[d] = (ref.shape[d] + chunks[d] - 1) / chunks[d];
    while (true) {
        put(dir, "arr/" + chunkKey({false, '.'}, idx), zstdCompress(ref.chunkBytes(chunks, idx)));
        std::size_t d = idx.size();
        while (true) {
            if (d == 0) return;
            --d;
            if (++idx[d] < grid[d]) break;
            idx[d] = 0;
        }
    }
}

Result<ArraySourcePtr> openDir(const fs::path& dir, const std::string& prefix = "arr") {
    CKPT_ASSIGN_OR_RETURN(kv::KvStorePtr store, kv::openDirectoryStore(dir));
    return openZarrArray(store, prefix, prefix);
}

bool contains(const Status& s, const std::string& what) {
    return s.message().find(what) != std::string::npos;
}

}  // namespace

class TestZarrArray : public QObject {
    Q_OBJECT
private slots:
    void readsV2SlicesAcrossRaggedChunks() {
        test::TempDir tmp;
        const Reference ref(Shape{5, 7});
        writeV2(tmp.path(), ref, Shape{2, 3});
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        QCOMPARE((*a)->dtype(), DType::kInt32);
        QCOMPARE((*a)->shape(), (Shape{5, 7}));
        QCOMPARE((*a)->chunkShape(), (Shape{2, 3}));
        for (const Selection& sel : selections(ref.shape)) {
            Status st;
            const auto got = readInts(**a, sel, &st);
            CKPT_VERIFY_OK(st);
            QVERIFY2(got == ref.slice(sel), (joinShape(sel.start) + joinShape(sel.count)).c_str());
        }
    }

    void readsThreeDimensionalAndSlashSeparatedKeys() {
        test::TempDir tmp;
        const Reference ref(Shape{4, 5, 3});
        const Shape chunks{3, 2, 2};
        put(tmp.path(), "arr/.zarray",
            v2Zarray(ref.shape, chunks, "<i4", "null", "null", "C", "/"));
        for (std::int64_t i = 0; i < 2; ++i) {
            for (std::int64_t j = 0; j < 3; ++j) {
                for (std::int64_t k = 0; k < 2; ++k) {
                    const std::int64_t idx[] = {i, j, k};
                    put(tmp.path(), "arr/" + chunkKey({false, '/'}, idx),
                        ref.chunkBytes(chunks, idx));
                }
            }
        }
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        std::mt19937 rng(7);
        for (int t = 0; t < 300; ++t) {
            Selection sel;
            for (std::int64_t n : ref.shape) {
                const std::int64_t s = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
                sel.start.push_back(s);
                sel.count.push_back(std::uniform_int_distribution<std::int64_t>(1, n - s)(rng));
            }
            Status st;
            QVERIFY(readInts(**a, sel, &st) == ref.slice(sel));
            CKPT_VERIFY_OK(st);
        }
    }

    void readsOnlyIntersectingChunks() {
        test::TempDir tmp;
        const Reference ref(Shape{5, 7});
        writeV2(tmp.path(), ref, Shape{2, 3});
        auto base = kv::openDirectoryStore(tmp.path());
        CKPT_VERIFY_OK(base);
        auto counting = std::make_shared<CountingStore>(*base);
        auto a = openZarrArray(counting, "arr/", "arr");
        CKPT_VERIFY_OK(a);
        counting->takeKeys();
        Status st;
        Selection one{{2, 4}, {1, 2}};
        QVERIFY(readInts(**a, one, &st) == ref.slice(one));
        CKPT_VERIFY_OK(st);
        QCOMPARE(counting->takeKeys(), std::multiset<std::string>{"arr/1.1"});
        Selection four{{1, 2}, {2, 2}};
        QVERIFY(readInts(**a, four, &st) == ref.slice(four));
        QCOMPARE(counting->takeKeys(),
                 (std::multiset<std::string>{"arr/0.0", "arr/0.1", "arr/1.0", "arr/1.1"}));
        Selection edge{{4, 6}, {1, 1}};  // the ragged corner chunk
        QVERIFY(readInts(**a, edge, &st) == ref.slice(edge));
        QCOMPARE(counting->takeKeys(), std::multiset<std::string>{"arr/2.2"});
        // forEachChunk walks the storage grid: each chunk read exactly once.
        std::int64_t seen = 0;
        CKPT_VERIFY_OK((*a)->forEachChunk([&](const Selection& s, const Array& block) {
            seen += static_cast<std::int64_t>(block.elementCount());
            return s.validate(ref.shape);
        }));
        QCOMPARE(seen, std::int64_t{35});
        QCOMPARE(counting->takeKeys().size(), std::size_t{9});
    }

    void missingChunksReadAsFillValue() {
        test::TempDir tmp;
        const Reference ref(Shape{5, 7});
        writeV2(tmp.path(), ref, Shape{2, 3}, "-3");
        fs::remove(tmp.path() / "arr/1.1");
        fs::remove(tmp.path() / "arr/2.2");
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        Status st;
        const auto all = readInts(**a, Selection::all(ref.shape), &st);
        CKPT_VERIFY_OK(st);
        auto expected = ref.values;
        for (std::int64_t i = 0; i < 5; ++i) {
            for (std::int64_t j = 0; j < 7; ++j) {
                const bool inMissing = (i / 2 == 1 && j / 3 == 1) || (i / 2 == 2 && j / 3 == 2);
                if (inMissing) expected[static_cast<std::size_t>(i * 7 + j)] = -3;
            }
        }
        QVERIFY(all == expected);

        // A float array with a NaN fill value: the exact NaN bits TensorStore uses.
        test::TempDir tmp2;
        put(tmp2.path(), "arr/.zarray", v2Zarray({3}, {2}, "<f4", "null", R"("NaN")"));
        const float first[] = {1.5f, 2.5f};
        put(tmp2.path(), "arr/0", std::span(reinterpret_cast<const std::byte*>(first), 8));
        auto f = openDir(tmp2.path());
        CKPT_VERIFY_OK(f);
        auto arr = (*f)->readAll();
        CKPT_VERIFY_OK(arr);
        std::uint32_t bits[3];
        std::memcpy(bits, arr->bytes().data(), 12);
        QCOMPARE(bits[0], std::uint32_t{0x3fc00000});
        QCOMPARE(bits[2], std::uint32_t{0x7fc00000});
    }

    void readsScalars() {
        test::TempDir tmp;
        const std::int32_t v = 42;
        const auto raw = std::span(reinterpret_cast<const std::byte*>(&v), 4);
        put(tmp.path(), "s2/.zarray", v2Zarray({}, {}, "<i4", kZstd1));
        put(tmp.path(), "s2/0", zstdCompress(raw));
        put(tmp.path(), "s3/zarr.json",
            v3ZarrJson({}, {},
                       std::string("[") +
                           shardingCodec({}, std::string("[") + kLE + "," + kZstdV3 + "]") + "]"));
        put(tmp.path(), "s3/c", makeShard({zstdCompress(raw)}));
        for (const char* name : {"s2", "s3"}) {
            auto a = openDir(tmp.path(), name);
            CKPT_VERIFY_OK(a);
            QVERIFY((*a)->shape().empty());
            Status st;
            QCOMPARE(readInts(**a, Selection::all({}), &st), std::vector<std::int32_t>{42});
            CKPT_VERIFY_OK(st);
        }
    }

    void readsV3ShardsWithManyInnerChunks() {
        const Reference ref(Shape{10, 9});
        const Shape outer{4, 6}, sub{2, 3};
        for (bool indexAtEnd : {true, false}) {
            test::TempDir tmp;
            put(tmp.path(), "arr/zarr.json",
                v3ZarrJson(ref.shape, outer,
                           "[" +
                               shardingCodec(sub, std::string("[") + kLE + "," + kZstdV3 + "]",
                                             indexAtEnd) +
                               "]",
                           "-1"));
            // Shard (s0, s1) holds inner chunks (2*s0 + i, 2*s1 + j); drop those with (i + j) odd
            // in shard (1, 0), and shard (2, 1) entirely.
            std::set<std::pair<std::int64_t, std::int64_t>> missingInner;
            for (std::int64_t s0 = 0; s0 < 3; ++s0) {
                for (std::int64_t s1 = 0; s1 < 2; ++s1) {
                    if (s0 == 2 && s1 == 1) continue;
                    std::vector<std::optional<Bytes>> inner;
                    for (std::int64_t i = 0; i < 2; ++i) {
                        for (std::int64_t j = 0; j < 2; ++j) {
                            const std::int64_t gi[] = {s0 * 2 + i, s1 * 2 + j};
                            if (s0 == 1 && s1 == 0 && (i + j) % 2 == 1) {
                                inner.emplace_back();
                                missingInner.insert({gi[0], gi[1]});
                            } else {
                                inner.emplace_back(zstdCompress(ref.chunkBytes(sub, gi)));
                            }
                        }
                    }
                    const std::int64_t si[] = {s0, s1};
                    put(tmp.path(), "arr/" + chunkKey({true, '/'}, si),
                        makeShard(inner, indexAtEnd));
                }
            }
            auto expected = ref.values;
            for (std::int64_t r = 0; r < 10; ++r) {
                for (std::int64_t c = 0; c < 9; ++c) {
                    if (missingInner.count({r / 2, c / 3}) || (r / 4 == 2 && c / 6 == 1)) {
                        expected[static_cast<std::size_t>(r * 9 + c)] = -1;
                    }
                }
            }
            const Reference exp = [&] {
                Reference e(ref.shape);
                e.values = expected;
                return e;
            }();
            auto base = kv::openDirectoryStore(tmp.path());
            CKPT_VERIFY_OK(base);
            auto counting = std::make_shared<CountingStore>(*base);
            auto a = openZarrArray(counting, "arr", "arr");
            CKPT_VERIFY_OK(a);
            QCOMPARE((*a)->chunkShape(), outer);
            for (const Selection& sel : selections(ref.shape)) {
                Status st;
                const auto got = readInts(**a, sel, &st);
                CKPT_VERIFY_OK(st);
                QVERIFY2(got == exp.slice(sel),
                         (joinShape(sel.start) + joinShape(sel.count)).c_str());
            }
            counting->takeKeys();
            Status st;
            Selection inOneShard{{5, 7}, {2, 2}};
            QVERIFY(readInts(**a, inOneShard, &st) == exp.slice(inOneShard));
            QCOMPARE(counting->takeKeys(), std::multiset<std::string>{"arr/c/1/1"});
        }
    }

    void readsTransposedBigEndianAndChecksummedChunks() {
        const Reference ref(Shape{5, 7});
        const Shape chunks{2, 3};
        {  // v3: transpose [1,0] + big-endian bytes + crc32c
            test::TempDir tmp;
            put(tmp.path(), "arr/zarr.json",
                v3ZarrJson(
                    ref.shape, chunks,
                    R"([{"name":"transpose","configuration":{"order":[1,0]}},)"
                    R"({"name":"bytes","configuration":{"endian":"big"}},{"name":"crc32c"}])"));
            for (std::int64_t i = 0; i < 3; ++i) {
                for (std::int64_t j = 0; j < 3; ++j) {
                    const std::int64_t idx[] = {i, j};
                    put(tmp.path(), "arr/" + chunkKey({true, '/'}, idx),
                        withCrc32c(ref.chunkBytes(chunks, idx, true, {1, 0})));
                }
            }
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            for (const Selection& sel : selections(ref.shape)) {
                Status st;
                QVERIFY(readInts(**a, sel, &st) == ref.slice(sel));
                CKPT_VERIFY_OK(st);
            }
            QCOMPARE((*a)->storage().codecs,
                     (std::vector<std::string>{"transpose(order=[1,0])", "bytes(endian=big)",
                                               "crc32c"}));
        }
        {  // v2: order F, big-endian
            test::TempDir tmp;
            put(tmp.path(), "arr/.zarray", v2Zarray(ref.shape, chunks, ">i4", kZstd1, "null", "F"));
            for (std::int64_t i = 0; i < 3; ++i) {
                for (std::int64_t j = 0; j < 3; ++j) {
                    const std::int64_t idx[] = {i, j};
                    put(tmp.path(), "arr/" + chunkKey({false, '.'}, idx),
                        zstdCompress(ref.chunkBytes(chunks, idx, true, {1, 0})));
                }
            }
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            for (const Selection& sel : selections(ref.shape)) {
                Status st;
                QVERIFY(readInts(**a, sel, &st) == ref.slice(sel));
                CKPT_VERIFY_OK(st);
            }
        }
    }

    void gzipAndZlibNeedZlib() {
        const Reference ref(Shape{4});
        for (bool gzip : {true, false}) {
            test::TempDir tmp;
            put(tmp.path(), "arr/.zarray",
                v2Zarray(ref.shape, {4}, "<i4",
                         gzip ? R"({"id":"gzip","level":1})" : R"({"id":"zlib","level":1})"));
            const std::int64_t idx[] = {0};
            put(tmp.path(), "arr/0", deflateStored(ref.chunkBytes({4}, idx), gzip));
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            Status st;
            const auto got = readInts(**a, Selection::all(ref.shape), &st);
            if (haveZlib()) {
                CKPT_VERIFY_OK(st);
                QVERIFY(got == ref.values);
            } else {
                QCOMPARE(st.code(), StatusCode::kUnsupported);
                QVERIFY2(contains(st, gzip ? "gzip" : "zlib"), st.toString().c_str());
                QVERIFY2(contains(st, "arr/0"), st.toString().c_str());
            }
        }
    }

    void bloscChunksAreUnsupported() {
        test::TempDir tmp;
        put(tmp.path(), "arr/.zarray",
            v2Zarray({4}, {4}, "<f4",
                     R"({"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":-1})"));
        put(tmp.path(), "arr/0", std::string_view("\x02\x01\x21\x04 sixteen bytes..."));
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);  // metadata is fine; dtype and shape can be shown
        QCOMPARE((*a)->storage().codecs,
                 std::vector<std::string>{"blosc(cname=lz4, clevel=5, shuffle=-1)"});
        auto r = (*a)->readAll();
        CKPT_VERIFY_ERROR(r, StatusCode::kUnsupported);
        QVERIFY2(contains(r.status(), "blosc") && contains(r.status(), "'arr/0'"),
                 r.status().toString().c_str());
    }

    void streamsRowSlabsOfLargeChunks() {
        // One 9 MiB chunk (above the streaming threshold): row slabs decode as a stream.
        const Reference ref(Shape{1100, 2048});
        const Shape chunks = ref.shape;
        test::TempDir tmp;
        writeV2(tmp.path(), ref, chunks);
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        Status st;
        for (std::int64_t row : {0, 1, 517, 1099}) {
            const Selection sel{{row, 0}, {1, 2048}};
            QCOMPARE(readInts(**a, sel, &st), ref.slice(sel));
        }
        const Selection slab{{300, 0}, {400, 2048}};
        QCOMPARE(readInts(**a, slab, &st), ref.slice(slab));
        QCOMPARE(readInts(**a, Selection::all(ref.shape), &st), ref.values);
        // Not a contiguous stretch: decoded whole, same values.
        const Selection block{{10, 5}, {3, 7}};
        QCOMPARE(readInts(**a, block, &st), ref.slice(block));

        // A damaged tail: reads of earlier rows cannot see it, a read reaching the end does.
        const std::int64_t idx00[] = {0, 0};
        const Bytes raw = ref.chunkBytes(chunks, idx00);
        Bytes tooLong = raw;
        tooLong.push_back(std::byte{1});
        for (const Bytes& bad :
             {zstdCompress(std::span(raw).first(raw.size() - 4)), zstdCompress(tooLong)}) {
            put(tmp.path(), "arr/0.0", bad);
            auto b = openDir(tmp.path());
            CKPT_VERIFY_OK(b);
            const Selection first{{0, 0}, {1, 2048}};
            QCOMPARE(readInts(**b, first, &st), ref.slice(first));
            CKPT_VERIFY_OK(st);
            auto r = (*b)->read(Selection{{1099, 0}, {1, 2048}});
            QVERIFY(!r.isOk());
            QCOMPARE(r.status().code(), StatusCode::kCorruption);
            QVERIFY2(contains(r.status(), "'arr/0.0'"), r.status().toString().c_str());
            // The whole chunk, decoded straight into the output: the same checks.
            CKPT_VERIFY_ERROR((*b)->readAll(), StatusCode::kCorruption);
        }
    }

    void corruptChunksAreCorruptionNamingTheKey() {
        const Reference ref(Shape{5, 7});
        const Shape chunks{2, 3};
        const std::int64_t idx00[] = {0, 0};
        const Bytes raw = ref.chunkBytes(chunks, idx00);
        struct Case {
            const char* what;
            Bytes bytes;
        };
        Bytes tooLong = raw;
        tooLong.push_back(std::byte{1});
        const Case v2Cases[] = {
            {"garbage", toBytes("this is not a zstd frame")},
            {"zstd of too few bytes", zstdCompress(std::span(raw).first(raw.size() - 4))},
            {"zstd of too many bytes", zstdCompress(tooLong)},
            {"empty", {}},
        };
        for (const Case& c : v2Cases) {
            test::TempDir tmp;
            writeV2(tmp.path(), ref, chunks);
            put(tmp.path(), "arr/0.0", c.bytes);
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            auto r = (*a)->read(Selection{{0, 0}, {1, 1}});
            QVERIFY2(!r.isOk(), c.what);
            QVERIFY2(r.status().code() == StatusCode::kCorruption, r.status().toString().c_str());
            QVERIFY2(contains(r.status(), "zarr array 'arr'") && contains(r.status(), "'arr/0.0'"),
                     r.status().toString().c_str());
            // The whole chunk, whose place in the output is contiguous, is decoded in place:
            // checked alike.
            auto whole = (*a)->read(Selection{{0, 0}, {2, 3}});
            QVERIFY2(!whole.isOk(), c.what);
            QVERIFY2(whole.status().code() == StatusCode::kCorruption,
                     whole.status().toString().c_str());
            // Other chunks still read.
            CKPT_VERIFY_OK((*a)->read(Selection{{2, 3}, {3, 4}}));
        }
        {  // uncompressed chunk of the wrong size
            test::TempDir tmp;
            put(tmp.path(), "arr/.zarray", v2Zarray(ref.shape, chunks, "<i4", "null"));
            put(tmp.path(), "arr/0.0", std::span(raw).first(raw.size() - 1));
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            CKPT_VERIFY_ERROR((*a)->read(Selection{{0, 0}, {1, 1}}), StatusCode::kCorruption);
        }
        // Shards: bad index checksum, entry outside the shard, shard shorter than its index,
        // inner chunk of the wrong size, crc32c data codec mismatch.
        const Shape sub{2, 3};
        const auto innerCodecs = std::string("[") + kLE + "," + kZstdV3 + "]";
        Bytes good = makeShard({zstdCompress(raw)});
        Bytes badCrc = good;
        badCrc.back() ^= std::byte{0x01};
        Bytes outside;
        {
            Bytes index;
            appendLE(index, 5, 8);
            appendLE(index, 1000, 8);
            outside = toBytes("xxxxx");
            const Bytes idx = withCrc32c(index);
            outside.insert(outside.end(), idx.begin(), idx.end());
        }
        Bytes wrongInner = makeShard({zstdCompress(std::span(raw).first(8))});
        const Case shardCases[] = {
            {"index crc mismatch", badCrc},
            {"entry outside shard", outside},
            {"shorter than index", Bytes(good.begin(), good.begin() + 10)},
            {"inner chunk of wrong size", wrongInner},
        };
        for (const Case& c : shardCases) {
            test::TempDir tmp;
            put(tmp.path(), "arr/zarr.json",
                v3ZarrJson(ref.shape, chunks, "[" + shardingCodec(sub, innerCodecs) + "]"));
            put(tmp.path(), "arr/c/0/0", c.bytes);
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            auto r = (*a)->read(Selection{{0, 0}, {2, 2}});
            QVERIFY2(!r.isOk(), c.what);
            QVERIFY2(r.status().code() == StatusCode::kCorruption, r.status().toString().c_str());
            QVERIFY2(contains(r.status(), "'arr/c/0/0'"), r.status().toString().c_str());
        }
        {
            test::TempDir tmp;
            put(tmp.path(), "arr/zarr.json",
                v3ZarrJson(ref.shape, chunks, std::string("[") + kLE + R"(,{"name":"crc32c"}])"));
            Bytes chunk = withCrc32c(raw);
            chunk[3] ^= std::byte{0x40};
            put(tmp.path(), "arr/c/0/0", chunk);
            auto a = openDir(tmp.path());
            CKPT_VERIFY_OK(a);
            auto r = (*a)->read(Selection{{0, 0}, {2, 2}});
            CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
            QVERIFY2(contains(r.status(), "crc32c"), r.status().toString().c_str());
        }
    }

    void decodesOnlyTheInnerChunksASelectionNeeds() {
        // Inner chunk [1,1] of the only shard is garbage: selections that avoid it still read.
        const Reference ref(Shape{4, 6});
        const Shape sub{2, 3};
        std::vector<std::optional<Bytes>> inner;
        for (std::int64_t i = 0; i < 2; ++i) {
            for (std::int64_t j = 0; j < 2; ++j) {
                const std::int64_t gi[] = {i, j};
                inner.emplace_back(i == 1 && j == 1 ? toBytes("not zstd")
                                                    : zstdCompress(ref.chunkBytes(sub, gi)));
            }
        }
        test::TempDir tmp;
        put(tmp.path(), "arr/zarr.json",
            v3ZarrJson(
                ref.shape, {4, 6},
                "[" + shardingCodec(sub, std::string("[") + kLE + "," + kZstdV3 + "]") + "]"));
        put(tmp.path(), "arr/c/0/0", makeShard(inner));
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        for (const Selection& sel :
             {Selection{{0, 0}, {4, 3}}, Selection{{0, 0}, {2, 6}}, Selection{{1, 2}, {1, 4}}}) {
            Status st;
            QVERIFY(readInts(**a, sel, &st) == ref.slice(sel));
            CKPT_VERIFY_OK(st);
        }
        auto r = (*a)->read(Selection{{1, 2}, {2, 2}});
        CKPT_VERIFY_ERROR(r, StatusCode::kCorruption);
        QVERIFY2(contains(r.status(), "inner chunk [1,1]") && contains(r.status(), "'arr/c/0/0'"),
                 r.status().toString().c_str());
    }

    void survivesTruncationAndByteFlips() {
        const Reference ref(Shape{4, 6});
        const Shape outer{4, 6}, sub{2, 3};
        std::vector<std::optional<Bytes>> inner;
        for (std::int64_t i = 0; i < 2; ++i) {
            for (std::int64_t j = 0; j < 2; ++j) {
                const std::int64_t gi[] = {i, j};
                inner.emplace_back(zstdCompress(ref.chunkBytes(sub, gi)));
            }
        }
        inner[2].reset();
        const Bytes shard = makeShard(inner);
        const std::int64_t idx00[] = {0, 0};
        const Bytes v2chunk = zstdCompress(ref.chunkBytes(outer, idx00));
        struct Variant {
            const char* metaKey;
            std::string meta;
            const char* chunkKey;
            const Bytes& good;
        };
        const Variant variants[] = {
            {"arr/zarr.json",
             v3ZarrJson(
                 ref.shape, outer,
                 "[" + shardingCodec(sub, std::string("[") + kLE + "," + kZstdV3 + "]") + "]"),
             "arr/c/0/0", shard},
            {"arr/.zarray", v2Zarray(ref.shape, outer, "<i4", kZstd1), "arr/0.0", v2chunk},
        };
        for (const Variant& v : variants) {
            test::TempDir tmp;
            put(tmp.path(), v.metaKey, v.meta);
            auto store = kv::openDirectoryStore(tmp.path());
            CKPT_VERIFY_OK(store);
            put(tmp.path(), v.chunkKey, v.good);
            auto a = openZarrArray(*store, "arr", "arr");
            CKPT_VERIFY_OK(a);
            CKPT_VERIFY_OK((*a)->readAll());
            for (std::size_t n = 0; n < v.good.size(); ++n) {
                put(tmp.path(), v.chunkKey, std::span(v.good).first(n));
                auto r = (*a)->readAll();
                QVERIFY2(!r.isOk(),
                         (std::string(v.chunkKey) + " prefix " + std::to_string(n)).c_str());
                QVERIFY2(r.status().code() == StatusCode::kCorruption,
                         r.status().toString().c_str());
            }
            for (std::size_t pos = 0; pos < v.good.size(); ++pos) {
                Bytes flipped = v.good;
                flipped[pos] ^= std::byte{0xFF};
                put(tmp.path(), v.chunkKey, flipped);
                auto r = (*a)->readAll();
                QVERIFY2(r.isOk() || r.status().code() == StatusCode::kCorruption,
                         r.status().toString().c_str());
            }
        }
    }

    void openReportsMissingAndCorruptMetadata() {
        test::TempDir tmp;
        auto none = openDir(tmp.path(), "nothing");
        CKPT_VERIFY_ERROR(none, StatusCode::kNotFound);
        put(tmp.path(), "bad/.zarray",
            std::string_view(R"({"shape":[1099511627776,1099511627776],)"
                             R"("chunks":[1,1],"dtype":"<f4",)"
                             R"("compressor":null,"zarr_format":2})"));
        auto bad = openDir(tmp.path(), "bad");
        CKPT_VERIFY_ERROR(bad, StatusCode::kCorruption);
        QVERIFY2(
            contains(bad.status(), "zarr array 'bad'") && contains(bad.status(), "bad/.zarray"),
            bad.status().toString().c_str());
        put(tmp.path(), "zero/.zarray", v2Zarray({4}, {0}, "<f4", "null"));
        CKPT_VERIFY_ERROR(openDir(tmp.path(), "zero"), StatusCode::kCorruption);
        put(tmp.path(), "grp/zarr.json",
            std::string_view(R"({"zarr_format":3,"node_type":"group"})"));
        CKPT_VERIFY_ERROR(openDir(tmp.path(), "grp"), StatusCode::kInvalidArgument);
    }

    void describesStorage() {
        test::TempDir tmp;
        const Reference ref(Shape{8});
        put(tmp.path(), "p/a/zarr.json",
            v3ZarrJson(
                ref.shape, {8},
                "[" + shardingCodec({8}, std::string("[") + kLE + "," + kZstdV3 + "]") + "]"));
        auto v3a = openDir(tmp.path(), "p/a");
        CKPT_VERIFY_OK(v3a);
        const StorageInfo info = (*v3a)->storage();
        QCOMPARE(info.format, std::string("zarr v3"));
        QCOMPARE(info.chunkShape, Shape{8});
        QCOMPARE(info.codecs,
                 (std::vector<std::string>{"sharding_indexed(chunk_shape=[8])", "zstd(level=3)"}));
        QVERIFY2(info.location.find("p/a/") != std::string::npos, info.location.c_str());
        writeV2(tmp.path(), ref, {3});
        auto v2a = openDir(tmp.path());
        CKPT_VERIFY_OK(v2a);
        QCOMPARE((*v2a)->storage().format, std::string("zarr v2"));
        QCOMPARE((*v2a)->storage().codecs, std::vector<std::string>{"zstd(level=1)"});
    }

    void concurrentReadsAgree() {
        test::TempDir tmp;
        const Reference ref(Shape{9, 11});
        writeV2(tmp.path(), ref, Shape{2, 3});
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] {
                std::mt19937 rng(static_cast<unsigned>(t));
                for (int k = 0; k < 200; ++k) {
                    Selection sel;
                    for (std::int64_t n : ref.shape) {
                        const auto s = std::uniform_int_distribution<std::int64_t>(0, n - 1)(rng);
                        sel.start.push_back(s);
                        sel.count.push_back(
                            std::uniform_int_distribution<std::int64_t>(1, n - s)(rng));
                    }
                    Status st;
                    if (readInts(**a, sel, &st) != ref.slice(sel) || !st.isOk()) ++failures;
                }
            });
        }
        for (auto& th : threads) th.join();
        QCOMPARE(failures.load(), 0);
    }

    void honoursCancellation() {
        test::TempDir tmp;
        const Reference ref(Shape{5, 7});
        writeV2(tmp.path(), ref, Shape{2, 3});
        auto a = openDir(tmp.path());
        CKPT_VERIFY_OK(a);
        CancelToken token;
        token.cancel();
        CKPT_VERIFY_ERROR((*a)->readAll(&token), StatusCode::kCancelled);
    }
};

QTEST_GUILESS_MAIN(TestZarrArray)
#include "tst_zarr_array.moc"
