#include "formats/hdf5/hdf5_types.h"

#include <algorithm>
#include <cstring>

#include "ckpt/core/tree.h"

namespace ckpt::hdf5 {

namespace {

constexpr std::uint64_t kMaxAttributeBytes = 1ULL << 20;
constexpr std::uint64_t kMaxStringBytes = 256ULL << 20;
constexpr std::size_t kMaxAttributes = 4096;
constexpr std::size_t kShownValues = 32;

std::string ctx(std::string_view context, std::string_view what) {
    return std::string(context) + ": " + std::string(what);
}

Result<Handle> copyType(hid_t type, std::string_view context) {
    return checkId(H5Tcopy(type), H5Tclose, ctx(context, "copying a datatype"),
                   StatusCode::kInternal);
}

// IEEE half (and bfloat16 stored as a true float by other tools) recognised by bit layout.
std::optional<DType> smallFloat(hid_t ft) {
    std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0) return std::nullopt;
    if (H5Tget_size(ft) != 2 || spos != 15 || mpos != 0) return std::nullopt;
    if (epos == 10 && esize == 5 && msize == 10) return DType::kFloat16;
    if (epos == 7 && esize == 8 && msize == 7) return DType::kBFloat16;
    return std::nullopt;
}

Result<Handle> littleEndianCopy(hid_t ft, std::string_view context) {
    CKPT_ASSIGN_OR_RETURN(Handle mem, copyType(ft, context));
    CKPT_RETURN_IF_ERROR(checkRc(H5Tset_order(mem.get(), H5T_ORDER_LE),
                                 ctx(context, "setting byte order"), StatusCode::kInternal));
    return mem;
}

Result<Handle> complexType(std::size_t part) {
    CKPT_ASSIGN_OR_RETURN(Handle t, checkId(H5Tcreate(H5T_COMPOUND, 2 * part), H5Tclose,
                                            "creating a complex type", StatusCode::kInternal));
    const hid_t f = part == 4 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Tinsert(t.get(), "r", 0, f), "complex type", StatusCode::kInternal));
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Tinsert(t.get(), "i", part, f), "complex type", StatusCode::kInternal));
    return t;
}

std::string memberName(hid_t type, unsigned index) {
    char* name = H5Tget_member_name(type, index);
    if (name == nullptr) return {};
    std::string out(name);
    H5free_memory(name);
    return out;
}

// True for h5py's bool: an enum over a 1-byte integer with exactly FALSE=0 and TRUE=1.
bool isH5pyBool(hid_t ft) {
    if (H5Tget_size(ft) != 1 || H5Tget_nmembers(ft) != 2) return false;
    for (unsigned i = 0; i < 2; ++i) {
        std::int8_t value = 0;
        if (H5Tget_member_value(ft, i, &value) < 0) return false;
        const std::string name = memberName(ft, i);
        if (!((name == "FALSE" && value == 0) || (name == "TRUE" && value == 1))) return false;
    }
    return true;
}

Result<DType> integerDType(hid_t ft, std::string_view context) {
    const H5T_sign_t sign = H5Tget_sign(ft);
    const bool isSigned = sign == H5T_SGN_2;
    switch (H5Tget_size(ft)) {
        case 1:
            return isSigned ? DType::kInt8 : DType::kUInt8;
        case 2:
            return isSigned ? DType::kInt16 : DType::kUInt16;
        case 4:
            return isSigned ? DType::kInt32 : DType::kUInt32;
        case 8:
            return isSigned ? DType::kInt64 : DType::kUInt64;
        default:
            return unsupportedError(
                ctx(context, std::to_string(H5Tget_size(ft)) + "-byte integers are not supported"));
    }
}

hid_t standardInteger(DType d) {
    switch (d) {
        case DType::kInt8:
            return H5T_STD_I8LE;
        case DType::kInt16:
            return H5T_STD_I16LE;
        case DType::kInt32:
            return H5T_STD_I32LE;
        case DType::kInt64:
            return H5T_STD_I64LE;
        case DType::kUInt8:
            return H5T_STD_U8LE;
        case DType::kUInt16:
            return H5T_STD_U16LE;
        case DType::kUInt32:
            return H5T_STD_U32LE;
        default:
            return H5T_STD_U64LE;
    }
}

