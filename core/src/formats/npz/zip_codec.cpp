#include "formats/npz/zip_codec.h"

#include <zlib.h>

#include <algorithm>
#include <unordered_set>

namespace ckpt::npz {

namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::uint32_t kZip64EndSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kDescriptorSig = 0x08074b50;
constexpr std::size_t kEndSize = 22;
constexpr std::size_t kCentralSize = 46;
constexpr std::size_t kLocalSize = 30;
constexpr std::size_t kZip64EndSize = 56;
constexpr std::size_t kLocatorSize = 20;
constexpr std::uint16_t kFlagEncrypted = 0x1;
constexpr std::uint16_t kFlagDescriptor = 0x8;
constexpr std::uint16_t kFlagUtf8 = 0x800;

std::uint64_t le(std::span<const std::byte> b, std::size_t pos, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(b[pos + i]);
    return v;
}
std::uint16_t le16(std::span<const std::byte> b, std::size_t pos) {
    return static_cast<std::uint16_t>(le(b, pos, 2));
}
std::uint32_t le32(std::span<const std::byte> b, std::size_t pos) {
    return static_cast<std::uint32_t>(le(b, pos, 4));
}

void put(std::string& out, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::string unsafeNameReason(const std::string& name) {
    if (name.empty()) return "has an empty name";
    if (name.front() == '/' || (name.size() > 1 && name[1] == ':')) return "is an absolute path";
    if (name.find('\\') != std::string::npos) return "contains a backslash";
    if (name.find('\0') != std::string::npos) return "contains a NUL byte";
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t pos = name.find('/', start);
        if (pos == std::string::npos) pos = name.size();
        const std::string seg = name.substr(start, pos - start);
        if (seg == "..") return "contains a '..' segment";
        if (seg == "." || (seg.empty() && pos != name.size())) return "has an empty or '.' segment";
        start = pos + 1;
    }
    return {};
}

Result<std::vector<ZipEntry>> readZipDirectory(std::span<const std::byte> a,
                                               const std::string& archiveName) {
    const std::string where = "zip archive '" + archiveName + "'";
    auto bad = [&](const std::string& why) { return corruptionError(where + ": " + why); };
    const std::size_t size = a.size();
    if (size < kEndSize) return bad("too short to be a zip archive");
    // The end record: its signature within the last 64 KiB + 22 bytes, comment inside the file.
    std::size_t endPos = std::string::npos;
    const std::size_t lowest = size > kEndSize + 0xFFFF ? size - kEndSize - 0xFFFF : 0;
    for (std::size_t p = size - kEndSize + 1; p-- > lowest;) {
        if (le32(a, p) == kEndSig && p + kEndSize + le16(a, p + 20) <= size) {
            endPos = p;
            break;
        }
    }
    if (endPos == std::string::npos) return bad("no end of central directory record");
    std::uint64_t disk = le16(a, endPos + 4);
    std::uint64_t cdDisk = le16(a, endPos + 6);
    std::uint64_t count = le16(a, endPos + 10);
    std::uint64_t cdSize = le32(a, endPos + 12);
    std::uint64_t cdOffset = le32(a, endPos + 16);
    std::size_t cdLimit = endPos;  // the central directory must end before this
    if (endPos >= kLocatorSize && le32(a, endPos - kLocatorSize) == kZip64LocatorSig) {
        const std::size_t loc = endPos - kLocatorSize;
        const std::uint64_t recOffset = le(a, loc + 8, 8);
        if (le32(a, loc + 4) != 0 || le32(a, loc + 16) > 1)
            return bad("multi-disk archives are not supported");
        if (recOffset > loc || loc - recOffset < kZip64EndSize) {
            return bad("zip64 end record offset " + std::to_string(recOffset) + " is out of range");
        }
        const std::size_t rec = static_cast<std::size_t>(recOffset);
        if (le32(a, rec) != kZip64EndSig) return bad("zip64 end record signature missing");
        disk = le32(a, rec + 16);
        cdDisk = le32(a, rec + 20);
        count = le(a, rec + 32, 8);
        cdSize = le(a, rec + 40, 8);
        cdOffset = le(a, rec + 48, 8);
        cdLimit = rec;
    }
    if (disk != 0 || cdDisk != 0)
        return unsupportedError(where + ": multi-disk archives are not supported");
    if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset) {
        return bad("central directory [" + std::to_string(cdOffset) + ", +" +
                   std::to_string(cdSize) + ") runs past the end records");
    }
    if (count > cdSize / kCentralSize) {
        return bad(std::to_string(count) + " entries cannot fit in a " + std::to_string(cdSize) +
                   "-byte central directory");
    }
    std::vector<ZipEntry> entries;
    entries.reserve(static_cast<std::size_t>(count));
    std::unordered_set<std::string> names;
    std::size_t p = static_cast<std::size_t>(cdOffset);
    const std::size_t cdEnd = static_cast<std::size_t>(cdOffset + cdSize);
    for (std::uint64_t i = 0; i < count; ++i) {
        if (cdEnd - p < kCentralSize || le32(a, p) != kCentralSig) {
            return bad("central directory entry " + std::to_string(i) + " is damaged");
        }
        const std::size_t nameLen = le16(a, p + 28);
        const std::size_t extraLen = le16(a, p + 30);
        const std::size_t commentLen = le16(a, p + 32);
        if (cdEnd - p - kCentralSize < nameLen + extraLen + commentLen) {
            return bad("central directory entry " + std::to_string(i) + " runs past the directory");
        }
        ZipEntry e;
        e.flags = le16(a, p + 8);
        e.method = le16(a, p + 10);
        e.crc32 = le32(a, p + 16);
        e.compressedSize = le32(a, p + 20);
        e.uncompressedSize = le32(a, p + 24);
        e.localHeaderOffset = le32(a, p + 42);
        const std::uint16_t entryDisk = le16(a, p + 34);
        e.name.assign(reinterpret_cast<const char*>(a.data() + p + kCentralSize), nameLen);
        const std::string entryWhere = where + ": entry '" + e.name + "'";
        // zip64 extra field (id 1): only the fields whose 32-bit value is all ones, in order.
        std::size_t x = p + kCentralSize + nameLen;
        const std::size_t xEnd = x + extraLen;
        while (xEnd - x >= 4) {
            const std::uint16_t id = le16(a, x);
            const std::size_t len = le16(a, x + 2);
            if (xEnd - x - 4 < len)
                return corruptionError(entryWhere + ": extra field runs past its end");
            if (id == 1) {
                std::size_t f = x + 4;
                auto take = [&](std::uint64_t& field) -> bool {
                    if (field != 0xFFFFFFFFULL) return true;
                    if (x + 4 + len - f < 8) return false;
                    field = le(a, f, 8);
                    f += 8;
                    return true;
                };
                if (!take(e.uncompressedSize) || !take(e.compressedSize) ||
                    !take(e.localHeaderOffset)) {
                    return corruptionError(entryWhere + ": zip64 extra field is too short");
                }
            }
            x += 4 + len;
        }
        p = xEnd + commentLen;
        if (entryDisk != 0 && entryDisk != 0xFFFF) {
            return unsupportedError(entryWhere + ": multi-disk archives are not supported");
        }
        if (std::string why = unsafeNameReason(e.name); !why.empty()) {
            return corruptionError(entryWhere + ": unsafe entry name, " + why);
        }
        if (!names.insert(e.name).second)
            return corruptionError(entryWhere + ": duplicate entry name");
        if (e.flags & kFlagEncrypted)
            return unsupportedError(entryWhere + ": encrypted entries are not supported");
        if (e.method != 0 && e.method != 8) {
            return unsupportedError(entryWhere + ": compression method " +
                                    std::to_string(e.method) +
                                    " is not supported (only stored and deflate)");
        }
        if (e.method == 0 && e.compressedSize != e.uncompressedSize) {
            return corruptionError(entryWhere + ": stored entry with compressed size " +
                                   std::to_string(e.compressedSize) + " != size " +
                                   std::to_string(e.uncompressedSize));
        }
        const std::uint64_t lho = e.localHeaderOffset;
        if (lho > cdOffset || cdOffset - lho < kLocalSize ||
            le32(a, static_cast<std::size_t>(lho)) != kLocalSig) {
            return corruptionError(entryWhere + ": local header at " + std::to_string(lho) +
                                   " is missing or out of range");
        }
        const std::size_t lp = static_cast<std::size_t>(lho);
        const std::uint64_t localNameLen = le16(a, lp + 26);
        const std::uint64_t localExtraLen = le16(a, lp + 28);
        e.dataOffset = lho + kLocalSize + localNameLen + localExtraLen;
        if (e.dataOffset > cdOffset || e.compressedSize > cdOffset - e.dataOffset) {
            return corruptionError(entryWhere + ": data [" + std::to_string(e.dataOffset) + ", +" +
                                   std::to_string(e.compressedSize) +
                                   ") runs past the entries' area (" + std::to_string(cdOffset) +
                                   " bytes)");
        }
        if (localNameLen != nameLen ||
            std::string_view(reinterpret_cast<const char*>(a.data() + lp + kLocalSize), nameLen) !=
                e.name) {
            return corruptionError(entryWhere + ": local header names a different file");
        }
        entries.push_back(std::move(e));
    }
    // No two entries may share bytes.
    std::vector<const ZipEntry*> byOffset;
    for (const auto& e : entries) byOffset.push_back(&e);
    std::sort(byOffset.begin(), byOffset.end(), [](const ZipEntry* x, const ZipEntry* y) {
        return x->localHeaderOffset < y->localHeaderOffset;
    });
    for (std::size_t i = 1; i < byOffset.size(); ++i) {
        const ZipEntry& prev = *byOffset[i - 1];
        const ZipEntry& next = *byOffset[i];
        if (prev.dataOffset + prev.compressedSize > next.localHeaderOffset) {
            return corruptionError(where + ": entries '" + prev.name + "' and '" + next.name +
                                   "' overlap");
        }
    }
    return entries;
}

