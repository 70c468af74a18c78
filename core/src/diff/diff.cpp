// diffTrees(), compareSources() and preflight(): see ckpt/core/diff.h.
#include "ckpt/core/diff.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ckpt {

std::string_view diffChangeName(DiffChange change) {
    switch (change) {
        case DiffChange::kOnlyInA:
            return "only_in_a";
        case DiffChange::kOnlyInB:
            return "only_in_b";
        case DiffChange::kKindChanged:
            return "kind_changed";
        case DiffChange::kDTypeChanged:
            return "dtype_changed";
        case DiffChange::kShapeChanged:
            return "shape_changed";
        case DiffChange::kValuesDiffer:
            return "values_differ";
        case DiffChange::kEqual:
            return "equal";
        case DiffChange::kNotCompared:
            return "not_compared";
    }
    return "?";
}

std::string_view preflightOutcomeName(PreflightOutcome outcome) {
    switch (outcome) {
        case PreflightOutcome::kExact:
            return "exact";
        case PreflightOutcome::kExtraKeys:
            return "extra_keys";
        case PreflightOutcome::kMissingKeys:
            return "missing_keys";
        case PreflightOutcome::kMismatch:
            return "mismatch";
    }
    return "?";
}

namespace {

// Neumaier-compensated sum: the norms and dot products of long arrays stay accurate to ~1 ulp.
struct CompensatedSum {
    double sum = 0;
    double carry = 0;
    void add(double x) {
        const double t = sum + x;
        if (std::abs(sum) >= std::abs(x)) {
            carry += (sum - t) + x;
        } else {
            carry += (x - t) + sum;
        }
        sum = t;
    }
    double value() const { return sum + carry; }
};

struct ValueAccumulator {
    ValueDiff diff;
    CompensatedSum dot;
    CompensatedSum sumA2;
    CompensatedSum sumB2;
    CompensatedSum sumD2;

    // One position: real values (imaginary parts zero for real dtypes).
    void add(std::complex<double> a, std::complex<double> b) {
        const bool finiteA = std::isfinite(a.real()) && std::isfinite(a.imag());
        const bool finiteB = std::isfinite(b.real()) && std::isfinite(b.imag());
        const bool nanA = std::isnan(a.real()) || std::isnan(a.imag());
        const bool nanB = std::isnan(b.real()) || std::isnan(b.imag());
        if (nanA) ++diff.nanA;
        if (nanB) ++diff.nanB;
        if (!finiteA || !finiteB) {
            // Equal when both NaN, or both non-NaN with equal (infinite) parts.
            const bool same = (nanA && nanB) || (!nanA && !nanB && a == b);
            if (!same) {
                ++diff.nonFiniteMismatch;
                ++diff.changed;
            }
            return;
        }
        ++diff.finitePairs;
        if (a != b) ++diff.changed;
        const double absDiff = std::abs(b - a);
        const double scale = std::max(std::abs(a), std::abs(b));
        diff.maxAbsDiff = std::max(diff.maxAbsDiff, absDiff);
        if (scale > 0) diff.maxRelDiff = std::max(diff.maxRelDiff, absDiff / scale);
        dot.add(a.real() * b.real() + a.imag() * b.imag());  // Re(conj(a)·b)
        sumA2.add(std::norm(a));
        sumB2.add(std::norm(b));
        sumD2.add(absDiff * absDiff);
    }

    void addBlock(const Array& a, const Array& b) {
        const DType dtype = a.dtype();
        const std::uint64_t n = a.elementCount();
        if (isComplex(dtype)) {
            for (std::uint64_t i = 0; i < n; ++i) {
                add(elementToComplex(dtype, a.elementPtr(i)),
                    elementToComplex(dtype, b.elementPtr(i)));
            }
            return;
        }
        constexpr std::size_t kBlock = 4096;
        std::vector<double> va(static_cast<std::size_t>(std::min<std::uint64_t>(n, kBlock)));
        std::vector<double> vb(va.size());
        for (std::uint64_t begin = 0; begin < n; begin += kBlock) {
            const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, n - begin));
            elementsToDoubles(dtype, a.elementPtr(begin), len, va.data());
            elementsToDoubles(dtype, b.elementPtr(begin), len, vb.data());
            for (std::size_t i = 0; i < len; ++i) add({va[i], 0.0}, {vb[i], 0.0});
        }
    }

    void finish() {
        diff.normA = std::sqrt(sumA2.value());
        diff.normB = std::sqrt(sumB2.value());
        diff.diffNorm = std::sqrt(sumD2.value());
        if (diff.normA > 0 && diff.normB > 0) {
            diff.cosine = dot.value() / (diff.normA * diff.normB);
            // Rounding may push |cos| a hair past 1.
            diff.cosine = std::clamp(diff.cosine, -1.0, 1.0);
        } else {
            diff.cosine = std::numeric_limits<double>::quiet_NaN();
        }
        if (diff.normA > 0) {
            diff.normRatio = diff.normB / diff.normA;
        } else {
            diff.normRatio = diff.normB > 0 ? std::numeric_limits<double>::infinity() : 1.0;
        }
        diff.hasNumbers = true;
    }
};

