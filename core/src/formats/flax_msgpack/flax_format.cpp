#include "formats/flax_msgpack/flax_format.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <variant>

#include "formats/flax_msgpack/flax_codec.h"
#include "io/atomic_file.h"
#include "io/mapped_file.h"

namespace ckpt::flax {

namespace fs = std::filesystem;

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the match of flax.training.checkpoints.SIGNED_FLOAT_RE,
// `[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`, at `pos` (0 = no match). Hand-written:
// std::regex is slow and trips GCC 12's -Wmaybe-uninitialized under sanitizers.
std::size_t signedFloatAt(std::string_view s, std::size_t pos) {
    std::size_t i = pos;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    const std::size_t intStart = i;
    while (i < s.size() && isDigit(s[i])) ++i;
    if (i > intStart) {
        if (i < s.size() && s[i] == '.') {
            ++i;
            while (i < s.size() && isDigit(s[i])) ++i;
        }
    } else {
        if (i + 1 < s.size() && s[i] == '.' && isDigit(s[i + 1])) {
            i += 2;
            while (i < s.size() && isDigit(s[i])) ++i;
        } else {
            return 0;
        }
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        std::size_t j = i + 1;
        if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
        const std::size_t expStart = j;
        while (j < s.size() && isDigit(s[j])) ++j;
        if (j > expStart) i = j;
    }
    return i - pos;
}

// Calls fn(start, length) for each match, scanning left to right like re.split / re.finditer.
template <typename Fn>
void forEachSignedFloat(std::string_view s, Fn&& fn) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        const std::size_t n = signedFloatAt(s, pos);
        if (n == 0) {
            ++pos;
            continue;
        }
        fn(pos, n);
        pos += n;
    }
}

using KeyPart = std::variant<std::string, double>;

// re.split with one capturing group: text, number, text, number, ..., text.
std::vector<KeyPart> naturalKey(std::string_view s) {
    std::vector<KeyPart> parts;
    std::size_t last = 0;
    forEachSignedFloat(s, [&](std::size_t start, std::size_t n) {
        parts.emplace_back(std::string(s.substr(last, start - last)));
        parts.emplace_back(std::strtod(std::string(s.substr(start, n)).c_str(), nullptr));
        last = start + n;
    });
    parts.emplace_back(std::string(s.substr(last)));
    return parts;
}

bool globMatchPrefix(std::string_view name, std::string_view prefix) {
    return name.substr(0, prefix.size()) == prefix;
}

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Entries flax counts for keep/overwrite cleanup (`_remove_invalid_ckpts`): `<prefix>*` that
// are not `*_gda`.
std::vector<std::string> cleanupCandidates(const fs::path& dir, std::string_view prefix) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (globMatchPrefix(name, prefix) && !endsWith(name, "_gda")) names.push_back(name);
    }
    std::sort(names.begin(), names.end(),
              [&](const std::string& a, const std::string& b) {
                  return naturalLess((dir / a).string(), (dir / b).string());
              });
    return names;
}

// The last signed float in `name` (flax `_checkpoint_path_step`).
std::optional<double> stepNumber(std::string_view name) {
    std::optional<double> out;
    forEachSignedFloat(name, [&](std::size_t start, std::size_t n) {
        out = std::strtod(std::string(name.substr(start, n)).c_str(), nullptr);
    });
    return out;
}

// How much the first byte looks like the start of a flax document: a map (a state dict) is
// typical; an array or an ext (a bare ndarray) are possible roots too.
int firstByteScore(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    char c = 0;
    if (!in.get(c)) return 0;
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf) return 40;
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) return 20;
    if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) return 20;
    return 0;
}

class FileSink final : public ByteSink {
public:
    explicit FileSink(io::AtomicFileWriter& writer) : m_writer(writer) {}
    Status write(std::span<const std::byte> bytes) override { return m_writer.write(bytes); }

private:
    io::AtomicFileWriter& m_writer;
};

