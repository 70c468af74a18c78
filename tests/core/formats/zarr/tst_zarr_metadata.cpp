// Pure-function tests of zarr metadata parsing: dtypes, fill values, codec chains, chunk keys and
// hostile metadata. The JSON texts are the forms TensorStore 0.1.86 writes (checked by hand
// against its output; see core/src/formats/zarr/FORMAT.md).
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "formats/zarr/zarr_metadata.h"
#include "tests/test_util.h"

using namespace ckpt;
using namespace ckpt::zarr;

namespace {

// The first (up to) 8 fill value bytes as a little-endian integer.
std::uint64_t fillBits(const ZarrMetadata& md) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < md.fillValue.size() && i < 8; ++i) {
        v |= std::to_integer<std::uint64_t>(md.fillValue[i]) << (8 * i);
    }
    return v;
}

std::string v2(const std::string& dtype, const std::string& fill = "null",
               const std::string& extra = "") {
    return R"({"chunks":[2,2],"compressor":null,"dtype":")" + dtype + R"(","fill_value":)" + fill +
           R"(,"filters":null,"order":"C","shape":[5,3],"zarr_format":2)" + extra + "}";
}

std::string v3(
    const std::string& dataType, const std::string& fill,
    const std::string& codecs = R"([{"name":"bytes","configuration":{"endian":"little"}}])",
    const std::string& extra = "") {
    return R"({"chunk_grid":{"configuration":{"chunk_shape":[4,6]},"name":"regular"},)"
           R"("chunk_key_encoding":{"name":"default"},"codecs":)" +
           codecs + R"(,"data_type":")" + dataType + R"(","fill_value":)" + fill +
           R"(,"node_type":"array","shape":[10,9],"zarr_format":3)" + extra + "}";
}

std::uint64_t v2Fill(const std::string& dtype, const std::string& fill) {
    auto md = parseZarrV2Metadata(v2(dtype, fill));
    if (!md.isOk()) {
        qWarning("%s", md.status().toString().c_str());
        return 0xDEADBEEF;
    }
    return fillBits(*md);
}

std::uint64_t v3Fill(const std::string& dataType, const std::string& fill) {
    auto md = parseZarrV3Metadata(v3(dataType, fill));
    if (!md.isOk()) {
        qWarning("%s", md.status().toString().c_str());
        return 0xDEADBEEF;
    }
    return fillBits(*md);
}

std::uint64_t encoded(DType d, double v) {
    auto bytes = encodeDouble(d, v);
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bits |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
    }
    return bits;
}

const char* kOrbaxV3 =
    R"({"chunk_grid":{"configuration":{"chunk_shape":[8]},"name":"regular"},)"
    R"("chunk_key_encoding":{"name":"default"},)"
    R"("codecs":[{"configuration":{"chunk_shape":[8],)"
    R"("codecs":[{"configuration":{"endian":"little"},"name":"bytes"},)"
    R"({"configuration":{"checksum":false,"level":3},"name":"zstd"}],)"
    R"("index_codecs":[{"configuration":{"endian":"little"},"name":"bytes"},{"name":"crc32c"}]},)"
    R"("name":"sharding_indexed"}],)"
    R"("data_type":"int32","fill_value":0,"node_type":"array","shape":[8],"zarr_format":3})";

}  // namespace

class TestZarrMetadata : public QObject {
    Q_OBJECT
private slots:
    void parsesOrbaxV2Zarray() {
        auto md = parseZarrV2Metadata(
            R"({"chunks":[8],"compressor":{"id":"zstd","level":1},"dimension_separator":".",)"
            R"("dtype":"<i4","fill_value":null,"filters":null,"order":"C","shape":[8],)"
            R"("zarr_format":2})");
        CKPT_VERIFY_OK(md);
        QCOMPARE(md->zarrFormat, 2);
        QCOMPARE(md->dtype, DType::kInt32);
        QCOMPARE(md->shape, Shape{8});
        QCOMPARE(md->chunkShape, Shape{8});
        QCOMPARE(md->storedDType, std::string("<i4"));
        QCOMPARE(fillBits(*md), std::uint64_t{0});
        QCOMPARE(md->codecs.bytesCodecs.size(), std::size_t{1});
        QCOMPARE(md->codecs.bytesCodecs[0].kind, BytesCodec::Kind::kZstd);
        QCOMPARE(md->codecs.bytesCodecs[0].level, 1);
        QVERIFY(md->codecs.order.empty());
        QVERIFY(!md->codecs.sharding);
        QCOMPARE(describeCodecs(*md), std::vector<std::string>{"zstd(level=1)"});
    }