bool isNumericLeaf(const Node& n) {
    return n.kind() == NodeKind::kArray || n.kind() == NodeKind::kScalar;
}

DiffSide sideOf(const Node& n) {
    DiffSide side;
    side.kind = n.kind();
    if (n.kind() == NodeKind::kArray) {
        side.dtype = n.array()->dtype();
        side.shape = n.array()->shape();
    } else if (n.kind() == NodeKind::kScalar) {
        side.dtype = n.scalarDType();
    }
    side.leafCount = n.isLeaf() ? 1 : summarizeNode(n).leafCount;
    return side;
}

// A numeric leaf as a source (a scalar becomes a 0-d in-memory array).
Result<ArraySourcePtr> numericSource(const Node& n) {
    if (n.kind() == NodeKind::kArray) return n.array();
    CKPT_ASSIGN_OR_RETURN(Scalar s, n.loadScalar());
    CKPT_ASSIGN_OR_RETURN(Array array, Array::fromBytes(s.dtype(), {}, s.bits()));
    return makeMemorySource(std::move(array));
}

struct WorkItem {
    NodePtr a;  // null: only in B
    NodePtr b;  // null: only in A
    KeyPath path;
};

class Differ {
public:
    Differ(const DiffOptions& options, const CancelToken* cancel, const ProgressFn& progress,
           std::uint64_t totalBytes)
        : m_options(options), m_cancel(cancel), m_progress(progress), m_total(totalBytes) {}

    Status run(const NodePtr& a, const NodePtr& b) {
        std::vector<WorkItem> stack;
        stack.push_back({a, b, {}});
        while (!stack.empty()) {
            if (isCancelled(m_cancel)) return cancelledError("diff cancelled");
            WorkItem item = std::move(stack.back());
            stack.pop_back();
            CKPT_RETURN_IF_ERROR(visit(std::move(item), stack));
        }
        return okStatus();
    }

    TreeDiff& result() { return m_diff; }

private:
    void add(DiffEntry entry) {
        switch (entry.change) {
            case DiffChange::kOnlyInA:
                ++m_diff.onlyInA;
                break;
            case DiffChange::kOnlyInB:
                ++m_diff.onlyInB;
                break;
            case DiffChange::kKindChanged:
                ++m_diff.kindChanged;
                break;
            case DiffChange::kDTypeChanged:
                ++m_diff.dtypeChanged;
                break;
            case DiffChange::kShapeChanged:
                ++m_diff.shapeChanged;
                break;
            case DiffChange::kValuesDiffer:
                ++m_diff.valuesDiffer;
                break;
            case DiffChange::kNotCompared:
                ++m_diff.notCompared;
                break;
            case DiffChange::kEqual:
                if (!m_options.includeEqual) return;
                break;
        }
        m_diff.entries.push_back(std::move(entry));
    }

    Status visit(WorkItem item, std::vector<WorkItem>& stack) {
        if (!item.a || !item.b) {
            DiffEntry e;
            e.path = std::move(item.path);
            e.change = item.a ? DiffChange::kOnlyInA : DiffChange::kOnlyInB;
            if (item.a) e.a = sideOf(*item.a);
            if (item.b) e.b = sideOf(*item.b);
            add(std::move(e));
            return okStatus();
        }
        const Node& na = *item.a;
        const Node& nb = *item.b;
        if (na.isContainer() && nb.isContainer()) {
            if (na.kind() != nb.kind()) {
                add({item.path, DiffChange::kKindChanged, sideOf(na), sideOf(nb), {}, {}});
            }
            pushChildren(item, stack);
            return okStatus();
        }
        if (na.isContainer() || nb.isContainer() ||
            (na.kind() != nb.kind() && !(isNumericLeaf(na) && isNumericLeaf(nb)))) {
            add({item.path, DiffChange::kKindChanged, sideOf(na), sideOf(nb), {}, {}});
            return okStatus();
        }
        return compareLeaves(item.path, na, nb);
    }

