#include "previews/line_plot_widget.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>
#include <algorithm>
#include <cmath>

#include "previews/colormap.h"

namespace ckpt::ui {

namespace {

QString number(double v) {
    return QString::number(v, 'g', 6);
}

}  // namespace

LinePlotWidget::LinePlotWidget(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void LinePlotWidget::setImage(SliceImage image) {
    m_image = std::move(image);
    update();
}

void LinePlotWidget::clear() {
    setImage({});
}

QStringList LinePlotWidget::axisLabels() const {
    if (m_image.displayCols == 0) return {};
    return {number(m_image.min), number(m_image.max), QStringLiteral("0"),
            QString::number(m_image.cols - 1)};
}

QRect LinePlotWidget::plotRect() const {
    const QFontMetrics fm(font());
    const int left = fm.horizontalAdvance(QStringLiteral("-0.000000e+00")) + 8;
    return rect().adjusted(left, fm.height() / 2 + 4, -12, -(fm.height() + 8));
}

int LinePlotWidget::pointAt(QPoint pos) const {
    const QRect plot = plotRect();
    const int n = m_image.displayCols;
    if (n == 0 || m_image.displayRows == 0 || pos.x() < plot.left() - 4 ||
        pos.x() > plot.right() + 4) {
        return -1;
    }
    if (n == 1) return 0;
    const double t = static_cast<double>(pos.x() - plot.left()) / std::max(plot.width(), 1);
    return std::clamp(static_cast<int>(std::lround(t * (n - 1))), 0, n - 1);
}

QString LinePlotWidget::pointText(int point) const {
    if (point < 0 || point >= m_image.displayCols || m_image.displayRows == 0) return {};
    const std::int64_t first = point * m_image.colStep;
    const std::int64_t last = std::min(first + m_image.colStep, m_image.cols) - 1;
    const QString index = last > first ? tr("indices %1\u2013%2 (mean)").arg(first).arg(last)
                                       : tr("index %1").arg(first);
    return tr("%1: %2").arg(index, number(m_image.at(0, point)));
}

void LinePlotWidget::paintEvent(QPaintEvent* /*event*/) {
    QPainter painter(this);
    painter.fillRect(rect(), palette().base());
    const int n = m_image.displayRows > 0 ? m_image.displayCols : 0;
    if (n == 0) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect(), Qt::AlignCenter, tr("Nothing to plot."));
        return;
    }
    const QRect plot = plotRect();
    const QFontMetrics fm(font());
    const double lo = m_image.hasFinite ? m_image.min : 0;
    const double hi = m_image.hasFinite ? m_image.max : 1;
    auto xAt = [&](int i) {
        return n == 1 ? plot.center().x()
                      : plot.left() + static_cast<double>(plot.width()) * i / (n - 1);
    };
    auto yAt = [&](double v) {
        const double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
        return plot.bottom() - t * plot.height();
    };
    painter.setRenderHint(QPainter::Antialiasing);
    QPainterPath path;
    bool open = false;
    for (int i = 0; i < n; ++i) {
        const double v = m_image.at(0, i);
        if (!std::isfinite(v)) {
            open = false;
            painter.fillRect(QRectF(xAt(i) - 1, plot.bottom() - 3, 3, 4), nonFiniteColor());
            continue;
        }
        const QPointF p(xAt(i), yAt(v));
        if (open) {
            path.lineTo(p);
        } else {
            path.moveTo(p);
            if (n == 1 || i + 1 == n || !std::isfinite(m_image.at(0, i + 1))) {
                painter.fillRect(QRectF(p.x() - 1.5, p.y() - 1.5, 3, 3),
                                 palette().color(QPalette::Highlight));
            }
        }
        open = true;
    }
    painter.setPen(QPen(palette().color(QPalette::Highlight), 1.5));
    painter.drawPath(path);
    painter.setRenderHint(QPainter::Antialiasing, false);
    painter.setPen(palette().color(QPalette::Text));
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());
    painter.drawLine(plot.bottomLeft(), plot.topLeft());
    const QStringList labels = axisLabels();
    const int labelWidth = plot.left() - 6;
    painter.drawText(QRect(0, plot.bottom() - fm.height() / 2, labelWidth, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, labels[0]);
    painter.drawText(QRect(0, plot.top() - fm.height() / 2, labelWidth, fm.height()),
                     Qt::AlignRight | Qt::AlignVCenter, labels[1]);
    const int textY = plot.bottom() + 4;
    painter.drawText(QRect(plot.left(), textY, plot.width() / 2, fm.height()),
                     Qt::AlignLeft | Qt::AlignTop, labels[2]);
    painter.drawText(QRect(plot.center().x(), textY, plot.width() / 2, fm.height()),
                     Qt::AlignRight | Qt::AlignTop, labels[3]);
}

void LinePlotWidget::mouseMoveEvent(QMouseEvent* event) {
    const QString text = pointText(pointAt(event->position().toPoint()));
    if (text.isEmpty()) {
        QToolTip::hideText();
    } else {
        QToolTip::showText(event->globalPosition().toPoint(), text, this);
    }
    emit hoverTextChanged(text);
}

void LinePlotWidget::leaveEvent(QEvent* /*event*/) {
    emit hoverTextChanged({});
}

}  // namespace ckpt::ui
