// Tests for the display text helpers: byte sizes, grouped counts and plurals.
#include <QTest>

#include "models/display_text.h"

using namespace ckpt::ui;

class TestDisplayText : public QObject {
    Q_OBJECT

private slots:
    void formatsByteSizes_data() {
        QTest::addColumn<quint64>("bytes");
        QTest::addColumn<QString>("expected");
        QTest::newRow("zero") << quint64{0} << "0 B";
        QTest::newRow("small") << quint64{60} << "60 B";
        QTest::newRow("below KiB") << quint64{1023} << "1023 B";
        QTest::newRow("KiB") << quint64{1024} << "1.0 KiB";
        QTest::newRow("MiB") << quint64{1'258'291} << "1.2 MiB";
        QTest::newRow("no 1024.0 KiB") << quint64{1024 * 1024 - 1} << "1.0 MiB";
        QTest::newRow("GiB") << (quint64{3} << 30) << "3.0 GiB";
        QTest::newRow("max") << ~quint64{0} << "16.0 EiB";
    }
    void formatsByteSizes() {
        QFETCH(quint64, bytes);
        QFETCH(QString, expected);
        QCOMPARE(humanBytes(bytes), expected);
    }

    void groupsDigits() {
        QCOMPARE(groupedCount(0), QStringLiteral("0"));
        QCOMPARE(groupedCount(999), QStringLiteral("999"));
        QCOMPARE(groupedCount(1000), QStringLiteral("1,000"));
        QCOMPARE(groupedCount(1234567), QStringLiteral("1,234,567"));
    }

    void choosesSingularOrPlural() {
        QCOMPARE(countedNoun(1, "leaf", "leaves"), QStringLiteral("1 leaf"));
        QCOMPARE(countedNoun(0, "leaf", "leaves"), QStringLiteral("0 leaves"));
        QCOMPARE(countedNoun(12345, "leaf", "leaves"), QStringLiteral("12,345 leaves"));
    }
};

QTEST_APPLESS_MAIN(TestDisplayText)
#include "tst_display_text.moc"