    // Children in reverse so that the stack pops them in A's order, B-only keys last.
    void pushChildren(const WorkItem& item, std::vector<WorkItem>& stack) {
        const Node& na = *item.a;
        const Node& nb = *item.b;
        const std::size_t nA = na.childCount();
        const std::size_t nB = nb.childCount();
        std::vector<std::string> keysB(nB);
        std::unordered_map<std::string_view, std::size_t> indexB;
        indexB.reserve(nB);
        for (std::size_t i = 0; i < nB; ++i) {
            keysB[i] = nb.childKey(i);
            indexB.emplace(keysB[i], i);  // first wins, as findChild
        }
        std::vector<bool> matchedB(nB, false);
        std::vector<WorkItem> children;
        children.reserve(std::max(nA, nB));
        for (std::size_t i = 0; i < nA; ++i) {
            std::string key = na.childKey(i);
            KeyPath path = item.path;
            auto it = indexB.find(key);
            NodePtr childB;
            if (it != indexB.end() && !matchedB[it->second]) {
                matchedB[it->second] = true;
                childB = nb.child(it->second);
            }
            path.push_back(std::move(key));
            children.push_back({na.child(i), std::move(childB), std::move(path)});
        }
        for (std::size_t i = 0; i < nB; ++i) {
            if (matchedB[i]) continue;
            KeyPath path = item.path;
            path.push_back(keysB[i]);
            children.push_back({nullptr, nb.child(i), std::move(path)});
        }
        for (auto it = children.rbegin(); it != children.rend(); ++it)
            stack.push_back(std::move(*it));
    }

    Status compareLeaves(const KeyPath& path, const Node& na, const Node& nb) {
        DiffEntry e{path, DiffChange::kEqual, sideOf(na), sideOf(nb), {}, {}};
        // An array whose metadata cannot be read (lazily opened Orbax leaf) has no structure to
        // compare: reported as not compared, with the error, whatever the other side holds.
        for (const Node* n : {&na, &nb}) {
            if (n->kind() != NodeKind::kArray) continue;
            if (Status error = n->array()->metadataStatus(); !error.isOk()) {
                e.change = DiffChange::kNotCompared;
                e.error = error.withContext(formatKeyPath(path)).toString();
                add(std::move(e));
                return okStatus();
            }
        }
        if (isNumericLeaf(na)) {
            if (e.a->dtype != e.b->dtype) {
                e.change = DiffChange::kDTypeChanged;
                add(std::move(e));
                return okStatus();
            }
            if (e.a->shape != e.b->shape) {
                e.change = DiffChange::kShapeChanged;
                add(std::move(e));
                return okStatus();
            }
            if (!m_options.values) return okStatus();
            ++m_diff.leavesCompared;
            auto values = compareNumeric(na, nb);
            if (!values.isOk()) {
                if (values.status().code() == StatusCode::kCancelled) return values.status();
                e.change = DiffChange::kNotCompared;
                e.error = values.status().withContext(formatKeyPath(path)).toString();
            } else {
                e.change = values->bitEqual ? DiffChange::kEqual : DiffChange::kValuesDiffer;
                // Bit-different but value-equal (-0.0 vs 0.0, NaN payloads) still differs: the
                // bytes a restore would load are not the same.
                e.values = std::move(*values);
            }
            add(std::move(e));
            return okStatus();
        }
        if (!m_options.values) return okStatus();
        ++m_diff.leavesCompared;
        const bool equal = na.kind() == NodeKind::kNone || na.text() == nb.text();
        e.change = equal ? DiffChange::kEqual : DiffChange::kValuesDiffer;
        add(std::move(e));
        return okStatus();
    }

    Result<ValueDiff> compareNumeric(const Node& na, const Node& nb) {
        CKPT_ASSIGN_OR_RETURN(ArraySourcePtr sa, numericSource(na));
        CKPT_ASSIGN_OR_RETURN(ArraySourcePtr sb, numericSource(nb));
        const std::uint64_t base = m_done;
        ProgressFn progress;
        if (m_progress) {
            progress = [this, base](std::uint64_t done, std::uint64_t) {
                m_progress(base + done, std::max(m_total, base + done));
            };
        }
        auto result = compareSources(*sa, *sb, m_options.numbers, m_cancel, progress);
        m_done = base + sa->byteSize();
        return result;
    }

    const DiffOptions& m_options;
    const CancelToken* m_cancel;
    const ProgressFn& m_progress;
    std::uint64_t m_total = 0;
    std::uint64_t m_done = 0;
    TreeDiff m_diff;
};

}  // namespace

Result<ValueDiff> compareSources(const ArraySource& a, const ArraySource& b, bool numbers,
                                 const CancelToken* cancel, const ProgressFn& progress) {
    if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
        return invalidArgumentError(
            "cannot compare values of " + std::string(dtypeName(a.dtype())) + " " +
            formatShape(a.shape()) + " and " + std::string(dtypeName(b.dtype())) + " " +
            formatShape(b.shape()));
    }
    ValueAccumulator acc;
    acc.diff.count = a.elementCount();
    bool stoppedEarly = false;
    Status status = a.forEachChunk(
        [&](const Selection& sel, const Array& blockA) -> Status {
            auto blockB = b.read(sel, cancel);
            if (!blockB.isOk()) return blockB.status();
            const bool same =
                blockA.byteSize() == blockB->byteSize() &&
                std::memcmp(blockA.bytes().data(), blockB->bytes().data(), blockA.byteSize()) == 0;
            if (!same) acc.diff.bitEqual = false;
            if (!numbers) {
                if (!same) {
                    stoppedEarly = true;
                    return cancelledError("stop: first difference found");
                }
                return okStatus();
            }
            acc.addBlock(blockA, *blockB);
            return okStatus();
        },
        cancel, progress);
    if (!status.isOk() && !stoppedEarly) return status;
    if (numbers) acc.finish();
    return acc.diff;
}

