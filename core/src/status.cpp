#include "ckpt/core/status.h"

namespace ckpt {

std::string_view statusCodeName(StatusCode code) {
    switch (code) {
        case StatusCode::kOk: return "OK";
        case StatusCode::kCancelled: return "Cancelled";
        case StatusCode::kInvalidArgument: return "Invalid argument";
        case StatusCode::kNotFound: return "Not found";
        case StatusCode::kAlreadyExists: return "Already exists";
        case StatusCode::kCorruption: return "Corruption";
        case StatusCode::kUnsupported: return "Unsupported";
        case StatusCode::kIoError: return "I/O error";
        case StatusCode::kInternal: return "Internal error";
    }
    return "Unknown";
}

Status::Status(StatusCode code, std::string message) : m_code(code), m_message(std::move(message)) {}

std::string Status::toString() const {
    if (isOk()) return "OK";
    std::string out(statusCodeName(m_code));
    out += ": ";
    out += m_message;
    return out;
}

Status Status::withContext(std::string_view context) const {
    if (isOk()) return *this;
    std::string msg(context);
    msg += ": ";
    msg += m_message;
    return {m_code, std::move(msg)};
}

Status cancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
Status invalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
Status notFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
Status alreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
Status corruptionError(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
Status unsupportedError(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
Status ioError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
Status internalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

}  // namespace ckpt
