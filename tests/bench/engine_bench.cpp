// engine_bench: our engine's side of tests/bench/suite.py (run by the script; see README.md).
//
// Two ways to run it:
//   engine_bench serve            reads one command a line on stdin, answers each with one
//                                 "BENCH_RESULT {json}" line on stdout, so the script can
//                                 interleave our rounds with orbax's while our trees stay in
//                                 memory;
//   engine_bench open DIR         one open in this fresh process (peak memory is its own).
// Commands of `serve`:
//   tree NAME big F32MIB F32N BF16MIB BF16N   F32N float32 arrays of F32MIB MiB each and BF16N
//                                 bfloat16 arrays of BF16MIB MiB each (rows of 1024 elements)
//   tree NAME small LEAVES ELEMENTS           LEAVES float32 leaves of ELEMENTS elements each,
//                                 in groups of 10 ("layers_<i>/w<j>")
//   save NAME DIR ZARR            Checkpointer::save(format "orbax", zarr version ZARR, OCDBT) of
//                                 tree NAME into DIR
//   async NAME DIR ZARR           AsyncCheckpointer::saveAsync (kCopy): blocked, then total
//   restore DIR                   Checkpointer::restore + readAll() of every array (2 threads)
//   slice DIR KEY FRACTION        ArraySource::read of the first FRACTION of rows of leaf KEY
//   limits NAME DIR MIB ZARR [per-array]
//                                 memcpy (1, 2 threads), zstd compress/decompress at Orbax's level
//                                 for zarr version ZARR (1, 2 threads) of the first MIB MiB of tree
//                                 NAME's data in 4 MiB blocks (per-array: each array one frame),
//                                 fsync'd 8 MiB writes of it into DIR; and zstd decompress (2
//                                 threads) into fresh memory, as a restore must
//   touch MIB                     maps MIB MiB of fresh memory, writes one byte a page (2
//                                 threads), unmaps it: the first-touch rate of the moment, and
//                                 it leaves that much recently used memory free for the next
//                                 allocation (see README.md, "restore and fresh memory")
// The values are the ones suite.py gives orbax (make_* there).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpointer.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "formats/zarr/zarr_writer.h"

using namespace ckpt;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// The pseudo-random 16-bit steps of manager_bench: u = (i + seed) * 2654435761 mod 2^32.
std::uint32_t hashBits(std::uint64_t i, std::uint64_t seed) {
    return static_cast<std::uint32_t>((i + seed) * 2654435761ULL);
}

Array makeFloat32(std::uint64_t seed, std::int64_t rows, std::int64_t cols) {
    auto a = Array::allocate(DType::kFloat32, {rows, cols});
    auto* p = reinterpret_cast<float*>(a->bytes().data());
    const auto n = static_cast<std::uint64_t>(rows * cols);
    for (std::uint64_t i = 0; i < n; ++i) {
        p[i] = static_cast<float>((hashBits(i, seed) >> 16) & 0xffffu) * 1e-3f;
    }
    return std::move(*a);
}

// bfloat16 bits 0x3f00 + (8 pseudo-random bits): values in [0.5, 2).
Array makeBFloat16(std::uint64_t seed, std::int64_t rows, std::int64_t cols) {
    auto a = Array::allocate(DType::kBFloat16, {rows, cols});
    auto* p = reinterpret_cast<std::uint16_t*>(a->bytes().data());
    const auto n = static_cast<std::uint64_t>(rows * cols);
    for (std::uint64_t i = 0; i < n; ++i) {
        p[i] = static_cast<std::uint16_t>(0x3f00u + ((hashBits(i, seed) >> 16) & 0xffu));
    }
    return std::move(*a);
}

// prefix + i, built by appending: `"w" + std::to_string(i)` trips GCC 12's -Wrestrict at -O3.
std::string key(const char* prefix, int i) {
    std::string s = prefix;
    s += std::to_string(i);
    return s;
}

struct Tree {
    NodePtr root;
    std::vector<ArraySourcePtr> arrays;  // for the limits: the raw bytes
    std::vector<const Array*> raw;
    std::vector<std::shared_ptr<Array>> owners;
};

NodePtr addLeaf(Tree& t, Array a) {
    auto owner = std::make_shared<Array>(std::move(a));
    t.raw.push_back(owner.get());
    t.owners.push_back(owner);
    auto source = makeMemorySource(owner->clone());
    t.arrays.push_back(source);
    return Node::makeArray(source);
}

