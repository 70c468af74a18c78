// Status and Result<T>: how every fallible call in ckpt_core reports failure.
//
// Core never throws across its API. A Status carries a code and a message that names the file
// and the key path concerned; callers add context as errors travel up (Status::withContext).
// Status and Result are plain values: cheap to move, safe to hand between threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ckpt {

enum class StatusCode {
    kOk,
    kCancelled,
    kInvalidArgument,
    kNotFound,
    kAlreadyExists,
    kCorruption,
    kUnsupported,
    kIoError,
    kInternal,
};

std::string_view statusCodeName(StatusCode code);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message);

    bool isOk() const { return m_code == StatusCode::kOk; }
    StatusCode code() const { return m_code; }
    const std::string& message() const { return m_message; }

    // "Corruption: <message>", or "OK".
    std::string toString() const;

    // Returns a copy whose message is "<context>: <message>"; an OK status stays OK.
    Status withContext(std::string_view context) const;

private:
    StatusCode m_code = StatusCode::kOk;
    std::string m_message;
};

inline Status okStatus() { return {}; }
Status cancelledError(std::string message);
Status invalidArgumentError(std::string message);
Status notFoundError(std::string message);
Status alreadyExistsError(std::string message);
Status corruptionError(std::string message);
Status unsupportedError(std::string message);
Status ioError(std::string message);
Status internalError(std::string message);

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : m_data(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Status status) : m_data(std::move(status)) {  // NOLINT(google-explicit-constructor)
        assert(!std::get<Status>(m_data).isOk() && "Result built from an OK Status");
        if (std::get<Status>(m_data).isOk()) {
            m_data = Status(StatusCode::kInternal, "Result built from an OK Status");
        }
    }

    bool isOk() const { return std::holds_alternative<T>(m_data); }
    // The error, or OK when a value is held.
    Status status() const { return isOk() ? Status() : std::get<Status>(m_data); }

    T& value() & { return std::get<T>(m_data); }
    const T& value() const& { return std::get<T>(m_data); }
    T&& value() && { return std::get<T>(std::move(m_data)); }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<Status, T> m_data;
};

namespace detail {
inline Status toStatus(Status s) { return s; }
template <typename T>
Status toStatus(const Result<T>& r) { return r.status(); }
}  // namespace detail

}  // namespace ckpt

#define CKPT_CONCAT_INNER(a, b) a##b
#define CKPT_CONCAT(a, b) CKPT_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define CKPT_RETURN_IF_ERROR(expr)                                        \
    do {                                                                  \
        ::ckpt::Status ckpt_status_ = ::ckpt::detail::toStatus((expr));   \
        if (!ckpt_status_.isOk()) return ckpt_status_;                    \
    } while (false)

// Evaluates a Result<T> expression; returns its Status on error, else moves the value into lhs.
#define CKPT_ASSIGN_OR_RETURN(lhs, expr) \
    CKPT_ASSIGN_OR_RETURN_IMPL(CKPT_CONCAT(ckpt_result_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` may be a declaration and cannot be parenthesised.
#define CKPT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                             \
    if (!tmp.isOk()) return tmp.status();          \
    lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
