// Tests for what MainWindow keeps in QSettings: Open Recent across windows, the theme (View ›
// Theme, applied as a palette on the Fusion style), the window geometry and the heatmap colormap.
// Every setting goes to a temporary directory (QSettings::setPath, QStandardPaths test mode).
#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QMenu>
#include <QPalette>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStyle>
#include <QTemporaryDir>
#include <QTest>

#include "bridge/qt_convert.h"
#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"
#include "previews/array_preview.h"
#include "previews/colormap.h"
#include "views/checkpoint_page.h"
#include "views/main_window.h"
#include "views/recent_files.h"
#include "views/theme.h"

using ckpt::ui::MainWindow;
using ckpt::ui::Theme;

namespace {

constexpr int kOpenTimeoutMs = 10'000;

QSettings testSettings() {
    return QSettings(ckpt::ui::RecentFiles::organizationName(),
                     ckpt::ui::RecentFiles::applicationName());
}

// The View › Theme action with `text`, or null.
QAction* themeAction(const MainWindow& window, const QString& text) {
    for (QAction* action : window.findChildren<QAction*>()) {
        if (action->text() == text && action->actionGroup()) return action;
    }
    return nullptr;
}

bool openAndWait(MainWindow& window, const QString& path) {
    QSignalSpy opened(&window, &MainWindow::checkpointOpened);
    QSignalSpy failed(&window, &MainWindow::errorOccurred);
    if (!window.openPath(path)) return false;
    return QTest::qWaitFor([&] { return !opened.isEmpty() || !failed.isEmpty(); },
                           kOpenTimeoutMs) &&
           !opened.isEmpty();
}

}  // namespace

