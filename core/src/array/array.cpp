#include "ckpt/core/array.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

namespace ckpt {

Result<std::uint64_t> checkedElementCount(const Shape& shape) {
    std::uint64_t n = 1;
    bool zero = false;
    for (std::int64_t d : shape) {
        if (d < 0) return invalidArgumentError("negative dimension in shape " + formatShape(shape));
        if (d == 0) zero = true;
    }
    if (zero) return std::uint64_t{0};
    for (std::int64_t d : shape) {
        const auto ud = static_cast<std::uint64_t>(d);
        if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ud) {
            return invalidArgumentError("shape " + formatShape(shape) + " has too many elements");
        }
        n *= ud;
    }
    return n;
}

Result<std::uint64_t> checkedByteSize(DType dtype, const Shape& shape) {
    CKPT_ASSIGN_OR_RETURN(std::uint64_t n, checkedElementCount(shape));
    const std::uint64_t item = itemSize(dtype);
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / item) {
        return invalidArgumentError("array of shape " + formatShape(shape) + " and dtype " +
                                    std::string(dtypeName(dtype)) + " is too large");
    }
    return n * item;
}

std::string formatShape(const Shape& shape) {
    std::string out = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) out += ", ";
        out += std::to_string(shape[i]);
    }
    if (shape.size() == 1) out += ",";
    out += ")";
    return out;
}

Result<std::uint64_t> Array::parseMaxReadBytes(std::string_view text) {
    return parseByteCount("CKPT_MAX_READ_BYTES", text);
}

Result<std::uint64_t> Array::parseByteCount(std::string_view variable, std::string_view text) {
    const auto invalid = [&] {
        return invalidArgumentError(std::string(variable) + "='" + std::string(text) +
                                    "' is not a byte count (a positive number with an optional "
                                    "K, M, G or T suffix, such as 8G)");
    };
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return invalid();
        value = value * 10 + digit;
    }
    if (i == 0 || value == 0) return invalid();
    unsigned shift = 0;
    if (i < text.size()) {
        switch (text[i]) {
            case 'K': case 'k': shift = 10; break;
            case 'M': case 'm': shift = 20; break;
            case 'G': case 'g': shift = 30; break;
            case 'T': case 't': shift = 40; break;
            default: return invalid();
        }
        ++i;
    }
    if (i != text.size() || value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return invalid();
    }
    return value << shift;
}

Status Array::maxReadBytesSetting() {
    const char* text = std::getenv("CKPT_MAX_READ_BYTES");
    if (!text || !*text) return okStatus();
    return parseMaxReadBytes(text).status();
}

std::uint64_t Array::maxReadBytes() {
    static const std::uint64_t limit = [] {
        const char* text = std::getenv("CKPT_MAX_READ_BYTES");
        if (!text || !*text) return kDefaultMaxBytes;
        const Result<std::uint64_t> parsed = parseMaxReadBytes(text);
        return parsed.isOk() ? *parsed : kDefaultMaxBytes;
    }();
    return limit;
}

Result<Array> Array::allocate(DType dtype, Shape shape, std::uint64_t maxBytes) {
    if (maxBytes == 0) maxBytes = maxReadBytes();
    CKPT_ASSIGN_OR_RETURN(std::uint64_t bytes, checkedByteSize(dtype, shape));
    if (bytes > maxBytes) {
        return invalidArgumentError("array of " + std::to_string(bytes) +
                                    " bytes exceeds the limit of " + std::to_string(maxBytes) +
                                    " bytes for one read (CKPT_MAX_READ_BYTES raises it)");
    }
    Array a;
    a.m_dtype = dtype;
    a.m_shape = std::move(shape);
    a.m_elements = bytes / itemSize(dtype);
    a.m_size = static_cast<std::size_t>(bytes);
    if (bytes > 0) {
        a.m_data.reset(new (std::nothrow) std::byte[a.m_size]);
        if (!a.m_data) {
            return ioError("out of memory allocating " + std::to_string(bytes) + " bytes");
        }
    }
    return a;
}

Result<Array> Array::fromBytes(DType dtype, Shape shape, std::span<const std::byte> bytes) {
    CKPT_ASSIGN_OR_RETURN(Array a, allocate(dtype, std::move(shape)));
    if (bytes.size() != a.m_size) {
        return invalidArgumentError("buffer of " + std::to_string(bytes.size()) +
                                    " bytes does not match shape " + formatShape(a.m_shape) +
                                    " of " + std::string(dtypeName(dtype)) + " (" +
                                    std::to_string(a.m_size) + " bytes)");
    }
    if (!bytes.empty()) std::memcpy(a.m_data.get(), bytes.data(), bytes.size());
    return a;
}

Array Array::clone() const {
    Array a;
    a.m_dtype = m_dtype;
    a.m_shape = m_shape;
    a.m_elements = m_elements;
    a.m_size = m_size;
    if (m_size > 0) {
        a.m_data.reset(new std::byte[m_size]);
        std::memcpy(a.m_data.get(), m_data.get(), m_size);
    }
    return a;
}

}  // namespace ckpt
