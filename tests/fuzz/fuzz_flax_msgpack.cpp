// Flax msgpack (and Orbax's aggregate `checkpoint` file, the same encoding): decode a tree from
// the input and read every leaf.
#include <memory>
#include <vector>

#include "formats/flax_msgpack/flax_codec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The decoded tree may point into its input: keep a copy alive as the owner.
    auto owner = std::make_shared<std::vector<std::byte>>(ckpt::fuzz::bytesOf(data, size).begin(),
                                                         ckpt::fuzz::bytesOf(data, size).end());
    auto tree = ckpt::flax::decodeFlaxTree(owner, *owner, "fuzz.msgpack");
    if (tree.isOk()) ckpt::fuzz::readEverything(*tree);
    return 0;
}
