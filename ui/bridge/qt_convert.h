// Conversions between core's std types and Qt's, in one place.
//
// Core text (keys, messages, dtype names) is UTF-8; paths use the platform's file name encoding,
// as QFile::encodeName/decodeName define it. Pure functions; safe on any thread.
#pragma once

#include <QFile>
#include <QString>
#include <filesystem>
#include <string_view>

namespace ckpt::ui {

inline QString toQString(std::string_view utf8) {
    return QString::fromUtf8(utf8.data(), static_cast<qsizetype>(utf8.size()));
}

inline std::filesystem::path toFsPath(const QString& path) {
    return {QFile::encodeName(path).toStdString()};
}

inline QString fromFsPath(const std::filesystem::path& path) {
    return QFile::decodeName(path.native().c_str());
}

}  // namespace ckpt::ui
