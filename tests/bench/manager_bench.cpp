// manager_bench: what an asynchronous CheckpointManager save costs the caller (run by hand; see
// README.md; tests/bench/manager_bench.py runs it beside orbax-checkpoint's async save).
//
// Builds a tree of --mib MiB (default 1024) of float32 arrays in memory (--arrays of them) and
// opens one manager (max_to_keep=1) on --work, then saves steps 0, 1, ... as a training loop
// does, measuring each time:
//   memcpy   copying the same bytes into freshly allocated buffers on one thread (the floor an
//            in-memory snapshot is compared with);
//   blocked  how long CheckpointManager::save() (async, SnapshotMode::kCopy) blocks the caller;
//   total    save() until waitUntilFinished() returned (the step committed, old steps pruned).
// Alone it saves --repeat times (default 5) and prints one "BENCH_RESULT {json}" line: the first
// save (fresh snapshot buffers), the median of the later ones (the previous snapshot's buffers
// reused), the memcpy median and every run. With --stdin it prints "READY" once the tree is built,
// then saves one step per "save" line read from stdin, answering each with a "STEP {json}" line,
// until "quit" or end of input: manager_bench.py interleaves these steps with orbax's saves so that
// both see the same load on a busy machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/tree.h"

using namespace ckpt;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// The same values tests/bench/manager_bench.py gives orbax: 16-bit pseudo-random steps.
Array makeArray(std::int64_t index, std::int64_t elements) {
    auto a = Array::allocate(DType::kFloat32, {elements / 1024, 1024});
    auto* p = reinterpret_cast<float*>(a->bytes().data());
    for (std::int64_t i = 0; i < elements; ++i) {
        const auto u = static_cast<std::uint32_t>(static_cast<std::uint64_t>(i + index) * 2654435761ULL);
        p[i] = static_cast<float>((u >> 16) & 0xffffu) * 1e-3f;
    }
    return std::move(*a);
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t mib = 1024;
    int arrays = 16;
    int repeat = 5;
    bool fromStdin = false;
    fs::path work = fs::temp_directory_path() / "ckpt-manager-bench";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : "0"); };
        if (a == "--mib") mib = std::stoll(next());
        else if (a == "--arrays") arrays = std::stoi(next());
        else if (a == "--repeat") repeat = std::stoi(next());
        else if (a == "--work") work = next();
        else if (a == "--stdin") fromStdin = true;
    }
    const std::int64_t elements = mib * (std::int64_t{1} << 20) / 4 / arrays;
    std::vector<DictEntry> leaves;
    std::vector<const Array*> raw;
    std::vector<std::shared_ptr<const ArraySource>> keep;
    std::vector<std::shared_ptr<Array>> owners;
    for (int i = 0; i < arrays; ++i) {
        auto arr = std::make_shared<Array>(makeArray(i, elements));
        raw.push_back(arr.get());
        owners.push_back(arr);  // the memcpy baseline reads these bytes
        auto source = makeMemorySource(arr->clone());
        keep.push_back(source);
        leaves.push_back({"layer_" + std::to_string(i), Node::makeArray(source)});
    }
    const NodePtr tree = Node::makeDict({{"params", Node::makeDict(std::move(leaves))}});

    std::vector<double> memcpyTimes, blockedTimes, totalTimes;
    std::error_code ec;
    fs::remove_all(work, ec);
    // One manager saving step after step, as a training loop does (max_to_keep=1).
    CheckpointManagerOptions o;
    o.retention.maxToKeep = 1;
    auto manager = CheckpointManager::open(work, o);
    if (!manager.isOk()) {
        std::cerr << manager.status().toString() << "\n";
        return 1;
    }
    int step = 0;
    // One step: memcpy baseline, then save and wait. False (after printing why) on failure.
    auto saveStep = [&]() -> bool {
        {
            const auto t0 = Clock::now();
            std::vector<std::unique_ptr<std::byte[]>> copies;
            for (const Array* a : raw) {
                auto bytes = std::unique_ptr<std::byte[]>(new std::byte[a->byteSize()]);
                std::memcpy(bytes.get(), a->bytes().data(), a->byteSize());
                copies.push_back(std::move(bytes));
            }
            memcpyTimes.push_back(secondsSince(t0));
        }
        const auto t0 = Clock::now();
        auto saved = (*manager)->save(step++, {{"default", tree}});
        blockedTimes.push_back(secondsSince(t0));
        const Status finished = (*manager)->waitUntilFinished();
        totalTimes.push_back(secondsSince(t0));
        if (!saved.isOk() || !finished.isOk()) {
            std::cerr << (saved.isOk() ? finished : saved.status()).toString() << "\n";
            return false;
        }
        return true;
    };
    if (fromStdin) {
        std::printf("READY\n");
        std::fflush(stdout);
        for (std::string line; std::getline(std::cin, line) && line != "quit";) {
            if (line != "save") {
                std::cerr << "manager_bench: unknown command '" << line << "'\n";
                return 2;
            }
            if (!saveStep()) return 1;
            const nlohmann::json j = {{"step", step - 1},
                                      {"memcpy_s", memcpyTimes.back()},
                                      {"blocked_s", blockedTimes.back()},
                                      {"total_s", totalTimes.back()}};
            std::printf("STEP %s\n", j.dump().c_str());
            std::fflush(stdout);
        }
        manager->reset();
        fs::remove_all(work, ec);
        return 0;
    }
    for (int r = 0; r < repeat; ++r) {
        if (!saveStep()) return 1;
    }
    manager->reset();
    fs::remove_all(work, ec);
    // The first save allocates its snapshot; later ones reuse the previous snapshot's buffers.
    const auto later = [](const std::vector<double>& v) {
        return median(std::vector<double>(v.begin() + (v.size() > 1 ? 1 : 0), v.end()));
    };
    const double m = median(memcpyTimes);
    nlohmann::json j = {{"mib", mib},
                        {"arrays", arrays},
                        {"memcpy_s", m},
                        {"blocked_first_s", blockedTimes.front()},
                        {"blocked_s", later(blockedTimes)},
                        {"total_first_s", totalTimes.front()},
                        {"total_s", later(totalTimes)},
                        {"memcpy_runs", memcpyTimes},
                        {"blocked_runs", blockedTimes},
                        {"total_runs", totalTimes}};
    std::printf("BENCH_RESULT %s\n", j.dump().c_str());
    return 0;
}