Tree makeBigTree(std::int64_t f32Mib, int f32N, std::int64_t bf16Mib, int bf16N) {
    Tree t;
    std::vector<DictEntry> leaves;
    for (int i = 0; i < f32N; ++i) {
        const std::int64_t rows = f32Mib * (1 << 20) / 4 / 1024;
        leaves.push_back(
            {key("w", i), addLeaf(t, makeFloat32(static_cast<std::uint64_t>(i), rows, 1024))});
    }
    for (int i = 0; i < bf16N; ++i) {
        const std::int64_t rows = bf16Mib * (1 << 20) / 2 / 1024;
        leaves.push_back({key("b", i), addLeaf(t, makeBFloat16(static_cast<std::uint64_t>(100 + i),
                                                               rows, 1024))});
    }
    t.root = Node::makeDict({{"params", Node::makeDict(std::move(leaves))}});
    return t;
}

Tree makeSmallTree(int leafCount, std::int64_t elements) {
    Tree t;
    std::vector<DictEntry> layers;
    for (int l = 0; l * 10 < leafCount; ++l) {
        std::vector<DictEntry> leaves;
        for (int j = 0; j < 10 && l * 10 + j < leafCount; ++j) {
            leaves.push_back(
                {key("w", j),
                 addLeaf(t, makeFloat32(static_cast<std::uint64_t>(l * 10 + j), 1, elements))});
        }
        layers.push_back({key("layers_", l), Node::makeDict(std::move(leaves))});
    }
    t.root = Node::makeDict({{"params", Node::makeDict(std::move(layers))}});
    return t;
}

void collectArrays(const NodePtr& n, std::vector<ArraySourcePtr>& out) {
    if (n->kind() == NodeKind::kArray) out.push_back(n->array());
    if (n->isContainer()) {
        for (std::size_t i = 0; i < n->childCount(); ++i) collectArrays(n->child(i), out);
    }
}

std::uint64_t countLeaves(const NodePtr& n) {
    if (!n->isContainer()) return 1;
    std::uint64_t c = 0;
    for (std::size_t i = 0; i < n->childCount(); ++i) c += countLeaves(n->child(i));
    return c;
}

// Runs f(thread index) on `threads` threads and returns the wall time.
double timeThreads(std::size_t threads, const std::function<void(std::size_t)>& f) {
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (std::size_t k = 0; k < threads; ++k) pool.emplace_back(f, k);
    for (auto& th : pool) th.join();
    return secondsSince(t0);
}

std::uint64_t peakRssKib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
    }
    return 0;
}

json fail(const std::string& what) {
    return {{"error", what}};
}

WriteOptions writeOptions(int zarrVersion) {
    WriteOptions o;
    o.orbaxZarrVersion = zarrVersion;
    return o;
}

json cmdSave(const Tree& t, const fs::path& dir, int zarrVersion) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    const auto t0 = Clock::now();
    const Status s = Checkpointer().save(t.root, dir, "orbax", writeOptions(zarrVersion));
    const double secs = secondsSince(t0);
    if (!s.isOk()) return fail(s.toString());
    return {{"seconds", secs}};
}

json cmdAsync(const Tree& t, const fs::path& dir, int zarrVersion, AsyncCheckpointer& async) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    const auto t0 = Clock::now();
    const Status s = async.saveAsync(t.root, dir, "orbax", writeOptions(zarrVersion));
    const double blocked = secondsSince(t0);
    const Status f = async.waitUntilFinished();
    const double total = secondsSince(t0);
    if (!s.isOk() || !f.isOk()) return fail((s.isOk() ? f : s).toString());
    return {{"blocked", blocked}, {"total", total}};
}

// This process's CPU seconds (user, system) and minor page faults so far.
struct Usage {
    double user = 0, system = 0;
    long minorFaults = 0;
};
Usage usageNow() {
    rusage r{};
    ::getrusage(RUSAGE_SELF, &r);
    const auto secs = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    return {secs(r.ru_utime), secs(r.ru_stime), r.ru_minflt};
}

