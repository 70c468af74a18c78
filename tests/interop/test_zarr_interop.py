"""Zarr arrays written by our writer (zarr_tool, over core's writeZarrArray), checked with the
real peers: tensorstore opens and reads them bit-exact, they are byte-identical to what
orbax-checkpoint 0.12.8 writes for the same data, and Orbax restores them in place of its own.

Needs CKPT_ZARR_TOOL (the zarr_tool test executable); unset is an error, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorstore as ts

import flaxtrees as ft

# Every dtype tensorstore 0.1.86 can store (our dtype model's float8_e4m3 it cannot).
TS_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
             "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
             "float8_e4m3b11fnuz", "float8_e3m4", "float8_e8m0fnu"]

# (shape, chunks); chunks None = whole array as one chunk (Orbax's default).
SHAPES = [((), None), ((2, 3), (1, 3)), ((5, 3), (2, 2)), ((7,), (3,)), ((2, 3, 4), (1, 2, 3)),
          ((6,), None), ((0, 3), None), ((4, 0), (2, 1))]


@pytest.fixture(scope="session")
def zarr_tool() -> str:
    path = os.environ.get("CKPT_ZARR_TOOL")
    if not path:
        raise RuntimeError("CKPT_ZARR_TOOL is not set: point it at the zarr_tool test executable "
                           "(build/dev/tests/core/zarr_tool)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"CKPT_ZARR_TOOL={path!r} is not an executable")
    return path


def _shape_arg(shape) -> str:
    return ",".join(str(d) for d in shape)


def _write(tool, directory: Path, array: np.ndarray, version: int, chunks=None, extra=()):
    dtype = array.dtype.name
    argv = [tool, "write", str(directory), "--version", str(version), "--dtype", dtype,
            "--shape", _shape_arg(array.shape)]
    if chunks is not None:
        argv += ["--chunks", _shape_arg(chunks)]
    argv += list(extra)
    cp = subprocess.run(argv, input=np.ascontiguousarray(array).tobytes(), capture_output=True,
                        timeout=60)
    assert cp.returncode == 0, f"{argv}: exit {cp.returncode}: {cp.stderr.decode(errors='replace')}"


def _random(name: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = ft.dtype_of(name)
    if name == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    raw = rng.integers(0, 256, int(np.prod(shape, dtype=np.int64)) * dt.itemsize, dtype=np.uint8)
    return raw.view(dt).reshape(shape)


def _ts_read(directory: Path, version: int) -> np.ndarray:
    driver = "zarr" if version == 2 else "zarr3"
    store = ts.open({"driver": driver, "kvstore": f"file://{directory}"}, open=True).result()
    return store.read().result()


def _assert_bit_exact(got: np.ndarray, want: np.ndarray):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.ascontiguousarray(got).view(np.uint8).tobytes() == \
        np.ascontiguousarray(want).view(np.uint8).tobytes()


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("dtype", TS_DTYPES)
def test_tensorstore_reads_our_arrays(zarr_tool, tmp_path, version, dtype):
    for i, (shape, chunks) in enumerate(SHAPES):
        array = _random(dtype, shape, seed=i + 17 * version)
        directory = tmp_path / f"a{i}"
        _write(zarr_tool, directory, array, version, chunks)
        _assert_bit_exact(_ts_read(directory, version), array)


@pytest.mark.parametrize("version,extra", [
    (2, ["--no-compress"]), (2, ["--level", "9"]), (2, ["--skip-fill-chunks"]),
    (3, ["--no-compress"]), (3, ["--level", "9"]), (3, ["--skip-fill-chunks"]),
    (3, ["--no-shard"]), (3, ["--no-shard", "--no-compress"]),
    (3, ["--no-shard", "--skip-fill-chunks"])])
def test_tensorstore_reads_our_option_variants(zarr_tool, tmp_path, version, extra):
    array = _random("float32", (5, 3), seed=3)
    array[0:2, :] = 0  # first row of chunks all zero: left out under --skip-fill-chunks
    _write(zarr_tool, tmp_path / "a", array, version, (2, 2), extra)
    _assert_bit_exact(_ts_read(tmp_path / "a", version), array)
    keys = sorted(p.name for p in (tmp_path / "a").rglob("*") if p.is_file())
    expected_chunks = 4 if "--skip-fill-chunks" in extra else 6
    assert len(keys) == expected_chunks + 1, keys




def test_unsupported_dtype_is_refused(zarr_tool, tmp_path):
    array = np.zeros(3, ml_dtypes.float8_e4m3)
    argv = [zarr_tool, "write", str(tmp_path / "a"), "--version", "2", "--dtype", "float8_e4m3",
            "--shape", "3"]
    cp = subprocess.run(argv, input=array.tobytes(), capture_output=True, timeout=60)
    assert cp.returncode != 0
    assert b"float8_e4m3" in cp.stderr and b"Unsupported" in cp.stderr
    assert not (tmp_path / "a" / ".zarray").exists()


@pytest.mark.parametrize("version", [2, 3])
def test_we_read_what_tensorstore_writes(zarr_tool, tmp_path, version):
    for i, name in enumerate(TS_DTYPES):
        array = _random(name, (5, 3), seed=i)
        spec = {"driver": "zarr" if version == 2 else "zarr3",
                "kvstore": f"file://{tmp_path / name}"}
        if version == 2:  # TensorStore's own default would be blosc, which we do not decode
            spec["metadata"] = {"compressor": {"id": "zstd", "level": 1}}
        store = ts.open(spec, create=True, dtype=ts.dtype(name), shape=array.shape,
                        chunk_layout=ts.ChunkLayout(chunk_shape=[2, 2])).result()
        store.write(array).result()
        cp = subprocess.run([zarr_tool, "read", str(tmp_path / name)], capture_output=True,
                            timeout=60)
        assert cp.returncode == 0, cp.stderr
        assert cp.stdout == array.tobytes(), name


def _orbax_tree():
    return {
        "f32": jnp.arange(15, dtype=jnp.float32).reshape(5, 3),
        "bf16": jnp.linspace(-2, 2, 12, dtype=jnp.bfloat16).reshape(3, 4),
        "f8": jnp.asarray(np.linspace(-1, 1, 6), dtype=jnp.float8_e4m3fn),
        "flags": jnp.array([True, False, True]),
        "c64": np.array([1 + 2j, -3.5j], np.complex64),
        "c128": np.array([[1 + 2j]], np.complex128),
        "i8": np.arange(-3, 3, dtype=np.int8),
        "u64": np.array([0, 2**64 - 1], np.uint64),
        "f16": np.ones((2, 2), np.float16),
        "np0d": np.float32(2.5),
        "pyint": 7,
        "pyfloat": 1.5,
        "pybool": True,
        "zeros": np.zeros((4, 4), np.float64),
    }


def _orbax_save(path: Path, tree, zarr3: bool):
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=False, use_zarr3=zarr3)
    with ocp.Checkpointer(handler) as ckptr:
        ckptr.save(path, args=ocp.args.PyTreeSave(tree))


def _orbax_restore(path: Path, zarr3: bool):
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=False, use_zarr3=zarr3)
    with ocp.Checkpointer(handler) as ckptr:
        return ckptr.restore(path)


def _as_numpy(leaf) -> np.ndarray:
    return np.asarray(leaf)


@pytest.mark.parametrize("zarr3", [False, True])
def test_byte_identical_to_orbax(zarr_tool, tmp_path, zarr3):
    tree = _orbax_tree()
    _orbax_save(tmp_path / "orbax", tree, zarr3)
    version = 3 if zarr3 else 2
    for name, leaf in tree.items():
        ours = tmp_path / "ours" / name
        _write(zarr_tool, ours, _as_numpy(leaf), version)
        theirs = tmp_path / "orbax" / name
        their_files = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file())
        our_files = sorted(str(p.relative_to(ours)) for p in ours.rglob("*") if p.is_file())
        assert our_files == their_files, name
        for rel in their_files:
            assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), f"{name}/{rel}"


@pytest.mark.parametrize("zarr3", [False, True])
def test_orbax_restores_our_arrays(zarr_tool, tmp_path, zarr3):
    tree = _orbax_tree()
    _orbax_save(tmp_path / "ckpt", tree, zarr3)
    version = 3 if zarr3 else 2
    replaced = {}
    for i, (name, leaf) in enumerate(tree.items()):
        original = _as_numpy(leaf)
        new = _random(original.dtype.name, original.shape, seed=100 + i)
        if ft.is_floatish(new.dtype) or new.dtype.kind == "c":
            # Finite values, so the comparison below is plain equality.
            new = (np.arange(new.size).reshape(new.shape) % 5 - 2).astype(original.dtype)
        shutil.rmtree(tmp_path / "ckpt" / name)
        _write(zarr_tool, tmp_path / "ckpt" / name, new, version)
        replaced[name] = new
    restored = _orbax_restore(tmp_path / "ckpt", zarr3)
    assert set(restored) == set(replaced)
    for name, want in replaced.items():
        got = restored[name]
        if isinstance(tree[name], (int, float, bool, np.number)):
            # Scalars (ScalarHandler) come back as Python values via .item().
            assert type(got) is type(want.item()), (name, type(got))
            assert got == want.item(), name
            continue
        _assert_bit_exact(np.asarray(got), want)


@pytest.mark.parametrize("zarr3", [False, True])
def test_byte_identical_to_orbax_with_several_chunks(zarr_tool, tmp_path, zarr3):
    # SaveArgs(chunk_byte_size=128) makes Orbax split [32, 4] float32 into [8, 4] chunks (in v3:
    # four shards of one inner chunk each); we write the same grid and compare every file.
    tree = {"w": jnp.arange(32 * 4, dtype=jnp.float32).reshape(32, 4),
            "b": np.arange(40, dtype=np.int16).reshape(8, 5)}
    save_args = {"w": ocp.SaveArgs(chunk_byte_size=128), "b": ocp.SaveArgs(chunk_byte_size=20)}
    handler = ocp.PyTreeCheckpointHandler(use_ocdbt=False, use_zarr3=zarr3)
    with ocp.Checkpointer(handler) as ckptr:
        ckptr.save(tmp_path / "orbax", args=ocp.args.PyTreeSave(tree, save_args=save_args))
    for name, leaf in tree.items():
        theirs = tmp_path / "orbax" / name
        if zarr3:
            meta = json.loads((theirs / "zarr.json").read_text())
            chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
        else:
            chunks = json.loads((theirs / ".zarray").read_text())["chunks"]
        assert list(chunks) != list(np.shape(leaf)), "expected Orbax to split the array"
        ours = tmp_path / "ours" / name
        _write(zarr_tool, ours, np.asarray(leaf), 3 if zarr3 else 2, chunks)
        their_files = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file())
        our_files = sorted(str(p.relative_to(ours)) for p in ours.rglob("*") if p.is_file())
        assert our_files == their_files, name
        for rel in their_files:
            assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), f"{name}/{rel}"
