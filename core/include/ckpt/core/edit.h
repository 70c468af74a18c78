// Editing checkpoint trees: edits as values, their inverses, lazy edited arrays, undo/redo and
// replayable JSON recipes.
//
// An Edit is one step (rename, move, delete, copy, add, set, cast, convert, stack, ...).
// applyEdit() returns a new root that shares every untouched subtree (the same NodePtr, hence the
// same ArraySource) with the old one: only the ancestors of the edited node are rebuilt. Edited
// arrays are lazy ArraySources (a cast, a constant fill, a few patched cells over the original), so
// no leaf is read until something asks for its values — typically a FormatWriter streaming the
// edited tree chunk by chunk. A recipe is the JSON form of a list of edits; `ckpt apply` and the
// GUI's undo stack share this one layer.
//
// Everything here is pure and thread-safe except EditSession, which is a plain value object to
// be used from one thread at a time (its trees may be handed to other threads freely).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ckpt/core/array_source.h"
#include "ckpt/core/cancel.h"
#include "ckpt/core/dtype.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// A number given by the user for set / set_cells / scalar and constant fills. It is converted
// into the target dtype exactly when it fits (integers must be integral and in range; floats are
// rounded to nearest-even as numpy's astype does); NaN and ±inf are doubles.
using EditValue = std::variant<bool, std::int64_t, std::uint64_t, double>;

// "True", "-3", "18446744073709551615", "0.1" (shortest round-trip), "nan", "-inf".
std::string editValueText(const EditValue& value);

// What `add` creates.
struct NodeSpec {
    enum class Kind {
        kDict, kList, kTuple, kNone, kString, kScalar, kZeros, kOnes, kFull, kCopyOf,
        kReference,  // the node at `from` in a reference tree (ckpt conform's fill)
    };
    Kind kind = Kind::kNone;
    DType dtype = DType::kFloat32;  // scalar, zeros, ones, full
    Shape shape;                    // zeros, ones, full
    EditValue value = std::int64_t{0};  // scalar, full
    bool native = false;            // scalar: a Python builtin rather than a numpy scalar
    std::string text;               // string
    KeyPath from;                   // copy_of: the node to copy (in the tree being edited);
                                    // reference: the node's path in the reference tree
    // reference: the reference tree the node is taken from (shared, values read lazily). A
    // recipe cannot hold it: recipeFromJson leaves it null, and applying such a step fails with
    // InvalidArgument until bindReference() gives it one (`ckpt apply --reference REF`).
    NodePtr reference;

    static NodeSpec ofKind(Kind kind);
    static NodeSpec dict() { return ofKind(Kind::kDict); }
    static NodeSpec list() { return ofKind(Kind::kList); }
    static NodeSpec tuple() { return ofKind(Kind::kTuple); }
    static NodeSpec none() { return ofKind(Kind::kNone); }
    static NodeSpec string(std::string text);
    static NodeSpec scalar(DType dtype, EditValue value, bool native = false);
    static NodeSpec zeros(DType dtype, Shape shape);
    static NodeSpec ones(DType dtype, Shape shape);
    static NodeSpec full(DType dtype, Shape shape, EditValue value);
    static NodeSpec copyOf(KeyPath from);
    static NodeSpec fromReference(KeyPath from, NodePtr reference = nullptr);
};

struct CellEdit {
    std::vector<std::int64_t> index;  // one entry per dimension (empty for a 0-d array)
    EditValue value;
};

enum class EditKind {
    kRename,     // path, newKey: a dict key renamed in place (order kept)
    kMove,       // path -> to (and position); see applyEdit
    kDelete,     // path
    kCopy,       // path -> to (and position): a duplicate sharing the original's storage
    kAdd,        // path (and position), node
    kSetScalar,  // path of a scalar, value
    kSetString,  // path of a string, text
    kSetCells,   // path of an array, cells
    kCast,       // path of a leaf or subtree, dtype
    kConvert,    // path of a container, containerKind (dict, list or tuple)
    kStack,      // path of a dict, prefix, newKey, axis: keys prefix0..prefixN-1 -> one key
    kUnstack,    // path of a dict entry, prefix, axis: the inverse of kStack
    // Internal kinds produced by invertEdit (they hold a NodePtr and are not recipe steps):
    kReplace,    // path, payload: the node at path becomes payload
    kInsert,     // path (and position), payload: payload inserted as a new node
};

