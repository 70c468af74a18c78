"""safetensors interop: ckpt against the real `safetensors` 0.8.0 package (never skipped).

Note: safetensors 0.8.0's numpy binding cannot *load* F8 tensors (`load_file` asks numpy for
`np.float8_e4m3fn`, which does not exist), so F8 bits are checked through the reference Rust
parser `safetensors.deserialize`, which validates the whole file and hands back raw bytes.
"""

from __future__ import annotations

import json
import struct

import ml_dtypes
import numpy as np
import pytest
import safetensors
from flax import serialization
from safetensors.numpy import load_file, save_file

import flaxtrees as ft
from conftest import check_clean_failure


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _cat(ckpt, path, keypath) -> bytes:
    return ckpt.ok("cat", path, keypath).stdout


def _tensors():
    rng = np.random.default_rng(7)
    return {
        "params.Dense_0.kernel": rng.standard_normal((3, 4)).astype(np.float32),
        "params.Dense_0.bias": rng.standard_normal((4,)).astype(ml_dtypes.bfloat16),
        "params.scale": np.array([0.5, -2.0, np.nan], np.float16),
        "layers.0.w": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False, True]),
        "u8": np.arange(5, dtype=np.uint8),
        "c": np.array([1 + 2j, -3.5j], np.complex64),
        "step": np.array(12, np.int32),
        "empty": np.zeros((0, 3), np.float64),
    }


def test_we_read_reference_files_bitexact(ckpt, ckpt_json, tmp_path):
    src = tmp_path / "ref.safetensors"
    tensors = _tensors()
    save_file(tensors, src, metadata={"format": "np", "note": "hi"})
    out = ckpt_json("tree", src, "--json")
    assert out["format"] == "safetensors"
    tree = out["tree"]
    assert tree["children"]["params"]["children"]["Dense_0"]["children"]["kernel"]["dtype"] == "float32"
    assert tree["children"]["params"]["children"]["Dense_0"]["children"]["bias"]["dtype"] == "bfloat16"
    for name, arr in tensors.items():
        assert _cat(ckpt, src, name.replace(".", "/")) == _bits(arr), name
    info = ckpt.ok("info", src).stdout.decode()
    assert "hi" in info, info


def test_reference_reads_our_output_bitexact(ckpt, tmp_path):
    src = tmp_path / "ref.safetensors"
    tensors = _tensors()
    f8 = {
        "f8.e4m3": np.array([0.5, -448, 1.75], ml_dtypes.float8_e4m3fn),
        "f8.e5m2": np.array([0.25, -57344, 3], ml_dtypes.float8_e5m2),
    }
    save_file(tensors, src)
    out = tmp_path / "out.safetensors"
    ckpt.ok("convert", src, out, "--to", "safetensors")
    # load_file refuses a whole file that holds any F8 tensor, so F8 goes in its own file.
    f8src, f8out = tmp_path / "f8.safetensors", tmp_path / "f8out.safetensors"
    save_file(f8, f8src)
    ckpt.ok("convert", f8src, f8out, "--to", "safetensors")
    header_len = struct.unpack("<Q", out.read_bytes()[:8])[0]
    assert header_len % 8 == 0
    # Everything numpy can hold through load_file (bf16 included), bit-exact.
    loaded = load_file(out)
    for name, arr in tensors.items():
        assert loaded[name].dtype == arr.dtype, name
        assert loaded[name].shape == arr.shape, name
        assert _bits(loaded[name]) == _bits(arr), name
    # F8 through the reference parser (load_file cannot build float8 arrays in 0.8.0).
    raw = dict(safetensors.deserialize(f8out.read_bytes()))
    assert raw["f8.e4m3"]["dtype"] == "F8_E4M3" and bytes(raw["f8.e4m3"]["data"]) == _bits(f8["f8.e4m3"])
    assert raw["f8.e5m2"]["dtype"] == "F8_E5M2" and bytes(raw["f8.e5m2"]["data"]) == _bits(f8["f8.e5m2"])


