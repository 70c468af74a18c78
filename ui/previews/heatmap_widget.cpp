#include "previews/heatmap_widget.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace ckpt::ui {

namespace {

constexpr int kBarWidth = 14;

QString number(double v) {
    return QString::number(v, 'g', 6);
}

QString span(std::int64_t first, std::int64_t step, std::int64_t limit, const QString& one,
             const QString& many) {
    const std::int64_t last = std::min(first + step, limit) - 1;
    return last > first ? many.arg(QStringLiteral("%1\u2013%2").arg(first).arg(last))
                        : one.arg(first);
}

}  // namespace

HeatmapWidget::HeatmapWidget(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void HeatmapWidget::setImage(SliceImage image) {
    m_image = std::move(image);
    rebuild();
}

void HeatmapWidget::clear() {
    setImage({});
}

void HeatmapWidget::setColormap(Colormap map) {
    m_map = map;
    rebuild();
}

void HeatmapWidget::setRange(double lo, double hi) {
    m_lo = lo;
    m_hi = hi;
    rebuild();
}

QColor HeatmapWidget::cellColor(int row, int col) const {
    return valueColor(m_map, m_image.at(row, col), m_lo, m_hi);
}

void HeatmapWidget::rebuild() {
    if (m_image.displayRows == 0 || m_image.displayCols == 0) {
        m_pixels = {};
    } else {
        m_pixels = QImage(m_image.displayCols, m_image.displayRows, QImage::Format_RGB32);
        for (int r = 0; r < m_image.displayRows; ++r) {
            auto* line = reinterpret_cast<QRgb*>(m_pixels.scanLine(r));
            for (int c = 0; c < m_image.displayCols; ++c) line[c] = cellColor(r, c).rgb();
        }
    }
    update();
}

QRect HeatmapWidget::cellsRect() const {
    if (m_pixels.isNull()) return {};
    const QFontMetrics fm(font());
    const int labelWidth = fm.horizontalAdvance(QStringLiteral("-0.000000e+00")) + 6;
    const QRect area = rect().adjusted(4, 4, -(kBarWidth + labelWidth + 12), -4);
    if (area.width() <= 0 || area.height() <= 0) return {};
    const double cell = std::min(static_cast<double>(area.width()) / m_pixels.width(),
                                 static_cast<double>(area.height()) / m_pixels.height());
    const int w = std::max(1, static_cast<int>(cell * m_pixels.width()));
    const int h = std::max(1, static_cast<int>(cell * m_pixels.height()));
    return {area.left() + (area.width() - w) / 2, area.top() + (area.height() - h) / 2, w, h};
}

QPoint HeatmapWidget::cellAt(QPoint pos) const {
    const QRect cells = cellsRect();
    if (cells.isEmpty() || !cells.contains(pos)) return {-1, -1};
    const int col = (pos.x() - cells.left()) * m_image.displayCols / cells.width();
    const int row = (pos.y() - cells.top()) * m_image.displayRows / cells.height();
    return {std::clamp(row, 0, m_image.displayRows - 1),
            std::clamp(col, 0, m_image.displayCols - 1)};
}

QString HeatmapWidget::cellText(int row, int col) const {
    if (row < 0 || col < 0 || row >= m_image.displayRows || col >= m_image.displayCols) return {};
    const double v = m_image.at(row, col);
    const QString value = std::isnan(v) ? QStringLiteral("NaN")
                          : std::isinf(v)
                              ? (v > 0 ? QStringLiteral("+Inf") : QStringLiteral("-Inf"))
                              : number(v);
    const bool block = m_image.rowStep > 1 || m_image.colStep > 1;
    return tr("%1, %2: %3%4")
        .arg(
            span(row * m_image.rowStep, m_image.rowStep, m_image.rows, tr("row %1"), tr("rows %1")),
            span(col * m_image.colStep, m_image.colStep, m_image.cols, tr("column %1"),
                 tr("columns %1")),
            value, block ? tr(" (block mean)") : QString());
}

void HeatmapWidget::paintEvent(QPaintEvent* /*event*/) {
    QPainter painter(this);
    painter.fillRect(rect(), palette().window());
    const QRect cells = cellsRect();
    if (cells.isEmpty()) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect(), Qt::AlignCenter, tr("Nothing to show."));
        return;
    }
    painter.drawImage(cells, m_pixels);
    // Colour bar: top is the high end.
    const QFontMetrics fm(font());
    const QRect bar(cells.right() + 10, cells.top(), kBarWidth, std::max(cells.height(), 40));
    for (int y = 0; y < bar.height(); ++y) {
        const double t = 1.0 - static_cast<double>(y) / std::max(bar.height() - 1, 1);
        painter.setPen(colormapColor(m_map, t));
        painter.drawLine(bar.left(), bar.top() + y, bar.right(), bar.top() + y);
    }
    painter.setPen(palette().color(QPalette::WindowText));
    painter.drawRect(bar.adjusted(0, 0, -1, -1));
    double lo = m_lo;
    double hi = m_hi;
    if (m_map == Colormap::kDiverging) {
        hi = std::max(std::abs(lo), std::abs(hi));
        lo = -hi;
    }
    const int textX = bar.right() + 4;
    painter.drawText(QRect(textX, bar.top(), width() - textX, fm.height()),
                     Qt::AlignLeft | Qt::AlignTop, number(hi));
    painter.drawText(QRect(textX, bar.bottom() - fm.height(), width() - textX, fm.height()),
                     Qt::AlignLeft | Qt::AlignBottom, number(lo));
}

void HeatmapWidget::mouseMoveEvent(QMouseEvent* event) {
    const QPoint cell = cellAt(event->position().toPoint());
    const QString text = cellText(cell.x(), cell.y());
    if (text.isEmpty()) {
        QToolTip::hideText();
    } else {
        QToolTip::showText(event->globalPosition().toPoint(), text, this);
    }
    emit hoverTextChanged(text);
}

void HeatmapWidget::leaveEvent(QEvent* /*event*/) {
    emit hoverTextChanged({});
}

}  // namespace ckpt::ui
