"""`ckpt tree --sizes` and `ckpt tree --filter` on checkpoints written by real orbax and flax.

Rollups are checked against numpy's own element counts and nbytes of what the peer restores,
subtree by subtree; on-disk bytes against the files the peer wrote. Filters are checked against
an independent Python model of the documented pattern semantics (a glob written here from the
documentation, `re.search` for regexes, `str.lower` for substrings) over the restored tree's key
paths.
"""

from __future__ import annotations

import os
import re

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest

import flaxtrees as ft


# ---------------------------------------------------------------------------
# The Python model of a tree: nodes by key path (tuples of keys), from what the peer restored.

def _children(x):
    if isinstance(x, dict):
        return [(str(k), v) for k, v in x.items()]
    if isinstance(x, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(x)]
    return None


def _leaf_sizes(x):
    """(parameters, memory bytes, is array) of one leaf, as numpy counts them."""
    if x is None or isinstance(x, (str, bytes)):
        return 0, 0, False
    a = np.asarray(x)
    return int(a.size), int(a.nbytes), a.ndim > 0


def _expected_rollup(x):
    kids = _children(x)
    if kids is None:
        params, nbytes, _ = _leaf_sizes(x)
        return {"leaves": 1, "parameters": params, "memory_bytes": nbytes}
    out = {"leaves": 0, "parameters": 0, "memory_bytes": 0}
    for _, v in kids:
        r = _expected_rollup(v)
        for k in out:
            out[k] += r[k]
    return out


def _json_children(node):
    """(key, child) of a `ckpt tree --json` node; list items by their "index" when filtered."""
    if node["type"] == "dict":
        return list(node["children"].items())
    if node["type"] in ("list", "tuple"):
        return [(str(item.get("index", i)), item) for i, item in enumerate(node["items"])]
    return []


def _lookup(x, key):
    return x[key] if isinstance(x, dict) else x[int(key)]


def _check_rollups(node, restored, where="<root>"):
    """Every node's rollup against numpy; returns the number of nodes checked."""
    r = node["rollup"]
    want = _expected_rollup(restored)
    got = {k: r[k] for k in want}
    assert got == want, f"{where}: rollup {r} != numpy {want}"
    assert r["stored_bytes"] >= 0 and r["unknown_stored"] >= 0
    assert r["arrays"] <= r["leaves"]
    checked = 1
    kids = _json_children(node)
    if kids:
        # Containers add up their children.
        for field in ("leaves", "arrays", "parameters", "memory_bytes", "stored_bytes",
                      "unknown_stored"):
            assert r[field] == sum(c["rollup"][field] for _, c in kids), f"{where}: {field}"
    elif node["type"] == "array":
        params, nbytes, _ = _leaf_sizes(restored)
        assert r["arrays"] == 1 and r["leaves"] == 1
        # A stored size is known, or the array counts as unknown (never both, never neither
        # for an array with data).
        if nbytes > 0:
            assert (r["stored_bytes"] > 0) != (r["unknown_stored"] == 1), f"{where}: {r}"
    else:
        assert r["arrays"] == 0 and r["stored_bytes"] == 0 and r["unknown_stored"] == 0, where
    for key, child in kids:
        checked += _check_rollups(child, _lookup(restored, key), f"{where}/{key}")
    return checked


def _all_paths(x, prefix=()):
    """Every node's key path (root excluded), parents first."""
    for k, v in _children(x) or []:
        yield prefix + (k,), v
        yield from _all_paths(v, prefix + (k,))


# ---------------------------------------------------------------------------
# The documented pattern semantics, written independently of the C++ matcher.

SEP = "\x00"  # stands for the separator between keys; no test key contains it


def _glob_to_regex(pattern: str) -> tuple[str, bool]:
    """(regex over keys joined by SEP, whether the pattern has a separating '/')."""
    out, i, whole = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "/":
            out.append(SEP)
            whole = True
            i += 1
        elif c == "*":
            j = i
            while j < len(pattern) and pattern[j] == "*":
                j += 1
            out.append("[\\s\\S]*" if j - i >= 2 else f"[^{SEP}]*")
            i = j
        elif c == "?":
            out.append(f"[^{SEP}]")
            i += 1
        elif c == "[":
            j = i + 1
            negate = j < len(pattern) and pattern[j] == "!"
            if negate:
                j += 1
            members, first = [], True
            while pattern[j] != "]" or first:
                first = False
                ch = pattern[j + 1] if pattern[j] == "\\" else pattern[j]
                j += 2 if pattern[j] == "\\" else 1
                if pattern[j] == "-" and pattern[j + 1] != "]":
                    hi = pattern[j + 2] if pattern[j + 1] == "\\" else pattern[j + 1]
                    j += 3 if pattern[j + 1] == "\\" else 2
                    members.append(re.escape(ch) + "-" + re.escape(hi))
                else:
                    members.append(re.escape(ch))
            # A set is one key character: never the separator.
            out.append(f"(?:(?!{SEP})[{'^' if negate else ''}{''.join(members)}])")
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out), whole


