"""`ckpt diff`, `ckpt check` and `ckpt skeleton` against checkpoints the real orbax-checkpoint
CheckpointManager wrote, and structure files made by README's `jax.eval_shape` snippet (the
snippet is read out of README.md and run as is, with the real jax/optax).

Two steps of one run differ in every way a diff reports: a changed parameter, an added key, a
removed key and a changed dtype. The diff's numbers are checked against numpy (float64).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from conftest import describe, strict_json_loads

README = Path(__file__).resolve().parents[2] / "README.md"

DIFF_IDENTICAL, DIFF_DIFFERENT = 0, 1
CHECK_EXACT, CHECK_EXTRA, CHECK_MISSING, CHECK_MISMATCH = 0, 3, 4, 5


def _readme_snippet() -> str:
    """The README's structure-file snippet (the python block that writes the version tag)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if "ckpt_studio_structure" in b and "eval_shape" in b]
    assert len(found) == 1, "README must hold exactly one jax.eval_shape structure snippet"
    return found[0]


def run_snippet(make_state, directory: Path) -> Path:
    """Runs README's snippet with `make_state` in `directory`; returns the file it wrote."""
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        exec(compile(_readme_snippet(), str(README), "exec"), {"make_state": make_state})
    finally:
        os.chdir(cwd)
    path = directory / "new_state.structure.json"
    assert path.is_file()
    return path


def _params(rng, kernel_shape=(8, 5)):
    return {
        "dense": {
            "kernel": jnp.asarray(rng.standard_normal(kernel_shape).astype(np.float32)),
            "bias": jnp.asarray(rng.standard_normal(kernel_shape[1:]).astype(np.float32)),
        }
    }


def _state(params, extra):
    """An optax-like train state: params, adam's NamedTuple state (with an EmptyState), a step."""
    state = {
        "params": params,
        "opt_state": optax.adam(1e-3).init(params),
        "step": jnp.asarray(0, jnp.int32),
    }
    state.update(extra)
    return state


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(11)
    root = tmp_path_factory.mktemp("diff") / "run"
    p1 = _params(rng)
    s1 = _state(p1, {"removed": jnp.arange(3, dtype=jnp.float32),
                     "recast": jnp.linspace(0, 1, 6, dtype=jnp.float32)})
    k2 = np.asarray(p1["dense"]["kernel"]) + rng.standard_normal((8, 5)).astype(np.float32) * 0.1
    k2[0, 0] = -3.0
    p2 = {"dense": {"kernel": jnp.asarray(k2), "bias": p1["dense"]["bias"]}}
    s2 = _state(p2, {"added": jnp.ones((2, 2), jnp.float32),
                     "recast": jnp.linspace(0, 1, 6, dtype=jnp.float32).astype(jnp.bfloat16)})
    with ocp.CheckpointManager(root) as mngr:
        mngr.save(1, args=ocp.args.StandardSave(s1))
        mngr.save(2, args=ocp.args.StandardSave(s2))
        mngr.wait_until_finished()
    return root, s1, s2


def _leaf_count(node):
    if node["type"] == "dict":
        return sum(_leaf_count(c) for c in node["children"].values())
    if node["type"] in ("list", "tuple"):
        return sum(_leaf_count(c) for c in node["items"])
    return 1


def _entries(report, change):
    return {e["path"] for e in report["entries"] if e["change"] == change}


def _close(got, want):
    assert got == pytest.approx(want, rel=1e-12, abs=0), (got, want)