// "rename", "move", "delete", "copy", "add", "set", "set_string", "set_cells", "cast",
// "convert", "stack", "unstack", "replace", "insert" (the recipe "op" names).
std::string_view editKindName(EditKind kind);

// One step of an edit. A value type; build it with the factories.
struct Edit {
    EditKind kind = EditKind::kDelete;
    KeyPath path;
    std::string newKey;                   // rename; stack: the stacked entry's key
    std::string prefix;                   // stack, unstack: the numbered keys' common prefix
    std::int64_t axis = 0;                // stack, unstack: the layer axis of every array
    KeyPath to;                           // move, copy
    // move, copy, add, insert into a dict: the new entry's index among the dict's entries
    // (0 = first); default the end. Lists and tuples take the position from the last key.
    std::optional<std::int64_t> position;
    NodeSpec node;                        // add
    EditValue value = std::int64_t{0};    // set
    std::string text;                     // set_string
    std::vector<CellEdit> cells;          // set_cells
    DType dtype = DType::kFloat32;        // cast
    NodeKind containerKind = NodeKind::kDict;  // convert: kDict, kList or kTuple
    NodePtr payload;                      // replace, insert

    static Edit rename(KeyPath path, std::string newKey);
    static Edit move(KeyPath path, KeyPath to, std::optional<std::int64_t> position = {});
    static Edit remove(KeyPath path);  // the "delete" op
    static Edit copy(KeyPath path, KeyPath to, std::optional<std::int64_t> position = {});
    static Edit add(KeyPath path, NodeSpec node, std::optional<std::int64_t> position = {});
    static Edit setScalar(KeyPath path, EditValue value);
    static Edit setString(KeyPath path, std::string text);
    static Edit setCells(KeyPath path, std::vector<CellEdit> cells);
    static Edit cast(KeyPath path, DType dtype);
    static Edit convert(KeyPath path, NodeKind containerKind);
    // Keys prefix0..prefixN-1 of the dict at `parent` become one key `to`; an empty `to` is the
    // prefix without a trailing '_' ("layers_" -> "layers").
    static Edit stack(KeyPath parent, std::string prefix, std::string to = {},
                      std::int64_t axis = 0);
    // The entry at `path` becomes keys prefix0..prefixN-1 beside it; an empty prefix is the
    // entry's key and '_' ("layers" -> "layers_").
    static Edit unstack(KeyPath path, std::string prefix = {}, std::int64_t axis = 0);
    static Edit replace(KeyPath path, NodePtr payload);
    static Edit insert(KeyPath path, NodePtr payload, std::optional<std::int64_t> position = {});

    // For messages and the GUI's undo menu: "rename params/x", "cast params/kernel",
    // "stack params/layers_*", "unstack params/layers".
    std::string describe() const;
};

