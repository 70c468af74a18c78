// OCDBT manifest (envelope, config, inline version tree).
#include "formats/ocdbt/manifest.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::ocdbt::decodeManifest(ckpt::fuzz::bytesOf(data, size)));
    return 0;
}
