"""Multi-process saves by the real JAX + orbax-checkpoint, read by `ckpt`.

`multiprocess_save.launch` runs 2 JAX processes (2 CPU devices each) and 4 processes (1 device
each) on localhost; each saves its own shards into `ocdbt.process_<i>/` and process 0 merges them
(StandardCheckpointer: zarr v2; CheckpointManager with use_zarr3). `ckpt` must read every leaf
bit-exact to the global array (process_allgather), and `ckpt shards` must report the mesh,
partition spec and device ids JAX saved, shards that tile the array exactly, each written by a
process that held it on one of its devices. About 25 s, most of it starting JAX processes.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import multiprocess_save as mps

LAYOUTS = {"item": ("item", ""), "manager": ("run", "default/")}


def _launch(tmp_path_factory, name, processes, devices):
    out = tmp_path_factory.mktemp(name)
    try:
        mps.launch(out, num_processes=processes, devices_per_process=devices, timeout=150)
    except mps.LaunchError as exc:
        pytest.fail(str(exc), pytrace=False)
    return out


@pytest.fixture(scope="module", params=[(2, 2), (4, 1)], ids=["2proc", "4proc"])
def saved(request, tmp_path_factory):
    processes, devices = request.param
    out = _launch(tmp_path_factory, f"mp{processes}", processes, devices)
    layout = json.loads((out / "layout.json").read_text())
    held = [json.loads((out / f"held_{i}.json").read_text()) for i in range(processes)]
    expected = dict(np.load(out / "expected.npz"))
    return out, layout, held, expected


def _keypath(prefix, param):
    return prefix + param.replace(".", "/")


def _inside(start, stop, box):
    return all(lo >= b[0] and hi <= b[1] for lo, hi, b in zip(start, stop, box))


@pytest.mark.parametrize("layout_name", LAYOUTS)
def test_every_leaf_reads_bit_exact(ckpt, ckpt_json, saved, layout_name):
    out, layout, _, expected = saved
    sub, prefix = LAYOUTS[layout_name]
    path = out / sub
    tree = ckpt_json("tree", path, "--json")["tree"]
    argv = []
    for param, want in expected.items():
        node = tree
        for key in _keypath(prefix, param).split("/"):
            node = node["children"][key]
        assert node["type"] == "array", (param, node)
        assert node["dtype"] == layout["leaves"][param]["dtype"]
        assert node["shape"] == list(want.shape)
        argv.append(("cat", path, _keypath(prefix, param)))
    for (_, _, kp), cp in zip(argv, ckpt.many(argv)):
        assert cp.returncode == 0, cp.stderr.decode()
        param = kp[len(prefix):].replace("/", ".")
        # bfloat16 comes back from np.load as raw 2-byte voids: compare the bytes.
        assert cp.stdout == expected[param].tobytes(), param


def _process_keys(item_dir):
    """Every key of each `ocdbt.process_<i>` database, as tensorstore lists it."""
    import tensorstore as ts

    keys = {}
    for d in sorted(item_dir.glob("ocdbt.process_*")):
        kv = ts.KvStore.open({"driver": "ocdbt", "base": f"file://{d}/"}).result()
        keys[d.name[len("ocdbt.process_"):]] = {k.decode() for k in kv.list().result()}
    return keys


@pytest.mark.parametrize("layout_name", LAYOUTS)
def test_shards_report_mesh_spec_processes_and_devices(ckpt, saved, layout_name):
    out, layout, held, expected = saved
    sub, prefix = LAYOUTS[layout_name]
    path = out / sub
    item_dir = path if layout_name == "item" else path / "1" / "default"
    written = _process_keys(item_dir)
    processes = [str(i) for i in range(layout["num_processes"])]
    process_of_device = {d["id"]: str(d["process"]) for d in layout["devices"]}
    device_ids = [d["id"] for d in layout["devices"]]
    params = list(expected)
    results = ckpt.many([("shards", path, _keypath(prefix, p), "--json") for p in params])
    for param, cp in zip(params, results):
        assert cp.returncode == 0, cp.stderr.decode()
        s = json.loads(cp.stdout)
        leaf = layout["leaves"][param]
        assert s["global_shape"] == leaf["shape"]
        assert s["item_processes"] == processes
        assert s["notes"] == []
        sharding = s["sharding"]
        assert sharding["type"] == "NamedSharding"
        assert sharding["partition_spec"] == leaf["spec"]
        assert sharding["axis_names"] == (["x"] if leaf["mesh"] == "1d" else ["a", "b"])
        assert sharding["device_ids"] == device_ids
        n = len(device_ids)
        assert sharding["mesh_shape"] == ([n] if leaf["mesh"] == "1d" else [2, n // 2])
        # The shards tile the array: no overlap, nothing missing.
        covered = np.zeros(leaf["shape"], dtype=np.int32)
        writers = set()
        assert len(s["shards"]) == s["shard_count"]
        for shard in s["shards"]:
            assert shard["stored"] and shard["key"].startswith(param + "/")
            region = tuple(slice(a, b) for a, b in zip(shard["start"], shard["stop"]))
            covered[region] += 1
            p = shard["process"]
            assert p in processes, shard
            # tensorstore lists the chunk's key in that process's own database, and no other.
            assert [q for q, keys in written.items() if shard["key"] in keys] == [p], (param, shard)
            writers.add(p)
            # The writer held these elements, on one of the devices ckpt names.
            assert any(_inside(shard["start"], shard["stop"], box) for box in held[int(p)][param]), (param, shard)
            assert shard["devices"] and p in {process_of_device[d] for d in shard["devices"]}, (param, shard)
        assert (covered == 1).all(), param
        assert sorted(writers, key=int) == s["processes"]
        if param == "scalar":
            assert len(writers) == 1  # replicated: one copy, written once
        elif param == "half":
            # Split on 'a' only: each process wrote the rows its devices held.
            assert s["processes"] == sorted({process_of_device[d] for d in device_ids}, key=int)


def test_info_tree_and_show_summarise_the_sharding(ckpt, ckpt_json, saved):
    out, layout, _, _ = saved
    item = out / "item"
    n = layout["num_processes"]
    info = ckpt_json("info", item, "--json")
    assert info["processes"] == [str(i) for i in range(n)]
    assert info["sharded_leaves"] == 5  # all but the replicated scalar
    assert info["warnings"] == []
    text = ckpt.ok("info", item).stdout.decode()
    assert f"sharded     5 leaves in several shards; written by {n} processes" in text
    devices = len(layout["devices"])
    tree = ckpt.ok("tree", item).stdout.decode()
    assert f"w  float32 (8, 6)  192 B  sharded P('x', None) on mesh {{'x': {devices}}}, " \
           f"{devices} shards of ({8 // devices}, 6)" in tree
    assert "sharded P(('a', 'b'), None) on mesh {'a': 2, 'b': " in tree
    shown = ckpt_json("show", item, "big", "--json", "--max-values", "0")
    assert shown["sharding"]["sharding"]["partition_spec_text"] == "P(('a', 'b'), None)"
    assert shown["sharding"]["shard_count"] == devices
    listing = ckpt.ok("shards", item, "w").stdout.decode()
    assert "sharding  NamedSharding P('x', None)" in listing
    assert f"[0:{8 // devices}, 0:6]" in listing


def test_damaged_sharding_fails_only_where_asked(ckpt, ckpt_json, saved, tmp_path):
    out, _, _, expected = saved
    item = tmp_path / "item"
    shutil.copytree(out / "item", item)
    (item / "_sharding").write_text("{not json")
    info = ckpt_json("info", item, "--json")  # the open and the summary still work
    assert any("_sharding" in w for w in info["warnings"])
    assert ckpt.ok("cat", item, "w").stdout == expected["w"].tobytes()
    ckpt.fails("shards", item, "w", mentions=[str(item / "_sharding"), "'w'"])
    ckpt.fails("shards", item, "nested/e", mentions=[str(item / "_sharding"), "'nested/e'"])
    assert "sharding unreadable" in ckpt.ok("show", item, "w").stdout.decode()
    # A leaf that is not an array of a sharded format is refused with its key path.
    ckpt.fails("shards", item, "nested", mentions=["nested", "not an array"])


def test_unsharded_copy_restores_in_one_cpu_process(ckpt, saved, tmp_path):
    """`ckpt convert` of a multi-process save gives a copy that a single-CPU Orbax restores
    without a target (orbax#646): every leaf whole, bit-exact, recorded on one device."""
    import jax
    import ml_dtypes
    import orbax.checkpoint as ocp

    out, _, _, expected = saved
    for zarr in ("2", "3"):
        dst = tmp_path / f"unsharded_zarr{zarr}"
        ckpt.ok("convert", out / "item", dst, "--to", "orbax", "--orbax-zarr", zarr)
        assert not list(dst.glob("ocdbt.process_*"))
        sharding = json.loads((dst / "_sharding").read_text())
        for entry in sharding.values():
            assert json.loads(entry)["sharding_type"] == "SingleDeviceSharding"
        listing = ckpt.ok("shards", dst, "w").stdout.decode()  # nothing split any more
        assert "SingleDeviceSharding" in listing and "shards    1 of (8, 6)" in listing
        with ocp.StandardCheckpointer() as c:
            restored = c.restore(dst)
        flat = {".".join(str(getattr(k, "key", k)) for k in path): v
                for path, v in jax.tree_util.tree_flatten_with_path(restored)[0]}
        assert sorted(flat) == sorted(expected)
        for param, want in expected.items():
            got = np.asarray(flat[param])
            if got.dtype == ml_dtypes.bfloat16:
                got = got.view(np.uint16)
            assert got.shape == want.shape, param
            assert got.tobytes() == want.tobytes(), param


@pytest.mark.parametrize("count", [3, 4])
def test_resharded_reads_tile_the_global_array(ckpt, saved, count):
    """Read back by a different number of processes than wrote it: `ckpt cat --process-index I
    --process-count N --axis D` gives process I's block of the global array, as JAX splits a
    dimension over N devices (blocks of ceil(n/N)); the N blocks tile the array bit-exact."""
    out, layout, _, expected = saved
    item = out / "item"
    for param, want in expected.items():
        if want.ndim == 0:
            continue
        kp = _keypath("", param)
        for axis in range(want.ndim):
            per = -(-want.shape[axis] // count)
            argv = [("cat", item, kp, "--process-index", i, "--process-count", count,
                     "--axis", axis) for i in range(count)]
            for i, cp in enumerate(ckpt.many(argv)):
                assert cp.returncode == 0, cp.stderr.decode()
                block = np.take(want, range(min(i * per, want.shape[axis]),
                                            min((i + 1) * per, want.shape[axis])), axis=axis)
                assert cp.stdout == np.ascontiguousarray(block).tobytes(), (param, axis, i)
    ckpt.fails("cat", item, "w", "--process-index", count, "--process-count", count,
               mentions=[f"process index {count} is outside", "w"])