Result<TreeDiff> diffTrees(const NodePtr& a, const NodePtr& b, const DiffOptions& options,
                           const CancelToken* cancel, const ProgressFn& progress) {
    if (!a || !b) return invalidArgumentError("diff: a tree is missing");
    const std::uint64_t total = (options.values && progress) ? summarizeTree(a).byteCount : 0;
    Differ differ(options, cancel, progress, total);
    CKPT_RETURN_IF_ERROR(differ.run(a, b));
    return std::move(differ.result());
}

namespace {

bool isContainer(NodeKind k) {
    return k == NodeKind::kDict || k == NodeKind::kList || k == NodeKind::kTuple;
}
bool isSequence(NodeKind k) {
    return k == NodeKind::kList || k == NodeKind::kTuple;
}

// Kind differences a restore into the reference's structure takes in its stride: Orbax keeps
// lists and tuples as one kind of sequence, and stores empty containers (an optax EmptyState)
// as None.
bool restoreAccepts(const DiffSide& src, const DiffSide& ref) {
    if (isSequence(src.kind) && isSequence(ref.kind)) return true;
    const bool emptySrc = isContainer(src.kind) && src.leafCount == 0;
    const bool emptyRef = isContainer(ref.kind) && ref.leafCount == 0;
    return (src.kind == NodeKind::kNone && emptyRef) || (ref.kind == NodeKind::kNone && emptySrc);
}

}  // namespace

bool hasValues(const NodePtr& node) {
    bool ok = true;
    walkTree(node, [&](const KeyPath&, const Node& n) {
        if (!ok) return false;
        if (n.kind() == NodeKind::kArray) {
            ok = !isStructureOnly(*n.array());
        } else if (n.kind() == NodeKind::kScalar) {
            ok = n.loadScalar().isOk();
        }
        return ok;
    });
    return ok;
}

Result<Preflight> preflight(const NodePtr& src, const NodePtr& ref, const CancelToken* cancel) {
    DiffOptions options;
    options.values = false;
    CKPT_ASSIGN_OR_RETURN(TreeDiff diff, diffTrees(src, ref, options, cancel));
    Preflight out;
    for (DiffEntry& e : diff.entries) {
        switch (e.change) {
            case DiffChange::kOnlyInA:
                out.extra.push_back(std::move(e));
                break;
            case DiffChange::kOnlyInB: {
                MissingKey m;
                m.path = e.path;
                m.ref = *e.b;
                auto node = findNode(ref, e.path);
                m.hasDefault = node.isOk() && hasValues(*node);
                out.missing.push_back(std::move(m));
                break;
            }
            case DiffChange::kKindChanged:
                if (restoreAccepts(*e.a, *e.b)) {
                    out.compatible.push_back(std::move(e));
                    break;
                }
                out.mismatches.push_back(std::move(e));
                break;
            case DiffChange::kDTypeChanged:
            case DiffChange::kShapeChanged:
            case DiffChange::kNotCompared:  // structure only: an unreadable leaf fails a restore
                out.mismatches.push_back(std::move(e));
                break;
            default:
                break;
        }
    }
    // Leaves of ref whose place in src has the same structure.
    std::uint64_t refLeaves = summarizeTree(ref).leafCount;
    std::uint64_t unmatched = 0;
    for (const MissingKey& m : out.missing) unmatched += m.ref.leafCount;
    for (const DiffEntry& e : out.mismatches) {
        // Two containers of different kinds are compared below; their leaves count there.
        if (!(isContainer(e.a->kind) && isContainer(e.b->kind))) unmatched += e.b->leafCount;
    }
    out.leavesMatched = refLeaves > unmatched ? refLeaves - unmatched : 0;
    if (!out.mismatches.empty()) {
        out.outcome = PreflightOutcome::kMismatch;
    } else if (!out.missing.empty()) {
        out.outcome = PreflightOutcome::kMissingKeys;
    } else if (!out.extra.empty()) {
        out.outcome = PreflightOutcome::kExtraKeys;
    } else {
        out.outcome = PreflightOutcome::kExact;
    }
    return out;
}

}  // namespace ckpt
