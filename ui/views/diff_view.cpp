#include "views/diff_view.h"

#include <QCheckBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTimer>
#include <QTreeView>
#include <QVBoxLayout>
#include <utility>

#include "bridge/background_job.h"
#include "bridge/progress_relay.h"
#include "bridge/qt_convert.h"
#include "bridge/status_text.h"
#include "ckpt/core/format.h"
#include "models/diff_tree_model.h"
#include "models/display_text.h"

namespace ckpt::ui {

namespace {

constexpr int kProgressIntervalMs = 100;

// Opens one side on the worker thread (a structure file, or a checkpoint at a step).
Result<NodePtr> openSide(const DiffSideSpec& side) {
    if (side.root) return side.root;
    const std::filesystem::path path = toFsPath(side.path);
    if (isStructureFile(path)) return loadStructure(path);
    OpenOptions options;
    options.step = side.step;
    auto opened = openCheckpoint(path, options);
    if (!opened.isOk()) return opened.status();
    if (!opened->tree) return internalError("the reader returned no tree for " + path.string());
    return opened->tree;
}

}  // namespace

struct DiffView::Outcome {
    Result<TreeDiff> diff = internalError("not run");
};

DiffView::DiffView(QWidget* parent) : QWidget(parent) {
    setWindowTitle(tr("Compare Checkpoints"));
    m_model = new DiffTreeModel(this);
    m_proxy = new DiffFilterProxy(this);
    m_proxy->setSourceModel(m_model);

    auto* names = new QGridLayout;
    m_nameA = new QLabel(this);
    m_nameB = new QLabel(this);
    for (QLabel* label : {m_nameA, m_nameB}) {
        label->setTextInteractionFlags(Qt::TextSelectableByMouse);
        label->setWordWrap(true);
    }
    names->addWidget(new QLabel(tr("<b>A</b>"), this), 0, 0);
    names->addWidget(m_nameA, 0, 1);
    names->addWidget(new QLabel(tr("<b>B</b>"), this), 1, 0);
    names->addWidget(m_nameB, 1, 1);
    names->setColumnStretch(1, 1);

    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_progress = new QProgressBar(this);
    m_progress->setMaximum(1000);
    m_progress->setTextVisible(false);
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    connect(m_cancelButton, &QPushButton::clicked, this, &DiffView::cancel);
    auto* status = new QHBoxLayout;
    status->addWidget(m_summary, 1);
    status->addWidget(m_progress);
    status->addWidget(m_cancelButton);

    m_filterEdit = new QLineEdit(this);
    m_filterEdit->setPlaceholderText(tr("Filter key paths"));
    m_filterEdit->setClearButtonEnabled(true);
    connect(m_filterEdit, &QLineEdit::textChanged, m_proxy, &DiffFilterProxy::setPathText);
    m_differencesOnly = new QCheckBox(tr("&Differences only"), this);
    connect(m_differencesOnly, &QCheckBox::toggled, this, [this](bool on) {
        m_proxy->setDifferencesOnly(on);
        m_view->expandAll();
    });
    auto* filters = new QHBoxLayout;
    filters->addWidget(m_filterEdit, 1);
    filters->addWidget(m_differencesOnly);

    m_view = new QTreeView(this);
    m_view->setModel(m_proxy);
    m_view->setUniformRowHeights(true);
    m_view->setAlternatingRowColors(false);  // the change tints carry the rows
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->header()->setStretchLastSection(false);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &DiffView::updateDetails);
    connect(m_proxy, &QAbstractItemModel::modelReset, this, &DiffView::updateDetails);

    m_details = new QLabel(this);
    m_details->setWordWrap(true);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details->setMinimumHeight(m_details->fontMetrics().lineSpacing() * 3);
    m_details->setAlignment(Qt::AlignTop | Qt::AlignLeft);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(names);
    layout->addLayout(status);
    layout->addLayout(filters);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_details);

    m_progressTimer = new QTimer(this);
    m_progressTimer->setInterval(kProgressIntervalMs);
    connect(m_progressTimer, &QTimer::timeout, this, &DiffView::updateProgress);
    m_progress->hide();
    m_cancelButton->hide();
    resize(1100, 700);
}

