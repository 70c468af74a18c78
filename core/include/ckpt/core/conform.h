// Conforming a checkpoint tree to a reference structure: the plan of edits (a recipe) that turns
// SRC into a tree restoring into REF's structure with no Orbax transforms (`ckpt conform`).
//
// planConform() works on the edit layer (ckpt/core/edit.h): it applies user rename rules and
// stack/unstack options, then compares the result with the reference (preflight,
// ckpt/core/diff.h) and plans stacks and unstacks between unrolled layers and scan layouts,
// converts of Flax state-dict containers, deletes of extra keys, adds of missing keys and casts
// to the reference's dtypes. Each step is applied to a working tree as it is planned, and the result is
// checked with preflight(), so a plan that is returned does what it says: applyRecipe(src,
// plan.steps) restores into `ref` exactly (or with only extra keys, under dropExtra = false).
// What cannot be fixed (a shape mismatch, a missing key with no fill, a leaf of another kind) is
// an InvalidArgument naming every key path concerned; nothing partial is returned.
//
// Pure functions of immutable trees; thread-safe. No array data is read while planning (only
// scalars: a fill keeps the reference scalar's Python/numpy flavour, and FillFrom::kReference
// checks that the reference has values, which structure files may lack).
#pragma once

#include <string>
#include <vector>

#include "ckpt/core/cancel.h"
#include "ckpt/core/edit.h"
#include "ckpt/core/keypath.h"
#include "ckpt/core/status.h"
#include "ckpt/core/tree.h"

namespace ckpt {

// A key rename: `pattern` is an ECMAScript regular expression that must match a whole key path
// text ("params/Dense_0") or a whole single key ("Dense_0"); `replacement` uses $1 or \1 for
// captures. Matching the whole path moves the node to the replacement path; matching one key
// renames that key in place. The first rule that matches a node wins; rules are tried on every
// node of SRC, parents before children (children of a renamed node follow it).
struct RenameRule {
    std::string pattern;
    std::string replacement;
};

// Parses "REGEX=REPLACEMENT" (split at the last '=' not preceded by a backslash; "\=" is a
// literal '='). InvalidArgument for a missing '=', an empty pattern or a bad regex.
Result<RenameRule> parseRenameRule(std::string_view text);

// `ckpt conform --stack PARENT/PREFIX[=NEWKEY]`: Edit::stack(PARENT, PREFIX, NEWKEY) (PARENT is
// the root when the text is one key; NEWKEY defaults to PREFIX without a trailing '_'). The text
// is split at its last '='. InvalidArgument for an empty or bad key path.
Result<Edit> parseStackOption(std::string_view text);
// `ckpt conform --unstack PATH[=PREFIX]`: Edit::unstack(PATH, PREFIX) (PREFIX defaults to the
// last key and '_'; "PATH=" gives keys "0", "1", ...). Split at the last '='.
Result<Edit> parseUnstackOption(std::string_view text);

// Where the values of keys that REF has and SRC lacks come from.
enum class FillFrom {
    kReference,  // REF's values (an add step of kind "reference"; REF must have values)
    kZeros,      // zeros of REF's dtype and shape (None, empty containers and strings as REF)
    kConstant,   // ConformOptions::constant in REF's dtype
    kNone,       // missing keys are an error
};

// The rule that moves exactly `from` to `to` (regex metacharacters in the pattern and '$', '\\'
// in the replacement escaped): how an accepted Suggestion becomes a rule.
RenameRule exactRenameRule(const KeyPath& from, const KeyPath& to);

// "REGEX=REPLACEMENT" for `rule`, each '=' in either part escaped as "\=": parseRenameRule's
// input.
std::string formatRenameRule(const RenameRule& rule);

// "reference", "zeros", "constant", "none".
std::string_view fillFromName(FillFrom fill);

struct ConformOptions {
    std::vector<RenameRule> renames;
    // Stack and unstack edits applied in order after the renames (errors when they do not
    // apply); the scan layouts planConform finds by itself come after them.
    std::vector<Edit> layouts;
    bool dropExtra = true;  // delete keys REF lacks (false: keep them; Orbax drops them on restore)
    FillFrom fill = FillFrom::kReference;
    EditValue constant = 0.0;     // kConstant
    bool castToReference = true;  // dtype differences become casts (false: they are errors)
};

// An unmatched SRC key that looks like an unmatched REF key: same structure (dtype and shape of
// every leaf below), and a similar name. Not applied; `ckpt conform` prints it as a --rename.
struct Suggestion {
    KeyPath from;  // in SRC after the rename rules
    KeyPath to;    // in REF
    double score = 0;  // 0..1, higher is more likely
    std::string reason;
};

struct ConformPlan {
    // In order: the rename rules' renames/moves (with dicts added for moves into new parents),
    // the layouts of ConformOptions, stacks and unstacks found by comparing with REF (a REF key
    // P/K that SRC lacks, where SRC has P/K_0..P/K_{N-1} whose stack has REF's shapes, is
    // stacked; an SRC key P/K that REF lacks, where REF has P/K_0..P/K_{N-1} and no P/K_N, whose
    // arrays have length N along axis 0 and unstack to REF's shapes, is unstacked), deletes of
    // extra keys, list/tuple -> dict converts, adds of missing keys, dict -> list/tuple
    // converts (after the adds that complete a Flax state dict), casts. Always a valid recipe
    // (recipeToJson); fills from the reference are {"kind": "reference", "from": PATH} nodes.
    std::vector<Edit> steps;
    std::vector<std::string> notes;  // one line per decision, in step order
    std::vector<Suggestion> suggestions;  // best first
};

// The plan turning `src` into `ref`'s structure. Reference fills carry `ref` (NodeSpec::
// reference), so the steps apply as they are. Cancelled when `cancel` fires.
Result<ConformPlan> planConform(const NodePtr& src, const NodePtr& ref,
                                const ConformOptions& options = {},
                                const CancelToken* cancel = nullptr);

}  // namespace ckpt