std::string className(H5T_class_t cls) {
    switch (cls) {
        case H5T_TIME:
            return "time";
        case H5T_BITFIELD:
            return "bitfield";
        case H5T_OPAQUE:
            return "opaque";
        case H5T_COMPOUND:
            return "compound";
        case H5T_REFERENCE:
            return "reference";
        case H5T_VLEN:
            return "variable-length sequence";
        case H5T_ARRAY:
            return "array";
        case H5T_STRING:
            return "string";
        default:
            return "class " + std::to_string(static_cast<int>(cls));
    }
}

Result<std::string> attributeValueText(hid_t attr, std::string_view context) {
    CKPT_ASSIGN_OR_RETURN(Handle space,
                          checkId(H5Aget_space(attr), H5Sclose, ctx(context, "attribute space")));
    const H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
    if (sclass == H5S_NULL) return std::string();
    const hssize_t points = H5Sget_simple_extent_npoints(space.get());
    if (points < 0) return hdf5Error(StatusCode::kCorruption, ctx(context, "attribute size"));
    const auto count = static_cast<std::uint64_t>(points);
    CKPT_ASSIGN_OR_RETURN(Handle ft,
                          checkId(H5Aget_type(attr), H5Tclose, ctx(context, "attribute type")));
    const bool scalar = sclass == H5S_SCALAR;
    std::string out;
    if (H5Tget_class(ft.get()) == H5T_STRING) {
        CKPT_ASSIGN_OR_RETURN(auto strings, readStrings(attr, true, ft.get(), count, context));
        if (scalar && strings.size() == 1) return strings[0];
        out = "[";
        for (std::size_t i = 0; i < strings.size() && i < kShownValues; ++i) {
            out += (i ? ", '" : "'") + strings[i] + "'";
        }
        return out + (strings.size() > kShownValues ? ", ...]" : "]");
    }
    CKPT_ASSIGN_OR_RETURN(ReadType rt, readTypeFor(ft.get()));
    const std::size_t item = itemSize(rt.dtype);
    if (count * item > kMaxAttributeBytes) {
        return "<" + std::to_string(count) + " values not shown>";
    }
    std::vector<std::byte> buf(static_cast<std::size_t>(count) * item);
    if (!buf.empty()) {
        CKPT_RETURN_IF_ERROR(checkRc(H5Aread(attr, rt.memType.get(), buf.data()),
                                     ctx(context, "reading attribute")));
    }
    auto text = [&](std::size_t i) {
        auto s = Scalar::fromBits(rt.dtype, std::span(buf).subspan(i * item, item));
        return s.isOk() ? s->toText() : std::string("?");
    };
    if (scalar && count == 1) return text(0);
    out = "[";
    for (std::size_t i = 0; i < count && i < kShownValues; ++i) out += (i ? ", " : "") + text(i);
    return out + (count > kShownValues ? ", ...]" : "]");
}

}  // namespace

