#include "bridge/status_text.h"

#include <QCoreApplication>

namespace ckpt::ui {

QString UserMessage::text() const {
    if (detail.isEmpty()) return summary;
    return summary + QStringLiteral("\n\n") + detail;
}

QString statusCodeSummary(StatusCode code) {
    switch (code) {
        case StatusCode::kOk:
            return QCoreApplication::translate("StatusText", "Done.");
        case StatusCode::kCancelled:
            return QCoreApplication::translate("StatusText", "The operation was cancelled.");
        case StatusCode::kInvalidArgument:
            return QCoreApplication::translate("StatusText", "The request was not valid.");
        case StatusCode::kNotFound:
            return QCoreApplication::translate("StatusText",
                                               "The file, directory or entry was not found.");
        case StatusCode::kAlreadyExists:
            return QCoreApplication::translate("StatusText", "The target already exists.");
        case StatusCode::kCorruption:
            return QCoreApplication::translate(
                "StatusText", "The data is damaged or is not in the format it appears to be.");
        case StatusCode::kUnsupported:
            return QCoreApplication::translate(
                "StatusText",
                "This is not a checkpoint format or feature Checkpoint Studio "
                "supports.");
        case StatusCode::kIoError:
            return QCoreApplication::translate("StatusText",
                                               "The file could not be read or written.");
        case StatusCode::kInternal:
            return QCoreApplication::translate("StatusText",
                                               "Checkpoint Studio ran into an internal error.");
    }
    return QCoreApplication::translate("StatusText", "An unknown error occurred.");
}

UserMessage statusToUserMessage(const Status& status) {
    UserMessage message;
    message.summary = statusCodeSummary(status.code());
    if (!status.isOk()) message.detail = QString::fromStdString(status.message());
    return message;
}

QString statusToUserText(const Status& status) {
    return statusToUserMessage(status).text();
}

}  // namespace ckpt::ui
