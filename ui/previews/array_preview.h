// ArrayPreview: the values of the selected leaf, in tabs Statistics | Histogram | Heatmap | Line |
// Table.
//
// Every read happens on the thread pool (runInBackground), never on the GUI thread. Statistics
// and the histogram are one job (a stats pass, then a binning pass) started by showNode(); the
// heatmap slice, the plotted line and the table page are read when their tab is shown or the
// slice changes.
// Each job has its own CancelToken and generation: showNode(), a new slice or page, the Cancel
// button and the destructor cancel what runs, and a stale or late result is dropped (a destroyed
// preview is never called back). A progress bar and a Cancel button show while anything runs.
//
// Heatmap and Table show a 2-D slice of an N-D array: the slice bar above the tabs picks the row
// and column axes and the indices of the other axes. Line plots a 1-D array, or one row or column
// of that slice (chosen on the Line tab; only that line is read). Scalars and strings show their
// value under Statistics. A failed read shows statusToUserMessage() text.
//
// Ownership: child widgets are owned by Qt; the shown node is shared. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <memory>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"
#include "previews/colormap.h"
#include "previews/preview_data.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableView;
class QCheckBox;

namespace ckpt::ui {

class HeatmapWidget;
class HistogramWidget;
class LinePlotWidget;
class SliceTableModel;

class ArrayPreview final : public QWidget {
    Q_OBJECT

public:
    enum Tab { kStatisticsTab, kHistogramTab, kHeatmapTab, kLineTab, kTableTab };
    enum class RangeMode { kDataMinMax, kPercentiles, kCustom };
    // What the Line tab plots of a 2-D slice: one row (along the column axis) or one column.
    enum class LineAxis { kRow, kColumn };

    // Histogram bins; table page size.
    static constexpr std::size_t kHistogramBins = 128;
    static constexpr int kPageRows = 100;
    static constexpr int kPageCols = 50;

    explicit ArrayPreview(QWidget* parent = nullptr);
    ~ArrayPreview() override;  // cancels running jobs

    // Previews `node` (any kind; containers show a hint). Cancels whatever ran for the last node.
    void showNode(const NodePtr& node, const KeyPath& path);
    // Shows only `hint`, with every data tab disabled.
    void showHint(const QString& hint);
    // The tab shown for leaves that have it (otherwise Heatmap and Line stand in for each other,
    // else Statistics). Choosing a tab by hand sets it too.
    void setPreferredTab(Tab tab);
    // Cancels the running jobs (as the Cancel button does).
    void cancel();

    bool isBusy() const;
    // The Statistics tab as plain text, "Label: value" per line.
    QString statisticsText() const { return m_statsPlain; }
    // The last error shown for this node, or empty.
    QString errorText() const { return m_errorText; }

    QTabWidget* tabs() const { return m_tabs; }
    HistogramWidget* histogramWidget() const { return m_histogram; }
    HeatmapWidget* heatmapWidget() const { return m_heatmap; }
    LinePlotWidget* linePlotWidget() const { return m_line; }
    SliceTableModel* tableModel() const { return m_tableModel; }
    QTableView* tableView() const { return m_tableView; }

    SliceSpec sliceSpec() const { return m_spec; }
    // Changes the shown slice (and the slice bar); rereads what the visible tab needs.
    void setSliceSpec(const SliceSpec& spec);
    // Shows the table page starting at slice row `row0` and column `col0`.
    void setTablePage(std::int64_t row0, std::int64_t col0);
    void setRangeMode(RangeMode mode);
    // The heatmap's colormap (the Heatmap tab's colormap box); colormapChanged() follows a change
    // made here or by the user.
    void setColormap(Colormap map);
    Colormap colormap() const;
    void setCustomRange(double lo, double hi);
    // Copies the table view's selected cells to the clipboard as TSV.
    void copyTableSelection();

    // The line the Line tab plots for rank >= 2 (row 0 for a new leaf). `index` is clamped to the
    // slice's extent; rereads when the Line tab is shown.
    void setLine(LineAxis axis, std::int64_t index);
    LineAxis lineAxis() const { return m_lineAxis; }
    std::int64_t lineIndex() const { return m_lineIndex; }
    // What the Line tab plots for rank >= 2, e.g. "row 3 of axis 1 × axis 2: [2, 3, :]".
    QString lineTitle() const;

