#include "formats/hdf5/hdf5_lib.h"

#include <zstd.h>

#include <cstring>
#include <optional>

#include "formats/zarr/zarr_codecs.h"

namespace ckpt::hdf5 {

namespace {

// A pointer, so that a forked child can replace a lock its parent's thread held at the fork.
std::recursive_mutex*& hdf5MutexPointer() {
    static std::recursive_mutex* m = new std::recursive_mutex;
    return m;
}

std::recursive_mutex& hdf5Mutex() {
    return *hdf5MutexPointer();
}

// Filter state; only touched with the HDF5 lock held.
std::uint64_t g_zstdCap = 0;
std::uint64_t g_zstdExpected = 0;
std::string g_filterError;

// H5Z filter callback for id 32015, compatible with hdf5plugin's (aparamon's) zstd filter:
// cd_values[0], when present, is the compression level; each chunk is one zstd frame.
size_t zstdFilter(unsigned int flags, size_t cdNelmts, const unsigned int cdValues[], size_t nbytes,
                  size_t* bufSize, void** buf) {
    const std::span<const std::byte> in(static_cast<const std::byte*>(*buf), nbytes);
    // The zarr codec's bounded decoder (any number of frames, with or without a content size).
    std::optional<zarr::ByteBuffer> decoded;
    std::vector<std::byte> encoded;
    std::span<const std::byte> out;
    if ((flags & H5Z_FLAG_REVERSE) != 0) {
        auto r = zarr::zstdDecode(in, {g_zstdCap != 0 ? g_zstdCap : kZstdDefaultCap, false});
        if (!r.isOk()) {
            g_filterError = "zstd filter: " + r.status().message();
            return 0;
        }
        decoded = std::move(*r);
        out = decoded->bytes();
        if (g_zstdExpected != 0 && out.size() != g_zstdExpected) {
            g_filterError = "zstd filter: a chunk decoded to " + std::to_string(out.size()) +
                            " bytes, but its chunk holds " + std::to_string(g_zstdExpected);
            return 0;
        }
    } else {
        auto r = zstdCompress(in, cdNelmts > 0 ? static_cast<int>(cdValues[0]) : 0);
        if (!r.isOk()) {
            g_filterError = r.status().message();
            return 0;
        }
        encoded = std::move(*r);
        out = encoded;
    }
    const std::size_t n = out.size();
    void* dst = H5allocate_memory(n == 0 ? 1 : n, false);
    if (dst == nullptr) {
        g_filterError = "zstd filter: out of memory";
        return 0;
    }
    if (n != 0) std::memcpy(dst, out.data(), n);
    H5free_memory(*buf);
    *buf = dst;
    *bufSize = n == 0 ? 1 : n;
    return n;
}

const H5Z_class2_t kZstdClass = {
    H5Z_CLASS_T_VERS, kZstdFilterId, 1,          1, "zstd (ckpt, hdf5plugin compatible)",
    nullptr,          nullptr,       zstdFilter,
};

void initOnce() {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    if (H5Zfilter_avail(kZstdFilterId) <= 0) H5Zregister(&kZstdClass);
    H5Eclear2(H5E_DEFAULT);
}

herr_t collectError(unsigned int n, const H5E_error2_t* err, void* data) {
    auto* parts = static_cast<std::vector<std::string>*>(data);
    if (n < 8 && err->desc != nullptr && err->desc[0] != '\0') parts->emplace_back(err->desc);
    return 0;
}

}  // namespace

Lock lockHdf5() {
    Lock lock(hdf5Mutex());
    static bool initialised = false;
    if (!initialised) {
        initialised = true;
        initOnce();
    }
    return lock;
}

void resetLockInForkedChild() {
    // The old mutex is "held" by a thread that does not exist in the child: abandon it (the
    // child leaves with _exit soon after; nothing is freed twice).
    hdf5MutexPointer() = new std::recursive_mutex;
}

Handle& Handle::operator=(Handle&& other) noexcept {
    if (this != &other) {
        reset();
        m_id = other.m_id;
        m_closer = other.m_closer;
        other.m_id = H5I_INVALID_HID;
    }
    return *this;
}

void Handle::reset() {
    if (m_id >= 0) {
        Lock lock = lockHdf5();
        if (m_closer != nullptr) m_closer(m_id);
        H5Eclear2(H5E_DEFAULT);
    }
    m_id = H5I_INVALID_HID;
}

Status Handle::close(std::string_view context) {
    if (m_id < 0) return okStatus();
    Lock lock = lockHdf5();
    const herr_t rc = m_closer != nullptr ? m_closer(m_id) : 0;
    m_id = H5I_INVALID_HID;
    return checkRc(rc, context, StatusCode::kIoError);
}

Status hdf5Error(StatusCode code, std::string_view context) {
    Lock lock = lockHdf5();
    // Walk from the API call down to the innermost cause; keep the distinct descriptions.
    std::vector<std::string> parts;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collectError, &parts);
    H5Eclear2(H5E_DEFAULT);
    std::string text;
    for (const auto& p : parts) {
        if (text.find(p) != std::string::npos) continue;
        text += (text.empty() ? "" : ": ") + p;
    }
    if (!g_filterError.empty()) {
        text += (text.empty() ? "" : ": ") + g_filterError;
        g_filterError.clear();
    }
    if (text.empty()) text = "HDF5 call failed";
    return {code, std::string(context) + ": " + text};
}

Result<Handle> checkId(hid_t id, Handle::Closer closer, std::string_view context, StatusCode code) {
    if (id < 0) return hdf5Error(code, context);
    return Handle(id, closer);
}

Status checkRc(herr_t rc, std::string_view context, StatusCode code) {
    if (rc < 0) return hdf5Error(code, context);
    return okStatus();
}

void setZstdExpectedBytes(std::uint64_t bytes) {
    g_zstdExpected = bytes;
}

std::uint64_t strictZstdChunkBytes(hid_t dcpl, std::uint64_t rawChunkBytes) {
    const int n = H5Pget_nfilters(dcpl);
    bool zstd = false;
    for (int i = 0; i < n; ++i) {
        unsigned flags = 0;
        std::size_t count = 0;
        unsigned config = 0;
        const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &count,
                                               nullptr, 0, nullptr, &config);
        if (id == kZstdFilterId) {
            zstd = true;
        } else if (id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    H5Eclear2(H5E_DEFAULT);
    return zstd ? rawChunkBytes : 0;
}

void setZstdOutputCap(std::uint64_t bytes) {
    g_zstdExpected = 0;
    g_zstdCap = bytes;
    g_filterError.clear();
}

Result<std::vector<std::byte>> zstdDecompressBounded(std::span<const std::byte> in,
                                                     std::uint64_t cap) {
    CKPT_ASSIGN_OR_RETURN(zarr::ByteBuffer out, zarr::zstdDecode(in, {cap, false}));
    return std::vector<std::byte>(out.bytes().begin(), out.bytes().end());
}

Result<std::vector<std::byte>> zstdCompress(std::span<const std::byte> in, int level) {
    std::vector<std::byte> out(ZSTD_compressBound(in.size()));
    const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
    if (ZSTD_isError(n) != 0) {
        return internalError(std::string("zstd filter: ") + ZSTD_getErrorName(n));
    }
    out.resize(n);
    return out;
}

}  // namespace ckpt::hdf5
