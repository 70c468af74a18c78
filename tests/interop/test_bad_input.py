"""Corrupt and hostile input: ckpt must fail cleanly (exit 1..125, message naming the file and,
where a key is involved, the key path), never crash, hang or try to allocate what a header claims.

Every hostile sample is first checked to be rejected by flax.serialization.msgpack_restore too,
so a failure here is never about an input that flax would accept.
"""

from __future__ import annotations

import struct

import ml_dtypes
import msgpack
import numpy as np
import pytest
from flax import serialization

import flaxtrees as ft
from conftest import check_clean_failure, describe, strict_json_loads

E = msgpack.ExtType


def _nd_payload(shape, dtype_name, buf):
    return msgpack.packb((shape, dtype_name, buf), use_bin_type=True)


def _sample_tree():
    return {
        "params": {
            "Dense_0": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3), "bias": np.zeros(3, np.float32)},
            "norm": np.ones(4, ml_dtypes.bfloat16),
        },
        "opt": [np.float32(1.0), "adam", None],
        "step": 5,
        "lr": 0.01,
        "c": 1 + 2j,
        "name": "r\u00fcn",
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    data = serialization.to_bytes(_sample_tree())
    return tmp_path_factory.mktemp("sample"), data


def _flax_rejects(data: bytes) -> bool:
    try:
        serialization.msgpack_restore(data)
    except Exception:
        return True
    return False


def _positions(n: int, count: int) -> list[int]:
    return sorted(set(int(round(x)) for x in np.linspace(0, n - 1, count)))


# ---------------------------------------------------------------------------
# truncation and bit rot


def test_truncated_prefixes(ckpt, sample):
    root, data = sample
    cuts = _positions(len(data), 60)  # includes 0 (empty file) and len-1
    paths = []
    for n in cuts:
        p = root / f"trunc_{n:05d}.msgpack"
        p.write_bytes(data[:n])
        assert _flax_rejects(data[:n]), f"test bug: flax accepts a {n}-byte prefix"
        paths.append(p)
    cps = ckpt.many([("tree", p, "--json") for p in paths], memory_limit=True)
    problems = []
    for p, cp in zip(paths, cps):
        try:
            check_clean_failure(cp, mentions=[p.name])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, f"{len(problems)}/{len(paths)} truncated files mishandled:\n" + "\n".join(problems[:8])


def test_single_byte_flips(ckpt, sample):
    """A flipped byte may still be a valid file; then the output must be valid JSON. Otherwise: clean error."""
    root, data = sample
    paths = []
    for i, pos in enumerate(_positions(len(data), 60)):
        mask = 0xFF if i % 2 == 0 else 0x01
        bad = bytearray(data)
        bad[pos] ^= mask
        p = root / f"flip_{pos:05d}_{mask:02x}.msgpack"
        p.write_bytes(bytes(bad))
        paths.append(p)
    cps = ckpt.many([("tree", p, "--json") for p in paths], memory_limit=True)
    problems = []
    for p, cp in zip(paths, cps):
        if cp.returncode == 0:
            try:
                out = strict_json_loads(cp.stdout)
                assert out.get("format") == "flax" and isinstance(out.get("tree"), dict)
            except Exception as exc:
                problems.append(f"exit 0 but bad JSON ({exc}):" + describe(cp, 300))
            continue
        try:
            check_clean_failure(cp, mentions=[p.name])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, f"{len(problems)}/{len(paths)} flipped files mishandled:\n" + "\n".join(problems[:8])


def test_trailing_garbage(ckpt, sample):
    root, data = sample
    p = root / "trailing.msgpack"
    p.write_bytes(data + b"\x00")
    assert _flax_rejects(p.read_bytes())
    ckpt.fails("tree", p, "--json", mentions=[p.name], memory_limit=True)


# ---------------------------------------------------------------------------
# wrong ext payloads (key path must be named)

W = "params/w"  # every sample below puts the bad leaf at this key path


def _at_w(value) -> bytes:
    return msgpack.packb({"params": {"ok": np.int64(1).tobytes(), "w": value}}, use_bin_type=True)


