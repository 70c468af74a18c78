// zarr_tool: a small driver for the interop suite (tests/interop/test_zarr_interop.py).
//
//   zarr_tool write DIR --version 2|3 --dtype NAME --shape 2,3 [--chunks 1,3] [--no-compress]
//             [--no-shard] [--level N] [--skip-fill-chunks]  < raw C-order little-endian bytes
//   zarr_tool read DIR > raw bytes        (reads the array at DIR with openZarrArray)
//
// `--shape ""` is a 0-d array. Exit status 0 on success; errors go to stderr.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "ckpt/core/array_source.h"
#include "formats/zarr/zarr_array.h"
#include "formats/zarr/zarr_writer.h"
#include "kvstore/directory_store.h"
#include "kvstore/directory_writer.h"

using namespace ckpt;

namespace {

int fail(const std::string& message) {
    std::cerr << "zarr_tool: " << message << "\n";
    return 1;
}

bool parseShape(const std::string& text, Shape& shape) {
    shape.clear();
    if (text.empty()) return true;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find(',', start), text.size());
        const std::string part = text.substr(start, end - start);
        if (part.empty()) return false;
        char* rest = nullptr;
        const long long v = std::strtoll(part.c_str(), &rest, 10);
        if (*rest != '\0' || v < 0) return false;
        shape.push_back(v);
        start = end + 1;
    }
    return true;
}

int writeCommand(int argc, char** argv) {
    if (argc < 3) return fail("write needs DIR");
    const std::string dir = argv[2];
    zarr::ZarrWriteOptions options;
    std::string dtypeText;
    std::string shapeText;
    bool haveShape = false;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (arg == "--version") {
            const char* v = value();
            if (!v) return fail("--version needs a value");
            options.zarrVersion = std::atoi(v);
        } else if (arg == "--dtype") {
            const char* v = value();
            if (!v) return fail("--dtype needs a value");
            dtypeText = v;
        } else if (arg == "--shape") {
            const char* v = value();
            if (!v) return fail("--shape needs a value");
            shapeText = v;
            haveShape = true;
        } else if (arg == "--chunks") {
            const char* v = value();
            if (!v || !parseShape(v, options.chunkShape)) return fail("bad --chunks");
        } else if (arg == "--level") {
            const char* v = value();
            if (!v) return fail("--level needs a value");
            options.zstdLevel = std::atoi(v);
        } else if (arg == "--no-compress") {
            options.compress = false;
        } else if (arg == "--no-shard") {
            options.v3Sharding = false;
        } else if (arg == "--skip-fill-chunks") {
            options.writeChunksEqualToFill = false;
        } else {
            return fail("unknown option '" + arg + "'");
        }
    }
    const auto dtype = dtypeFromName(dtypeText);
    if (!dtype) return fail("unknown dtype '" + dtypeText + "'");
    Shape shape;
    if (!haveShape || !parseShape(shapeText, shape)) return fail("bad or missing --shape");
    std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto array = Array::fromBytes(*dtype, shape,
                                  std::as_bytes(std::span<const char>(raw.data(), raw.size())));
    if (!array.isOk()) return fail(array.status().toString());
    ArraySourcePtr source = makeMemorySource(std::move(*array));
    auto writer = kv::openDirectoryWriter(dir);
    if (!writer.isOk()) return fail(writer.status().toString());
    Status s = zarr::writeZarrArray(**writer, "", *source, options, nullptr);
    if (s.isOk()) s = (*writer)->commit();
    if (!s.isOk()) return fail(s.toString());
    return 0;
}

int readCommand(int argc, char** argv) {
    if (argc != 3) return fail("read needs DIR");
    auto store = kv::openDirectoryStore(argv[2]);
    if (!store.isOk()) return fail(store.status().toString());
    auto source = zarr::openZarrArray(*store, "", argv[2]);
    if (!source.isOk()) return fail(source.status().toString());
    auto data = (*source)->readAll();
    if (!data.isOk()) return fail(data.status().toString());
    const auto bytes = data->bytes();
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) {
        return fail("writing stdout failed");
    }
    std::cerr << dtypeName((*source)->dtype()) << " " << formatShape((*source)->shape()) << "\n";
    return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "write") == 0) return writeCommand(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], "read") == 0) return readCommand(argc, argv);
    return fail(
        "usage: zarr_tool write DIR --version 2|3 --dtype NAME --shape 2,3 "
        "[--chunks 1,3] < raw | zarr_tool read DIR > raw");
}