DiffView::~DiffView() {
    if (m_cancel) m_cancel->cancel();
}

void DiffView::compare(DiffSideSpec a, DiffSideSpec b) {
    if (m_cancel) m_cancel->cancel();
    const std::uint64_t generation = ++m_generation;
    m_cancel = std::make_shared<CancelToken>();
    m_progressState = std::make_shared<ProgressRelay>();
    m_running = true;
    m_error.clear();
    m_nameA->setText(a.name.isEmpty() ? a.path : a.name);
    m_nameB->setText(b.name.isEmpty() ? b.path : b.name);
    m_summary->setText(tr("Comparing\u2026"));
    m_progress->setValue(0);
    m_progress->show();
    m_cancelButton->show();
    m_progressTimer->start();
    runInBackground(
        this,
        [a = std::move(a), b = std::move(b), cancel = m_cancel,
         progress = ProgressRelay::callback(m_progressState)] {
            Outcome outcome;
            auto rootA = openSide(a);
            if (!rootA.isOk()) {
                outcome.diff = rootA.status().withContext("A (" + a.path.toStdString() + ")");
                return outcome;
            }
            auto rootB = openSide(b);
            if (!rootB.isOk()) {
                outcome.diff = rootB.status().withContext("B (" + b.path.toStdString() + ")");
                return outcome;
            }
            DiffOptions options;
            options.includeEqual = true;
            outcome.diff = diffTrees(*rootA, *rootB, options, cancel.get(), progress);
            return outcome;
        },
        [this, generation](Outcome outcome) { finish(generation, std::move(outcome)); });
}

void DiffView::cancel() {
    if (m_cancel) m_cancel->cancel();
}

void DiffView::updateProgress() {
    if (!m_progressState) return;
    const std::uint64_t total = m_progressState->total();
    const std::uint64_t done = m_progressState->done();
    m_progress->setValue(m_progressState->perMille());
    if (total > 0) {
        m_summary->setText(tr("Comparing\u2026 %1 of %2").arg(humanBytes(done), humanBytes(total)));
    }
}

void DiffView::finish(std::uint64_t generation, Outcome outcome) {
    if (generation != m_generation) return;  // superseded
    m_running = false;
    m_progressTimer->stop();
    m_progress->hide();
    m_cancelButton->hide();
    if (!outcome.diff.isOk()) {
        m_model->clear();
        m_error = outcome.diff.status().code() == StatusCode::kCancelled
                      ? tr("Cancelled.")
                      : statusToUserText(outcome.diff.status());
        m_summary->setText(m_error);
        emit failed(m_error);
        return;
    }
    const TreeDiff& diff = *outcome.diff;
    const bool differs = !diff.identical();
    m_model->setDiff(std::move(outcome.diff).value());
    if (m_firstResult) {
        m_firstResult = false;
        m_differencesOnly->setChecked(differs);
    }
    m_summary->setText(summaryText());
    m_view->expandAll();
    for (int column = 0; column < DiffTreeModel::kColumnCount; ++column) {
        m_view->resizeColumnToContents(column);
    }
    selectFirstDifference();
    emit finished();
}

QString DiffView::summaryText() const {
    if (!m_error.isEmpty()) return m_error;
    if (m_running) return tr("Comparing\u2026");
    const TreeDiff& d = m_model->diff();
    const QString compared =
        countedNoun(d.leavesCompared, tr("leaf pair compared"), tr("leaf pairs compared"));
    if (d.identical()) {
        QString text = tr("Identical: same structure, every value bit-equal (%1)").arg(compared);
        if (d.notCompared > 0) {
            text += tr("; %1 not compared").arg(groupedCount(d.notCompared));
        }
        return text;
    }
    QStringList parts;
    const std::pair<std::uint64_t, QString> counts[] = {
        {d.onlyInA, tr("%1 only in A")},        {d.onlyInB, tr("%1 only in B")},
        {d.kindChanged, tr("%1 kind changed")}, {d.dtypeChanged, tr("%1 dtype changed")},
        {d.shapeChanged, tr("%1 shape changed")}, {d.valuesDiffer, tr("%1 values differ")},
        {d.notCompared, tr("%1 not compared")},
    };
    for (const auto& [count, text] : counts) {
        if (count > 0) parts.append(text.arg(groupedCount(count)));
    }
    return tr("Differences: %1 \u00b7 %2").arg(parts.join(QStringLiteral(", ")), compared);
}

