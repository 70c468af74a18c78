// safetensors: the 8-byte length and the JSON header, then every tensor read.
#include "ckpt/core/format.h"
#include "formats/safetensors/safetensors_header.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::safetensors::parseHeader(ckpt::fuzz::bytesOf(data, size), "fuzz"));
    return 0;
}
