#include "kvstore/directory_store.h"

#include <algorithm>

#include "io/mapped_file.h"

namespace ckpt::kv {

namespace fs = std::filesystem;

namespace {


class DirectoryStore final : public KvStore {
public:
    explicit DirectoryStore(fs::path root) : m_root(std::move(root)) {}

    Result<std::optional<std::string>> read(std::string_view key,
                                            const ByteRange& range) const override {
        if (!isSafeRelativeKey(key)) return std::optional<std::string>();
        const fs::path file = m_root / std::string(key);
        std::error_code ec;
        if (!fs::is_regular_file(file, ec)) return std::optional<std::string>();
        CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::openInside(m_root, file));
        const auto bytes = mapped->bytes();
        if (range.offset > bytes.size() ||
            (range.length && *range.length > bytes.size() - range.offset)) {
            return corruptionError("'" + file.string() + "' has " + std::to_string(bytes.size()) +
                                   " bytes; range at " + std::to_string(range.offset) +
                                   " is past the end");
        }
        const std::size_t len = range.length ? static_cast<std::size_t>(*range.length)
                                             : bytes.size() - static_cast<std::size_t>(range.offset);
        return std::optional<std::string>(std::in_place,
                                          reinterpret_cast<const char*>(bytes.data()) + range.offset, len);
    }

    // The file's own mapping: released (unmapped) with the last holder of the bytes.
    Result<std::optional<SharedBytes>> readShared(std::string_view key) const override {
        if (!isSafeRelativeKey(key)) return std::optional<SharedBytes>();
        const fs::path file = m_root / std::string(key);
        std::error_code ec;
        if (!fs::is_regular_file(file, ec)) return std::optional<SharedBytes>();
        CKPT_ASSIGN_OR_RETURN(auto mapped, io::MappedFile::openInside(m_root, file));
        const auto bytes = mapped->bytes();
        const io::MappedFile* raw = mapped.get();
        return std::optional<SharedBytes>(SharedBytes{
            std::move(mapped), bytes, [raw](std::span<const std::byte> part) { raw->dropPages(part); }});
    }

    Result<std::vector<std::string>> list(std::string_view prefix) const override {
        std::vector<std::string> keys;
        CKPT_RETURN_IF_ERROR(walk(prefix, [&](std::string key, const fs::directory_entry&) {
            keys.push_back(std::move(key));
        }));
        std::sort(keys.begin(), keys.end());
        return keys;
    }

    Result<std::vector<std::pair<std::string, std::uint64_t>>> listSizes(
        std::string_view prefix) const override {
        std::vector<std::pair<std::string, std::uint64_t>> out;
        CKPT_RETURN_IF_ERROR(walk(prefix, [&](std::string key, const fs::directory_entry& e) {
            std::error_code ec;
            const auto size = e.file_size(ec);
            out.emplace_back(std::move(key), ec ? 0 : static_cast<std::uint64_t>(size));
        }));
        std::sort(out.begin(), out.end());
        return out;
    }

    std::string describe() const override { return "directory '" + m_root.string() + "'"; }

private:
    // Calls fn(key, entry) for every regular file whose key starts with `prefix`, walking only
    // the directory the prefix's complete segments name.
    template <typename Fn>
    Status walk(std::string_view prefix, Fn&& fn) const {
        fs::path start = m_root;
        const std::size_t slash = prefix.rfind('/');
        if (slash != std::string_view::npos) {
            const std::string_view dirPart = prefix.substr(0, slash);
            if (!isSafeRelativeKey(dirPart)) return okStatus();
            start = m_root / std::string(dirPart);
        }
        std::error_code ec;
        if (!fs::is_directory(start, ec)) return okStatus();
        for (auto it = fs::recursive_directory_iterator(start, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_regular_file(ec)) continue;
            std::string key = fs::relative(it->path(), m_root, ec).generic_string();
            if (key.compare(0, prefix.size(), prefix) == 0) fn(std::move(key), *it);
        }
        if (ec) return ioError("listing '" + start.string() + "': " + ec.message());
        return okStatus();
    }

    fs::path m_root;
};

}  // namespace

Result<KvStorePtr> openDirectoryStore(const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        return notFoundError("'" + root.string() + "' is not a directory");
    }
    return KvStorePtr(std::make_shared<DirectoryStore>(root));
}

}  // namespace ckpt::kv
