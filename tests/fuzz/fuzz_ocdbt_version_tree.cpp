// OCDBT version-tree node.
#include "formats/ocdbt/version_tree.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::ocdbt::decodeVersionTreeNode(ckpt::fuzz::bytesOf(data, size), "d/",
                                                         ckpt::ocdbt::DecodeLimits{}));
    return 0;
}