class TestSettings : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("CheckpointStudioTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_settings"));
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope,
                           m_dir.filePath(QStringLiteral("settings")));
        QVERIFY(testSettings().fileName().startsWith(m_dir.path()));
        m_systemWindowColor = QApplication::palette().color(QPalette::Window);

        m_demoPath = m_dir.filePath(QStringLiteral("demo_train_state.msgpack"));
        const ckpt::Status status = ckpt::writeCheckpoint(ckpt::makeDemoTrainState(),
                                                          ckpt::ui::toFsPath(m_demoPath), "flax");
        QVERIFY2(status.isOk(), status.toString().c_str());
    }

    void init() { testSettings().clear(); }

    void cleanup() { ckpt::ui::applyTheme(Theme::kSystem); }

    void recentFilesSurviveTheWindow() {
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QVERIFY(openAndWait(window, m_demoPath));
        }
        QCOMPARE(testSettings().value(QStringLiteral("recentFiles")).toStringList(),
                 QStringList{m_demoPath});
        MainWindow next;
        QCOMPARE(next.recentFiles(), QStringList{m_demoPath});
        QCOMPARE(next.recentMenu()->actions().value(0)->toolTip(), m_demoPath);
    }

    void recentFilesKeepTheTenNewest() {
        ckpt::ui::RecentFiles recent;
        for (int i = 0; i < 12; ++i) {
            recent.add(m_dir.filePath(QStringLiteral("run_%1").arg(i)));
        }
        MainWindow window;
        const QStringList paths = window.recentFiles();
        QCOMPARE(paths.size(), ckpt::ui::RecentFiles::kMaxEntries);
        QCOMPARE(paths.first(), m_dir.filePath(QStringLiteral("run_11")));
        QCOMPARE(paths.last(), m_dir.filePath(QStringLiteral("run_2")));
        // Ten entries, a separator and Clear Recent.
        QCOMPARE(window.recentMenu()->actions().size(), ckpt::ui::RecentFiles::kMaxEntries + 2);
    }

    void themeKeysRoundTrip() {
        for (const Theme theme : {Theme::kSystem, Theme::kLight, Theme::kDark}) {
            QCOMPARE(ckpt::ui::themeFromKey(ckpt::ui::themeKey(theme)), theme);
        }
        QCOMPARE(ckpt::ui::themeFromKey(QStringLiteral("solarized")), Theme::kSystem);
        QVERIFY(ckpt::ui::darkPalette().color(QPalette::Window).lightness() <
                ckpt::ui::lightPalette().color(QPalette::Window).lightness());
    }

    void darkThemeChangesThePaletteAndPersists() {
        {
            MainWindow window;
            QCOMPARE(window.theme(), Theme::kSystem);
            QAction* dark = themeAction(window, QStringLiteral("&Dark"));
            QVERIFY(dark);
            QVERIFY(themeAction(window, QStringLiteral("&System"))->isChecked());
            dark->trigger();
            QCOMPARE(window.theme(), Theme::kDark);
            QVERIFY(dark->isChecked());
            QCOMPARE(QApplication::palette().color(QPalette::Window),
                     ckpt::ui::darkPalette().color(QPalette::Window));
            // Widgets follow on the posted ApplicationPaletteChange.
            QTRY_COMPARE(window.palette().color(QPalette::Base),
                         ckpt::ui::darkPalette().color(QPalette::Base));
            QCOMPARE(QApplication::style()->name().toLower(), QStringLiteral("fusion"));
            QCOMPARE(testSettings().value(QStringLiteral("theme")).toString(),
                     QStringLiteral("dark"));
        }
        // A new window starts with the stored theme.
        ckpt::ui::applyTheme(Theme::kSystem);
        QCOMPARE(QApplication::palette().color(QPalette::Window), m_systemWindowColor);
        MainWindow next;
        QCOMPARE(next.theme(), Theme::kDark);
        QVERIFY(themeAction(next, QStringLiteral("&Dark"))->isChecked());
        QCOMPARE(QApplication::palette().color(QPalette::Window),
                 ckpt::ui::darkPalette().color(QPalette::Window));

        // Back to System: the palette the application started with.
        themeAction(next, QStringLiteral("&System"))->trigger();
        QCOMPARE(QApplication::palette().color(QPalette::Window), m_systemWindowColor);
        QCOMPARE(testSettings().value(QStringLiteral("theme")).toString(),
                 QStringLiteral("system"));
    }

    void lightThemeIsFusionWithTheLightPalette() {
        MainWindow window;
        window.setTheme(Theme::kLight);
        QCOMPARE(QApplication::palette().color(QPalette::Highlight),
                 ckpt::ui::lightPalette().color(QPalette::Highlight));
        QCOMPARE(QApplication::style()->name().toLower(), QStringLiteral("fusion"));
        QVERIFY(themeAction(window, QStringLiteral("&Light"))->isChecked());
        QVERIFY(!themeAction(window, QStringLiteral("&Dark"))->isChecked());
    }

    void windowGeometryIsRestored() {
        {
            MainWindow window;
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.resize(910, 610);
            QTRY_COMPARE(window.size(), QSize(910, 610));
            window.close();
        }
        QVERIFY(testSettings().contains(QStringLiteral("window/geometry")));
        MainWindow next;
        QCOMPARE(next.size(), QSize(910, 610));
    }

    void heatmapColormapCarriesOver() {
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QVERIFY(openAndWait(window, m_demoPath));
            QCOMPARE(window.arrayPreview()->colormap(), ckpt::ui::Colormap::kViridis);
            window.arrayPreview()->setColormap(ckpt::ui::Colormap::kDiverging);
        }
        QCOMPARE(testSettings().value(QStringLiteral("preview/heatmapColormap")).toString(),
                 QStringLiteral("diverging"));
        MainWindow next;
        next.setErrorDialogsEnabled(false);
        QVERIFY(openAndWait(next, m_demoPath));
        QCOMPARE(next.arrayPreview()->colormap(), ckpt::ui::Colormap::kDiverging);
    }

private:
    QTemporaryDir m_dir;
    QString m_demoPath;
    QColor m_systemWindowColor;
};

QTEST_MAIN(TestSettings)
#include "tst_settings.moc"
