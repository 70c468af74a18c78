"""Checkpoints written by `ckpt convert --to orbax`, restored by the real orbax-checkpoint.

The user's unchanged Orbax code must restore what we write, bit-exact: StandardCheckpointer and
PyTreeCheckpointer without a target (structure from our _METADATA), with an abstract target of
the expected shapes and dtypes, and CheckpointManager for step layouts.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import serialization

import flaxtrees as ft

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
          "float8_e4m3fn", "float8_e5m2",
          # Every further ml_dtypes type TensorStore (and so Orbax) stores; uint2/uint4 and
          # float8_e4m3 it refuses.
          "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float8_e3m4",
          "float8_e8m0fnu", "int2", "int4", "float4_e2m1fn"]


def _source_tree():
    return {
        "params": {"Dense_0": {"kernel": ft.seeded_array("float32", (5, 3), 1), "bias": ft.seeded_array("float32", (3,), 2)},
                   "embed": ft.seeded_array("bfloat16", (4, 2, 3), 3)},
        "dtypes": {n: ft.seeded_array(n, (2, 3), i) for i, n in enumerate(DTYPES)},
        "zero_d": np.asarray(np.float32(1.5)),
        "empty": np.zeros((0, 3), np.float32),
        "step": 12,
        "lr": 0.5,
        "name": "run-7",
        "nothing": None,
    }


def _numpy(tree):
    return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


def _assert_same_arrays(got, want, path="<root>"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            _assert_same_arrays(got[k], want[k], f"{path}/{k}")
        return
    if want is None or isinstance(want, str):
        assert got == want, f"{path}: {got!r} != {want!r}"
        return
    if isinstance(want, (int, float)):
        assert np.asarray(got).item() == want, f"{path}: {got!r} != {want!r}"
        return
    g, w = np.asarray(got), np.asarray(want)
    assert g.dtype == w.dtype, f"{path}: dtype {g.dtype} != {w.dtype}"
    assert g.shape == w.shape, f"{path}: shape {g.shape} != {w.shape}"
    assert g.tobytes() == w.tobytes(), f"{path}: bytes differ"


@pytest.fixture(scope="module")
def flax_src(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "state.msgpack"
    path.write_bytes(serialization.msgpack_serialize(_source_tree()))
    return path


def test_standard_checkpointer_restores_without_target(ckpt, flax_src, tmp_path):
    out = tmp_path / "ckpt"
    ckpt.ok("convert", flax_src, out, "--to", "orbax")
    assert (out / "commit_success.txt").exists()
    assert not list(tmp_path.glob("*.orbax-checkpoint-tmp*"))
    with ocp.StandardCheckpointer() as c:
        restored = _numpy(c.restore(out))
    want = _source_tree()
    want.pop("nothing")  # StandardCheckpointer drops None leaves; checked below with PyTree
    restored.pop("nothing", None)
    _assert_same_arrays(restored, want)


LAYOUTS = {
    "ocdbt_zarr3": (),
    "ocdbt_zarr2": ("--orbax-zarr", "2"),
    "dirs_zarr3": ("--orbax-no-ocdbt",),
    "dirs_zarr2": ("--orbax-no-ocdbt", "--orbax-zarr", "2"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_pytree_checkpointer_restores_every_layout(ckpt, flax_src, tmp_path, layout):
    out = tmp_path / "ckpt"
    ckpt.ok("convert", flax_src, out, "--to", "orbax", *LAYOUTS[layout])
    meta = json.loads((out / "_METADATA").read_text())
    assert meta["use_ocdbt"] == ("--orbax-no-ocdbt" not in LAYOUTS[layout])
    assert meta["use_zarr3"] == ("2" not in LAYOUTS[layout])
    assert (out / "manifest.ocdbt").exists() == meta["use_ocdbt"]
    with ocp.PyTreeCheckpointer() as c:
        restored = _numpy(c.restore(out))
    _assert_same_arrays(restored, _source_tree())


def test_orbax_saved_tree_round_trips_into_the_original_target(ckpt, tmp_path):
    # A tree Orbax saved itself (jax arrays, a list, an empty dict and None), converted by us
    # and restored by Orbax into the original target object.
    tree = {"params": {"w": jnp.arange(12, dtype=jnp.float32).reshape(3, 4),
                       "b": jnp.ones((4,), jnp.bfloat16)},
            "layers": [jnp.zeros((2,), jnp.int32), jnp.full((1,), 7, jnp.int8)],
            "count": jnp.asarray(3, jnp.int32)}
    src, out = tmp_path / "orbax_src", tmp_path / "ours"
    with ocp.StandardCheckpointer() as c:
        c.save(src, tree)
    ckpt.ok("convert", src, out, "--to", "orbax")
    with ocp.StandardCheckpointer() as c:
        restored = c.restore(out, tree)
    assert jax.tree.structure(restored) == jax.tree.structure(tree)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(tree)):
        assert isinstance(got, jax.Array)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_restores_into_an_abstract_target(ckpt, flax_src, tmp_path):
    out = tmp_path / "ckpt"
    ckpt.ok("convert", flax_src, out, "--to", "orbax", "--subtree", "params")
    want = {"params": _source_tree()["params"]}
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), want)
    with ocp.StandardCheckpointer() as c:
        restored = _numpy(c.restore(out, target))
    _assert_same_arrays(restored, want)


def test_our_orbax_reads_back_and_converts_again(ckpt, ckpt_json, flax_src, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ckpt.ok("convert", flax_src, a, "--to", "orbax")
    ckpt.ok("convert", a, b, "--to", "orbax")
    with ocp.PyTreeCheckpointer() as c:
        _assert_same_arrays(_numpy(c.restore(b)), _source_tree())
    # And orbax -> flax msgpack restores in flax.
    m = tmp_path / "back.msgpack"
    ckpt.ok("convert", b, m, "--to", "flax")
    back = serialization.msgpack_restore(m.read_bytes())
    _assert_same_arrays(back["params"], _source_tree()["params"])


def test_checkpoint_manager_lists_and_restores_our_steps(ckpt, flax_src, tmp_path):
    root = tmp_path / "run"
    for step in ("10", "20"):
        ckpt.ok("convert", flax_src, root, "--to", "orbax", "--write-step", step)
    with ocp.CheckpointManager(root) as mngr:
        assert mngr.all_steps() == [10, 20]
        assert mngr.latest_step() == 20
        restored = _numpy(mngr.restore(20, args=ocp.args.StandardRestore()))
    want = _source_tree()
    want.pop("nothing")
    restored.pop("nothing", None)
    _assert_same_arrays(restored, want)
    ckpt.fails("convert", flax_src, root, "--to", "orbax", "--write-step", "20", mentions=["20"])


def test_refuses_colliding_names(ckpt, tmp_path):
    src = tmp_path / "c.msgpack"
    src.write_bytes(serialization.msgpack_serialize({"a.b": np.ones(2), "a": {"b": np.zeros(2)}}))
    out = tmp_path / "out"
    ckpt.fails("convert", src, out, "--to", "orbax", mentions=["a.b"])
    assert not out.exists()
    assert not list(tmp_path.glob("out*"))


def test_write_step_keeps_like_max_to_keep_and_keep_period(ckpt, flax_src, tmp_path):
    """--keep / --keep-every-n-steps prune a manager root as CheckpointManager's max_to_keep /
    keep_period do: the same steps survive in a root Orbax itself wrote."""
    theirs = tmp_path / "theirs"
    options = ocp.CheckpointManagerOptions(max_to_keep=2, keep_period=4)
    with ocp.CheckpointManager(theirs, options=options) as mngr:
        for step in range(1, 10):
            mngr.save(step, args=ocp.args.StandardSave({"w": np.full((2,), step, np.float32)}))
        mngr.wait_until_finished()
        want = mngr.all_steps()
    assert want == [4, 8, 9]  # keep_period spares 4 and 8; max_to_keep the newest two
    ours = tmp_path / "ours"
    for step in range(1, 10):
        ckpt.ok("convert", flax_src, ours, "--to", "orbax", "--write-step", str(step),
                "--keep", "2", "--keep-every-n-steps", "4")
    with ocp.CheckpointManager(ours) as mngr:
        assert mngr.all_steps() == want
        restored = _numpy(mngr.restore(want[-1], args=ocp.args.StandardRestore()))
    assert sorted(p.name for p in ours.iterdir()) == sorted(str(s) for s in want)
    assert "params" in restored


@pytest.mark.parametrize("zarr", ["2", "3"])
@pytest.mark.parametrize("ocdbt", [True, False])
def test_large_arrays_are_split_into_bounded_chunks(ckpt, tmp_path, zarr, ocdbt):
    """Arrays above --orbax-chunk-bytes are written as several zarr chunks (row slabs) that
    Orbax restores bit-exact; small arrays stay one chunk."""
    src = tmp_path / "big.msgpack"
    tree = {"big": ft.seeded_array("float32", (301, 7, 5), 11),
            "int4": ft.seeded_array("int4", (1000,), 12),
            "small": ft.seeded_array("bfloat16", (3, 4), 13)}
    src.write_bytes(serialization.msgpack_serialize(tree))
    out = tmp_path / "out"
    args = ["convert", src, out, "--to", "orbax", "--orbax-zarr", zarr, "--orbax-chunk-bytes", "4096"]
    if not ocdbt:
        args.append("--orbax-no-ocdbt")
    ckpt.ok(*args)
    with ocp.StandardCheckpointer() as c:
        restored = _numpy(c.restore(out))
    for k, v in tree.items():
        assert restored[k].dtype == v.dtype and restored[k].tobytes() == v.tobytes(), k
    import tensorstore as ts
    spec = {"driver": "zarr3" if zarr == "3" else "zarr", "kvstore": {"driver": "ocdbt", "base": f"file://{out}", "path": "big/"} if ocdbt else f"file://{out}/big/"}
    chunk = ts.open(spec).result().chunk_layout.read_chunk.shape
    assert np.prod(chunk) * 4 <= 4096 and chunk[1:] == (7, 5), chunk
    small = dict(spec, kvstore=(dict(spec["kvstore"], path="small/") if ocdbt else f"file://{out}/small/"))
    assert ts.open(small).result().chunk_layout.read_chunk.shape == (3, 4)