def test_diff_of_two_orbax_steps_matches_numpy(ckpt, run):
    root, s1, s2 = run
    cp = ckpt("diff", root, "--step-a", "1", "--step-b", "2", "--json")
    assert cp.returncode == DIFF_DIFFERENT, describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["a"]["step"] == "1" and report["b"]["step"] == "2"
    assert not report["identical"] and not report["structure_equal"]
    assert _entries(report, "only_in_a") == {"default/removed"}
    assert _entries(report, "only_in_b") == {"default/added"}
    assert _entries(report, "dtype_changed") == {"default/recast"}
    assert _entries(report, "values_differ") == {"default/params/dense/kernel"}
    assert _entries(report, "shape_changed") == set() and _entries(report, "kind_changed") == set()
    recast = next(e for e in report["entries"] if e["path"] == "default/recast")
    assert (recast["a"]["dtype"], recast["b"]["dtype"]) == ("float32", "bfloat16")
    added = next(e for e in report["entries"] if e["path"] == "default/added")
    assert added["a"] is None and added["b"] == {"kind": "array", "dtype": "float32", "shape": [2, 2]}

    kernel = next(e for e in report["entries"] if e["path"] == "default/params/dense/kernel")
    v = kernel["values"]
    a = np.asarray(s1["params"]["dense"]["kernel"], np.float64).ravel()
    b = np.asarray(s2["params"]["dense"]["kernel"], np.float64).ravel()
    d = np.abs(b - a)
    assert v["count"] == a.size and not v["bit_equal"]
    assert v["changed"] == int((a != b).sum())
    assert v["finite_pairs"] == a.size and v["nonfinite_mismatch"] == 0
    _close(v["max_abs_diff"], d.max())
    _close(v["max_rel_diff"], (d / np.maximum(np.abs(a), np.abs(b))).max())
    _close(v["cosine"], a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    _close(v["norm_ratio"], np.linalg.norm(b) / np.linalg.norm(a))
    _close(v["norm_a"], np.linalg.norm(a))
    # Unchanged leaves (bias, the optimizer state, step) compared equal and are not listed.
    s = report["summary"]
    assert s["values_differ"] == 1 and s["not_compared"] == 0
    # jax leaves minus removed and recast, plus adam's EmptyState (Orbax stores it as None)
    assert s["leaves_compared"] == len(jax.tree_util.tree_leaves(s1)) - 2 + 1

    # The readable report says the same, and --bit-only stops early without numbers.
    text = ckpt("diff", root, "--step-a", "1", "--step-b", "2")
    assert text.returncode == DIFF_DIFFERENT
    out = text.stdout.decode()
    assert "only in A     default/removed" in out and "dtype         default/recast" in out
    assert out.rstrip().endswith("different")
    bits = strict_json_loads(ckpt("diff", root, "--step-a", "1", "--step-b", "2", "--json",
                                  "--bit-only").stdout)
    kbits = next(e for e in bits["entries"] if e["path"] == "default/params/dense/kernel")
    assert kbits["values"] == {"count": a.size, "bit_equal": False}


def test_diff_of_a_step_with_itself_and_across_formats(ckpt, run, tmp_path):
    root, _, s2 = run
    cp = ckpt("diff", root, root, "--step-a", "2", "--step-b", "2", "--json")
    assert cp.returncode == DIFF_IDENTICAL, describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["identical"] and report["entries"] == []
    # The same tree converted to another format (Orbax zarr2, one directory per array).
    other = tmp_path / "copy"
    ckpt.ok("convert", root / "2" / "default", other, "--to", "orbax", "--orbax-zarr", "2",
            "--orbax-no-ocdbt")
    same = ckpt("diff", root / "2" / "default", other)
    assert same.returncode == DIFF_IDENTICAL, describe(same)
    # Against a flax msgpack file (written by flax itself) holding only the params, with one
    # kernel element changed: the other keys are only in A, the element is found.
    root_state = {"params": {"dense": {k: np.asarray(v) for k, v in s2["params"]["dense"].items()}}}
    kernel = root_state["params"]["dense"]["kernel"].copy()
    kernel[3, 2] += np.float32(0.5)
    root_state["params"]["dense"]["kernel"] = kernel
    flax_file = tmp_path / "state.msgpack"
    flax_file.write_bytes(flax.serialization.msgpack_serialize(root_state))
    sub = ckpt("diff", root / "2" / "default", flax_file, "--json")
    assert sub.returncode == DIFF_DIFFERENT, describe(sub)
    sub_report = strict_json_loads(sub.stdout)
    assert sub_report["b"]["format"] == "flax"
    assert _entries(sub_report, "only_in_a") == {"added", "opt_state", "recast", "step"}
    assert _entries(sub_report, "values_differ") == {"params/dense/kernel"}
    v = next(e["values"] for e in sub_report["entries"] if e["path"] == "params/dense/kernel")
    a = np.asarray(s2["params"]["dense"]["kernel"], np.float64)
    assert v["changed"] == 1
    _close(v["max_abs_diff"], abs(float(kernel[3, 2]) - a[3, 2]))


def _new_state(kernel_shape=(8, 5), extra=None, drop=()):
    def make_state():
        params = {"dense": {"kernel": jnp.zeros(kernel_shape, jnp.float32),
                            "bias": jnp.zeros(kernel_shape[1:], jnp.float32)}}
        state = _state(params, {"added": jnp.ones((2, 2), jnp.float32),
                                "recast": jnp.zeros((6,), jnp.bfloat16)})
        state.update(extra or {})
        for k in drop:
            del state[k]
        return state
    return make_state


@pytest.mark.parametrize(
    "case, make_state, code, outcome",
    [
        ("exact", _new_state(), CHECK_EXACT, "exact"),
        ("extra", _new_state(drop=("added",)), CHECK_EXTRA, "extra_keys"),
        ("missing", _new_state(extra={"ema": jnp.zeros((3,), jnp.float32)}), CHECK_MISSING,
         "missing_keys"),
        ("mismatch", _new_state(kernel_shape=(8, 6)), CHECK_MISMATCH, "mismatch"),
    ],
)
def test_check_against_the_readme_eval_shape_snippet(ckpt, run, tmp_path, case, make_state, code,
                                                     outcome):
    root, _, _ = run
    structure = run_snippet(make_state, tmp_path)
    doc = json.loads(structure.read_text())
    assert doc["ckpt_studio_structure"] == 1
    item = root / "2" / "default"
    cp = ckpt("check", item, "--against", structure, "--json")
    assert cp.returncode == code, describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["outcome"] == outcome and report["exit_code"] == code
    # adam's EmptyState is an empty NamedTuple, which Orbax saves as None: compatible.
    # and the tuple opt_state comes back from Orbax as a list.
    assert {c["path"] for c in report["compatible"]} == {"opt_state", "opt_state/1"}
    if case == "extra":
        assert [e["path"] for e in report["extra"]] == ["added"]
    elif case == "missing":
        assert [(m["path"], m["has_default"]) for m in report["missing"]] == [("ema", False)]
        assert report["missing"][0]["shape"] == [3]
    elif case == "mismatch":
        paths = {(m["path"], m["change"]) for m in report["mismatches"]}
        # the kernel and bias, and adam's mu/nu copies of them
        assert paths == {(f"{prefix}dense/{leaf}", "shape_changed")
                         for prefix in ("params/", "opt_state/0/mu/", "opt_state/0/nu/")
                         for leaf in ("kernel", "bias")}
        mm = next(m for m in report["mismatches"] if m["path"] == "params/dense/kernel")
        assert mm["src"]["shape"] == [8, 5] and mm["ref"]["shape"] == [8, 6]
    # The readable form ends with the outcome, exit status the same.
    text = ckpt("check", item, "--against", structure)
    assert text.returncode == code
    # Step 1 lacks `added` and has `removed` and a float32 `recast`: a mismatch, whatever the case.
    if case == "exact":
        old = ckpt("check", root / "1" / "default", "--against", structure)
        assert old.returncode == CHECK_MISMATCH, describe(old)
        wrapped = tmp_path / "wrapped.json"
        wrapped.write_text(json.dumps({"ckpt_studio_structure": 1, "tree": {
            "type": "dict", "children": {"default": doc["tree"]}}}))
        ckpt.ok("check", root, "--against", wrapped)  # the run root: latest step, item by name


def test_skeleton_of_a_real_orbax_checkpoint(ckpt, ckpt_json, run, tmp_path):
    root, _, _ = run
    skeleton = tmp_path / "skeleton.json"
    ckpt.ok("skeleton", root, "-o", skeleton)
    doc = strict_json_loads(skeleton.read_text())
    assert doc["ckpt_studio_structure"] == 1
    # The same NODE shape as `ckpt tree --json`.
    assert doc["tree"] == ckpt_json("tree", root, "--json")["tree"]
    cp = ckpt("check", root, "--against", skeleton, "--json")
    assert cp.returncode == CHECK_EXACT, describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["outcome"] == "exact" and report["compatible"] == []
    assert report["leaves_matched"] == _leaf_count(doc["tree"]) == 11
    # Diffing against it compares structure only.
    d = ckpt("diff", root, skeleton, "--json")
    assert d.returncode == DIFF_IDENTICAL, describe(d)
    assert strict_json_loads(d.stdout)["values_compared"] is False
    # Against step 1 the skeleton (of step 2) shows the step's changes.
    old = ckpt("check", root, "--step", "1", "--against", skeleton, "--json")
    assert old.returncode == CHECK_MISMATCH
    rep = strict_json_loads(old.stdout)
    assert [m["path"] for m in rep["mismatches"]] == ["default/recast"]
    assert [m["path"] for m in rep["missing"]] == ["default/added"]
    assert [e["path"] for e in rep["extra"]] == ["default/removed"]
    # Small arrays keep their values with --values-up-to, and then restore as defaults.
    with_values = tmp_path / "values.json"
    ckpt.ok("skeleton", root, "-o", with_values, "--values-up-to", "4")
    rep2 = strict_json_loads(ckpt("check", root, "--step", "1", "--against", with_values,
                                  "--json").stdout)
    assert [(m["path"], m["has_default"]) for m in rep2["missing"]] == [("default/added", True)]
    # A structure file has no data to show.
    ckpt.fails("diff", skeleton, skeleton, "--step-a", "1", mentions=["structure file"])


def _layers(n, rng):
    return {f"layers_{i}": {"kernel": jnp.asarray(rng.standard_normal((4, 4)).astype(np.float32)),
                            "bias": jnp.zeros((4,), jnp.float32)} for i in range(n)}


def test_check_reports_the_partial_restore_of_orbax_2972(ckpt, tmp_path):
    """google/orbax#2972: a 12-layer checkpoint restored into a 16-layer model silently loads only
    part of it. `ckpt check` against the 16-layer structure (from the README's eval_shape snippet)
    must say it is not exact, list the four missing layers and exit non-zero."""
    rng = np.random.default_rng(2972)
    path = tmp_path / "twelve"
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, {"params": _layers(12, rng)})
    structure = run_snippet(lambda: {"params": _layers(16, np.random.default_rng(0))}, tmp_path)
    cp = ckpt("check", path, "--against", structure, "--json")
    assert cp.returncode == CHECK_MISSING, describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["outcome"] == "missing_keys"
    # Missing subtrees are listed at their top, each with the leaves it would need.
    missing = sorted(m["path"] for m in report["missing"])
    assert missing == [f"params/layers_{i}" for i in range(12, 16)], missing
    assert report["extra"] == [] and report["mismatches"] == []
    assert report["leaves_matched"] == 24
