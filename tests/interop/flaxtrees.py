"""Test trees, the expected `ckpt tree --json` model, and bit-exact comparison helpers.

Everything here is plain Python over what flax itself produces/restores; it does not
run `ckpt`. The expected JSON is derived from `flax.serialization.msgpack_restore`
output, never from our own reading of the file.
"""

from __future__ import annotations

import copy
import math
import struct
from contextlib import contextmanager

import jax.numpy as jnp
import ml_dtypes
import msgpack
import numpy as np
from flax import serialization

# ---------------------------------------------------------------------------
# dtypes

BASE_DTYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
]
ML_DTYPES_WANTED = [
    "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "float8_e4m3b11fnuz", "float8_e4m3", "float8_e3m4", "float8_e8m0fnu",
]
ML_DTYPES = [n for n in ML_DTYPES_WANTED if hasattr(ml_dtypes, n)]
FLOAT8_DTYPES = [n for n in ML_DTYPES if n.startswith("float8_")]
ALL_DTYPES = BASE_DTYPES + ML_DTYPES


def dtype_of(name: str) -> np.dtype:
    if hasattr(ml_dtypes, name):
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


def is_floatish(dt: np.dtype) -> bool:
    """True for numpy floats and the ml_dtypes float types (which numpy calls kind 'V')."""
    if dt.kind == "f":
        return True
    return dt.name in ML_DTYPES


def bits_view(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) \
        else np.ascontiguousarray(a).view(np.uint8)


# ---------------------------------------------------------------------------
# trees

def _random_array(name: str, shape, rng) -> np.ndarray:
    dt = dtype_of(name)
    n = int(np.prod(shape))
    if dt == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    # Arbitrary bit patterns: NaN payloads, denormals, etc. must survive byte-exactly.
    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).reshape(shape).copy()


def _nice_scalar(name: str):
    """A numpy scalar of dtype `name` with an ordinary, exactly representable value."""
    dt = dtype_of(name)
    if dt == np.bool_:
        return np.bool_(True)
    if dt.kind == "i":
        return dt.type(-3)
    if dt.kind == "u":
        return dt.type(200)
    if dt.kind == "c":
        return dt.type(1.5 - 2.25j)
    if name == "float8_e8m0fnu":  # unsigned powers of two only
        return np.asarray(0.25, dtype=np.float64).astype(dt)[()]
    return np.asarray(-1.75, dtype=np.float64).astype(dt)[()]