json cmdRestore(const fs::path& dir) {
    const Usage u0 = usageNow();
    const auto t0 = Clock::now();
    auto ck = Checkpointer().restore(dir);
    if (!ck.isOk()) return fail(ck.status().toString());
    std::vector<ArraySourcePtr> sources;
    collectArrays(ck->tree, sources);
    std::vector<Array> out(sources.size());
    std::atomic<std::size_t> next{0};
    std::atomic<bool> bad{false};
    std::string error;
    std::mutex m;
    timeThreads(2, [&](std::size_t) {
        for (std::size_t i = next++; i < sources.size(); i = next++) {
            auto a = sources[i]->readAll();
            if (!a.isOk()) {
                std::lock_guard lock(m);
                error = a.status().toString();
                bad = true;
                return;
            }
            out[i] = std::move(*a);
        }
    });
    const double secs = secondsSince(t0);
    if (bad) return fail(error);
    std::uint64_t bytes = 0;
    for (const auto& a : out) bytes += a.byteSize();
    const Usage u1 = usageNow();
    return {{"seconds", secs},
            {"bytes", bytes},
            {"arrays", sources.size()},
            {"user_seconds", u1.user - u0.user},
            {"system_seconds", u1.system - u0.system},
            {"minor_faults", u1.minorFaults - u0.minorFaults}};
}

json cmdSlice(const fs::path& dir, const std::string& key, double fraction) {
    const auto t0 = Clock::now();
    auto ck = Checkpointer().restore(dir);
    if (!ck.isOk()) return fail(ck.status().toString());
    NodePtr n = ck->tree;
    std::stringstream path(key);
    for (std::string part; n && std::getline(path, part, '/');) n = n->findChild(part);
    if (!n || n->kind() != NodeKind::kArray) return fail("no array " + key);
    const auto& src = n->array();
    Selection sel = Selection::all(src->shape());
    sel.count[0] = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(static_cast<double>(sel.count[0]) * fraction));
    auto a = src->read(sel);
    const double secs = secondsSince(t0);
    if (!a.isOk()) return fail(a.status().toString());
    double sum = 0;
    for (std::uint64_t i = 0; i < a->elementCount(); i += 4099) sum += a->toDouble(i);
    return {{"seconds", secs}, {"bytes", a->byteSize()}, {"checksum", sum}};
}

// `perArray`: zstd compresses each array as its own frame (the unit a zarr array of one chunk
// is compressed in: a tree of small leaves) instead of 4 MiB blocks.
// Maps `mib` MiB of fresh anonymous memory, writes one byte a page on 2 threads, unmaps it.
json cmdTouch(std::int64_t mib) {
    const std::size_t bytes = static_cast<std::size_t>(std::max<std::int64_t>(mib, 1)) << 20;
    const Usage u0 = usageNow();
    const auto t0 = Clock::now();
    void* const map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0);
    if (map == MAP_FAILED) return fail("cannot map " + std::to_string(mib) + " MiB");
    auto* const p = static_cast<volatile unsigned char*>(map);
    const long pageSize = ::sysconf(_SC_PAGESIZE);
    const std::size_t page = pageSize > 0 ? static_cast<std::size_t>(pageSize) : 4096;
    timeThreads(2, [&](std::size_t k) {
        const std::size_t half = bytes / 2;
        for (std::size_t off = k * half; off < (k == 0 ? half : bytes); off += page) p[off] = 1;
    });
    const double secs = secondsSince(t0);
    ::munmap(map, bytes);
    const Usage u1 = usageNow();
    return {{"seconds", secs},
            {"bytes", bytes},
            {"rate", static_cast<double>(bytes) / secs},
            {"system_seconds", u1.system - u0.system},
            {"minor_faults", u1.minorFaults - u0.minorFaults}};
}

