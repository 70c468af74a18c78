#include "views/run_view.h"

#include <QComboBox>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMetaObject>
#include <QPointer>
#include <QPushButton>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <charconv>
#include <utility>

#include "bridge/background_job.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "models/display_text.h"
#include "previews/series_plot.h"

namespace ckpt::ui {

namespace {

constexpr int kKeyPathRole = Qt::UserRole + 1;

QString number(double v) { return QString::number(v, 'g', 6); }

double stepNumber(const std::string& step, double fallback) {
    double value = 0;
    const auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), value);
    return ec == std::errc() && end == step.data() + step.size() ? value : fallback;
}

}  // namespace

RunView::RunView(QString runRoot, std::vector<std::string> steps, QWidget* parent)
    : QWidget(parent), m_root(std::move(runRoot)), m_steps(std::move(steps)) {
    setWindowTitle(tr("Run Over Time \u2014 %1").arg(m_root));

    // ---- The series: a key path, four plots and a table ----
    m_keyPathEdit = new QLineEdit(this);
    m_keyPathEdit->setPlaceholderText(tr("Key path of a leaf or subtree, e.g. default/params"));
    auto* plotButton = new QPushButton(tr("&Plot"), this);
    const auto plotTyped = [this] {
        auto path = parseKeyPath(m_keyPathEdit->text().toStdString());
        if (path.isOk()) plot(*path);
    };
    connect(plotButton, &QPushButton::clicked, this, plotTyped);
    connect(m_keyPathEdit, &QLineEdit::returnPressed, this, plotTyped);
    auto* keyRow = new QHBoxLayout;
    keyRow->addWidget(new QLabel(tr("Key path:"), this));
    keyRow->addWidget(m_keyPathEdit, 1);
    keyRow->addWidget(plotButton);
    m_seriesStatus = new QLabel(this);
    m_seriesStatus->setWordWrap(true);

    auto* grid = new QGridLayout;
    const QString titles[] = {tr("L2 norm"), tr("Mean"), tr("Std"), tr("Max |x|")};
    for (int i = 0; i < 4; ++i) {
        auto* plotWidget = new SeriesPlot(titles[i], this);
        m_plots.push_back(plotWidget);
        grid->addWidget(plotWidget, i / 2, i % 2);
    }
    m_pointsView = new QTreeWidget(this);
    m_pointsView->setRootIsDecorated(false);
    m_pointsView->setUniformRowHeights(true);
    m_pointsView->setMaximumHeight(170);
    m_pointsView->setHeaderLabels(
        {tr("Step"), tr("L2 norm"), tr("Mean"), tr("Std"), tr("Max |x|"), tr("NaN/Inf"), tr("Note")});

    auto* seriesBox = new QWidget(this);
    auto* seriesLayout = new QVBoxLayout(seriesBox);
    seriesLayout->setContentsMargins(0, 0, 0, 0);
    seriesLayout->addLayout(keyRow);
    seriesLayout->addWidget(m_seriesStatus);
    seriesLayout->addLayout(grid, 3);
    seriesLayout->addWidget(m_pointsView, 1);

    // ---- What changed most between two steps ----
    m_stepA = new QComboBox(this);
    m_stepB = new QComboBox(this);
    for (const std::string& step : m_steps) {
        m_stepA->addItem(toQString(step), toQString(step));
        m_stepB->addItem(toQString(step), toQString(step));
    }
    if (m_steps.size() >= 2) {
        m_stepA->setCurrentIndex(static_cast<int>(m_steps.size()) - 2);
        m_stepB->setCurrentIndex(static_cast<int>(m_steps.size()) - 1);
    }
    auto* compareButton = new QPushButton(tr("&Compare"), this);
    connect(compareButton, &QPushButton::clicked, this, [this] {
        compareSteps(m_stepA->currentData().toString().toStdString(),
                     m_stepB->currentData().toString().toStdString());
    });
    auto* stepRow = new QHBoxLayout;
    stepRow->addWidget(new QLabel(tr("What changed most from step"), this));
    stepRow->addWidget(m_stepA);
    stepRow->addWidget(new QLabel(tr("to"), this));
    stepRow->addWidget(m_stepB);
    stepRow->addWidget(compareButton);
    stepRow->addStretch(1);
    m_changesStatus = new QLabel(this);
    m_changesStatus->setWordWrap(true);
    m_changesView = new QTreeWidget(this);
    m_changesView->setRootIsDecorated(false);
    m_changesView->setUniformRowHeights(true);
    m_changesView->header()->setStretchLastSection(false);
    m_changesView->setHeaderLabels({tr("Key path"), tr("\u2016B\u2212A\u2016/\u2016A\u2016"),
                                    tr("Max |B\u2212A|"), tr("\u2016A\u2016"), tr("\u2016B\u2016"),
                                    tr("Elements")});
    connect(m_changesView, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
        auto path = parseKeyPath(item->data(0, kKeyPathRole).toString().toStdString());
        if (!path.isOk() || item->data(0, kKeyPathRole).isNull()) return;
        m_keyPathEdit->setText(toQString(formatKeyPath(*path)));
        plot(*path);
    });
    auto* changesBox = new QWidget(this);
    auto* changesLayout = new QVBoxLayout(changesBox);
    changesLayout->setContentsMargins(0, 0, 0, 0);
    changesLayout->addLayout(stepRow);
    changesLayout->addWidget(m_changesStatus);
    changesLayout->addWidget(m_changesView, 1);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(seriesBox);
    splitter->addWidget(changesBox);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(splitter);
    resize(1000, 820);
}

