// Tests for ckpt/core/tree_query.h: subtree rollups (against summarizeTree and hand-computed
// values, shared nodes, 100,000-deep trees, cancel), key-path patterns (every documented glob
// construct, substring case folding, regex search and errors) and the key-path filter.
#include <atomic>

#include "ckpt/core/tree_query.h"
#include "tests/test_util.h"

using namespace ckpt;

namespace {

// An array with no data whose storage() reports a fixed stored size and counts its calls.
class FakeSource : public ArraySource {
public:
    FakeSource(DType dtype, Shape shape, std::uint64_t storedBytes)
        : m_dtype(dtype), m_shape(std::move(shape)), m_stored(storedBytes) {}
    DType dtype() const override { return m_dtype; }
    const Shape& shape() const override { return m_shape; }
    StorageInfo storage() const override {
        ++storageCalls;
        StorageInfo info;
        info.format = "fake";
        info.storedBytes = m_stored;
        return info;
    }
    Status readInto(const Selection&, std::span<std::byte>, const CancelToken*) const override {
        return internalError("FakeSource has no data");
    }
    mutable std::atomic<int> storageCalls{0};

private:
    DType m_dtype;
    Shape m_shape;
    std::uint64_t m_stored;
};

NodePtr fakeArray(DType dtype, Shape shape, std::uint64_t stored,
                  std::shared_ptr<FakeSource>* keep = nullptr) {
    auto src = std::make_shared<FakeSource>(dtype, std::move(shape), stored);
    if (keep) *keep = src;
    return Node::makeArray(src);
}

NodePtr dict(std::vector<DictEntry> entries) { return Node::makeDict(std::move(entries)); }

void expectRollup(const NodeRollup& r, std::uint64_t leaves, std::uint64_t arrays,
                  std::uint64_t params, std::uint64_t memory, std::uint64_t stored,
                  std::uint64_t unknown, const char* what) {
    const std::string got = std::to_string(r.leafCount) + " " + std::to_string(r.arrayCount) +
                            " " + std::to_string(r.parameterCount) + " " +
                            std::to_string(r.memoryBytes) + " " + std::to_string(r.storedBytes) +
                            " " + std::to_string(r.unknownStored);
    const std::string want = std::to_string(leaves) + " " + std::to_string(arrays) + " " +
                             std::to_string(params) + " " + std::to_string(memory) + " " +
                             std::to_string(stored) + " " + std::to_string(unknown);
    QVERIFY2(got == want, (std::string(what) + ": got " + got + ", want " + want).c_str());
}

// A dict chain `depth` levels deep ending in `leaf`; returns every level (leaf first) so that
// the test can release them top-down: Node's destructor recurses, and a 100,000-deep cascade
// would overflow the stack.
std::vector<NodePtr> deepChain(std::size_t depth, NodePtr leaf) {
    std::vector<NodePtr> levels;
    levels.reserve(depth + 1);
    levels.push_back(dict({{"leaf", std::move(leaf)}}));
    for (std::size_t i = 1; i < depth; ++i) levels.push_back(dict({{"k", levels.back()}}));
    return levels;
}

void releaseTopDown(std::vector<NodePtr>& levels) {
    while (!levels.empty()) levels.pop_back();
}

bool globMatches(const char* pattern, const std::string& path) {
    auto p = KeyPathPattern::compile(pattern, PatternSyntax::kGlob);
    if (!p.isOk()) qFatal("glob '%s' did not compile: %s", pattern, p.status().toString().c_str());
    return p->matches(path);
}

struct SharedTree {
    NodePtr root;
    NodePtr params, dense, shared, list, emptyDict, emptyList, tuple;
    std::shared_ptr<FakeSource> sharedArraySource;
};

// The hand-computed tree of rollsUpAHandComputedTree.
SharedTree makeSharedTree() {
    SharedTree t;
    t.dense = dict({{"kernel", fakeArray(DType::kFloat32, {3, 4}, 30)},
                    {"bias", fakeArray(DType::kFloat32, {4}, 0)}});
    t.shared = dict({{"w", fakeArray(DType::kFloat16, {2, 5}, 7, &t.sharedArraySource)}});
    t.params = dict({{"dense", t.dense}, {"shared", t.shared}});
    auto f32 = Scalar::fromBits(DType::kFloat32, std::vector<std::byte>(4));
    t.list = Node::makeList({Node::makeNone(), Node::makeScalar(Scalar::fromInt64(3)),
                             Node::makeScalar(*f32), Node::makeString("hi"),
                             Node::makeBytes("xyz")});
    t.emptyDict = dict({});
    t.emptyList = Node::makeList({});
    t.tuple = Node::makeTuple({fakeArray(DType::kInt8, {0}, 0)});
    t.root = dict({{"params", t.params},
                   {"copy", t.shared},
                   {"none", Node::makeNone()},
                   {"list", t.list},
                   {"empty_d", t.emptyDict},
                   {"empty_l", t.emptyList},
                   {"tuple", t.tuple}});
    return t;
}

// params/Dense_0/{kernel,bias}, params/Dense_1/{kernel,bias}, opt/(0: mu/kernel, 1: None),
// step, kernel_count.
NodePtr makeFilterTree() {
    auto layer = [] {
        return dict({{"kernel", fakeArray(DType::kFloat32, {2, 2}, 16)},
                     {"bias", fakeArray(DType::kFloat32, {2}, 8)}});
    };
    return dict({{"params", dict({{"Dense_0", layer()}, {"Dense_1", layer()}})},
                 {"opt", Node::makeTuple({dict({{"mu", dict({{"kernel", fakeArray(
                                                                  DType::kFloat32, {2}, 8)}})}}),
                                          Node::makeNone()})},
                 {"step", Node::makeScalar(Scalar::fromInt64(1))},
                 {"kernel_count", Node::makeScalar(Scalar::fromInt64(3))}});
}

Result<TreeFilterResult> filterWith(const NodePtr& root, const char* pattern,
                                    PatternSyntax syntax) {
    CKPT_ASSIGN_OR_RETURN(KeyPathPattern p, KeyPathPattern::compile(pattern, syntax));
    return filterTree(root, p);
}

}  // namespace

