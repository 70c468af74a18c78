#include "formats/hdf5/hdf5_isolation.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "ckpt/core/array.h"
#include "formats/hdf5/hdf5_lib.h"

// Present when a sanitizer runtime is linked (weak: null otherwise). A libFuzzer binary registers
// its crash reporter here; the child must not report its own death as the fuzzer's crash.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace ckpt::hdf5 {

namespace {

constexpr std::size_t kProgressBytes = 4096;
constexpr int kDefaultTimeoutSeconds = 120;
constexpr std::uint64_t kDefaultMemoryBytes = 1ULL << 30;
// The child's exit status when an allocation failed at its memory budget.
constexpr int kOutOfMemoryExit = 5;

// The page shared with the parent; non-null only in a probe child.
char* g_progress = nullptr;

int timeoutSeconds() {
    const char* text = std::getenv("CKPT_HDF5_OPEN_TIMEOUT");
    if (text == nullptr || *text == '\0') return kDefaultTimeoutSeconds;
    char* end = nullptr;
    const long n = std::strtol(text, &end, 10);
    if (*end != '\0' || n < 1 || n > 86400) return kDefaultTimeoutSeconds;
    return static_cast<int>(n);
}

bool envIs(const char* name, const char* value) {
    const char* text = std::getenv(name);
    return text != nullptr && std::strcmp(text, value) == 0;
}

// CKPT_HDF5_OPEN_MEMORY: how much the probe child may allocate beyond what the process had.
Result<std::uint64_t> memoryBudget() {
    const char* text = std::getenv("CKPT_HDF5_OPEN_MEMORY");
    if (text == nullptr || *text == '\0') return kDefaultMemoryBytes;
    return Array::parseByteCount("CKPT_HDF5_OPEN_MEMORY", text);
}

// The process's private writable memory (VmData: heap and anonymous mappings), which
// RLIMIT_DATA bounds; 0 when /proc cannot tell.
std::uint64_t dataBytesNow() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind("VmData:", 0) != 0) continue;
        const std::uint64_t kib = std::strtoull(line.c_str() + 7, nullptr, 10);
        return kib << 10;
    }
    return 0;
}

