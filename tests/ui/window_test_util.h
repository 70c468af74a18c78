// Shared by the MainWindow tool-window tests (compare, conform, health, run view): open a
// checkpoint in a window and wait until its tab shows it.
#pragma once

#include <QSignalSpy>
#include <QString>
#include <QTest>
#include <optional>
#include <string>
#include <utility>

#include "views/main_window.h"

namespace ckpt::test {

inline constexpr int kUiTimeoutMs = 20'000;

// Opens `path` (at `step` of a run directory) and waits for checkpointOpened(); false on a
// refused request or a timeout.
inline bool openAndWait(ui::MainWindow& w, const QString& path,
                        std::optional<std::string> step = {}) {
    QSignalSpy opened(&w, &ui::MainWindow::checkpointOpened);
    if (!w.openPath(path, std::move(step), ui::MainWindow::Recent::kSkip)) return false;
    return QTest::qWaitFor([&] { return !opened.isEmpty(); }, kUiTimeoutMs);
}

}  // namespace ckpt::test
