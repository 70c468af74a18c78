// ProgressRelay: engine progress reported on a worker thread, read by the GUI thread on a timer.
//
// The engine calls a ProgressFn from whatever thread does the work; widgets must not be touched
// there. A job captures a shared ProgressRelay, passes callback() to the engine, and the widget
// polls done()/total() (relaxed atomics: a slightly stale reading only delays the bar).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "ckpt/core/cancel.h"

namespace ckpt::ui {

class ProgressRelay {
public:
    // A ProgressFn storing into `relay` (kept alive by the callback).
    static ProgressFn callback(std::shared_ptr<ProgressRelay> relay) {
        return [relay = std::move(relay)](std::uint64_t done, std::uint64_t total) {
            relay->m_done.store(done, std::memory_order_relaxed);
            relay->m_total.store(total, std::memory_order_relaxed);
        };
    }
    std::uint64_t done() const { return m_done.load(std::memory_order_relaxed); }
    std::uint64_t total() const { return m_total.load(std::memory_order_relaxed); }
    // done/total in per mille (0 while the total is unknown).
    int perMille() const {
        const std::uint64_t t = total();
        return t > 0 ? static_cast<int>(std::min<std::uint64_t>(done(), t) * 1000 / t) : 0;
    }

private:
    std::atomic<std::uint64_t> m_done{0};
    std::atomic<std::uint64_t> m_total{0};
};

}  // namespace ckpt::ui
