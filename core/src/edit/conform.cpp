// planConform(): rename rules, then a preflight against the reference turned into edits, each
// applied to a working tree as it is planned and the result checked. See ckpt/core/conform.h.
// The rename rules use std::regex: as in tree_query.cpp, GCC 12's false -Wmaybe-uninitialized
// inside <regex> under the sanitizers (GCC bug 105562) is silenced before the first include.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "ckpt/core/conform.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>

#include "ckpt/core/diff.h"

namespace ckpt {

namespace {

std::string pathText(const KeyPath& path) { return describeKeyPath(path); }

KeyPath parentOf(const KeyPath& path) { return {path.begin(), path.end() - 1}; }

KeyPath childOf(KeyPath path, const std::string& key) {
    path.push_back(key);
    return path;
}

bool isSequence(NodeKind k) { return k == NodeKind::kList || k == NodeKind::kTuple; }

std::string sideText(const DiffSide& side) {
    if (!side.dtype) return std::string(nodeKindName(side.kind));
    return std::string(dtypeName(*side.dtype)) + " " +
           (side.kind == NodeKind::kScalar ? std::string("scalar") : formatShape(side.shape));
}

// ---- rename rules ---------------------------------------------------------------------------

struct CompiledRule {
    std::regex re;
    std::string format;  // std::regex_replace format ($1)
    std::string text;    // "pattern=replacement", for notes
};

// "\1" -> "$1"; "$" stays (already the ECMAScript syntax); "\\" -> "\".
std::string toRegexFormat(std::string_view replacement) {
    std::string out;
    for (std::size_t i = 0; i < replacement.size(); ++i) {
        const char c = replacement[i];
        if (c == '\\' && i + 1 < replacement.size()) {
            const char next = replacement[i + 1];
            if (next >= '0' && next <= '9') {
                out += '$';
                out += next;
                ++i;
                continue;
            }
            if (next == '\\') {
                out += '\\';
                ++i;
                continue;
            }
        }
        out += c;
    }
    return out;
}

Result<CompiledRule> compileRule(const RenameRule& rule) {
    if (rule.pattern.empty()) return invalidArgumentError("rename rule: empty pattern");
    CompiledRule out;
    out.text = rule.pattern + "=" + rule.replacement;
    try {
        out.re = std::regex(rule.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        return invalidArgumentError("rename rule '" + out.text + "': bad regular expression: " +
                                    e.what());
    }
    out.format = toRegexFormat(rule.replacement);
    return out;
}

// The replacement when `rule` matches all of `text`.
std::optional<std::string> fullReplace(const CompiledRule& rule, const std::string& text) {
    std::smatch m;
    if (!std::regex_match(text, m, rule.re)) return std::nullopt;
    return m.format(rule.format);
}

// One planned rename of a node of SRC.
struct RenameOp {
    KeyPath orig;    // in SRC
    KeyPath target;  // final path
    std::string rule;
    bool done = false;
    std::optional<std::string> tempKey;  // parked under this key in its parent
};

class Planner {
public:
    Planner(const NodePtr& src, const NodePtr& ref, const ConformOptions& options,
            const CancelToken* cancel)
        : m_work(src), m_ref(ref), m_options(options), m_cancel(cancel) {}

    Result<ConformPlan> run() {
        CKPT_RETURN_IF_ERROR(planRenames());
        for (const Edit& layout : m_options.layouts) CKPT_RETURN_IF_ERROR(planLayout(layout));
        CKPT_ASSIGN_OR_RETURN(Preflight before, preflight(m_work, m_ref, m_cancel));
        CKPT_ASSIGN_OR_RETURN(const bool relaid, planScanLayouts(before));
        if (relaid) {
            CKPT_ASSIGN_OR_RETURN(before, preflight(m_work, m_ref, m_cancel));
        }
        suggest(before);
        CKPT_RETURN_IF_ERROR(planStructure(before));
        if (!m_errors.empty()) {
            std::string text = "cannot conform to the reference: ";
            for (std::size_t i = 0; i < m_errors.size(); ++i) {
                text += (i ? "; " : "") + m_errors[i];
            }
            // A key renamed in SRC often shows up as one missing and one extra key.
            for (std::size_t i = 0; i < m_plan.suggestions.size(); ++i) {
                const Suggestion& s = m_plan.suggestions[i];
                text += (i ? ", " : " (maybe renamed: ") + pathText(s.from) + " -> " +
                        pathText(s.to);
            }
            if (!m_plan.suggestions.empty()) text += ")";
            return invalidArgumentError(std::move(text));
        }
        CKPT_RETURN_IF_ERROR(verify());
        return std::move(m_plan);
    }

private:
    Status apply(Edit edit, std::string note) {
        auto next = applyEdit(m_work, edit);
        if (!next.isOk()) return next.status().withContext(edit.describe());
        m_work = std::move(*next);
        m_plan.steps.push_back(std::move(edit));
        m_plan.notes.push_back(std::move(note));
        return okStatus();
    }

    // ---- renames ----

    Status planRenames() {
        if (m_options.renames.empty()) return okStatus();
        std::vector<CompiledRule> rules;
        for (const RenameRule& r : m_options.renames) {
            CKPT_ASSIGN_OR_RETURN(CompiledRule c, compileRule(r));
            rules.push_back(std::move(c));
        }
        // Final paths, parents before children: mapped[orig] = where the node ends up.
        std::map<KeyPath, KeyPath> mapped;
        std::vector<RenameOp> ops;
        mapped[{}] = {};
        Status failure = okStatus();
        walkTree(m_work, [&](const KeyPath& path, const Node&) {
            if (!failure.isOk()) return false;
            if (path.empty()) return true;
            const KeyPath parent = parentOf(path);
            const KeyPath& parentTarget = mapped[parent];
            KeyPath target = parentTarget;
            target.push_back(path.back());
            auto parentNode = findNode(m_work, parent);
            const bool inDict = parentNode.isOk() && (*parentNode)->kind() == NodeKind::kDict;
            if (inDict) {
                const std::string text = formatKeyPath(path);
                for (const CompiledRule& rule : rules) {
                    if (auto whole = fullReplace(rule, text)) {
                        auto parsed = parseKeyPath(*whole);
                        if (!parsed.isOk() || parsed->empty()) {
                            failure = invalidArgumentError(
                                "rename rule '" + rule.text + "' maps " + pathText(path) +
                                " to '" + *whole + "', which is not a key path");
                            return false;
                        }
                        target = std::move(*parsed);
                        ops.push_back({path, target, rule.text, false, std::nullopt});
                        break;
                    }
                    if (auto key = fullReplace(rule, path.back())) {
                        if (key->empty()) {
                            failure = invalidArgumentError("rename rule '" + rule.text +
                                                           "' maps " + pathText(path) +
                                                           " to an empty key");
                            return false;
                        }
                        target = parentTarget;
                        target.push_back(*key);
                        ops.push_back({path, target, rule.text, false, std::nullopt});
                        break;
                    }
                }
            }
            mapped[path] = target;
            return true;
        });
        CKPT_RETURN_IF_ERROR(failure);
        // Two nodes must not end up at one path.
        std::map<KeyPath, KeyPath> owners;
        for (const auto& [orig, target] : mapped) {
            auto [it, inserted] = owners.emplace(target, orig);
            if (!inserted) {
                return invalidArgumentError("the rename rules map both " + pathText(it->second) +
                                            " and " + pathText(orig) + " to " + pathText(target));
            }
        }
        return runRenames(ops);
    }

    // Where the SRC node `orig` is now in the working tree.
    KeyPath currentPath(const KeyPath& orig) const {
        if (orig.empty()) return {};
        if (auto it = m_opIndex.find(orig); it != m_opIndex.end()) {
            const RenameOp& op = (*m_ops)[it->second];
            if (op.done) return op.target;
            if (op.tempKey) {
                KeyPath p = currentPath(parentOf(orig));
                p.push_back(*op.tempKey);
                return p;
            }
        }
        KeyPath p = currentPath(parentOf(orig));
        p.push_back(orig.back());
        return p;
    }

    bool ancestorsDone(const RenameOp& op) const {
        KeyPath prefix = op.orig;
        while (!prefix.empty()) {
            prefix.pop_back();
            auto it = m_opIndex.find(prefix);
            if (it != m_opIndex.end() && !(*m_ops)[it->second].done) return false;
        }
        return true;
    }

    // Applies the renames, parents first; a rename whose target is still taken by a node that
    // moves away waits, and a cycle (a <-> b) parks one node under a temporary key.
    Status runRenames(std::vector<RenameOp>& ops) {
        m_ops = &ops;
        for (std::size_t i = 0; i < ops.size(); ++i) m_opIndex.emplace(ops[i].orig, i);
        std::size_t remaining = ops.size();
        while (remaining > 0) {
            if (isCancelled(m_cancel)) return cancelledError("conform cancelled");
            bool progress = false;
            for (RenameOp& op : ops) {
                if (op.done || !ancestorsDone(op)) continue;
                const KeyPath current = currentPath(op.orig);
                if (current == op.target) {
                    op.done = true;
                    --remaining;
                    progress = true;
                    continue;
                }
                if (findNode(m_work, op.target).isOk()) continue;  // still taken
                CKPT_RETURN_IF_ERROR(renameNode(current, op));
                op.done = true;
                --remaining;
                progress = true;
            }
            if (progress) continue;
            // Stuck: park the first movable node whose target is taken, unless already parked.
            RenameOp* park = nullptr;
            for (RenameOp& op : ops) {
                if (!op.done && ancestorsDone(op)) {
                    park = &op;
                    break;
                }
            }
            if (!park) return internalError("conform: rename order");
            if (park->tempKey) {
                return invalidArgumentError("cannot rename " + pathText(park->orig) + " to " +
                                            pathText(park->target) + " (rule '" + park->rule +
                                            "'): " + pathText(park->target) + " already exists");
            }
            const KeyPath current = currentPath(park->orig);
            std::string temp = current.back() + ".conform_tmp";
            auto parent = findNode(m_work, parentOf(current));
            while (parent.isOk() && (*parent)->findChild(temp)) temp += "_";
            CKPT_RETURN_IF_ERROR(apply(Edit::rename(current, temp),
                                       "rename " + formatKeyPath(current) + " -> " + temp +
                                           " (temporary, to free the key)"));
            park->tempKey = temp;
        }
        return okStatus();
    }

    Status renameNode(const KeyPath& current, const RenameOp& op) {
        const std::string why = " (rule '" + op.rule + "')";
        if (parentOf(current) == parentOf(op.target)) {
            return apply(Edit::rename(current, op.target.back()),
                         "rename " + formatKeyPath(current) + " -> " + op.target.back() + why);
        }
        // A move: create the missing dicts on the way.
        for (std::size_t depth = 1; depth < op.target.size(); ++depth) {
            const KeyPath prefix(op.target.begin(),
                                 op.target.begin() + static_cast<std::ptrdiff_t>(depth));
            if (findNode(m_work, prefix).isOk()) continue;
            CKPT_RETURN_IF_ERROR(apply(Edit::add(prefix, NodeSpec::dict()),
                                       "add dict " + formatKeyPath(prefix) + " for " +
                                           formatKeyPath(op.target) + why));
        }
        return apply(Edit::move(current, op.target),
                     "move " + formatKeyPath(current) + " -> " + formatKeyPath(op.target) + why);
    }

    // ---- scan layouts (stack / unstack) ----

    // The number of layers of a stacked subtree: its first array's length along `axis`.
    static std::int64_t layerCount(const NodePtr& node, std::int64_t axis) {
        std::int64_t count = 0;
        walkTree(node, [&](const KeyPath&, const Node& n) {
            if (count == 0 && n.kind() == NodeKind::kArray &&
                static_cast<std::int64_t>(n.array()->shape().size()) > axis) {
                count = n.array()->shape()[static_cast<std::size_t>(axis)];
            }
            return count == 0;
        });
        return count;
    }

    static std::string layerRange(const Edit& edit, std::int64_t count) {
        return edit.prefix + "0.." + edit.prefix + std::to_string(count - 1);
    }

    // An explicit --stack / --unstack: applied as given (an error when it does not apply).
    Status planLayout(const Edit& edit) {
        if (edit.kind == EditKind::kStack) {
            const KeyPath to = childOf(edit.path, edit.newKey);
            auto next = applyEdit(m_work, edit);
            if (!next.isOk()) return next.status();
            const std::int64_t count = layerCount(*findNode(*next, to), edit.axis);
            return apply(edit, "stack " + formatKeyPath(childOf(edit.path, layerRange(edit, count))) +
                                   " -> " + formatKeyPath(to) + " (--stack)");
        }
        if (edit.kind == EditKind::kUnstack) {
            auto node = findNode(m_work, edit.path);
            const std::int64_t count = node.isOk() ? layerCount(*node, edit.axis) : 0;
            return apply(edit, "unstack " + formatKeyPath(edit.path) + " -> " +
                                   formatKeyPath(childOf(parentOf(edit.path),
                                                         layerRange(edit, count))) +
                                   " (--unstack)");
        }
        return invalidArgumentError("conform: a layout change must be a stack or an unstack, not " +
                                    edit.describe());
    }

    // Whether `mine` can become `theirs` by the rest of the plan without losing what matches:
    // no kind or shape differences, and at least one of theirs' leaves already in place (dtype
    // differences become casts, extra and missing keys deletes and fills).
    Result<bool> fitsReference(const NodePtr& mine, const NodePtr& theirs) const {
        CKPT_ASSIGN_OR_RETURN(Preflight pf, preflight(mine, theirs, m_cancel));
        for (const DiffEntry& e : pf.mismatches) {
            const bool castable = e.change == DiffChange::kDTypeChanged && e.a && e.b &&
                                  e.a->shape == e.b->shape;
            if (!castable) return false;
        }
        std::uint64_t missing = 0;
        for (const MissingKey& m : pf.missing) missing += m.ref.leafCount;
        return summarizeTree(theirs).leafCount > missing;
    }

    // REF keys P/K that SRC lacks while it has P/K_0..K_{N-1} become stacks, and SRC keys P/K
    // that REF lacks while it has P/K_0..K_{N-1} become unstacks, when the result fits REF's
    // structure (fitsReference). A candidate that does not fit is left to the deletes and fills
    // with a note saying why. Gives whether anything was planned.
    Result<bool> planScanLayouts(const Preflight& pf) {
        bool planned = false;
        for (const MissingKey& m : pf.missing) {
            if (isCancelled(m_cancel)) return cancelledError("conform cancelled");
            if (m.path.empty()) continue;
            const KeyPath parent = parentOf(m.path);
            const std::string& key = m.path.back();
            auto parentNode = findNode(m_work, parent);
            if (!parentNode.isOk() || (*parentNode)->kind() != NodeKind::kDict ||
                !(*parentNode)->findChild(key + "_0")) {
                continue;
            }
            const Edit edit = Edit::stack(parent, key + "_", key);
            CKPT_ASSIGN_OR_RETURN(bool done,
                                  tryLayout(edit, {m.path}, "the reference has the scan layout"));
            planned = planned || done;
        }
        for (const DiffEntry& e : pf.extra) {
            if (isCancelled(m_cancel)) return cancelledError("conform cancelled");
            if (e.path.empty()) continue;
            const KeyPath parent = parentOf(e.path);
            const std::string prefix = e.path.back() + "_";
            if (!findNode(m_ref, childOf(parent, prefix + "0")).isOk()) continue;
            auto node = findNode(m_work, e.path);
            if (!node.isOk()) continue;
            const std::int64_t count = layerCount(*node, 0);
            if (count <= 0) continue;
            std::vector<KeyPath> targets;
            for (std::int64_t k = 0; k < count; ++k) {
                targets.push_back(childOf(parent, prefix + std::to_string(k)));
            }
            if (findNode(m_ref, childOf(parent, prefix + std::to_string(count))).isOk()) {
                m_plan.notes.push_back("not unstacking " + formatKeyPath(e.path) + ": it has " +
                                       std::to_string(count) + " layers and the reference more");
                continue;
            }
            const Edit edit = Edit::unstack(e.path, prefix);
            CKPT_ASSIGN_OR_RETURN(bool done, tryLayout(edit, targets, "the reference is unrolled"));
            planned = planned || done;
        }
        return planned;
    }

    // Applies `edit` when it applies and every one of `targets` (paths it creates) fits the
    // reference's node there; otherwise notes why not.
    Result<bool> tryLayout(const Edit& edit, const std::vector<KeyPath>& targets,
                           const std::string& why) {
        const std::string from = edit.kind == EditKind::kStack
                                     ? formatKeyPath(childOf(edit.path, edit.prefix + "*"))
                                     : formatKeyPath(edit.path);
        auto next = applyEdit(m_work, edit);
        if (!next.isOk()) {
            m_plan.notes.push_back("not " + std::string(editKindName(edit.kind)) + "ing " + from +
                                   ": " + next.status().message());
            return false;
        }
        for (const KeyPath& target : targets) {
            auto mine = findNode(*next, target);
            auto theirs = findNode(m_ref, target);
            bool fits = mine.isOk() && theirs.isOk();
            if (fits) {
                CKPT_ASSIGN_OR_RETURN(fits, fitsReference(*mine, *theirs));
            }
            if (!fits) {
                m_plan.notes.push_back("not " + std::string(editKindName(edit.kind)) + "ing " +
                                       from + ": the result at " + pathText(target) +
                                       " does not match the reference's shapes");
                return false;
            }
        }
        std::string note;
        if (edit.kind == EditKind::kStack) {
            const std::int64_t count = layerCount(*findNode(*next, targets.front()), edit.axis);
            note = "stack " + formatKeyPath(childOf(edit.path, layerRange(edit, count))) + " -> " +
                   formatKeyPath(targets.front()) + " (" + why + ": " + std::to_string(count) +
                   " layers along axis " + std::to_string(edit.axis) + ")";
        } else {
            note = "unstack " + formatKeyPath(edit.path) + " -> " +
                   formatKeyPath(childOf(parentOf(edit.path),
                                         layerRange(edit, static_cast<std::int64_t>(targets.size())))) +
                   " (" + why + ": " + std::to_string(targets.size()) + " layers)";
        }
        CKPT_RETURN_IF_ERROR(apply(edit, std::move(note)));
        return true;
    }

    // ---- structure ----

    Status planStructure(const Preflight& pf) {
        // Deletes, deepest and last first so that list indices stay valid.
        for (auto it = pf.extra.rbegin(); it != pf.extra.rend(); ++it) {
            const std::string what = formatKeyPath(it->path) + " (not in the reference: " +
                                     std::to_string(it->a->leafCount) + " leaves)";
            if (!m_options.dropExtra) {
                m_plan.notes.push_back("keep " + what);
                continue;
            }
            CKPT_RETURN_IF_ERROR(apply(Edit::remove(it->path), "delete " + what));
        }
        std::vector<const DiffEntry*> toSequence;
        for (const DiffEntry& e : pf.mismatches) {
            if (isCancelled(m_cancel)) return cancelledError("conform cancelled");
            const std::string where = pathText(e.path);
            if (!e.error.empty()) {
                m_errors.push_back(where + " cannot be read: " + e.error);
                continue;
            }
            const DiffSide& a = *e.a;
            const DiffSide& b = *e.b;
            switch (e.change) {
                case DiffChange::kKindChanged:
                    if (a.kind == NodeKind::kDict && isSequence(b.kind)) {
                        toSequence.push_back(&e);  // after the adds, which may complete it
                    } else if (isSequence(a.kind) && b.kind == NodeKind::kDict) {
                        CKPT_RETURN_IF_ERROR(convert(e));
                    } else {
                        m_errors.push_back(where + " is a " + sideText(a) + " in the source and a " +
                                           sideText(b) + " in the reference");
                    }
                    break;
                case DiffChange::kShapeChanged:
                    m_errors.push_back(where + " has shape " + formatShape(a.shape) +
                                       " in the source and " + formatShape(b.shape) +
                                       " in the reference");
                    break;
                case DiffChange::kDTypeChanged:
                    if (a.shape != b.shape) {
                        m_errors.push_back(where + " is " + sideText(a) + " in the source and " +
                                           sideText(b) + " in the reference (shape differs)");
                    } else if (!m_options.castToReference) {
                        m_errors.push_back(where + " is " + sideText(a) + " in the source and " +
                                           sideText(b) + " in the reference (casts are off)");
                    } else {
                        m_casts.push_back(&e);
                    }
                    break;
                default:
                    m_errors.push_back(where + ": " + std::string(diffChangeName(e.change)));
            }
        }
        for (const MissingKey& m : pf.missing) {
            if (isCancelled(m_cancel)) return cancelledError("conform cancelled");
            CKPT_RETURN_IF_ERROR(fill(m));
        }
        for (const DiffEntry* e : toSequence) CKPT_RETURN_IF_ERROR(convert(*e));
        for (const DiffEntry* e : m_casts) {
            const DType to = *e->b->dtype;
            auto next = applyEdit(m_work, Edit::cast(e->path, to));
            if (!next.isOk()) {
                m_errors.push_back(next.status().toString());
                continue;
            }
            CKPT_RETURN_IF_ERROR(apply(Edit::cast(e->path, to),
                                       "cast " + formatKeyPath(e->path) + " " +
                                           std::string(dtypeName(*e->a->dtype)) + " -> " +
                                           std::string(dtypeName(to))));
        }
        return okStatus();
    }

    Status convert(const DiffEntry& e) {
        const NodeKind to = e.b->kind;
        auto next = applyEdit(m_work, Edit::convert(e.path, to));
        if (!next.isOk()) {
            m_errors.push_back(pathText(e.path) + " is a " + sideText(*e.a) +
                               " in the source and a " + sideText(*e.b) +
                               " in the reference: " + next.status().message());
            return okStatus();
        }
        return apply(Edit::convert(e.path, to), "convert " + formatKeyPath(e.path) + " " +
                                                    sideText(*e.a) + " -> " + sideText(*e.b));
    }

    Status fill(const MissingKey& m) {
        const std::string where = pathText(m.path);
        CKPT_ASSIGN_OR_RETURN(NodePtr refNode, findNode(m_ref, m.path));
        switch (m_options.fill) {
            case FillFrom::kNone:
                m_errors.push_back(where + " (" + sideText(m.ref) +
                                   ") is missing in the source (fill: none)");
                return okStatus();
            case FillFrom::kReference:
                if (!hasValues(refNode)) {
                    m_errors.push_back(where + " is missing in the source and the reference "
                                       "has no values for it (structure only); use --fill "
                                       "zeros or constant:VALUE");
                    return okStatus();
                }
                return apply(Edit::add(m.path, NodeSpec::fromReference(m.path, m_ref)),
                             "add " + formatKeyPath(m.path) + " " + sideText(m.ref) +
                                 " from the reference (" + std::to_string(m.ref.leafCount) +
                                 " leaves)");
            case FillFrom::kZeros:
            case FillFrom::kConstant:
                return fillWith(m.path, refNode);
        }
        return internalError("unknown fill");
    }

    Status fillWith(const KeyPath& path, const NodePtr& refNode) {
        const Node& r = *refNode;
        const bool zeros = m_options.fill == FillFrom::kZeros;
        const std::string valueText = zeros ? "zeros" : editValueText(m_options.constant);
        const std::string note = "add " + formatKeyPath(path) + " ";
        NodeSpec spec;
        switch (r.kind()) {
            case NodeKind::kDict:
            case NodeKind::kList:
            case NodeKind::kTuple: {
                spec = NodeSpec::ofKind(r.kind() == NodeKind::kDict   ? NodeSpec::Kind::kDict
                                        : r.kind() == NodeKind::kList ? NodeSpec::Kind::kList
                                                                      : NodeSpec::Kind::kTuple);
                CKPT_RETURN_IF_ERROR(apply(Edit::add(path, spec),
                                           note + std::string(nodeKindName(r.kind()))));
                for (std::size_t i = 0; i < r.childCount(); ++i) {
                    KeyPath child = path;
                    child.push_back(r.childKey(i));
                    CKPT_RETURN_IF_ERROR(fillWith(child, r.child(i)));
                }
                return okStatus();
            }
            case NodeKind::kNone:
                return apply(Edit::add(path, NodeSpec::none()), note + "none");
            case NodeKind::kString:
                return apply(Edit::add(path, NodeSpec::string(r.text())),
                             note + "string (the reference's text)");
            case NodeKind::kBytes:
                m_errors.push_back(pathText(path) + " is bytes in the reference; only --fill "
                                   "reference can fill it");
                return okStatus();
            case NodeKind::kArray: {
                const DType dtype = r.array()->dtype();
                spec = zeros ? NodeSpec::zeros(dtype, r.array()->shape())
                             : NodeSpec::full(dtype, r.array()->shape(), m_options.constant);
                break;
            }
            case NodeKind::kScalar: {
                auto value = r.loadScalar();
                const bool native = value.isOk() && value->isNative();
                spec = NodeSpec::scalar(r.scalarDType(),
                                        zeros ? EditValue{std::int64_t{0}} : m_options.constant,
                                        native);
                break;
            }
        }
        DiffSide side;
        side.kind = r.kind();
        side.dtype = spec.dtype;
        side.shape = spec.shape;
        auto next = applyEdit(m_work, Edit::add(path, spec));
        if (!next.isOk()) {
            m_errors.push_back(next.status().withContext(pathText(path)).message());
            return okStatus();
        }
        return apply(Edit::add(path, spec), note + sideText(side) + " " + valueText);
    }

    // ---- suggestions ----

    // Leaves below `node` (relative path, dtype, shape), dict keys sorted: equal signatures
    // restore into each other.
    static std::string signature(const NodePtr& node) {
        std::vector<std::string> leaves;
        walkTree(node, [&](const KeyPath& path, const Node& n) {
            if (n.isContainer()) {
                if (n.childCount() == 0) {
                    leaves.push_back(formatKeyPath(path) + ":" + std::string(nodeKindName(n.kind())));
                }
                return true;
            }
            std::string s = formatKeyPath(path) + ":" + std::string(nodeKindName(n.kind()));
            if (n.kind() == NodeKind::kArray) {
                s += std::string(dtypeName(n.array()->dtype())) + formatShape(n.array()->shape());
            } else if (n.kind() == NodeKind::kScalar) {
                s += std::string(dtypeName(n.scalarDType()));
            }
            leaves.push_back(std::move(s));
            return true;
        });
        std::sort(leaves.begin(), leaves.end());
        std::string out = std::string(nodeKindName(node->kind()));
        for (const std::string& l : leaves) out += "|" + l;
        return out;
    }

    static std::size_t editDistance(const std::string& a, const std::string& b) {
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diag = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t up = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
                diag = up;
            }
        }
        return row[b.size()];
    }

