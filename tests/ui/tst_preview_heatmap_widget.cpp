// Tests for previews/heatmap_widget: cells drawn in the colormap (NaN in its own colour), the
// hover read-out for plain and downsampled cells, and the diverging map's zero-centred range.
#include <QCoreApplication>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTest>
#include <cmath>
#include <limits>

#include "previews/heatmap_widget.h"

using ckpt::ui::Colormap;
using ckpt::ui::HeatmapWidget;
using ckpt::ui::SliceImage;

namespace {

// Delivers a mouse move to `widget` at `pos` (no window system needed).
inline void moveMouse(QWidget& widget, QPoint pos) {
    QMouseEvent event(QEvent::MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                      Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QCoreApplication::sendEvent(&widget, &event);
}

// A 2 × 3 image: 0 1 2 / 3 4 NaN.
SliceImage smallImage() {
    SliceImage image;
    image.rows = 2;
    image.cols = 3;
    image.displayRows = 2;
    image.displayCols = 3;
    image.values = {0, 1, 2, 3, 4, std::numeric_limits<double>::quiet_NaN()};
    image.hasFinite = true;
    image.min = 0;
    image.max = 4;
    return image;
}

}  // namespace

class TestPreviewHeatmapWidget : public QObject {
    Q_OBJECT

private slots:
    void drawsCellsInTheColormap() {
        HeatmapWidget widget;
        widget.resize(400, 300);
        widget.setImage(smallImage());
        widget.setRange(0, 4);
        const QImage shot = widget.grab().toImage();
        // Hit-test the centre of each cell and compare the pixel with the map's colour.
        bool foundAll = true;
        for (int r = 0; r < 2; ++r) {
            for (int c = 0; c < 3; ++c) {
                bool found = false;
                for (int y = 0; y < shot.height() && !found; y += 3) {
                    for (int x = 0; x < shot.width() && !found; x += 3) {
                        if (widget.cellAt({x, y}) == QPoint(r, c)) {
                            found = shot.pixelColor(x + 1, y + 1) == widget.cellColor(r, c);
                        }
                    }
                }
                foundAll = foundAll && found;
            }
        }
        QVERIFY(foundAll);
        QCOMPARE(widget.cellColor(1, 2), ckpt::ui::nonFiniteColor());
        QCOMPARE(widget.cellColor(0, 0), ckpt::ui::colormapColor(Colormap::kViridis, 0));
        QCOMPARE(widget.cellColor(1, 1), ckpt::ui::colormapColor(Colormap::kViridis, 1));
    }

    void hoverShowsIndexAndValue() {
        HeatmapWidget widget;
        widget.resize(400, 300);
        widget.setImage(smallImage());
        QSignalSpy hover(&widget, &HeatmapWidget::hoverTextChanged);
        QPoint inside;
        for (int y = 0; y < 300 && inside.isNull(); ++y)
            for (int x = 0; x < 400; ++x)
                if (widget.cellAt({x, y}) == QPoint(1, 2)) {
                    inside = {x, y};
                    break;
                }
        QVERIFY(!inside.isNull());
        moveMouse(widget, inside);
        QCOMPARE(hover.size(), 1);
        QCOMPARE(hover.last().first().toString(), QStringLiteral("row 1, column 2: NaN"));
        QCOMPARE(widget.cellAt({0, 0}), QPoint(-1, -1));
    }

    void downsampledCellsNameTheirBlock() {
        SliceImage image = smallImage();
        image.rows = 4;
        image.cols = 5;
        image.rowStep = 2;
        image.colStep = 2;
        HeatmapWidget widget;
        widget.setImage(image);
        QCOMPARE(widget.cellText(1, 2),
                 QStringLiteral("rows 2\u20133, column 4: NaN (block mean)"));
        QCOMPARE(widget.cellText(0, 1),
                 QStringLiteral("rows 0\u20131, columns 2\u20133: 1 (block mean)"));
    }

    void divergingMapIsCentredOnZero() {
        HeatmapWidget widget;
        widget.setImage(smallImage());
        widget.setColormap(Colormap::kDiverging);
        widget.setRange(0, 4);
        // 0 is the map's midpoint (white), 4 its top.
        QCOMPARE(widget.cellColor(0, 0), ckpt::ui::colormapColor(Colormap::kDiverging, 0.5));
        QCOMPARE(widget.cellColor(1, 1), ckpt::ui::colormapColor(Colormap::kDiverging, 1.0));
    }
};

QTEST_MAIN(TestPreviewHeatmapWidget)
#include "tst_preview_heatmap_widget.moc"