Result<std::vector<std::byte>> inflateRaw(std::span<const std::byte> in, std::uint64_t maxOut,
                                          bool partial, const std::string& where) {
    if (maxOut > (std::uint64_t{1} << 40))
        return corruptionError(where + ": inflated size is implausible");
    std::vector<std::byte> out(static_cast<std::size_t>(maxOut));
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return internalError("inflateInit2 failed");
    std::size_t inPos = 0;
    std::size_t outPos = 0;
    int rc = Z_OK;
    std::byte spare[1];
    while (true) {
        const std::size_t inChunk = std::min<std::size_t>(in.size() - inPos, 1u << 30);
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data() + inPos));
        zs.avail_in = static_cast<uInt>(inChunk);
        // After the expected output, offer one spare byte to detect a stream that is too long.
        const bool full = outPos == out.size();
        if (full && partial) break;
        const std::size_t outChunk =
            full ? 1 : std::min<std::size_t>(out.size() - outPos, 1u << 30);
        zs.next_out = reinterpret_cast<Bytef*>(full ? spare : out.data() + outPos);
        zs.avail_out = static_cast<uInt>(outChunk);
        rc = inflate(&zs, Z_NO_FLUSH);
        const std::size_t produced = outChunk - zs.avail_out;
        inPos += inChunk - zs.avail_in;
        if (full && produced > 0) {
            inflateEnd(&zs);
            return corruptionError(where + ": deflate data inflates to more than " +
                                   std::to_string(maxOut) + " bytes");
        }
        outPos += produced;
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            inflateEnd(&zs);
            return corruptionError(where + ": invalid deflate data (" +
                                   std::string(zs.msg ? zs.msg : "zlib error") + ")");
        }
        if (produced == 0 && inChunk - zs.avail_in == 0) {
            if (full) break;
            inflateEnd(&zs);
            return corruptionError(where + ": deflate data ends after " + std::to_string(outPos) +
                                   " of " + std::to_string(maxOut) + " bytes");
        }
    }
    inflateEnd(&zs);
    if (!partial && outPos != out.size()) {
        return corruptionError(where + ": deflate data inflates to " + std::to_string(outPos) +
                               " bytes, expected " + std::to_string(maxOut));
    }
    out.resize(outPos);
    return out;
}

