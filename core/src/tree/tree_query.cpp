// Subtree rollups, key-path patterns and the key-path filter (see ckpt/core/tree_query.h).
//
// Every walk here keeps its own explicit stack: checkpoint trees may be arbitrarily deep, and
// the walks run on worker threads with small stacks. The glob matcher is an NFA simulation over
// the compiled tokens (no recursion, no exponential backtracking); std::regex, which does
// recurse, is fenced by length limits and its exceptions stay in this file.
// GCC 12 at -O2 under the sanitizers reports a false -Wmaybe-uninitialized inside libstdc++'s
// <regex> (the std::function in its NFA states; GCC bug 105562). The warning is located in
// <bits/std_function.h>, which the first include already pulls in, so the pragma comes first.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "ckpt/core/tree_query.h"

#include <algorithm>
#include <limits>
#include <regex>
#include <unordered_map>

#include "ckpt/core/keypath.h"

namespace ckpt {

// ---- Rollups -------------------------------------------------------------------------------

namespace {

constexpr std::uint64_t kPollInterval = 4096;

std::uint64_t saturatingAdd(std::uint64_t a, std::uint64_t b) {
    const std::uint64_t sum = a + b;
    return sum < a ? std::numeric_limits<std::uint64_t>::max() : sum;
}

void addRollup(NodeRollup& into, const NodeRollup& r) {
    into.leafCount = saturatingAdd(into.leafCount, r.leafCount);
    into.arrayCount = saturatingAdd(into.arrayCount, r.arrayCount);
    into.parameterCount = saturatingAdd(into.parameterCount, r.parameterCount);
    into.memoryBytes = saturatingAdd(into.memoryBytes, r.memoryBytes);
    into.storedBytes = saturatingAdd(into.storedBytes, r.storedBytes);
    into.unknownStored = saturatingAdd(into.unknownStored, r.unknownStored);
}

// The rollup of a leaf that is not an array (None, scalar, string, bytes): as summarizeNode.
NodeRollup plainLeafRollup(const Node& node) {
    NodeRollup r;
    r.leafCount = 1;
    if (node.kind() == NodeKind::kScalar) {
        r.parameterCount = 1;
        r.memoryBytes = itemSize(node.scalarDType());
    }
    return r;
}

// The rollup of an array leaf; asks the source for its storage (may read metadata).
NodeRollup arrayRollup(const Node& node) {
    NodeRollup r;
    r.leafCount = 1;
    r.arrayCount = 1;
    const ArraySource& source = *node.array();
    r.parameterCount = source.elementCount();
    r.memoryBytes = source.byteSize();
    r.storedBytes = source.storage().storedBytes;
    if (r.storedBytes == 0 && r.memoryBytes > 0) r.unknownStored = 1;
    return r;
}

}  // namespace

const NodeRollup* TreeRollups::find(const Node* node) const {
    auto it = std::lower_bound(
        m_entries.begin(), m_entries.end(), node,
        [](const std::pair<const Node*, NodeRollup>& e, const Node* n) {
            return std::less<const Node*>()(e.first, n);
        });
    if (it == m_entries.end() || it->first != node) return nullptr;
    return &it->second;
}

NodeRollup TreeRollups::rollupOf(const Node& node) const {
    if (const NodeRollup* r = find(&node)) return *r;
    if (node.isLeaf() && node.kind() != NodeKind::kArray) return plainLeafRollup(node);
    return {};
}

Result<TreeRollups> computeRollups(const NodePtr& root, const CancelToken* cancel,
                                   const ProgressFn& progress) {
    TreeRollups out;
    if (!root) return out;

    // Finished rollups of containers and arrays, by node; moved into the sorted vector at the end.
    std::unordered_map<const Node*, NodeRollup> done;
    struct Frame {
        const Node* node;
        std::size_t next = 0;
        NodeRollup sum;
    };
    std::vector<Frame> stack;
    std::uint64_t visited = 0;

    // Rollup of `node` if it needs no walk (a leaf or an already finished node); else null and
    // the node is pushed.
    auto visit = [&](const Node& node, NodeRollup& result) -> bool {
        ++visited;
        if (node.isLeaf() && node.kind() != NodeKind::kArray) {
            result = plainLeafRollup(node);
            return true;
        }
        if (auto it = done.find(&node); it != done.end()) {
            result = it->second;
            return true;
        }
        if (node.kind() == NodeKind::kArray) {
            result = arrayRollup(node);
            done.emplace(&node, result);
            return true;
        }
        stack.push_back(Frame{&node, 0, {}});
        return false;
    };
    auto poll = [&]() -> Status {
        if (visited % kPollInterval != 0) return okStatus();
        if (isCancelled(cancel)) return cancelledError("computing subtree sizes: cancelled");
        if (progress) progress(visited, 0);
        return okStatus();
    };

    NodeRollup rootRollup;
    bool rootDone = visit(*root, rootRollup);
    while (!rootDone) {
        Frame& top = stack.back();
        if (top.next < top.node->childCount()) {
            const Node& child = *top.node->child(top.next++);
            NodeRollup childRollup;
            const bool finished = visit(child, childRollup);
            // `top` may dangle after visit() pushed; re-fetch through the stack.
            if (finished) addRollup(stack.back().sum, childRollup);
            CKPT_RETURN_IF_ERROR(poll());
            continue;
        }
        const Node* node = top.node;
        const NodeRollup sum = top.sum;
        stack.pop_back();
        done.emplace(node, sum);
        if (stack.empty()) {
            rootRollup = sum;
            rootDone = true;
        } else {
            addRollup(stack.back().sum, sum);
        }
    }
    if (progress) progress(visited, 0);

    out.m_entries.reserve(done.size());
    for (const auto& [node, rollup] : done) out.m_entries.emplace_back(node, rollup);
    std::sort(out.m_entries.begin(), out.m_entries.end(),
              [](const auto& a, const auto& b) { return std::less<const Node*>()(a.first, b.first); });
    out.m_total = rootRollup;
    return out;
}

// ---- Patterns ------------------------------------------------------------------------------

namespace {

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// A decoded key path: key characters 0..255 and kSep between keys.
constexpr int kSep = 256;  // the separator between keys

enum class GlobOp : std::uint8_t { kLiteral, kSeparator, kAnyChar, kSet, kStar, kDoubleStar };

struct GlobToken {
    GlobOp op;
    unsigned char literal = 0;  // kLiteral
    std::size_t set = 0;        // kSet: index into GlobProgram::sets
};

struct GlobSet {
    bool negated = false;
    std::vector<bool> members = std::vector<bool>(256, false);
};

struct GlobProgram {
    std::vector<GlobToken> tokens;
    std::vector<GlobSet> sets;
    bool wholePath = false;  // the pattern has an unescaped '/'
};

Status globError(std::string_view pattern, const std::string& problem) {
    return invalidArgumentError("glob pattern '" + std::string(pattern) + "': " + problem);
}

Result<GlobProgram> compileGlob(std::string_view p) {
    GlobProgram prog;
    std::size_t i = 0;
    while (i < p.size()) {
        const char c = p[i];
        if (c == '\\') {
            if (i + 1 >= p.size()) return globError(p, "ends with a lone backslash");
            prog.tokens.push_back({GlobOp::kLiteral, static_cast<unsigned char>(p[i + 1]), 0});
            i += 2;
        } else if (c == '/') {
            prog.tokens.push_back({GlobOp::kSeparator, 0, 0});
            prog.wholePath = true;
            ++i;
        } else if (c == '?') {
            prog.tokens.push_back({GlobOp::kAnyChar, 0, 0});
            ++i;
        } else if (c == '*') {
            std::size_t run = 0;
            while (i < p.size() && p[i] == '*') {
                ++run;
                ++i;
            }
            prog.tokens.push_back({run >= 2 ? GlobOp::kDoubleStar : GlobOp::kStar, 0, 0});
        } else if (c == '[') {
            GlobSet set;
            std::size_t j = i + 1;
            if (j < p.size() && p[j] == '!') {
                set.negated = true;
                ++j;
            }
            bool first = true;
            bool closed = false;
            while (j < p.size()) {
                if (p[j] == ']' && !first) {
                    closed = true;
                    ++j;
                    break;
                }
                first = false;
                auto readChar = [&](std::size_t& k, unsigned char& ch) -> bool {
                    if (p[k] == '\\') {
                        if (k + 1 >= p.size()) return false;
                        ch = static_cast<unsigned char>(p[k + 1]);
                        k += 2;
                    } else {
                        ch = static_cast<unsigned char>(p[k]);
                        ++k;
                    }
                    return true;
                };
                unsigned char lo = 0;
                if (!readChar(j, lo)) return globError(p, "ends with a lone backslash");
                // A range "lo-hi", unless '-' is last in the set.
                if (j + 1 < p.size() && p[j] == '-' && p[j + 1] != ']') {
                    std::size_t k = j + 1;
                    unsigned char hi = 0;
                    if (!readChar(k, hi)) return globError(p, "ends with a lone backslash");
                    if (hi < lo) {
                        return globError(p, "reversed range '" + std::string(1, static_cast<char>(lo)) +
                                                "-" + std::string(1, static_cast<char>(hi)) + "'");
                    }
                    for (unsigned v = lo; v <= hi; ++v) set.members[v] = true;
                    j = k;
                } else {
                    set.members[lo] = true;
                }
            }
            if (!closed) return globError(p, "unclosed '['");
            prog.tokens.push_back({GlobOp::kSet, 0, prog.sets.size()});
            prog.sets.push_back(std::move(set));
            i = j;
        } else {
            prog.tokens.push_back({GlobOp::kLiteral, static_cast<unsigned char>(c), 0});
            ++i;
        }
    }
    return prog;
}

// Undoes formatKeyPath's escapes: "\/" and "\\" are key characters, "\e" is an empty key, an
// unescaped '/' is kSep. Text formatKeyPath never produces ("\x", a trailing '\') is
// read leniently as the literal characters.
void decodePath(std::string_view text, std::vector<int>& out) {
    out.clear();
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            const char next = text[++i];
            if (next != 'e') out.push_back(static_cast<unsigned char>(next));
        } else if (c == '/') {
            out.push_back(kSep);
        } else {
            out.push_back(static_cast<unsigned char>(c));
        }
    }
}

