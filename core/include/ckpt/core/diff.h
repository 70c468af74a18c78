// Structure mismatches: comparing two trees (diffTrees), deciding whether restoring one tree into
// another's structure would be exact (preflight), and structure files — a tree's kinds, dtypes and
// shapes without its data, usable as a reference wherever a checkpoint is (loadStructure).
//
// diffTrees() walks both trees together, matching dict entries by key (order is ignored) and
// list/tuple items by index. It reports keys only in A, only in B, kind/dtype/shape changes, and,
// for leaves present in both with the same dtype and shape, whether their values are bit-equal
// and by how much they differ. Values are streamed: A's chunk grid is walked with forEachChunk and
// the same selection is read from B, so at most one chunk of each array is in memory.
//
// Everything here is a pure function of its (immutable) inputs and thread-safe; long calls poll a
// CancelToken and report progress. Results are plain values owned by the caller.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/cancel.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// ---- Value comparison of two leaves ---------------------------------------------------------

// How two arrays (or scalars) of the same dtype and shape compare. Numbers are computed in double
// precision from the values converted to float64 (integers beyond 2^53 are rounded; complex
// values use |z| for differences and Re(sum conj(a)·b) for the dot product), over the "finite
// pairs": positions where both values are finite. At other positions two NaNs, or two infinities
// of the same sign, count as equal values; anything else there is a non-finite mismatch.
struct ValueDiff {
    std::uint64_t count = 0;  // elements compared
    bool bitEqual = true;     // every element has the same bytes
    // The rest is filled only when numbers were asked for (DiffOptions::numbers); otherwise
    // the comparison may have stopped at the first differing chunk.
    bool hasNumbers = false;
    std::uint64_t changed = 0;            // positions whose values differ (-0.0 == 0.0)
    std::uint64_t finitePairs = 0;        // positions where both values are finite
    std::uint64_t nonFiniteMismatch = 0;  // NaN/±inf on one side only, or inf of opposite sign
    std::uint64_t nanA = 0;               // NaNs in A (complex: either part NaN)
    std::uint64_t nanB = 0;
    double maxAbsDiff = 0;  // max |b − a| over finite pairs; 0 when there are none
    // max |b − a| / max(|a|, |b|) over finite pairs (a pair of zeros counts 0): symmetric, in
    // [0, 2]; [1,2,3] vs [1,2,4] gives 0.25.
    double maxRelDiff = 0;
    // sum(a·b) / (‖a‖·‖b‖) over finite pairs; NaN when either norm is 0 (or no finite pairs).
    double cosine = 0;
    // ‖b‖ / ‖a‖ over finite pairs; 1 when both norms are 0, +inf when only ‖a‖ is 0.
    double normRatio = 1;
    double normA = 0;
    double normB = 0;
    // ‖b − a‖ over finite pairs (complex: sqrt(Σ|b − a|²)), summed directly rather than derived
    // from the norms and the cosine, so a tiny change of a large leaf is not lost to rounding.
    double diffNorm = 0;
};

// Compares two sources of equal dtype and shape (InvalidArgument otherwise). With numbers=false
// it stops at the first chunk whose bytes differ. Progress is bytes of A compared.
Result<ValueDiff> compareSources(const ArraySource& a, const ArraySource& b, bool numbers,
                                 const CancelToken* cancel = nullptr,
                                 const ProgressFn& progress = {});

// ---- Tree diff ------------------------------------------------------------------------------

enum class DiffChange {
    kOnlyInA,  // the key exists in A only (the whole subtree, reported once)
    kOnlyInB,
    kKindChanged,   // e.g. dict vs list, array vs string; containers are still compared below
    kDTypeChanged,  // arrays/scalars of different dtypes (shape may differ too)
    kShapeChanged,  // arrays of equal dtype, different shape
    kValuesDiffer,  // same kind, dtype and shape; the values differ (see values)
    kEqual,         // compared and equal (listed only with DiffOptions::includeEqual)
    kNotCompared,   // same structure, values could not be read (see error); e.g. structure only
};

// "only_in_a", "only_in_b", "kind_changed", "dtype_changed", "shape_changed", "values_differ",
// "equal", "not_compared".
std::string_view diffChangeName(DiffChange change);

// What one side holds at a path: kind, and dtype/shape for arrays and scalars (a scalar has the
// shape ()). A scalar and a 0-d array of the same dtype are the same structure (Orbax stores
// both as 0-d arrays), so they are compared by value and never reported as a kind change.
struct DiffSide {
    NodeKind kind = NodeKind::kNone;
    std::optional<DType> dtype;
    Shape shape;
    std::uint64_t leafCount = 1;  // leaves in the subtree (only-in-A/B entries)
};

struct DiffEntry {
    KeyPath path;
    DiffChange change = DiffChange::kEqual;
    std::optional<DiffSide> a;        // absent for kOnlyInB
    std::optional<DiffSide> b;        // absent for kOnlyInA
    std::optional<ValueDiff> values;  // arrays and numeric scalars whose values were compared
    std::string error;                // kNotCompared: why
};

struct DiffOptions {
    // Compare leaf values (strings, bytes, scalars, arrays). false = structure only.
    bool values = true;
    // With values: also compute the numbers of ValueDiff (streams every element); false = bit
    // equality only, stopping at the first differing chunk.
    bool numbers = true;
    // Also list leaves that compared equal (for a side-by-side view); off for reports.
    bool includeEqual = false;
};