json cmdLimits(const Tree& t, const fs::path& dir, std::int64_t mib, int level, bool perArray) {
    // The first `mib` MiB of the tree's arrays, as one buffer.
    const std::size_t total = static_cast<std::size_t>(mib) << 20;
    std::vector<std::byte> src(total);
    std::size_t filled = 0;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;  // zstd's units: offset, size
    const std::size_t block = std::size_t{4} << 20;
    for (const Array* a : t.raw) {
        const std::size_t n = std::min(a->byteSize(), total - filled);
        std::memcpy(src.data() + filled, a->bytes().data(), n);
        if (perArray && n > 0) ranges.emplace_back(filled, n);
        filled += n;
        if (filled == total) break;
    }
    src.resize(filled);
    if (!perArray) {
        for (std::size_t off = 0; off < filled; off += block) {
            ranges.emplace_back(off, std::min(block, filled - off));
        }
    }
    std::vector<std::byte> dst(filled);
    std::memset(dst.data(), 1, dst.size());  // mapped: bandwidth, not page faults
    json j;
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        const double secs = timeThreads(threads, [&](std::size_t k) {
            const std::size_t part = filled / threads;
            const std::size_t begin = part * k, end = k + 1 == threads ? filled : begin + part;
            std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
        });
        j["memcpy_" + std::to_string(threads) + "t"] = static_cast<double>(filled) / secs;
    }
    // zstd of each range at `level` (the level of the zarr version written, as Orbax's).
    const std::size_t blocks = ranges.size();
    std::vector<std::vector<char>> frames(blocks);
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        const double secs = timeThreads(threads, [&](std::size_t k) {
            ZSTD_CCtx* ctx = ZSTD_createCCtx();
            for (std::size_t b = k; b < blocks; b += threads) {
                const auto [off, n] = ranges[b];
                frames[b].resize(ZSTD_compressBound(n));
                const std::size_t z = ZSTD_compressCCtx(ctx, frames[b].data(), frames[b].size(),
                                                        src.data() + off, n, level);
                frames[b].resize(ZSTD_isError(z) ? 0 : z);
            }
            ZSTD_freeCCtx(ctx);
        });
        j["zstd_compress_" + std::to_string(threads) + "t"] = static_cast<double>(filled) / secs;
    }
    std::size_t compressed = 0;
    for (const auto& f : frames) compressed += f.size();
    j["zstd_ratio"] =
        static_cast<double>(filled) / static_cast<double>(std::max<std::size_t>(1, compressed));
    for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
        const double secs = timeThreads(threads, [&](std::size_t k) {
            ZSTD_DCtx* ctx = ZSTD_createDCtx();
            for (std::size_t b = k; b < blocks; b += threads) {
                ZSTD_decompressDCtx(ctx, dst.data() + ranges[b].first, ranges[b].second,
                                    frames[b].data(), frames[b].size());
            }
            ZSTD_freeDCtx(ctx);
        });
        j["zstd_decompress_" + std::to_string(threads) + "t"] = static_cast<double>(filled) / secs;
    }
    bool roundTrip = std::memcmp(src.data(), dst.data(), filled) == 0;
    // What a restore does: decompress into memory it has just allocated, so the output's pages
    // are faulted in as they are written (each thread its own fresh half, as our restore's
    // threads each allocate the arrays they read), at least 1 GiB of output (the data decoded
    // again into new memory as often as it takes; all of it held to the end, as a restore's
    // arrays are). Right after a touch of twice that memory, the state suite.py gives every
    // restore.
    {
        const std::size_t passes =
            std::max<std::size_t>(1, (std::size_t{1} << 30) / std::max<std::size_t>(filled, 1));
        (void)cmdTouch(static_cast<std::int64_t>(2 * ((passes * filled) >> 20) + 256));
        // Split at the first zstd unit starting in the second half.
        std::size_t half = filled;
        for (const auto& [off, n] : ranges) {
            if (off >= filled / 2) {
                half = off;
                break;
            }
        }
        std::vector<std::unique_ptr<std::byte[]>> outs[2];
        const double secs = timeThreads(2, [&](std::size_t k) {
            const std::size_t begin = k == 0 ? 0 : half;
            const std::size_t end = k == 0 ? half : filled;
            ZSTD_DCtx* ctx = ZSTD_createDCtx();
            for (std::size_t pass = 0; pass < passes; ++pass) {
                outs[k].emplace_back(new std::byte[end - begin]);
                std::byte* const out = outs[k].back().get();
                for (std::size_t b = 0; b < blocks; ++b) {
                    const auto [off, n] = ranges[b];
                    if (off < begin || off >= end) continue;
                    ZSTD_decompressDCtx(ctx, out + (off - begin), n, frames[b].data(),
                                        frames[b].size());
                }
            }
            ZSTD_freeDCtx(ctx);
        });
        j["zstd_decompress_fresh_2t"] = static_cast<double>(passes * filled) / secs;
        for (const auto& out : outs[0]) {
            roundTrip = roundTrip && std::memcmp(out.get(), src.data(), half) == 0;
        }
        for (const auto& out : outs[1]) {
            roundTrip = roundTrip && std::memcmp(out.get(), src.data() + half, filled - half) == 0;
        }
    }
    j["zstd_roundtrip_ok"] = roundTrip;
    // fsync'd sequential write: 8 MiB writes of the data, then fsync, into the bench's work dir.
    const fs::path file = dir / "fsync-test.bin";
    const auto t0 = Clock::now();
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fail("cannot create " + file.string());
    bool ok = true;
    for (std::size_t off = 0; off < filled && ok;) {
        const ssize_t w =
            ::write(fd, src.data() + off, std::min<std::size_t>(8 << 20, filled - off));
        ok = w > 0;
        off += w > 0 ? static_cast<std::size_t>(w) : 0;
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    const double secs = secondsSince(t0);
    std::error_code ec;
    fs::remove(file, ec);
    if (!ok) return fail("fsync'd write failed");
    j["fsync_write"] = static_cast<double>(filled) / secs;
    j["bytes"] = filled;
    j["zstd_level"] = level;
    return j;
}

