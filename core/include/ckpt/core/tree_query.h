// Whole-tree queries behind the browser's size columns and filter box, and `ckpt tree`'s
// --sizes and --filter: subtree rollups (parameters, bytes in memory, bytes on disk) and key-path
// filtering that keeps the ancestors of every match.
//
// Both walk the whole tree, iteratively (any depth), poll a CancelToken and report progress in
// nodes visited, so callers with a GUI run them off the GUI thread. Neither reads array data;
// computeRollups() asks each array for its storage(), which may read metadata (zarr chunk
// listings, HDF5 storage sizes).
//
// Nodes may be shared (Node::makeNone() is one object; an edited tree shares untouched subtrees),
// so rollups are keyed by node (a shared subtree has one rollup, whatever its place) while filter
// results are keyed by position (the rows from the root), because a match depends on the path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// ---- Rollups -------------------------------------------------------------------------------

struct NodeRollup {
    std::uint64_t leafCount = 0;       // leaves in the subtree (a leaf counts itself)
    std::uint64_t arrayCount = 0;
    std::uint64_t parameterCount = 0;  // elements of arrays and scalars (as summarizeNode)
    std::uint64_t memoryBytes = 0;     // in-memory bytes of arrays and scalars
    std::uint64_t storedBytes = 0;     // bytes on disk of the arrays whose stored size is known
    std::uint64_t unknownStored = 0;   // arrays (with data) whose stored size is unknown
    // A node reached through several parents counts once per place, as summarizeTree() counts
    // it; sums saturate at UINT64_MAX instead of wrapping (a heavily shared tree can name more
    // leaves than a uint64 holds).
};

class TreeRollups {
public:
    TreeRollups() = default;

    // The rollup of `node`, a node of the tree these were computed over; null for any other
    // node. Leaves that are not arrays are not stored: use rollupOf() for any node.
    const NodeRollup* find(const Node* node) const;
    // find(), or for a leaf that is not an array its rollup computed on the spot (no I/O).
    // A container or array of another tree gives an all-zero rollup.
    NodeRollup rollupOf(const Node& node) const;
    // The rollup of the whole tree.
    const NodeRollup& total() const { return m_total; }
    // How many nodes have a stored rollup (containers and arrays, each distinct node once).
    std::size_t size() const { return m_entries.size(); }

private:
    friend Result<TreeRollups> computeRollups(const NodePtr&, const CancelToken*,
                                              const ProgressFn&);
    // Sorted by node address; one flat allocation, no per-node heap block.
    std::vector<std::pair<const Node*, NodeRollup>> m_entries;
    NodeRollup m_total;
};

// Rollups of every container and array under `root` (a null root gives an empty result).
// Each distinct node is walked once, and each distinct array's storage() is asked once.
// Cancelled when `cancel` fires; progress is (nodes visited, 0) since the total is unknown.
Result<TreeRollups> computeRollups(const NodePtr& root, const CancelToken* cancel = nullptr,
                                   const ProgressFn& progress = {});

// ---- Key-path filter -----------------------------------------------------------------------