Result<ReadType> readTypeFor(hid_t ft) {
    const std::string_view context = "datatype";
    ReadType rt;
    const H5T_class_t cls = H5Tget_class(ft);
    switch (cls) {
        case H5T_INTEGER: {
            CKPT_ASSIGN_OR_RETURN(rt.dtype, integerDType(ft, context));
            CKPT_ASSIGN_OR_RETURN(rt.memType, copyType(standardInteger(rt.dtype), context));
            return rt;
        }
        case H5T_FLOAT: {
            const std::size_t size = H5Tget_size(ft);
            if (size == 4 || size == 8) {
                rt.dtype = size == 4 ? DType::kFloat32 : DType::kFloat64;
                CKPT_ASSIGN_OR_RETURN(
                    rt.memType, copyType(size == 4 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, context));
                return rt;
            }
            if (auto d = smallFloat(ft)) {
                rt.dtype = *d;
                CKPT_ASSIGN_OR_RETURN(rt.memType, littleEndianCopy(ft, context));
                return rt;
            }
            return unsupportedError("a " + std::to_string(size) +
                                    "-byte floating-point datatype is not supported");
        }
        case H5T_ENUM: {
            if (isH5pyBool(ft)) {
                rt.dtype = DType::kBool;
                CKPT_ASSIGN_OR_RETURN(rt.memType, copyType(ft, context));  // 1 byte: raw copy
                return rt;
            }
            CKPT_ASSIGN_OR_RETURN(Handle base,
                                  checkId(H5Tget_super(ft), H5Tclose, "enum base type"));
            CKPT_ASSIGN_OR_RETURN(rt.dtype, integerDType(base.get(), context));
            CKPT_ASSIGN_OR_RETURN(rt.memType, checkId(H5Tget_native_type(ft, H5T_DIR_ASCEND),
                                                      H5Tclose, "native enum type"));
            return rt;
        }
        case H5T_COMPOUND: {
            if (H5Tget_nmembers(ft) == 2 && memberName(ft, 0) == "r" && memberName(ft, 1) == "i") {
                Handle r(H5Tget_member_type(ft, 0), H5Tclose);
                Handle i(H5Tget_member_type(ft, 1), H5Tclose);
                if (r.valid() && i.valid() && H5Tget_class(r.get()) == H5T_FLOAT &&
                    H5Tget_class(i.get()) == H5T_FLOAT &&
                    H5Tget_size(r.get()) == H5Tget_size(i.get()) &&
                    (H5Tget_size(r.get()) == 4 || H5Tget_size(r.get()) == 8)) {
                    const std::size_t part = H5Tget_size(r.get());
                    rt.dtype = part == 4 ? DType::kComplex64 : DType::kComplex128;
                    CKPT_ASSIGN_OR_RETURN(rt.memType, complexType(part));
                    return rt;
                }
            }
            return unsupportedError(
                "HDF5 compound datatypes other than complex {r, i} are not "
                "supported");
        }
        default:
            break;
    }
    H5Eclear2(H5E_DEFAULT);
    return unsupportedError("HDF5 " + className(cls) + " datatypes are not supported");
}

bool storedAsBits(DType dtype) {
    return dtype == DType::kBFloat16 || (itemSize(dtype) == 1 && dtype != DType::kBool &&
                                         dtype != DType::kInt8 && dtype != DType::kUInt8);
}

Result<Handle> storageTypeFor(DType dtype) {
    const std::string_view context = "creating a datatype";
    switch (dtype) {
        case DType::kBool: {
            CKPT_ASSIGN_OR_RETURN(Handle t, checkId(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose,
                                                    context, StatusCode::kInternal));
            std::int8_t no = 0, yes = 1;
            CKPT_RETURN_IF_ERROR(checkRc(H5Tenum_insert(t.get(), "FALSE", &no), context));
            CKPT_RETURN_IF_ERROR(checkRc(H5Tenum_insert(t.get(), "TRUE", &yes), context));
            return t;
        }
        case DType::kFloat16: {
            // As h5py builds its IEEE half type.
            CKPT_ASSIGN_OR_RETURN(Handle t, copyType(H5T_IEEE_F32LE, context));
            CKPT_RETURN_IF_ERROR(checkRc(H5Tset_fields(t.get(), 15, 10, 5, 0, 10), context));
            CKPT_RETURN_IF_ERROR(checkRc(H5Tset_size(t.get(), 2), context));
            CKPT_RETURN_IF_ERROR(checkRc(H5Tset_ebias(t.get(), 15), context));
            return t;
        }
        case DType::kFloat32:
            return copyType(H5T_IEEE_F32LE, context);
        case DType::kFloat64:
            return copyType(H5T_IEEE_F64LE, context);
        case DType::kComplex64:
            return complexType(4);
        case DType::kComplex128:
            return complexType(8);
        case DType::kBFloat16:
            return copyType(H5T_STD_U16LE, context);
        case DType::kInt8:
        case DType::kInt16:
        case DType::kInt32:
        case DType::kInt64:
        case DType::kUInt8:
        case DType::kUInt16:
        case DType::kUInt32:
        case DType::kUInt64:
            return copyType(standardInteger(dtype), context);
        default:
            return copyType(H5T_STD_U8LE, context);  // the float8 kinds
    }
}

