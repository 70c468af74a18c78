"""ckpt reads what real flax writes: tree structure, leaf bytes, values, info, step dirs."""

from __future__ import annotations

import math
import struct
import warnings

import ml_dtypes
import msgpack
import numpy as np
import pytest
from flax import serialization
from flax.training import checkpoints

import flaxtrees as ft
from conftest import SOURCE_NAMES, describe

# ---------------------------------------------------------------------------
# pinned flax behaviour the rest of the suite relies on (pure Python, no ckpt)


def test_flax_tuple_and_list_behaviour():
    """to_bytes turns lists AND tuples into {"0":..} maps; msgpack_serialize keeps lists as
    msgpack arrays and refuses tuples (msgpack strict_types=True), so a flax file never holds a tuple."""
    restored = serialization.msgpack_restore(serialization.to_bytes({"l": [1, 2], "t": (3, 4)}))
    assert restored == {"l": {"0": 1, "1": 2}, "t": {"0": 3, "1": 4}}
    assert serialization.msgpack_restore(serialization.msgpack_serialize({"l": [1, [2]]})) == {"l": [1, [2]]}
    with pytest.raises(TypeError, match="tuple"):
        serialization.msgpack_serialize({"t": (1, 2)})


def test_expected_model_is_consistent_with_flax(flax_sources):
    """Self-check of the expected-JSON builder on flax output (no ckpt involved)."""
    src = flax_sources["to_bytes"]
    node = ft.expected_node(src.restored)
    assert node["type"] == "dict"
    # to_bytes: every sequence became a dict.
    assert node["children"]["seq"]["children"]["tuple"]["type"] == "dict"
    # state_dict_form is a no-op on to_bytes output and agrees with flax's to_state_dict.
    ft.assert_bitexact(ft.state_dict_form(src.restored), src.restored)
    raw = ft.build_tree(with_jax=False)
    ft.assert_bitexact(ft.state_dict_form(raw), serialization.to_state_dict(raw))
    ms = flax_sources["msgpack_serialize"]
    assert ft.expected_node(ms.restored)["children"]["seq"]["children"]["list"]["type"] == "list"
    # chunked sources restore to the same arrays as unchunked ones
    ft.assert_bitexact(flax_sources["chunked_to_bytes"].restored, src.restored)
    ft.assert_bitexact(flax_sources["chunked_msgpack_serialize"].restored, ms.restored)
    # dtypes survive flax's own round trip (else expected values would be meaningless)
    for name in ft.ALL_DTYPES:
        assert src.restored["arrays"][name].dtype.name == name
        assert src.restored["np_scalars"][name].dtype.name == name
    # every leaf kind maps to a NODE and to cat bytes
    kinds = {ft.expected_node(v)["type"] for _, v in ft.iter_leaves(src.restored)}
    assert kinds == {"array", "scalar", "string", "bytes"}
    for _, v in ft.iter_leaves(src.restored):
        ft.leaf_bytes(v)


# ---------------------------------------------------------------------------
# tree


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_tree_json_matches_flax(ckpt_json, flax_sources, source):
    src = flax_sources[source]
    out = ckpt_json("tree", src.path, "--json")
    assert out.get("format") == "flax", out.get("format")
    ft.compare_node(out["tree"], ft.expected_node(src.restored))


@pytest.mark.parametrize("pytree", [
    np.arange(5, dtype=np.int16),
    [1, [2.5, None], "s"],
    {},
    np.float32(2.5),
], ids=["root_array", "root_list", "root_empty_dict", "root_np_scalar"])
def test_tree_unusual_roots(ckpt_json, tmp_path, pytree):
    path = tmp_path / "root.msgpack"
    path.write_bytes(serialization.msgpack_serialize(pytree))
    restored = serialization.msgpack_restore(path.read_bytes())
    out = ckpt_json("tree", path, "--json")
    ft.compare_node(out["tree"], ft.expected_node(restored))


