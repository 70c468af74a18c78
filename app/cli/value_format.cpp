#include "value_format.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

namespace ckpt::cli {

namespace {

// Shortest round-trip text of a float or double, numpy-style ("1." for integral values).
template <typename T>
std::string shortest(T v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    std::string s(buf, end);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".";
    return s;
}

std::string shortestDouble(double v) { return shortest(v); }
std::string shortestFloat(float v) { return shortest(v); }

}  // namespace

nlohmann::json doubleJson(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return v;
}

std::string formatElement(DType dtype, const std::byte* p) {
    switch (dtypeInfo(dtype).kind) {
        case DTypeKind::kBool: return elementToInt64(dtype, p) != 0 ? "True" : "False";
        case DTypeKind::kSignedInt: return std::to_string(elementToInt64(dtype, p));
        case DTypeKind::kUnsignedInt: return std::to_string(elementToUInt64(dtype, p));
        case DTypeKind::kFloat:
            if (dtype == DType::kFloat64) return shortestDouble(elementToDouble(dtype, p));
            // Narrower floats are exact as float32; print their shortest float32 form.
            return shortestFloat(static_cast<float>(elementToDouble(dtype, p)));
        case DTypeKind::kComplex: {
            const auto z = elementToComplex(dtype, p);
            const bool single = dtype == DType::kComplex64;
            auto part = [&](double x) {
                return single ? shortestFloat(static_cast<float>(x)) : shortestDouble(x);
            };
            std::string im = part(z.imag());
            if (im[0] != '-') im = "+" + im;
            return part(z.real()) + im + "j";
        }
    }
    return "?";
}

nlohmann::json elementJson(DType dtype, const std::byte* p) {
    switch (dtypeInfo(dtype).kind) {
        case DTypeKind::kBool: return elementToInt64(dtype, p) != 0;
        case DTypeKind::kSignedInt: return elementToInt64(dtype, p);
        case DTypeKind::kUnsignedInt: return elementToUInt64(dtype, p);
        case DTypeKind::kFloat: return doubleJson(elementToDouble(dtype, p));
        case DTypeKind::kComplex: {
            const auto z = elementToComplex(dtype, p);
            return nlohmann::json::array({doubleJson(z.real()), doubleJson(z.imag())});
        }
    }
    return nullptr;
}

std::string humanBytes(std::uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

nlohmann::json statsJson(const ArrayStats& s) {
    return {{"count", s.count},   {"finite", s.finite}, {"nan", s.nan},
            {"posinf", s.posInf}, {"neginf", s.negInf}, {"zeros", s.zeros},
            {"min", doubleJson(s.min)}, {"max", doubleJson(s.max)},
            {"mean", doubleJson(s.mean)}, {"std", doubleJson(s.std)}};
}

Result<std::string> formatArray(const ArraySource& source, std::uint64_t threshold,
                                std::int64_t edge) {
    const Shape& shape = source.shape();
    const DType dtype = source.dtype();
    const std::size_t item = itemSize(dtype);
    const std::size_t rank = shape.size();
    const bool elide = source.elementCount() > threshold;

    // Per dimension: the index ranges shown (one range, or head and tail).
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> ranges(rank);
    Shape displayShape(rank);
    for (std::size_t d = 0; d < rank; ++d) {
        if (elide && shape[d] > 2 * edge) {
            ranges[d] = {{0, edge}, {shape[d] - edge, edge}};
            displayShape[d] = 2 * edge;
        } else {
            ranges[d] = {{0, shape[d]}};
            displayShape[d] = shape[d];
        }
    }
    CKPT_ASSIGN_OR_RETURN(Array shown, Array::allocate(dtype, displayShape));
    // Read every combination of head/tail ranges into its place in `shown`.
    std::vector<std::size_t> pick(rank, 0);
    while (true) {
        Selection sel;
        Selection dstSel;
        for (std::size_t d = 0; d < rank; ++d) {
            sel.start.push_back(ranges[d][pick[d]].first);
            sel.count.push_back(ranges[d][pick[d]].second);
            dstSel.start.push_back(pick[d] == 0 ? 0 : edge);
            dstSel.count.push_back(ranges[d][pick[d]].second);
        }
        if (sel.elementCount() > 0 || rank == 0) {
            CKPT_ASSIGN_OR_RETURN(Array block, source.read(sel));
            const std::byte* src = block.bytes().data();
            forEachContiguousRun(displayShape, item, dstSel, [&](std::size_t off, std::size_t n) {
                std::memcpy(shown.bytes().data() + off, src, n);
                src += n;
            });
        }
        std::size_t d = rank;
        bool done = true;
        while (d > 0) {
            --d;
            if (++pick[d] < ranges[d].size()) {
                done = false;
                break;
            }
            pick[d] = 0;
        }
        if (done) break;
    }

    std::vector<std::string> texts(shown.elementCount());
    std::size_t width = 0;
    for (std::uint64_t i = 0; i < shown.elementCount(); ++i) {
        texts[i] = formatElement(dtype, shown.elementPtr(i));
        width = std::max(width, texts[i].size());
    }
    if (rank == 0) return texts.empty() ? std::string() : texts[0];

    std::ostringstream out;
    std::vector<std::size_t> strides(rank, 1);
    for (std::size_t d = rank - 1; d > 0; --d) {
        strides[d - 1] = strides[d] * static_cast<std::size_t>(displayShape[d]);
    }
    std::function<void(std::size_t, std::size_t)> emit = [&](std::size_t d, std::size_t base) {
        out << '[';
        const std::int64_t n = displayShape[d];
        const bool cut = ranges[d].size() == 2;
        for (std::int64_t i = 0; i < n; ++i) {
            if (i > 0) {
                if (d + 1 == rank) {
                    out << ", ";
                } else {
                    out << ",";
                    out << std::string(rank - d - 1, '\n') << std::string(d + 1, ' ');
                }
            }
            if (cut && i == edge) {
                out << "...";
                if (d + 1 == rank) {
                    out << ", ";
                } else {
                    out << ",\n" << std::string(d + 1, ' ');
                }
            }
            const std::size_t at = base + static_cast<std::size_t>(i) * strides[d];
            if (d + 1 == rank) {
                const std::string& t = texts[at];
                out << std::string(width - t.size(), ' ') << t;
            } else {
                emit(d + 1, at);
            }
        }
        out << ']';
    };
    emit(0, 0);
    return out.str();
}

}  // namespace ckpt::cli
