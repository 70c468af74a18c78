// HistogramWidget: bars of a Histogram drawn with QPainter, linear or log count axis.
//
// The x axis is labelled with the bin range's ends, the y axis with the largest count. Hovering a
// bar shows its range and count as a tooltip and through hoverTextChanged(). GUI thread only.
#pragma once

#include <QString>
#include <QWidget>

#include "previews/preview_data.h"

namespace ckpt::ui {

class HistogramWidget final : public QWidget {
    Q_OBJECT

public:
    explicit HistogramWidget(QWidget* parent = nullptr);

    void setHistogram(Histogram histogram);
    void clear();
    const Histogram& histogram() const { return m_histogram; }

    void setLogScale(bool log);
    bool logScale() const { return m_log; }

    // The bin under `pos` (widget coordinates), or -1.
    int binAt(QPoint pos) const;
    // "[lo, hi): count" for a bin (the last bin is closed).
    QString binText(int bin) const;

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
    double barHeight(std::uint64_t count, std::uint64_t maxCount) const;

    Histogram m_histogram;
    bool m_log = false;
};

}  // namespace ckpt::ui