def test_tree_chunked_root_array(ckpt, ckpt_json, tmp_path):
    """msgpack_serialize of a big root array writes a chunk record as the root map; flax
    restores an array."""
    path = tmp_path / "root_chunked.msgpack"
    with ft.max_chunk_size(64):
        path.write_bytes(serialization.msgpack_serialize(np.arange(40, dtype=np.float32)))
    assert isinstance(ft.raw_decode(path.read_bytes()), dict)
    restored = serialization.msgpack_restore(path.read_bytes())
    assert isinstance(restored, np.ndarray)
    out = ckpt_json("tree", path, "--json")
    ft.compare_node(out["tree"], ft.expected_node(restored))


def test_tree_chunk_record_below_a_list_stays_a_dict(ckpt, ckpt_json, tmp_path):
    """flax un-chunks only records reached through dicts from the root; below a msgpack
    list a chunk record is restored as a plain dict, and ckpt must show what flax restores."""
    rec = {"__msgpack_chunked_array__": True, "shape": {"0": 2},
           "chunks": {"0": np.arange(1, dtype=np.int8), "1": np.arange(1, dtype=np.int8)}}
    path = tmp_path / "rec_in_list.msgpack"
    path.write_bytes(msgpack.packb({"seq": [rec], "top": dict(rec)},
                                   default=serialization._msgpack_ext_pack, strict_types=True))
    restored = serialization.msgpack_restore(path.read_bytes())
    assert isinstance(restored["seq"][0], dict) and isinstance(restored["top"], np.ndarray)
    out = ckpt_json("tree", path, "--json")
    ft.compare_node(out["tree"], ft.expected_node(restored))
    _check_cat_all(ckpt, path, restored)


def _widest_pack(obj) -> bytes:
    """msgpack encoder that always picks the WIDEST (non-minimal) format: valid msgpack that
    msgpack-python (and so flax) reads fine, but never writes."""
    out = bytearray()
    if obj is None:
        out += b"\xc0"
    elif obj is True or obj is False:
        out += b"\xc3" if obj else b"\xc2"
    elif isinstance(obj, int):
        out += (b"\xcf" + struct.pack(">Q", obj)) if obj >= 0 else (b"\xd3" + struct.pack(">q", obj))
    elif isinstance(obj, float):
        out += b"\xcb" + struct.pack(">d", obj)
    elif isinstance(obj, str):
        b = obj.encode()
        out += b"\xdb" + struct.pack(">I", len(b)) + b
    elif isinstance(obj, bytes):
        out += b"\xc6" + struct.pack(">I", len(obj)) + obj
    elif isinstance(obj, list):
        out += b"\xdd" + struct.pack(">I", len(obj))
        for v in obj:
            out += _widest_pack(v)
    elif isinstance(obj, dict):
        out += b"\xdf" + struct.pack(">I", len(obj))
        for k, v in obj.items():
            out += _widest_pack(k) + _widest_pack(v)
    elif isinstance(obj, msgpack.ExtType):
        out += b"\xc9" + struct.pack(">I", len(obj.data)) + struct.pack(">b", obj.code) + obj.data
    else:
        raise TypeError(type(obj))
    return bytes(out)


def test_tree_non_minimal_msgpack_encodings(ckpt, ckpt_json, tmp_path):
    """Same data in uint64/int64/str32/bin32/array32/map32/ext32 and float32 encodings."""
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    ext = msgpack.ExtType(1, msgpack.packb(((2, 3), "float32", arr.tobytes()), use_bin_type=True))
    tree = {"one": 1, "neg": -1, "f": 0.1, "s": "\u00e9", "b": b"\x01\x02", "l": [1, None], "w": ext}
    data = _widest_pack(tree)
    data += b""  # (keep the file a single object)
    # plus a float32-encoded float (msgpack 0xca), which flax restores as a Python float
    single = msgpack.packb({"f32": 1.5}, use_single_float=True)
    p1, p2 = tmp_path / "wide.msgpack", tmp_path / "single.msgpack"
    p1.write_bytes(data)
    p2.write_bytes(single)
    for p in (p1, p2):
        restored = serialization.msgpack_restore(p.read_bytes())
        out = ckpt_json("tree", p, "--json")
        ft.compare_node(out["tree"], ft.expected_node(restored))
        _check_cat_all(ckpt, p, restored)


