#include "views/run_view.h"

#include <QComboBox>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QDateTime>
#include <QLineEdit>
#include <QMessageBox>
#include <QMetaObject>
#include <QPointer>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTabWidget>
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
    m_tabs = new QTabWidget(this);
    m_tabs->addTab(splitter, tr("&Over Time"));
    m_tabs->addTab(createStepsTab(), tr("&Steps"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_tabs);
    m_confirm = [this](const QString& title, const QString& text) {
        return QMessageBox::question(this, title, text) == QMessageBox::Yes;
    };
    resize(1000, 820);
    refreshSteps();
}

QWidget* RunView::createStepsTab() {
    auto* tab = new QWidget(this);
    m_bestMetric = new QComboBox(tab);
    m_bestMetric->addItem(tr("(no metric)"));
    m_bestMode = new QComboBox(tab);
    m_bestMode->addItem(tr("max is best"), static_cast<int>(BestMode::kMax));
    m_bestMode->addItem(tr("min is best"), static_cast<int>(BestMode::kMin));
    connect(m_bestMetric, &QComboBox::currentIndexChanged, this, &RunView::showSteps);
    connect(m_bestMode, &QComboBox::currentIndexChanged, this, &RunView::showSteps);
    auto* bestRow = new QHBoxLayout;
    bestRow->addWidget(new QLabel(tr("Best step by"), tab));
    bestRow->addWidget(m_bestMetric);
    bestRow->addWidget(m_bestMode);
    bestRow->addStretch(1);
    m_stepsStatus = new QLabel(tab);
    m_stepsStatus->setWordWrap(true);
    m_stepsView = new QTreeWidget(tab);
    m_stepsView->setRootIsDecorated(false);
    m_stepsView->setUniformRowHeights(true);
    m_stepsView->setHeaderLabels(
        {tr("Step"), tr("Committed"), tr("Size"), tr("Metrics"), tr("Items"), QString()});
    auto* deleteButton = new QPushButton(tr("&Delete Step\u2026"), tab);
    connect(deleteButton, &QPushButton::clicked, this, [this] {
        const QTreeWidgetItem* item = m_stepsView->currentItem();
        if (item) deleteStep(item->data(0, Qt::UserRole).toLongLong());
    });
    auto* refreshButton = new QPushButton(tr("&Refresh"), tab);
    connect(refreshButton, &QPushButton::clicked, this, &RunView::refreshSteps);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(deleteButton);
    buttons->addWidget(refreshButton);
    buttons->addStretch(1);
    auto* layout = new QVBoxLayout(tab);
    layout->addLayout(bestRow);
    layout->addWidget(m_stepsStatus);
    layout->addWidget(m_stepsView, 1);
    layout->addLayout(buttons);
    return tab;
}

void RunView::refreshSteps() {
    const std::uint64_t generation = ++m_stepsGeneration;
    m_listing = true;
    m_stepsStatus->setText(tr("Listing steps\u2026"));
    runInBackground(
        this, [root = toFsPath(m_root)] { return listSteps(root); },
        [this, generation](Result<std::vector<ManagedStep>> listed) {
            if (generation != m_stepsGeneration) return;
            m_listing = false;
            if (listed.isOk()) {
                m_managed = std::move(listed).value();
                m_stepsError.clear();
            } else {
                m_managed.clear();
                m_stepsError = statusToUserText(listed.status());
            }
            // The metric names found in any step, keeping the chosen one.
            const QString chosen = m_bestMetric->currentIndex() > 0 ? m_bestMetric->currentText()
                                                                    : QString();
            QStringList names;
            for (const ManagedStep& step : m_managed) {
                if (!step.metrics) continue;
                for (const auto& [name, value] : *step.metrics) {
                    if (!names.contains(toQString(name))) names.append(toQString(name));
                }
            }
            {
                const QSignalBlocker block(m_bestMetric);
                m_bestMetric->clear();
                m_bestMetric->addItem(tr("(no metric)"));
                m_bestMetric->addItems(names);
                const int at = m_bestMetric->findText(chosen);
                m_bestMetric->setCurrentIndex(at > 0 ? at : (names.isEmpty() ? 0 : 1));
            }
            showSteps();
            emit stepsListed();
        });
}