def glob_match(pattern: str, keys: tuple) -> bool:
    rx, whole = _glob_to_regex(pattern)
    subject = SEP.join(keys) if whole else keys[-1]
    return re.fullmatch(rx, subject) is not None


def matches(syntax: str, pattern: str, keys: tuple) -> bool:
    text = ft.keypath(keys)
    if syntax == "glob":
        return glob_match(pattern, keys)
    if syntax == "regex":
        return re.search(pattern, text) is not None
    return pattern.lower() in text.lower()


def expected_filter(tree, syntax, pattern):
    """(matched key paths, visible key paths): matches not below another match, their
    ancestors, and everything below them."""
    matched, visible = [], set()

    def walk(x, prefix):
        for k, v in _children(x) or []:
            keys = prefix + (k,)
            if matches(syntax, pattern, keys):
                matched.append(keys)
                for i in range(1, len(keys) + 1):
                    visible.add(keys[:i])
                visible.update(p for p, _ in _all_paths(v, keys))
            else:
                walk(v, keys)

    walk(tree, ())
    return matched, visible


def json_paths(node, prefix=()):
    for k, child in _json_children(node):
        yield prefix + (k,)
        yield from json_paths(child, prefix + (k,))


def _flag(syntax):
    return {"glob": ["--glob"], "regex": ["--regex"], "substring": []}[syntax]


def check_filter(ckpt_json, path, tree, syntax, pattern):
    out = ckpt_json("tree", path, "--json", "--filter", pattern, *_flag(syntax))
    matched, visible = expected_filter(tree, syntax, pattern)
    assert out["matches"] == len(matched), (syntax, pattern, matched)
    got = set(json_paths(out["tree"]))
    assert got == visible, (f"{syntax} {pattern!r}: extra {sorted(got - visible)[:10]}, "
                            f"missing {sorted(visible - got)[:10]}")
    return matched


# ---------------------------------------------------------------------------

def test_python_glob_model_follows_the_documentation():
    # The reference model itself, on the documented examples.
    assert glob_match("kernel", ("params", "Dense_0", "kernel"))
    assert not glob_match("kernel", ("kernel", "x"))
    assert glob_match("Dense_*", ("params", "Dense_0"))
    assert glob_match("params/*/kernel", ("params", "Dense_0", "kernel"))
    assert not glob_match("params/*/kernel", ("params", "a", "b", "kernel"))
    assert glob_match("opt_state/**", ("opt_state", "0", "mu"))
    assert not glob_match("opt_state/**", ("opt_state",))
    assert glob_match("[!a-c]x", ("dx",)) and not glob_match("[!a-c]x", ("bx",))
    assert glob_match("a?b", ("a/b",)) and glob_match("a\\/b", ("a/b",))


def _orbax_tree():
    return {
        "params": {
            "Dense_0": {"kernel": jnp.asarray(ft.seeded_array("float32", (64, 32), 1)),
                        "bias": jnp.asarray(ft.seeded_array("bfloat16", (32,), 2))},
            "Dense_1": {"kernel": jnp.asarray(ft.seeded_array("float16", (32, 8), 3)),
                        "bias": jnp.asarray(ft.seeded_array("float32", (8,), 4))},
            "embed": jnp.asarray(ft.seeded_array("int8", (100, 16), 5)),
        },
        "opt_state": [
            {"mu": jnp.asarray(ft.seeded_array("float32", (64, 32), 6)),
             "count": jnp.asarray(ft.seeded_array("int32", (4,), 7))},
            {"nu": np.linspace(0.0, 1.0, 10)},  # float64 through numpy
        ],
        "stats": {"hist": np.arange(256, dtype=np.uint8),
                  "mask": ft.seeded_array("bool", (7, 3), 8),
                  "c": ft.seeded_array("complex64", (5,), 9)},
        "zero_d": jnp.asarray(np.float32(2.5)),
    }


def _dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


FILTERS = [
    ("glob", "kernel"), ("glob", "Dense_*"), ("glob", "params/*/bias"), ("glob", "opt_state/**"),
    ("glob", "[a-f]*"), ("glob", "?u"), ("glob", "[!p]*/*"), ("glob", "opt_state/?/*u"),
    ("regex", "^params/Dense_[01]/k"), ("regex", "bias$"), ("regex", "u$"), ("regex", "/[0-9]/"),
    ("substring", "DENSE"), ("substring", "mu"), ("substring", "_0/B"), ("substring", "1"),
]


