"""HDF5 interop: ckpt reads what h5py (+ hdf5plugin) writes, h5py reads what `ckpt convert --to
hdf5` writes, and Orbax/Flax checkpoints survive a trip through HDF5 bit-exact."""

from __future__ import annotations

import h5py
import hdf5plugin
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import serialization

import flaxtrees as ft
from conftest import describe

# ---------------------------------------------------------------------------
# (a) files written by h5py


@pytest.fixture(scope="module")
def h5py_file(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("h5py") / "written_by_h5py.h5"
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "run 7"
        layer = f.create_group("model").create_group("layer0")
        layer.attrs["lr"] = 0.1
        layer.create_dataset("w_gzip", data=rng.standard_normal((50, 40)).astype(np.float32),
                             chunks=(10, 40), compression="gzip", compression_opts=4, shuffle=True)
        layer.create_dataset("w_zstd", data=rng.standard_normal((30, 30)), chunks=(8, 30),
                             **hdf5plugin.Zstd(clevel=5))
        layer.create_dataset("i_zstd_default", data=np.arange(1000, dtype=np.int64),
                             chunks=(128,), **hdf5plugin.Zstd())
        f["be_i32"] = np.arange(-5, 5, dtype=">i4")
        f["be_f64"] = np.linspace(-1, 1, 7).astype(">f8")
        f["be_f16"] = np.linspace(-2, 2, 5).astype(">f2")
        f["f16"] = np.array([0.5, -np.inf, 65504, np.nan], np.float16)
        f["bool"] = np.array([True, False, True])
        f["c64"] = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64)
        f["c128"] = np.array([1 - 2j, np.nan + 0j])
        f["u64"] = np.array([0, 2**64 - 1], np.uint64)
        f["scalar_f32"] = np.float32(2.5)
        f["vlen_str"] = "h\u00e9llo"
        f["fixed_str"] = np.bytes_("abc")
        f["str_array"] = np.array([b"ab", b"cde"], dtype="S3")
        f["vlen_str_array"] = np.array(["x", "\u00fc\u00fc"], dtype=h5py.string_dtype())
        f["empty"] = h5py.Empty("f4")
        # Compact storage (the data inside the object header) and contiguous storage never
        # written (late allocation: reads give the fill value): the reader checks stored sizes.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        compact = h5py.h5d.create(f.id, b"compact_i16", h5py.h5t.STD_I16LE,
                                  h5py.h5s.create_simple((3, 5)), dcpl=dcpl)
        compact.write(h5py.h5s.ALL, h5py.h5s.ALL, np.arange(-7, 8, dtype="<i2").reshape(3, 5))
        f.create_dataset("unwritten_f32", shape=(2, 3), dtype="<f4", fillvalue=1.5)
        ordered = f.create_group("ordered", track_order=True)
        for k in ["z", "a", "m"]:
            ordered[k] = np.int8(ord(k))
    return path


NUMERIC = ["model/layer0/w_gzip", "model/layer0/w_zstd", "model/layer0/i_zstd_default", "be_i32",
           "be_f64", "be_f16", "f16", "bool", "c64", "c128", "u64", "scalar_f32",
           "ordered/z", "ordered/a", "compact_i16", "unwritten_f32"]


def _le_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr)
    return np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"))).tobytes()


@pytest.mark.parametrize("key", NUMERIC)
def test_cat_h5py_datasets_bit_exact(ckpt, h5py_file, key):
    with h5py.File(h5py_file, "r") as f:
        want = _le_bytes(f[key][()])
    cp = ckpt.ok("cat", h5py_file, key)
    assert cp.stdout == want, f"{key}: {len(cp.stdout)} bytes differ" + describe(cp, 300)