// Where the last key of a formatted path begins: after the last '/' not escaped by a backslash.
std::size_t lastKeyStart(std::string_view text) {
    std::size_t end = text.size();
    while (end > 0) {
        const std::size_t slash = text.rfind('/', end - 1);
        if (slash == std::string_view::npos) return 0;
        std::size_t backslashes = 0;
        while (backslashes < slash && text[slash - 1 - backslashes] == '\\') ++backslashes;
        if (backslashes % 2 == 0) return slash + 1;
        end = slash - backslashes;  // escaped: keep looking before the backslash run
    }
    return 0;
}

bool runGlob(const GlobProgram& prog, const std::vector<int>& subject) {
    const std::size_t n = prog.tokens.size();
    // states[k]: the first k tokens match the subject read so far.
    std::vector<char> states(n + 1, 0);
    std::vector<char> next(n + 1, 0);
    auto close = [&](std::vector<char>& s) {
        // A star may match the empty run: reaching a star also reaches what follows it.
        for (std::size_t k = 0; k < n; ++k) {
            if (s[k] && (prog.tokens[k].op == GlobOp::kStar ||
                         prog.tokens[k].op == GlobOp::kDoubleStar)) {
                s[k + 1] = 1;
            }
        }
    };
    states[0] = 1;
    close(states);
    for (const int ch : subject) {
        std::fill(next.begin(), next.end(), 0);
        bool any = false;
        for (std::size_t k = 0; k < n; ++k) {
            if (!states[k]) continue;
            const GlobToken& t = prog.tokens[k];
            bool advance = false;
            switch (t.op) {
                case GlobOp::kLiteral: advance = ch == t.literal; break;
                case GlobOp::kSeparator: advance = ch == kSep; break;
                case GlobOp::kAnyChar: advance = ch != kSep; break;
                case GlobOp::kSet: {
                    if (ch == kSep) break;
                    const GlobSet& set = prog.sets[t.set];
                    advance = set.members[static_cast<std::size_t>(ch)] != set.negated;
                    break;
                }
                case GlobOp::kStar:
                    if (ch != kSep) next[k] = 1;  // stays on the star
                    break;
                case GlobOp::kDoubleStar: next[k] = 1; break;
            }
            if (advance) next[k + 1] = 1;
        }
        close(next);
        states.swap(next);
        for (char s : states) any = any || s;
        if (!any) return false;
    }
    return states[n] != 0;
}

}  // namespace