    // Lets the table's cells be edited: a typed value becomes cellEditRequested().
    void setCellsEditable(bool editable);

signals:
    // The user typed `text` for the element at `index` (one entry per axis) of the leaf at
    // `path` in the table view.
    void cellEditRequested(const ckpt::KeyPath& path, const std::vector<std::int64_t>& index,
                           const QString& text);
    void statisticsFinished();
    void sliceFinished();
    void lineFinished();
    void pageFinished();
    void colormapChanged(ckpt::ui::Colormap map);

private:
    enum class JobKind { kStats, kSlice, kLine, kPage };
    struct Job {
        std::shared_ptr<CancelToken> cancel;
        std::uint64_t generation = 0;
        bool running = false;
    };

    QWidget* createHeatmapTab();
    QWidget* createTableTab();
    QWidget* createLineTab();
    // Enables the tabs an array of `rank` has (-1: not an array) and shows `current`.
    void setTabs(int rank, int current);
    void rebuildSliceBar();
    void updateSliceBarVisibility();
    void onAxisChosen();
    void ensureTabData();
    void startStats();
    void startSlice();
    void startLine();
    // Extent of the slice along the axis the line index runs over (rows for a row, else columns).
    std::int64_t lineExtent() const;
    void updateLineControls();
    void startPage();
    SliceSpec tableSpec() const;
    Job& job(JobKind kind);
    std::shared_ptr<CancelToken> beginJob(JobKind kind);
    void endJob(JobKind kind);
    void cancelAll();
    ProgressFn progressRelay(JobKind kind, std::uint64_t generation);
    void setJobProgress(JobKind kind, std::uint64_t generation, int percent);
    void updateBusy();
    void showError(const Status& status);
    void setStatistics(const QList<QPair<QString, QString>>& rows, const QString& note = {});
    void applyRange();

    // State of the shown node.
    NodePtr m_node;
    KeyPath m_path;
    ArraySourcePtr m_source;
    SliceSpec m_spec;
    std::int64_t m_pageRow = 0;
    std::int64_t m_pageCol = 0;
    bool m_sliceStale = false;
    bool m_lineStale = false;
    LineAxis m_lineAxis = LineAxis::kRow;
    std::int64_t m_lineIndex = 0;
    bool m_pageStale = false;
    Job m_statsJob;
    Job m_sliceJob;
    Job m_lineJob;
    Job m_pageJob;
    int m_percent = 0;
    int m_preferredTab = kStatisticsTab;
    QString m_statsPlain;
    QString m_errorText;

    // Widgets.
    QLabel* m_message = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QWidget* m_sliceBar = nullptr;
    QComboBox* m_rowAxis = nullptr;
    QComboBox* m_colAxis = nullptr;
    std::vector<QWidget*> m_indexBoxes;  // one per axis: a label+spin box pair
    std::vector<QSpinBox*> m_indexSpins;
    QTabWidget* m_tabs = nullptr;
    QLabel* m_statsLabel = nullptr;
    HistogramWidget* m_histogram = nullptr;
    QCheckBox* m_logCounts = nullptr;
    QLabel* m_histogramHover = nullptr;
    HeatmapWidget* m_heatmap = nullptr;
    QComboBox* m_colormap = nullptr;
    QComboBox* m_rangeMode = nullptr;
    QWidget* m_customRangeRow = nullptr;
    QLineEdit* m_rangeLow = nullptr;
    QLineEdit* m_rangeHigh = nullptr;
    QLabel* m_heatmapHover = nullptr;
    LinePlotWidget* m_line = nullptr;
    QWidget* m_lineControls = nullptr;  // rank >= 2 only
    QComboBox* m_lineAxisCombo = nullptr;
    QSpinBox* m_lineIndexSpin = nullptr;
    QLabel* m_lineTitle = nullptr;
    QLabel* m_lineHover = nullptr;
    SliceTableModel* m_tableModel = nullptr;
    QTableView* m_tableView = nullptr;
    QSpinBox* m_pageRowSpin = nullptr;
    QSpinBox* m_pageColSpin = nullptr;
    QLabel* m_pageLabel = nullptr;
};

}  // namespace ckpt::ui
