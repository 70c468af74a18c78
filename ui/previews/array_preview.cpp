#include "previews/array_preview.h"

#include <QAction>
#include <QApplication>
#include <QByteArray>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QCoreApplication>
#include <QDoubleValidator>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMetaObject>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <utility>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "previews/heatmap_widget.h"
#include "previews/histogram_widget.h"
#include "previews/line_plot_widget.h"
#include "previews/slice_table_model.h"

namespace ckpt::ui {

namespace {

// Heatmap cells at most (per side) and line plot points at most; more is downsampled.
constexpr int kMaxHeatmapCells = 512;
constexpr int kMaxLinePoints = 2048;
// Characters of a string leaf shown under Statistics.
constexpr qsizetype kMaxTextChars = 4000;

QString number(double v) {
    return QString::number(v, 'g', 8);
}

int toSpinValue(std::int64_t v) {
    return static_cast<int>(std::clamp<std::int64_t>(v, 0, INT_MAX));
}

QString axisName(int axis, std::int64_t size) {
    return ArrayPreview::tr("axis %1 (%2)").arg(axis).arg(size);
}

}  // namespace

ArrayPreview::ArrayPreview(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* statusRow = new QHBoxLayout;
    m_message = new QLabel;
    m_message->setObjectName(QStringLiteral("previewMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusRow->addWidget(m_message, 1);
    m_progress = new QProgressBar;
    m_progress->setRange(0, 100);
    m_progress->setMaximumWidth(160);
    m_progress->hide();
    statusRow->addWidget(m_progress);
    m_cancelButton = new QPushButton(tr("Cancel"));
    m_cancelButton->setToolTip(tr("Stop reading this array"));
    m_cancelButton->hide();
    connect(m_cancelButton, &QPushButton::clicked, this, &ArrayPreview::cancel);
    statusRow->addWidget(m_cancelButton);
    layout->addLayout(statusRow);

    m_sliceBar = new QWidget;
    auto* sliceLayout = new QHBoxLayout(m_sliceBar);
    sliceLayout->setContentsMargins(0, 0, 0, 0);
    auto* rowsLabel = new QLabel(tr("&Rows:"));
    m_rowAxis = new QComboBox;
    m_rowAxis->setAccessibleName(tr("Row axis"));
    rowsLabel->setBuddy(m_rowAxis);
    auto* colsLabel = new QLabel(tr("C&olumns:"));
    m_colAxis = new QComboBox;
    m_colAxis->setAccessibleName(tr("Column axis"));
    colsLabel->setBuddy(m_colAxis);
    sliceLayout->addWidget(rowsLabel);
    sliceLayout->addWidget(m_rowAxis);
    sliceLayout->addWidget(colsLabel);
    sliceLayout->addWidget(m_colAxis);
    sliceLayout->addStretch(1);
    connect(m_rowAxis, &QComboBox::activated, this, &ArrayPreview::onAxisChosen);
    connect(m_colAxis, &QComboBox::activated, this, &ArrayPreview::onAxisChosen);
    layout->addWidget(m_sliceBar);

    m_tabs = new QTabWidget;
    m_tabs->setDocumentMode(true);

    m_statsLabel = new QLabel;
    m_statsLabel->setObjectName(QStringLiteral("statistics"));
    m_statsLabel->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_statsLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_statsLabel->setWordWrap(true);
    m_statsLabel->setMargin(8);
    m_tabs->addTab(m_statsLabel, tr("Statistics"));

    auto* histogramTab = new QWidget;
    auto* histogramLayout = new QVBoxLayout(histogramTab);
    histogramLayout->setContentsMargins(4, 4, 4, 4);
    auto* histogramControls = new QHBoxLayout;
    m_logCounts = new QCheckBox(tr("&Log counts"));
    histogramControls->addWidget(m_logCounts);
    m_histogramHover = new QLabel;
    histogramControls->addWidget(m_histogramHover, 1);
    histogramLayout->addLayout(histogramControls);
    m_histogram = new HistogramWidget;
    histogramLayout->addWidget(m_histogram, 1);
    connect(m_logCounts, &QCheckBox::toggled, m_histogram, &HistogramWidget::setLogScale);
    connect(m_histogram, &HistogramWidget::hoverTextChanged, m_histogramHover, &QLabel::setText);
    m_tabs->addTab(histogramTab, tr("Histogram"));

    m_tabs->addTab(createHeatmapTab(), tr("Heatmap"));
    m_tabs->addTab(createLineTab(), tr("Line"));
    m_tabs->addTab(createTableTab(), tr("Table"));
    // Programmatic tab changes happen under a QSignalBlocker, so this is the user's choice.
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        m_preferredTab = index;
        updateSliceBarVisibility();
        ensureTabData();
    });
    layout->addWidget(m_tabs, 1);

    showHint(tr("Select an array to preview its values."));
}

ArrayPreview::~ArrayPreview() {
    cancelAll();
}

QWidget* ArrayPreview::createHeatmapTab() {
    auto* tab = new QWidget;
    auto* layout = new QVBoxLayout(tab);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* controls = new QHBoxLayout;
    m_colormap = new QComboBox;
    m_colormap->setAccessibleName(tr("Colormap"));
    m_colormap->addItem(colormapName(Colormap::kViridis), static_cast<int>(Colormap::kViridis));
    m_colormap->addItem(colormapName(Colormap::kDiverging), static_cast<int>(Colormap::kDiverging));
    m_rangeMode = new QComboBox;
    m_rangeMode->setAccessibleName(tr("Colour range"));
    m_rangeMode->addItem(tr("Min to max"), static_cast<int>(RangeMode::kDataMinMax));
    m_rangeMode->addItem(tr("1st to 99th percentile"), static_cast<int>(RangeMode::kPercentiles));
    m_rangeMode->addItem(tr("Custom"), static_cast<int>(RangeMode::kCustom));
    m_rangeLow = new QLineEdit;
    m_rangeHigh = new QLineEdit;
    for (QLineEdit* edit : {m_rangeLow, m_rangeHigh}) {
        auto* validator = new QDoubleValidator(edit);
        validator->setLocale(QLocale::c());
        edit->setValidator(validator);
        edit->setFixedWidth(edit->fontMetrics().horizontalAdvance(QStringLiteral("-0.000000e-00")) +
                            12);
        edit->setEnabled(false);
        connect(edit, &QLineEdit::editingFinished, this, &ArrayPreview::applyRange);
    }
    m_rangeLow->setAccessibleName(tr("Range low"));
    m_rangeHigh->setAccessibleName(tr("Range high"));
    for (QComboBox* combo : {m_colormap, m_rangeMode}) {
        combo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        combo->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
    }
    controls->addWidget(m_colormap);
    controls->addWidget(new QLabel(tr("Range:")));
    controls->addWidget(m_rangeMode);
    // The typed range has its own row, shown in Custom mode only, to keep the pane narrow.
    m_customRangeRow = new QWidget;
    auto* customLayout = new QHBoxLayout(m_customRangeRow);
    customLayout->setContentsMargins(0, 0, 0, 0);
    customLayout->addWidget(new QLabel(tr("From")));
    customLayout->addWidget(m_rangeLow);
    customLayout->addWidget(new QLabel(tr("to")));
    customLayout->addWidget(m_rangeHigh);
    customLayout->addStretch(1);
    m_customRangeRow->hide();
    auto* legend = new QLabel(
        tr("<span style=\"color:%1\">\u25a0</span> NaN/\u00b1Inf").arg(nonFiniteColor().name()));
    controls->addWidget(legend);
    controls->addStretch(1);
    layout->addLayout(controls);
    layout->addWidget(m_customRangeRow);
    m_heatmap = new HeatmapWidget;
    layout->addWidget(m_heatmap, 1);
    m_heatmapHover = new QLabel;
    m_heatmapHover->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_heatmapHover);
    connect(m_heatmap, &HeatmapWidget::hoverTextChanged, m_heatmapHover, &QLabel::setText);
    connect(m_colormap, &QComboBox::currentIndexChanged, this, [this] {
        m_heatmap->setColormap(colormap());
        emit colormapChanged(colormap());
    });
    connect(m_rangeMode, &QComboBox::currentIndexChanged, this, [this] {
        const bool custom =
            static_cast<RangeMode>(m_rangeMode->currentData().toInt()) == RangeMode::kCustom;
        m_rangeLow->setEnabled(custom);
        m_rangeHigh->setEnabled(custom);
        m_customRangeRow->setVisible(custom);
        applyRange();
    });
    return tab;
}

