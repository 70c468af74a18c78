// Helpers shared by the OCDBT tests: where the fixtures are, reading files, hex, and walking a
// database's encoded objects with the pure codecs (for sweeps over every real manifest and node).
#pragma once

#include "formats/ocdbt/crc32c.h"

#include <QtCore/QByteArray>
#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "formats/ocdbt/btree.h"
#include "formats/ocdbt/manifest.h"
#include "formats/ocdbt/version_tree.h"

namespace ocdbt_test {

namespace fs = std::filesystem;

// The shared fixtures (orbax-compat/...), from CKPT_SHARED_FIXTURES only; nullopt when unset.
// Wraps a body in an uncompressed OCDBT envelope (synthetic test input, made per the format):
// magic (u32be), total length (u64le), version 0, compression 0, body, CRC-32C (u32le).
inline std::vector<std::byte> wrapUncompressed(std::uint32_t magic,
                                               const std::vector<std::byte>& body) {
    std::vector<std::byte> out;
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::byte>(magic >> (8 * i)));
    const std::uint64_t length = 12 + 2 + body.size() + 4;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(length >> (8 * i)));
    out.push_back(std::byte{0});  // version
    out.push_back(std::byte{0});  // uncompressed
    out.insert(out.end(), body.begin(), body.end());
    const std::uint32_t crc = ckpt::ocdbt::crc32c(out);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(crc >> (8 * i)));
    return out;
}

inline std::optional<fs::path> sharedFixtures() {
    const char* env = std::getenv("CKPT_SHARED_FIXTURES");
    if (!env || !*env) return std::nullopt;
    return fs::path(env);
}

// Databases written by tensorstore with data/make_fixtures.py, beside this file.
inline fs::path localData() {
    return fs::path(__FILE__).parent_path() / "data";
}

inline std::vector<std::byte> readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(chars.size());
    for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
    return out;
}

inline std::string toString(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::string fromHex(const QString& hex) {
    const QByteArray raw = QByteArray::fromHex(hex.toLatin1());
    return std::string(raw.constData(), static_cast<std::size_t>(raw.size()));
}

inline QJsonObject readJson(const fs::path& p) {
    QFile f(QString::fromStdString(p.string()));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

// Every directory below `root` (root included) holding a manifest.ocdbt file.
inline std::vector<fs::path> databasesUnder(const fs::path& root) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file() && it->path().filename() == "manifest.ocdbt") {
            out.push_back(it->path().parent_path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

struct EncodedObject {
    enum Kind { kManifest, kBtreeNode, kVersionNode } kind;
    std::string name;  // file (and offset) for messages
    std::vector<std::byte> bytes;
    std::string transitivePath;  // for nodes
    ckpt::ocdbt::DecodeLimits limits;
};

inline std::vector<std::byte> slice(const fs::path& file, std::uint64_t offset,
                                    std::uint64_t length) {
    auto all = readFile(file);
    if (offset > all.size() || length > all.size() - offset) return {};
    return {all.begin() + static_cast<std::ptrdiff_t>(offset),
            all.begin() + static_cast<std::ptrdiff_t>(offset + length)};
}

// Collects the manifest(s) of `db` and every B+tree and version node reachable from the current
// version, decoding as it goes (objects that fail to decode are still collected).
inline std::vector<EncodedObject> encodedObjects(const fs::path& db) {
    using namespace ckpt::ocdbt;
    std::vector<EncodedObject> out;
    std::vector<fs::path> manifests;
    for (const auto& e : fs::directory_iterator(db)) {
        const auto name = e.path().filename().string();
        if (name == "manifest.ocdbt" || parseNumberedManifestName(name)) manifests.push_back(e);
    }
    std::sort(manifests.begin(), manifests.end());
    std::optional<Manifest> current;
    for (const auto& m : manifests) {
        out.push_back({EncodedObject::kManifest, m.filename().string(), readFile(m), "", {}});
        auto decoded = decodeManifest(out.back().bytes);
        if (decoded.isOk() && !decoded->isConfigOnly()) current = std::move(*decoded);
    }
    if (!current) return out;
    const DecodeLimits limits = nodeDecodeLimits(current->config);
    std::vector<std::pair<IndirectDataReference, int>> work;  // int: 0 btree, 1 version node
    if (!current->latestVersion()->root.location.isMissing()) {
        work.emplace_back(current->latestVersion()->root.location, 0);
    }
    for (const auto& v : current->versionTreeNodes) work.emplace_back(v.location, 1);
    while (!work.empty()) {
        auto [ref, kind] = work.back();
        work.pop_back();
        if (!fs::exists(db / ref.file->fullPath())) continue;  // e.g. fixtures without d/
        EncodedObject obj{kind == 0 ? EncodedObject::kBtreeNode : EncodedObject::kVersionNode,
                          ref.file->fullPath() + "@" + std::to_string(ref.offset),
                          slice(db / ref.file->fullPath(), ref.offset, ref.length),
                          ref.file->basePath, limits};
        if (kind == 0) {
            auto node = decodeBtreeNode(obj.bytes, obj.transitivePath, limits);
            if (node.isOk()) {
                for (const auto& e : node->interiorEntries) work.emplace_back(e.child.location, 0);
            }
        } else {
            auto node = decodeVersionTreeNode(obj.bytes, obj.transitivePath, limits);
            if (node.isOk()) {
                for (const auto& e : node->interiorEntries) work.emplace_back(e.location, 1);
            }
        }
        out.push_back(std::move(obj));
    }
    return out;
}

}  // namespace ocdbt_test
