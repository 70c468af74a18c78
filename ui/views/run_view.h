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
// Each plot()/compareSteps() supersedes the previous one of its kind; closing cancels both.
// seriesFinished()/changesFinished() follow each that is not superseded. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/run_series.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
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
    QComboBox* stepACombo() const { return m_stepA; }
    QComboBox* stepBCombo() const { return m_stepB; }
    // Norm, mean, std, max |x|.
    std::vector<SeriesPlot*> plots() const { return m_plots; }

signals:
    void seriesFinished();
    void changesFinished();

private:
    void addPoint(std::uint64_t generation, SeriesPoint point);
    void refreshPlots();
    void showChanges(const StepChanges& changes);

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