QWidget* ArrayPreview::createLineTab() {
    auto* tab = new QWidget;
    auto* layout = new QVBoxLayout(tab);
    layout->setContentsMargins(4, 4, 4, 4);
    // For rank >= 2: which row or column of the slice bar's 2-D slice is plotted.
    m_lineControls = new QWidget;
    auto* controls = new QHBoxLayout(m_lineControls);
    controls->setContentsMargins(0, 0, 0, 0);
    auto* plotLabel = new QLabel(tr("&Plot:"));
    m_lineAxisCombo = new QComboBox;
    m_lineAxisCombo->setObjectName(QStringLiteral("lineAxis"));
    m_lineAxisCombo->setAccessibleName(tr("Plot a row or a column"));
    m_lineAxisCombo->addItem(tr("Row"), static_cast<int>(LineAxis::kRow));
    m_lineAxisCombo->addItem(tr("Column"), static_cast<int>(LineAxis::kColumn));
    m_lineAxisCombo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    plotLabel->setBuddy(m_lineAxisCombo);
    m_lineIndexSpin = new QSpinBox;
    m_lineIndexSpin->setObjectName(QStringLiteral("lineIndex"));
    m_lineIndexSpin->setAccessibleName(tr("Row or column to plot"));
    controls->addWidget(plotLabel);
    controls->addWidget(m_lineAxisCombo);
    controls->addWidget(m_lineIndexSpin);
    controls->addStretch(1);
    m_lineControls->hide();
    layout->addWidget(m_lineControls);
    connect(m_lineAxisCombo, &QComboBox::activated, this, [this] {
        setLine(static_cast<LineAxis>(m_lineAxisCombo->currentData().toInt()), m_lineIndex);
    });
    connect(m_lineIndexSpin, &QSpinBox::valueChanged, this,
            [this](int value) { setLine(m_lineAxis, value); });
    m_line = new LinePlotWidget;
    layout->addWidget(m_line, 1);
    m_lineTitle = new QLabel;
    m_lineTitle->setObjectName(QStringLiteral("lineTitle"));
    m_lineTitle->setAlignment(Qt::AlignHCenter);
    m_lineTitle->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_lineTitle->hide();
    layout->addWidget(m_lineTitle);
    m_lineHover = new QLabel;
    layout->addWidget(m_lineHover);
    connect(m_line, &LinePlotWidget::hoverTextChanged, m_lineHover, &QLabel::setText);
    return tab;
}

