// Whole readers over a file: the input is written to a file named for the format this binary is
// built for (CKPT_FUZZ_FILE_NAME: an .h5 for the HDF5 reader's own logic over libhdf5, an .npz,
// a .safetensors, a .msgpack), opened with openCheckpoint and read in full. With
// CKPT_FUZZ_STEP_METADATA the input is instead the `_CHECKPOINT_METADATA` of an Orbax step whose
// item is valid, and the run directory is opened.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ckpt/core/format.h"
#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;

namespace {

const fs::path& workDir() {
    static const fs::path dir = [] {
        std::string tmpl = (fs::temp_directory_path() / "ckpt-fuzz-XXXXXX").string();
        return fs::path(::mkdtemp(tmpl.data()));
    }();
    return dir;
}

#ifdef CKPT_FUZZ_STEP_METADATA
// <work>/run/1/default: a small valid Orbax item, written once.
fs::path runDir() {
    static const fs::path run = [] {
        const fs::path root = workDir() / "run";
        ckpt::WriteOptions options;
        options.step = "1";
        ckpt::Array a = ckpt::Array::allocate(ckpt::DType::kFloat32, {4}).value();
        std::fill(a.bytes().begin(), a.bytes().end(), std::byte{0});
        const auto tree = ckpt::Node::makeDict(
            {{"w", ckpt::Node::makeArray(ckpt::makeMemorySource(std::move(a)))}});
        if (!ckpt::writeCheckpoint(tree, root, "orbax", options).isOk()) std::abort();
        return root;
    }();
    return run;
}
#endif

}  // namespace

// The HDF5 reader's probe child (hdf5_isolation.h) must give up well before libFuzzer's
// -timeout (10 s in run_fuzz.sh): a damaged file can make libhdf5 spin forever.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ::setenv("CKPT_HDF5_OPEN_TIMEOUT", "3", 0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
#ifdef CKPT_FUZZ_STEP_METADATA
    const fs::path root = runDir();
    const fs::path file = root / "1" / "_CHECKPOINT_METADATA";
#else
    const fs::path root = workDir() / CKPT_FUZZ_FILE_NAME;
    const fs::path& file = root;
#endif
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    auto opened = ckpt::openCheckpoint(root);
    if (opened.isOk()) ckpt::fuzz::readEverything(opened->tree);
    return 0;
}