Result<Shape> spaceShape(hid_t space, std::string_view context) {
    const H5S_class_t cls = H5Sget_simple_extent_type(space);
    if (cls == H5S_SCALAR) return Shape{};
    if (cls != H5S_SIMPLE) return corruptionError(ctx(context, "not a simple dataspace"));
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > H5S_MAX_RANK)
        return hdf5Error(StatusCode::kCorruption, ctx(context, "dataspace rank"));
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) {
        return hdf5Error(StatusCode::kCorruption, ctx(context, "dataspace dimensions"));
    }
    Shape shape;
    for (hsize_t d : dims) {
        if (d > static_cast<hsize_t>(INT64_MAX))
            return corruptionError(ctx(context, "dimension too large"));
        shape.push_back(static_cast<std::int64_t>(d));
    }
    CKPT_RETURN_IF_ERROR(checkedElementCount(shape).status());
    return shape;
}

std::vector<std::string> describeFilters(hid_t dcpl) {
    std::vector<std::string> out;
    const int n = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n; ++i) {
        unsigned flags = 0, cd[8] = {};
        std::size_t ncd = 8;
        char name[64] = {};
        const H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &ncd, cd,
                                               sizeof name, name, nullptr);
        const std::size_t shown = std::min<std::size_t>(ncd, 8);
        if (id == H5Z_FILTER_DEFLATE) {
            out.push_back("gzip(level=" + (shown > 0 ? std::to_string(cd[0]) : std::string("?")) +
                          ")");
        } else if (id == H5Z_FILTER_SHUFFLE) {
            out.emplace_back("shuffle");
        } else if (id == kZstdFilterId) {
            out.push_back(
                "zstd(level=" + (shown > 0 ? std::to_string(cd[0]) : std::string("default")) + ")");
        } else if (id == H5Z_FILTER_FLETCHER32) {
            out.emplace_back("fletcher32");
        } else if (id == H5Z_FILTER_SZIP) {
            out.emplace_back("szip");
        } else if (id == H5Z_FILTER_NBIT) {
            out.emplace_back("nbit");
        } else if (id == H5Z_FILTER_SCALEOFFSET) {
            out.emplace_back("scaleoffset");
        } else {
            out.push_back("filter " + std::to_string(id));
        }
    }
    H5Eclear2(H5E_DEFAULT);
    return out;
}

Result<std::optional<std::string>> readStringAttribute(hid_t obj, const char* name,
                                                       std::string_view context) {
    const htri_t exists = H5Aexists(obj, name);
    if (exists < 0) return hdf5Error(StatusCode::kCorruption, ctx(context, "attribute lookup"));
    if (exists == 0) return std::optional<std::string>();
    const std::string what = std::string("attribute ") + name;
    CKPT_ASSIGN_OR_RETURN(Handle attr,
                          checkId(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, ctx(context, what)));
    CKPT_ASSIGN_OR_RETURN(Handle ft,
                          checkId(H5Aget_type(attr.get()), H5Tclose, ctx(context, what)));
    CKPT_ASSIGN_OR_RETURN(Handle space,
                          checkId(H5Aget_space(attr.get()), H5Sclose, ctx(context, what)));
    if (H5Tget_class(ft.get()) == H5T_INTEGER && H5Tget_size(ft.get()) == 1) {
        // A value containing NUL bytes is stored as a 1-d uint8 attribute (FORMAT.md).
        const hssize_t n = H5Sget_simple_extent_npoints(space.get());
        if (n < 0 || static_cast<std::uint64_t>(n) > kMaxAttributeBytes) {
            return corruptionError(ctx(context, what + " is too large"));
        }
        std::string bytes(static_cast<std::size_t>(n), '\0');
        if (n > 0) {
            CKPT_RETURN_IF_ERROR(
                checkRc(H5Aread(attr.get(), H5T_NATIVE_UINT8, bytes.data()), ctx(context, what)));
        }
        return std::optional<std::string>(std::move(bytes));
    }
    if (H5Tget_class(ft.get()) != H5T_STRING) {
        return corruptionError(ctx(context, what + " is not a string"));
    }
    if (H5Sget_simple_extent_npoints(space.get()) != 1) {
        return corruptionError(ctx(context, what + " is not a single string"));
    }
    CKPT_ASSIGN_OR_RETURN(auto strings,
                          readStrings(attr.get(), true, ft.get(), 1, ctx(context, what)));
    return std::optional<std::string>(std::move(strings.at(0)));
}

