"""npz interop: ckpt against numpy 2.4's own np.savez / np.savez_compressed / np.load (never skipped)."""

from __future__ import annotations

import io
import zipfile

import ml_dtypes
import numpy as np
import pytest

from conftest import check_clean_failure


def _bits(a) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _cat(ckpt, path, keypath) -> bytes:
    return ckpt.ok("cat", path, keypath).stdout


def _arrays():
    rng = np.random.default_rng(5)
    return {
        "params/Dense_0/kernel": rng.standard_normal((3, 4)).astype(np.float32),
        "params/Dense_0/bias": np.arange(4, dtype=np.float16),
        "zero_d": np.array(2.5),
        "empty": np.zeros((0, 2), np.int32),
        "big_endian": np.array([1.5, -2.0, 3.25], ">f8"),
        "be_complex": np.array([1 + 2j, -3j], ">c16"),
        "fortran": np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4)),
        "mask": np.array([True, False, True]),
        "complex": np.array([1 + 2j, 3 - 4j], np.complex64),
        "u64": np.array([2**64 - 1, 0], np.uint64),
    }


@pytest.mark.parametrize("saver", ["savez", "savez_compressed"])
def test_we_read_numpy_files_bitexact(ckpt, ckpt_json, tmp_path, saver):
    src = tmp_path / f"{saver}.npz"
    arrays = _arrays()
    getattr(np, saver)(src, **arrays)
    out = ckpt_json("tree", src, "--json")
    assert out["format"] == "npz"
    kernel = out["tree"]["children"]["params"]["children"]["Dense_0"]["children"]["kernel"]
    assert kernel["dtype"] == "float32" and kernel["shape"] == [3, 4]
    for name, arr in arrays.items():
        # We hand out C-order little-endian bytes whatever numpy stored.
        expected = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<")))
        assert _cat(ckpt, src, name) == _bits(expected), name


def test_numpy_reads_our_output(ckpt, tmp_path):
    src = tmp_path / "src.npz"
    arrays = _arrays()
    np.savez_compressed(src, **arrays)
    out = tmp_path / "out.npz"
    ckpt.ok("convert", src, out, "--to", "npz")
    with zipfile.ZipFile(out) as z:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        assert z.testzip() is None  # every CRC checks out
    with np.load(out) as loaded:
        for name, arr in arrays.items():
            got = loaded[name]
            assert got.shape == arr.shape, name
            assert got.dtype == arr.dtype.newbyteorder("<"), name
            assert _bits(got) == _bits(arr.astype(arr.dtype.newbyteorder("<"))), name


def test_ml_dtypes_round_trip_through_our_sidecar(ckpt, ckpt_json, tmp_path):
    """numpy writes bfloat16/float8 as raw void ('|V2', '|V1'); our sidecar keeps the dtype."""
    from safetensors.numpy import save_file

    st = tmp_path / "src.safetensors"
    bf = np.array([1.5, -2, 3], ml_dtypes.bfloat16)
    f8 = np.array([0.5, -1, 2], ml_dtypes.float8_e4m3fn)
    save_file({"bf": bf, "f8": f8}, st)
    out = tmp_path / "out.npz"
    ckpt.ok("convert", st, out, "--to", "npz")
    with np.load(out) as loaded:
        assert loaded["bf"].dtype == np.dtype("V2") and _bits(loaded["bf"]) == _bits(bf)
        assert loaded["f8"].dtype == np.dtype("V1") and _bits(loaded["f8"]) == _bits(f8)
    tree = ckpt_json("tree", out, "--json")["tree"]["children"]
    assert tree["bf"]["dtype"] == "bfloat16" and tree["f8"]["dtype"] == "float8_e4m3fn"
    # A numpy-written bfloat16 (no sidecar) is read as its raw bits.
    raw = tmp_path / "raw.npz"
    np.savez(raw, bf=bf)
    tree = ckpt_json("tree", raw, "--json")["tree"]["children"]
    assert tree["bf"]["dtype"] == "uint16"
    assert _cat(ckpt, raw, "bf") == _bits(bf)


def test_object_arrays_are_refused_without_unpickling(ckpt, tmp_path):
    src = tmp_path / "obj.npz"
    np.savez(src, o=np.array([{"a": 1}], dtype=object))
    ckpt.fails("tree", src, mentions=[str(src), "o.npy"])


def _npy(arr_header: str, data: bytes) -> bytes:
    header = arr_header.encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("case,entries,entry", [
    ("lying", {"w.npy": _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", b"\0" * 8)},
     "w.npy"),
    ("traversal", {"../x.npy": _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8)},
     "../x.npy"),
])
def test_bad_input_via_cli(ckpt, tmp_path, case, entries, entry):
    bad = tmp_path / f"{case}.npz"
    bad.write_bytes(_zip(entries))
    dst_dir = tmp_path / "dst"
    dst_dir.mkdir()
    cp = ckpt("convert", bad, dst_dir / "out.safetensors", "--to", "safetensors", memory_limit=True)
    assert cp.returncode == 1
    check_clean_failure(cp, mentions=[str(bad), entry])
    assert list(dst_dir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, "dst"])
    assert not (tmp_path.parent / "x.npy").exists()
