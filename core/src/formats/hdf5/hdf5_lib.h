// The one place ckpt_core talks to the HDF5 C library: RAII handles, the global lock, error
// capture and the in-process zstd filter (id 32015).
//
// Debian's libhdf5 is the serial (not thread-safe) build, so every HDF5 call in the process must
// hold lockHdf5(). The lock is recursive: a Handle may be released while it is held. init() runs
// once (under the lock): it turns off HDF5's automatic error printing and registers the zstd
// filter. Errors become a Status whose message is the caller's context followed by the HDF5
// error stack's descriptions; the stack is cleared afterwards.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/status.h"

namespace ckpt::hdf5 {

// The HDF5 filter id of Zstandard, as registered with The HDF Group and written by hdf5plugin.
inline constexpr H5Z_filter_t kZstdFilterId = 32015;

using Lock = std::unique_lock<std::recursive_mutex>;
// Takes the process-wide HDF5 lock and makes sure init() has run.
Lock lockHdf5();
// Only in a child forked while the lock was held (hdf5_isolation.cpp): a fresh, unheld lock.
void resetLockInForkedChild();

// Owns one hid_t and closes it with the matching H5*close. Never throws; closing takes the lock.
class Handle {
public:
    using Closer = herr_t (*)(hid_t);
    Handle() = default;
    Handle(hid_t id, Closer closer) : m_id(id), m_closer(closer) {}
    Handle(Handle&& other) noexcept : m_id(other.m_id), m_closer(other.m_closer) {
        other.m_id = H5I_INVALID_HID;
    }
    Handle& operator=(Handle&& other) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }

    hid_t get() const { return m_id; }
    bool valid() const { return m_id >= 0; }
    void reset();
    // Closes now and reports failure (used for files being written, whose close flushes).
    Status close(std::string_view context);

private:
    hid_t m_id = H5I_INVALID_HID;
    Closer m_closer = nullptr;
};

// The HDF5 error stack (and any zstd filter failure) as a Status "<context>: <hdf5 text>";
// clears the stack.
Status hdf5Error(StatusCode code, std::string_view context);

// Wraps an id-returning call: a negative id becomes hdf5Error(code, context).
Result<Handle> checkId(hid_t id, Handle::Closer closer, std::string_view context,
                       StatusCode code = StatusCode::kCorruption);
// Wraps an herr_t/htri_t-returning call.
Status checkRc(herr_t rc, std::string_view context, StatusCode code = StatusCode::kCorruption);

// Upper bound (bytes) the zstd filter may produce for the next chunk; set before every
// H5Dread/H5Dwrite of a chunked dataset (held lock). 0 = unknown (then kZstdDefaultCap).
void setZstdOutputCap(std::uint64_t bytes);
// After setZstdOutputCap (which resets it): every chunk the zstd filter decodes must come out at
// exactly `bytes` (0 = any size up to the cap). libhdf5 1.10.8 copies a whole chunk out of the
// pipeline's output without checking its size, so a damaged chunk that decodes short would be
// read past its end (found by fuzz_open_hdf5). Set when zstd is the only filter that changes the
// size (see strictZstdChunkBytes).
void setZstdExpectedBytes(std::uint64_t bytes);
// `rawChunkBytes` when the dataset's filters are zstd plus only shuffle / fletcher32, else 0.
std::uint64_t strictZstdChunkBytes(hid_t dcpl, std::uint64_t rawChunkBytes);
inline constexpr std::uint64_t kZstdDefaultCap = 256ULL << 20;

// Pure helpers behind the filter, exposed for tests.
// Decompresses one zstd frame (or concatenated frames) of at most `cap` bytes; fails (with a
// message) rather than allocate more. The filter itself uses zarr::zstdDecode, which this wraps.
Result<std::vector<std::byte>> zstdDecompressBounded(std::span<const std::byte> in,
                                                     std::uint64_t cap);
Result<std::vector<std::byte>> zstdCompress(std::span<const std::byte> in, int level);

}  // namespace ckpt::hdf5