std::uint32_t crc32Update(std::uint32_t crc, std::span<const std::byte> bytes) {
    uLong c = crc;
    const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
    std::size_t left = bytes.size();
    while (left > 0) {
        const auto n = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
        c = ::crc32(c, p, n);
        p += n;
        left -= n;
    }
    return static_cast<std::uint32_t>(c);
}

bool needsZip64(std::uint64_t size, std::uint64_t localHeaderOffset, std::uint64_t threshold) {
    return size > threshold || localHeaderOffset > threshold;
}

namespace {
bool isAscii(const std::string& s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}
}  // namespace

std::string encodeLocalHeader(const ZipWriteEntry& e) {
    // CRC and sizes follow in the data descriptor (flag bit 3), so they are zero here; a zip64
    // entry marks its sizes 0xFFFFFFFF and carries a zip64 extra field, as Python's zipfile does.
    std::string out;
    put(out, kLocalSig, 4);
    put(out, e.zip64 ? 45 : 20, 2);
    put(out, kFlagDescriptor | (isAscii(e.name) ? 0 : kFlagUtf8), 2);
    put(out, 0, 2);     // stored
    put(out, 0, 2);     // time 00:00
    put(out, 0x21, 2);  // date 1980-01-01
    put(out, 0, 4);     // crc (in descriptor)
    put(out, e.zip64 ? 0xFFFFFFFFULL : 0, 4);
    put(out, e.zip64 ? 0xFFFFFFFFULL : 0, 4);
    put(out, e.name.size(), 2);
    put(out, e.zip64 ? 20 : 0, 2);
    out += e.name;
    if (e.zip64) {
        put(out, 1, 2);
        put(out, 16, 2);
        put(out, 0, 8);
        put(out, 0, 8);
    }
    return out;
}

