// HealthView: the GUI of `ckpt doctor` — a checkpoint's health report in a window of its own
// (Tools › Health Check…).
//
// examine() runs ckpt::examineCheckpoint on the thread pool (every array is read, streamed, so it
// shows progress and can be cancelled) for a checkpoint on disk — a tab's edits are not part of
// it. The report shows a verdict (healthy, or how many errors and warnings), the findings
// (severity, code, key path, message; errors first) and the dtype census. Activating a finding
// with a key path emits keyPathActivated() so the window can select that node in its tab.
//
// Each examine() supersedes the previous one; closing cancels. Exactly one of finished() or
// failed() per examine() not superseded. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ckpt/core/cancel.h"
#include "ckpt/core/doctor.h"
#include "ckpt/core/keypath.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTimer;
class QTreeWidget;

namespace ckpt::ui {

class ProgressRelay;

class HealthView final : public QWidget {
    Q_OBJECT

public:
    explicit HealthView(QWidget* parent = nullptr);
    ~HealthView() override;

    // Examines the checkpoint at `path` (`step` of a run directory; default its latest).
    void examine(const QString& path, std::optional<std::string> step = std::nullopt);
    void cancel();
    bool isRunning() const { return m_running; }

    // The last report (empty before the first one finished).
    const std::optional<DoctorReport>& report() const { return m_report; }
    // "Healthy", "2 errors, 1 warning", "Examining…" or the error opening the checkpoint.
    QString verdictText() const;

    QTreeWidget* findingsView() const { return m_findings; }
    QTreeWidget* censusView() const { return m_census; }

signals:
    void finished();
    void failed(const QString& message);
    // A finding's key path was activated (double-click or Enter).
    void keyPathActivated(const ckpt::KeyPath& path);

private:
    void showReport(DoctorReport report);
    void updateProgress();

    QLabel* m_title = nullptr;
    QLabel* m_verdict = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QTreeWidget* m_findings = nullptr;
    QTreeWidget* m_census = nullptr;
    QTimer* m_progressTimer = nullptr;

    std::optional<DoctorReport> m_report;
    std::shared_ptr<ProgressRelay> m_progressState;
    std::shared_ptr<CancelToken> m_cancel;
    std::uint64_t m_generation = 0;
    bool m_running = false;
    QString m_error;
};

}  // namespace ckpt::ui
