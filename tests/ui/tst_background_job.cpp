// Tests for runInBackground(): results arrive on the GUI thread, and never at a receiver that
// has been destroyed.
#include <QSignalSpy>
#include <QTest>
#include <QThread>
#include <QThreadPool>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "bridge/background_job.h"

using ckpt::ui::runInBackground;

class TestBackgroundJob : public QObject {
    Q_OBJECT

private slots:
    void deliversResultOnGuiThread() {
        QObject receiver;
        bool delivered = false;
        QThread* deliveredOn = nullptr;
        std::thread::id workedOn;
        runInBackground(
            &receiver,
            [&workedOn] {
                workedOn = std::this_thread::get_id();
                return std::string("done");
            },
            [&](const std::string& result) {
                delivered = result == "done";
                deliveredOn = QThread::currentThread();
            });
        QTRY_VERIFY(delivered);
        QCOMPARE(deliveredOn, QThread::currentThread());
        QVERIFY(workedOn != std::this_thread::get_id());
    }

    void skipsDestroyedReceiver() {
        auto receiver = std::make_unique<QObject>();
        std::atomic<bool> release{false};
        bool called = false;
        runInBackground(
            receiver.get(),
            [&release] {
                while (!release.load()) QThread::msleep(1);
                return 1;
            },
            [&called](int) { called = true; });
        receiver.reset();
        release = true;
        QVERIFY(QThreadPool::globalInstance()->waitForDone(5000));
        QCoreApplication::processEvents();
        QTest::qWait(20);
        QVERIFY(!called);
    }

    void supportsMoveOnlyResults() {
        QObject receiver;
        int value = 0;
        runInBackground(
            &receiver, [] { return std::make_unique<int>(42); },
            [&value](std::unique_ptr<int> result) { value = *result; });
        QTRY_COMPARE(value, 42);
    }
};

QTEST_GUILESS_MAIN(TestBackgroundJob)
#include "tst_background_job.moc"