def test_sharded_index_opens_as_one_tree(ckpt, ckpt_json, tmp_path):
    a = {"model.embed.weight": np.arange(8, dtype=np.float32).reshape(2, 4)}
    b = {"model.layers.0.w": np.ones((3,), ml_dtypes.bfloat16), "lm_head": np.arange(3, dtype=np.int64)}
    save_file(a, tmp_path / "model-00001-of-00002.safetensors")
    save_file(b, tmp_path / "model-00002-of-00002.safetensors")
    index = {
        "metadata": {"total_size": 44},
        "weight_map": {**{k: "model-00001-of-00002.safetensors" for k in a},
                       **{k: "model-00002-of-00002.safetensors" for k in b}},
    }
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    for path in (tmp_path / "model.safetensors.index.json", tmp_path):
        out = ckpt_json("tree", path, "--json")
        assert out["format"] == "safetensors"
        kids = out["tree"]["children"]
        assert set(kids) == {"model", "lm_head"}
        for name, arr in {**a, **b}.items():
            assert _cat(ckpt, path, name.replace(".", "/")) == _bits(arr), name
    # A shard path that leaves the directory is refused, naming the index.
    index["weight_map"]["lm_head"] = "../model-00002-of-00002.safetensors"
    bad = tmp_path / "bad" / "model.safetensors.index.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(index))
    ckpt.fails("tree", bad, mentions=[str(bad)])


def _holdable_flax_tree():
    rng = np.random.default_rng(3)
    return {
        "params": {
            "Dense_0": {"kernel": rng.standard_normal((4, 3)).astype(np.float32),
                        "bias": np.zeros((3,), ml_dtypes.bfloat16)},
            "dotted.name": np.arange(4, dtype=np.int8),
            "f8": np.array([1, 2, -0.5], ml_dtypes.float8_e4m3fn),
        },
        "opt_state": [{"mu": np.ones((2,), np.float64)}, {"count": np.int32(5)}],
        "step": 1000,
        "lr": 0.125,
        "flag": True,
        "note": None,
        "empty": {},
    }


def test_flax_to_safetensors_and_back_bitexact(ckpt, tmp_path):
    tree = _holdable_flax_tree()
    src = tmp_path / "src.msgpack"
    src.write_bytes(serialization.msgpack_serialize(tree))
    mid = tmp_path / "mid.safetensors"
    back = tmp_path / "back.msgpack"
    ckpt.ok("convert", src, mid, "--to", "safetensors")
    ckpt.ok("convert", mid, back, "--to", "flax", "--flax-sequences", "array")
    ft.assert_bitexact(serialization.msgpack_restore(back.read_bytes()),
                       serialization.msgpack_restore(src.read_bytes()))


def test_flax_tree_it_cannot_hold_is_refused(ckpt, tmp_path):
    src = tmp_path / "src.msgpack"
    src.write_bytes(serialization.msgpack_serialize({"params": {"w": np.ones(2, np.float32)},
                                                     "blob": {"raw": b"\x00\x01"}}))
    out = tmp_path / "out.safetensors"
    cp = ckpt("convert", src, out, "--to", "safetensors")
    assert cp.returncode == 1
    check_clean_failure(cp, mentions=["blob/raw"])
    assert not out.exists()
    src.write_bytes(serialization.msgpack_serialize({"z": np.ones(2, np.complex128)}))
    cp = ckpt("convert", src, out, "--to", "safetensors")
    assert cp.returncode == 1
    check_clean_failure(cp, mentions=["z", "complex128"])
    assert not out.exists()


def _with_header(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize("case,header,data,entry", [
    ("overlap", {"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                 "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"xyz", "b"),
    ("out_of_range", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"abcd", "a"),
])
def test_bad_input_via_cli(ckpt, tmp_path, case, header, data, entry):
    bad = tmp_path / f"{case}.safetensors"
    bad.write_bytes(_with_header(header, data))
    # The reference refuses it too.
    with pytest.raises(Exception):
        safetensors.deserialize(bad.read_bytes())
    dst_dir = tmp_path / "dst"
    dst_dir.mkdir()
    cp = ckpt("convert", bad, dst_dir / "out.npz", "--to", "npz", memory_limit=True)
    assert cp.returncode == 1
    check_clean_failure(cp, mentions=[str(bad), f"'{entry}'"])
    assert list(dst_dir.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, "dst"])
