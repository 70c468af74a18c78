// A minimal zip codec for npz archives: pure functions over bytes, no I/O.
//
// Reading parses the end of central directory (with the zip64 locator and record), the central
// directory (with zip64 extra fields) and each local header, and checks every offset and size
// against the archive before use. Only stored (0) and deflate (8) entries are accepted. Writing
// produces stored entries with a data descriptor (so CRC and sizes follow the data and a
// streaming writer never seeks), and zip64 fields when a size or offset passes a threshold.
// Layout and sources: FORMAT.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::npz {

struct ZipEntry {
    std::string name;
    std::uint16_t method = 0;  // 0 stored, 8 deflate
    std::uint16_t flags = 0;
    std::uint32_t crc32 = 0;
    std::uint64_t compressedSize = 0;
    std::uint64_t uncompressedSize = 0;
    std::uint64_t localHeaderOffset = 0;
    std::uint64_t dataOffset = 0;  // first byte of the (compressed) data
};

// The entries of `archive`, in central-directory order. Corruption (naming `archiveName` and the
// entry) for damaged or hostile structure, unsafe names ("/abs", "a/../b", "a\b"), overlapping
// entries and duplicates; Unsupported for encryption, other methods and multi-disk archives.
Result<std::vector<ZipEntry>> readZipDirectory(std::span<const std::byte> archive,
                                               const std::string& archiveName);

// Entry names safe to extract: relative, '/'-separated, no "." / ".." / empty segments, no
// backslash or NUL. Returns the reason, or empty when safe.
std::string unsafeNameReason(const std::string& name);

// Raw inflate of `in`. Stops after `maxOut` bytes of output when `partial`; otherwise the stream
// must end exactly at `maxOut` bytes. Corruption text names `where`.
Result<std::vector<std::byte>> inflateRaw(std::span<const std::byte> in, std::uint64_t maxOut,
                                          bool partial, const std::string& where);

std::uint32_t crc32Update(std::uint32_t crc, std::span<const std::byte> bytes);

// Writing. A field is written in zip64 form when its value exceeds `zip64Threshold`
// (kZip64Limit normally; tests force a small one).
inline constexpr std::uint64_t kZip64Limit = 0xFFFFFFFEULL;

struct ZipWriteEntry {
    std::string name;
    std::uint32_t crc32 = 0;
    std::uint64_t size = 0;  // stored: compressed == uncompressed
    std::uint64_t localHeaderOffset = 0;
    bool zip64 = false;  // decided before the data is written (size known in advance)
};

bool needsZip64(std::uint64_t size, std::uint64_t localHeaderOffset, std::uint64_t threshold);
std::string encodeLocalHeader(const ZipWriteEntry& entry);
std::string encodeDataDescriptor(const ZipWriteEntry& entry);
// Central directory + (zip64 end record + locator) + end of central directory.
std::string encodeCentralDirectory(const std::vector<ZipWriteEntry>& entries,
                                   std::uint64_t centralOffset, std::uint64_t zip64Threshold);

}  // namespace ckpt::npz