class TestTreeQuery : public QObject {
    Q_OBJECT
private slots:
    // ---- rollups ----
    void rollsUpAHandComputedTree() {
        SharedTree t = makeSharedTree();
        auto r = computeRollups(t.root);
        CKPT_VERIFY_OK(r);
        // kernel f32[3,4] (stored 30), bias f32[4] (stored unknown), w f16[2,5] (stored 7).
        expectRollup(*r->find(t.dense.get()), 2, 2, 16, 64, 30, 1, "dense");
        expectRollup(*r->find(t.shared.get()), 1, 1, 10, 20, 7, 0, "shared");
        expectRollup(*r->find(t.params.get()), 3, 3, 26, 84, 37, 1, "params");
        // None, int64 scalar, float32 scalar, string, bytes.
        expectRollup(*r->find(t.list.get()), 5, 0, 2, 12, 0, 0, "list");
        expectRollup(*r->find(t.emptyDict.get()), 0, 0, 0, 0, 0, 0, "empty dict");
        expectRollup(*r->find(t.emptyList.get()), 0, 0, 0, 0, 0, 0, "empty list");
        // An empty array has no data: its stored size is not "unknown".
        expectRollup(*r->find(t.tuple.get()), 1, 1, 0, 0, 0, 0, "tuple of empty array");
        // The shared subtree counts at both places; the shared None at both places.
        expectRollup(r->total(), 11, 5, 38, 116, 44, 1, "total");
        expectRollup(*r->find(t.root.get()), 11, 5, 38, 116, 44, 1, "root entry");
        // root, params, dense, kernel, bias, shared, w, list, {}, [], tuple, int8[0].
        QCOMPARE(r->size(), std::size_t{12});
        QCOMPARE(t.sharedArraySource->storageCalls.load(), 1);  // walked once
    }
    void agreesWithSummarizeTree() {
        SharedTree t = makeSharedTree();
        auto r = computeRollups(t.root);
        CKPT_VERIFY_OK(r);
        const TreeSummary s = summarizeTree(t.root);
        QCOMPARE(r->total().leafCount, s.leafCount);
        QCOMPARE(r->total().arrayCount, s.arrayCount);
        QCOMPARE(r->total().parameterCount, s.parameterCount);
        QCOMPARE(r->total().memoryBytes, s.byteCount);
        for (const NodePtr& n : {t.params, t.list, t.tuple}) {
            const TreeSummary ns = summarizeNode(*n);
            QCOMPARE(r->find(n.get())->parameterCount, ns.parameterCount);
            QCOMPARE(r->find(n.get())->memoryBytes, ns.byteCount);
            QCOMPARE(r->find(n.get())->leafCount, ns.leafCount);
        }
    }
    void findAndRollupOfCoverLeavesAndForeignNodes() {
        SharedTree t = makeSharedTree();
        auto r = computeRollups(t.root);
        CKPT_VERIFY_OK(r);
        const Node& scalar = *t.list->child(1);
        QVERIFY(r->find(&scalar) == nullptr);
        expectRollup(r->rollupOf(scalar), 1, 0, 1, 8, 0, 0, "int64 scalar");
        expectRollup(r->rollupOf(*Node::makeNone()), 1, 0, 0, 0, 0, 0, "None");
        expectRollup(r->rollupOf(*t.list->child(3)), 1, 0, 0, 0, 0, 0, "string");
        const Node& w = *t.shared->child(0);
        QVERIFY(r->find(&w) != nullptr);
        expectRollup(r->rollupOf(w), 1, 1, 10, 20, 7, 0, "array w");
        NodePtr foreign = dict({{"x", fakeArray(DType::kFloat32, {2}, 8)}});
        QVERIFY(r->find(foreign.get()) == nullptr);
        expectRollup(r->rollupOf(*foreign), 0, 0, 0, 0, 0, 0, "foreign dict");
        auto empty = computeRollups(nullptr);
        CKPT_VERIFY_OK(empty);
        QCOMPARE(empty->size(), std::size_t{0});
        expectRollup(empty->total(), 0, 0, 0, 0, 0, 0, "null root");
        auto leafRoot = computeRollups(Node::makeScalar(Scalar::fromFloat64(1.0)));
        CKPT_VERIFY_OK(leafRoot);
        expectRollup(leafRoot->total(), 1, 0, 1, 8, 0, 0, "scalar root");
    }
    void handlesA100000DeepTree() {
        std::vector<NodePtr> levels = deepChain(100000, fakeArray(DType::kFloat32, {2}, 5));
        {
            auto r = computeRollups(levels.back());
            CKPT_VERIFY_OK(r);
            expectRollup(r->total(), 1, 1, 2, 8, 5, 0, "deep total");
            QCOMPARE(r->size(), std::size_t{100001});
            expectRollup(*r->find(levels[50000].get()), 1, 1, 2, 8, 5, 0, "deep middle");

            auto f = filterWith(levels.back(), "leaf", PatternSyntax::kGlob);
            CKPT_VERIFY_OK(f);
            QCOMPARE(f->matchCount, std::uint64_t{1});
            std::size_t depth = 0;
            const FilterNode* n = f->root.get();
            while (n && !n->matched) {
                QCOMPARE(n->children.size(), std::size_t{1});
                n = n->child(0);
                ++depth;
            }
            QVERIFY(n != nullptr);
            QCOMPARE(depth, std::size_t{100000});
            // A regex never looks at a key path longer than kMaxRegexSubjectBytes.
            auto rf = filterWith(levels.back(), "leaf$", PatternSyntax::kRegex);
            CKPT_VERIFY_OK(rf);
            QCOMPARE(rf->matchCount, std::uint64_t{0});
            QVERIFY(rf->root == nullptr);
        }  // the 100,000-deep FilterNode chain is destroyed here without recursion
        releaseTopDown(levels);
    }
    void rollupsAndFilterCancelAndReportProgress() {
        std::vector<NodePtr> items(10000, Node::makeNone());
        NodePtr root = Node::makeList(items);
        std::uint64_t lastDone = 0;
        int calls = 0;
        auto r = computeRollups(root, nullptr, [&](std::uint64_t done, std::uint64_t total) {
            QCOMPARE(total, std::uint64_t{0});
            QVERIFY(done >= lastDone);
            lastDone = done;
            ++calls;
        });
        CKPT_VERIFY_OK(r);
        QCOMPARE(lastDone, std::uint64_t{10001});
        QVERIFY(calls >= 2);
        QCOMPARE(r->total().leafCount, std::uint64_t{10000});

        CancelToken cancel;
        cancel.cancel();
        CKPT_VERIFY_ERROR(computeRollups(root, &cancel), StatusCode::kCancelled);
        auto p = KeyPathPattern::compile("nothing", PatternSyntax::kGlob);
        CKPT_VERIFY_OK(p);
        CKPT_VERIFY_ERROR(filterTree(root, *p, &cancel), StatusCode::kCancelled);
        lastDone = 0;
        CKPT_VERIFY_OK(filterTree(root, *p, nullptr,
                                  [&](std::uint64_t done, std::uint64_t) { lastDone = done; }));
        QCOMPARE(lastDone, std::uint64_t{10001});
    }