Result<Checkpoint> openFile(const fs::path& file) {
    CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::open(file));
    auto bytes = mapped->bytes();
    const io::MappedFile* raw = mapped.get();
    CKPT_ASSIGN_OR_RETURN(NodePtr tree,
                          decodeFlaxTree(mapped, bytes, file.string(),
                                         [raw](std::span<const std::byte> part) { raw->dropPages(part); }));
    Checkpoint ckpt;
    ckpt.format = "flax";
    ckpt.layout = "single file";
    ckpt.path = file;
    ckpt.root = file;
    ckpt.tree = std::move(tree);
    ckpt.properties.emplace_back("file", file.string());
    ckpt.properties.emplace_back("file bytes", std::to_string(bytes.size()));
    return ckpt;
}

class FlaxReader final : public FormatReader {
public:
    std::string_view name() const override { return "flax"; }

    int probe(const fs::path& path) const override {
        std::error_code ec;
        if (fs::is_regular_file(path, ec)) {
            // A .msgpack file is ours even when damaged, so that the user gets the decoder's
            // precise error rather than "unknown format".
            if (path.extension() == ".msgpack") return 60;
            return firstByteScore(path);
        }
        if (fs::is_directory(path, ec)) {
            auto steps = listFlaxSteps(path);
            if (!steps.isOk() || steps->empty()) return 0;
            return fs::is_regular_file(steps->back().path, ec) ? 30 : 0;
        }
        return 0;
    }

    Result<Checkpoint> open(const fs::path& path, const OpenOptions& options) const override {
        std::error_code ec;
        if (!fs::exists(path, ec)) return notFoundError("'" + path.string() + "' does not exist");
        if (!fs::is_directory(path, ec)) {
            if (options.step) {
                return invalidArgumentError("'" + path.string() +
                                            "' is a single checkpoint file; --step needs a "
                                            "directory of checkpoint_<step> files");
            }
            return openFile(path);
        }
        CKPT_ASSIGN_OR_RETURN(auto steps, listFlaxSteps(path));
        if (steps.empty()) {
            return notFoundError("'" + path.string() + "' holds no checkpoint_<step> files");
        }
        const StepEntry* chosen = &steps.back();
        if (options.step) {
            chosen = nullptr;
            for (const auto& s : steps) {
                if (s.step == *options.step) chosen = &s;
            }
            if (!chosen) {
                std::string have;
                for (const auto& s : steps) have += (have.empty() ? "" : ", ") + s.step;
                return notFoundError("'" + path.string() + "' has no step " + *options.step +
                                     " (steps: " + have + ")");
            }
        }
        if (!fs::is_regular_file(chosen->path, ec)) {
            return unsupportedError("'" + chosen->path.string() +
                                    "' is a directory (an Orbax checkpoint written by flax), not "
                                    "a flax msgpack file");
        }
        CKPT_ASSIGN_OR_RETURN(Checkpoint ckpt, openFile(chosen->path));
        ckpt.layout = "step directory";
        ckpt.root = path;
        ckpt.step = chosen->step;
        ckpt.steps = std::move(steps);
        return ckpt;
    }
};

class FlaxWriter final : public FormatWriter {
public:
    std::string_view name() const override { return "flax"; }

    Status write(const NodePtr& tree, const fs::path& target,
                 const WriteOptions& options) const override {
        if (options.step) return writeStep(tree, target, options);
        CKPT_ASSIGN_OR_RETURN(auto writer, io::AtomicFileWriter::create(target, options.overwrite));
        return encodeAndCommit(tree, writer, options);
    }

private:
    static Status encodeAndCommit(const NodePtr& tree, io::AtomicFileWriter& writer,
                                  const WriteOptions& options) {
        FileSink sink(writer);
        Status s = encodeFlaxTree(tree, sink, options);
        if (!s.isOk()) return s.withContext("writing '" + writer.target().string() + "'");
        return writer.commit();
    }

