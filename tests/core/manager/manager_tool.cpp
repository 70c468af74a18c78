// Test-only driver of CheckpointManager for tests/interop (test_manager_interop.py and the
// SIGKILL crash test): saves deterministic steps and verifies what a root holds, bit-exact.
//
//   manager_tool save ROOT FIRST COUNT [--rows R] [--max-to-keep N] [--keep-period K]
//                [--best-metric NAME --best-mode min|max] [--sync] [--cleanup]
//       saves steps FIRST, FIRST+1, ... (COUNT 0: forever) with metrics {NAME: lossOf(step)};
//       prints "saved <step>" once each save call returned (the write may still be running).
//   manager_tool verify ROOT [--best-metric NAME --best-mode min|max]
//       restores every listed step, compares it with the tree of that step; prints JSON
//       {"steps": [...], "best_step": s|null, "bad": [...]} and exits 1 if any step is bad.
//
// The tree of step s: {"params": {"w": float32[R, 256] = ((i % 65536) + s) * 0.25,
//                                 "h": uint32[R * 64] = i * 2654435761 + s}}.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ckpt/core/array_source.h"
#include "ckpt/core/checkpoint_manager.h"
#include "ckpt/core/tree.h"

using namespace ckpt;

namespace {

double lossOf(std::int64_t step) { return static_cast<double>((step * 37) % 17) + 0.5; }

Array wArray(std::int64_t step, std::int64_t rows) {
    auto a = Array::allocate(DType::kFloat32, {rows, 256});
    auto* p = reinterpret_cast<float*>(a->bytes().data());
    for (std::uint64_t i = 0; i < a->elementCount(); ++i) {
        p[i] = static_cast<float>(static_cast<double>((i % 65536) + static_cast<std::uint64_t>(step)) * 0.25);
    }
    return std::move(*a);
}

Array hArray(std::int64_t step, std::int64_t rows) {
    auto a = Array::allocate(DType::kUInt32, {rows * 64});
    auto* p = reinterpret_cast<std::uint32_t*>(a->bytes().data());
    for (std::uint64_t i = 0; i < a->elementCount(); ++i) {
        p[i] = static_cast<std::uint32_t>(i * 2654435761ULL + static_cast<std::uint64_t>(step));
    }
    return std::move(*a);
}

NodePtr treeOf(std::int64_t step, std::int64_t rows) {
    return Node::makeDict({{"params",
                            Node::makeDict({{"w", Node::makeArray(makeMemorySource(wArray(step, rows)))},
                                            {"h", Node::makeArray(makeMemorySource(hArray(step, rows)))}})}});
}

bool sameBytes(const NodePtr& tree, const char* key, const Array& expected) {
    auto params = tree->findChild("params");
    if (!params) return false;
    auto leaf = params->findChild(key);
    if (!leaf || leaf->kind() != NodeKind::kArray) return false;
    auto got = leaf->array()->readAll();
    if (!got.isOk() || got->dtype() != expected.dtype() || got->shape() != expected.shape()) return false;
    return std::memcmp(got->bytes().data(), expected.bytes().data(), expected.byteSize()) == 0;
}

struct Args {
    std::vector<std::string> positional;
    std::int64_t rows = 64;
    RetentionPolicy retention;
    bool sync = false;
    bool cleanup = false;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 2; i < argc; ++i) {
        const std::string s = argv[i];
        auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
        if (s == "--rows") a.rows = std::stoll(next());
        else if (s == "--max-to-keep") a.retention.maxToKeep = std::stoi(next());
        else if (s == "--keep-period") a.retention.keepPeriod = std::stoll(next());
        else if (s == "--best-metric") a.retention.bestMetric = next();
        else if (s == "--best-mode") a.retention.bestMode = next() == "min" ? BestMode::kMin : BestMode::kMax;
        else if (s == "--sync") a.sync = true;
        else if (s == "--cleanup") a.cleanup = true;
        else a.positional.push_back(s);
    }
    return a;
}

int save(const Args& a) {
    if (a.positional.size() != 3) return 2;
    CheckpointManagerOptions o;
    o.retention = a.retention;
    o.async = !a.sync;
    o.cleanupTmpDirectories = a.cleanup;
    auto manager = CheckpointManager::open(a.positional[0], o);
    if (!manager.isOk()) {
        std::cerr << manager.status().toString() << "\n";
        return 1;
    }
    const std::int64_t first = std::stoll(a.positional[1]);
    const std::int64_t count = std::stoll(a.positional[2]);
    for (std::int64_t s = first; count == 0 || s < first + count; ++s) {
        std::optional<Metrics> metrics;
        if (a.retention.bestMetric) metrics = Metrics{{*a.retention.bestMetric, lossOf(s)}};
        auto saved = (*manager)->save(s, {{"default", treeOf(s, a.rows)}}, metrics);
        if (!saved.isOk()) {
            std::cerr << saved.status().toString() << "\n";
            return 1;
        }
        std::cout << "saved " << s << std::endl;
    }
    if (Status st = (*manager)->waitUntilFinished(); !st.isOk()) {
        std::cerr << st.toString() << "\n";
        return 1;
    }
    return 0;
}

int verify(const Args& a) {
    if (a.positional.size() != 1) return 2;
    auto steps = listSteps(a.positional[0], {}, false);
    if (!steps.isOk()) {
        std::cerr << steps.status().toString() << "\n";
        return 1;
    }
    nlohmann::json listed = nlohmann::json::array();
    nlohmann::json bad = nlohmann::json::array();
    for (const ManagedStep& s : *steps) {
        listed.push_back(s.step);
        auto opened = openCheckpoint(s.path / "default", {}, "orbax");
        bool ok = opened.isOk();
        if (ok) {
            const auto w = opened->tree->findChild("params");
            const std::int64_t rows =
                w && w->findChild("w") && w->findChild("w")->kind() == NodeKind::kArray &&
                        !w->findChild("w")->array()->shape().empty()
                    ? w->findChild("w")->array()->shape()[0]
                    : 0;
            ok = rows > 0 && sameBytes(opened->tree, "w", wArray(s.step, rows)) &&
                 sameBytes(opened->tree, "h", hArray(s.step, rows));
        }
        if (ok && a.retention.bestMetric) {
            ok = s.metrics && s.metrics->count(*a.retention.bestMetric) &&
                 s.metrics->at(*a.retention.bestMetric) == lossOf(s.step);
        }
        if (!ok) bad.push_back({{"step", s.step},
                                {"error", opened.isOk() ? "values differ" : opened.status().toString()}});
    }
    const auto best = bestStep(*steps, a.retention);
    nlohmann::json j = {{"steps", listed}, {"best_step", best ? nlohmann::json(*best) : nlohmann::json()},
                        {"bad", bad}};
    std::cout << j.dump() << "\n";
    return bad.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: manager_tool save|verify ...\n";
        return 2;
    }
    const Args a = parse(argc, argv);
    const std::string cmd = argv[1];
    if (cmd == "save") return save(a);
    if (cmd == "verify") return verify(a);
    std::cerr << "unknown command " << cmd << "\n";
    return 2;
}
