// Tests for previews/histogram_widget: bins under the mouse, their range text, and that the log
// scale changes what is drawn.
#include <QCoreApplication>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTest>

#include "previews/histogram_widget.h"

using ckpt::ui::Histogram;
using ckpt::ui::HistogramWidget;

namespace {

// Delivers a mouse move to `widget` at `pos` (no window system needed).
inline void moveMouse(QWidget& widget, QPoint pos) {
    QMouseEvent event(QEvent::MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                      Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&widget, &event);
}

Histogram fourBins() {
    Histogram histogram;
    histogram.lo = 0;
    histogram.hi = 4;
    histogram.counts = {1, 1000, 0, 10};
    histogram.stats.finite = 1011;
    return histogram;
}

}  // namespace

class TestPreviewHistogramWidget : public QObject {
    Q_OBJECT

private slots:
    void binTextGivesRangeAndCount() {
        HistogramWidget widget;
        widget.setHistogram(fourBins());
        QCOMPARE(widget.binText(0), QStringLiteral("[0, 1): 1 values"));
        QCOMPARE(widget.binText(3), QStringLiteral("[3, 4]: 10 values"));
        QCOMPARE(widget.binText(4), QString());
    }

    void hoverFindsTheBin() {
        HistogramWidget widget;
        widget.resize(400, 200);
        widget.setHistogram(fourBins());
        QSignalSpy hover(&widget, &HistogramWidget::hoverTextChanged);
        // Bins split the plot into quarters; scan for the second one.
        int x = 0;
        while (x < 400 && widget.binAt({x, 100}) != 1) ++x;
        QVERIFY(x < 400);
        moveMouse(widget, {x + 2, 100});
        QCOMPARE(hover.size(), 1);
        QCOMPARE(hover.last().first().toString(), QStringLiteral("[1, 2): 1000 values"));
        QCOMPARE(widget.binAt({0, 0}), -1);
    }

    void logScaleChangesTheBars() {
        HistogramWidget widget;
        widget.resize(400, 200);
        widget.setHistogram(fourBins());
        const QImage linear = widget.grab().toImage();
        widget.setLogScale(true);
        QVERIFY(widget.logScale());
        const QImage log = widget.grab().toImage();
        QVERIFY(linear != log);
    }

    void emptyHistogramHasNoBins() {
        HistogramWidget widget;
        widget.resize(200, 100);
        QCOMPARE(widget.binAt({100, 50}), -1);
        QVERIFY(!widget.grab().isNull());
    }
};

QTEST_MAIN(TestPreviewHistogramWidget)
#include "tst_preview_histogram_widget.moc"
