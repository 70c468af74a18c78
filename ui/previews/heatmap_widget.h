// HeatmapWidget: a SliceImage drawn as coloured cells with a colour bar, with hover read-out.
//
// Cells keep a square aspect and are scaled to fit; the colour bar on the right is labelled with
// the range's ends (for the diverging map, ±max(|lo|, |hi|)). NaN and ±Inf are drawn in
// nonFiniteColor(). Hovering a cell shows its slice index and value as a tooltip and through
// hoverTextChanged(). GUI thread only.
#pragma once

#include <QImage>
#include <QString>
#include <QWidget>

#include "previews/colormap.h"
#include "previews/preview_data.h"

namespace ckpt::ui {

class HeatmapWidget final : public QWidget {
    Q_OBJECT

public:
    explicit HeatmapWidget(QWidget* parent = nullptr);

    void setImage(SliceImage image);
    void clear();
    const SliceImage& image() const { return m_image; }

    void setColormap(Colormap map);
    Colormap colormap() const { return m_map; }
    // The values mapped to the ends of the colormap.
    void setRange(double lo, double hi);
    double rangeLow() const { return m_lo; }
    double rangeHigh() const { return m_hi; }

    // The displayed cell under `pos` as (row, column), or (-1, -1).
    QPoint cellAt(QPoint pos) const;
    // "row 3, column 4: 0.25" (rows a–b, columns c–d and "mean" for a downsampled cell).
    QString cellText(int row, int col) const;
    // The colour drawn for the displayed cell.
    QColor cellColor(int row, int col) const;

    QSize sizeHint() const override { return {360, 240}; }
    QSize minimumSizeHint() const override { return {120, 80}; }

signals:
    void hoverTextChanged(const QString& text);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    void rebuild();
    QRect cellsRect() const;

    SliceImage m_image;
    QImage m_pixels;
    Colormap m_map = Colormap::kViridis;
    double m_lo = 0;
    double m_hi = 1;
};

}  // namespace ckpt::ui
