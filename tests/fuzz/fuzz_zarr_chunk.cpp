// zarr chunk decoding: the first input byte picks one of the metadata documents Orbax and
// tensorstore write (v3 sharded with crc32c index and zstd, v3 plain zstd, v2 zstd, v2 raw, v2
// gzip); the rest is the stored chunk, read whole and streamed through computeStats.
#include <array>
#include <memory>
#include <string>

#include "formats/zarr/zarr_array.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

struct Layout {
    const char* metadataKey;
    const char* metadata;
    const char* chunkKey;
};

constexpr std::array<Layout, 5> kLayouts = {{
    {"a/zarr.json",
     R"({"zarr_format":3,"node_type":"array","shape":[8,6],"data_type":"float32",
         "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[8,6]}},
         "chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
         "fill_value":0.0,"codecs":[{"name":"sharding_indexed","configuration":{
           "chunk_shape":[4,3],"codecs":[{"name":"bytes","configuration":{"endian":"little"}},
           {"name":"zstd","configuration":{"level":1,"checksum":false}}],
           "index_codecs":[{"name":"bytes","configuration":{"endian":"little"}},{"name":"crc32c"}],
           "index_location":"end"}}]})",
     "a/c/0/0"},
    {"a/zarr.json",
     R"({"zarr_format":3,"node_type":"array","shape":[8,6],"data_type":"int32",
         "chunk_grid":{"name":"regular","configuration":{"chunk_shape":[8,6]}},
         "chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
         "fill_value":0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}},
         {"name":"zstd","configuration":{"level":1,"checksum":false}}]})",
     "a/c/0/0"},
    {"a/.zarray",
     R"({"zarr_format":2,"shape":[8,6],"chunks":[8,6],"dtype":"<f4",
         "compressor":{"id":"zstd","level":1},"fill_value":null,"filters":null,"order":"C"})",
     "a/0.0"},
    {"a/.zarray",
     R"({"zarr_format":2,"shape":[8,6],"chunks":[8,6],"dtype":"<u2","compressor":null,
         "fill_value":0,"filters":null,"order":"C"})",
     "a/0.0"},
    {"a/.zarray",
     R"({"zarr_format":2,"shape":[8,6],"chunks":[8,6],"dtype":">f8",
         "compressor":{"id":"gzip","level":1},"fill_value":"NaN","filters":null,"order":"F"})",
     "a/0.0"},
}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const Layout& layout = kLayouts[data[0] % kLayouts.size()];
    auto store = std::make_shared<ckpt::fuzz::MemoryStore>();
    store->values[layout.metadataKey] = layout.metadata;
    store->values[layout.chunkKey] = std::string(reinterpret_cast<const char*>(data + 1), size - 1);
    auto array = ckpt::zarr::openZarrArray(store, "a", "a");
    if (array.isOk()) {
        static_cast<void>((*array)->readAll());
        static_cast<void>(ckpt::computeStats(**array));
    }
    return 0;
}
