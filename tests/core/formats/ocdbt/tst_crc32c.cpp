#include <cstdint>
#include <string_view>
#include <vector>

#include "formats/ocdbt/crc32c.h"
#include "tests/test_util.h"

using namespace ckpt::ocdbt;

namespace {

std::span<const std::byte> bytesOf(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// Bit-at-a-time reference: the definition, independent of the table code.
std::uint32_t referenceCrc32c(std::span<const std::byte> data) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::byte b : data) {
        c ^= std::to_integer<std::uint32_t>(b);
        for (int i = 0; i < 8; ++i) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

}  // namespace

class TestCrc32c : public QObject {
    Q_OBJECT
private slots:
    void matchesKnownAnswers() {
        QCOMPARE(crc32c(bytesOf("123456789")), 0xE3069283u);
        QCOMPARE(crc32c({}), 0u);
        // RFC 3720 (iSCSI) appendix B.4 test vectors.
        std::vector<std::byte> zeros(32, std::byte{0});
        QCOMPARE(crc32c(zeros), 0x8A9136AAu);
        std::vector<std::byte> ones(32, std::byte{0xFF});
        QCOMPARE(crc32c(ones), 0x62A8AB43u);
        std::vector<std::byte> up, down;
        for (int i = 0; i < 32; ++i) {
            up.push_back(static_cast<std::byte>(i));
            down.push_back(static_cast<std::byte>(31 - i));
        }
        QCOMPARE(crc32c(up), 0x46DD794Eu);
        QCOMPARE(crc32c(down), 0x113FDB5Cu);
    }
    void matchesBitwiseReferenceAtEveryLengthAndAlignment() {
        std::vector<std::byte> data(300);
        std::uint32_t x = 12345;
        for (auto& b : data) {
            x = x * 1103515245u + 12345u;
            b = static_cast<std::byte>(x >> 24);
        }
        for (std::size_t start = 0; start < 9; ++start) {
            for (std::size_t len = 0; start + len <= data.size(); len += 7) {
                const auto part = std::span<const std::byte>(data).subspan(start, len);
                QCOMPARE(crc32c(part), referenceCrc32c(part));
            }
        }
    }
    void extendsAcrossSplits() {
        const std::string_view text = "The quick brown fox jumps over the lazy dog, 0123456789";
        const auto all = bytesOf(text);
        for (std::size_t cut = 0; cut <= all.size(); ++cut) {
            QCOMPARE(crc32cExtend(crc32c(all.first(cut)), all.subspan(cut)), crc32c(all));
        }
    }
};

QTEST_GUILESS_MAIN(TestCrc32c)
#include "tst_crc32c.moc"