def test_tree_json_of_h5py_file(ckpt_json, h5py_file):
    out = ckpt_json("tree", h5py_file, "--json")
    assert out["format"] == "hdf5"
    t = out["tree"]
    # h5py lists an untracked group in name order; a track_order group in creation order.
    assert list(t["children"]) == sorted(t["children"])
    assert list(t["children"]["ordered"]["children"]) == ["z", "a", "m"]
    c = t["children"]
    with h5py.File(h5py_file, "r") as f:
        for key in NUMERIC:
            node = t
            for part in key.split("/"):
                node = node["children"][part]
            want = np.asarray(f[key][()])
            assert node["type"] == "array", key
            assert node["dtype"] == want.dtype.name, key
            assert node["shape"] == list(want.shape), key
    assert c["vlen_str"] == {"type": "string", "value": "h\u00e9llo"}
    assert c["fixed_str"] == {"type": "string", "value": "abc"}
    assert c["str_array"] == {"type": "list", "items": [{"type": "string", "value": "ab"},
                                                        {"type": "string", "value": "cde"}]}
    assert [i["value"] for i in c["vlen_str_array"]["items"]] == ["x", "\u00fc\u00fc"]
    assert c["empty"] == {"type": "none"}
    assert c["bool"]["dtype"] == "bool" and c["c64"]["dtype"] == "complex64"
    with h5py.File(h5py_file, "r") as f:
        assert f["compact_i16"].id.get_create_plist().get_layout() == h5py.h5d.COMPACT
        assert f["unwritten_f32"].id.get_storage_size() == 0  # never allocated


def test_show_reports_filters(ckpt, h5py_file):
    out = ckpt.ok("show", h5py_file, "model/layer0/w_gzip").stdout.decode()
    assert "gzip(level=4)" in out and "shuffle" in out and "(10, 40)" in out, out
    out = ckpt.ok("show", h5py_file, "model/layer0/w_zstd").stdout.decode()
    assert "zstd(level=5)" in out, out
    out = ckpt.ok("show", h5py_file, "model/layer0/i_zstd_default").stdout.decode()
    assert "zstd(level=3)" in out, out


# ---------------------------------------------------------------------------
# (b) h5py reads what ckpt writes


def link_name(key: str) -> str:
    """FORMAT.md's escaping rule for dict keys."""
    if key == "":
        return "%"
    if key == ".":
        return "%2E"
    return key.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")


def _h5_value(ds):
    value = ds[()]
    if "ckpt_dtype" in ds.attrs:
        value = np.asarray(value).view(getattr(ml_dtypes, ds.attrs["ckpt_dtype"]))
    return value


def test_h5py_reads_converted_flax_tree(ckpt, flax_sources, tmp_path):
    src = flax_sources["to_bytes"]
    out = tmp_path / "from_flax.h5"
    ckpt.ok("convert", src.path, out, "--to", "hdf5")
    leaves = list(ft.iter_leaves(src.restored))
    bad = []
    with h5py.File(out, "r") as f:
        assert f.attrs["ckpt_format"] == "ckpt-hdf5/1"
        for keys, want in leaves:
            obj = f
            for k in keys:
                obj = obj[link_name(k)]
                if link_name(k) != k:
                    assert obj.attrs["ckpt_key"] == k
            kind = obj.attrs.get("ckpt_kind")
            if isinstance(want, str):
                got = obj[()].decode("utf-8")
                ok = got == want and kind is None
            elif isinstance(want, bytes):
                got = obj[()].tobytes()
                ok = got == want and kind == "bytes"
            elif isinstance(want, np.ndarray):
                got = np.asarray(_h5_value(obj))
                ok = (kind is None and got.dtype == want.dtype and got.shape == want.shape
                      and got.tobytes() == np.ascontiguousarray(want).tobytes())
            else:
                got = np.asarray(_h5_value(obj))
                native = not isinstance(want, np.generic)
                ok = (kind == "scalar" and got.shape == () and got.dtype.name == ft.scalar_dtype(want)
                      and got.tobytes() == ft.leaf_bytes(want) and bool(obj.attrs["ckpt_native"]) == native)
            if not ok:
                bad.append(f"{ft.keypath(keys)}: got {got!r} want {want!r}")
        assert isinstance(f["none"][()], h5py.Empty) and f["none"].attrs["ckpt_kind"] == "none"
        # dict order is kept (creation order tracked), arrays are zstd-compressed chunks
        assert list(f["params"]["Dense_0"]) == list(src.restored["params"]["Dense_0"])
        assert f["shapes"]["big"]._filters == {"shuffle": (4,), "32015": (1,)}
    assert not bad, "\n".join(bad[:20])


