// OCDBT B+tree node (leaf and interior).
#include "formats/ocdbt/btree.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::ocdbt::decodeBtreeNode(ckpt::fuzz::bytesOf(data, size), "d/",
                                                   ckpt::ocdbt::DecodeLimits{}));
    return 0;
}
