// SeriesPlot: one statistic of a leaf across the steps of a run, drawn with QPainter — a line
// through the points (x = the step number, y = the value), each point marked, the title and the
// value range labelled. A step without a value (it failed, or the leaf is missing there) breaks
// the line. Hovering shows the step and value. GUI thread only.
#pragma once

#include <QString>
#include <QWidget>
#include <optional>
#include <vector>

namespace ckpt::ui {

class SeriesPlot final : public QWidget {
    Q_OBJECT

public:
    struct Point {
        double x = 0;              // the step, as a number
        QString label;             // the step as written
        std::optional<double> y;   // none: no value at this step
    };

    explicit SeriesPlot(const QString& title, QWidget* parent = nullptr);

    void setPoints(std::vector<Point> points);
    const std::vector<Point>& points() const { return m_points; }
    QString title() const { return m_title; }
    // "min … max" of the finite values, as labelled ("" when there are none).
    QString rangeText() const;
    // The point nearest to `pos` horizontally, or -1.
    int pointAt(QPoint pos) const;

    QSize sizeHint() const override { return {320, 170}; }
    QSize minimumSizeHint() const override { return {160, 110}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;

private:
    QRect plotRect() const;
    QPointF toWidget(double x, double y) const;

    QString m_title;
    std::vector<Point> m_points;
    double m_xMin = 0, m_xMax = 1, m_yMin = 0, m_yMax = 1;
    bool m_hasValues = false;
};

}  // namespace ckpt::ui
