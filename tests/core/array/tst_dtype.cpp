#include <cmath>
#include <cstring>

#include "ckpt/core/dtype.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {
double decode8(DType d, unsigned bits) {
    const auto b = static_cast<std::byte>(bits);
    return elementToDouble(d, &b);
}
double decode16(DType d, std::uint16_t bits) {
    std::byte b[2];
    std::memcpy(b, &bits, 2);
    return elementToDouble(d, b);
}
}  // namespace

class TestDType : public QObject {
    Q_OBJECT
private slots:
    void namesRoundTrip() {
        for (const auto& info : allDTypes()) {
            QCOMPARE(dtypeFromName(info.name), std::optional<DType>(info.dtype));
            QCOMPARE(&dtypeInfo(info.dtype), &info);
        }
        QVERIFY(!dtypeFromName("float128"));
        QVERIFY(!dtypeFromName("<f4"));
        QCOMPARE(itemSize(DType::kComplex128), std::size_t{16});
        QCOMPARE(itemSize(DType::kBFloat16), std::size_t{2});
        QCOMPARE(dtypeName(DType::kFloat8E4M3FN), std::string_view("float8_e4m3fn"));
    }
    void halfAndBFloat16() {
        QCOMPARE(decode16(DType::kFloat16, 0x3C00), 1.0);
        QCOMPARE(decode16(DType::kFloat16, 0xC000), -2.0);
        QCOMPARE(decode16(DType::kFloat16, 0x7BFF), 65504.0);
        QCOMPARE(decode16(DType::kFloat16, 0x0001), std::ldexp(1.0, -24));  // smallest subnormal
        QVERIFY(std::isinf(decode16(DType::kFloat16, 0x7C00)));
        QVERIFY(std::isnan(decode16(DType::kFloat16, 0x7E00)));
        QCOMPARE(decode16(DType::kBFloat16, 0x3F80), 1.0);
        QCOMPARE(decode16(DType::kBFloat16, 0xC0A0), -5.0);
        QVERIFY(std::isinf(decode16(DType::kBFloat16, 0xFF80)));
    }
    void float8Kinds() {
        // e4m3fn: no infinities, S.1111.111 is NaN, max 448.
        QCOMPARE(decode8(DType::kFloat8E4M3FN, 0x38), 1.0);
        QCOMPARE(decode8(DType::kFloat8E4M3FN, 0x7E), 448.0);
        QVERIFY(std::isnan(decode8(DType::kFloat8E4M3FN, 0x7F)));
        QCOMPARE(decode8(DType::kFloat8E4M3FN, 0x78), 256.0);  // all-ones exponent is finite
        QCOMPARE(decode8(DType::kFloat8E4M3FN, 0x01), std::ldexp(1.0, -9));
        // e5m2: IEEE-like.
        QCOMPARE(decode8(DType::kFloat8E5M2, 0x3C), 1.0);
        QCOMPARE(decode8(DType::kFloat8E5M2, 0x7B), 57344.0);
        QVERIFY(std::isinf(decode8(DType::kFloat8E5M2, 0xFC)));
        QVERIFY(decode8(DType::kFloat8E5M2, 0xFC) < 0);
        // fnuz: 0x80 is the only NaN, no negative zero.
        QVERIFY(std::isnan(decode8(DType::kFloat8E4M3FNUZ, 0x80)));
        QCOMPARE(decode8(DType::kFloat8E4M3FNUZ, 0x7F), 240.0);
        QCOMPARE(decode8(DType::kFloat8E5M2FNUZ, 0x40), 1.0);
        QCOMPARE(decode8(DType::kFloat8E4M3B11FNUZ, 0x58), 1.0);
        // e8m0fnu: powers of two, 0xFF is NaN.
        QCOMPARE(decode8(DType::kFloat8E8M0FNU, 0x7F), 1.0);
        QCOMPARE(decode8(DType::kFloat8E8M0FNU, 0x00), std::ldexp(1.0, -127));
        QVERIFY(std::isnan(decode8(DType::kFloat8E8M0FNU, 0xFF)));
        // e3m4 and e4m3 have infinities.
        QCOMPARE(decode8(DType::kFloat8E3M4, 0x30), 1.0);
        QVERIFY(std::isinf(decode8(DType::kFloat8E3M4, 0x70)));
        QCOMPARE(decode8(DType::kFloat8E4M3, 0x38), 1.0);
        QVERIFY(std::isinf(decode8(DType::kFloat8E4M3, 0x78)));
    }
    void subByteTypesUseTheLowBits() {
        // As ml_dtypes holds them (np.array([-8, -1], ml_dtypes.int4).view(np.uint8) == [8, 15]).
        QCOMPARE(decode8(DType::kInt4, 0x08), -8.0);
        QCOMPARE(decode8(DType::kInt4, 0x0F), -1.0);
        QCOMPARE(decode8(DType::kInt4, 0x07), 7.0);
        QCOMPARE(decode8(DType::kUInt4, 0x0F), 15.0);
        QCOMPARE(decode8(DType::kInt2, 0x02), -2.0);
        QCOMPARE(decode8(DType::kInt2, 0x01), 1.0);
        QCOMPARE(decode8(DType::kUInt2, 0x03), 3.0);
        const std::byte minusOne{0x0F};
        QCOMPARE(elementToInt64(DType::kInt4, &minusOne), std::int64_t{-1});
        // float4_e2m1fn: no NaN, no infinity; 0x7 = 6, 0xF = -6, 0x1 = 0.5 (subnormal).
        QCOMPARE(decode8(DType::kFloat4E2M1FN, 0x07), 6.0);
        QCOMPARE(decode8(DType::kFloat4E2M1FN, 0x0F), -6.0);
        QCOMPARE(decode8(DType::kFloat4E2M1FN, 0x01), 0.5);
        QCOMPARE(decode8(DType::kFloat4E2M1FN, 0x02), 1.0);
        QCOMPARE(itemSize(DType::kInt4), std::size_t{1});
        QCOMPARE(dtypeFromName("float4_e2m1fn"), std::optional<DType>(DType::kFloat4E2M1FN));
    }
    void integersKeepFullRange() {
        const std::uint64_t big = 0xFFFFFFFFFFFFFFFFULL;
        std::byte b[8];
        std::memcpy(b, &big, 8);
        QCOMPARE(elementToUInt64(DType::kUInt64, b), big);
        QCOMPARE(elementToInt64(DType::kInt64, b), std::int64_t{-1});
        const std::int16_t v = -300;
        std::memcpy(b, &v, 2);
        QCOMPARE(elementToDouble(DType::kInt16, b), -300.0);
    }
    void complexParts() {
        const float parts[2] = {1.5f, -2.0f};
        std::byte b[8];
        std::memcpy(b, parts, 8);
        QCOMPARE(elementToComplex(DType::kComplex64, b), std::complex<double>(1.5, -2.0));
        QCOMPARE(elementToDouble(DType::kComplex64, b), 1.5);
    }
};

QTEST_GUILESS_MAIN(TestDType)
#include "tst_dtype.moc"