def test_h5py_reads_bfloat16_and_float8_through_ckpt_dtype(ckpt, tmp_path):
    tree = {"bf16": np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.bfloat16),
            "f8": np.linspace(-3, 3, 9).astype(ml_dtypes.float8_e4m3fn),
            "f8b": np.linspace(-3, 3, 9).astype(ml_dtypes.float8_e5m2)}
    src = tmp_path / "s.msgpack"
    src.write_bytes(serialization.msgpack_serialize(tree))
    out = tmp_path / "s.h5"
    ckpt.ok("convert", src, out, "--to", "hdf5")
    with h5py.File(out, "r") as f:
        for k, want in tree.items():
            assert f[k].dtype == (np.uint16 if k == "bf16" else np.uint8)
            got = f[k][()].view(getattr(ml_dtypes, f[k].attrs["ckpt_dtype"]))
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), k


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_compression_option(ckpt, flax_sources, tmp_path, compression):
    src = flax_sources["to_bytes"]
    out = tmp_path / "c.h5"
    ckpt.ok("convert", src.path, out, "--to", "hdf5", "--hdf5-compression", compression)
    with h5py.File(out, "r") as f:
        ds = f["shapes"]["big"]
        assert ds.compression == ("gzip" if compression == "gzip" else None)
        assert ds[()].tobytes() == src.restored["shapes"]["big"].tobytes()


# ---------------------------------------------------------------------------
# (c) round trips through HDF5


def test_flax_to_hdf5_to_flax_is_bit_exact(ckpt, flax_sources, tmp_path):
    for name in ["to_bytes", "msgpack_serialize"]:
        src = flax_sources[name]
        direct, via = tmp_path / f"{name}_direct.msgpack", tmp_path / f"{name}_via.msgpack"
        h5 = tmp_path / f"{name}.h5"
        seq = "array" if name == "msgpack_serialize" else "state-dict"
        ckpt.ok("convert", src.path, direct, "--to", "flax", "--flax-sequences", seq)
        ckpt.ok("convert", src.path, h5, "--to", "hdf5")
        ckpt.ok("convert", h5, via, "--to", "flax", "--flax-sequences", seq)
        assert via.read_bytes() == direct.read_bytes(), name
        ft.assert_bitexact(serialization.msgpack_restore(via.read_bytes()), src.restored)


def test_orbax_to_hdf5_to_orbax_is_bit_exact(ckpt, tmp_path):
    tree = {"params": {"w": jnp.arange(12, dtype=jnp.float32).reshape(3, 4),
                       "b": jnp.ones((4,), jnp.bfloat16),
                       "f8": jnp.linspace(-2, 2, 6).astype(jnp.float8_e4m3fn)},
            "layers": [jnp.zeros((2,), jnp.int32), jnp.full((1,), 7, jnp.int8)],
            "flags": jnp.array([True, False]),
            "c": jnp.array([1 + 2j], jnp.complex64),
            "u": jnp.array([2**32 - 1], jnp.uint32),
            "count": jnp.asarray(3, jnp.int32)}
    src, h5, back = tmp_path / "orbax_src", tmp_path / "mid.h5", tmp_path / "back"
    with ocp.StandardCheckpointer() as c:
        c.save(src, tree)
    ckpt.ok("convert", src, h5, "--to", "hdf5")
    ckpt.ok("convert", h5, back, "--to", "orbax")
    with ocp.StandardCheckpointer() as c:
        restored = c.restore(back, tree)
    import jax

    assert jax.tree.structure(restored) == jax.tree.structure(tree)
    for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(tree)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


# ---------------------------------------------------------------------------
# (d) bad input


def test_truncated_hdf5_fails_cleanly(ckpt, flax_sources, tmp_path):
    good = tmp_path / "good.h5"
    ckpt.ok("convert", flax_sources["to_bytes"].path, good, "--to", "hdf5")
    data = good.read_bytes()
    for n in [0, 7, 100, len(data) // 2, len(data) - 1]:
        cut = tmp_path / f"cut_{n}.h5"
        cut.write_bytes(data[:n])
        cp = ckpt.fails("tree", cut, mentions=[cut.name], memory_limit=True)
        assert cp.returncode == 1, describe(cp)


def test_refuses_existing_target(ckpt, flax_sources, tmp_path):
    out = tmp_path / "x.h5"
    out.write_bytes(b"keep")
    ckpt.fails("convert", flax_sources["to_bytes"].path, out, "--to", "hdf5", mentions=["x.h5"])
    assert out.read_bytes() == b"keep"
    ckpt.ok("convert", flax_sources["to_bytes"].path, out, "--to", "hdf5", "--overwrite")
    with h5py.File(out, "r") as f:
        assert "params" in f
