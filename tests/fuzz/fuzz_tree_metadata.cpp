// Orbax `_METADATA` (the tree metadata JSON).
#include <string_view>

#include "formats/orbax/tree_metadata.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::orbax::parseTreeMetadata(
        std::string_view(reinterpret_cast<const char*>(data), size), "_METADATA"));
    return 0;
}