QWidget* ArrayPreview::createTableTab() {
    auto* tab = new QWidget;
    auto* layout = new QVBoxLayout(tab);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* controls = new QHBoxLayout;
    m_pageRowSpin = new QSpinBox;
    m_pageRowSpin->setSingleStep(kPageRows);
    m_pageRowSpin->setAccessibleName(tr("First row"));
    m_pageColSpin = new QSpinBox;
    m_pageColSpin->setSingleStep(kPageCols);
    m_pageColSpin->setAccessibleName(tr("First column"));
    controls->addWidget(new QLabel(tr("From row")));
    controls->addWidget(m_pageRowSpin);
    controls->addWidget(new QLabel(tr("column")));
    controls->addWidget(m_pageColSpin);
    m_pageLabel = new QLabel;
    controls->addWidget(m_pageLabel, 1);
    layout->addLayout(controls);
    auto pageChanged = [this] { setTablePage(m_pageRowSpin->value(), m_pageColSpin->value()); };
    connect(m_pageRowSpin, &QSpinBox::valueChanged, this, pageChanged);
    connect(m_pageColSpin, &QSpinBox::valueChanged, this, pageChanged);

    m_tableModel = new SliceTableModel(this);
    m_tableView = new QTableView;
    m_tableView->setModel(m_tableModel);
    m_tableView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tableView->horizontalHeader()->setDefaultSectionSize(90);
    m_tableView->verticalHeader()->setDefaultSectionSize(m_tableView->fontMetrics().height() + 4);
    auto* copy = new QAction(tr("&Copy"), m_tableView);
    copy->setShortcut(QKeySequence::Copy);
    copy->setShortcutContext(Qt::WidgetShortcut);
    connect(copy, &QAction::triggered, this, &ArrayPreview::copyTableSelection);
    m_tableView->addAction(copy);
    m_tableView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_tableView->setEditTriggers(QAbstractItemView::DoubleClicked |
                                 QAbstractItemView::EditKeyPressed |
                                 QAbstractItemView::AnyKeyPressed);
    connect(m_tableModel, &SliceTableModel::cellEditRequested, this,
            [this](std::int64_t row, std::int64_t col, const QString& text) {
                if (!m_source) return;
                const Selection cell = m_spec.select(m_source->shape(), row, 1, col, 1);
                emit cellEditRequested(m_path, cell.start, text);
            });
    layout->addWidget(m_tableView, 1);
    return tab;
}

void ArrayPreview::showHint(const QString& hint) {
    cancelAll();
    m_node.reset();
    m_source.reset();
    m_errorText.clear();
    m_message->setText(hint);
    setStatistics({});
    m_statsLabel->setText(hint);
    m_statsPlain = hint;
    m_histogram->clear();
    m_heatmap->clear();
    m_line->clear();
    m_tableModel->clear();
    setTabs(-1, kStatisticsTab);
    m_spec = {};
    rebuildSliceBar();
    updateLineControls();
    updateBusy();
}

void ArrayPreview::setTabs(int rank, int current) {
    // Disabling the current tab moves QTabWidget to another one; that is not the user's choice.
    const QSignalBlocker blocker(m_tabs);
    const bool array = rank >= 0;
    m_tabs->setTabEnabled(kHistogramTab, array);
    m_tabs->setTabEnabled(kHeatmapTab, rank >= 2);
    m_tabs->setTabEnabled(kLineTab, rank >= 1);
    m_tabs->setTabEnabled(kTableTab, array);
    m_tabs->setCurrentIndex(current);
}

void ArrayPreview::setPreferredTab(Tab tab) {
    m_preferredTab = tab;
    if (m_tabs->isTabEnabled(tab)) m_tabs->setCurrentIndex(tab);
}

void ArrayPreview::setCellsEditable(bool editable) { m_tableModel->setEditable(editable); }