# ---------------------------------------------------------------------------
# cat


def _check_cat_all(ckpt, path, restored, step_args=()):
    leaves = list(ft.iter_leaves(restored))
    assert leaves, "no leaves?"
    cps = ckpt.many([("cat", path, ft.keypath(keys), *step_args) for keys, _ in leaves])
    bad = []
    for (keys, value), cp in zip(leaves, cps):
        want = ft.leaf_bytes(value)
        if cp.returncode != 0 or cp.stdout != want:
            bad.append(f"{ft.keypath(keys)!r}: expected {len(want)} bytes {want[:24].hex()}..., "
                       f"got {len(cp.stdout)} bytes {cp.stdout[:24].hex()}..." + describe(cp, 300))
    assert not bad, f"{len(bad)}/{len(leaves)} leaves differ:\n" + "\n".join(bad[:15])


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_cat_bytes_match_numpy(ckpt, flax_sources, source):
    src = flax_sources[source]
    _check_cat_all(ckpt, src.path, src.restored)


def test_cat_escaped_keys(ckpt, flax_sources):
    """Key path escaping spelled out literally (not via the helper under test)."""
    src = flax_sources["to_bytes"]
    cases = {
        "keys/a\\/b": np.int64(1).tobytes(),
        "keys/c\\\\d": np.int64(2).tobytes(),
        "keys/\\e": np.int64(3).tobytes(),
        "keys/sp ace": np.int64(4).tobytes(),
        "keys/\u00fcn\u00ef": np.int64(5).tobytes(),
        "keys/0": np.int64(6).tobytes(),
        "keys/e\\/\\\\\\/": np.arange(2, dtype=np.int8).tobytes(),
        "seq/tuple/1/1/deep": np.arange(3, dtype=np.int64).tobytes(),
    }
    cps = ckpt.many([("cat", src.path, kp) for kp in cases])
    for (kp, want), cp in zip(cases.items(), cps):
        assert cp.returncode == 0 and cp.stdout == want, f"cat {kp!r}" + describe(cp)
    ms = flax_sources["msgpack_serialize"]
    cp = ckpt.ok("cat", ms.path, "seq/nested/1/1/0")
    assert cp.stdout == np.int16(4).tobytes(), describe(cp)


# ---------------------------------------------------------------------------
# show


@pytest.fixture(scope="module")
def bit_pattern_file(tmp_path_factory):
    tree = {}
    for name in ft.FLOAT8_DTYPES:
        tree[name] = np.arange(256, dtype=np.uint8).view(ft.dtype_of(name))
    tree["float16"] = np.arange(65536, dtype=np.uint16).view(np.float16)
    # Sub-byte types: every value pattern of the low bits.
    for name, bits in (("int4", 4), ("uint4", 4), ("float4_e2m1fn", 4), ("int2", 2), ("uint2", 2)):
        tree[name] = np.arange(1 << bits, dtype=np.uint8).view(ft.dtype_of(name))
    tree["bfloat16"] = np.arange(65536, dtype=np.uint16).view(ml_dtypes.bfloat16).reshape(256, 256)
    path = tmp_path_factory.mktemp("bits") / "bits.msgpack"
    path.write_bytes(serialization.to_bytes(tree))
    return path, serialization.msgpack_restore(path.read_bytes())


def _check_show(out, keypath, arr, kind="array"):
    assert out.get("keypath") == keypath, out.get("keypath")
    assert out.get("kind") == kind, out.get("kind")
    assert out.get("dtype") == arr.dtype.name, out.get("dtype")
    assert out.get("shape") == list(arr.shape), out.get("shape")
    errs = ft.show_value_errors(out.get("values"), arr)
    assert not errs, f"{keypath}: {len(errs)}+ wrong values:\n" + "\n".join(errs)


