#include "previews/series_plot.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <utility>

namespace ckpt::ui {

namespace {

constexpr int kMargin = 8;
constexpr double kPointRadius = 3.0;

QString valueText(double v) { return QString::number(v, 'g', 6); }

}  // namespace

SeriesPlot::SeriesPlot(const QString& title, QWidget* parent) : QWidget(parent), m_title(title) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void SeriesPlot::setPoints(std::vector<Point> points) {
    m_points = std::move(points);
    m_hasValues = false;
    m_xMin = m_xMax = 0;
    bool first = true;
    for (const Point& p : m_points) {
        if (first) {
            m_xMin = m_xMax = p.x;
            first = false;
        }
        m_xMin = std::min(m_xMin, p.x);
        m_xMax = std::max(m_xMax, p.x);
        if (!p.y || !std::isfinite(*p.y)) continue;
        if (!m_hasValues) {
            m_yMin = m_yMax = *p.y;
            m_hasValues = true;
        }
        m_yMin = std::min(m_yMin, *p.y);
        m_yMax = std::max(m_yMax, *p.y);
    }
    if (m_xMax == m_xMin) {
        m_xMin -= 1;
        m_xMax += 1;
    }
    update();
}

QString SeriesPlot::rangeText() const {
    if (!m_hasValues) return {};
    return QStringLiteral("%1 \u2026 %2").arg(valueText(m_yMin), valueText(m_yMax));
}

QRect SeriesPlot::plotRect() const {
    const int line = fontMetrics().height();
    return rect().adjusted(kMargin, kMargin + line, -kMargin, -kMargin - line);
}

QPointF SeriesPlot::toWidget(double x, double y) const {
    const QRect r = plotRect();
    const double yMin = m_yMin == m_yMax ? m_yMin - 1 : m_yMin;
    const double yMax = m_yMin == m_yMax ? m_yMax + 1 : m_yMax;
    return {r.left() + (x - m_xMin) / (m_xMax - m_xMin) * r.width(),
            r.bottom() - (y - yMin) / (yMax - yMin) * r.height()};
}

int SeriesPlot::pointAt(QPoint pos) const {
    int best = -1;
    double bestDistance = 0;
    for (std::size_t i = 0; i < m_points.size(); ++i) {
        const double d = std::abs(toWidget(m_points[i].x, m_yMin).x() - pos.x());
        if (best < 0 || d < bestDistance) {
            best = static_cast<int>(i);
            bestDistance = d;
        }
    }
    return best;
}

void SeriesPlot::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QPalette& pal = palette();
    painter.fillRect(rect(), pal.base());
    const QRect r = plotRect();
    painter.setPen(pal.color(QPalette::Mid));
    painter.drawRect(r);
    painter.setPen(pal.color(QPalette::Text));
    const int line = fontMetrics().height();
    QFont bold = font();
    bold.setBold(true);
    painter.setFont(bold);
    painter.drawText(QRect(kMargin, 2, width() - 2 * kMargin, line), Qt::AlignLeft, m_title);
    painter.setFont(font());
    if (m_hasValues) {
        painter.drawText(QRect(kMargin, 2, width() - 2 * kMargin, line), Qt::AlignRight,
                         rangeText());
    } else {
        painter.drawText(r, Qt::AlignCenter, m_points.empty() ? tr("no steps") : tr("no values"));
    }
    if (!m_points.empty()) {
        const QRect footer(kMargin, r.bottom() + 2, width() - 2 * kMargin, line);
        painter.drawText(footer, Qt::AlignLeft, tr("step %1").arg(m_points.front().label));
        if (m_points.size() > 1) {
            painter.drawText(footer, Qt::AlignRight, tr("step %1").arg(m_points.back().label));
        }
    }
    if (!m_hasValues) return;
    const QColor lineColor = pal.color(QPalette::Highlight);
    QPainterPath path;
    bool drawing = false;
    for (const Point& p : m_points) {
        if (!p.y || !std::isfinite(*p.y)) {
            drawing = false;
            continue;
        }
        const QPointF at = toWidget(p.x, *p.y);
        if (drawing) {
            path.lineTo(at);
        } else {
            path.moveTo(at);
            drawing = true;
        }
    }
    painter.setPen(QPen(lineColor, 1.6));
    painter.drawPath(path);
    painter.setBrush(lineColor);
    for (const Point& p : m_points) {
        if (p.y && std::isfinite(*p.y)) {
            painter.drawEllipse(toWidget(p.x, *p.y), kPointRadius, kPointRadius);
        } else {
            // A step without a value: a hollow mark on the bottom edge.
            painter.setBrush(Qt::NoBrush);
            painter.setPen(QPen(QColor(200, 0, 200), 1.4));
            painter.drawEllipse(QPointF(toWidget(p.x, m_yMin).x(), r.bottom()), kPointRadius,
                                kPointRadius);
            painter.setPen(QPen(lineColor, 1.6));
            painter.setBrush(lineColor);
        }
    }
}

void SeriesPlot::mouseMoveEvent(QMouseEvent* event) {
    const int i = pointAt(event->position().toPoint());
    if (i < 0) return;
    const Point& p = m_points[static_cast<std::size_t>(i)];
    QToolTip::showText(event->globalPosition().toPoint(),
                       tr("%1 at step %2: %3")
                           .arg(m_title, p.label, p.y ? valueText(*p.y) : tr("no value")),
                       this);
}

}  // namespace ckpt::ui