void ArrayPreview::showNode(const NodePtr& node, const KeyPath& path) {
    if (!node || node->isContainer()) {
        showHint(node ? tr("Select an array leaf to preview its values.")
                      : tr("Select an array to preview its values."));
        return;
    }
    cancelAll();
    m_node = node;
    m_source = node->kind() == NodeKind::kArray ? node->array() : nullptr;
    m_errorText.clear();
    m_histogram->clear();
    m_heatmap->clear();
    m_line->clear();
    m_tableModel->clear();
    m_message->setText(toQString(formatKeyPath(path)));
    m_path = path;

    // An array whose metadata is read on first use: read it off the GUI thread (as the stats
    // job, so the preview is busy and cancelAll() drops a late result), then show the node.
    ArraySourcePtr pending;
    if (m_source && !m_source->metadataLoaded()) pending = std::exchange(m_source, nullptr);

    if (pending) {
        setTabs(-1, kStatisticsTab);
        m_spec = {};
        rebuildSliceBar();
        updateLineControls();
        beginJob(JobKind::kStats);
        const std::uint64_t generation = m_statsJob.generation;
        setStatistics({{tr("Status"), tr("reading metadata\u2026")}});
        runInBackground(
            this, [pending] { return pending->metadataStatus(); },
            [this, generation, node, path](const Status& /*loaded*/) {
                if (generation != m_statsJob.generation) return;
                endJob(JobKind::kStats);
                showNode(node, path);  // loaded now: shows the array or its error
            });
        return;
    }
    if (m_source) {
        if (const Status error = m_source->metadataStatus(); !error.isOk()) {
            // Missing or corrupt array metadata (the source is loaded: this does not block).
            m_source = nullptr;
            setTabs(-1, kStatisticsTab);
            m_spec = {};
            rebuildSliceBar();
            updateLineControls();
            m_errorText = tr("Could not read the leaf %1.").arg(toQString(formatKeyPath(path))) +
                          QStringLiteral("\n\n") + statusToUserText(error);
            m_message->setText(m_errorText);
            setStatistics({{tr("Kind"), tr("unreadable leaf")}});
            updateBusy();
            return;
        }
    }

    if (!m_source) {
        setTabs(-1, kStatisticsTab);
        m_spec = {};
        rebuildSliceBar();
        updateLineControls();
        switch (node->kind()) {
            case NodeKind::kScalar:
                startStats();  // loads a lazy scalar off the GUI thread
                break;
            case NodeKind::kString: {
                const QString text = toQString(node->text());
                setStatistics({{tr("Kind"), tr("string")},
                               {tr("Length"), QString::number(text.size())},
                               {tr("Value"), text.left(kMaxTextChars)}});
                break;
            }
            case NodeKind::kBytes:
                setStatistics(
                    {{tr("Kind"), tr("bytes")},
                     {tr("Length"), QString::number(node->text().size())},
                     {tr("Value"),
                      QString::fromLatin1(
                          QByteArray::fromStdString(node->text().substr(0, 64)).toHex(' '))}});
                break;
            default: {
                // A leaf the reader could not open (missing or corrupt array metadata) arrives as
                // None carrying an "error" attribute: show that error, not a plain None.
                const auto& attributes = node->attributes();
                const auto error =
                    std::find_if(attributes.begin(), attributes.end(),
                                 [](const auto& attribute) { return attribute.first == "error"; });
                if (error == attributes.end()) {
                    setStatistics({{tr("Kind"), tr("None")}});
                    break;
                }
                m_errorText =
                    tr("Could not read the leaf %1.").arg(toQString(formatKeyPath(path))) +
                    QStringLiteral("\n\n") + toQString(error->second);
                m_message->setText(m_errorText);
                setStatistics({{tr("Kind"), tr("unreadable leaf")}});
                break;
            }
        }
        updateBusy();
        return;
    }

    const Shape& shape = m_source->shape();
    const std::size_t rank = shape.size();
    int tab = m_preferredTab;
    if (tab == kHeatmapTab && rank < 2) tab = rank == 1 ? kLineTab : kStatisticsTab;
    if (tab == kLineTab && rank == 0) tab = kStatisticsTab;
    m_spec = SliceSpec::defaultFor(shape);
    m_pageRow = 0;
    m_pageCol = 0;
    m_lineAxis = LineAxis::kRow;
    m_lineIndex = 0;
    rebuildSliceBar();
    updateLineControls();
    m_sliceStale = true;
    m_lineStale = true;
    m_pageStale = true;
    startStats();
    setTabs(static_cast<int>(rank), tab);
    updateSliceBarVisibility();
    ensureTabData();
}