Result<std::optional<std::int64_t>> readIntAttribute(hid_t obj, const char* name,
                                                     std::string_view context) {
    const htri_t exists = H5Aexists(obj, name);
    if (exists < 0) return hdf5Error(StatusCode::kCorruption, ctx(context, "attribute lookup"));
    if (exists == 0) return std::optional<std::int64_t>();
    const std::string what = std::string("attribute ") + name;
    CKPT_ASSIGN_OR_RETURN(Handle attr,
                          checkId(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, ctx(context, what)));
    CKPT_ASSIGN_OR_RETURN(Handle space,
                          checkId(H5Aget_space(attr.get()), H5Sclose, ctx(context, what)));
    CKPT_ASSIGN_OR_RETURN(Handle ft,
                          checkId(H5Aget_type(attr.get()), H5Tclose, ctx(context, what)));
    if (H5Sget_simple_extent_npoints(space.get()) != 1 || H5Tget_class(ft.get()) != H5T_INTEGER) {
        return corruptionError(ctx(context, what + " is not a single integer"));
    }
    std::int64_t v = 0;
    CKPT_RETURN_IF_ERROR(checkRc(H5Aread(attr.get(), H5T_STD_I64LE, &v), ctx(context, what)));
    return std::optional<std::int64_t>(v);
}

Status writeStringAttribute(hid_t obj, const char* name, std::string_view value,
                            std::string_view context) {
    const std::string what = ctx(context, std::string("writing attribute ") + name);
    if (value.find('\0') != std::string_view::npos) {
        const hsize_t n = value.size();
        CKPT_ASSIGN_OR_RETURN(Handle space, checkId(H5Screate_simple(1, &n, nullptr), H5Sclose,
                                                    what, StatusCode::kInternal));
        CKPT_ASSIGN_OR_RETURN(Handle attr, checkId(H5Acreate2(obj, name, H5T_STD_U8LE, space.get(),
                                                              H5P_DEFAULT, H5P_DEFAULT),
                                                   H5Aclose, what, StatusCode::kIoError));
        CKPT_RETURN_IF_ERROR(checkRc(H5Awrite(attr.get(), H5T_NATIVE_UINT8, value.data()), what,
                                     StatusCode::kIoError));
        return attr.close(what);
    }
    CKPT_ASSIGN_OR_RETURN(Handle type, copyType(H5T_C_S1, what));
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Tset_size(type.get(), H5T_VARIABLE), what, StatusCode::kInternal));
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Tset_cset(type.get(), H5T_CSET_UTF8), what, StatusCode::kInternal));
    CKPT_ASSIGN_OR_RETURN(Handle space,
                          checkId(H5Screate(H5S_SCALAR), H5Sclose, what, StatusCode::kInternal));
    CKPT_ASSIGN_OR_RETURN(Handle attr, checkId(H5Acreate2(obj, name, type.get(), space.get(),
                                                          H5P_DEFAULT, H5P_DEFAULT),
                                               H5Aclose, what, StatusCode::kIoError));
    const std::string copy(value);
    const char* ptr = copy.c_str();
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Awrite(attr.get(), type.get(), &ptr), what, StatusCode::kIoError));
    return attr.close(what);
}

Status writeInt8Attribute(hid_t obj, const char* name, std::int8_t value,
                          std::string_view context) {
    const std::string what = ctx(context, std::string("writing attribute ") + name);
    CKPT_ASSIGN_OR_RETURN(Handle space,
                          checkId(H5Screate(H5S_SCALAR), H5Sclose, what, StatusCode::kInternal));
    CKPT_ASSIGN_OR_RETURN(Handle attr, checkId(H5Acreate2(obj, name, H5T_STD_I8LE, space.get(),
                                                          H5P_DEFAULT, H5P_DEFAULT),
                                               H5Aclose, what, StatusCode::kIoError));
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Awrite(attr.get(), H5T_NATIVE_INT8, &value), what, StatusCode::kIoError));
    return attr.close(what);
}

