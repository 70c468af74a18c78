// LinePlotWidget: one row of a SliceImage (a 1-D array) drawn as a line with QPainter.
//
// The y axis is labelled with the finite minimum and maximum, the x axis with the first and last
// index. Non-finite values break the line and are marked in nonFiniteColor() at the bottom edge.
// Hovering shows the index and value. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>

#include "previews/preview_data.h"

namespace ckpt::ui {

class LinePlotWidget final : public QWidget {
    Q_OBJECT

public:
    explicit LinePlotWidget(QWidget* parent = nullptr);

    // Plots row 0 of `image`.
    void setImage(SliceImage image);
    void clear();
    const SliceImage& image() const { return m_image; }

    // The axis labels as drawn: y minimum, y maximum, first index, last index.
    QStringList axisLabels() const;
    // The point (display column) nearest to x = `pos`, or -1.
    int pointAt(QPoint pos) const;
    QString pointText(int point) const;

    QSize sizeHint() const override { return {360, 200}; }
    QSize minimumSizeHint() const override { return {160, 100}; }

signals:
    void hoverTextChanged(const QString& text);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    QRect plotRect() const;

    SliceImage m_image;
};

}  // namespace ckpt::ui