    void parsesOrbaxV3ZarrJson() {
        auto md = parseZarrV3Metadata(kOrbaxV3);
        CKPT_VERIFY_OK(md);
        QCOMPARE(md->zarrFormat, 3);
        QCOMPARE(md->dtype, DType::kInt32);
        QVERIFY(md->keyEncoding.v3Default);
        QCOMPARE(md->keyEncoding.separator, '/');
        QVERIFY(md->codecs.sharding);
        QVERIFY(md->codecs.bytesCodecs.empty());
        const ShardingCodec& s = *md->codecs.sharding;
        QCOMPARE(s.subChunkShape, Shape{8});
        QVERIFY(s.indexAtEnd);
        QVERIFY(s.indexCrc32c);
        QCOMPARE(s.indexEndian, Endian::kLittle);
        QCOMPARE(s.indexBytes(1), std::uint64_t{20});
        QCOMPARE(s.inner.bytesCodecs.size(), std::size_t{1});
        QCOMPARE(s.inner.bytesCodecs[0].level, 3);
        QCOMPARE(describeCodecs(*md),
                 (std::vector<std::string>{"sharding_indexed(chunk_shape=[8])", "zstd(level=3)"}));
    }

    void mapsEveryV2DTypeString() {
        struct Case {
            const char* text;
            DType dtype;
            Endian endian;
        };
        const Case cases[] = {
            {"|b1", DType::kBool, Endian::kLittle},
            {"|i1", DType::kInt8, Endian::kLittle},
            {"<i1", DType::kInt8, Endian::kLittle},
            {">i1", DType::kInt8, Endian::kLittle},
            {"|u1", DType::kUInt8, Endian::kLittle},
            {"<i2", DType::kInt16, Endian::kLittle},
            {">i2", DType::kInt16, Endian::kBig},
            {"<i4", DType::kInt32, Endian::kLittle},
            {"<i8", DType::kInt64, Endian::kLittle},
            {"<u2", DType::kUInt16, Endian::kLittle},
            {"<u4", DType::kUInt32, Endian::kLittle},
            {">u8", DType::kUInt64, Endian::kBig},
            {"<f2", DType::kFloat16, Endian::kLittle},
            {"<f4", DType::kFloat32, Endian::kLittle},
            {">f4", DType::kFloat32, Endian::kBig},
            {"<f8", DType::kFloat64, Endian::kLittle},
            {"<c8", DType::kComplex64, Endian::kLittle},
            {">c16", DType::kComplex128, Endian::kBig},
            {"bfloat16", DType::kBFloat16, Endian::kLittle},
            {"float8_e4m3fn", DType::kFloat8E4M3FN, Endian::kLittle},
            {"float8_e5m2", DType::kFloat8E5M2, Endian::kLittle},
            {"float8_e4m3fnuz", DType::kFloat8E4M3FNUZ, Endian::kLittle},
            {"float8_e5m2fnuz", DType::kFloat8E5M2FNUZ, Endian::kLittle},
            {"float8_e4m3b11fnuz", DType::kFloat8E4M3B11FNUZ, Endian::kLittle},
            {"float8_e3m4", DType::kFloat8E3M4, Endian::kLittle},
            {"float8_e8m0fnu", DType::kFloat8E8M0FNU, Endian::kLittle},
        };
        for (const Case& c : cases) {
            Endian e = Endian::kBig;
            auto d = parseZarrV2DType(c.text, &e);
            CKPT_VERIFY_OK(d);
            QVERIFY2(*d == c.dtype, c.text);
            QVERIFY2(e == c.endian, c.text);
            // And through a whole .zarray.
            auto md = parseZarrV2Metadata(v2(c.text));
            CKPT_VERIFY_OK(md);
            QVERIFY2(md->dtype == c.dtype && md->codecs.endian == c.endian, c.text);
        }
    }

    void rejectsUnsupportedV2DTypes() {
        for (const char* t : {"|i2", "<U4", "|S4", "|V8", "<M8[ns]", "int3", "float4_e3m0",
                              "float6_e2m3fn", "<f16", "<b1x", "", "f4"}) {
            Endian e{};
            CKPT_VERIFY_ERROR(parseZarrV2DType(t, &e), StatusCode::kUnsupported);
        }
        CKPT_VERIFY_ERROR(
            parseZarrV2Metadata(R"({"chunks":[2],"compressor":null,"dtype":[["a","<i4"]],)"
                                R"("fill_value":null,"filters":null,"order":"C","shape":[4],)"
                                R"("zarr_format":2})"),
            StatusCode::kUnsupported);
    }

