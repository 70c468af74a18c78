// RunView: a run over time (Tools › Run Over Time…) — for a run directory (an Orbax
// CheckpointManager root, flax checkpoint_<N> files), a leaf's or subtree's norm, mean, std and
// max |x| across the steps, and which leaves changed most between two steps.
//
// plot() runs ckpt::computeRunSeries on the thread pool: every step's numbers are streamed from
// the checkpoints and arrive one step at a time (the plots grow as they come); a step that fails
// or lacks the key path shows its error in the table and a gap in the plots. Numbers are cached
// per step and leaf (ckpt::StatsCache::shared()), so plotting again, or a subtree whose leaves
// were plotted, reads nothing. compareSteps() runs ckpt::compareRunSteps: the leaves ranked by
// relative change ‖B−A‖/‖A‖ with max |B−A|, and the keys found in one step only. Activating a
// ranked leaf plots it.
//
// The Steps tab lists an Orbax CheckpointManager root's committed steps (commit time, size on
// disk, metrics, items; ckpt::listSteps) and deletes one after a confirmation — and a second one
// when it is the best step by the metric chosen there (ckpt::bestStep, Orbax's best_fn/best_mode
// rule). Deleting renames the step away first (ckpt::deleteManagedStep): a step still being
// written is never listed, so never deleted.
//
// Each plot()/compareSteps() supersedes the previous one of its kind; closing cancels both.
// seriesFinished()/changesFinished() follow each that is not superseded. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/run_series.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTabWidget;
class QTreeWidget;

namespace ckpt::ui {

class SeriesPlot;

class RunView final : public QWidget {
    Q_OBJECT

public:
    // The run at `runRoot`, whose complete steps are `steps` (as written, in order).
    RunView(QString runRoot, std::vector<std::string> steps, QWidget* parent = nullptr);
    ~RunView() override;

    // Plots `path` (a leaf or a subtree) across the steps.
    void plot(const KeyPath& path);
    // Ranks the leaves by how much they changed from step `a` to step `b`.
    void compareSteps(const std::string& a, const std::string& b);

    bool isPlotting() const { return m_plotting; }
    bool isComparing() const { return m_comparing; }
    // The points received so far (all of them once seriesFinished()).
    const std::vector<SeriesPoint>& points() const { return m_points; }
    const std::optional<StepChanges>& changes() const { return m_changes; }
    QString seriesStatusText() const;
    QString changesStatusText() const;

    QLineEdit* keyPathEdit() const { return m_keyPathEdit; }
    QTreeWidget* pointsView() const { return m_pointsView; }
    QTreeWidget* changesView() const { return m_changesView; }
    // ---- Steps (Orbax CheckpointManager roots) ----
    // Lists the committed steps in the background; stepsListed() follows.
    void refreshSteps();
    const std::vector<ManagedStep>& managedSteps() const { return m_managed; }
    // The best step by the metric chosen in the Steps tab (none without a metric).
    std::optional<std::int64_t> bestManagedStep() const;
    // Deletes `step` after confirming (twice for the best step); false when declined or failed
    // (the error is in stepsStatusText()). stepDeleted() and a new listing follow a deletion.
    bool deleteStep(std::int64_t step);
    // How deleteStep() asks (default a QMessageBox question); tests answer for the user.
    using ConfirmFn = std::function<bool(const QString& title, const QString& text)>;
    void setConfirm(ConfirmFn confirm) { m_confirm = std::move(confirm); }
    QString stepsStatusText() const;
    QTreeWidget* stepsView() const { return m_stepsView; }
    QComboBox* bestMetricCombo() const { return m_bestMetric; }
    QComboBox* bestModeCombo() const { return m_bestMode; }
    QTabWidget* tabs() const { return m_tabs; }

    QComboBox* stepACombo() const { return m_stepA; }
    QComboBox* stepBCombo() const { return m_stepB; }
    // Norm, mean, std, max |x|.
    std::vector<SeriesPlot*> plots() const { return m_plots; }

signals:
    void seriesFinished();
    void changesFinished();
    void stepsListed();
    void stepDeleted(qint64 step);

private:
    void addPoint(std::uint64_t generation, SeriesPoint point);
    void refreshPlots();
    void showChanges(const StepChanges& changes);
    QWidget* createStepsTab();
    void showSteps();
    RetentionPolicy bestPolicy() const;

    QString m_root;
    std::vector<std::string> m_steps;
    QLineEdit* m_keyPathEdit = nullptr;
    QLabel* m_seriesStatus = nullptr;
    QLabel* m_changesStatus = nullptr;
    std::vector<SeriesPlot*> m_plots;
    QTreeWidget* m_pointsView = nullptr;
    QTreeWidget* m_changesView = nullptr;
    QComboBox* m_stepA = nullptr;
    QComboBox* m_stepB = nullptr;
    QTabWidget* m_tabs = nullptr;
    QTreeWidget* m_stepsView = nullptr;
    QComboBox* m_bestMetric = nullptr;
    QComboBox* m_bestMode = nullptr;
    QLabel* m_stepsStatus = nullptr;
    std::vector<ManagedStep> m_managed;
    QString m_stepsError;
    bool m_listing = false;
    std::uint64_t m_stepsGeneration = 0;
    ConfirmFn m_confirm;

    std::vector<SeriesPoint> m_points;
    std::optional<StepChanges> m_changes;
    KeyPath m_plotted;
    bool m_plotting = false;
    bool m_comparing = false;
    QString m_seriesError;
    QString m_changesError;
    std::uint64_t m_seriesGeneration = 0;
    std::uint64_t m_changesGeneration = 0;
    std::shared_ptr<CancelToken> m_seriesCancel;
    std::shared_ptr<CancelToken> m_changesCancel;
};

}  // namespace ckpt::ui
