// .npy header (magic, version, the Python-literal dict).
#include "formats/npz/npy_header.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = ckpt::fuzz::bytesOf(data, size);
    static_cast<void>(ckpt::npz::npyHeaderSize(bytes, "fuzz.npy"));
    static_cast<void>(ckpt::npz::parseNpyHeader(bytes, "fuzz.npy"));
    return 0;
}