BAD_LEAVES = {
    "ext1_not_array_int": E(1, msgpack.packb(5)),
    "ext1_two_items": E(1, msgpack.packb([[3], "float32"])),
    "ext1_four_items": E(1, msgpack.packb([[1], "float32", b"\0" * 4, 1], use_bin_type=True)),
    "ext1_map": E(1, msgpack.packb({"shape": [1], "dtype": "float32"})),
    "ext1_empty_payload": E(1, b""),
    "ext1_payload_garbage": E(1, b"\xc1\xc1\xc1"),
    "ext1_payload_trailing": E(1, _nd_payload([1], "float32", b"\0" * 4) + b"\x00"),
    "ext1_unknown_dtype": E(1, _nd_payload([3], "float33", b"\0" * 12)),
    "ext1_object_dtype": E(1, _nd_payload([3], "object", b"\0" * 24)),
    "ext1_empty_dtype": E(1, _nd_payload([3], "", b"\0" * 12)),
    "ext1_buffer_short": E(1, _nd_payload([3], "float32", b"\0" * 8)),
    "ext1_buffer_long": E(1, _nd_payload([2, 2], "float32", b"\0" * 20)),
    "ext1_shape_not_ints": E(1, _nd_payload(["a"], "float32", b"\0" * 4)),
    "ext1_shape_float": E(1, _nd_payload([1.5], "float32", b"\0" * 4)),
    "ext1_huge_2d": E(1, _nd_payload([2**40, 2**40], "float32", b"\0" * 8)),
    "ext1_overflow_2d": E(1, _nd_payload([2**62, 4], "float32", b"\0" * 8)),
    "ext1_u64_dim": E(1, _nd_payload([2**64 - 1], "int8", b"\0" * 8)),
    "ext1_i64_max_dim": E(1, _nd_payload([2**63 - 1, 2], "int8", b"\0" * 8)),
    "ext3_unknown_dtype": E(3, _nd_payload([], "float33", b"\0" * 4)),
    "ext3_buffer_short": E(3, _nd_payload([], "float64", b"\0" * 4)),
    "ext2_one_item": E(2, msgpack.packb([1.0])),
    "ext2_strings": E(2, msgpack.packb(["a", "b"])),
    "ext2_garbage": E(2, b"\xc1"),
    "chunked_bad_total": {"__msgpack_chunked_array__": True, "shape": {"0": 5},
                          "chunks": {"0": np.zeros(2, np.float32)}},
    "chunked_huge_shape": {"__msgpack_chunked_array__": True, "shape": {"0": 2**40, "1": 2**40},
                           "chunks": {"0": np.zeros(2, np.float32)}},
    "chunked_missing_chunks": {"__msgpack_chunked_array__": True, "shape": {"0": 2}},
}


def _encode_bad(value) -> bytes:
    if isinstance(value, dict):  # chunk record: arrays inside need flax's ext encoding
        return msgpack.packb({"params": {"ok": np.int64(1).tobytes(), "w": value}},
                             default=serialization._msgpack_ext_pack, use_bin_type=True)
    return _at_w(value)


@pytest.fixture(scope="module")
def bad_leaf_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_leaves")
    files = {}
    for name, value in BAD_LEAVES.items():
        data = _encode_bad(value)
        assert _flax_rejects(data), f"test bug: flax accepts {name}"
        p = root / f"{name}.msgpack"
        p.write_bytes(data)
        files[name] = p
    return files


@pytest.mark.parametrize("command", ["tree", "cat"])
def test_bad_ext_payloads(ckpt, bad_leaf_files, command):
    names = list(bad_leaf_files)
    argv = [("tree", bad_leaf_files[n], "--json") if command == "tree" else ("cat", bad_leaf_files[n], W)
            for n in names]
    cps = ckpt.many(argv, memory_limit=True)
    problems = []
    for name, cp in zip(names, cps):
        try:
            check_clean_failure(cp, mentions=[bad_leaf_files[name].name, W])
        except AssertionError as exc:
            problems.append(f"[{name}] {exc}")
    assert not problems, f"{len(problems)}/{len(names)} bad leaves mishandled:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------
# absurd sizes and nesting

STRUCTURAL = {
    "array32_4g_root": b"\xdd\xff\xff\xff\xff\xc0",
    "map32_4g_root": b"\xdf\xff\xff\xff\xff\xa1a\xc0",
    "array32_4g_in_map": b"\x81\xa6params\xdd\xff\xff\xff\xff\xc0",
    "bin32_4g": b"\x81\xa1w\xc6\xff\xff\xff\xff" + b"\0" * 16,
    "str32_4g": b"\x81\xa1w\xdb\xff\xff\xff\xff" + b"abc",
    "ext32_4g": b"\x81\xa1w\xc9\xff\xff\xff\xff\x01" + b"\0" * 16,
    "str_key_4g": b"\x81\xdb\xff\xff\xff\xff" + b"k",
    "never_used_c1": b"\xc1",
    "empty_file": b"",
    "deep_arrays_100k": b"\x91" * 100_000 + b"\xc0",
    "deep_maps_100k": b"\x81\xa1a" * 100_000 + b"\xc0",
    "deep_ext_nd_in_arrays": b"\x91" * 100_000 + msgpack.packb(E(1, _nd_payload([1], "float32", b"\0" * 4))),
}


