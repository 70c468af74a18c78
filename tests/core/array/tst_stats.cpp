#include <cmath>
#include <cstring>
#include <limits>

#include "ckpt/core/stats.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {
Array floats(const std::vector<float>& v, Shape shape) {
    Array a = Array::allocate(DType::kFloat32, std::move(shape)).value();
    std::memcpy(a.bytes().data(), v.data(), v.size() * 4);
    return a;
}
}  // namespace

class TestStats : public QObject {
    Q_OBJECT
private slots:
    void countsSpecialValues() {
        const float inf = std::numeric_limits<float>::infinity();
        const float nan = std::numeric_limits<float>::quiet_NaN();
        auto s = computeStats(floats({1, 2, 0, nan, inf, -inf, 3, 0, nan}, {9}));
        QCOMPARE(s.count, std::uint64_t{9});
        QCOMPARE(s.nan, std::uint64_t{2});
        QCOMPARE(s.posInf, std::uint64_t{1});
        QCOMPARE(s.negInf, std::uint64_t{1});
        QCOMPARE(s.zeros, std::uint64_t{2});
        QCOMPARE(s.finite, std::uint64_t{5});
        QCOMPARE(s.min, 0.0);
        QCOMPARE(s.max, 3.0);
        QCOMPARE(s.mean, 1.2);
        QVERIFY(std::abs(s.std - std::sqrt(1.36)) < 1e-12);
    }
    void allNanHasNanMoments() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        auto s = computeStats(floats({nan, nan}, {2}));
        QVERIFY(std::isnan(s.mean));
        QVERIFY(std::isnan(s.min));
        QCOMPARE(s.finite, std::uint64_t{0});
    }
    void streamedEqualsInMemory() {
        // 100k values streamed through a chunked source give the same moments.
        std::vector<float> v(100000);
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i)) * 1000.0f + 5.0f;
        auto whole = computeStats(floats(v, {100000}));
        auto src = makeMemorySource(floats(v, {1000, 100}));
        auto streamed = computeStats(*src);
        CKPT_VERIFY_OK(streamed);
        QCOMPARE(streamed->count, whole.count);
        QCOMPARE(streamed->min, whole.min);
        QCOMPARE(streamed->max, whole.max);
        QVERIFY(std::abs(streamed->mean - whole.mean) < 1e-9);
        QVERIFY(std::abs(streamed->std - whole.std) < 1e-9);
        double mean = 0;
        for (float x : v) mean += x;
        mean /= static_cast<double>(v.size());
        QVERIFY(std::abs(whole.mean - mean) < 1e-9);
    }
};

QTEST_GUILESS_MAIN(TestStats)
#include "tst_stats.moc"