RetentionPolicy RunView::bestPolicy() const {
    RetentionPolicy policy;
    if (m_bestMetric->currentIndex() > 0) {
        policy.bestMetric = m_bestMetric->currentText().toStdString();
        policy.bestMode = static_cast<BestMode>(m_bestMode->currentData().toInt());
    }
    return policy;
}

std::optional<std::int64_t> RunView::bestManagedStep() const {
    const RetentionPolicy policy = bestPolicy();
    if (!policy.bestMetric) return std::nullopt;
    return ckpt::bestStep(m_managed, policy);
}

QString RunView::stepsStatusText() const {
    if (!m_stepsError.isEmpty()) return m_stepsError;
    if (m_listing) return tr("Listing steps\u2026");
    QString text = tr("%1 committed").arg(countedNoun(m_managed.size(), tr("step"), tr("steps")));
    if (const auto best = bestManagedStep()) text += tr("; best: step %1").arg(*best);
    return text;
}

void RunView::showSteps() {
    m_stepsView->clear();
    const std::optional<std::int64_t> best = bestManagedStep();
    for (const ManagedStep& step : m_managed) {
        auto* item = new QTreeWidgetItem(m_stepsView);
        item->setText(0, QString::number(step.step));
        item->setData(0, Qt::UserRole, QVariant::fromValue<qlonglong>(step.step));
        if (step.commitTimestampNs) {
            item->setText(1, QDateTime::fromMSecsSinceEpoch(*step.commitTimestampNs / 1'000'000)
                                 .toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")));
        }
        item->setText(2, humanBytes(step.bytes));
        QStringList metrics;
        if (step.metrics) {
            for (const auto& [name, value] : *step.metrics) {
                metrics.append(QStringLiteral("%1=%2").arg(toQString(name), number(value)));
            }
        }
        item->setText(3, metrics.join(QStringLiteral(", ")));
        QStringList items;
        for (const std::string& name : step.items) items.append(toQString(name));
        item->setText(4, items.join(QStringLiteral(", ")));
        if (best && step.step == *best) {
            item->setText(5, tr("\u2605 best"));
            QFont bold = item->font(0);
            bold.setBold(true);
            for (int c = 0; c < 6; ++c) item->setFont(c, bold);
        }
        item->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
    }
    for (int c = 0; c < 6; ++c) m_stepsView->resizeColumnToContents(c);
    m_stepsStatus->setText(stepsStatusText());
}

bool RunView::deleteStep(std::int64_t step) {
    const std::optional<std::int64_t> best = bestManagedStep();
    if (!m_confirm(tr("Delete Step"),
                   tr("Delete step %1 of %2 from the disk? This cannot be undone.")
                       .arg(step)
                       .arg(m_root))) {
        return false;
    }
    if (best && step == *best &&
        !m_confirm(tr("Delete the Best Step?"),
                   tr("Step %1 is the best step by %2 (%3), and its only copy. Delete it "
                      "anyway?")
                       .arg(step)
                       .arg(m_bestMetric->currentText(), m_bestMode->currentText()))) {
        return false;
    }
    // The rename takes the step out of every listing at once; its files (gigabytes, perhaps) are
    // removed off the GUI thread. Should that never finish, the next prune does.
    auto detached = detachManagedStep(toFsPath(m_root), step);
    if (!detached.isOk()) {
        m_stepsError = statusToUserText(detached.status());
        m_stepsStatus->setText(m_stepsError);
        return false;
    }
    emit stepDeleted(step);
    refreshSteps();
    runInBackground(
        this, [path = *detached] { return removeDetachedStep(path); },
        [this, step](const Status& removed) {
            if (removed.isOk()) return;
            m_stepsError = tr("Step %1 is deleted, but removing its files failed: %2")
                               .arg(step)
                               .arg(statusToUserText(removed));
            m_stepsStatus->setText(m_stepsError);
        });
    return true;
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
