// zarr v2 (.zarray) and v3 (zarr.json) metadata.
#include <string_view>

#include "formats/zarr/zarr_metadata.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static_cast<void>(ckpt::zarr::parseZarrV2Metadata(text));
    static_cast<void>(ckpt::zarr::parseZarrV3Metadata(text));
    return 0;
}