    void mapsEveryV3DataTypeName() {
        for (const DTypeInfo& info : allDTypes()) {
            if (info.dtype == DType::kFloat8E4M3) continue;  // not a TensorStore dtype (yet)
            auto d = parseZarrV3DataType(info.name);
            CKPT_VERIFY_OK(d);
            QCOMPARE(*d, info.dtype);
        }
        for (const char* t : {"int3", "float6_e2m3fn", "r16", "string", "<f4"}) {
            CKPT_VERIFY_ERROR(parseZarrV3DataType(t), StatusCode::kUnsupported);
        }
    }

    void parsesV2FillValues() {
        QCOMPARE(v2Fill("<f4", "null"), std::uint64_t{0});
        QCOMPARE(v2Fill("<f4", R"("NaN")"), std::uint64_t{0x7fc00000});
        QCOMPARE(v2Fill("<f4", R"("Infinity")"), std::uint64_t{0x7f800000});
        QCOMPARE(v2Fill("<f4", R"("-Infinity")"), std::uint64_t{0xff800000});
        QCOMPARE(v2Fill("<f4", "1.5"), std::uint64_t{0x3fc00000});
        QCOMPARE(v2Fill("<f4", R"("2.5")"), std::uint64_t{0x40200000});  // decimal string
        QCOMPARE(v2Fill(">f4", "1.5"), std::uint64_t{0x3fc00000});       // stored decoded (LE)
        QCOMPARE(v2Fill("<f8", R"("NaN")"), std::uint64_t{0x7ff8000000000000});
        QCOMPARE(v2Fill("bfloat16", R"("NaN")"), std::uint64_t{0x7fc0});
        QCOMPARE(v2Fill("bfloat16", "1.0"), std::uint64_t{0x3f80});
        QCOMPARE(v2Fill("<f2", "1.0"), std::uint64_t{0x3c00});
        QCOMPARE(v2Fill("|b1", "true"), std::uint64_t{1});
        QCOMPARE(v2Fill("|i1", "-128"), std::uint64_t{0x80});
        QCOMPARE(v2Fill(">i2", "-7"), std::uint64_t{0xfff9});
        QCOMPARE(v2Fill("<u8", "18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
        QCOMPARE(v2Fill("<i8", "-9223372036854775808"), std::uint64_t{0x8000000000000000});
        QCOMPARE(v2Fill("<i4", "3.0"), std::uint64_t{3});
        // Complex: [re, im] or base64 of the raw (stored-order) element.
        auto c = parseZarrV2Metadata(v2("<c8", R"([1.5, "NaN"])"));
        CKPT_VERIFY_OK(c);
        QCOMPARE(fillBits(*c), std::uint64_t{0x7fc000003fc00000});
        c = parseZarrV2Metadata(v2("<c8", R"("AADAPwAAwH8=")"));  // bytes 00 00 c0 3f 00 00 c0 7f
        CKPT_VERIFY_OK(c);
        QCOMPARE(fillBits(*c), std::uint64_t{0x7fc000003fc00000});
        c = parseZarrV2Metadata(v2(">c8", R"("P8AAAH/AAAA=")"));  // big-endian words
        CKPT_VERIFY_OK(c);
        QCOMPARE(fillBits(*c), std::uint64_t{0x7fc000003fc00000});
    }

    void rejectsBadFillValues() {
        for (auto [dtype, fill] : std::initializer_list<std::pair<const char*, const char*>>{
                 {"|i1", "128"},
                 {"|u1", "-1"},
                 {"<u2", "65536"},
                 {"<i4", "1.5"},
                 {"<i4", R"("7")"},
                 {"|b1", "2"},
                 {"<f4", R"("nan")"},
                 {"<f4", R"("0x1234567890")"},
                 {"<f4", R"("0xZZ")"},
                 {"<f4", "[1]"},
                 {"<c8", "[1, 2, 3]"},
                 {"<c8", R"("AAAA")"},
                 {"<c8", R"("!!!")"},
             }) {
            auto md = parseZarrV2Metadata(v2(dtype, fill));
            QVERIFY2(!md.isOk(), (std::string(dtype) + " " + fill).c_str());
            QCOMPARE(md.status().code(), StatusCode::kCorruption);
            QVERIFY(md.status().message().find("fill_value") != std::string::npos);
        }
    }

    void parsesV3FillValues() {
        QCOMPARE(v3Fill("float32", "0.0"), std::uint64_t{0});
        QCOMPARE(v3Fill("float32", R"("NaN")"), std::uint64_t{0x7fc00000});
        QCOMPARE(v3Fill("float32", R"("0x7fc00001")"), std::uint64_t{0x7fc00001});
        QCOMPARE(v3Fill("float64", R"("0x7ff0000000000001")"), std::uint64_t{0x7ff0000000000001});
        QCOMPARE(v3Fill("float16", R"("Infinity")"), std::uint64_t{0x7c00});
        QCOMPARE(v3Fill("bfloat16", "-1.5"), std::uint64_t{0xbfc0});
        QCOMPARE(v3Fill("float8_e4m3fn", R"("NaN")"), std::uint64_t{0x7f});
        QCOMPARE(v3Fill("float8_e5m2", R"("-Infinity")"), std::uint64_t{0xfc});
        QCOMPARE(v3Fill("float8_e4m3fnuz", "0.3"), std::uint64_t{0x32});
        QCOMPARE(v3Fill("float8_e3m4", "2.25"), std::uint64_t{0x42});
        QCOMPARE(v3Fill("bool", "false"), std::uint64_t{0});
        QCOMPARE(v3Fill("uint64", "18446744073709551615"),
                 std::numeric_limits<std::uint64_t>::max());
        QCOMPARE(v3Fill("complex64", R"(["NaN", 2.0])"), std::uint64_t{0x400000007fc00000});
        auto c128 = parseZarrV3Metadata(v3("complex128", R"([0.0, "-Infinity"])"));
        CKPT_VERIFY_OK(c128);
        QCOMPARE(c128->fillValue.size(), std::size_t{16});
        double parts[2];
        std::memcpy(parts, c128->fillValue.data(), 16);
        QCOMPARE(parts[0], 0.0);
        QCOMPARE(parts[1], -std::numeric_limits<double>::infinity());
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(v3("int8", "200")), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(v3("float32", "true")), StatusCode::kCorruption);
    }

    void encodesMiniFloatsLikeMlDtypes() {
        // Values from ml_dtypes 0.6: np.array([v]).astype(t).view(np.uint8).
        QCOMPARE(encoded(DType::kFloat8E4M3FN, 464.0), std::uint64_t{0x7e});  // tie -> even (max)
        QCOMPARE(encoded(DType::kFloat8E4M3FN, 470.0), std::uint64_t{0x7f});  // overflow -> NaN
        QCOMPARE(encoded(DType::kFloat8E4M3FN, -1e-9), std::uint64_t{0x80});  // -0
        QCOMPARE(encoded(DType::kFloat8E4M3FN, 0.1), std::uint64_t{0x1d});
        QCOMPARE(encoded(DType::kFloat8E4M3FNUZ, -1e-9), std::uint64_t{0x00});  // no -0
        QCOMPARE(encoded(DType::kFloat8E4M3FNUZ, 1e9), std::uint64_t{0x80});
        QCOMPARE(encoded(DType::kFloat8E5M2, 1e9), std::uint64_t{0x7c});
        QCOMPARE(encoded(DType::kFloat8E5M2, 0.1), std::uint64_t{0x2e});
        QCOMPARE(encoded(DType::kFloat8E3M4, 0.1), std::uint64_t{0x06});
        QCOMPARE(encoded(DType::kFloat8E4M3B11FNUZ, 0.1), std::uint64_t{0x3d});
        QCOMPARE(encoded(DType::kFloat8E5M2FNUZ, 0.1), std::uint64_t{0x32});
        QCOMPARE(encoded(DType::kFloat8E8M0FNU, 3.0), std::uint64_t{0x81});
        QCOMPARE(encoded(DType::kFloat8E8M0FNU, 0.09), std::uint64_t{0x7b});
        QCOMPARE(encoded(DType::kFloat8E8M0FNU, 0.0), std::uint64_t{0xff});
        QCOMPARE(encoded(DType::kFloat16, 0.1), std::uint64_t{0x2e66});
        QCOMPARE(encoded(DType::kFloat16, 1e9), std::uint64_t{0x7c00});
        QCOMPARE(encoded(DType::kBFloat16, 0.1), std::uint64_t{0x3dcd});
        QCOMPARE(encoded(DType::kBFloat16, 1e9), std::uint64_t{0x4e6e});
        // Every finite pattern of every minifloat encodes back to itself.
        for (const DTypeInfo& info : allDTypes()) {
            if (info.kind != DTypeKind::kFloat || info.itemSize > 2) continue;
            const std::uint32_t n = info.dtype == DType::kFloat4E2M1FN ? 16U
                                    : info.itemSize == 1                ? 256U
                                                                        : 65536U;
            for (std::uint32_t bits = 0; bits < n; ++bits) {
                std::byte b[2] = {static_cast<std::byte>(bits & 0xff),
                                  static_cast<std::byte>(bits >> 8)};
                const double v = elementToDouble(info.dtype, b);
                if (!std::isfinite(v)) continue;
                if (v == 0 && std::signbit(v) && info.name.find("fnuz") != std::string_view::npos) {
                    continue;
                }
                if (encoded(info.dtype, v) != bits) {
                    QFAIL((std::string(info.name) + " pattern " + std::to_string(bits) +
                           " does not round-trip")
                              .c_str());
                }
            }
        }
    }

    void parsesV2CompressorsAndLayout() {
        auto md = parseZarrV2Metadata(v2("<f4", "null", R"(,"dimension_separator":"/")"));
        CKPT_VERIFY_OK(md);
        QCOMPARE(md->keyEncoding.separator, '/');
        QVERIFY(describeCodecs(*md).empty());

        const auto withCompressor = [](const std::string& comp) {
            return parseZarrV2Metadata(
                R"({"chunks":[2],"compressor":)" + comp +
                R"(,"dtype":"<f4","fill_value":null,"filters":null,"order":"C","shape":[4],)"
                R"("zarr_format":2})");
        };
        struct Case {
            const char* json;
            BytesCodec::Kind kind;
            const char* description;
        };
        for (const Case& c : {
                 Case{R"({"id":"zstd","level":5})", BytesCodec::Kind::kZstd, "zstd(level=5)"},
                 Case{R"({"id":"zstd","level":1,"checksum":true})", BytesCodec::Kind::kZstd,
                      "zstd(level=1)"},
                 Case{R"({"id":"gzip","level":5})", BytesCodec::Kind::kGzip, "gzip(level=5)"},
                 Case{R"({"id":"zlib","level":1})", BytesCodec::Kind::kZlib, "zlib(level=1)"},
                 Case{R"({"id":"bz2","level":9})", BytesCodec::Kind::kBz2, "bz2(level=9)"},
                 Case{R"({"blocksize":0,"clevel":5,"cname":"lz4","id":"blosc","shuffle":-1})",
                      BytesCodec::Kind::kBlosc, "blosc(cname=lz4, clevel=5, shuffle=-1)"},
             }) {
            auto m = withCompressor(c.json);
            CKPT_VERIFY_OK(m);
            QCOMPARE(m->codecs.bytesCodecs.size(), std::size_t{1});
            QVERIFY(m->codecs.bytesCodecs[0].kind == c.kind);
            QCOMPARE(describeCodecs(*m), std::vector<std::string>{c.description});
        }
        CKPT_VERIFY_ERROR(withCompressor(R"({"id":"lz4"})"), StatusCode::kUnsupported);
        CKPT_VERIFY_ERROR(withCompressor(R"({"level":1})"), StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(withCompressor(R"({"id":"zstd","level":"high"})"),
                          StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(withCompressor(R"("zstd")"), StatusCode::kCorruption);

        auto f = parseZarrV2Metadata(
            R"({"chunks":[2,2,2],"compressor":null,"dtype":">f4","fill_value":null,)"
            R"("filters":[],"order":"F","shape":[4,4,4],"zarr_format":2})");
        CKPT_VERIFY_OK(f);
        QCOMPARE(f->codecs.order, (std::vector<std::size_t>{2, 1, 0}));
        QCOMPARE(describeCodecs(*f), (std::vector<std::string>{"order=F", "big-endian"}));
        CKPT_VERIFY_ERROR(parseZarrV2Metadata(v2("<f4", "null", R"(,"order":"K")")),
                          StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(parseZarrV2Metadata(
                              R"({"chunks":[2],"compressor":null,"dtype":"<f4","fill_value":null,)"
                              R"("filters":[{"id":"delta","dtype":"<f4"}],"order":"C",)"
                              R"("shape":[4],"zarr_format":2})"),
                          StatusCode::kUnsupported);
        CKPT_VERIFY_ERROR(parseZarrV2Metadata(v2("<f4", "null", R"(,"dimension_separator":"-")")),
                          StatusCode::kCorruption);
    }

    void parsesV3CodecChains() {
        const std::string LE = R"({"name":"bytes","configuration":{"endian":"little"}})";
        const std::string BE = R"({"name":"bytes","configuration":{"endian":"big"}})";
        auto md = parseZarrV3Metadata(
            v3("float32", "0.0",
               "[" + LE + R"(,{"name":"zstd","configuration":{"level":1,"checksum":false}}])"));
        CKPT_VERIFY_OK(md);
        QCOMPARE(describeCodecs(*md), std::vector<std::string>{"zstd(level=1)"});

        md = parseZarrV3Metadata(
            v3("float32", "0.0",
               R"([{"name":"transpose","configuration":{"order":[1,0]}},)" + BE +
                   R"(,{"name":"gzip","configuration":{"level":5}},{"name":"crc32c"}])"));
        CKPT_VERIFY_OK(md);
        QCOMPARE(md->codecs.order, (std::vector<std::size_t>{1, 0}));
        QCOMPARE(md->codecs.endian, Endian::kBig);
        QCOMPARE(describeCodecs(*md),
                 (std::vector<std::string>{"transpose(order=[1,0])", "bytes(endian=big)",
                                           "gzip(level=5)", "crc32c"}));

        // Two transposes compose; a pair that cancels out is the identity.
        md = parseZarrV3Metadata(v3("float32", "0.0",
                                    R"([{"name":"transpose","configuration":{"order":"F"}},)"
                                    R"({"name":"transpose","configuration":{"order":[1,0]}},)" +
                                        LE + "]"));
        CKPT_VERIFY_OK(md);
        QVERIFY(md->codecs.order.empty());

        // Bare codec names and a 1-byte type without endian.
        md = parseZarrV3Metadata(v3("int8", "0", R"(["bytes"])"));
        CKPT_VERIFY_OK(md);

        // Sharding with several inner chunks, index at the start, index without crc32c.
        md = parseZarrV3Metadata(
            v3("float32", "0.0",
               R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[2,3],"codecs":[)" +
                   LE + R"(],"index_codecs":[)" + BE + R"(],"index_location":"start"}}])"));
        CKPT_VERIFY_OK(md);
        QVERIFY(md->codecs.sharding);
        QVERIFY(!md->codecs.sharding->indexAtEnd);
        QVERIFY(!md->codecs.sharding->indexCrc32c);
        QCOMPARE(md->codecs.sharding->indexEndian, Endian::kBig);
        QCOMPARE(md->codecs.sharding->indexBytes(4), std::uint64_t{64});
        QCOMPARE(describeCodecs(*md),
                 (std::vector<std::string>{
                     "sharding_indexed(chunk_shape=[2,3], index_location=start, index without "
                     "crc32c, big-endian index)"}));

        // Nested sharding; the inner chunk shape must divide the (transposed) outer one.
        md = parseZarrV3Metadata(
            v3("float32", "0.0",
               R"([{"name":"transpose","configuration":{"order":[1,0]}},)"
               R"({"name":"sharding_indexed","configuration":{"chunk_shape":[3,2],"codecs":[)"
               R"({"name":"sharding_indexed","configuration":{"chunk_shape":[1,1],"codecs":[)" +
                   LE + R"(]}}]}}])"));
        CKPT_VERIFY_OK(md);
        QCOMPARE(describeCodecs(*md),
                 (std::vector<std::string>{"transpose(order=[1,0])",
                                           "sharding_indexed(chunk_shape=[3,2])",
                                           "sharding_indexed(chunk_shape=[1,1])"}));
    }

    void rejectsBadV3CodecChains() {
        const std::string LE = R"({"name":"bytes","configuration":{"endian":"little"}})";
        struct Case {
            std::string codecs;
            StatusCode code;
        };
        const Case cases[] = {
            {"[]", StatusCode::kCorruption},
            {R"({"name":"bytes"})", StatusCode::kCorruption},
            {R"([{"name":"zstd"}])", StatusCode::kCorruption},     // no array -> bytes
            {"[" + LE + "," + LE + "]", StatusCode::kCorruption},  // two array -> bytes
            {"[" + LE + R"(,{"name":"transpose","configuration":{"order":[1,0]}}])",
             StatusCode::kCorruption},
            {R"([{"name":"transpose","configuration":{"order":[0,0]}},)" + LE + "]",
             StatusCode::kCorruption},
            {R"([{"name":"transpose","configuration":{"order":[0,1,2]}},)" + LE + "]",
             StatusCode::kCorruption},
            {R"([{"name":"bytes","configuration":{"endian":"middle"}}])", StatusCode::kCorruption},
            {R"([{"name":"vlen-utf8"}])", StatusCode::kUnsupported},
            {"[" + LE + R"(,{"name":"lz4"}])", StatusCode::kUnsupported},
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[3,3],"codecs":[)" + LE +
                 "]}}]",
             StatusCode::kCorruption},  // 3 does not divide 4
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[2],"codecs":[)" + LE +
                 "]}}]",
             StatusCode::kCorruption},  // rank
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[0,3],"codecs":[)" + LE +
                 "]}}]",
             StatusCode::kCorruption},
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[2,3]}}])",
             StatusCode::kCorruption},
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[2,3],"codecs":[)" + LE +
                 R"(],"index_location":"middle"}}])",
             StatusCode::kCorruption},
            {R"([{"name":"sharding_indexed","configuration":{"chunk_shape":[2,3],"codecs":[)" + LE +
                 R"(],"index_codecs":[{"name":"bytes"},{"name":"zstd"}]}}])",
             StatusCode::kUnsupported},
        };
        for (const Case& c : cases) {
            auto md = parseZarrV3Metadata(v3("float32", "0.0", c.codecs));
            QVERIFY2(!md.isOk(), c.codecs.c_str());
            QVERIFY2(md.status().code() == c.code,
                     (c.codecs + " -> " + md.status().toString()).c_str());
        }
    }

    void formatsChunkKeys() {
        const std::int64_t idx[] = {3, 1};
        QCOMPARE(chunkKey({false, '.'}, idx), std::string("3.1"));
        QCOMPARE(chunkKey({false, '/'}, idx), std::string("3/1"));
        QCOMPARE(chunkKey({false, '.'}, {}), std::string("0"));
        QCOMPARE(chunkKey({true, '/'}, idx), std::string("c/3/1"));
        QCOMPARE(chunkKey({true, '.'}, idx), std::string("c.3.1"));
        QCOMPARE(chunkKey({true, '/'}, {}), std::string("c"));

        auto md = parseZarrV3Metadata(v3("float32", "0.0", R"(["bytes"])",
                                         ""));  // default encoding
        CKPT_VERIFY_OK(md);
        QVERIFY(md->keyEncoding.v3Default);
        auto v2enc = parseZarrV3Metadata(
            R"({"chunk_grid":{"configuration":{"chunk_shape":[2]},"name":"regular"},)"
            R"("chunk_key_encoding":{"name":"v2"},"codecs":["bytes"],"data_type":"int8",)"
            R"("fill_value":0,"node_type":"array","shape":[4],"zarr_format":3})");
        CKPT_VERIFY_OK(v2enc);
        QVERIFY(!v2enc->keyEncoding.v3Default);
        QCOMPARE(v2enc->keyEncoding.separator, '.');
        auto dot = parseZarrV3Metadata(
            R"({"chunk_grid":{"configuration":{"chunk_shape":[2]},"name":"regular"},)"
            R"("chunk_key_encoding":{"name":"default","configuration":{"separator":"."}},)"
            R"("codecs":["bytes"],"data_type":"int8","fill_value":0,"node_type":"array",)"
            R"("shape":[4],"zarr_format":3})");
        CKPT_VERIFY_OK(dot);
        QVERIFY(dot->keyEncoding.v3Default);
        QCOMPARE(dot->keyEncoding.separator, '.');
    }

    void rejectsHostileMetadata() {
        struct Case {
            std::string text;
            StatusCode code;
        };
        const std::string tail =
            R"(,"compressor":null,"dtype":"<f4","fill_value":null,"filters":null,"order":"C",)"
            R"("zarr_format":2})";
        const Case cases[] = {
            {"", StatusCode::kCorruption},
            {"{", StatusCode::kCorruption},
            {"[1,2]", StatusCode::kCorruption},
            {R"({"shape":[1099511627776,1099511627776],"chunks":[1,1])" + tail,
             StatusCode::kCorruption},  // 2^80 elements
            {R"({"shape":[4],"chunks":[0])" + tail, StatusCode::kCorruption},
            {R"({"shape":[-4],"chunks":[2])" + tail, StatusCode::kCorruption},
            {R"({"shape":[4],"chunks":[2,2])" + tail, StatusCode::kCorruption},
            {R"({"shape":[1e30],"chunks":[2])" + tail, StatusCode::kCorruption},
            {R"({"shape":[4.5],"chunks":[2])" + tail, StatusCode::kCorruption},
            {R"({"shape":"4","chunks":[2])" + tail, StatusCode::kCorruption},
            {R"({"shape":[4],"chunks":[1099511627776,1099511627776])" + tail,
             StatusCode::kCorruption},  // chunk of 2^80 elements
            {R"({"shape":[4],"chunks":[4294967297])" + tail,
             StatusCode::kUnsupported},  // a 16 GiB chunk
            {R"({"shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],)"
             R"("chunks":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1])" +
                 tail,
             StatusCode::kCorruption},  // rank 33
            {R"({"chunks":[2])" + tail, StatusCode::kCorruption},
            {R"({"shape":[4],"chunks":[2],"zarr_format":3,"dtype":"<f4"})",
             StatusCode::kUnsupported},
        };
        for (const Case& c : cases) {
            auto md = parseZarrV2Metadata(c.text);
            QVERIFY2(!md.isOk(), c.text.c_str());
            QVERIFY2(md.status().code() == c.code,
                     (c.text + " -> " + md.status().toString()).c_str());
        }
        // v3-specific.
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(R"({"zarr_format":3,"node_type":"group"})"),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(R"({"zarr_format":2,"node_type":"array"})"),
                          StatusCode::kUnsupported);
        CKPT_VERIFY_ERROR(
            parseZarrV3Metadata(v3("float32", "0.0", R"(["bytes"])", R"(,"future_thing":{"x":1})")),
            StatusCode::kUnsupported);
        CKPT_VERIFY_OK(parseZarrV3Metadata(
            v3("float32", "0.0", R"(["bytes"])", R"(,"future_thing":{"must_understand":false})")));
        CKPT_VERIFY_OK(parseZarrV3Metadata(
            v3("float32", "0.0", R"(["bytes"])",
               R"(,"attributes":{"a":1},"dimension_names":["x",null],"storage_transformers":[])")));
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(v3("float32", "0.0", R"(["bytes"])",
                                                 R"(,"storage_transformers":[{"name":"x"}])")),
                          StatusCode::kUnsupported);
        CKPT_VERIFY_ERROR(
            parseZarrV3Metadata(
                R"({"chunk_grid":{"configuration":{"chunk_shape":[2]},"name":"rectilinear"},)"
                R"("codecs":["bytes"],"data_type":"int8","fill_value":0,"node_type":"array",)"
                R"("shape":[4],"zarr_format":3})"),
            StatusCode::kUnsupported);
        // A shard grid with more than 2^30 inner chunks.
        CKPT_VERIFY_ERROR(
            parseZarrV3Metadata(
                R"({"chunk_grid":{"configuration":{"chunk_shape":[2147483648]},"name":"regular"},)"
                R"("codecs":[{"name":"sharding_indexed","configuration":{"chunk_shape":[1],)"
                R"("codecs":["bytes"]}}],"data_type":"int8","fill_value":0,"node_type":"array",)"
                R"("shape":[4],"zarr_format":3})"),
            StatusCode::kCorruption);
        CKPT_VERIFY_ERROR(parseZarrV3Metadata(v3("float32", "null", R"(["bytes"])").substr(0, 40)),
                          StatusCode::kCorruption);
    }

    void rejectsDeeplyNestedValuesWithoutRecursing() {
        const std::string deep = std::string(200000, '[') + std::string(200000, ']');
        auto md = parseZarrV2Metadata(R"({"shape":)" + deep +
                                      R"(,"chunks":[1],"dtype":"<f4","zarr_format":2})");
        CKPT_VERIFY_ERROR(md, StatusCode::kCorruption);
        auto md3 = parseZarrV3Metadata(v3("float32", "0.0", "[" + deep + "]"));
        CKPT_VERIFY_ERROR(md3, StatusCode::kCorruption);
        auto fill = parseZarrV3Metadata(v3("float32", deep));
        CKPT_VERIFY_ERROR(fill, StatusCode::kCorruption);
    }

    void rejectsEveryTruncationOfRealMetadata() {
        const std::string text = kOrbaxV3;
        for (std::size_t n = 0; n < text.size(); ++n) {
            auto md = parseZarrV3Metadata(std::string_view(text).substr(0, n));
            QVERIFY2(!md.isOk(), std::to_string(n).c_str());
        }
    }
};

QTEST_GUILESS_MAIN(TestZarrMetadata)
#include "tst_zarr_metadata.moc"