// Applies one edit and returns the new root; `root` is unchanged and shares every untouched
// subtree (and node attributes) with the result. Rules:
//  - the root itself can be replaced, cast or converted, not renamed, moved, deleted or copied;
//  - move: the destination is looked up after the node is taken out of its old place, its parent
//    must exist and be a container, and in a dict the key must be free; a list/tuple index
//    (0..size) inserts there. Moving a node into itself is an error;
//  - copy/add/insert: as move's destination (nothing is taken out first);
//  - cast: every array and scalar under path whose dtype is numeric (integers, floats, complex)
//    becomes a lazy cast (see makeCastSource); strings, bytes and bools are skipped, except that a
//    leaf named directly must be castable ("cannot cast string"). Cast targets: bool, int8..64,
//    uint8..64, the floats including float8 variants (not float8_e8m0fnu) and complex;
//  - convert: dict -> list/tuple needs the keys "0".."n-1" in that order (a Flax state dict);
//    list/tuple -> dict keys items "0".."n-1"; converting to the same kind changes nothing;
//  - stack (the scan layout of Flax nn.scan / remat-scan): in the dict at path, the keys that are
//    `prefix` followed by a decimal number (no leading zeros) must be exactly prefix0..prefixN-1
//    and hold the same structure (same kinds, dict key sets, list lengths, and dtype and shape
//    of every array and scalar). They are replaced by one entry `newKey`, placed where the first
//    of them (in dict order) was, whose subtree has that structure with every array and scalar
//    replaced by the N of them stacked along a new dimension `axis` (0..rank; scalars give 1-d
//    arrays): a lazy source that reads the N originals on demand (makeStackSource). None and
//    empty containers stay as they are; strings and bytes cannot be stacked. Containers keep the
//    first layer's attributes;
//  - unstack: the entry at path (in a dict) must hold at least one array, and every array and
//    scalar below it must be an array with the same length N >= 1 along `axis`. It is replaced,
//    at its position, by prefix0..prefixN-1 (in that order), each with the subtree's structure
//    and slice k of every array (lazy, makeSliceSource; a 1-d array gives 0-d arrays), and
//    None/empty containers are repeated. Unstacking what a stack built gives back the stacked
//    nodes themselves (scalars included).
// Errors name the key path: NotFound ("no node at 'params/x'"), AlreadyExists,
// InvalidArgument (wrong kind, bad index, value out of range for the dtype, layers missing or of
// different structure, naming the key paths and what differs), Unsupported.
Result<NodePtr> applyEdit(const NodePtr& root, const Edit& edit);

// An edit that, applied to applyEdit(before, edit), gives back a tree equal to `before` in
// structure, order and every value (structural inverses for rename/move/copy/add/delete/convert,
// kReplace holding the original node for set_*/cast/replace; unstack for stack and stack for
// unstack). Fails when `edit` does not apply. Exceptions, all invisible to a restore: the unstack
// inverting a stack puts the layers back in numeric order at the first one's place (as before
// when they were contiguous and in order, as Flax writes them), and stacked layers' array nodes
// lose their attributes.
Result<Edit> invertEdit(const NodePtr& before, const Edit& edit);

// Applies the steps in order. A failing step gives its error prefixed with
// "step N (op path)", e.g. "step 3 (rename params/x): no node at 'params/x'" (N from 1).
Result<NodePtr> applyRecipe(const NodePtr& root, const std::vector<Edit>& steps);

// Recipe JSON (schema in README.md, "ckpt apply"):
//   {"ckpt_studio_recipe": 1, "steps": [{"op": "rename", "path": "params/Dense_0",
//    "to": "Dense_1"}, ...]}
// Key paths are formatKeyPath text; values exact (integers as JSON integers, floats with
// round-trip precision, NaN/Inf as "nan"/"inf"/"-inf"). replace/insert steps cannot be written
// (InvalidArgument naming the step).
Result<std::string> recipeToJson(const std::vector<Edit>& steps);
// Unknown ops, unknown or missing fields and wrong types are InvalidArgument naming the step.
Result<std::vector<Edit>> recipeFromJson(std::string_view json);

// Whether any add step takes its node from a reference tree (NodeSpec::Kind::kReference).
bool needsReference(const std::vector<Edit>& steps);
// `steps` with every reference add step pointed at `reference` (the tree those steps' `from`
// paths are looked up in when they are applied).
std::vector<Edit> bindReference(std::vector<Edit> steps, const NodePtr& reference);

// --- Lazy edited arrays (what applyEdit builds; usable on their own) ------------------------