struct TreeDiff {
    // In a stable order: a depth-first walk of A, with B-only keys of a dict after A's keys.
    std::vector<DiffEntry> entries;
    std::uint64_t leavesCompared = 0;  // leaf pairs with equal structure whose values were compared
    std::uint64_t onlyInA = 0;         // entries of each change (not leaves)
    std::uint64_t onlyInB = 0;
    std::uint64_t kindChanged = 0;
    std::uint64_t dtypeChanged = 0;
    std::uint64_t shapeChanged = 0;
    std::uint64_t valuesDiffer = 0;
    std::uint64_t notCompared = 0;

    bool structureEqual() const {
        return onlyInA + onlyInB + kindChanged + dtypeChanged + shapeChanged == 0;
    }
    // Same structure and every compared value equal (entries not compared do not count).
    bool identical() const { return structureEqual() && valuesDiffer == 0; }
};

// Walks `a` and `b` together (iteratively for containers; leaves are compared in walk order).
// Value read failures do not fail the diff: the leaf becomes kNotCompared with the error text.
// Cancelled when `cancel` fires; progress is (bytes of A compared, bytes of all of A's arrays
// and scalars), so it may end short of the total when some leaves are not compared.
// Null roots are InvalidArgument.
Result<TreeDiff> diffTrees(const NodePtr& a, const NodePtr& b, const DiffOptions& options = {},
                           const CancelToken* cancel = nullptr, const ProgressFn& progress = {});

// ---- Restore preflight ----------------------------------------------------------------------

// What restoring `src` into `ref`'s structure (Orbax restore with a target, flax from_bytes)
// would do, most severe first.
enum class PreflightOutcome {
    kExact,        // same keys, kinds, dtypes and shapes
    kExtraKeys,    // src has keys ref lacks: they would be silently dropped (nothing else wrong)
    kMissingKeys,  // ref has keys src lacks: they need defaults (maybe extra keys too)
    kMismatch,     // a kind, dtype or shape differs: the restore would fail
};

// "exact", "extra_keys", "missing_keys", "mismatch".
std::string_view preflightOutcomeName(PreflightOutcome outcome);

struct MissingKey {
    KeyPath path;
    DiffSide ref;  // what the reference expects there
    bool hasDefault =
        false;  // ref holds a readable value for every leaf below (not structure only)
};

struct Preflight {
    PreflightOutcome outcome = PreflightOutcome::kExact;
    std::vector<DiffEntry> extra;       // kOnlyInA entries (src = A)
    std::vector<MissingKey> missing;    // in ref only
    std::vector<DiffEntry> mismatches;  // kind/dtype/shape changes (a = src, b = ref)
    // Kind changes a restore accepts, not counted as mismatches: list vs tuple (Orbax keeps one
    // kind of sequence), None vs an empty container (Orbax stores an empty NamedTuple as None).
    std::vector<DiffEntry> compatible;
    std::uint64_t leavesMatched = 0;  // leaves of ref found in src with equal structure
};

// Every leaf under `node` holds a value that can be read: arrays that are not structure only
// (structure files may lack values) and scalars that load. Reads scalars, never array data.
bool hasValues(const NodePtr& node);

// diffTrees(src, ref) on structure only, classified. Never reads array data.
Result<Preflight> preflight(const NodePtr& src, const NodePtr& ref,
                            const CancelToken* cancel = nullptr);

// ---- Structure files ------------------------------------------------------------------------

// A structure file is `ckpt tree --json`'s NODE under a version tag (schema in README.md,
// "ckpt skeleton"):
//   {"ckpt_studio_structure": 1, "tree": NODE}
// NODE: {"type":"dict","children":{KEY:NODE,…}} | {"type":"list"|"tuple","items":[NODE,…]} |
// {"type":"none"} | {"type":"array","dtype":D,"shape":[…]} (optional "value": one number for a
// constant fill, or the values as a (nested) list in C order) | {"type":"scalar","dtype":D}
// (optional "value") | {"type":"string","value":S} | {"type":"bytes","size":N}. Numbers as in
// `ckpt tree --json` (JSON numbers, true/false, "nan"/"inf"/"-inf"; complex values are not
// accepted as defaults). Other keys on a node ("rollup", "index", "error") are ignored, so
// `ckpt tree --json` output with the tag added loads as is; "format" at the top is ignored too.

inline constexpr int kStructureVersion = 1;

// Arrays without a value are metadata-only sources: dtype and shape are known, reading fails with
// Unsupported "'<path>' is structure only (from a structure file): it has no values". Scalars
// without a value are lazy scalars whose loadScalar() fails the same way. Bytes nodes hold
// `size` zero bytes. Errors are InvalidArgument naming `sourceName` and the key path.
Result<NodePtr> parseStructure(std::string_view json, std::string_view sourceName = "structure");
Result<NodePtr> loadStructure(const std::filesystem::path& path);

// Whether `path` is a regular file whose JSON carries "ckpt_studio_structure" (reads at most the
// first 4 KiB; never fails).
bool isStructureFile(const std::filesystem::path& path);

// Whether `source` is one of loadStructure's metadata-only sources.
bool isStructureOnly(const ArraySource& source);

struct StructureOptions {
    // Also write the values of arrays with at most this many elements as "value" (0 = none).
    // Scalars, strings and bytes sizes are always written, as `ckpt tree --json` does.
    std::uint64_t maxValueElements = 0;
};

// The structure file of `root` (pretty-printed JSON, trailing newline). Reads scalar values and,
// with maxValueElements, small arrays; a scalar that cannot be read is written without a value.
Result<std::string> structureToJson(const NodePtr& root, const StructureOptions& options = {},
                                    const CancelToken* cancel = nullptr);

}  // namespace ckpt
