// fuzz_seeds OUT [FIXTURES]: writes seed corpora for the fuzz targets into OUT/<target>/ — files
// of checkpoints the engine writes in every format (an Orbax checkpoint with OCDBT and one
// without, Flax msgpack, HDF5, safetensors, npz) and, when FIXTURES (../shared/fixtures) is given,
// the files of the real Orbax fixtures sorted by kind: manifests, data files (B+tree and version
// nodes), _METADATA, _CHECKPOINT_METADATA, zarr metadata, aggregate msgpack.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "ckpt/core/demo.h"
#include "ckpt/core/format.h"

namespace fs = std::filesystem;

namespace {

int counter = 0;

void seed(const fs::path& out, const std::string& target, const fs::path& file,
          const std::string& prefix = {}) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) > (1u << 20)) return;
    fs::create_directories(out / target);
    const fs::path to = out / target / ("seed_" + std::to_string(counter++));
    if (prefix.empty()) {
        fs::copy_file(file, to, fs::copy_options::overwrite_existing, ec);
        return;
    }
    std::ifstream in(file, std::ios::binary);
    std::ofstream o(to, std::ios::binary);
    o << prefix << in.rdbuf();
}

// Files under `root` sorted into the targets that decode them.
void sortFiles(const fs::path& out, const fs::path& root) {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        const std::string name = entry.path().filename().string();
        const std::string parent = entry.path().parent_path().filename().string();
        if (name == "manifest.ocdbt" || name.rfind("manifest.", 0) == 0) {
            seed(out, "ocdbt_manifest", entry.path());
        } else if (parent == "d") {
            seed(out, "ocdbt_btree", entry.path());
            seed(out, "ocdbt_version_tree", entry.path());
        } else if (name == "_METADATA") {
            seed(out, "tree_metadata", entry.path());
        } else if (name == "_CHECKPOINT_METADATA") {
            seed(out, "checkpoint_metadata", entry.path());
        } else if (name == "zarr.json" || name == ".zarray") {
            seed(out, "zarr_metadata", entry.path());
        } else if (name == "checkpoint") {
            seed(out, "flax_msgpack", entry.path());
            seed(out, "msgpack_value", entry.path());
        } else if (entry.path().string().find("/c/") != std::string::npos) {
            for (const char layout : {'\0', '\1', '\2'}) {
                seed(out, "zarr_chunk", entry.path(), std::string(1, layout));
            }
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: fuzz_seeds OUT [FIXTURES]\n";
        return 2;
    }
    const fs::path out = argv[1];
    const fs::path work = out / ".work";
    fs::remove_all(work);
    fs::create_directories(work);
    const auto tree = ckpt::makeDemoTrainState();
    const struct {
        const char* format;
        const char* name;
        const char* target;
    } singles[] = {{"flax", "demo.msgpack", "flax_msgpack"},
                   {"flax", "demo.msgpack", "msgpack_value"},
                   {"flax", "demo.msgpack", "open_flax"},
                   {"hdf5", "demo.h5", "open_hdf5"},
                   {"npz", "demo.npz", "open_npz"},
                   {"npz", "demo.npz", "zip"},
                   {"safetensors", "demo.safetensors", "open_safetensors"},
                   {"safetensors", "demo.safetensors", "safetensors_header"}};
    // safetensors and npz hold arrays only: the demo's params.
    const auto params = ckpt::Node::makeDict({{"params", tree->findChild("params")}});
    for (const auto& s : singles) {
        const fs::path file = work / s.name;
        if (!fs::exists(file)) {
            const bool arraysOnly = std::strcmp(s.format, "safetensors") == 0 ||
                                    std::strcmp(s.format, "npz") == 0;
            const auto status = ckpt::writeCheckpoint(arraysOnly ? params : tree, file, s.format);
            if (!status.isOk()) {
                std::cerr << "fuzz_seeds: " << status.toString() << "\n";
                return 1;
            }
        }
        seed(out, s.target, file);
    }
    // npy headers: the first bytes of each entry are not separable without the zip reader, so
    // a minimal header is written directly.
    {
        fs::create_directories(out / "npy_header");
        std::ofstream npy(out / "npy_header" / "seed_v1", std::ios::binary);
        std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 3), }";
        // Padded so that magic (6) + version (2) + length (2) + header ends on 64 bytes.
        const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
        header.append(total - 10 - header.size() - 1, ' ');
        header += '\n';
        npy << "\x93NUMPY\x01" << '\0' << static_cast<char>(header.size() & 0xff)
            << static_cast<char>(header.size() >> 8) << header;
    }
    for (const bool ocdbt : {true, false}) {
        ckpt::WriteOptions options;
        options.orbaxOcdbt = ocdbt;
        options.step = "1";
        const fs::path run = work / (ocdbt ? "orbax_ocdbt" : "orbax_zarr");
        if (!ckpt::writeCheckpoint(tree, run, "orbax", options).isOk()) return 1;
        sortFiles(out, run);
    }
    if (argc > 2 && fs::exists(argv[2])) sortFiles(out, argv[2]);
    fs::remove_all(work);
    return 0;
}