// `source` converted element by element to `to`, one block at a time as it is read:
//  - float -> float: round to nearest, ties to even (numpy/ml_dtypes astype); values beyond the
//    target's range become ±inf, or NaN for float8 types without infinities (ml_dtypes);
//  - float -> integer: truncation toward zero; NaN becomes 0 and values outside the target's
//    range saturate to its min/max (numpy leaves both undefined; previewCast counts them);
//  - integer -> integer: wraps modulo 2^bits as numpy does; integer -> float rounds to nearest
//    (via double: int64 beyond 2^53 may round twice);
//  - complex -> real keeps the real part; real -> complex has a zero imaginary part;
//  - anything -> bool is value != 0 (NaN is true).
// chunkShape() is the source's; storage().format says "edited: cast from float32".
Result<ArraySourcePtr> makeCastSource(ArraySourcePtr source, DType to);
// Every element equal to `value` converted to `dtype` (InvalidArgument when it does not fit).
Result<ArraySourcePtr> makeConstantSource(DType dtype, Shape shape, const EditValue& value);
// `source` with some cells replaced (bounds and values checked; later cells win).
Result<ArraySourcePtr> makePatchedSource(ArraySourcePtr source, const std::vector<CellEdit>& cells);
// `members` (at least one, all of one dtype and shape) stacked along a new dimension `axis`
// (0..rank): the shape is the members' with N inserted at `axis`. Lazy: a read forwards to the
// members it covers. Slices 0..N-1 of one source along `axis` stack back into that source.
// InvalidArgument for no members, different dtypes or shapes, or an axis out of range.
Result<ArraySourcePtr> makeStackSource(std::vector<ArraySourcePtr> members, std::int64_t axis = 0);
// Index `index` of dimension `axis` of `source`, that dimension removed (lazy). A slice of a
// stack along its stacking axis is the member itself. InvalidArgument when out of range.
Result<ArraySourcePtr> makeSliceSource(ArraySourcePtr source, std::int64_t axis,
                                       std::int64_t index);

// One value converted to `dtype` (as set / scalar / full do): its little-endian bits.
Result<Scalar> scalarFromValue(DType dtype, const EditValue& value, bool native = false);
// One scalar cast to `to` with makeCastSource's rules (the native flag is kept).
Result<Scalar> castScalar(const Scalar& value, DType to);

// What a cast would do, computed by streaming the source chunk by chunk (forEachChunk).
struct CastReport {
    std::uint64_t count = 0;       // elements examined
    std::uint64_t outOfRange = 0;  // not representable: overflow to inf/NaN/saturation, NaN->int
    std::uint64_t nanCreated = 0;  // NaN in the result where the source was not NaN
    std::uint64_t changed = 0;     // elements whose value differs after the cast
    double maxAbsError = 0;        // over elements finite before and after
    double maxRelError = 0;        // same, and non-zero before
};
Result<CastReport> previewCast(const ArraySource& source, DType to,
                               const CancelToken* cancel = nullptr,
                               const ProgressFn& progress = {});

// --- Undo / redo ---------------------------------------------------------------------------

// The source tree plus the edits applied to it, with undo and redo. Each applied edit keeps the
// roots before and after it, so undo and redo are instant and exact (no inverse is recomputed).
// Not thread-safe; the roots it returns are immutable and may be shared with other threads.
class EditSession {
public:
    explicit EditSession(NodePtr source);

    const NodePtr& source() const { return m_source; }
    const NodePtr& root() const { return m_root; }

    // Applies `edit` to root(); on success clears the redo stack. On error nothing changes.
    Status apply(const Edit& edit);
    bool canUndo() const { return !m_done.empty(); }
    bool canRedo() const { return !m_undone.empty(); }
    // InvalidArgument when there is nothing to undo / redo.
    Status undo();
    Status redo();
    // The next edit undo() / redo() would revert / reapply.
    const Edit* undoEdit() const { return m_done.empty() ? nullptr : &m_done.back().edit; }
    const Edit* redoEdit() const { return m_undone.empty() ? nullptr : &m_undone.back().edit; }

    // root() differs from source() (undoing every edit makes the session clean again).
    bool isDirty() const { return m_root != m_source; }
    // The edits currently applied, oldest first: a recipe reproducing root() from source()
    // (unless it contains replace/insert steps, which recipes cannot hold).
    std::vector<Edit> history() const;
    // Every key path the applied edits touched (source and destination paths, each as it was in
    // the tree its edit applied to; a stack's new key and an unstack's new layers as they are
    // after it), sorted and without duplicates: for an "edited" marker.
    std::vector<KeyPath> changedPaths() const;

private:
    struct Step {
        Edit edit;
        NodePtr before;
        NodePtr after;
    };
    NodePtr m_source;
    NodePtr m_root;
    std::vector<Step> m_done;
    std::vector<Step> m_undone;
};

}  // namespace ckpt
