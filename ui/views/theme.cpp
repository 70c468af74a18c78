#include "views/theme.h"

#include <QApplication>
#include <QColor>
#include <QStyle>
#include <QStyleFactory>

namespace ckpt::ui {

namespace {

const QString kFusion = QStringLiteral("Fusion");

// What the application looked like before the first applyTheme().
struct SystemLook {
    QString styleName;
    QPalette palette;
};

const SystemLook& systemLook() {
    static const SystemLook look = [] {
        SystemLook captured;
        if (QStyle* style = QApplication::style()) captured.styleName = style->name();
        captured.palette = QApplication::palette();
        return captured;
    }();
    return look;
}

}  // namespace

QString themeKey(Theme theme) {
    switch (theme) {
        case Theme::kLight:
            return QStringLiteral("light");
        case Theme::kDark:
            return QStringLiteral("dark");
        case Theme::kSystem:
            break;
    }
    return QStringLiteral("system");
}

Theme themeFromKey(const QString& key) {
    if (key == themeKey(Theme::kLight)) return Theme::kLight;
    if (key == themeKey(Theme::kDark)) return Theme::kDark;
    return Theme::kSystem;
}

QPalette lightPalette() {
    QPalette palette;
    const QColor window(0xef, 0xef, 0xef);
    const QColor text(0x1e, 0x1e, 0x1e);
    const QColor highlight(0x30, 0x8c, 0xc6);
    palette.setColor(QPalette::Window, window);
    palette.setColor(QPalette::WindowText, text);
    palette.setColor(QPalette::Base, Qt::white);
    palette.setColor(QPalette::AlternateBase, QColor(0xf7, 0xf7, 0xf7));
    palette.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xdc));
    palette.setColor(QPalette::ToolTipText, text);
    palette.setColor(QPalette::PlaceholderText, QColor(0x80, 0x80, 0x80));
    palette.setColor(QPalette::Text, text);
    palette.setColor(QPalette::Button, window);
    palette.setColor(QPalette::ButtonText, text);
    palette.setColor(QPalette::BrightText, Qt::red);
    palette.setColor(QPalette::Light, Qt::white);
    palette.setColor(QPalette::Midlight, QColor(0xe3, 0xe3, 0xe3));
    palette.setColor(QPalette::Mid, QColor(0xa0, 0xa0, 0xa0));
    palette.setColor(QPalette::Dark, QColor(0x9f, 0x9f, 0x9f));
    palette.setColor(QPalette::Shadow, QColor(0x76, 0x76, 0x76));
    palette.setColor(QPalette::Highlight, highlight);
    palette.setColor(QPalette::HighlightedText, Qt::white);
    palette.setColor(QPalette::Link, QColor(0x1b, 0x5e, 0xa8));
    palette.setColor(QPalette::LinkVisited, QColor(0x6a, 0x3d, 0x9a));
    for (QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
        palette.setColor(QPalette::Disabled, role, QColor(0x9a, 0x9a, 0x9a));
    }
    return palette;
}

QPalette darkPalette() {
    QPalette palette;
    const QColor window(0x2b, 0x2d, 0x30);
    const QColor base(0x1e, 0x1f, 0x22);
    const QColor text(0xdf, 0xe1, 0xe5);
    const QColor highlight(0x3d, 0x7a, 0xc4);
    palette.setColor(QPalette::Window, window);
    palette.setColor(QPalette::WindowText, text);
    palette.setColor(QPalette::Base, base);
    palette.setColor(QPalette::AlternateBase, QColor(0x26, 0x28, 0x2b));
    palette.setColor(QPalette::ToolTipBase, QColor(0x3c, 0x3f, 0x41));
    palette.setColor(QPalette::ToolTipText, text);
    palette.setColor(QPalette::PlaceholderText, QColor(0x8c, 0x8f, 0x94));
    palette.setColor(QPalette::Text, text);
    palette.setColor(QPalette::Button, QColor(0x35, 0x37, 0x3b));
    palette.setColor(QPalette::ButtonText, text);
    palette.setColor(QPalette::BrightText, QColor(0xff, 0x6b, 0x6b));
    palette.setColor(QPalette::Light, QColor(0x4a, 0x4d, 0x51));
    palette.setColor(QPalette::Midlight, QColor(0x3c, 0x3f, 0x43));
    palette.setColor(QPalette::Mid, QColor(0x25, 0x26, 0x29));
    palette.setColor(QPalette::Dark, QColor(0x18, 0x19, 0x1b));
    palette.setColor(QPalette::Shadow, QColor(0x0c, 0x0c, 0x0d));
    palette.setColor(QPalette::Highlight, highlight);
    palette.setColor(QPalette::HighlightedText, Qt::white);
    palette.setColor(QPalette::Link, QColor(0x7a, 0xb4, 0xf5));
    palette.setColor(QPalette::LinkVisited, QColor(0xb3, 0x9d, 0xdb));
    for (QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
        palette.setColor(QPalette::Disabled, role, QColor(0x6f, 0x72, 0x77));
    }
    palette.setColor(QPalette::Disabled, QPalette::Highlight, QColor(0x50, 0x53, 0x57));
    return palette;
}

void applyTheme(Theme theme) {
    const SystemLook& system = systemLook();
    if (theme == Theme::kSystem) {
        if (!system.styleName.isEmpty()) QApplication::setStyle(system.styleName);
        QApplication::setPalette(system.palette);
        return;
    }
    QApplication::setStyle(kFusion);
    QApplication::setPalette(theme == Theme::kDark ? darkPalette() : lightPalette());
}

}  // namespace ckpt::ui