std::string encodeDataDescriptor(const ZipWriteEntry& e) {
    std::string out;
    put(out, kDescriptorSig, 4);
    put(out, e.crc32, 4);
    put(out, e.size, e.zip64 ? 8 : 4);
    put(out, e.size, e.zip64 ? 8 : 4);
    return out;
}

std::string encodeCentralDirectory(const std::vector<ZipWriteEntry>& entries,
                                   std::uint64_t centralOffset, std::uint64_t threshold) {
    std::string out;
    for (const auto& e : entries) {
        const bool bigSize = e.size > threshold;
        const bool bigOffset = e.localHeaderOffset > threshold;
        std::string extra;
        if (bigSize) {
            put(extra, e.size, 8);
            put(extra, e.size, 8);
        }
        if (bigOffset) put(extra, e.localHeaderOffset, 8);
        const bool z64 = e.zip64 || !extra.empty();
        put(out, kCentralSig, 4);
        put(out, (3u << 8) | (z64 ? 45u : 20u), 2);  // made by: unix
        put(out, z64 ? 45 : 20, 2);
        put(out, kFlagDescriptor | (isAscii(e.name) ? 0 : kFlagUtf8), 2);
        put(out, 0, 2);
        put(out, 0, 2);
        put(out, 0x21, 2);
        put(out, e.crc32, 4);
        put(out, bigSize ? 0xFFFFFFFFULL : e.size, 4);
        put(out, bigSize ? 0xFFFFFFFFULL : e.size, 4);
        put(out, e.name.size(), 2);
        put(out, extra.empty() ? 0 : extra.size() + 4, 2);
        put(out, 0, 2);              // comment
        put(out, 0, 2);              // disk
        put(out, 0, 2);              // internal attributes
        put(out, 0x81A40000ULL, 4);  // -rw-r--r--
        put(out, bigOffset ? 0xFFFFFFFFULL : e.localHeaderOffset, 4);
        out += e.name;
        if (!extra.empty()) {
            put(out, 1, 2);
            put(out, extra.size(), 2);
            out += extra;
        }
    }
    const std::uint64_t cdSize = out.size();
    const std::uint64_t count = entries.size();
    const bool z64 = count > std::min<std::uint64_t>(threshold, 0xFFFE) || cdSize > threshold ||
                     centralOffset > threshold;
    if (z64) {
        const std::uint64_t recOffset = centralOffset + cdSize;
        put(out, kZip64EndSig, 4);
        put(out, kZip64EndSize - 12, 8);
        put(out, 45, 2);
        put(out, 45, 2);
        put(out, 0, 4);
        put(out, 0, 4);
        put(out, count, 8);
        put(out, count, 8);
        put(out, cdSize, 8);
        put(out, centralOffset, 8);
        put(out, kZip64LocatorSig, 4);
        put(out, 0, 4);
        put(out, recOffset, 8);
        put(out, 1, 4);
    }
    put(out, kEndSig, 4);
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, z64 ? 0xFFFF : count, 2);
    put(out, z64 ? 0xFFFF : count, 2);
    put(out, z64 ? 0xFFFFFFFFULL : cdSize, 4);
    put(out, z64 ? 0xFFFFFFFFULL : centralOffset, 4);
    put(out, 0, 2);
    return out;
}

}  // namespace ckpt::npz