def test_absurd_sizes_and_nesting(ckpt, tmp_path):
    names, paths = list(STRUCTURAL), []
    for name in names:
        data = STRUCTURAL[name]
        assert _flax_rejects(data), f"test bug: flax accepts {name}"
        p = tmp_path / f"{name}.msgpack"
        p.write_bytes(data)
        paths.append(p)
    cps = ckpt.many([("tree", p, "--json") for p in paths], memory_limit=True)
    problems = []
    for name, p, cp in zip(names, paths, cps):
        try:
            check_clean_failure(cp, mentions=[p.name])
        except AssertionError as exc:
            problems.append(f"[{name}] {exc}")
    assert not problems, f"{len(problems)}/{len(names)} hostile files mishandled:\n" + "\n".join(problems)


@pytest.mark.parametrize("command", ["info", "show"])
def test_other_commands_on_hostile_files(ckpt, tmp_path, command):
    """Not just `tree`: every reading command must fail cleanly on the same inputs."""
    samples = {n: STRUCTURAL[n] for n in ("array32_4g_in_map", "bin32_4g", "deep_arrays_100k")}
    samples["huge_2d"] = _encode_bad(BAD_LEAVES["ext1_huge_2d"])
    samples["buffer_short"] = _encode_bad(BAD_LEAVES["ext1_buffer_short"])
    argv, paths = [], []
    for name, data in samples.items():
        p = tmp_path / f"{command}_{name}.msgpack"
        p.write_bytes(data)
        paths.append(p)
        argv.append(("info", p, "--json") if command == "info" else ("show", p, W, "--json"))
    cps = ckpt.many(argv, memory_limit=True)
    problems = []
    for p, cp in zip(paths, cps):
        try:
            check_clean_failure(cp, mentions=[p.name])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# wrong paths, keys and steps


def test_missing_file(ckpt, tmp_path):
    p = tmp_path / "does_not_exist.msgpack"
    ckpt.fails("tree", p, "--json", mentions=[p.name])


def test_missing_key(ckpt, sample):
    root, data = sample
    p = root / "good.msgpack"
    p.write_bytes(data)
    for kp in ("params/Dense_0/nope", "opt/7", "step/x"):
        ckpt.fails("cat", p, kp, mentions=[p.name, kp])
        ckpt.fails("show", p, kp, "--json", mentions=[p.name, kp])


def test_step_directory_errors(ckpt, tmp_path, sample):
    _, data = sample
    empty = tmp_path / "empty_run"
    empty.mkdir()
    ckpt.fails("tree", empty, "--json", mentions=[empty.name])
    d = tmp_path / "run"
    d.mkdir()
    (d / "checkpoint_1").write_bytes(data)
    ckpt.fails("tree", d, "--json", "--step", "99", mentions=[d.name, "99"])
    (d / "checkpoint_3").write_bytes(data[: len(data) // 2])  # latest step is corrupt
    ckpt.fails("tree", d, "--json", mentions=["checkpoint_3"])
    cp = ckpt.ok("cat", d, "step", "--step", "1")
    assert cp.stdout == np.int64(5).tobytes(), describe(cp)


def test_helper_sanity():
    """The hand-made byte strings really are what they claim (guards the tests above)."""
    assert struct.unpack(">I", STRUCTURAL["array32_4g_root"][1:5])[0] == 2**32 - 1
    assert struct.unpack(">I", STRUCTURAL["bin32_4g"][4:8])[0] == 2**32 - 1
    assert len(STRUCTURAL["deep_arrays_100k"]) == 100_001
    assert ft.keypath(["params", "w"]) == W


def test_read_limit_is_configurable(ckpt, sample):
    """CKPT_MAX_READ_BYTES lowers the one-read limit: a 24-byte kernel is refused at 16 bytes,
    naming the file, the key path and the variable; at 1K the same read works; a value that is
    not a byte count stops ckpt at start with exit code 2, naming the variable and the value."""
    import os
    import subprocess

    root, data = sample
    p = root / "limit.msgpack"
    p.write_bytes(data)
    argv = ckpt.argv("cat", p, "params/Dense_0/kernel")
    env = dict(os.environ, CKPT_MAX_READ_BYTES="16")
    cp = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
    cp.args = argv
    check_clean_failure(cp, [p.name, "params/Dense_0/kernel", "CKPT_MAX_READ_BYTES"])
    env["CKPT_MAX_READ_BYTES"] = "1K"
    assert subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=60).stdout == np.arange(6, dtype=np.float32).tobytes()
    # A value that is not a byte count is refused at start (not silently replaced by 64 GiB).
    for bad in ("8GB", "0", "-5", "1.5G"):
        env["CKPT_MAX_READ_BYTES"] = bad
        cp = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL,
                            timeout=60)
        assert cp.returncode == 2, (bad, cp.returncode, cp.stderr)
        assert cp.stdout == b""
        assert f"CKPT_MAX_READ_BYTES='{bad}' is not a byte count".encode() in cp.stderr, cp.stderr