void DiffView::selectFirstDifference() {
    // Depth-first: the first row without children that differs (or the first row at all).
    QModelIndex index = m_proxy->index(0, 0);
    while (index.isValid() && m_proxy->rowCount(index) > 0) {
        QModelIndex child;
        for (int row = 0; row < m_proxy->rowCount(index); ++row) {
            const QModelIndex candidate = m_proxy->index(row, 0, index);
            if (candidate.data(DiffTreeModel::kDifferentRole).toBool()) {
                child = candidate;
                break;
            }
        }
        if (!child.isValid()) break;
        index = child;
    }
    if (!index.isValid()) return;
    m_view->selectionModel()->setCurrentIndex(
        index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
}

bool DiffView::selectKeyPath(const KeyPath& path) {
    const QModelIndex source = m_model->indexForPath(path);
    const QModelIndex index = m_proxy->mapFromSource(source);
    if (!index.isValid()) return false;
    m_view->scrollTo(index);
    m_view->selectionModel()->setCurrentIndex(
        index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    return true;
}

void DiffView::updateDetails() {
    const QModelIndex index = m_proxy->mapToSource(m_view->currentIndex());
    const DiffEntry* e = m_model->entry(index);
    if (!index.isValid()) {
        m_details->clear();
        return;
    }
    const QString path = toQString(formatKeyPath(m_model->keyPath(index)));
    if (!e) {
        m_details->setText(tr("<b>%1</b>: %2").arg(path.toHtmlEscaped(),
                                                  index.siblingAtColumn(DiffTreeModel::kChangeColumn)
                                                      .data()
                                                      .toString()));
        return;
    }
    QString text = tr("<b>%1</b>: %2").arg(path.toHtmlEscaped(), DiffTreeModel::changeText(e->change));
    if (e->a) text += tr(" \u00b7 A %1").arg(DiffTreeModel::sideText(*e->a).toHtmlEscaped());
    if (e->b) text += tr(" \u00b7 B %1").arg(DiffTreeModel::sideText(*e->b).toHtmlEscaped());
    if (!e->error.empty()) text += QStringLiteral("<br>") + toQString(e->error).toHtmlEscaped();
    if (e->values && e->values->hasNumbers) {
        const ValueDiff& v = *e->values;
        text += tr("<br>%1 of %2 elements differ \u00b7 max |B\u2212A| %3 \u00b7 max relative %4 "
                   "\u00b7 cosine %5 \u00b7 \u2016A\u2016 %6, \u2016B\u2016 %7 (ratio %8)")
                    .arg(groupedCount(v.changed), groupedCount(v.count))
                    .arg(v.maxAbsDiff, 0, 'g', 6)
                    .arg(v.maxRelDiff, 0, 'g', 6)
                    .arg(v.cosine, 0, 'g', 10)
                    .arg(v.normA, 0, 'g', 8)
                    .arg(v.normB, 0, 'g', 8)
                    .arg(v.normRatio, 0, 'g', 10);
        if (v.nonFiniteMismatch > 0 || v.nanA > 0 || v.nanB > 0) {
            text += tr("<br>non-finite mismatches %1 \u00b7 NaN in A %2, in B %3")
                        .arg(groupedCount(v.nonFiniteMismatch), groupedCount(v.nanA),
                             groupedCount(v.nanB));
        }
    }
    m_details->setText(text);
}

}  // namespace ckpt::ui