def _check_stat_counts(stats, arr):
    a = np.ascontiguousarray(arr).reshape(-1)
    if a.dtype.kind == "c":
        pytest.fail("use a real dtype")
    with np.errstate(invalid="ignore"):
        f = a.astype(np.float64)
    want = {
        "count": int(a.size),
        "nan": int(np.isnan(f).sum()),
        "posinf": int(np.isposinf(f).sum()),
        "neginf": int(np.isneginf(f).sum()),
        "zeros": int((f == 0).sum()),
    }
    got = {k: stats.get(k) for k in want}
    assert got == want, f"stats counts {got}, expected {want}"


@pytest.mark.parametrize("dtype", ft.FLOAT8_DTYPES + ["float16", "bfloat16"])
def test_show_every_bit_pattern(ckpt_json, bit_pattern_file, dtype):
    path, restored = bit_pattern_file
    arr = restored[dtype]
    out = ckpt_json("show", path, dtype, "--json")
    _check_show(out, dtype, arr)
    _check_stat_counts(out.get("stats", {}), arr)


@pytest.fixture(scope="module")
def value_file(tmp_path_factory):
    rng = np.random.default_rng(7)
    tree = {}
    for name in ft.BASE_DTYPES + ["bfloat16"]:
        dt = ft.dtype_of(name)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            a = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1], dtype=dt)
            a = np.concatenate([a, rng.integers(info.min, info.max, 10, dtype=dt, endpoint=True)])
        elif dt == np.bool_:
            a = np.array([True, False, True])
        elif dt.kind == "c":
            a = np.array([0, -0.0, 1 + 2j, complex(np.nan, 1), complex(-np.inf, np.inf), 0.1 - 1e-30j], dtype=dt)
        else:
            info = ml_dtypes.finfo(dt)
            a = np.array([0.0, -0.0, 1.0, -2.5, np.nan, np.inf, -np.inf, float(info.max), float(info.min),
                          float(info.smallest_subnormal), float(info.tiny), 0.1], dtype=np.float64).astype(dt)
        tree[name] = a.reshape(-1) if name != "float32" else a.reshape(3, 4)
    tree["finite"] = np.array([1.0, -2.0, 0.0, 3.5, 0.5], dtype=np.float32)
    tree["scalars"] = {"f32": np.float32(0.1), "py_int": -(2**63), "py_float": 1e-310, "c": 1 - 1j}
    path = tmp_path_factory.mktemp("values") / "values.msgpack"
    path.write_bytes(serialization.to_bytes(tree))
    return path, serialization.msgpack_restore(path.read_bytes())


@pytest.mark.parametrize("dtype", ft.BASE_DTYPES + ["bfloat16"])
def test_show_values_exact(ckpt_json, value_file, dtype):
    path, restored = value_file
    out = ckpt_json("show", path, dtype, "--json")
    _check_show(out, dtype, restored[dtype])
    assert out.get("stats", {}).get("count") == restored[dtype].size


def test_show_scalars(ckpt_json, value_file):
    path, restored = value_file
    for key, value in restored["scalars"].items():
        kp = f"scalars/{key}"
        out = ckpt_json("show", path, kp, "--json")
        arr = np.asarray(value, dtype=ft.dtype_of(ft.scalar_dtype(value)))
        _check_show(out, kp, arr, kind="scalar")


def test_show_stats_finite(ckpt_json, value_file):
    path, restored = value_file
    a = restored["finite"].astype(np.float64)
    out = ckpt_json("show", path, "finite", "--json")
    stats = out["stats"]
    _check_stat_counts(stats, restored["finite"])
    assert stats["min"] == a.min() and stats["max"] == a.max(), stats
    assert math.isclose(stats["mean"], a.mean(), rel_tol=1e-12), stats
    # The contract does not say population vs sample std: accept either, nothing else.
    assert any(math.isclose(stats["std"], a.std(ddof=d), rel_tol=1e-9) for d in (0, 1)), \
        (stats["std"], a.std(ddof=0), a.std(ddof=1))