struct KeyPathPattern::Compiled {
    std::string lowered;  // kSubstring
    GlobProgram glob;     // kGlob
    std::regex regex;     // kRegex
};

Result<KeyPathPattern> KeyPathPattern::compile(std::string_view pattern, PatternSyntax syntax) {
    auto compiled = std::make_shared<Compiled>();
    switch (syntax) {
        case PatternSyntax::kSubstring:
            if (pattern.empty()) return invalidArgumentError("empty filter text");
            compiled->lowered.reserve(pattern.size());
            for (char c : pattern) compiled->lowered += asciiLower(c);
            break;
        case PatternSyntax::kGlob: {
            if (pattern.empty()) return invalidArgumentError("empty glob pattern");
            CKPT_ASSIGN_OR_RETURN(compiled->glob, compileGlob(pattern));
            break;
        }
        case PatternSyntax::kRegex:
            if (pattern.empty()) return invalidArgumentError("empty regular expression");
            if (pattern.size() > kMaxRegexPatternBytes) {
                return invalidArgumentError("regular expression '" +
                                            std::string(pattern.substr(0, 40)) + "...' is longer than " +
                                            std::to_string(kMaxRegexPatternBytes) + " bytes");
            }
            try {
                compiled->regex = std::regex(pattern.begin(), pattern.end(), std::regex::ECMAScript);
            } catch (const std::regex_error& e) {
                return invalidArgumentError("regular expression '" + std::string(pattern) +
                                            "': " + e.what());
            }
            break;
    }
    KeyPathPattern out;
    out.m_pattern = std::string(pattern);
    out.m_syntax = syntax;
    out.m_compiled = std::move(compiled);
    return out;
}