    // ---- patterns ----
    void globFollowsTheDocumentedSyntax() {
        struct Case {
            const char* pattern;
            std::string path;
            bool want;
        };
        const std::vector<Case> cases = {
            // no '/': the last key only
            {"kernel", "params/Dense_0/kernel", true},
            {"kernel", "kernel/x", false},
            {"kernel", "kernels", false},
            {"Kernel", "kernel", false},  // case-sensitive
            {"Dense_*", "params/Dense_0", true},
            {"Dense_*", "params/Dense_0/kernel", false},
            {"*", "a/b", true},
            {"**", "a/b", true},
            {"*a*", "x/bab", true},
            {"*a*", "a/bbb", false},
            // '?'
            {"?", "x/a", true},
            {"??", "x/a", false},
            {"a?c", "abc", true},
            {"a?c", "ac", false},
            // with '/': the whole path, anchored
            {"params/*/kernel", "params/Dense_0/kernel", true},
            {"params/*/kernel", "params/a/b/kernel", false},
            {"params/*/kernel", "x/params/a/kernel", false},
            {"params/*", "params/a/b", false},
            {"params/**/kernel", "params/a/b/kernel", true},
            {"params/**/kernel", "params/kernel", false},  // ** is literal: one key at least
            {"opt_state/**", "opt_state/0/mu", true},
            {"opt_state/**", "opt_state", false},
            {"*/*", "a/b", true},
            {"*/*", "a", false},
            {"*/*", "a/b/c", false},
            {"p/?", "p/a", true},
            {"p/?", "p/ab", false},
            // sets
            {"[abc]x", "bx", true},
            {"[abc]x", "dx", false},
            {"[a-c]", "b", true},
            {"[a-c]", "d", false},
            {"[!a-c]", "d", true},
            {"[!a-c]", "b", false},
            {"[]]", "]", true},
            {"[!]]", "a", true},
            {"[!]]", "]", false},
            {"[a-]", "-", true},
            {"[a-]", "b", false},
            {"[\\]]", "]", true},
            {"x[0-9][0-9]", "x42", true},
            {"x[0-9][0-9]", "x4a", false},
            // escapes in the pattern
            {"\\*", "*", true},
            {"\\*", "a", false},
            {"\\?", "?", true},
            {"\\?", "a", false},
            {"\\[a]", "[a]", true},
            {"\\[a]", "a", false},
            // escapes in the path: keys are compared unescaped
            {"a?b", formatKeyPath({"a/b"}), true},        // one key "a/b"
            {"a\\/b", formatKeyPath({"a/b"}), true},      // literal '/' in a key
            {"a\\/b", formatKeyPath({"a", "b"}), false},  // not a separator
            {"x/a\\/b", formatKeyPath({"x", "a/b"}), true},
            {"x/*", formatKeyPath({"x", "a/b"}), true},    // '*' spans a key's own '/'
            {"a[!x]b", formatKeyPath({"a", "b"}), false},  // sets never match the separator
            {"a[!x]b", formatKeyPath({"a/b"}), true},
            {"a\\\\b", formatKeyPath({"a\\b"}), true},    // literal backslash
            {"b", formatKeyPath({"a\\", "b"}), true},     // "a\\\\/b": the last '/' separates
            {"a\\\\", formatKeyPath({"x", "a\\"}), true},
            {"p//x", formatKeyPath({"p", "", "x"}), true},   // \e is the empty key
            {"p/*/x", formatKeyPath({"p", "", "x"}), true},
            {"p/?/x", formatKeyPath({"p", "", "x"}), false},
            {"e", formatKeyPath({"p", ""}), false},
        };
        for (const Case& c : cases) {
            QVERIFY2(globMatches(c.pattern, c.path) == c.want,
                     (std::string("glob '") + c.pattern + "' on '" + c.path + "' should " +
                      (c.want ? "match" : "not match"))
                         .c_str());
        }
    }
    void badGlobsNameThePattern() {
        for (const char* bad : {"[abc", "abc\\", "[z-a]", "[!", "[]", "x[a-\\"}) {
            auto p = KeyPathPattern::compile(bad, PatternSyntax::kGlob);
            CKPT_VERIFY_ERROR(p, StatusCode::kInvalidArgument);
            QVERIFY2(p.status().message().find(std::string("'") + bad + "'") != std::string::npos,
                     p.status().message().c_str());
        }
        CKPT_VERIFY_ERROR(KeyPathPattern::compile("", PatternSyntax::kGlob),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(KeyPathPattern::compile("", PatternSyntax::kSubstring),
                          StatusCode::kInvalidArgument);
        CKPT_VERIFY_ERROR(KeyPathPattern::compile("", PatternSyntax::kRegex),
                          StatusCode::kInvalidArgument);
    }
    void globIsLinearOnPathologicalPatterns() {
        // Exponential for a naive backtracking matcher.
        const std::string path = std::string(60, 'a') + "b";
        QVERIFY(!globMatches("**a**a**a**a**a**a**a**a**a**a**c", path));
        QVERIFY(globMatches("*a*a*a*a*a*a*a*a*a*a*b", path));
    }
    void substringIgnoresAsciiCase() {
        auto p = KeyPathPattern::compile("dense_0/K", PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(p);
        QVERIFY(p->matches("params/Dense_0/kernel"));
        QVERIFY(p->matches("DENSE_0/KERNEL"));
        QVERIFY(!p->matches("params/Dense_1/kernel"));
        QVERIFY(!p->matches("dense_0"));
        QCOMPARE(p->pattern(), std::string("dense_0/K"));
        QCOMPARE(p->syntax(), PatternSyntax::kSubstring);
        // Compared with the escaped text as it is.
        auto esc = KeyPathPattern::compile("a\\/b", PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(esc);
        QVERIFY(esc->matches(formatKeyPath({"x", "a/b"})));
        QVERIFY(!esc->matches("x/a/b"));
        QVERIFY(!KeyPathPattern().matches("anything"));  // default: matches nothing
    }
    void regexSearchesAndAnchors() {
        auto tail = KeyPathPattern::compile("kernel$", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(tail);
        QVERIFY(tail->matches("params/Dense_0/kernel"));
        QVERIFY(!tail->matches("params/kernel/x"));
        auto head = KeyPathPattern::compile("^params/Dense_[0-9]+", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(head);
        QVERIFY(head->matches("params/Dense_12/bias"));
        QVERIFY(!head->matches("x/params/Dense_1"));
        QVERIFY(!head->matches("params/dense_1"));  // case-sensitive
        auto mid = KeyPathPattern::compile("se_[01]/b", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(mid);
        QVERIFY(mid->matches("params/Dense_1/bias"));
        // Longer subjects never match (std::regex recurses per character).
        auto a = KeyPathPattern::compile("a", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(a);
        QVERIFY(a->matches(std::string(kMaxRegexSubjectBytes, 'a')));
        QVERIFY(!a->matches(std::string(kMaxRegexSubjectBytes + 1, 'a')));
        // The deepest std::regex recursion we allow: a backtracking search over the longest
        // subject (must not overflow the stack, sanitizers included).
        auto heavy = KeyPathPattern::compile("^(a|b)*c$", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(heavy);
        QVERIFY(!heavy->matches(std::string(kMaxRegexSubjectBytes, 'a')));
        QVERIFY(heavy->matches(std::string(kMaxRegexSubjectBytes - 1, 'b') + "c"));
        CKPT_VERIFY_ERROR(
            KeyPathPattern::compile(std::string(kMaxRegexPatternBytes + 1, 'a'), PatternSyntax::kRegex),
            StatusCode::kInvalidArgument);
    }
    void invalidRegexNamesThePattern() {
        for (const char* bad : {"(kernel", "[a-", "a{2,1}", "*x"}) {
            auto p = KeyPathPattern::compile(bad, PatternSyntax::kRegex);
            CKPT_VERIFY_ERROR(p, StatusCode::kInvalidArgument);
            QVERIFY2(p.status().message().find(std::string("'") + bad + "'") != std::string::npos,
                     p.status().message().c_str());
        }
    }

    // ---- filter ----
    void filterKeepsAncestorsAndHidesSiblings() {
        NodePtr root = makeFilterTree();
        auto f = filterWith(root, "kernel", PatternSyntax::kGlob);
        CKPT_VERIFY_OK(f);
        QCOMPARE(f->matchCount, std::uint64_t{3});
        const FilterNode* r = f->root.get();
        QVERIFY(r && !r->matched);
        QCOMPARE(r->children.size(), std::size_t{2});  // params, opt; not step, kernel_count
        QVERIFY(r->child(2) == nullptr);
        QVERIFY(r->child(3) == nullptr);
        const FilterNode* params = r->child(0);
        QVERIFY(params && !params->matched);
        QCOMPARE(params->children.size(), std::size_t{2});
        for (std::size_t layer = 0; layer < 2; ++layer) {
            const FilterNode* d = params->child(layer);
            QVERIFY(d && !d->matched);
            QCOMPARE(d->children.size(), std::size_t{1});
            QVERIFY(d->child(0) && d->child(0)->matched);
            QVERIFY(d->child(0)->children.empty());
            QVERIFY(d->child(1) == nullptr);  // bias hidden
        }
        const FilterNode* opt = r->child(1);
        QVERIFY(opt && opt->child(0) && !opt->child(1));
        const FilterNode* mu = opt->child(0)->child(0);
        QVERIFY(mu && mu->child(0) && mu->child(0)->matched);
    }
    void filterDoesNotCountBelowAMatch() {
        NodePtr root = makeFilterTree();
        auto sub = filterWith(root, "DENSE_0", PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(sub);
        QCOMPARE(sub->matchCount, std::uint64_t{1});  // params/Dense_0 only, not its kernel
        const FilterNode* d0 = sub->root->child(0)->child(0);
        QVERIFY(d0 && d0->matched && d0->children.empty());
        QVERIFY(sub->root->child(0)->child(1) == nullptr);

        auto kern = filterWith(root, "kernel", PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(kern);
        QCOMPARE(kern->matchCount, std::uint64_t{4});  // 3 kernels + kernel_count
        QVERIFY(kern->root->child(3) && kern->root->child(3)->matched);

        auto all = filterWith(root, "params/**", PatternSyntax::kGlob);
        CKPT_VERIFY_OK(all);
        QCOMPARE(all->matchCount, std::uint64_t{2});
        QVERIFY(!all->root->child(0)->matched);
        QVERIFY(all->root->child(0)->child(0)->matched);
        QVERIFY(all->root->child(0)->child(1)->matched);

        auto idx = filterWith(root, "^opt/0$", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(idx);
        QCOMPARE(idx->matchCount, std::uint64_t{1});
        QVERIFY(idx->root->child(1)->child(0)->matched);
    }
    void filterWithNoMatchHasNoRoot() {
        NodePtr root = makeFilterTree();
        auto none = filterWith(root, "nothing*", PatternSyntax::kGlob);
        CKPT_VERIFY_OK(none);
        QVERIFY(none->root == nullptr);
        QCOMPARE(none->matchCount, std::uint64_t{0});
        // The root itself is never tested: an empty-path regex does not make it a match.
        auto leaf = filterWith(Node::makeScalar(Scalar::fromInt64(1)), "^$", PatternSyntax::kRegex);
        CKPT_VERIFY_OK(leaf);
        QVERIFY(leaf->root == nullptr);
        auto nul = filterWith(nullptr, "x", PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(nul);
        QVERIFY(nul->root == nullptr);
    }
    void filterSeesEscapedKeyPaths() {
        NodePtr root = dict({{"a/b", dict({{"", dict({{"c\\d", Node::makeNone()}})}})},
                             {"l", Node::makeList({Node::makeNone(),
                                                   dict({{"x/y", Node::makeNone()}})})}});
        const std::string deep = formatKeyPath({"a/b", "", "c\\d"});
        QCOMPARE(deep, std::string("a\\/b/\\e/c\\\\d"));
        auto f = filterWith(root, deep.c_str(), PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(f);
        QCOMPARE(f->matchCount, std::uint64_t{1});
        QVERIFY(f->root->child(0)->child(0)->child(0)->matched);
        const std::string inList = formatKeyPath({"l", "1", "x/y"});
        auto g = filterWith(root, inList.c_str(), PatternSyntax::kSubstring);
        CKPT_VERIFY_OK(g);
        QCOMPARE(g->matchCount, std::uint64_t{1});
        QVERIFY(g->root->child(1)->child(1)->child(0)->matched);
        QVERIFY(g->root->child(1)->child(0) == nullptr);
    }
    void filterNodesMoveWithoutLosingChildren() {
        NodePtr root = makeFilterTree();
        auto f = filterWith(root, "bias", PatternSyntax::kGlob);
        CKPT_VERIFY_OK(f);
        FilterNode moved(std::move(*f->root));
        QCOMPARE(moved.children.size(), std::size_t{1});
        FilterNode other;
        other = std::move(moved);
        QVERIFY(other.child(0) && other.child(0)->child(1) && other.child(0)->child(1)->child(1));
    }
};

QTEST_GUILESS_MAIN(TestTreeQuery)
#include "tst_tree_query.moc"
