// RecentFiles: the "Open Recent" list, kept in QSettings.
//
// Paths are stored most recent first, without duplicates, at most kMaxEntries of them, under the
// key "recentFiles" of QSettings("CheckpointStudio", "ckpt-studio"). Every call reads or writes
// the settings, so several windows see one list. GUI thread only (QSettings is reentrant, but the
// list is not updated atomically across processes).
#pragma once

#include <QString>
#include <QStringList>

namespace ckpt::ui {

class RecentFiles {
public:
    static constexpr int kMaxEntries = 10;

    QStringList paths() const;
    // Moves `path` (made absolute and clean) to the front.
    void add(const QString& path);
    void remove(const QString& path);
    void clear();

    // The settings organization and application the list is kept under.
    static QString organizationName();
    static QString applicationName();

private:
    void store(const QStringList& paths);
};

}  // namespace ckpt::ui
