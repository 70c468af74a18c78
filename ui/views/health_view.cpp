#include "views/health_view.h"

#include <QColor>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <utility>

#include "bridge/background_job.h"
#include "bridge/progress_relay.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

constexpr int kProgressIntervalMs = 100;
constexpr int kKeyPathRole = Qt::UserRole + 1;  // on a finding's item: its key path text

QColor severityTint(FindingSeverity severity) {
    switch (severity) {
        case FindingSeverity::kError: return QColor(220, 50, 47, 70);
        case FindingSeverity::kWarning: return QColor(230, 150, 20, 70);
        case FindingSeverity::kInfo: break;
    }
    return {};
}

}  // namespace

HealthView::HealthView(QWidget* parent) : QWidget(parent) {
    setWindowTitle(tr("Health Check"));
    m_title = new QLabel(this);
    m_title->setWordWrap(true);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_verdict = new QLabel(this);
    QFont big = m_verdict->font();
    big.setPointSizeF(big.pointSizeF() * 1.25);
    big.setBold(true);
    m_verdict->setFont(big);
    m_progress = new QProgressBar(this);
    m_progress->setMaximum(1000);
    m_progress->setTextVisible(false);
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    connect(m_cancelButton, &QPushButton::clicked, this, &HealthView::cancel);
    auto* status = new QHBoxLayout;
    status->addWidget(m_verdict, 1);
    status->addWidget(m_progress);
    status->addWidget(m_cancelButton);

    m_findings = new QTreeWidget(this);
    m_findings->setRootIsDecorated(false);
    m_findings->setUniformRowHeights(true);
    m_findings->setHeaderLabels({tr("Severity"), tr("Finding"), tr("Key path"), tr("Message")});
    m_findings->header()->setStretchLastSection(true);
    connect(m_findings, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
        const QString text = item->data(0, kKeyPathRole).toString();
        if (text.isEmpty()) return;
        auto path = parseKeyPath(text.toStdString());
        if (path.isOk()) emit keyPathActivated(*path);
    });

    m_census = new QTreeWidget(this);
    m_census->setRootIsDecorated(false);
    m_census->setHeaderLabels({tr("dtype"), tr("Leaves"), tr("Bytes")});
    m_census->setSortingEnabled(false);
    m_census->header()->setStretchLastSection(false);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(m_findings);
    splitter->addWidget(m_census);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_title);
    layout->addLayout(status);
    layout->addWidget(splitter, 1);

    m_progressTimer = new QTimer(this);
    m_progressTimer->setInterval(kProgressIntervalMs);
    connect(m_progressTimer, &QTimer::timeout, this, &HealthView::updateProgress);
    m_progress->hide();
    m_cancelButton->hide();
    resize(1000, 620);
}

HealthView::~HealthView() {
    if (m_cancel) m_cancel->cancel();
}

void HealthView::examine(const QString& path, std::optional<std::string> step) {
    if (m_cancel) m_cancel->cancel();
    const std::uint64_t generation = ++m_generation;
    m_cancel = std::make_shared<CancelToken>();
    m_progressState = std::make_shared<ProgressRelay>();
    m_running = true;
    m_error.clear();
    m_report.reset();
    m_findings->clear();
    m_census->clear();
    m_title->setText(step ? tr("%1, step %2").arg(path, toQString(*step)) : path);
    m_verdict->setText(verdictText());
    m_verdict->setStyleSheet(QString());
    m_progress->setValue(0);
    m_progress->show();
    m_cancelButton->show();
    m_progressTimer->start();
    DoctorOptions options;
    options.step = std::move(step);
    runInBackground(
        this,
        [fsPath = toFsPath(path), options, cancel = m_cancel,
         progress = ProgressRelay::callback(m_progressState)] {
            return examineCheckpoint(fsPath, options, cancel.get(), progress);
        },
        [this, generation](Result<DoctorReport> report) {
            if (generation != m_generation) return;  // superseded
            m_running = false;
            m_progressTimer->stop();
            m_progress->hide();
            m_cancelButton->hide();
            if (!report.isOk()) {
                m_error = report.status().code() == StatusCode::kCancelled
                              ? tr("Cancelled.")
                              : statusToUserText(report.status());
                m_verdict->setText(m_error);
                emit failed(m_error);
                return;
            }
            showReport(std::move(report).value());
            emit finished();
        });
}

void HealthView::cancel() {
    if (m_cancel) m_cancel->cancel();
}

void HealthView::updateProgress() {
    if (!m_progressState) return;
    m_progress->setValue(m_progressState->perMille());
    if (m_progressState->total() > 0) {
        m_verdict->setText(tr("Examining\u2026 %1 of %2")
                               .arg(humanBytes(m_progressState->done()),
                                    humanBytes(m_progressState->total())));
    }
}

QString HealthView::verdictText() const {
    if (!m_error.isEmpty()) return m_error;
    if (m_running || !m_report) return tr("Examining\u2026");
    if (m_report->healthy()) return tr("Healthy");
    QStringList parts;
    if (const auto errors = m_report->count(FindingSeverity::kError)) {
        parts.append(countedNoun(errors, tr("error"), tr("errors")));
    }
    if (const auto warnings = m_report->count(FindingSeverity::kWarning)) {
        parts.append(countedNoun(warnings, tr("warning"), tr("warnings")));
    }
    return parts.join(QStringLiteral(", "));
}

void HealthView::showReport(DoctorReport report) {
    m_report = std::move(report);
    const DoctorReport& r = *m_report;
    QString title = fromFsPath(r.path);
    if (r.step) title += tr(", step %1").arg(toQString(*r.step));
    m_title->setText(tr("%1 \u00b7 %2 \u00b7 %3 read")
                         .arg(title, toQString(r.format),
                              countedNoun(r.arraysRead, tr("array"), tr("arrays"))));
    m_verdict->setText(verdictText());
    m_verdict->setStyleSheet(r.healthy() ? QStringLiteral("color: #2e8b57")
                                         : QStringLiteral("color: #c0392b"));
    for (const Finding& finding : r.findings) {
        auto* item = new QTreeWidgetItem(m_findings);
        item->setText(0, QString::fromLatin1(findingSeverityName(finding.severity)));
        item->setText(1, toQString(finding.code));
        item->setText(2, toQString(finding.keyPath));
        item->setText(3, toQString(finding.message));
        item->setToolTip(3, toQString(finding.message));
        item->setData(0, kKeyPathRole, toQString(finding.keyPath));
        const QColor tint = severityTint(finding.severity);
        if (tint.isValid()) {
            for (int column = 0; column < 4; ++column) item->setBackground(column, tint);
        }
    }
    for (int column = 0; column < 3; ++column) m_findings->resizeColumnToContents(column);
    for (const auto& [dtype, census] : r.census) {
        auto* item = new QTreeWidgetItem(m_census);
        item->setText(0, toQString(dtype));
        item->setText(1, groupedCount(census.count));
        item->setText(2, humanBytes(census.bytes));
        item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
        item->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
    }
    for (int column = 0; column < 3; ++column) m_census->resizeColumnToContents(column);
}

}  // namespace ckpt::ui