Result<std::vector<std::pair<std::string, std::string>>> readDisplayAttributes(
    hid_t obj, std::string_view context) {
    H5O_info_t info{};
    CKPT_RETURN_IF_ERROR(
        checkRc(H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS), ctx(context, "object info")));
    std::vector<std::pair<std::string, std::string>> out;
    const auto n = static_cast<std::size_t>(std::min<hsize_t>(info.num_attrs, kMaxAttributes));
    for (std::size_t i = 0; i < n; ++i) {
        CKPT_ASSIGN_OR_RETURN(
            Handle attr, checkId(H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                                H5P_DEFAULT, H5P_DEFAULT),
                                 H5Aclose, ctx(context, "opening attribute " + std::to_string(i))));
        const ssize_t len = H5Aget_name(attr.get(), 0, nullptr);
        if (len < 0) return hdf5Error(StatusCode::kCorruption, ctx(context, "attribute name"));
        std::string name(static_cast<std::size_t>(len) + 1, '\0');
        if (H5Aget_name(attr.get(), name.size(), name.data()) < 0) {
            return hdf5Error(StatusCode::kCorruption, ctx(context, "attribute name"));
        }
        name.resize(static_cast<std::size_t>(len));
        if (name.rfind("ckpt_", 0) == 0) continue;
        auto text = attributeValueText(attr.get(), ctx(context, "attribute '" + name + "'"));
        H5Eclear2(H5E_DEFAULT);
        out.emplace_back(name,
                         text.isOk() ? *text : "<unreadable: " + text.status().message() + ">");
    }
    if (info.num_attrs > kMaxAttributes) {
        out.emplace_back("...",
                         std::to_string(info.num_attrs - kMaxAttributes) + " more attributes");
    }
    return out;
}

Result<std::vector<std::string>> readStrings(hid_t obj, bool isAttribute, hid_t ft,
                                             std::uint64_t count, std::string_view context) {
    std::vector<std::string> out;
    if (count == 0) return out;
    const htri_t isVar = H5Tis_variable_str(ft);
    if (isVar < 0) return hdf5Error(StatusCode::kCorruption, ctx(context, "string type"));
    const H5T_cset_t cset = H5Tget_cset(ft);
    if (isVar > 0) {
        if (count > kMaxStringBytes / sizeof(char*))
            return corruptionError(ctx(context, "too many strings"));
        CKPT_ASSIGN_OR_RETURN(Handle mem, copyType(H5T_C_S1, context));
        CKPT_RETURN_IF_ERROR(
            checkRc(H5Tset_size(mem.get(), H5T_VARIABLE), context, StatusCode::kInternal));
        CKPT_RETURN_IF_ERROR(
            checkRc(H5Tset_cset(mem.get(), cset == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII),
                    context, StatusCode::kInternal));
        std::vector<char*> ptrs(static_cast<std::size_t>(count), nullptr);
        const herr_t rc = isAttribute
                              ? H5Aread(obj, mem.get(), ptrs.data())
                              : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
        // After a failed read HDF5 may have freed what it had allocated: leak, never double free.
        CKPT_RETURN_IF_ERROR(checkRc(rc, ctx(context, "reading strings")));
        Status status;
        std::uint64_t total = 0;
        for (char* p : ptrs) {
            if (p != nullptr && status.isOk()) {
                const std::size_t len = std::strlen(p);
                total += len;
                if (total > kMaxStringBytes)
                    status = corruptionError(ctx(context, "strings too large"));
                if (status.isOk()) out.emplace_back(p, len);
            } else if (status.isOk()) {
                out.emplace_back();
            }
            H5free_memory(p);  // what H5Dvlen_reclaim does for a variable-length string
        }
        CKPT_RETURN_IF_ERROR(status);
        return out;
    }
    const std::size_t size = H5Tget_size(ft);
    if (size == 0 || count > kMaxStringBytes / size)
        return corruptionError(ctx(context, "strings too large"));
    CKPT_ASSIGN_OR_RETURN(Handle mem, copyType(ft, context));
    std::vector<char> buf(static_cast<std::size_t>(count) * size);
    const herr_t rc = isAttribute
                          ? H5Aread(obj, mem.get(), buf.data())
                          : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    CKPT_RETURN_IF_ERROR(checkRc(rc, ctx(context, "reading strings")));
    const H5T_str_t pad = H5Tget_strpad(ft);
    for (std::size_t i = 0; i < count; ++i) {
        std::string s(buf.data() + i * size, size);
        if (pad == H5T_STR_SPACEPAD) {
            s.erase(s.find_last_not_of(' ') + 1);
        } else if (pad == H5T_STR_NULLPAD) {
            s.erase(s.find_last_not_of('\0') + 1);
        } else {
            s.resize(std::strlen(s.c_str()));
        }
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace ckpt::hdf5
