// Theme: the View › Theme choice (System, Light, Dark) and how it is applied.
//
// Light and Dark switch the application to the Fusion style with a palette of our own (Fusion
// draws every widget from the palette, so both look the same on every desktop); System restores
// the style and palette the application started with. The choice is stored by name ("system",
// "light", "dark") under the key "theme" of MainWindow's settings (main_window.h). GUI thread
// only.
#pragma once

#include <QPalette>
#include <QString>

namespace ckpt::ui {

enum class Theme { kSystem, kLight, kDark };

// "system", "light", "dark": the names stored in the settings.
QString themeKey(Theme theme);
// The theme named `key`; kSystem for an unknown or empty name.
Theme themeFromKey(const QString& key);

// The palettes Light and Dark apply.
QPalette lightPalette();
QPalette darkPalette();

// Applies `theme` to the running QApplication. The first call remembers the style and palette to
// return to for kSystem.
void applyTheme(Theme theme);

}  // namespace ckpt::ui