def build_tree(with_tuples: bool = True, with_jax: bool = True) -> dict:
    """The big mixed tree. `with_tuples=False` for msgpack_serialize (which rejects tuples)."""
    rng = np.random.default_rng(20261129)
    nan, inf = float("nan"), float("inf")
    tree = {
        "params": {
            "Dense_0": {
                "kernel": rng.standard_normal((3, 4)).astype(np.float32),
                "bias": np.zeros((4,), np.float32),
            },
            "LayerNorm_0": {"scale": np.ones((4,), ml_dtypes.bfloat16)},
        },
        "arrays": {name: _random_array(name, (2, 3), rng) for name in ALL_DTYPES},
        "np_scalars": {name: _nice_scalar(name) for name in ALL_DTYPES},
        "np_special": {
            "f32_nan": np.float32(nan),
            "f32_tenth": np.float32(0.1),
            "f16_inf": np.float16(inf),
            "f64_neg_zero": np.float64(-0.0),
            "bf16_neginf": np.asarray(-inf).astype(ml_dtypes.bfloat16)[()],
            "bf16_third": np.asarray(1 / 3).astype(ml_dtypes.bfloat16)[()],
            "c64_special": np.complex64(complex(nan, -inf)),
            "u64_max": np.uint64(2**64 - 1),
            "i64_min": np.int64(-2**63),
            "bool_false": np.bool_(False),
        },
        "py": {
            "int_zero": 0,
            "int_neg": -1,
            "int_pos_fix": 127,
            "int_u8": 200,
            "int_32": 2**31,
            "int_i64_max": 2**63 - 1,
            "int_i64_min": -2**63,
            "int_u64_edge": 2**63,
            "int_u64_max": 2**64 - 1,
            "float_tenth": 0.1,
            "float_one": 1.0,
            "float_2p53": 2.0**53,
            "float_nan": nan,
            "float_inf": inf,
            "float_neginf": -inf,
            "float_neg_zero": -0.0,
            "float_denorm": 5e-324,
            "float_max": 1.7976931348623157e308,
            "true": True,
            "false": False,
            "complex": 1.5 - 2.25j,
            "complex_special": complex(nan, -inf),
            "complex_integral": complex(-0.0, 2.0),
            "str": "hello",
            "str_unicode": "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f389",
            "str_empty": "",
            "bytes": b"\x00\x01\xfe\xff",
            "bytes_empty": b"",
        },
        "shapes": {
            "zero_d_f32": np.array(3.5, np.float32),
            "zero_d_i8": np.array(-7, np.int8),
            "zero_d_bf16": np.array(2.5, ml_dtypes.bfloat16),
            "empty": np.zeros((0,), np.float32),
            "empty_3d": np.zeros((3, 0, 2), np.int16),
            "rank5": np.arange(12, dtype=np.uint16).reshape(2, 1, 3, 1, 2),
            "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
            "big": np.arange(100, dtype=np.float32).reshape(10, 10) / 7,
        },
        "seq": {
            "list": [1, 2.5, np.ones((2,), np.float32), None, "x"],
            "nested": [[1, 2], [3, [np.int16(4)]], {"deep": np.arange(3, dtype=np.int64)}],
            "empty_list": [],
        },
        "none": None,
        "empty_dict": {},
        "keys": {
            "a/b": 1,
            "c\\d": 2,
            "": 3,
            "sp ace": 4,
            "\u00fcn\u00ef": 5,
            "0": 6,
            "e/\\/": np.arange(2, dtype=np.int8),
        },
        "step": 1234,
    }
    if with_tuples:
        tree["seq"]["tuple"] = (np.int32(4), [None, {"deep": np.arange(3, dtype=np.int64)}], (1.0,))
    if with_jax:
        tree["params"]["jax_bf16"] = jnp.arange(6, dtype=jnp.bfloat16).reshape(2, 3)
    return tree


def small_tree(step: int) -> dict:
    """A small checkpoint whose content identifies the step it was written for."""
    return {
        "params": {"w": np.full((3,), step, np.float32), "b": np.arange(step + 1, dtype=np.int32)},
        "step": step,
    }


@contextmanager
def max_chunk_size(n: int):
    """Temporarily lower flax.serialization.MAX_CHUNK_SIZE so small arrays get chunked."""
    old = serialization.MAX_CHUNK_SIZE
    serialization.MAX_CHUNK_SIZE = n
    try:
        yield
    finally:
        serialization.MAX_CHUNK_SIZE = old


def raw_decode(data: bytes):
    """Decode a flax msgpack file exactly as msgpack_restore does, but WITHOUT un-chunking."""
    return msgpack.unpackb(data, ext_hook=serialization._msgpack_ext_unpack, raw=False,
                           strict_map_key=False)


