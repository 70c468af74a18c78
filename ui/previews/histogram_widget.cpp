#include "previews/histogram_widget.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace ckpt::ui {

namespace {

QString number(double v) {
    return QString::number(v, 'g', 6);
}

}  // namespace

HistogramWidget::HistogramWidget(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void HistogramWidget::setHistogram(Histogram histogram) {
    m_histogram = std::move(histogram);
    update();
}

void HistogramWidget::clear() {
    setHistogram({});
}

void HistogramWidget::setLogScale(bool log) {
    m_log = log;
    update();
}

QRect HistogramWidget::plotRect() const {
    const QFontMetrics fm(font());
    const int left = fm.horizontalAdvance(QStringLiteral("0000000000")) + 8;
    const int bottom = fm.height() + 8;
    return rect().adjusted(left, fm.height() / 2 + 4, -12, -bottom);
}

double HistogramWidget::barHeight(std::uint64_t count, std::uint64_t maxCount) const {
    if (count == 0 || maxCount == 0) return 0;
    if (!m_log) return static_cast<double>(count) / static_cast<double>(maxCount);
    // log(1 + count) keeps a count of 1 visible.
    return std::log1p(static_cast<double>(count)) / std::log1p(static_cast<double>(maxCount));
}

int HistogramWidget::binAt(QPoint pos) const {
    const QRect plot = plotRect();
    const auto bins = static_cast<int>(m_histogram.counts.size());
    if (bins == 0 || !plot.contains(pos)) return -1;
    const int bin = (pos.x() - plot.left()) * bins / std::max(plot.width(), 1);
    return std::clamp(bin, 0, bins - 1);
}

QString HistogramWidget::binText(int bin) const {
    if (bin < 0 || bin >= static_cast<int>(m_histogram.counts.size())) return {};
    const auto b = static_cast<std::size_t>(bin);
    const bool last = b + 1 == m_histogram.counts.size();
    return tr("[%1, %2%3: %4 values")
        .arg(number(m_histogram.binLow(b)), number(m_histogram.binHigh(b)),
             last ? QStringLiteral("]") : QStringLiteral(")"))
        .arg(m_histogram.counts[b]);
}

void HistogramWidget::paintEvent(QPaintEvent* /*event*/) {
    QPainter painter(this);
    painter.fillRect(rect(), palette().base());
    const QRect plot = plotRect();
    const QFontMetrics fm(font());
    const auto& counts = m_histogram.counts;
    if (counts.empty()) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect(), Qt::AlignCenter, tr("No finite values to plot."));
        return;
    }
    const std::uint64_t maxCount = *std::max_element(counts.begin(), counts.end());
    const QColor bar = palette().color(QPalette::Highlight);
    const double width = static_cast<double>(plot.width()) / static_cast<double>(counts.size());
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const double h = barHeight(counts[i], maxCount) * plot.height();
        const QRectF r(plot.left() + width * static_cast<double>(i), plot.bottom() + 1 - h,
                       std::max(width - (width > 3 ? 1.0 : 0.0), 1.0), h);
        painter.fillRect(r, bar);
    }
    painter.setPen(palette().color(QPalette::Text));
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());
    painter.drawLine(plot.bottomLeft(), plot.topLeft());
    // Axis labels: the range's ends below, the largest count (and 0) on the left.
    const int textY = plot.bottom() + 4;
    painter.drawText(QRect(plot.left(), textY, plot.width() / 2, fm.height()),
                     Qt::AlignLeft | Qt::AlignTop, number(m_histogram.lo));
    painter.drawText(QRect(plot.center().x(), textY, plot.width() / 2, fm.height()),
                     Qt::AlignRight | Qt::AlignTop, number(m_histogram.hi));
    const int labelWidth = plot.left() - 6;
    painter.drawText(QRect(0, plot.top() - fm.height() / 2, labelWidth, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, QString::number(maxCount));
    painter.drawText(QRect(0, plot.bottom() - fm.height() / 2, labelWidth, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("0"));
    if (m_log) {
        painter.drawText(QRect(0, plot.center().y() - fm.height() / 2, labelWidth, fm.height()),
                         Qt::AlignRight | Qt::AlignVCenter, tr("log"));
    }
}

void HistogramWidget::mouseMoveEvent(QMouseEvent* event) {
    const QString text = binText(binAt(event->position().toPoint()));
    if (text.isEmpty()) {
        QToolTip::hideText();
    } else {
        QToolTip::showText(event->globalPosition().toPoint(), text, this);
    }
    emit hoverTextChanged(text);
}

void HistogramWidget::leaveEvent(QEvent* /*event*/) {
    emit hoverTextChanged({});
}

}  // namespace ckpt::ui