RunView::~RunView() {
    if (m_seriesCancel) m_seriesCancel->cancel();
    if (m_changesCancel) m_changesCancel->cancel();
}

void RunView::plot(const KeyPath& path) {
    if (m_seriesCancel) m_seriesCancel->cancel();
    const std::uint64_t generation = ++m_seriesGeneration;
    m_seriesCancel = std::make_shared<CancelToken>();
    m_plotting = true;
    m_seriesError.clear();
    m_points.clear();
    m_plotted = path;
    if (m_keyPathEdit->text().isEmpty()) m_keyPathEdit->setText(toQString(formatKeyPath(path)));
    m_pointsView->clear();
    refreshPlots();
    m_seriesStatus->setText(seriesStatusText());
    QPointer<RunView> self(this);
    SeriesOptions options;
    // Each step's point is handed to the GUI thread as soon as it is computed.
    options.onPoint = [self, generation](const SeriesPoint& point) {
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, generation, point] {
                if (self) self->addPoint(generation, point);
            },
            Qt::QueuedConnection);
    };
    runInBackground(
        this,
        [root = toFsPath(m_root), path, options, cancel = m_seriesCancel] {
            return computeRunSeries(root, path, options, cancel.get());
        },
        [this, generation](Result<RunSeries> series) {
            if (generation != m_seriesGeneration) return;
            m_plotting = false;
            if (series.isOk()) {
                // The complete list (points already shown arrived through onPoint first: the
                // queued calls were posted before this result).
                m_points = series->points;
            } else if (series.status().code() == StatusCode::kCancelled) {
                m_seriesError = tr("Cancelled.");
            } else {
                m_seriesError = statusToUserText(series.status());
            }
            m_pointsView->clear();
            for (const SeriesPoint& p : m_points) {
                auto* item = new QTreeWidgetItem(m_pointsView);
                item->setText(0, toQString(p.step));
                if (p.stats) {
                    const SeriesStats& s = *p.stats;
                    item->setText(1, number(s.norm));
                    item->setText(2, number(s.mean));
                    item->setText(3, number(s.std));
                    item->setText(4, number(s.maxAbs));
                    item->setText(5, s.nan + s.inf > 0
                                         ? tr("%1 / %2").arg(groupedCount(s.nan), groupedCount(s.inf))
                                         : QString());
                    if (s.nan + s.inf > 0) item->setForeground(5, QColor(200, 40, 40));
                }
                if (!p.error.empty()) item->setText(6, toQString(p.error));
                if (!p.complete) item->setText(6, tr("incomplete step"));
                for (int c = 1; c <= 4; ++c) item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
            }
            for (int c = 0; c < 6; ++c) m_pointsView->resizeColumnToContents(c);
            refreshPlots();
            m_seriesStatus->setText(seriesStatusText());
            emit seriesFinished();
        });
}

void RunView::addPoint(std::uint64_t generation, SeriesPoint point) {
    if (generation != m_seriesGeneration || !m_plotting) return;
    m_points.push_back(std::move(point));
    refreshPlots();
    m_seriesStatus->setText(seriesStatusText());
}

void RunView::refreshPlots() {
    std::vector<std::vector<SeriesPlot::Point>> series(4);
    for (std::size_t i = 0; i < m_points.size(); ++i) {
        const SeriesPoint& p = m_points[i];
        const double x = stepNumber(p.step, static_cast<double>(i));
        const QString label = toQString(p.step);
        const auto value = [&](double SeriesStats::*field) -> std::optional<double> {
            if (!p.stats) return std::nullopt;
            return (*p.stats).*field;
        };
        series[0].push_back({x, label, value(&SeriesStats::norm)});
        series[1].push_back({x, label, value(&SeriesStats::mean)});
        series[2].push_back({x, label, value(&SeriesStats::std)});
        series[3].push_back({x, label, value(&SeriesStats::maxAbs)});
    }
    for (std::size_t i = 0; i < 4; ++i) m_plots[i]->setPoints(std::move(series[i]));
}