def state_dict_form(obj):
    """Lists/tuples -> {"0": .., "1": ..} recursively (what flax.serialization.to_state_dict does)."""
    if isinstance(obj, dict):
        return {k: state_dict_form(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return {str(i): state_dict_form(v) for i, v in enumerate(obj)}
    return obj


def flax_chunked_form(state_dict, chunk_bytes: int):
    """What flax's msgpack_serialize writes (before msgpack) for `state_dict` with MAX_CHUNK_SIZE=chunk_bytes."""
    with max_chunk_size(chunk_bytes):
        data = serialization.msgpack_serialize(copy.deepcopy(state_dict), in_place=True)
    return raw_decode(data)


# ---------------------------------------------------------------------------
# key paths and leaves

def escape_key(key: str) -> str:
    if key == "":
        return "\\e"
    return key.replace("\\", "\\\\").replace("/", "\\/")


def keypath(keys) -> str:
    return "/".join(escape_key(str(k)) for k in keys)


LEAF_TYPES = (np.ndarray, np.generic, bool, int, float, complex, str, bytes)


def iter_leaves(obj, prefix=()):
    """Yield (keys, value) for every non-None leaf, in file order."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_leaves(v, prefix + (k,))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from iter_leaves(v, prefix + (str(i),))
    elif obj is None:
        return
    elif isinstance(obj, LEAF_TYPES):
        yield prefix, obj
    else:
        raise TypeError(f"unexpected leaf {type(obj)} at {prefix}")


def python_int_dtype(x: int) -> str:
    if -(2**63) <= x < 2**63:
        return "int64"
    if 2**63 <= x < 2**64:
        return "uint64"
    raise ValueError(f"int {x} not representable in msgpack")


def scalar_dtype(x) -> str:
    if isinstance(x, np.generic):
        return x.dtype.name
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return python_int_dtype(x)
    if isinstance(x, float):
        return "float64"
    if isinstance(x, complex):
        return "complex128"
    raise TypeError(type(x))


def leaf_bytes(x) -> bytes:
    """What `ckpt cat` must print for leaf x."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x).tobytes()
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, bytes):
        return x
    return np.asarray(x, dtype=dtype_of(scalar_dtype(x))).tobytes()


# ---------------------------------------------------------------------------
# expected `ckpt tree --json`

def expected_node(x):
    """Map a msgpack_restore output to the NODE JSON of the contract.

    Scalar "value"s are kept as the original Python/numpy object; compare_node
    knows how to check a JSON value against them.
    """
    if isinstance(x, dict):
        return {"type": "dict", "children": {k: expected_node(v) for k, v in x.items()}}
    if isinstance(x, list):
        return {"type": "list", "items": [expected_node(v) for v in x]}
    if isinstance(x, tuple):
        return {"type": "tuple", "items": [expected_node(v) for v in x]}
    if x is None:
        return {"type": "none"}
    if isinstance(x, np.ndarray):
        return {"type": "array", "dtype": x.dtype.name, "shape": list(x.shape)}
    if isinstance(x, str):
        return {"type": "string", "value": x}
    if isinstance(x, bytes):
        return {"type": "bytes", "size": len(x)}
    if isinstance(x, (np.generic, bool, int, float, complex)):
        return {"type": "scalar", "dtype": scalar_dtype(x), "value": x}
    raise TypeError(f"no NODE mapping for {type(x)}")


def _float_token_ok(v, x, dt: np.dtype) -> str | None:
    """Check one JSON float token v against the value x of float dtype dt. Returns error or None."""
    xf = float(np.asarray(x, dtype=dt).astype(np.float64))
    if math.isnan(xf):
        return None if v == "nan" else f"expected 'nan', got {v!r}"
    if math.isinf(xf):
        want = "inf" if xf > 0 else "-inf"
        return None if v == want else f"expected {want!r}, got {v!r}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"expected a JSON number for {xf!r}, got {v!r}"
    # The printed number must round-trip to the very same bits in the scalar's dtype
    # (covers -0.0, denormals, and 17-significant-digit doubles).
    got = np.asarray(float(v), dtype=np.float64).astype(dt)
    if got.tobytes() != np.asarray(x, dtype=dt).tobytes():
        return f"JSON value {v!r} does not round-trip to {xf!r} in {dt.name}"
    return None


def scalar_value_error(v, x) -> str | None:
    dt = dtype_of(scalar_dtype(x))
    if dt == np.bool_:
        return None if (v is True or v is False) and v == bool(x) else f"expected {bool(x)!r}, got {v!r}"
    if dt.kind in "iu":
        if isinstance(v, bool) or not isinstance(v, int):
            return f"expected JSON integer {int(x)}, got {v!r}"
        return None if v == int(x) else f"expected {int(x)}, got {v!r}"
    if dt.kind == "c":
        if not (isinstance(v, list) and len(v) == 2):
            return f"expected [re, im], got {v!r}"
        part = np.dtype("float32" if dt.itemsize == 8 else "float64")
        c = np.asarray(x, dtype=dt)
        return _float_token_ok(v[0], c.real, part) or _float_token_ok(v[1], c.imag, part)
    if is_floatish(dt):
        return _float_token_ok(v, x, dt)
    return f"unhandled dtype {dt}"


def compare_node(actual, expected, path="<root>"):
    """Assert that the JSON NODE `actual` matches `expected` (from expected_node), incl. key order."""
    assert isinstance(actual, dict) and "type" in actual, f"{path}: not a NODE object: {actual!r}"
    et = expected["type"]
    assert actual["type"] == et, f"{path}: type {actual['type']!r}, expected {et!r}"
    if et == "dict":
        ak = list(actual.get("children", {}).keys())
        ek = list(expected["children"].keys())
        assert sorted(ak) == sorted(ek), f"{path}: keys {ak!r}, expected {ek!r}"
        assert ak == ek, f"{path}: key order {ak!r}, expected file order {ek!r}"
        for k in ek:
            compare_node(actual["children"][k], expected["children"][k], f"{path}/{escape_key(k)}")
    elif et in ("list", "tuple"):
        ai, ei = actual.get("items"), expected["items"]
        assert isinstance(ai, list) and len(ai) == len(ei), f"{path}: items {ai!r}, expected {len(ei)} items"
        for i, (a, e) in enumerate(zip(ai, ei)):
            compare_node(a, e, f"{path}/{i}")
    elif et == "none":
        pass
    elif et == "array":
        assert actual.get("dtype") == expected["dtype"], f"{path}: dtype {actual.get('dtype')!r}, expected {expected['dtype']!r}"
        assert actual.get("shape") == expected["shape"], f"{path}: shape {actual.get('shape')!r}, expected {expected['shape']!r}"
    elif et == "scalar":
        assert actual.get("dtype") == expected["dtype"], f"{path}: dtype {actual.get('dtype')!r}, expected {expected['dtype']!r}"
        assert "value" in actual, f"{path}: scalar without value"
        err = scalar_value_error(actual["value"], expected["value"])
        assert err is None, f"{path}: {err}"
    elif et == "string":
        assert actual.get("value") == expected["value"], f"{path}: string {actual.get('value')!r}, expected {expected['value']!r}"
    elif et == "bytes":
        assert actual.get("size") == expected["size"], f"{path}: size {actual.get('size')!r}, expected {expected['size']!r}"
    else:
        raise AssertionError(f"{path}: unknown expected type {et}")


# ---------------------------------------------------------------------------
# `ckpt show --json` value checks

def show_value_errors(values, arr: np.ndarray, limit: int = 10) -> list[str]:
    """Compare a `show --json` "values" list with arr, exactly, as doubles (ints exact)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    errors = []
    if not isinstance(values, list) or len(values) != flat.size:
        return [f"values has {len(values) if isinstance(values, list) else type(values)} entries, expected {flat.size}"]
    dt = arr.dtype
    if dt.kind in "iu":
        for i, (v, x) in enumerate(zip(values, flat.tolist())):
            if isinstance(v, bool) or not isinstance(v, int) or v != x:
                errors.append(f"[{i}] expected {x}, got {v!r}")
                if len(errors) >= limit:
                    break
        return errors
    if dt == np.bool_:
        for i, (v, x) in enumerate(zip(values, flat.tolist())):
            if not isinstance(v, (bool, int)) or v != x:
                errors.append(f"[{i}] expected {x}, got {v!r}")
        return errors[:limit]
    if dt.kind == "c":
        re, im = flat.real.astype(np.float64), flat.imag.astype(np.float64)
        for i, v in enumerate(values):
            if not (isinstance(v, list) and len(v) == 2):
                errors.append(f"[{i}] expected [re, im], got {v!r}")
            else:
                for part, want in ((v[0], re[i]), (v[1], im[i])):
                    e = _double_token_error(part, float(want))
                    if e:
                        errors.append(f"[{i}] {e}")
            if len(errors) >= limit:
                break
        return errors
    with np.errstate(invalid="ignore"):
        ref = flat.astype(np.float64)
    for i, v in enumerate(values):
        e = _double_token_error(v, float(ref[i]))
        if e:
            bits = bits_view(flat[i:i + 1])[0]
            errors.append(f"[{i}] (bits 0x{int(bits):0{2 * dt.itemsize}x}) {e}")
            if len(errors) >= limit:
                break
    return errors


def _double_token_error(v, want: float) -> str | None:
    if math.isnan(want):
        return None if v == "nan" else f"expected 'nan', got {v!r}"
    if math.isinf(want):
        tok = "inf" if want > 0 else "-inf"
        return None if v == tok else f"expected {tok!r}, got {v!r}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"expected {want!r}, got {v!r}"
    got = float(v)
    if got != want or math.copysign(1.0, got) != math.copysign(1.0, want):
        return f"expected {want!r}, got {v!r}"
    return None


# ---------------------------------------------------------------------------
# bit-exact comparison of restored trees

def _f64_bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_bitexact(actual, expected, path="<root>", check_order=True):
    """Same structure, same Python types, same dtypes/shapes, same bytes (NaN payloads included)."""
    assert type(actual) is type(expected), \
        f"{path}: type {type(actual).__name__}, expected {type(expected).__name__} ({expected!r:.80})"
    if isinstance(expected, dict):
        ak, ek = list(actual.keys()), list(expected.keys())
        assert sorted(map(repr, ak)) == sorted(map(repr, ek)), f"{path}: keys {ak!r}, expected {ek!r}"
        if check_order:
            assert ak == ek, f"{path}: key order {ak!r}, expected {ek!r}"
        for k in ek:
            assert_bitexact(actual[k], expected[k], f"{path}/{escape_key(str(k))}", check_order)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)}, expected {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_bitexact(a, e, f"{path}/{i}", check_order)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype}, expected {expected.dtype}"
        assert actual.shape == expected.shape, f"{path}: shape {actual.shape}, expected {expected.shape}"
        assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes(), \
            f"{path}: array bytes differ"
    elif isinstance(expected, np.generic):
        assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype}, expected {expected.dtype}"
        assert np.asarray(actual).tobytes() == np.asarray(expected).tobytes(), \
            f"{path}: scalar bytes differ: {actual!r} vs {expected!r}"
    elif isinstance(expected, float):
        assert _f64_bits(actual) == _f64_bits(expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, complex):
        assert _f64_bits(actual.real) + _f64_bits(actual.imag) == \
            _f64_bits(expected.real) + _f64_bits(expected.imag), f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def seeded_array(name: str, shape, seed: int) -> np.ndarray:
    """A deterministic array of dtype `name`: random bits of sensible range for each kind
    (bool 0/1, integers within ±1000 and the dtype's range, normal floats, complex)."""
    rng = np.random.default_rng(seed)
    dt = dtype_of(name)
    if name == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if name in ("int2", "int4", "uint2", "uint4"):
        info = ml_dtypes.iinfo(dt)
        return rng.integers(int(info.min), int(info.max) + 1, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape).astype(dt)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    return rng.standard_normal(shape).astype(np.float32).astype(dt)
