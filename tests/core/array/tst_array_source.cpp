#include <cstring>
#include <numeric>

#include "ckpt/core/array_source.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {
// An int32 array whose element i holds i.
Array iota(Shape shape) {
    Array a = Array::allocate(DType::kInt32, std::move(shape)).value();
    for (std::uint64_t i = 0; i < a.elementCount(); ++i) {
        const auto v = static_cast<std::int32_t>(i);
        std::memcpy(a.bytes().data() + i * 4, &v, 4);
    }
    return a;
}
std::int32_t at(const Array& a, std::uint64_t i) {
    std::int32_t v;
    std::memcpy(&v, a.elementPtr(i), 4);
    return v;
}

// A source with a small chunk grid, to exercise chunk iteration.
class GridSource final : public ArraySource {
public:
    GridSource(Array a, Shape chunk) : m_a(std::move(a)), m_chunk(std::move(chunk)) {}
    DType dtype() const override { return m_a.dtype(); }
    const Shape& shape() const override { return m_a.shape(); }
    Shape chunkShape() const override { return m_chunk; }
    Status readInto(const Selection& s, std::span<std::byte> out, const CancelToken*) const override {
        copyHyperslab(m_a.bytes().data(), m_a.shape(), 4, s, out.data());
        return okStatus();
    }

private:
    Array m_a;
    Shape m_chunk;
};
}  // namespace

class TestArraySource : public QObject {
    Q_OBJECT
private slots:
    void readsHyperslab() {
        auto src = makeMemorySource(iota({4, 5, 6}));
        Selection sel{{1, 2, 3}, {2, 2, 3}};
        auto r = src->read(sel);
        CKPT_VERIFY_OK(r);
        QCOMPARE(r->shape(), (Shape{2, 2, 3}));
        std::uint64_t k = 0;
        for (int i = 1; i < 3; ++i)
            for (int j = 2; j < 4; ++j)
                for (int l = 3; l < 6; ++l) QCOMPARE(at(*r, k++), i * 30 + j * 6 + l);
    }
    void rejectsOutOfBoundsSelection() {
        auto src = makeMemorySource(iota({4, 5}));
        CKPT_VERIFY_ERROR(src->read(Selection{{3, 0}, {2, 5}}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(src->read(Selection{{0}, {1}}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(src->read(Selection{{-1, 0}, {1, 1}}), StatusCode::kInvalidArgument);
    }
    void scalarAndEmptyArrays() {
        auto scalar = makeMemorySource(iota({}));
        auto r = scalar->readAll();
        CKPT_VERIFY_OK(r);
        QCOMPARE(r->elementCount(), std::uint64_t{1});
        auto empty = makeMemorySource(iota({3, 0, 2}));
        QCOMPARE(empty->elementCount(), std::uint64_t{0});
        int calls = 0;
        CKPT_VERIFY_OK(empty->forEachChunk([&](const Selection&, const Array&) {
            ++calls;
            return okStatus();
        }));
        QCOMPARE(calls, 0);
    }
    void chunkWalkCoversEveryElementOnce() {
        GridSource src(iota({7, 5, 3}), {3, 2, 3});
        std::vector<int> seen(7 * 5 * 3, 0);
        int chunks = 0;
        CKPT_VERIFY_OK(src.forEachChunk([&](const Selection& s, const Array& block) {
            ++chunks;
            std::uint64_t k = 0;
            for (auto i = s.start[0]; i < s.start[0] + s.count[0]; ++i)
                for (auto j = s.start[1]; j < s.start[1] + s.count[1]; ++j)
                    for (auto l = s.start[2]; l < s.start[2] + s.count[2]; ++l) {
                        const auto flat = static_cast<int>(i * 15 + j * 3 + l);
                        if (at(block, k++) != flat) return corruptionError("wrong value");
                        ++seen[static_cast<std::size_t>(flat)];
                    }
            return okStatus();
        }));
        QCOMPARE(chunks, 3 * 3 * 1);
        QVERIFY(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
    void chunkWalkStopsOnCancel() {
        GridSource src(iota({10}), {1});
        CancelToken cancel;
        int calls = 0;
        Status s = src.forEachChunk([&](const Selection&, const Array&) {
            if (++calls == 3) cancel.cancel();
            return okStatus();
        }, &cancel);
        QCOMPARE(s.code(), StatusCode::kCancelled);
        QCOMPARE(calls, 3);
    }
    void cOrderBlocksConcatenateToTheArray() {
        GridSource src(iota({6, 7, 5}), {2, 3, 2});
        for (std::uint64_t maxBlock : {4ULL, 20ULL, 64ULL, 140ULL, 1000ULL, 1ULL << 20}) {
            std::vector<std::int32_t> all;
            CKPT_VERIFY_OK(forEachCOrderBlock(src, maxBlock, [&](std::span<const std::byte> b) {
                const auto n = b.size() / 4;
                const auto old = all.size();
                all.resize(old + n);
                std::memcpy(all.data() + old, b.data(), b.size());
                return okStatus();
            }));
            QCOMPARE(all.size(), std::size_t{210});
            for (std::size_t i = 0; i < all.size(); ++i) QCOMPARE(all[i], static_cast<std::int32_t>(i));
        }
    }
    void elementCountOverflowIsAnError() {
        CKPT_VERIFY_ERROR(checkedElementCount({1LL << 40, 1LL << 40}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(checkedElementCount({-1}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(Array::allocate(DType::kFloat64, {1LL << 61}), StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(Array::allocate(DType::kFloat32, {1024}, 100), StatusCode::kInvalidArgument);
        QCOMPARE(*checkedElementCount({0, 1LL << 62}), std::uint64_t{0});
        QCOMPARE(formatShape({5, 3}), std::string("(5, 3)"));
        QCOMPARE(formatShape({3}), std::string("(3,)"));
        QCOMPARE(formatShape({}), std::string("()"));
    }
};

QTEST_GUILESS_MAIN(TestArraySource)
#include "tst_array_source.moc"