bool KeyPathPattern::matches(std::string_view formattedPath) const {
    if (!m_compiled) return false;
    switch (m_syntax) {
        case PatternSyntax::kSubstring: {
            const std::string& needle = m_compiled->lowered;
            if (needle.size() > formattedPath.size()) return false;
            auto it = std::search(formattedPath.begin(), formattedPath.end(), needle.begin(),
                                  needle.end(),
                                  [](char a, char b) { return asciiLower(a) == b; });
            return it != formattedPath.end();
        }
        case PatternSyntax::kGlob: {
            const GlobProgram& prog = m_compiled->glob;
            std::vector<int> subject;
            decodePath(prog.wholePath ? formattedPath
                                      : formattedPath.substr(lastKeyStart(formattedPath)),
                       subject);
            return runGlob(prog, subject);
        }
        case PatternSyntax::kRegex:
            if (formattedPath.size() > kMaxRegexSubjectBytes) return false;
            try {
                return std::regex_search(formattedPath.begin(), formattedPath.end(),
                                         m_compiled->regex);
            } catch (const std::regex_error&) {
                return false;  // error_complexity / error_stack: treated as no match
            }
    }
    return false;
}

// ---- Filter --------------------------------------------------------------------------------

FilterNode& FilterNode::operator=(FilterNode&& other) noexcept {
    if (this != &other) {
        FilterNode old(std::move(*this));  // torn down iteratively by its destructor
        matched = other.matched;
        children = std::move(other.children);
        other.children.clear();
    }
    return *this;
}

FilterNode::~FilterNode() {
    std::vector<std::unique_ptr<FilterNode>> pending;
    for (auto& [row, child] : children) pending.push_back(std::move(child));
    children.clear();
    while (!pending.empty()) {
        std::unique_ptr<FilterNode> node = std::move(pending.back());
        pending.pop_back();
        if (!node) continue;
        for (auto& [row, child] : node->children) pending.push_back(std::move(child));
        node->children.clear();
    }  // each node dies childless: no recursion
}

const FilterNode* FilterNode::child(std::size_t row) const {
    auto it = std::lower_bound(
        children.begin(), children.end(), row,
        [](const std::pair<std::size_t, std::unique_ptr<FilterNode>>& c, std::size_t r) {
            return c.first < r;
        });
    if (it == children.end() || it->first != row) return nullptr;
    return it->second.get();
}

Result<TreeFilterResult> filterTree(const NodePtr& root, const KeyPathPattern& pattern,
                                    const CancelToken* cancel, const ProgressFn& progress) {
    TreeFilterResult out;
    if (!root) return out;

    struct Frame {
        const Node* node;
        std::size_t next = 0;
        std::size_t textLength = 0;             // length of this node's key path text
        std::unique_ptr<FilterNode> visible;  // created when a child turns out visible
    };
    std::vector<Frame> stack;
    std::string text;  // key path text of the node being looked at
    std::uint64_t visited = 1;
    stack.push_back(Frame{root.get(), 0, 0, nullptr});

    while (!stack.empty()) {
        Frame& top = stack.back();
        if (top.next < top.node->childCount()) {
            const std::size_t row = top.next++;
            const Node& child = *top.node->child(row);
            text.resize(top.textLength);
            if (stack.size() > 1) text += '/';
            if (top.node->kind() == NodeKind::kDict) {
                text += escapeKey(top.node->entries()[row].key);
            } else {
                text += std::to_string(row);
            }
            ++visited;
            if (visited % kPollInterval == 0) {
                if (isCancelled(cancel)) return cancelledError("filtering the tree: cancelled");
                if (progress) progress(visited, 0);
            }
            if (pattern.matches(text)) {
                ++out.matchCount;
                auto matched = std::make_unique<FilterNode>();
                matched->matched = true;
                if (!top.visible) top.visible = std::make_unique<FilterNode>();
                top.visible->children.emplace_back(row, std::move(matched));
            } else if (child.isContainer() && child.childCount() > 0) {
                const std::size_t length = text.size();
                stack.push_back(Frame{&child, 0, length, nullptr});  // `top` dangles from here
            }
            continue;
        }
        std::unique_ptr<FilterNode> visible = std::move(top.visible);
        stack.pop_back();
        if (stack.empty()) {
            out.root = std::move(visible);
        } else if (visible) {
            Frame& parent = stack.back();
            if (!parent.visible) parent.visible = std::make_unique<FilterNode>();
            parent.visible->children.emplace_back(parent.next - 1, std::move(visible));
        }
    }
    if (progress) progress(visited, 0);
    return out;
}

}  // namespace ckpt