void ArrayPreview::rebuildSliceBar() {
    auto* layout = static_cast<QHBoxLayout*>(m_sliceBar->layout());
    for (QWidget* box : m_indexBoxes) delete box;
    m_indexBoxes.clear();
    m_indexSpins.clear();
    const QSignalBlocker rowBlocker(m_rowAxis);
    const QSignalBlocker colBlocker(m_colAxis);
    m_rowAxis->clear();
    m_colAxis->clear();
    if (!m_source || m_source->shape().size() < 2) {
        updateSliceBarVisibility();
        return;
    }
    const Shape& shape = m_source->shape();
    for (std::size_t d = 0; d < shape.size(); ++d) {
        m_rowAxis->addItem(axisName(static_cast<int>(d), shape[d]));
        m_colAxis->addItem(axisName(static_cast<int>(d), shape[d]));
        auto* box = new QWidget;
        auto* boxLayout = new QHBoxLayout(box);
        boxLayout->setContentsMargins(0, 0, 0, 0);
        auto* label = new QLabel(tr("axis %1:").arg(d));
        auto* spin = new QSpinBox;
        spin->setRange(0, toSpinValue(shape[d] - 1));
        spin->setValue(toSpinValue(m_spec.index[d]));
        spin->setAccessibleName(tr("Index along axis %1").arg(d));
        label->setBuddy(spin);
        boxLayout->addWidget(label);
        boxLayout->addWidget(spin);
        connect(spin, &QSpinBox::valueChanged, this, [this, d](int value) {
            SliceSpec spec = m_spec;
            spec.index[d] = value;
            setSliceSpec(spec);
        });
        layout->insertWidget(layout->count() - 1, box);
        m_indexBoxes.push_back(box);
        m_indexSpins.push_back(spin);
    }
    m_rowAxis->setCurrentIndex(m_spec.rowAxis);
    m_colAxis->setCurrentIndex(m_spec.colAxis);
    for (std::size_t d = 0; d < shape.size(); ++d) {
        const int axis = static_cast<int>(d);
        m_indexBoxes[d]->setVisible(axis != m_spec.rowAxis && axis != m_spec.colAxis);
    }
    updateSliceBarVisibility();
}

void ArrayPreview::updateSliceBarVisibility() {
    const int tab = m_tabs->currentIndex();
    m_sliceBar->setVisible(m_source && m_source->shape().size() >= 2 &&
                           (tab == kHeatmapTab || tab == kLineTab || tab == kTableTab));
}

void ArrayPreview::onAxisChosen() {
    SliceSpec spec = m_spec;
    const int row = m_rowAxis->currentIndex();
    const int col = m_colAxis->currentIndex();
    // Choosing the other combo's axis swaps the two.
    if (row == col) {
        if (sender() == m_rowAxis) {
            spec.colAxis = m_spec.rowAxis;
            spec.rowAxis = row;
        } else {
            spec.rowAxis = m_spec.colAxis;
            spec.colAxis = col;
        }
    } else {
        spec.rowAxis = row;
        spec.colAxis = col;
    }
    setSliceSpec(spec);
}

void ArrayPreview::setSliceSpec(const SliceSpec& spec) {
    if (!m_source || !spec.validate(m_source->shape()).isOk()) return;
    // A line spec (rowAxis -1) is internal to the Line tab; the slice bar shows a 2-D slice.
    if (m_source->shape().size() >= 2 && spec.rowAxis < 0) return;
    const bool axesChanged = spec.rowAxis != m_spec.rowAxis || spec.colAxis != m_spec.colAxis;
    m_spec = spec;
    if (axesChanged) {
        rebuildSliceBar();
    } else {
        for (std::size_t d = 0; d < m_indexSpins.size(); ++d) {
            const QSignalBlocker blocker(m_indexSpins[d]);
            m_indexSpins[d]->setValue(toSpinValue(m_spec.index[d]));
        }
    }
    m_pageRow = 0;
    m_pageCol = 0;
    m_lineIndex = std::min(m_lineIndex, std::max<std::int64_t>(lineExtent() - 1, 0));
    updateLineControls();
    m_sliceStale = true;
    m_lineStale = true;
    m_pageStale = true;
    ensureTabData();
}

void ArrayPreview::setLine(LineAxis axis, std::int64_t index) {
    if (!m_source || m_source->shape().size() < 2) return;
    const bool sameAxis = axis == m_lineAxis;
    m_lineAxis = axis;
    index = std::clamp<std::int64_t>(index, 0, std::max<std::int64_t>(lineExtent() - 1, 0));
    if (sameAxis && index == m_lineIndex) return;
    m_lineIndex = index;
    updateLineControls();
    m_lineStale = true;
    ensureTabData();
}

std::int64_t ArrayPreview::lineExtent() const {
    if (!m_source || m_source->shape().size() < 2) return 0;
    const Shape& shape = m_source->shape();
    return m_lineAxis == LineAxis::kRow ? m_spec.rows(shape) : m_spec.cols(shape);
}

QString ArrayPreview::lineTitle() const {
    if (!m_source || m_source->shape().size() < 2) return {};
    // The line as a numpy index: fixed axes at their index, ":" along the plotted axis.
    const SliceSpec line =
        m_lineAxis == LineAxis::kRow ? m_spec.row(m_lineIndex) : m_spec.column(m_lineIndex);
    QStringList parts;
    for (std::size_t d = 0; d < line.index.size(); ++d) {
        parts.append(static_cast<int>(d) == line.colAxis ? QStringLiteral(":")
                                                         : QString::number(line.index[d]));
    }
    return tr("%1 %2 of axis %3 \u00d7 axis %4: [%5]")
        .arg(m_lineAxis == LineAxis::kRow ? tr("row") : tr("column"))
        .arg(m_lineIndex)
        .arg(m_spec.rowAxis)
        .arg(m_spec.colAxis)
        .arg(parts.join(QStringLiteral(", ")));
}

