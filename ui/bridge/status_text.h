// The one place where a core Status becomes text for a person.
//
// Dialogs, the status bar and the command line all go through statusToUserMessage(), so a code is
// always explained the same way. Pure functions; safe on any thread.
#pragma once

#include <QString>

#include "ckpt/core/status.h"

namespace ckpt::ui {

struct UserMessage {
    QString summary;  // one sentence that says what went wrong, in the user's terms
    QString detail;   // the Status message (file, key path, cause); may be empty

    // summary and detail separated by a blank line.
    QString text() const;
};

// A sentence for each status code ("The file could not be read.").
QString statusCodeSummary(StatusCode code);

// The summary for `status.code()` plus its message as the detail. An OK status gives "Done.".
UserMessage statusToUserMessage(const Status& status);

// statusToUserMessage(status).text().
QString statusToUserText(const Status& status);

}  // namespace ckpt::ui
