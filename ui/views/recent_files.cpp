#include "views/recent_files.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>

namespace ckpt::ui {

namespace {

const QString kKey = QStringLiteral("recentFiles");

QString normalized(const QString& path) {
    return QDir::cleanPath(QFileInfo(path).absoluteFilePath());
}

QSettings openSettings() {
    return QSettings(RecentFiles::organizationName(), RecentFiles::applicationName());
}

}  // namespace

QString RecentFiles::organizationName() {
    return QStringLiteral("CheckpointStudio");
}

QString RecentFiles::applicationName() {
    return QStringLiteral("ckpt-studio");
}

QStringList RecentFiles::paths() const {
    QStringList list = openSettings().value(kKey).toStringList();
    list.removeAll(QString());
    list.removeDuplicates();
    while (list.size() > kMaxEntries) list.removeLast();
    return list;
}

void RecentFiles::add(const QString& path) {
    const QString clean = normalized(path);
    QStringList list = paths();
    list.removeAll(clean);
    list.prepend(clean);
    while (list.size() > kMaxEntries) list.removeLast();
    store(list);
}

void RecentFiles::remove(const QString& path) {
    QStringList list = paths();
    if (list.removeAll(normalized(path)) > 0) store(list);
}

void RecentFiles::clear() {
    store({});
}

void RecentFiles::store(const QStringList& paths) {
    QSettings settings = openSettings();
    if (paths.isEmpty()) {
        settings.remove(kKey);
    } else {
        settings.setValue(kKey, paths);
    }
}

}  // namespace ckpt::ui