void ArrayPreview::updateLineControls() {
    const bool show = m_source && m_source->shape().size() >= 2;
    m_lineControls->setVisible(show);
    m_lineTitle->setVisible(show);
    if (!show) {
        m_lineTitle->clear();
        return;
    }
    {
        const QSignalBlocker comboBlocker(m_lineAxisCombo);
        const QSignalBlocker spinBlocker(m_lineIndexSpin);
        m_lineAxisCombo->setCurrentIndex(m_lineAxisCombo->findData(static_cast<int>(m_lineAxis)));
        m_lineIndexSpin->setRange(0, toSpinValue(std::max<std::int64_t>(lineExtent() - 1, 0)));
        m_lineIndexSpin->setValue(toSpinValue(m_lineIndex));
    }
    m_lineTitle->setText(lineTitle());
}

void ArrayPreview::setTablePage(std::int64_t row0, std::int64_t col0) {
    if (!m_source) return;
    if (row0 == m_pageRow && col0 == m_pageCol && !m_pageStale) return;
    m_pageRow = row0;
    m_pageCol = col0;
    m_pageStale = true;
    ensureTabData();
}

void ArrayPreview::ensureTabData() {
    if (!m_source) return;
    const int tab = m_tabs->currentIndex();
    if (m_sliceStale && tab == kHeatmapTab) startSlice();
    if (m_lineStale && tab == kLineTab) startLine();
    if (m_pageStale && tab == kTableTab) startPage();
}

ArrayPreview::Job& ArrayPreview::job(JobKind kind) {
    switch (kind) {
        case JobKind::kStats:
            return m_statsJob;
        case JobKind::kSlice:
            return m_sliceJob;
        case JobKind::kLine:
            return m_lineJob;
        case JobKind::kPage:
            break;
    }
    return m_pageJob;
}

std::shared_ptr<CancelToken> ArrayPreview::beginJob(JobKind kind) {
    Job& j = job(kind);
    if (j.cancel) j.cancel->cancel();
    j.cancel = std::make_shared<CancelToken>();
    ++j.generation;
    j.running = true;
    m_percent = 0;
    updateBusy();
    return j.cancel;
}

void ArrayPreview::endJob(JobKind kind) {
    job(kind).running = false;
    updateBusy();
}

void ArrayPreview::cancelAll() {
    for (Job* j : {&m_statsJob, &m_sliceJob, &m_lineJob, &m_pageJob}) {
        if (j->cancel) j->cancel->cancel();
        ++j->generation;  // drops any late result
        j->running = false;
    }
    if (m_progress) updateBusy();
}

void ArrayPreview::cancel() {
    bool any = false;
    for (Job* j : {&m_statsJob, &m_sliceJob, &m_lineJob, &m_pageJob}) {
        if (j->running && j->cancel) {
            j->cancel->cancel();
            any = true;
        }
    }
    if (any) m_message->setText(tr("Cancelling\u2026"));
}

ProgressFn ArrayPreview::progressRelay(JobKind kind, std::uint64_t generation) {
    QPointer<ArrayPreview> guard(this);
    QObject* app = QCoreApplication::instance();
    auto last = std::make_shared<std::atomic<int>>(-1);
    return [guard, app, kind, generation, last](std::uint64_t done, std::uint64_t total) {
        const int percent =
            total == 0
                ? 100
                : static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
        if (last->exchange(percent) == percent) return;  // at most 101 updates per job
        QMetaObject::invokeMethod(
            app,
            [guard, kind, generation, percent] {
                if (guard) guard->setJobProgress(kind, generation, percent);
            },
            Qt::QueuedConnection);
    };
}

void ArrayPreview::setJobProgress(JobKind kind, std::uint64_t generation, int percent) {
    const Job& j = job(kind);
    if (!j.running || j.generation != generation) return;
    m_percent = percent;
    m_progress->setValue(percent);
}

bool ArrayPreview::isBusy() const {
    return m_statsJob.running || m_sliceJob.running || m_lineJob.running || m_pageJob.running;
}

void ArrayPreview::updateBusy() {
    const bool busy = isBusy();
    m_progress->setVisible(busy);
    m_cancelButton->setVisible(busy);
    if (busy) {
        m_progress->setValue(m_percent);
        const QString what = m_statsJob.running   ? tr("Computing statistics\u2026")
                             : m_sliceJob.running ? tr("Reading the slice\u2026")
                             : m_lineJob.running  ? tr("Reading the line\u2026")
                                                  : tr("Reading the table page\u2026");
        m_message->setText(what);
    }
}

void ArrayPreview::showError(const Status& status) {
    if (status.code() == StatusCode::kCancelled) {
        m_message->setText(tr("Cancelled. Select the leaf again to recompute."));
        return;
    }
    m_errorText =
        tr("Could not read this array.") + QStringLiteral("\n\n") + statusToUserText(status);
    m_message->setText(m_errorText);
}

