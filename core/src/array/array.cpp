#include "ckpt/core/array.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

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

std::uint64_t Array::maxReadBytes() {
    static const std::uint64_t limit = [] {
        const char* text = std::getenv("CKPT_MAX_READ_BYTES");
        if (!text || !*text) return kDefaultMaxBytes;
        char* end = nullptr;
        errno = 0;
        const unsigned long long value = std::strtoull(text, &end, 10);
        if (errno != 0 || end == text || value == 0) return kDefaultMaxBytes;
        unsigned shift = 0;
        switch (*end) {
            case '\0': break;
            case 'K': case 'k': shift = 10; ++end; break;
            case 'M': case 'm': shift = 20; ++end; break;
            case 'G': case 'g': shift = 30; ++end; break;
            case 'T': case 't': shift = 40; ++end; break;
            default: return kDefaultMaxBytes;
        }
        if (*end != '\0' || value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
            return kDefaultMaxBytes;
        }
        return static_cast<std::uint64_t>(value) << shift;
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
