// runInBackground(): run a core job off the GUI thread and hand its result back to a QObject.
//
// The job runs on QThreadPool::globalInstance(). Its result is delivered by a queued call on the
// application object's (GUI) thread and passed to `then` only if `receiver` still exists at that
// moment, so a closed window never receives a callback. The job itself is not interrupted when the
// receiver goes away; long jobs should poll a CancelToken the receiver cancels in its destructor.
//
// Requirements: a QCoreApplication exists; `receiver` lives on the GUI thread; `work` and `then`
// are copyable (QThreadPool takes a std::function). `work` must not touch `receiver`.
// QCoreApplication's destructor waits for the global pool, so jobs never outlive the application.
#pragma once

#include <QCoreApplication>
#include <QMetaObject>
#include <QObject>
#include <QPointer>
#include <QThreadPool>
#include <memory>
#include <type_traits>
#include <utility>

namespace ckpt::ui {

template <typename Work, typename Then>
void runInBackground(QObject* receiver, Work work, Then then) {
    using ResultType = std::invoke_result_t<Work&>;
    QPointer<QObject> guard(receiver);
    QObject* app = QCoreApplication::instance();
    QThreadPool::globalInstance()->start(
        [guard, app, work = std::move(work), then = std::move(then)]() mutable {
            // Shared so that the queued functor stays copyable even for a move-only ResultType.
            auto result = std::make_shared<ResultType>(work());
            QMetaObject::invokeMethod(
                app,
                [guard, then, result]() mutable {
                    if (guard) then(std::move(*result));
                },
                Qt::QueuedConnection);
        });
}

}  // namespace ckpt::ui
