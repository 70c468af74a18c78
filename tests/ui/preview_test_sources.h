// ArraySources for the preview tests: in-memory arrays from doubles, a source that records every
// Selection it is asked for, one that blocks until cancelled or released, and one that fails.
#pragma once

#include <QTest>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/status.h"

namespace preview_test {

// A float64 (or float32) array of `shape` holding `values` in C order.
inline ckpt::Array makeArray(const ckpt::Shape& shape, const std::vector<double>& values,
                             ckpt::DType dtype = ckpt::DType::kFloat64) {
    auto array = ckpt::Array::allocate(dtype, shape);
    if (!array.isOk()) qFatal("allocate failed");
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (dtype == ckpt::DType::kFloat32) {
            const auto f = static_cast<float>(values[i]);
            std::memcpy(array->bytes().data() + i * 4, &f, 4);
        } else {
            std::memcpy(array->bytes().data() + i * 8, &values[i], 8);
        }
    }
    return std::move(array).value();
}

inline ckpt::ArraySourcePtr makeSource(const ckpt::Shape& shape, const std::vector<double>& values,
                                       ckpt::DType dtype = ckpt::DType::kFloat64) {
    return ckpt::makeMemorySource(makeArray(shape, values, dtype));
}

// 0, 1, 2, ... (element i holds i).
inline std::vector<double> iota(std::size_t n) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
    return v;
}

class ForwardingSource : public ckpt::ArraySource {
public:
    explicit ForwardingSource(ckpt::ArraySourcePtr inner) : m_inner(std::move(inner)) {}
    ckpt::DType dtype() const override { return m_inner->dtype(); }
    const ckpt::Shape& shape() const override { return m_inner->shape(); }
    ckpt::Shape chunkShape() const override { return m_inner->chunkShape(); }

protected:
    ckpt::ArraySourcePtr m_inner;
};

// Records every selection read.
class CountingSource final : public ForwardingSource {
public:
    using ForwardingSource::ForwardingSource;
    ckpt::Status readInto(const ckpt::Selection& selection, std::span<std::byte> out,
                          const ckpt::CancelToken* cancel) const override {
        {
            const std::lock_guard lock(m_mutex);
            m_selections.push_back(selection);
        }
        return m_inner->readInto(selection, out, cancel);
    }
    std::vector<ckpt::Selection> selections() const {
        const std::lock_guard lock(m_mutex);
        return m_selections;
    }
    void reset() {
        const std::lock_guard lock(m_mutex);
        m_selections.clear();
    }

private:
    mutable std::mutex m_mutex;
    mutable std::vector<ckpt::Selection> m_selections;
};

// Blocks every read until release() or until its CancelToken is cancelled (then: Cancelled).
class SlowSource final : public ForwardingSource {
public:
    using ForwardingSource::ForwardingSource;
    ckpt::Status readInto(const ckpt::Selection& selection, std::span<std::byte> out,
                          const ckpt::CancelToken* cancel) const override {
        m_started.store(true);
        std::unique_lock lock(m_mutex);
        while (!m_released) {
            if (ckpt::isCancelled(cancel)) {
                m_sawCancel.store(true);
                return ckpt::cancelledError("cancelled while reading");
            }
            m_wake.wait_for(lock, std::chrono::milliseconds(2));
        }
        lock.unlock();
        return m_inner->readInto(selection, out, cancel);
    }
    void release() {
        const std::lock_guard lock(m_mutex);
        m_released = true;
        m_wake.notify_all();
    }
    bool started() const { return m_started.load(); }
    bool sawCancel() const { return m_sawCancel.load(); }

private:
    mutable std::mutex m_mutex;
    mutable std::condition_variable m_wake;
    bool m_released = false;
    mutable std::atomic<bool> m_started{false};
    mutable std::atomic<bool> m_sawCancel{false};
};

// Every read fails with `status`.
class FailingSource final : public ForwardingSource {
public:
    FailingSource(ckpt::ArraySourcePtr inner, ckpt::Status status)
        : ForwardingSource(std::move(inner)), m_status(std::move(status)) {}
    ckpt::Status readInto(const ckpt::Selection&, std::span<std::byte>,
                          const ckpt::CancelToken*) const override {
        return m_status;
    }

private:
    ckpt::Status m_status;
};

}  // namespace preview_test
