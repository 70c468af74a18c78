// Tests for statusToUserMessage(): every code has its own sentence and the detail is kept.
#include <QSet>
#include <QTest>

#include "bridge/status_text.h"

using namespace ckpt::ui;

class TestStatusText : public QObject {
    Q_OBJECT

private slots:
    void everyCodeHasItsOwnSummary() {
        const ckpt::StatusCode codes[] = {
            ckpt::StatusCode::kOk,
            ckpt::StatusCode::kCancelled,
            ckpt::StatusCode::kInvalidArgument,
            ckpt::StatusCode::kNotFound,
            ckpt::StatusCode::kAlreadyExists,
            ckpt::StatusCode::kCorruption,
            ckpt::StatusCode::kUnsupported,
            ckpt::StatusCode::kIoError,
            ckpt::StatusCode::kInternal,
        };
        QSet<QString> seen;
        for (ckpt::StatusCode code : codes) {
            const QString summary = statusCodeSummary(code);
            QVERIFY(!summary.isEmpty());
            QVERIFY2(!seen.contains(summary), qPrintable(summary));
            seen.insert(summary);
        }
    }

    void keepsTheStatusMessageAsDetail() {
        const ckpt::Status status =
            ckpt::corruptionError("reading 'params/kernel' of /tmp/x.msgpack: truncated");
        const UserMessage message = statusToUserMessage(status);
        QCOMPARE(message.summary, statusCodeSummary(ckpt::StatusCode::kCorruption));
        QCOMPARE(message.detail,
                 QStringLiteral("reading 'params/kernel' of /tmp/x.msgpack: truncated"));
        QCOMPARE(statusToUserText(status), message.summary + "\n\n" + message.detail);
    }

    void okStatusHasNoDetail() {
        const UserMessage message = statusToUserMessage(ckpt::okStatus());
        QVERIFY(message.detail.isEmpty());
        QCOMPARE(message.text(), message.summary);
    }

    void keepsUtf8InMessages() {
        const ckpt::Status status = ckpt::notFoundError("no file \xc3\xa9t\xc3\xa9.msgpack");
        QCOMPARE(statusToUserMessage(status).detail,
                 QString::fromUtf8("no file \u00e9t\u00e9.msgpack"));
    }
};

QTEST_APPLESS_MAIN(TestStatusText)
#include "tst_status_text.moc"