    static double similarity(const std::string& a, const std::string& b) {
        const std::size_t n = std::max(a.size(), b.size());
        if (n == 0) return 1.0;
        return 1.0 - static_cast<double>(editDistance(a, b)) / static_cast<double>(n);
    }

    // The key with its runs of digits replaced by '#', and the numbers found.
    static std::pair<std::string, std::vector<std::string>> splitDigits(const std::string& key) {
        std::string stem;
        std::vector<std::string> numbers;
        for (std::size_t i = 0; i < key.size();) {
            if (key[i] >= '0' && key[i] <= '9') {
                std::size_t j = i;
                while (j < key.size() && key[j] >= '0' && key[j] <= '9') ++j;
                std::string digits = key.substr(i, j - i);
                const auto nz = digits.find_first_not_of('0');
                numbers.push_back(nz == std::string::npos ? "0" : digits.substr(nz));
                stem += '#';
                i = j;
            } else {
                stem += key[i++];
            }
        }
        return {stem, numbers};
    }

    static constexpr double kMinSuggestionScore = 0.6;

    // Pairs (SRC key, REF key) whose subtrees have equal signatures: SRC keys that are extra or
    // mismatched, REF keys that are missing or mismatched (a shifted layer mismatches its
    // neighbour's shape), scored by name and parent similarity; layers shifted by one offset
    // together score higher. Greedy, best first, each key used once.
    void suggest(const Preflight& pf) {
        std::vector<KeyPath> froms;
        std::vector<KeyPath> tos;
        for (const DiffEntry& e : pf.extra) froms.push_back(e.path);
        for (const MissingKey& m : pf.missing) tos.push_back(m.path);
        for (const DiffEntry& e : pf.mismatches) {
            if (!e.error.empty()) continue;
            froms.push_back(e.path);
            tos.push_back(e.path);
        }
        struct Candidate {
            Suggestion s;
            std::size_t from;
            std::size_t to;
            std::string shiftGroup;  // parents, stem and offset of a renumbering; empty if none
        };
        std::vector<Candidate> candidates;
        // SRC keys by signature: only structurally equal pairs are candidates.
        std::map<std::string, std::vector<std::size_t>> fromBySig;
        for (std::size_t i = 0; i < froms.size(); ++i) {
            if (froms[i].empty()) continue;
            auto node = findNode(m_work, froms[i]);
            if (node.isOk()) fromBySig[signature(*node)].push_back(i);
        }
        for (std::size_t j = 0; j < tos.size(); ++j) {
            const KeyPath& to = tos[j];
            auto refNode = findNode(m_ref, to);
            if (!refNode.isOk() || to.empty()) continue;
            auto bucket = fromBySig.find(signature(*refNode));
            if (bucket == fromBySig.end()) continue;
            for (std::size_t i : bucket->second) {
                const KeyPath& from = froms[i];
                if (from == to) continue;
                const std::string& keyA = from.back();
                const std::string& keyB = to.back();
                const auto [stemA, numA] = splitDigits(keyA);
                const auto [stemB, numB] = splitDigits(keyB);
                const double parent = parentOf(from) == parentOf(to)
                                          ? 1.0
                                          : similarity(formatKeyPath(parentOf(from)),
                                                       formatKeyPath(parentOf(to)));
                Candidate c{{from, to, 0.0, {}}, i, j, {}};
                double name = similarity(keyA, keyB);
                if (stemA == stemB && !numA.empty() && numA == numB) {
                    name = 1.0;
                    c.s.reason = "same structure; same name and index, numbers written differently";
                } else if (stemA == stemB && !numA.empty()) {
                    name = std::max(name, 0.8);
                    c.s.reason = "same structure; same name with another index (layers renumbered?)";
                    if (numA.size() == 1 && numA[0].size() <= 9 && numB[0].size() <= 9) {
                        const long long offset = std::stoll(numB[0]) - std::stoll(numA[0]);
                        c.shiftGroup = formatKeyPath(parentOf(from)) + "|" +
                                       formatKeyPath(parentOf(to)) + "|" + stemA + "|" +
                                       std::to_string(offset);
                    }
                } else {
                    c.s.reason = "same structure (dtypes and shapes); similar name";
                }
                c.s.score = 0.5 + 0.3 * name + 0.2 * parent;
                if (c.s.score < kMinSuggestionScore) continue;  // same shapes, unrelated names
                candidates.push_back(std::move(c));
            }
        }
        // Renumberings that several keys share (every layer after an inserted one) win.
        std::map<std::string, std::size_t> groupSize;
        for (const Candidate& c : candidates) {
            if (!c.shiftGroup.empty()) ++groupSize[c.shiftGroup];
        }
        for (Candidate& c : candidates) {
            if (c.shiftGroup.empty() || groupSize[c.shiftGroup] < 2) continue;
            const std::string offset = c.shiftGroup.substr(c.shiftGroup.rfind('|') + 1);
            c.s.reason = "same structure; layers renumbered by " + offset + " (" +
                         std::to_string(groupSize[c.shiftGroup]) + " keys shift alike)";
            c.s.score = std::min(1.0, c.s.score + 0.05);
        }
        std::stable_sort(candidates.begin(), candidates.end(),
                         [](const Candidate& x, const Candidate& y) { return x.s.score > y.s.score; });
        std::set<std::size_t> usedFrom;
        std::set<std::size_t> usedTo;
        for (Candidate& c : candidates) {
            if (usedFrom.count(c.from) || usedTo.count(c.to)) continue;
            usedFrom.insert(c.from);
            usedTo.insert(c.to);
            m_plan.suggestions.push_back(std::move(c.s));
        }
    }