int runOpen(const fs::path& dir) {
    const auto t0 = Clock::now();
    auto ck = openCheckpoint(dir);
    if (!ck.isOk()) {
        std::cerr << ck.status().toString() << "\n";
        return 1;
    }
    const std::uint64_t leaves = countLeaves(ck->tree);
    const double openSecs = secondsSince(t0);
    const std::uint64_t rssOpen = peakRssKib();
    // For information: also every leaf's dtype and shape (array metadata is read on first use).
    std::vector<ArraySourcePtr> sources;
    collectArrays(ck->tree, sources);
    std::uint64_t elements = 0;
    for (const auto& s : sources) {
        std::uint64_t n = 1;
        for (auto d : s->shape()) n *= static_cast<std::uint64_t>(d);
        elements += n;
    }
    const double shapesSecs = secondsSince(t0);
    json j = {{"seconds", openSecs},  {"leaves", leaves},
              {"peak_kib", rssOpen},  {"shapes_seconds", shapesSecs},
              {"elements", elements}, {"shapes_peak_kib", peakRssKib()}};
    std::printf("BENCH_RESULT %s\n", j.dump().c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "open" && argc > 2) return runOpen(argv[2]);
    if (mode != "serve") {
        std::cerr << "usage: engine_bench serve | engine_bench open DIR\n";
        return 2;
    }
    std::map<std::string, Tree> trees;
    AsyncCheckpointer async;
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream in(line);
        std::string cmd, a, b;
        in >> cmd;
        json j;
        if (cmd == "tree") {
            std::string kind;
            in >> a >> kind;
            const auto t0 = Clock::now();
            if (kind == "big") {
                std::int64_t f32Mib = 0, bf16Mib = 0;
                int f32N = 0, bf16N = 0;
                in >> f32Mib >> f32N >> bf16Mib >> bf16N;
                trees[a] = makeBigTree(f32Mib, f32N, bf16Mib, bf16N);
            } else {
                int leaves = 0;
                std::int64_t elements = 0;
                in >> leaves >> elements;
                trees[a] = makeSmallTree(leaves, elements);
            }
            j = {{"seconds", secondsSince(t0)}};
        } else if (cmd == "save" || cmd == "async" || cmd == "limits") {
            in >> a >> b;
            auto it = trees.find(a);
            if (it == trees.end()) {
                j = fail("no tree " + a);
            } else if (cmd == "save" || cmd == "async") {
                int zarr = 3;
                in >> zarr;
                j = cmd == "save" ? cmdSave(it->second, b, zarr)
                                  : cmdAsync(it->second, b, zarr, async);
            } else {
                std::int64_t mib = 0;
                int zarr = 3;
                std::string unit;
                in >> mib >> zarr >> unit;
                j = cmdLimits(it->second, b, mib,
                              zarr == 2 ? zarr::kOrbaxZstdLevelV2 : zarr::kOrbaxZstdLevelV3,
                              unit == "per-array");
            }
        } else if (cmd == "restore") {
            in >> a;
            j = cmdRestore(a);
        } else if (cmd == "slice") {
            double fraction = 0;
            in >> a >> b >> fraction;
            j = cmdSlice(a, b, fraction);
        } else if (cmd == "touch") {
            std::int64_t mib = 0;
            in >> mib;
            j = cmdTouch(mib);
        } else if (cmd == "drop") {
            in >> a;
            trees.erase(a);
            j = json::object();
        } else {
            j = fail("unknown command: " + line);
        }
        std::printf("BENCH_RESULT %s\n", j.dump().c_str());
        std::fflush(stdout);
    }
    return 0;
}
