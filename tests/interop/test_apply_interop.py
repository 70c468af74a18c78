"""`ckpt apply RECIPE SRC DST`: a recipe of edits applied to a checkpoint the real orbax wrote.

The edited checkpoint must restore with the user's unchanged code (orbax StandardCheckpointer
without a target; flax.serialization.msgpack_restore) equal, bit for bit, to the expected tree
built here in numpy (bfloat16 casts via ml_dtypes' astype). The source is never modified: every
file under it keeps its sha256. A recipe whose step fails exits 1, names the step and writes
nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import serialization


def _kernel():
    rng = np.random.default_rng(7)
    k = rng.standard_normal((4, 3)).astype(np.float32)
    # bfloat16 ties and near-ties, which a truncating cast would get wrong.
    k[0, :] = np.array([1.00390625, 1.01171875, -3.0078125], np.float32)
    k[1, 0] = np.float32(3.4e38)  # beyond bfloat16's max -> rounds to inf in ml_dtypes too
    return k


def _source_tree():
    f32 = lambda shape, seed: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)  # noqa: E731
    return {
        "params": {"Dense_0": {"kernel": _kernel(), "bias": f32((3,), 1)},
                   "Dense_1": {"kernel": f32((3, 2), 2), "bias": f32((2,), 3)}},
        "opt_state": {"mu": {"w": f32((3,), 4)}, "nu": {"w": f32((3,), 5)}},
        "batch_stats": {"mean": f32((3,), 6), "var": f32((3,), 7)},
        "step": np.asarray(np.int64(40)),
    }


RECIPE = {
    "ckpt_studio_recipe": 1,
    "steps": [
        {"op": "rename", "path": "params/Dense_0", "to": "encoder"},
        {"op": "delete", "path": "opt_state/nu"},
        {"op": "add", "path": "params/encoder/scale",
         "node": {"kind": "zeros", "dtype": "float32", "shape": [2, 3]}},
        {"op": "add", "path": "extra_step", "node": {"kind": "scalar", "dtype": "int32", "value": 7}},
        {"op": "cast", "path": "params/encoder/kernel", "dtype": "bfloat16"},
        {"op": "move", "path": "batch_stats/mean", "to": "params/Dense_1/mean"},
    ],
}


def _expected(src, scalar=int):
    enc = dict(src["params"]["Dense_0"])
    enc["kernel"] = enc["kernel"].astype(ml_dtypes.bfloat16)
    enc["scale"] = np.zeros((2, 3), np.float32)
    dense1 = dict(src["params"]["Dense_1"])
    dense1["mean"] = src["batch_stats"]["mean"]
    return {
        "params": {"encoder": enc, "Dense_1": dense1},
        "opt_state": {"mu": src["opt_state"]["mu"]},
        "batch_stats": {"var": src["batch_stats"]["var"]},
        "step": src["step"],
        # Orbax keeps scalars as Python scalars (restored as int); msgpack keeps numpy scalars.
        "extra_step": scalar(7),
    }


def _numpy(tree):
    return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


def _assert_same(got, want, path="<root>"):
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {type(got)} is not a dict"
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            _assert_same(got[k], want[k], f"{path}/{k}")
        return
    if isinstance(want, int):
        assert type(got) is int and got == want, f"{path}: {got!r} != {want!r}"
        return
    g, w = np.asarray(got), np.asarray(want)
    assert type(got) is type(want) or isinstance(got, np.ndarray), f"{path}: {type(got)}"
    assert g.dtype == w.dtype, f"{path}: dtype {g.dtype} != {w.dtype}"
    assert g.shape == w.shape, f"{path}: shape {g.shape} != {w.shape}"
    assert g.tobytes() == w.tobytes(), f"{path}: bytes differ:\n{g!r}\n{w!r}"


def _checksums(root: Path):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def orbax_src(tmp_path_factory):
    path = tmp_path_factory.mktemp("apply") / "src"
    with ocp.StandardCheckpointer() as c:
        c.save(path, _source_tree())
    assert (path / "_METADATA").exists() or (path / "_CHECKPOINT_METADATA").exists()
    return path


@pytest.fixture
def recipe_file(tmp_path):
    p = tmp_path / "recipe.json"
    p.write_text(json.dumps(RECIPE))
    return p


def test_apply_to_orbax_restores_expected_tree_and_leaves_source_untouched(
        ckpt, orbax_src, recipe_file, tmp_path):
    before = _checksums(orbax_src)
    assert len(before) > 3
    dst = tmp_path / "edited"
    cp = ckpt.ok("apply", recipe_file, orbax_src, dst, "--to", "orbax")
    assert b"applied 6 steps" in cp.stdout
    with ocp.StandardCheckpointer() as c:
        restored = _numpy(c.restore(dst))
    _assert_same(restored, _expected(_source_tree()))
    # The overflowing element really became inf, as ml_dtypes' astype makes it.
    assert np.isinf(np.asarray(restored["params"]["encoder"]["kernel"], np.float32)[1, 0])
    assert _checksums(orbax_src) == before


def test_apply_defaults_to_the_source_format(ckpt, ckpt_json, orbax_src, recipe_file, tmp_path):
    dst = tmp_path / "same_format"
    ckpt.ok("apply", recipe_file, orbax_src, dst)
    assert ckpt_json("info", dst, "--json")["format"] == "orbax"
    with ocp.StandardCheckpointer() as c:
        restored = _numpy(c.restore(dst))
    _assert_same(restored, _expected(_source_tree()))


def test_apply_to_flax_msgpack(ckpt, orbax_src, recipe_file, tmp_path):
    dst = tmp_path / "edited.msgpack"
    ckpt.ok("apply", recipe_file, orbax_src, dst, "--to", "flax")
    restored = serialization.msgpack_restore(dst.read_bytes())
    _assert_same(restored, _expected(_source_tree(), scalar=np.int32))


def test_failing_step_exits_1_names_the_step_and_writes_nothing(ckpt, orbax_src, tmp_path):
    before = _checksums(orbax_src)
    recipe = tmp_path / "bad.json"
    recipe.write_text(json.dumps({"ckpt_studio_recipe": 1, "steps": [
        {"op": "rename", "path": "params/Dense_0", "to": "encoder"},
        {"op": "delete", "path": "params/Dense_0"},
        {"op": "cast", "path": "params", "dtype": "float16"},
    ]}))
    dst = tmp_path / "never"
    cp = ckpt.fails("apply", recipe, orbax_src, dst, "--to", "orbax",
                    mentions=["step 2 (delete params/Dense_0)", "no node at 'params/Dense_0'"])
    assert cp.returncode == 1
    assert not dst.exists()
    assert not list(tmp_path.glob("never*"))
    assert _checksums(orbax_src) == before


def test_malformed_recipe_names_the_step(ckpt, orbax_src, tmp_path):
    recipe = tmp_path / "typo.json"
    recipe.write_text(json.dumps({"ckpt_studio_recipe": 1, "steps": [
        {"op": "delete", "path": "step"}, {"op": "renam", "path": "params", "to": "p"}]}))
    dst = tmp_path / "never"
    cp = ckpt.fails("apply", recipe, orbax_src, dst, mentions=["step 2", "unknown op 'renam'"])
    assert cp.returncode == 1
    assert not dst.exists()


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_refuses_to_write_over_or_into_the_source(ckpt, orbax_src, recipe_file, where):
    before = _checksums(orbax_src)
    dst = {"same": orbax_src, "inside": orbax_src / "edited", "parent": orbax_src.parent}[where]
    ckpt.fails("apply", recipe_file, orbax_src, dst, "--overwrite", mentions=["overlaps the source"])
    assert _checksums(orbax_src) == before
    assert not (orbax_src / "edited").exists()