    // flax.training.checkpoints.save_checkpoint (legacy msgpack path): refuse an existing or
    // not-newest step unless overwriting, write `<prefix>tmp`, rename, then clean up.
    static Status writeStep(const NodePtr& tree, const fs::path& dir, const WriteOptions& options) {
        const std::string& prefix = options.prefix;
        const std::string name = prefix + *options.step;
        if (options.step->empty() || options.step->find('/') != std::string::npos) {
            return invalidArgumentError("invalid step '" + *options.step + "'");
        }
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) return ioError("cannot create directory '" + dir.string() + "': " + ec.message());
        const fs::path finalPath = dir / name;
        const std::string tmpName = prefix + "tmp";
        if (!options.overwrite) {
            auto names = cleanupCandidates(dir, prefix);
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                return alreadyExistsError("checkpoint '" + finalPath.string() +
                                          "' already exists (use overwrite to replace it)");
            }
            names.push_back(name);
            std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
                return naturalLess((dir / a).string(), (dir / b).string());
            });
            if (names.back() == tmpName) names.pop_back();
            if (names.back() != name) {
                return alreadyExistsError("checkpoint '" + (dir / names.back()).string() +
                                          "' is newer than step " + *options.step +
                                          " (use overwrite to write an older step)");
            }
        }
        {
            // Flax writes `<prefix>tmp` and renames it, so a crashed save is never listed.
            const fs::path tmpPath = dir / tmpName;
            CKPT_RETURN_IF_ERROR(io::removePath(tmpPath));
            CKPT_ASSIGN_OR_RETURN(auto writer,
                                  io::AtomicFileWriter::create(finalPath, true, tmpPath));
            CKPT_RETURN_IF_ERROR(encodeAndCommit(tree, writer, options));
        }
        return cleanup(dir, name, options);
    }

    // flax `_remove_invalid_ckpts`.
    static Status cleanup(const fs::path& dir, const std::string& name, const WriteOptions& options) {
        auto names = cleanupCandidates(dir, options.prefix);
        if (options.overwrite) {
            auto it = std::find(names.begin(), names.end(), name);
            if (it != names.end()) {
                for (auto newer = it + 1; newer != names.end(); ++newer) {
                    CKPT_RETURN_IF_ERROR(io::removePath(dir / *newer));
                }
                names.erase(it + 1, names.end());
            }
        }
        const auto keep = static_cast<std::size_t>(std::max(options.keep, 0));
        // keep == 0 keeps everything (flax: files[:-0] is empty).
        if (keep > 0 && names.size() > keep) {
            double lastKept = -std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i + keep < names.size(); ++i) {
                if (options.keepEveryNSteps && *options.keepEveryNSteps != 0) {
                    auto step = stepNumber((dir / names[i]).string());
                    if (step && *step != 0 && (*step - lastKept) >= *options.keepEveryNSteps) {
                        lastKept = *step;
                        continue;
                    }
                }
                CKPT_RETURN_IF_ERROR(io::removePath(dir / names[i]));
            }
        }
        return io::syncDirectory(dir);
    }
};

}  // namespace

bool naturalLess(std::string_view a, std::string_view b) {
    const auto ka = naturalKey(a);
    const auto kb = naturalKey(b);
    // Python compares the lists elementwise; positions alternate text/number in both.
    return std::lexicographical_compare(ka.begin(), ka.end(), kb.begin(), kb.end(),
                                        [](const KeyPart& x, const KeyPart& y) {
                                            if (x.index() != y.index()) return x.index() < y.index();
                                            return x < y;
                                        });
}

Result<std::vector<StepEntry>> listFlaxSteps(const fs::path& dir, std::string_view prefix) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return ioError("cannot list '" + dir.string() + "': " + ec.message());
    std::vector<StepEntry> steps;
    const std::string tmpName = std::string(prefix) + "tmp";
    for (const auto& entry : it) {
        const std::string name = entry.path().filename().string();
        if (!globMatchPrefix(name, prefix) || name == tmpName || endsWith(name, "_gda") ||
            name.find(".orbax-checkpoint-tmp") != std::string::npos) {
            continue;
        }
        StepEntry s;
        s.name = name;
        s.step = name.substr(prefix.size());
        s.path = entry.path();
        steps.push_back(std::move(s));
    }
    std::sort(steps.begin(), steps.end(), [](const StepEntry& a, const StepEntry& b) {
        return naturalLess(a.path.string(), b.path.string());
    });
    return steps;
}

std::unique_ptr<FormatReader> makeFlaxReader() { return std::make_unique<FlaxReader>(); }
std::unique_ptr<FormatWriter> makeFlaxWriter() { return std::make_unique<FlaxWriter>(); }

}  // namespace ckpt::flax