void ArrayPreview::setStatistics(const QList<QPair<QString, QString>>& rows, const QString& note) {
    QStringList plain;
    QString html = QStringLiteral("<table cellspacing=\"2\">");
    for (const auto& [label, value] : rows) {
        plain.append(label + QStringLiteral(": ") + value);
        html += QStringLiteral("<tr><td><b>%1:</b>&nbsp;&nbsp;</td><td>%2</td></tr>")
                    .arg(label.toHtmlEscaped(), value.toHtmlEscaped());
    }
    html += QStringLiteral("</table>");
    if (!note.isEmpty()) {
        plain.append(note);
        html += QStringLiteral("<p><i>%1</i></p>").arg(note.toHtmlEscaped());
    }
    m_statsPlain = plain.join(QLatin1Char('\n'));
    m_statsLabel->setText(html);
}

void ArrayPreview::startStats() {
    const std::shared_ptr<CancelToken> token = beginJob(JobKind::kStats);
    const std::uint64_t generation = m_statsJob.generation;
    setStatistics({{tr("Status"), tr("computing\u2026")}});
    if (!m_source) {
        runInBackground(
            this, [node = m_node] { return node->loadScalar(); },
            [this, generation](Result<Scalar> scalar) {
                if (generation != m_statsJob.generation) return;
                endJob(JobKind::kStats);
                if (!scalar.isOk()) {
                    showError(scalar.status());
                    setStatistics({{tr("Value"), tr("unreadable")}});
                } else {
                    setStatistics({{tr("Kind"), tr("scalar")},
                                   {tr("DType"), toQString(dtypeName(scalar->dtype()))},
                                   {tr("Value"), toQString(scalar->toText())}});
                }
                emit statisticsFinished();
            });
        return;
    }
    runInBackground(
        this,
        [source = m_source, token, progress = progressRelay(JobKind::kStats, generation)] {
            return computeHistogram(*source, kHistogramBins, token.get(), progress);
        },
        [this, generation](Result<Histogram> result) {
            if (generation != m_statsJob.generation) return;
            endJob(JobKind::kStats);
            if (!result.isOk()) {
                showError(result.status());
                setStatistics({{tr("Status"), result.status().code() == StatusCode::kCancelled
                                                  ? tr("cancelled")
                                                  : tr("unreadable")}});
                emit statisticsFinished();
                return;
            }
            const ArrayStats& s = result->stats;
            const bool any = s.finite > 0;
            setStatistics(
                {{tr("Elements"), QString::number(s.count)},
                 {tr("Finite"), QString::number(s.finite)},
                 {tr("NaN"), QString::number(s.nan)},
                 {tr("+Inf"), QString::number(s.posInf)},
                 {tr("\u2212Inf"), QString::number(s.negInf)},
                 {tr("Zeros"), QString::number(s.zeros)},
                 {tr("Min"), any ? number(s.min) : tr("n/a")},
                 {tr("Max"), any ? number(s.max) : tr("n/a")},
                 {tr("Mean"), any ? number(s.mean) : tr("n/a")},
                 {tr("Std"), any ? number(s.std) : tr("n/a")}},
                isComplex(m_source->dtype())
                    ? tr("Complex values: statistics and histogram are over the magnitude |z|.")
                    : QString());
            m_histogram->setHistogram(std::move(result).value());
            if (!isBusy() && m_errorText.isEmpty()) m_message->clear();
            emit statisticsFinished();
        });
}

void ArrayPreview::startSlice() {
    m_sliceStale = false;
    const std::shared_ptr<CancelToken> token = beginJob(JobKind::kSlice);
    const std::uint64_t generation = m_sliceJob.generation;
    runInBackground(
        this,
        [source = m_source, spec = m_spec, token,
         progress = progressRelay(JobKind::kSlice, generation)] {
            return readSliceImage(*source, spec, kMaxHeatmapCells, kMaxHeatmapCells, token.get(),
                                  progress);
        },
        [this, generation](Result<SliceImage> result) {
            if (generation != m_sliceJob.generation) return;
            endJob(JobKind::kSlice);
            if (!result.isOk()) {
                showError(result.status());
                m_sliceStale = result.status().code() == StatusCode::kCancelled;
                emit sliceFinished();
                return;
            }
            m_heatmap->setImage(std::move(result).value());
            applyRange();
            if (!isBusy() && m_errorText.isEmpty()) m_message->clear();
            emit sliceFinished();
        });
}

void ArrayPreview::startLine() {
    m_lineStale = false;
    const Shape& shape = m_source->shape();
    // A 1-D array is its own line; otherwise one row or column of the slice, read alone.
    SliceSpec spec = m_spec;
    if (shape.size() >= 2) {
        if (lineExtent() == 0) {  // an empty slice has no line to read
            m_line->clear();
            emit lineFinished();
            return;
        }
        spec = m_lineAxis == LineAxis::kRow ? m_spec.row(m_lineIndex) : m_spec.column(m_lineIndex);
    }
    const std::shared_ptr<CancelToken> token = beginJob(JobKind::kLine);
    const std::uint64_t generation = m_lineJob.generation;
    runInBackground(
        this,
        [source = m_source, spec = std::move(spec), token,
         progress = progressRelay(JobKind::kLine, generation)] {
            return readSliceImage(*source, spec, 1, kMaxLinePoints, token.get(), progress);
        },
        [this, generation](Result<SliceImage> result) {
            if (generation != m_lineJob.generation) return;
            endJob(JobKind::kLine);
            if (!result.isOk()) {
                showError(result.status());
                m_lineStale = result.status().code() == StatusCode::kCancelled;
                emit lineFinished();
                return;
            }
            m_line->setImage(std::move(result).value());
            if (!isBusy() && m_errorText.isEmpty()) m_message->clear();
            emit lineFinished();
        });
}

