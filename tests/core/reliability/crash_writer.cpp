// crash_writer FORMAT TARGET FIRST: writes version FIRST, FIRST+1, … of a small tree to TARGET in
// FORMAT (overwriting), printing "committed N" after each write returns, until killed. The tree's
// every value is N, so a reader can tell which version it sees. FORMAT "flax-steps" or
// "orbax-steps" writes each version as step N of the run directory TARGET instead (flax
// `checkpoint_<N>` files, Orbax step directories), keeping the newest 2 (older steps are deleted
// by the write, as flax's keep= and Orbax's max_to_keep do). Used by tst_crash_consistency, which
// kills it with SIGKILL at random moments.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "ckpt/core/array.h"
#include "ckpt/core/format.h"
#include "ckpt/core/tree.h"
#include "tests/core/reliability/crash_tree.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: crash_writer FORMAT TARGET FIRST\n");
        return 2;
    }
    std::string format = argv[1];
    const bool steps = format.size() > 6 && format.ends_with("-steps");
    if (steps) format.resize(format.size() - 6);
    const std::filesystem::path target = argv[2];
    for (std::int64_t version = std::stoll(argv[3]);; ++version) {
        ckpt::WriteOptions options;
        if (steps) {
            options.step = std::to_string(version);
            options.keep = 2;
        } else {
            options.overwrite = true;
        }
        const ckpt::Status status =
            ckpt::writeCheckpoint(ckpt::test::crashTree(version), target, format, options);
        if (!status.isOk()) {
            std::fprintf(stderr, "crash_writer: %s\n", status.toString().c_str());
            return 1;
        }
        std::printf("committed %lld\n", static_cast<long long>(version));
        std::fflush(stdout);
    }
}