@pytest.fixture(scope="module", params=[True, False], ids=["ocdbt", "per-array"])
def orbax_checkpoint(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("tree_query") / f"ocdbt{int(request.param)}"
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=request.param)
    with ocp.Checkpointer(handler) as c:
        c.save(path, args=ocp.args.PyTreeSave(_orbax_tree()))
    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as c:
        restored = c.restore(path)
    restored = {k: v for k, v in restored.items()}
    import jax
    restored = jax.tree.map(lambda x: np.asarray(x), restored)
    return path, restored


def test_orbax_rollups_match_numpy(ckpt, ckpt_json, orbax_checkpoint):
    path, restored = orbax_checkpoint
    out = ckpt_json("tree", path, "--sizes", "--json")
    root = out["tree"]
    checked = _check_rollups(root, restored)
    assert checked == 1 + len(list(_all_paths(restored)))
    r = root["rollup"]
    leaves = [v for _, v in _all_paths(restored) if _children(v) is None]
    assert r["leaves"] == len(leaves) == 12
    assert r["parameters"] == sum(np.asarray(v).size for v in leaves)
    assert r["memory_bytes"] == sum(np.asarray(v).nbytes for v in leaves)
    assert r["arrays"] == len(leaves)  # every leaf here is an array, 0-d included
    # Stored bytes count array chunks only: some, and no more than everything orbax wrote.
    assert 0 < r["stored_bytes"] <= _dir_bytes(path), (r, _dir_bytes(path))
    # Without --sizes the JSON has no rollups (the unchanged shape).
    plain = ckpt_json("tree", path, "--json")
    assert "rollup" not in plain["tree"] and "matches" not in plain

    text = ckpt.ok("tree", path, "--sizes").stdout.decode()
    lines = text.splitlines()
    assert lines[0].split() == ["parameters", "memory", "disk", "%", "disk", "tree"], lines[0]
    assert lines[1].split()[0] == str(r["parameters"]), lines[1]
    assert "100.0%" in lines[1], lines[1]
    assert len(lines) == 2 + len(list(_all_paths(restored)))


@pytest.mark.parametrize("syntax,pattern", FILTERS, ids=[f"{s}:{p}" for s, p in FILTERS])
def test_orbax_filter_matches_python(ckpt_json, orbax_checkpoint, syntax, pattern):
    path, restored = orbax_checkpoint
    matched = check_filter(ckpt_json, path, restored, syntax, pattern)
    assert matched, f"{syntax} {pattern!r} matched nothing: a weak test case"


def test_filter_text_output_and_errors(ckpt, ckpt_json, orbax_checkpoint):
    path, restored = orbax_checkpoint
    text = ckpt.ok("tree", path, "--filter", "kernel", "--glob").stdout.decode()
    assert "kernel" in text and "embed" not in text and "bias" not in text, text
    # root, params, Dense_0, kernel, Dense_1, kernel
    assert len(text.splitlines()) == 6, text
    nothing = ckpt_json("tree", path, "--json", "--filter", "zzz_nothing")
    assert nothing["matches"] == 0 and nothing["tree"]["children"] == {}
    assert "no key path matches" in ckpt.ok("tree", path, "--filter", "zzz").stdout.decode()
    sized = ckpt_json("tree", path, "--json", "--sizes", "--filter", "mu")
    assert set(sized["tree"]["children"]) == {"opt_state"}
    assert sized["tree"]["rollup"]["leaves"] == 12  # rollups stay whole-subtree
    ckpt.fails("tree", path, "--filter", "[abc", "--glob", mentions=["'[abc'"])
    ckpt.fails("tree", path, "--filter", "a\\", "--glob", mentions=["'a\\'"])
    ckpt.fails("tree", path, "--filter", "(kernel", "--regex", mentions=["'(kernel'"])
    cp = ckpt("tree", path, "--glob")  # --glob needs --filter
    assert cp.returncode != 0


def test_flax_msgpack_rollups_and_filters(ckpt, ckpt_json, flax_sources):
    src = flax_sources["to_bytes"]
    out = ckpt_json("tree", src.path, "--sizes", "--json")
    assert out["format"] == "flax"
    restored = src.restored
    _check_rollups(out["tree"], restored)
    r = out["tree"]["rollup"]
    assert 0 < r["stored_bytes"] + r["unknown_stored"]
    assert r["stored_bytes"] <= os.path.getsize(src.file)
    # Keys with '/', '\' and the empty key: the filter sees the escaped key paths.
    for syntax, pattern in [("glob", "a\\/b"), ("glob", "keys/?"), ("glob", "c\\\\d"),
                            ("glob", "keys/"), ("glob", "keys/*"), ("regex", r"\\e$"),
                            ("regex", r"^keys/e\\/"), ("substring", "C\\\\D"),
                            ("glob", "shapes/zero_d_*"), ("glob", "[fi]*_[0-9]*"),
                            ("regex", "^seq/.*/deep$"), ("substring", "nan")]:
        matched = check_filter(ckpt_json, src.path, restored, syntax, pattern)
        assert matched, f"{syntax} {pattern!r} matched nothing: a weak test case"