def test_show_max_values_truncates_only_when_asked(ckpt_json, bit_pattern_file):
    path, restored = bit_pattern_file
    full = ckpt_json("show", path, "float16", "--json")
    assert len(full["values"]) == 65536
    part = ckpt_json("show", path, "float16", "--json", "--max-values", "10")
    assert 0 < len(part["values"]) <= 10, len(part["values"])
    errs = ft.show_value_errors(part["values"], restored["float16"].reshape(-1)[: len(part["values"])])
    assert not errs, errs
    assert part["stats"]["count"] == 65536, "stats must cover the whole array even when values are truncated"


# ---------------------------------------------------------------------------
# info and step directories


def test_info_single_file(ckpt_json, tmp_path):
    tree = {"params": {"k": np.ones((3, 4), np.float32), "b": np.zeros((4,), ml_dtypes.bfloat16)},
            "e": np.zeros((0, 5), np.int8), "c": np.ones((2,), np.complex128)}
    path = tmp_path / "arrays.msgpack"
    path.write_bytes(serialization.to_bytes(tree))
    out = ckpt_json("info", path, "--json")
    arrays = [v for _, v in ft.iter_leaves(tree)]
    assert out.get("format") == "flax"
    assert out.get("leaves") == len(arrays), out
    assert out.get("arrays") == len(arrays), out
    assert out.get("parameters") == sum(a.size for a in arrays), out
    assert out.get("bytes") == sum(a.nbytes for a in arrays), out
    assert out.get("step") is None, out


def test_info_step_directory(ckpt_json, flax_sources):
    src = flax_sources["save_checkpoint_dir"]
    out = ckpt_json("info", src.path, "--json")
    assert out.get("format") == "flax"
    assert out.get("step") == "10", out.get("step")
    steps = out.get("steps")
    assert isinstance(steps, list), out
    complete = {(s.get("name"), str(s.get("step"))) for s in steps if s.get("complete") is True}
    want = {(f"checkpoint_{n}", str(n)) for n in checkpoints.available_steps(src.path)}
    assert complete == want, f"complete steps {sorted(complete)}, expected {sorted(want)}"


def test_step_option_selects_other_step(ckpt, ckpt_json, flax_sources):
    src = flax_sources["save_checkpoint_dir"]
    want = serialization.msgpack_restore((src.path / "checkpoint_2").read_bytes())
    out = ckpt_json("tree", src.path, "--json", "--step", "2")
    ft.compare_node(out["tree"], ft.expected_node(want))
    _check_cat_all(ckpt, src.path, want, step_args=("--step", "2"))
    shown = ckpt_json("show", src.path, "params/b", "--json", "--step", "2")
    _check_show(shown, "params/b", want["params"]["b"])
    info = ckpt_json("info", src.path, "--json", "--step", "2")
    assert info.get("step") == "2", info.get("step")


def test_latest_step_like_flax(ckpt, ckpt_json, tmp_path):
    """Natural (numeric) order, not lexicographic; checkpoint_tmp is not a step."""
    d = tmp_path / "ckpts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for step in (2, 9, 10, 100):
            checkpoints.save_checkpoint(d, ft.small_tree(step), step=step, keep=0)
    (d / "checkpoint_tmp").write_bytes(b"\xc1 an interrupted save")
    latest = checkpoints.latest_checkpoint(d)
    assert latest.endswith("checkpoint_100")
    want = serialization.msgpack_restore(open(latest, "rb").read())
    out = ckpt_json("tree", d, "--json")
    ft.compare_node(out["tree"], ft.expected_node(want))
    cp = ckpt.ok("cat", d, "step")
    assert cp.stdout == np.int64(100).tobytes(), describe(cp)
    cp = ckpt.ok("cat", d, "step", "--step", "9")
    assert cp.stdout == np.int64(9).tobytes(), describe(cp)
