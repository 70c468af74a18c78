"""Checkpoints written by the real orbax-checkpoint, read by `ckpt` bit-exact.

Covers the single-item layouts (StandardCheckpointer / PyTreeCheckpointer, OCDBT and per-array
directories, zarr v2 and v3) and CheckpointManager roots with steps and named items. Each case
compares `ckpt tree --json` with the structure Orbax restores and `ckpt cat` with numpy's bytes.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest

import flaxtrees as ft

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "bfloat16", "float32", "float64", "complex64",
          "float8_e4m3fn", "float8_e5m2",
          # Every further ml_dtypes type TensorStore (and so Orbax) stores; uint2/uint4 and
          # float8_e4m3 it refuses.
          "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float8_e3m4",
          "float8_e8m0fnu", "int2", "int4", "float4_e2m1fn"]


def _tree(with_python_leaves=True):
    tree = {
        "params": {
            "Dense_0": {"kernel": jnp.asarray(ft.seeded_array("float32", (5, 3), 1)),
                        "bias": jnp.asarray(ft.seeded_array("bfloat16", (3,), 2))},
            "embed": jnp.asarray(ft.seeded_array("float32", (7, 4, 2), 3)),
        },
        "dtypes": {name: jnp.asarray(ft.seeded_array(name, (2, 3), i)) for i, name in enumerate(DTYPES)},
        "numpy": np.arange(6, dtype=np.int16).reshape(2, 3),
        "zero_d": jnp.asarray(np.float32(2.5)),
        "layers": [jnp.ones((2,), jnp.float32), jnp.zeros((3,), jnp.int32)],
    }
    if with_python_leaves:
        tree["step"] = 7
        tree["lr"] = 0.25
        tree["name"] = "mlp"
    return tree


def _node(x):
    """The NODE JSON `ckpt tree --json` must print for an Orbax-restored value."""
    if isinstance(x, dict):
        return {"type": "dict", "children": {k: _node(v) for k, v in x.items()}}
    if isinstance(x, (list, tuple)):
        return {"type": "list", "items": [_node(v) for v in x]}
    if x is None:
        return {"type": "none"}
    if isinstance(x, str):
        return {"type": "string", "value": x}
    if isinstance(x, (int, float, np.generic)) and not isinstance(x, np.ndarray):
        return {"type": "scalar", "dtype": np.asarray(x).dtype.name}
    a = np.asarray(x)
    return {"type": "array", "dtype": a.dtype.name, "shape": list(a.shape)}


def _strip_values(node):
    if node["type"] == "dict":
        return {"type": "dict", "children": {k: _strip_values(v) for k, v in node["children"].items()}}
    if node["type"] in ("list", "tuple"):
        return {"type": node["type"], "items": [_strip_values(v) for v in node["items"]]}
    if node["type"] == "scalar":
        return {"type": "scalar", "dtype": node["dtype"]}
    return node


def _check(ckpt, ckpt_json, path, restored, extra_args=()):
    restored = jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, restored)
    out = ckpt_json("tree", path, "--json", *extra_args)
    assert out["format"] == "orbax"
    got = _strip_values(out["tree"])
    want = _node(restored)
    # Orbax restores dicts in its own order; compare order-insensitively, structure exactly.
    assert json.loads(json.dumps(got, sort_keys=True)) == json.loads(json.dumps(want, sort_keys=True))
    for keys, leaf in ft.iter_leaves(restored):
        if leaf is None or isinstance(leaf, str):
            continue
        kp = ft.keypath(keys)
        cp = ckpt.ok("cat", path, kp, *extra_args)
        want_bytes = np.asarray(leaf).tobytes()
        assert cp.stdout == want_bytes, f"{kp}: bytes differ"


@pytest.fixture(scope="module")
def orbax_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("orbax")


@pytest.mark.parametrize("use_ocdbt", [True, False])
@pytest.mark.parametrize("use_zarr3", [False, True])
def test_pytree_checkpointer_layouts(ckpt, ckpt_json, orbax_dir, use_ocdbt, use_zarr3):
    path = orbax_dir / f"pytree_ocdbt{int(use_ocdbt)}_zarr3{int(use_zarr3)}"
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=use_ocdbt, use_zarr3=use_zarr3)
    with ocp.Checkpointer(handler) as c:
        c.save(path, args=ocp.args.PyTreeSave(_tree()))
    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as c:
        restored = c.restore(path)
    _check(ckpt, ckpt_json, path, restored)
    info = ckpt_json("info", path, "--json")
    assert info["format"] == "orbax"


def test_standard_checkpointer(ckpt, ckpt_json, orbax_dir):
    path = orbax_dir / "standard"
    with ocp.StandardCheckpointer() as c:
        c.save(path, _tree(with_python_leaves=False))
    with ocp.StandardCheckpointer() as c:
        restored = c.restore(path)
    _check(ckpt, ckpt_json, path, restored)
    shown = ckpt_json("show", path, "params/Dense_0/kernel", "--json")
    np.testing.assert_array_equal(np.array(shown["values"], np.float64).reshape(5, 3),
                                  np.asarray(restored["params"]["Dense_0"]["kernel"], np.float64))


def test_checkpoint_manager_steps_and_items(ckpt, ckpt_json, orbax_dir):
    root = orbax_dir / "manager"
    options = ocp.CheckpointManagerOptions(max_to_keep=2)
    trees = {}
    with ocp.CheckpointManager(root, options=options) as mngr:
        for step in (1, 2, 3):
            tree = {"w": jnp.full((3,), step, jnp.float32), "step": jnp.asarray(step)}
            trees[step] = tree
            mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(tree),
                                                    meta=ocp.args.JsonSave({"step": step})))
        mngr.wait_until_finished()
        assert mngr.all_steps() == [2, 3]
    info = ckpt_json("info", root, "--json")
    assert [s["step"] for s in info["steps"]] == ["2", "3"]
    assert info["step"] == "3"
    for step in (2, 3):
        out = ckpt_json("tree", root, "--json", "--step", str(step))
        assert set(out["tree"]["children"]) == {"state", "meta"}
        cp = ckpt.ok("cat", root, "state/w", "--step", str(step))
        assert cp.stdout == np.full((3,), step, np.float32).tobytes()
        meta = ckpt_json("show", root, "meta/step", "--json", "--step", str(step))
        assert meta["values"] == [step]
    ckpt.fails("tree", root, "--step", "1", mentions=[root.name, "1"])


def test_unfinished_step_is_listed_not_opened(ckpt, ckpt_json, orbax_dir):
    root = orbax_dir / "crashed"
    with ocp.CheckpointManager(root) as mngr:
        mngr.save(5, args=ocp.args.StandardSave({"w": jnp.ones((2,))}))
        mngr.wait_until_finished()
    # A save that died half way leaves a temporary directory behind.
    (root / "6.orbax-checkpoint-tmp").mkdir()
    info = ckpt_json("info", root, "--json")
    assert info["step"] == "5"
    assert {"name": "6.orbax-checkpoint-tmp", "step": "6", "complete": False} in info["steps"]
    ckpt.fails("tree", root, "--step", "6", mentions=["incomplete"])


def test_train_state_like_tree_with_containers_and_big_chunked_arrays(ckpt, ckpt_json, orbax_dir):
    import flax.struct

    @flax.struct.dataclass
    class State:
        step: jax.Array
        params: dict
        opt_state: tuple
        extra: dict

    big = np.arange(2 * 1024 * 1024, dtype=np.float32).reshape(1024, 2048)  # 8 MiB
    state = State(step=jnp.asarray(5),
                  params={"big": jnp.asarray(big), "bias": jnp.zeros((3,), jnp.bfloat16)},
                  opt_state=(jnp.ones((2,)), None, {}),
                  extra={"empty_list": [], "none": None, "scalar": 3.5})
    path = orbax_dir / "train_state"
    save_args = jax.tree.map(lambda _: ocp.SaveArgs(chunk_byte_size=1 << 20), state)
    with ocp.PyTreeCheckpointer() as c:
        c.save(path, args=ocp.args.PyTreeSave(state, save_args=save_args))
    with ocp.PyTreeCheckpointer() as c:
        restored = c.restore(path)
    _check(ckpt, ckpt_json, path, restored)
    # The big array really is stored in many chunks, and a slice reads back exactly.
    shown = ckpt.ok("show", path, "params/big").stdout.decode()
    assert "chunks (1024, 2048)" not in shown and "chunks (" in shown, shown[:400]
    info = ckpt_json("show", path, "params/big", "--json", "--max-values", "5")
    assert info["values"] == [0, 1, 2, 3, 4]
    assert info["stats"]["max"] == float(big.size - 1)


def _placeholders(tree, prefix=()):
    """The aggregate-file form of `tree`: arrays → "PLACEHOLDER://<param name>", other values inline."""
    if isinstance(tree, dict):
        return {k: _placeholders(v, prefix + (k,)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_placeholders(v, prefix + (str(i),)) for i, v in enumerate(tree)]
    if isinstance(tree, (jax.Array, np.ndarray)):
        return "PLACEHOLDER://" + ".".join(prefix)
    return tree


@pytest.mark.parametrize("use_ocdbt", [True, False])
def test_pre_metadata_aggregate_checkpoint_file(ckpt, ckpt_json, orbax_dir, use_ocdbt):
    """Orbax before _METADATA: the structure (and small aggregated values) in a `checkpoint`
    msgpack file, arrays behind placeholders. Built from a real save whose _METADATA is replaced
    by the aggregate file that orbax's own MsgpackHandler format describes; the real orbax must
    restore it before `ckpt` is asked to."""
    path = orbax_dir / f"aggregate_ocdbt{int(use_ocdbt)}"
    tree = _tree(with_python_leaves=False)
    tree["aggregated"] = np.arange(4, dtype=np.float32)  # an array kept inside the msgpack file
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=use_ocdbt, use_zarr3=False)
    with ocp.Checkpointer(handler) as c:
        c.save(path, args=ocp.args.PyTreeSave(tree))
    (path / "_METADATA").unlink()
    structure = _placeholders({k: v for k, v in tree.items() if k != "aggregated"})
    structure["aggregated"] = np.arange(4, dtype=np.float32)
    structure["step"] = 7
    structure["lr"] = 0.25
    structure["name"] = "mlp"
    (path / "checkpoint").write_bytes(ocp.msgpack_utils.msgpack_serialize(structure))

    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler()) as c:
        restored = c.restore(path)
    assert restored["step"] == 7 and restored["name"] == "mlp"
    np.testing.assert_array_equal(np.asarray(restored["params"]["embed"]),
                                  np.asarray(tree["params"]["embed"]))
    _check(ckpt, ckpt_json, path, restored)


def test_pre_metadata_aggregate_missing_array_is_one_bad_leaf(ckpt, ckpt_json, orbax_dir):
    path = orbax_dir / "aggregate_missing"
    tree = {"a": np.arange(3, dtype=np.int32), "b": np.ones((2,), np.float32)}
    with ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_ocdbt=False)) as c:
        c.save(path, args=ocp.args.PyTreeSave(tree))
    (path / "_METADATA").unlink()
    structure = {"a": "PLACEHOLDER://a", "b": "PLACEHOLDER://b", "c": "PLACEHOLDER://../../etc"}
    (path / "checkpoint").write_bytes(ocp.msgpack_utils.msgpack_serialize(structure))
    out = ckpt_json("tree", path, "--json")
    assert out["tree"]["children"]["a"]["type"] == "array"
    assert out["tree"]["children"]["c"]["type"] == "none"
    assert ckpt.ok("cat", path, "b").stdout == np.ones((2,), np.float32).tobytes()


@pytest.mark.parametrize("use_ocdbt", [True, False])
def test_show_reports_on_disk_bytes_of_a_leaf(ckpt, ckpt_json, orbax_dir, use_ocdbt):
    """`ckpt show --json` reports the stored (compressed) bytes of a leaf's chunks, as the
    store holds them: file sizes for per-array directories, value sizes read back through
    tensorstore's own OCDBT driver."""
    import tensorstore as ts

    path = orbax_dir / f"stored_bytes_ocdbt{int(use_ocdbt)}"
    tree = {"w": np.tile(np.arange(64, dtype=np.float32), 256).reshape(128, 128),
            "r": ft.seeded_array("float32", (64, 64), 5)}
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=use_ocdbt, use_zarr3=True)
    with ocp.Checkpointer(handler) as c:
        c.save(path, args=ocp.args.PyTreeSave(tree))
    for name in ("w", "r"):
        shown = ckpt_json("show", path, name, "--json", "--max-values", "1")
        storage = shown["storage"]
        assert storage["format"] == "zarr v3"
        if use_ocdbt:
            kv = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{path}"}).result()
            keys = [k.decode() for k in kv.list().result() if k.decode().startswith(name + "/c")]
            want = sum(len(kv.read(k).result().value) for k in keys)
        else:
            want = sum(p.stat().st_size for p in (path / name).rglob("*")
                       if p.is_file() and p.relative_to(path / name).parts[0] == "c")
        assert want > 0
        assert storage["stored_bytes"] == want, storage
    # The constant array compresses well; the random one does not.
    assert ckpt_json("show", path, "w", "--json", "--max-values", "1")["storage"]["stored_bytes"] < 128 * 128 * 4 // 4


def test_prng_keys_read_as_their_key_data(ckpt, ckpt_json, orbax_dir):
    """Typed keys (jax.random.key) and raw keys (PRNGKey) are stored as their uint32 key data."""
    path = orbax_dir / "prng"
    tree = {"typed": jax.random.key(3), "raw": jax.random.PRNGKey(4),
            "split": jax.random.split(jax.random.PRNGKey(5), 4)}
    with ocp.StandardCheckpointer() as c:
        c.save(path, tree)
    out = ckpt_json("tree", path, "--json")["tree"]["children"]
    assert out["typed"] == {"type": "array", "dtype": "uint32", "shape": [2]}
    assert out["split"] == {"type": "array", "dtype": "uint32", "shape": [4, 2]}
    assert ckpt.ok("cat", path, "typed").stdout == np.asarray(jax.random.key_data(tree["typed"])).tobytes()
    assert ckpt.ok("cat", path, "raw").stdout == np.asarray(tree["raw"]).tobytes()
    assert ckpt.ok("cat", path, "split").stdout == np.asarray(tree["split"]).tobytes()
