#include "shard/process_barrier.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "io/atomic_file.h"

namespace ckpt::shard {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

bool validSaveId(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

Status writeFile(const fs::path& path, std::string_view text) {
    CKPT_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::create(path, true));
    CKPT_RETURN_IF_ERROR(w.write(text));
    return w.commit();
}

}  // namespace

std::string processName(int index) {
    return "process_" + std::to_string(index);
}

std::string doneMarkerName(int index) {
    return ".done." + processName(index);
}

std::string fingerprint(std::string_view text) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

Result<std::optional<std::string>> readWholeFile(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return std::optional<std::string>();
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::optional<std::string>();  // vanished meanwhile
    std::string text;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        text.append(buf, n);
        if (text.size() > (std::size_t{64} << 20)) {
            std::fclose(f);
            return corruptionError("'" + path.string() + "' is unexpectedly large");
        }
    }
    std::fclose(f);
    return std::optional<std::string>(std::move(text));
}

Result<fs::path> prepareSharedTemporary(const fs::path& target, const ProcessSaveOptions& process) {
    const std::string where = "multi-process save of '" + target.string() + "'";
    if (process.processCount < 1) {
        return invalidArgumentError(where + ": the process count must be at least 1, not " +
                                    std::to_string(process.processCount));
    }
    if (process.processIndex < 0 || process.processIndex >= process.processCount) {
        return invalidArgumentError(
            where + ": process index " + std::to_string(process.processIndex) +
            " is not below the process count " + std::to_string(process.processCount));
    }
    if (!validSaveId(process.saveId)) {
        return invalidArgumentError(where + ": the save id '" + process.saveId +
                                    "' is not 1 to 64 characters of [A-Za-z0-9_-]");
    }
    const fs::path tmp = multiProcessTemporaryPath(target, process.saveId);
    const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(parent, ec)) {
        return notFoundError(where + ": the directory '" + parent.string() + "' does not exist");
    }
    if (fs::exists(tmp / doneMarkerName(process.processIndex), ec)) {
        return alreadyExistsError(where + ": save id '" + process.saveId +
                                  "' was already used by process " +
                                  std::to_string(process.processIndex) +
                                  " (its temporary is there); give each attempt a new save id");
    }
    if (process.processIndex == 0) {
        // Earlier attempts' temporaries (other save ids, single-process ones): they belong to
        // crashed saves, since saves of one target do not run at the same time. Best effort.
        const std::string prefix = target.filename().string() + ".orbax-checkpoint-tmp";
        for (const auto& entry : fs::directory_iterator(parent, ec)) {
            const std::string name = entry.path().filename().string();
            if (name.rfind(prefix, 0) == 0 && name != tmp.filename().string()) {
                (void)io::removePath(entry.path());
            }
        }
    }
    fs::create_directories(tmp, ec);
    if (ec) return ioError(where + ": cannot create '" + tmp.string() + "': " + ec.message());
    return tmp;
}

Status writeDoneMarker(const fs::path& dir, const ProcessSaveOptions& process,
                       const std::string& treePrint) {
    const json marker = {{"process_index", process.processIndex},
                         {"process_count", process.processCount},
                         {"save_id", process.saveId},
                         {"tree", treePrint}};
    CKPT_RETURN_IF_ERROR(io::syncDirectory(dir));
    return writeFile(dir / doneMarkerName(process.processIndex), marker.dump());
}

