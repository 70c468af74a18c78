// The zip central directory of .npz files, and inflating each entry within its declared size.
#include <algorithm>

#include "formats/npz/zip_codec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = ckpt::fuzz::bytesOf(data, size);
    auto entries = ckpt::npz::readZipDirectory(bytes, "fuzz.npz");
    if (!entries.isOk()) return 0;
    for (const auto& e : *entries) {
        if (e.method != 8 || e.dataOffset > size || e.compressedSize > size - e.dataOffset) continue;
        static_cast<void>(ckpt::npz::inflateRaw(
            bytes.subspan(static_cast<std::size_t>(e.dataOffset),
                          static_cast<std::size_t>(e.compressedSize)),
            std::min<std::uint64_t>(e.uncompressedSize, 1 << 24), false, "fuzz"));
    }
    return 0;
}