    // ---- check ----

    Status verify() {
        CKPT_ASSIGN_OR_RETURN(Preflight after, preflight(m_work, m_ref, m_cancel));
        const bool ok = after.outcome == PreflightOutcome::kExact ||
                        (!m_options.dropExtra && after.outcome == PreflightOutcome::kExtraKeys);
        if (ok) return okStatus();
        std::string text = "cannot conform to the reference: after the plan, ";
        for (const DiffEntry& e : after.mismatches) text += pathText(e.path) + " still differs; ";
        for (const MissingKey& m : after.missing) text += pathText(m.path) + " is still missing; ";
        for (const DiffEntry& e : after.extra) text += pathText(e.path) + " is still extra; ";
        text.resize(text.size() - 2);
        return invalidArgumentError(std::move(text));
    }

    NodePtr m_work;
    NodePtr m_ref;
    const ConformOptions& m_options;
    const CancelToken* m_cancel;
    ConformPlan m_plan;
    std::vector<std::string> m_errors;
    std::vector<const DiffEntry*> m_casts;
    const std::vector<RenameOp>* m_ops = nullptr;  // runRenames: the planned renames
    std::map<KeyPath, std::size_t> m_opIndex;      // their index by SRC path
};

}  // namespace

RenameRule exactRenameRule(const KeyPath& from, const KeyPath& to) {
    RenameRule rule;
    for (char c : formatKeyPath(from)) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
            rule.pattern += '\\';
        }
        rule.pattern += c;
    }
    for (char c : formatKeyPath(to)) {
        if (c == '$' || c == '\\') rule.replacement += c;
        rule.replacement += c;
    }
    return rule;
}