Status waitForProcesses(const fs::path& dir, const fs::path& target, const ProcessSaveOptions& o,
                        const std::string& tree, const CancelToken* cancel) {
    const std::string where = "multi-process save of '" + target.string() + "'";
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    for (;;) {
        std::vector<int> missing;
        for (int p = 1; p < o.processCount; ++p) {
            const fs::path marker = dir / doneMarkerName(p);
            auto text = readWholeFile(marker);
            if (!text.isOk()) return text.status().withContext(where);
            if (!*text) {
                missing.push_back(p);
                continue;
            }
            const json m = json::parse(**text, nullptr, false);
            if (m.is_discarded() || !m.is_object()) {
                return corruptionError(where + ": '" + marker.string() + "' is not JSON");
            }
            if (m.value("process_count", -1) != o.processCount) {
                return invalidArgumentError(where + ": process " + std::to_string(p) +
                                            " was started with process count " +
                                            std::to_string(m.value("process_count", -1)) +
                                            ", process 0 with " + std::to_string(o.processCount));
            }
            if (m.value("save_id", std::string()) != o.saveId) {
                return invalidArgumentError(where + ": process " + std::to_string(p) +
                                            " has save id '" + m.value("save_id", std::string()) +
                                            "', process 0 '" + o.saveId + "'");
            }
            if (m.value("tree", std::string()) != tree) {
                return invalidArgumentError(
                    where + ": process " + std::to_string(p) +
                    " was given another tree (or shard axis) than process 0");
            }
        }
        // A marker of a process index beyond the count: some process was told a larger count.
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            const std::string name = entry.path().filename().string();
            const std::string prefix = ".done.process_";
            if (name.rfind(prefix, 0) != 0) continue;
            const std::string digits = name.substr(prefix.size());
            if (digits.empty() || digits.size() > 6 ||
                !std::all_of(digits.begin(), digits.end(),
                             [](char c) { return c >= '0' && c <= '9'; })) {
                continue;
            }
            if (std::stoi(digits) >= o.processCount) {
                return invalidArgumentError(where + ": process " + digits +
                                            " took part, but process 0 was told there are " +
                                            std::to_string(o.processCount) + " processes");
            }
        }
        if (missing.empty()) return okStatus();
        if (isCancelled(cancel)) return cancelledError(where + ": cancelled");
        if (std::chrono::steady_clock::now() >= deadline) {
            std::string list;
            for (int p : missing) list += (list.empty() ? "" : ", ") + std::to_string(p);
            return ioError(where + ": timed out after " + std::to_string(o.timeout.count()) +
                           " ms waiting for process(es) " + list + " to finish their part");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Status removeDoneMarkers(const fs::path& dir, const ProcessSaveOptions& process) {
    for (int p = 0; p < process.processCount; ++p) {
        CKPT_RETURN_IF_ERROR(io::removePath(dir / doneMarkerName(p)));
    }
    return okStatus();
}

Status waitForCommit(const fs::path& target, const fs::path& tmp, const ProcessSaveOptions& o,
                     const std::function<Result<bool>()>& isCommitted, const CancelToken* cancel) {
    const std::string where = "multi-process save of '" + target.string() + "', process " +
                              std::to_string(o.processIndex);
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    for (;;) {
        auto done = isCommitted();
        if (!done.isOk()) return done.status().withContext(where);
        if (*done) return okStatus();
        std::error_code ec;
        if (!fs::exists(tmp, ec)) {
            auto again = isCommitted();  // the commit may have happened between the two looks
            if (!again.isOk()) return again.status().withContext(where);
            if (*again) return okStatus();
            return ioError(where + ": process 0 abandoned the save (its temporary '" +
                           tmp.filename().string() + "' is gone and nothing was committed)");
        }
        if (isCancelled(cancel)) return cancelledError(where + ": cancelled");
        if (std::chrono::steady_clock::now() >= deadline) {
            return ioError(where + ": timed out after " + std::to_string(o.timeout.count()) +
                           " ms waiting for process 0 to commit");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Status commitDirectoryRename(const fs::path& tmp, const fs::path& finalPath, bool overwrite) {
    std::error_code ec;
    if (overwrite && fs::exists(finalPath, ec)) {
        // One atomic exchange: readers (and a crash) see the old checkpoint or the new one,
        // never neither. The old one is then at `tmp`, removed here or by the next write.
        Status swapped = io::exchangePaths(tmp, finalPath);
        if (swapped.isOk()) {
            CKPT_RETURN_IF_ERROR(io::removePath(tmp));
        } else if (swapped.code() == StatusCode::kUnsupported) {
            // A file system without RENAME_EXCHANGE: two renames, the old one aside first (a
            // crash between them leaves it at <final>.ckpt-old).
            fs::path old = finalPath;
            old += ".ckpt-old";
            CKPT_RETURN_IF_ERROR(io::removePath(old));
            CKPT_RETURN_IF_ERROR(io::renamePath(finalPath, old, false));
            Status r = io::renamePath(tmp, finalPath, false);
            if (!r.isOk()) {
                (void)io::renamePath(old, finalPath, false);
                return r;
            }
            CKPT_RETURN_IF_ERROR(io::removePath(old));
        } else {
            (void)io::removePath(tmp);
            return swapped;
        }
    } else {
        CKPT_RETURN_IF_ERROR(io::renamePath(tmp, finalPath, false));
    }
    const fs::path parent = finalPath.has_parent_path() ? finalPath.parent_path() : fs::path(".");
    return io::syncDirectory(parent);
}

}  // namespace ckpt::shard