std::string bytesText(std::uint64_t bytes) {
    if (bytes % (1ULL << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
    if (bytes % (1ULL << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// The child's libhdf5 error hook: an API call failed because an allocation did (the budget was
// reached). The walk must not be repeated in the parent, where nothing would stop it.
herr_t leaveIfOutOfMemory(hid_t stack, void*) {
    bool outOfMemory = false;
    H5Ewalk2(
        stack, H5E_WALK_DOWNWARD,
        [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
            if (err->maj_num == H5E_RESOURCE &&
                (err->min_num == H5E_CANTALLOC || err->min_num == H5E_NOSPACE)) {
                *static_cast<bool*>(data) = true;
            }
            return 0;
        },
        &outOfMemory);
    if (outOfMemory) ::_exit(kOutOfMemoryExit);
    return 0;
}

// Bounds the child's allocations: RLIMIT_DATA at what the parent had plus the budget (so it
// works beside a sanitizer's reserved shadow memory too). An allocation past it fails; libhdf5
// reports that as a resource error and operator new calls its handler: both end the child with
// kOutOfMemoryExit.
void limitChildMemory(std::uint64_t dataAtFork, std::uint64_t budget) {
    if (dataAtFork == 0) return;
    const std::uint64_t cap =
        dataAtFork > RLIM_INFINITY - budget ? RLIM_INFINITY : dataAtFork + budget;
    const rlimit limit{cap, cap};
    ::setrlimit(RLIMIT_DATA, &limit);
    std::set_new_handler([] { ::_exit(kOutOfMemoryExit); });
    H5Eset_auto2(H5E_DEFAULT, leaveIfOutOfMemory, nullptr);
}

std::string signalText(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

[[noreturn]] void childMain(int resultFd, char* progress, std::uint64_t dataAtFork,
                            std::uint64_t budget, const std::function<void()>& walk) {
    resetLockInForkedChild();
    g_progress = progress;
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP}) ::signal(sig, SIG_DFL);
    if (!envIs("CKPT_HDF5_CHILD_STDERR", "1")) {
        const int devNull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devNull >= 0) ::dup2(devNull, STDERR_FILENO);
    }
    limitChildMemory(dataAtFork, budget);
    walk();
    const char done = 'K';
    const ssize_t written = ::write(resultFd, &done, 1);
    ::_exit(written == 1 ? 0 : 3);
}

}  // namespace

bool isolationEnabled() {
    return !envIs("CKPT_HDF5_ISOLATION", "0");
}

void noteProgress(const KeyPath& path) {
    if (g_progress == nullptr) return;
    const std::string where = path.empty() ? "the root group" : "key path " + describeKeyPath(path);
    const std::size_t n = std::min(where.size(), kProgressBytes - 1);
    std::memcpy(g_progress, where.data(), n);
    g_progress[n] = '\0';
}

Status checkInChildProcess(const std::string& file, const std::function<void()>& walk) {
    if (!isolationEnabled() || g_progress != nullptr) return okStatus();
    const std::string context = "cannot open HDF5 file '" + file + "'";
    const Result<std::uint64_t> budget = memoryBudget();
    if (!budget.isOk()) return budget.status();
    const auto cannotStart = [&](const char* what) {
        return ioError(context + ": cannot start the process that reads it safely (" + what +
                       ": " + std::strerror(errno) +
                       "); CKPT_HDF5_ISOLATION=0 reads it in this process instead");
    };
    void* shared = ::mmap(nullptr, kProgressBytes, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return cannotStart("mmap");
    auto* progress = static_cast<char*>(shared);
    progress[0] = '\0';
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        const Status error = cannotStart("pipe");
        ::munmap(shared, kProgressBytes);
        return error;
    }
    pid_t pid = -1;
    const pid_t parent = ::getpid();
    const std::uint64_t dataAtFork = dataBytesNow();
    {
        // No other thread is inside libhdf5 while the child is made.
        Lock lock = lockHdf5();
        pid = ::fork();
        if (pid == 0) {
            // A child spinning in libhdf5 must not outlive a parent that was killed (this thread
            // waits for the child, so its death means the process is gone).
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(4);
            ::close(fds[0]);
            childMain(fds[1], progress, dataAtFork, *budget, walk);
        }
    }
    ::close(fds[1]);
    if (pid < 0) {
        const Status error = cannotStart("fork");
        ::close(fds[0]);
        ::munmap(shared, kProgressBytes);
        return error;
    }

    const int limit = timeoutSeconds();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit);
    bool finished = false;
    bool timedOut = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timedOut = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) continue;
        char byte = 0;
        ssize_t n = 0;
        do {
            n = ::read(fds[0], &byte, 1);
        } while (n < 0 && errno == EINTR);
        finished = n == 1 && byte == 'K';
        break;  // the result, or end of file: the child is gone
    }
    if (timedOut) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::close(fds[0]);
    std::string at(progress, strnlen(progress, kProgressBytes));
    ::munmap(shared, kProgressBytes);

    if (finished && WIFEXITED(status) && WEXITSTATUS(status) == 0) return okStatus();
    const std::string whereText = at.empty() ? "the file's superblock" : at;
    if (timedOut) {
        return corruptionError(context + ": libhdf5 did not finish reading its structure within " +
                               std::to_string(limit) + " s (last at " + whereText +
                               "); the file is damaged or very large "
                               "(CKPT_HDF5_OPEN_TIMEOUT raises the limit)");
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == kOutOfMemoryExit) {
        return corruptionError(context + ": libhdf5 needed more than " + bytesText(*budget) +
                               " of memory while reading " + whereText +
                               "; the file is damaged or holds very many objects "
                               "(CKPT_HDF5_OPEN_MEMORY raises the limit)");
    }
    const std::string how = WIFSIGNALED(status)
                                ? "crashed (" + signalText(WTERMSIG(status)) + ")"
                                : "failed fatally (exit status " +
                                      std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                                      ")";
    return corruptionError(context + ": libhdf5 " + how + " while reading " + whereText +
                           "; the file is damaged (it was read in a separate process, so "
                           "nothing else was affected)");
}

}  // namespace ckpt::hdf5