std::string formatRenameRule(const RenameRule& rule) {
    const auto escape = [](const std::string& part) {
        std::string out;
        for (char c : part) {
            if (c == '=') out += '\\';
            out += c;
        }
        return out;
    };
    return escape(rule.pattern) + "=" + escape(rule.replacement);
}

Result<RenameRule> parseRenameRule(std::string_view text) {
    std::optional<std::size_t> split;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '=') {
            ++i;
            continue;
        }
        if (text[i] == '=') split = i;
    }
    if (!split) {
        return invalidArgumentError("rename rule '" + std::string(text) +
                                    "' has no '=' (REGEX=REPLACEMENT)");
    }
    auto unescape = [](std::string_view s) {
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '=') continue;
            out += s[i];
        }
        return out;
    };
    RenameRule rule{unescape(text.substr(0, *split)), unescape(text.substr(*split + 1))};
    auto compiled = compileRule(rule);
    if (!compiled.isOk()) return compiled.status();
    return rule;
}

namespace {

// "TEXT=VALUE" split at the last '=' (no '=': the whole text and no value).
std::pair<std::string_view, std::optional<std::string_view>> splitOption(std::string_view text) {
    const std::size_t eq = text.rfind('=');
    if (eq == std::string_view::npos) return {text, std::nullopt};
    return {text.substr(0, eq), text.substr(eq + 1)};
}

}  // namespace

