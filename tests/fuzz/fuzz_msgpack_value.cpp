// The bounded msgpack parser under the Flax decoder.
#include "formats/flax_msgpack/msgpack_value.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static_cast<void>(ckpt::flax::parseMsgpack(ckpt::fuzz::bytesOf(data, size)));
    return 0;
}