QString RunView::seriesStatusText() const {
    if (!m_seriesError.isEmpty()) return m_seriesError;
    const QString path = toQString(formatKeyPath(m_plotted));
    if (m_plotting) {
        return tr("%1: reading step %2 of %3\u2026")
            .arg(path)
            .arg(m_points.size() + 1)
            .arg(m_steps.size());
    }
    std::size_t failed = 0;
    std::uint64_t leaves = 0;
    for (const SeriesPoint& p : m_points) {
        if (!p.stats) ++failed;
        if (p.stats) leaves = std::max(leaves, p.stats->leaves);
    }
    QString text = tr("%1 over %2 (%3 each)")
                       .arg(path, countedNoun(m_points.size(), tr("step"), tr("steps")),
                            countedNoun(leaves, tr("leaf"), tr("leaves")));
    if (failed > 0) {
        text += tr("; %1 without a value (see the table)")
                    .arg(countedNoun(failed, tr("step"), tr("steps")));
    }
    return text;
}

void RunView::compareSteps(const std::string& a, const std::string& b) {
    if (m_changesCancel) m_changesCancel->cancel();
    const std::uint64_t generation = ++m_changesGeneration;
    m_changesCancel = std::make_shared<CancelToken>();
    m_comparing = true;
    m_changesError.clear();
    m_changes.reset();
    m_changesView->clear();
    m_changesStatus->setText(tr("Comparing step %1 with step %2\u2026").arg(toQString(a), toQString(b)));
    runInBackground(
        this,
        [root = toFsPath(m_root), a, b, cancel = m_changesCancel] {
            return compareRunSteps(root, a, b, ChangesOptions{}, cancel.get());
        },
        [this, generation](Result<StepChanges> changes) {
            if (generation != m_changesGeneration) return;
            m_comparing = false;
            if (!changes.isOk()) {
                m_changesError = statusToUserText(changes.status());
                m_changesStatus->setText(m_changesError);
            } else {
                m_changes = std::move(changes).value();
                showChanges(*m_changes);
            }
            emit changesFinished();
        });
}

QString RunView::changesStatusText() const {
    if (!m_changesError.isEmpty()) return m_changesError;
    if (m_comparing) return tr("Comparing\u2026");
    if (!m_changes) return {};
    const StepChanges& c = *m_changes;
    QString text = tr("Step %1 \u2192 %2: %3 of %4 changed")
                       .arg(toQString(c.stepA), toQString(c.stepB))
                       .arg(groupedCount(c.leavesChanged), groupedCount(c.leavesCompared));
    if (!c.onlyInA.empty() || !c.onlyInB.empty()) {
        text += tr("; %1 only in step %2, %3 only in step %4")
                    .arg(c.onlyInA.size())
                    .arg(toQString(c.stepA))
                    .arg(c.onlyInB.size())
                    .arg(toQString(c.stepB));
    }
    return text + tr(" (double-click a leaf to plot it)");
}

void RunView::showChanges(const StepChanges& changes) {
    m_changesView->clear();
    for (const LeafChange& change : changes.top) {
        auto* item = new QTreeWidgetItem(m_changesView);
        const QString path = toQString(formatKeyPath(change.path));
        item->setText(0, path);
        item->setData(0, kKeyPathRole, path);
        item->setText(1, number(change.relativeChange));
        item->setText(2, number(change.maxAbsDiff));
        item->setText(3, number(change.normA));
        item->setText(4, number(change.normB));
        item->setText(5, groupedCount(change.count));
        for (int c = 1; c <= 5; ++c) item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
    }
    const auto addOnly = [this](const std::vector<DiffEntry>& entries, const QString& where) {
        for (const DiffEntry& e : entries) {
            auto* item = new QTreeWidgetItem(m_changesView);
            item->setText(0, toQString(formatKeyPath(e.path)));
            item->setText(1, where);
            item->setForeground(1, palette().color(QPalette::PlaceholderText));
        }
    };
    addOnly(changes.onlyInA, tr("only in step %1").arg(toQString(changes.stepA)));
    addOnly(changes.onlyInB, tr("only in step %1").arg(toQString(changes.stepB)));
    for (int c = 0; c < 6; ++c) m_changesView->resizeColumnToContents(c);
    m_changesStatus->setText(changesStatusText());
}

}  // namespace ckpt::ui
