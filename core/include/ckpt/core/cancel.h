// CancelToken and Progress: what every long-running core call accepts.
//
// A CancelToken is shared between the caller (who may cancel from any thread) and the job
// (which polls it). Progress callbacks are called from the thread doing the work.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace ckpt {

class CancelToken {
public:
    void cancel() { m_cancelled.store(true, std::memory_order_relaxed); }
    bool isCancelled() const { return m_cancelled.load(std::memory_order_relaxed); }

private:
    std::atomic<bool> m_cancelled{false};
};

inline bool isCancelled(const CancelToken* token) { return token && token->isCancelled(); }

// Called with the work done so far and the total (same unit, usually bytes).
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

}  // namespace ckpt