SliceSpec ArrayPreview::tableSpec() const {
    // A 1-D array reads better as one column than as one very wide row.
    if (m_source && m_source->shape().size() == 1) return {0, -1, {0}};
    return m_spec;
}

void ArrayPreview::startPage() {
    m_pageStale = false;
    const std::shared_ptr<CancelToken> token = beginJob(JobKind::kPage);
    const std::uint64_t generation = m_pageJob.generation;
    runInBackground(
        this,
        [source = m_source, spec = tableSpec(), token, row0 = m_pageRow, col0 = m_pageCol] {
            return readTablePage(*source, spec, row0, col0, kPageRows, kPageCols, token.get());
        },
        [this, generation](Result<TablePage> result) {
            if (generation != m_pageJob.generation) return;
            endJob(JobKind::kPage);
            if (!result.isOk()) {
                showError(result.status());
                m_pageStale = result.status().code() == StatusCode::kCancelled;
                emit pageFinished();
                return;
            }
            const TablePage& page = *result;
            {
                const QSignalBlocker rowBlocker(m_pageRowSpin);
                const QSignalBlocker colBlocker(m_pageColSpin);
                m_pageRowSpin->setRange(0,
                                        toSpinValue(std::max<std::int64_t>(page.totalRows - 1, 0)));
                m_pageColSpin->setRange(0,
                                        toSpinValue(std::max<std::int64_t>(page.totalCols - 1, 0)));
                m_pageRowSpin->setValue(toSpinValue(page.row0));
                m_pageColSpin->setValue(toSpinValue(page.col0));
            }
            m_pageLabel->setText(tr("rows %1\u2013%2, columns %3\u2013%4 of %5 \u00d7 %6")
                                     .arg(page.row0)
                                     .arg(page.row0 + page.rows - 1)
                                     .arg(page.col0)
                                     .arg(page.col0 + page.cols - 1)
                                     .arg(page.totalRows)
                                     .arg(page.totalCols));
            m_tableModel->setPage(std::move(result).value());
            m_tableView->resizeColumnsToContents();  // one page: at most kPageCols columns
            if (!isBusy() && m_errorText.isEmpty()) m_message->clear();
            emit pageFinished();
        });
}

void ArrayPreview::setColormap(Colormap map) {
    const int index = m_colormap->findData(static_cast<int>(map));
    if (index >= 0) m_colormap->setCurrentIndex(index);
}

Colormap ArrayPreview::colormap() const {
    return static_cast<Colormap>(m_colormap->currentData().toInt());
}

void ArrayPreview::setRangeMode(RangeMode mode) {
    m_rangeMode->setCurrentIndex(m_rangeMode->findData(static_cast<int>(mode)));
}

void ArrayPreview::setCustomRange(double lo, double hi) {
    m_rangeLow->setText(QString::number(lo, 'g', 10));
    m_rangeHigh->setText(QString::number(hi, 'g', 10));
    setRangeMode(RangeMode::kCustom);
    applyRange();
}

void ArrayPreview::applyRange() {
    const SliceImage& image = m_heatmap->image();
    double lo = image.hasFinite ? image.min : 0;
    double hi = image.hasFinite ? image.max : 1;
    switch (static_cast<RangeMode>(m_rangeMode->currentData().toInt())) {
        case RangeMode::kDataMinMax:
            break;
        case RangeMode::kPercentiles:
            if (image.hasFinite) {
                lo = image.p01;
                hi = image.p99;
            }
            break;
        case RangeMode::kCustom: {
            bool okLow = false;
            bool okHigh = false;
            const double low = QLocale::c().toDouble(m_rangeLow->text(), &okLow);
            const double high = QLocale::c().toDouble(m_rangeHigh->text(), &okHigh);
            if (okLow && okHigh && std::isfinite(low) && std::isfinite(high) && high > low) {
                lo = low;
                hi = high;
            }
            break;
        }
    }
    if (!(m_rangeLow->isEnabled())) {
        m_rangeLow->setText(QString::number(lo, 'g', 6));
        m_rangeHigh->setText(QString::number(hi, 'g', 6));
    }
    m_heatmap->setRange(lo, hi);
}

void ArrayPreview::copyTableSelection() {
    const QModelIndexList indexes = m_tableView->selectionModel()->selectedIndexes();
    if (indexes.isEmpty()) return;
    QApplication::clipboard()->setText(m_tableModel->toTsv(indexes));
}

}  // namespace ckpt::ui
