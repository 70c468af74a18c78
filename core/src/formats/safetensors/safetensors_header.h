// The safetensors file header as a pure byte codec: no I/O, checked like the reference parser.
//
// Layout (FORMAT.md): u64 little-endian N, N bytes of JSON, then the data buffer. parseHeader
// validates every number before it is used and returns Corruption naming the file and tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/array.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/status.h"

namespace ckpt::safetensors {

// The reference (safetensors/src/tensor.rs MAX_HEADER_SIZE) refuses larger headers.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorEntry {
    std::string name;
    DType dtype = DType::kFloat32;
    Shape shape;
    std::uint64_t begin = 0;  // data_offsets, relative to the data buffer
    std::uint64_t end = 0;
};

struct Header {
    std::uint64_t dataStart = 0;       // 8 + N: file offset of the data buffer
    std::vector<TensorEntry> tensors;  // in data-offset order
    std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__, sorted by key
};

// The safetensors code ("F32", "BF16", "F8_E4M3", ...) of a dtype, if safetensors has one.
std::optional<std::string_view> dtypeCode(DType dtype);
std::optional<DType> dtypeFromCode(std::string_view code);

// Parses and validates the header of the whole file `file`; `fileName` is used in messages.
Result<Header> parseHeader(std::span<const std::byte> file, const std::string& fileName);

// The 8-byte length plus the JSON header, padded with spaces to a multiple of 8 as the reference
// does. `tensors` must have contiguous offsets starting at 0 and unique names other than
// "__metadata__".
std::string encodeHeader(const std::vector<TensorEntry>& tensors,
                         const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace ckpt::safetensors
