// The .npy array header as a pure codec: magic, version, and the Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } parsed strictly by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "ckpt/core/array.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt::npz {

// Bytes to read before npyHeaderSize() can tell the full header size.
inline constexpr std::size_t kNpyPreambleBytes = 12;

struct NpyHeader {
    std::uint64_t headerBytes = 0;  // magic through the '\n': where the data starts
    std::string descr;
    bool fortranOrder = false;
    Shape shape;
    DType dtype = DType::kFloat32;
    bool bigEndian = false;  // data must be byte-swapped (per component for complex)
    bool rawVoid = false;    // descr '|V<n>': numpy lost the dtype (ml_dtypes types)
};

// Total header size from the first bytes (magic, version 1.0/2.0/3.0, length field).
Result<std::uint64_t> npyHeaderSize(std::span<const std::byte> prefix, const std::string& where);

// Parses a whole header (`bytes` holds at least npyHeaderSize bytes). Corruption for malformed
// text, Unsupported for object/structured/string dtypes.
Result<NpyHeader> parseNpyHeader(std::span<const std::byte> bytes, const std::string& where);

// The descr our writer uses: '<f4', '|b1', ...; '|V2' / '|V1' for bfloat16 / float8 kinds,
// which is what numpy 2.4 itself writes for ml_dtypes arrays.
std::string descrForDType(DType dtype);
// The dtype a descr names, ignoring the byte order character; void kinds map to unsigned ints
// of the same size (raw bits).
std::optional<DType> dtypeForDescr(const std::string& descr, bool& bigEndian, bool& rawVoid);

// A version 1.0 header (2.0 when longer than 65535) padded with spaces to a multiple of 64
// bytes and ending in '\n', as numpy.lib.format writes it.
std::string encodeNpyHeader(DType dtype, const Shape& shape);

}  // namespace ckpt::npz
