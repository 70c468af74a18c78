// Array: the one-read limit's setting, CKPT_MAX_READ_BYTES, as parsed (the front ends refuse to
// start on a value this rejects; see tests/interop/test_bad_input.py for that end to end).

#include "ckpt/core/array.h"
#include "tests/test_util.h"

using namespace ckpt;

class TestArray : public QObject {
    Q_OBJECT
private slots:
    void parsesByteCounts_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<quint64>("bytes");
        QTest::newRow("plain") << "1048576" << quint64{1048576};
        QTest::newRow("K") << "1K" << quint64{1024};
        QTest::newRow("k") << "16k" << quint64{16384};
        QTest::newRow("M") << "3M" << (quint64{3} << 20);
        QTest::newRow("G") << "8G" << (quint64{8} << 30);
        QTest::newRow("t") << "2t" << (quint64{2} << 40);
        QTest::newRow("largest") << "18446744073709551615" << quint64{18446744073709551615ULL};
        QTest::newRow("largest with T") << "16777215T" << (quint64{16777215} << 40);
    }
    void parsesByteCounts() {
        QFETCH(QString, text);
        QFETCH(quint64, bytes);
        const auto parsed = Array::parseMaxReadBytes(text.toStdString());
        CKPT_VERIFY_OK(parsed.status());
        QCOMPARE(quint64{*parsed}, bytes);
    }

    void rejectsWhatIsNotAByteCount_data() {
        QTest::addColumn<QString>("text");
        for (const char* bad : {"", "0", "0K", "-5", "+5", " 5", "5 ", "8GB", "8g0", "x", "1.5G",
                                "18446744073709551616", "16777216T", "99999999999999999999K"}) {
            QTest::newRow(bad[0] ? bad : "empty") << QString::fromLatin1(bad);
        }
    }
    void rejectsWhatIsNotAByteCount() {
        QFETCH(QString, text);
        const auto parsed = Array::parseMaxReadBytes(text.toStdString());
        QCOMPARE(parsed.status().code(), StatusCode::kInvalidArgument);
        const std::string message = parsed.status().message();
        QVERIFY2(message.find("CKPT_MAX_READ_BYTES='" + text.toStdString() + "'") !=
                     std::string::npos,
                 message.c_str());
    }

    void anyByteCountSettingIsNamedInItsError() {
        QCOMPARE(*Array::parseByteCount("CKPT_HDF5_OPEN_MEMORY", "2G"), 2ULL << 30);
        const auto parsed = Array::parseByteCount("CKPT_HDF5_OPEN_MEMORY", "2 GB");
        QCOMPARE(parsed.status().code(), StatusCode::kInvalidArgument);
        QCOMPARE(parsed.status().message(),
                 std::string("CKPT_HDF5_OPEN_MEMORY='2 GB' is not a byte count (a positive number "
                             "with an optional K, M, G or T suffix, such as 8G)"));
    }
};

QTEST_GUILESS_MAIN(TestArray)
#include "tst_array.moc"