enum class PatternSyntax {
    // The text anywhere in the key path, ignoring case: "kernel", "dense_0/b". Compared with
    // the formatted text as it is (escapes included); case folding is ASCII only.
    kSubstring,
    // Shell-style, anchored: `*` any run of characters except '/', `**` any run including '/',
    // `?` one character except '/', `[abc]`, `[a-z]`, `[!abc]` one character from (not from) a
    // set, `\x` a literal x. A pattern without '/' is matched against the node's own key (the
    // last one: "kernel", "Dense_*"); one with '/' against the whole key path
    // ("params/*/kernel", "opt_state/**").
    //
    // Details: case-sensitive. Only an unescaped '/' in the pattern separates keys; the path's
    // escapes are undone before matching, so `*`, `?` and sets match any character of a key,
    // a key's own '/' included ("a\/b" is the one key "a/b" and matches `a?b`), and `\e` is the
    // empty key (`params//x` matches "params/\e/x"). `**` (any run of two or more stars) matches
    // literally: "opt_state/**" matches what is below opt_state but not opt_state itself, and
    // "a/**/b" needs at least one key between a and b. In a set, a leading `]` (after the
    // optional `!`) is literal, `-` first or last is literal, `\x` is x; a set never matches
    // the separator. Errors: a trailing lone `\`, an unclosed `[`, a reversed range `[z-a]`.
    // Matching is an NFA walk: time O(pattern x path), no recursion, no backtracking blow-up.
    kGlob,
    // ECMAScript regular expression (std::regex), searched anywhere in the key path; anchor it
    // with ^ and $ to match whole paths. Case-sensitive; matched against the formatted text
    // (escapes included). std::regex matches by recursion, so a key path longer than
    // kMaxRegexSubjectBytes never matches, and a pattern longer than kMaxRegexPatternBytes does
    // not compile.
    kRegex,
};

inline constexpr std::size_t kMaxRegexSubjectBytes = 4096;
inline constexpr std::size_t kMaxRegexPatternBytes = 1024;

// A compiled pattern. Immutable once compiled: copies share the compiled form, and matches() may
// be called from several threads at once. A default-constructed pattern matches nothing.
class KeyPathPattern {
public:
    // InvalidArgument naming the pattern and the problem when it does not compile (unbalanced
    // [ or (, a bad escape, an empty pattern).
    static Result<KeyPathPattern> compile(std::string_view pattern, PatternSyntax syntax);

    // Whether `path` (ckpt::formatKeyPath of a node's key path: "params/Dense_0/kernel", keys
    // escaped as there) matches.
    bool matches(std::string_view formattedPath) const;

    const std::string& pattern() const { return m_pattern; }
    PatternSyntax syntax() const { return m_syntax; }

private:
    struct Compiled;
    std::string m_pattern;
    PatternSyntax m_syntax = PatternSyntax::kSubstring;
    std::shared_ptr<const Compiled> m_compiled;  // immutable: safe to share between threads
};

// One visible node of a filtered tree, addressed by its rows from the root. A FilterNode owns
// its children; it is torn down iteratively, so a 100,000-deep chain does not overflow the stack.
struct FilterNode {
    FilterNode() = default;
    FilterNode(const FilterNode&) = delete;
    FilterNode& operator=(const FilterNode&) = delete;
    FilterNode(FilterNode&&) noexcept = default;
    FilterNode& operator=(FilterNode&& other) noexcept;
    ~FilterNode();

    // The node's own key path matches: it and everything below it are shown.
    bool matched = false;
    // Visible children that lead to a match (or match), by row, ascending. Not filled below a
    // matched node (all of it is visible).
    std::vector<std::pair<std::size_t, std::unique_ptr<FilterNode>>> children;

    // The visible child at `row`, or null if that child is hidden (binary search). Not
    // meaningful on a matched node: everything under it is visible.
    const FilterNode* child(std::size_t row) const;
};

struct TreeFilterResult {
    // The root as a visible node; null when nothing matched. The root itself is never tested
    // against the pattern (its key path is empty).
    std::unique_ptr<FilterNode> root;
    // Nodes whose own key path matched, not counting those below another match: the walk does
    // not descend into a matched node (all of it is visible anyway).
    std::uint64_t matchCount = 0;
};

// The nodes of `root` whose key path matches `pattern`, with their ancestors. Cancelled when
// `cancel` fires; progress is (nodes visited, 0). The key path text is built incrementally; each
// node costs one matches() call, which for substring, regex and globs with '/' is linear in the
// path length (a glob without '/' looks only at the last key).
Result<TreeFilterResult> filterTree(const NodePtr& root, const KeyPathPattern& pattern,
                                    const CancelToken* cancel = nullptr,
                                    const ProgressFn& progress = {});

}  // namespace ckpt
