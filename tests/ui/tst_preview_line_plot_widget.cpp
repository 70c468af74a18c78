// Tests for previews/line_plot_widget: axis labels from the data, hover text for plain and
// downsampled points.
#include <QCoreApplication>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTest>

#include "previews/line_plot_widget.h"

using ckpt::ui::LinePlotWidget;
using ckpt::ui::SliceImage;

namespace {

// Delivers a mouse move to `widget` at `pos` (no window system needed).
inline void moveMouse(QWidget& widget, QPoint pos) {
    QMouseEvent event(QEvent::MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                      Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&widget, &event);
}

SliceImage row(std::vector<double> values, std::int64_t colStep = 1) {
    SliceImage image;
    image.rows = 1;
    image.displayRows = 1;
    image.displayCols = static_cast<int>(values.size());
    image.colStep = colStep;
    image.cols = static_cast<std::int64_t>(values.size()) * colStep;
    image.values = std::move(values);
    image.hasFinite = true;
    image.min = *std::min_element(image.values.begin(), image.values.end());
    image.max = *std::max_element(image.values.begin(), image.values.end());
    return image;
}

}  // namespace

class TestPreviewLinePlotWidget : public QObject {
    Q_OBJECT

private slots:
    void labelsAxesWithMinMaxAndIndices() {
        LinePlotWidget widget;
        widget.setImage(row({-2.5, 1, 7.25}));
        QCOMPARE(widget.axisLabels(), (QStringList{QStringLiteral("-2.5"), QStringLiteral("7.25"),
                                                   QStringLiteral("0"), QStringLiteral("2")}));
        widget.resize(300, 150);
        QVERIFY(!widget.grab().isNull());
    }

    void hoverShowsThePoint() {
        LinePlotWidget widget;
        widget.resize(300, 150);
        widget.setImage(row({0, 10, 20, 30}));
        QSignalSpy hover(&widget, &LinePlotWidget::hoverTextChanged);
        moveMouse(widget, {widget.width() - 13, 50});  // the right end of the plot
        QCOMPARE(hover.size(), 1);
        QCOMPARE(hover.last().first().toString(), QStringLiteral("index 3: 30"));
    }

    void downsampledPointsNameTheirIndices() {
        LinePlotWidget widget;
        widget.setImage(row({1, 2}, 5));
        QCOMPARE(widget.pointText(1), QStringLiteral("indices 5\u20139 (mean): 2"));
        QCOMPARE(widget.pointText(2), QString());
    }
};

QTEST_MAIN(TestPreviewLinePlotWidget)
#include "tst_preview_line_plot_widget.moc"