Result<Edit> parseStackOption(std::string_view text) {
    const auto [pathPart, key] = splitOption(text);
    auto path = parseKeyPath(pathPart);
    if (!path.isOk() || path->empty()) {
        return invalidArgumentError("--stack '" + std::string(text) +
                                    "': expected PARENT/PREFIX[=NEWKEY], e.g. params/layers_");
    }
    if (key && key->empty()) {
        return invalidArgumentError("--stack '" + std::string(text) + "': empty NEWKEY");
    }
    const std::string prefix = path->back();
    path->pop_back();
    Edit edit = Edit::stack(std::move(*path), prefix, key ? std::string(*key) : std::string());
    if (edit.newKey.empty()) {
        return invalidArgumentError("--stack '" + std::string(text) +
                                    "': the prefix gives no key for the result; add =NEWKEY");
    }
    return edit;
}

Result<Edit> parseUnstackOption(std::string_view text) {
    const auto [pathPart, prefix] = splitOption(text);
    auto path = parseKeyPath(pathPart);
    if (!path.isOk() || path->empty()) {
        return invalidArgumentError("--unstack '" + std::string(text) +
                                    "': expected PATH[=PREFIX], e.g. params/layers");
    }
    Edit edit = Edit::unstack(std::move(*path));
    if (prefix) edit.prefix = std::string(*prefix);
    return edit;
}

std::string_view fillFromName(FillFrom fill) {
    switch (fill) {
        case FillFrom::kReference: return "reference";
        case FillFrom::kZeros: return "zeros";
        case FillFrom::kConstant: return "constant";
        case FillFrom::kNone: return "none";
    }
    return "?";
}

Result<ConformPlan> planConform(const NodePtr& src, const NodePtr& ref,
                                const ConformOptions& options, const CancelToken* cancel) {
    if (!src || !ref) return invalidArgumentError("conform: a tree is missing");
    Planner planner(src, ref, options, cancel);
    return planner.run();
}

}  // namespace ckpt
