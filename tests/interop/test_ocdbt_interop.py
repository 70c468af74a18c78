"""OCDBT interop with the real TensorStore (the library Orbax stores arrays through).

Our writer (OcdbtWriter, driven by the test-only `ocdbt_tool write`) must produce databases that
`tensorstore.KvStore.open({"driver": "ocdbt", ...})` lists and reads exactly; and databases that
TensorStore writes (several generations, out-of-line values, split B+tree nodes, other configs)
must read back through our OcdbtStore (`ocdbt_tool dump`) exactly as TensorStore lists them.

CKPT_OCDBT_TOOL names the driver (CMake sets it for the `interop` test); unset is a failure.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
import tensorstore as ts

TOOL_ENV = "CKPT_OCDBT_TOOL"


@pytest.fixture(scope="module")
def tool() -> str:
    path = os.environ.get(TOOL_ENV)
    if not path:
        pytest.fail(f"{TOOL_ENV} is not set: point it at the built ocdbt_tool "
                    "(build/dev/tests/core/ocdbt_tool)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{TOOL_ENV}={path} is not an executable")
    return path


def run_tool(tool: str, *args, input: bytes | None = None) -> bytes:
    cp = subprocess.run([tool, *map(str, args)], input=input, capture_output=True, timeout=300)
    assert cp.returncode == 0, (f"ocdbt_tool {' '.join(map(str, args))} failed "
                                f"({cp.returncode}): {cp.stderr.decode(errors='replace')}")
    return cp.stdout


def our_write(tool: str, db: Path, kvs: dict[bytes, bytes]) -> None:
    """Writes `kvs` with our writer (keys hex-encoded so any bytes pass)."""
    doc = {k.hex(): v.hex() for k, v in kvs.items()}
    run_tool(tool, "write", db, "--hex-keys", input=json.dumps(doc).encode())


def our_dump(tool: str, db: Path) -> dict[bytes, bytes]:
    out = json.loads(run_tool(tool, "dump", db, "--hex-keys"))
    return {bytes.fromhex(k): bytes.fromhex(v) for k, v in out.items()}


def ts_open(db: Path, **extra) -> ts.KvStore:
    spec = {"driver": "ocdbt", "base": f"file://{db}"}
    spec.update(extra)
    return ts.KvStore.open(spec).result()


def ts_contents(db: Path) -> dict[bytes, bytes]:
    kv = ts_open(db)
    keys = sorted(kv.list().result())
    out = {}
    for k in keys:
        r = kv.read(k).result()
        assert r.state == "value", f"tensorstore lists {k!r} but cannot read it"
        out[bytes(k)] = bytes(r.value)
    return out


def ts_list(db: Path) -> list[bytes]:
    return [bytes(k) for k in ts_open(db).list().result()]


def ts_manifest(db: Path) -> dict:
    """tensorstore's own decoding of the manifest (ts.ocdbt.dump)."""
    return ts.ocdbt.dump(ts.KvStore.open(f"file://{db}/").result()).result()


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


# --- our writer, tensorstore reads -------------------------------------------------------------

def check_ts_reads_ours(tool: str, tmp_path: Path, kvs: dict[bytes, bytes]) -> Path:
    db = tmp_path / "ours"
    our_write(tool, db, kvs)
    assert (db / "manifest.ocdbt").is_file()
    listed = ts_list(db)  # tensorstore lists subtrees concurrently: order is not guaranteed
    assert len(listed) == len(kvs), "tensorstore lists a different number of keys"
    assert sorted(listed) == sorted(kvs), "tensorstore lists different keys"
    got = ts_contents(db)
    assert got.keys() == kvs.keys()
    for k, v in kvs.items():
        assert got[k] == v, f"value of {k!r} differs ({len(got[k])} vs {len(v)} bytes)"
    # Our own reader agrees too.
    assert our_dump(tool, db) == kvs
    # tensorstore decodes our manifest to Orbax's config and one generation.
    m = ts_manifest(db)
    cfg = m["config"]
    assert cfg["max_inline_value_bytes"] == 1024
    assert cfg["max_decoded_node_bytes"] == 100000000
    assert cfg["version_tree_arity_log2"] == 4
    assert cfg["compression"]["id"] == "zstd"
    assert cfg["compression"].get("level", 0) == 0  # tensorstore omits the default level
    assert m["version_tree_nodes"] == []
    assert [v["generation_number"] for v in m["versions"]] == [1]
    if kvs:
        stats = m["versions"][0]["root"]["statistics"]
        assert stats["num_keys"] == len(kvs)
        assert stats["num_indirect_value_bytes"] == sum(len(v) for v in kvs.values() if len(v) > 1024)
    return db


def test_ts_reads_our_empty_db(tool, tmp_path):
    db = check_ts_reads_ours(tool, tmp_path, {})
    assert not (db / "d").exists() or not any((db / "d").iterdir())


def test_ts_reads_our_small_values(tool, tmp_path):
    kvs = {b"a": b"", b"b": b"x", b"c/.zarray": b'{"zarr_format":2}', b"inline1024": b"i" * 1024}
    check_ts_reads_ours(tool, tmp_path, kvs)


def test_ts_reads_our_large_values(tool, tmp_path):
    rng = random.Random(1)
    kvs = {
        b"v1025": rand_bytes(rng, 1025),
        b"v1MiB": rand_bytes(rng, 1 << 20),
        b"v5MiB": rand_bytes(rng, 5 << 20),
        b"small": b"s",
        b"zero": b"",
    }
    db = check_ts_reads_ours(tool, tmp_path, kvs)
    data_files = list((db / "d").iterdir())
    assert len(data_files) == 1 and len(data_files[0].name) == 32
    int(data_files[0].name, 16)


def test_ts_reads_many_keys_with_shared_prefixes(tool, tmp_path):
    rng = random.Random(2)
    kvs = {}
    for layer in range(40):
        kvs[f"params/encoder/layer_{layer}/kernel/.zarray".encode()] = b'{"chunks":[4,4]}'
        for chunk in range(500):
            size = rng.choice([0, 1, 8, 100, 1024, 1025, 3000])
            kvs[f"params/encoder/layer_{layer}/kernel/{chunk // 10}.{chunk % 10}".encode()] = \
                rand_bytes(rng, size)
    assert len(kvs) > 20000  # several leaves and an interior level
    db = check_ts_reads_ours(tool, tmp_path, kvs)
    assert ts_manifest(db)["versions"][0]["root_height"] >= 1


def test_ts_reads_unicode_keys_and_binary_values(tool, tmp_path):
    rng = random.Random(3)
    keys = ["größe/ä", "日本語/キー", "emoji/😀", "mixed/ñ/0.0", "plain", "ünïcödé" * 50]
    kvs = {k.encode("utf-8"): rand_bytes(rng, rng.choice([0, 3, 2000])) for k in keys}
    kvs[b"bin/\x00\x01\xff"] = bytes(range(256)) * 10
    kvs[b"\xff\xfe"] = b"\x00" * 5
    kvs[b""] = b"empty key"
    check_ts_reads_ours(tool, tmp_path, kvs)


def test_ts_can_extend_our_db(tool, tmp_path):
    """TensorStore commits a second generation on top of ours (it accepts our manifest as its own)."""
    kvs = {b"a": b"1", b"big": b"B" * 5000}
    db = check_ts_reads_ours(tool, tmp_path, kvs)
    kv = ts_open(db)
    kv.write(b"c", b"3").result()
    kv.write(b"big2", b"C" * 4000).result()
    want = {**kvs, b"c": b"3", b"big2": b"C" * 4000}
    assert ts_contents(db) == want
    assert our_dump(tool, db) == want


# --- tensorstore writes, our reader dumps ------------------------------------------------------

def ts_write(db: Path, kvs: dict[bytes, bytes], *, batches: int = 1, **extra) -> None:
    kv = ts_open(db, **extra)
    items = list(kvs.items())
    per = max(1, (len(items) + batches - 1) // batches)
    for start in range(0, len(items), per):
        txn = ts.Transaction()
        for k, v in items[start:start + per]:
            kv.with_transaction(txn).write(k, v).result()
        txn.commit_async().result()


def check_we_read_theirs(tool: str, db: Path, kvs: dict[bytes, bytes]) -> None:
    theirs = ts_contents(db)
    assert theirs == kvs
    assert our_dump(tool, db) == theirs


def test_we_read_ts_single_generation(tool, tmp_path):
    rng = random.Random(4)
    kvs = {f"k/{i:05d}".encode(): rand_bytes(rng, rng.choice([0, 5, 99, 101, 2000]))
           for i in range(3000)}
    db = tmp_path / "ts1"
    ts_write(db, kvs)
    check_we_read_theirs(tool, db, kvs)


def test_we_read_ts_many_generations(tool, tmp_path):
    """40 commits: inline versions plus version-tree nodes; later commits overwrite and delete."""
    rng = random.Random(5)
    db = tmp_path / "tsgen"
    kv = ts_open(db)
    want: dict[bytes, bytes] = {}
    for gen in range(40):
        k = f"gen/{gen % 13}".encode()
        v = rand_bytes(rng, rng.choice([0, 10, 500, 5000]))
        kv.write(k, v).result()
        want[k] = v
        if gen % 7 == 6:
            dk = f"gen/{(gen + 3) % 13}".encode()
            kv.delete_range(ts.KvStore.KeyRange(dk, dk + b"\x00")).result()
            want.pop(dk, None)
    m = ts_manifest(db)
    assert m["version_tree_nodes"], "expected version-tree nodes after 40+ commits"
    assert m["versions"][-1]["generation_number"] > 40
    check_we_read_theirs(tool, db, want)


def test_we_read_ts_large_values_and_orbax_config(tool, tmp_path):
    rng = random.Random(6)
    kvs = {b"a/.zarray": b"{}", b"a/0": rand_bytes(rng, 3 << 20), b"a/1": rand_bytes(rng, 1025),
           b"a/2": rand_bytes(rng, 1024), b"b": b""}
    db = tmp_path / "tsorbax"
    ts_write(db, kvs, batches=2, config={"max_inline_value_bytes": 1024,
                                         "max_decoded_node_bytes": 100000000,
                                         "compression": {"id": "zstd"}})
    m = ts_manifest(db)
    assert len(m["versions"]) >= 2
    assert m["versions"][-1]["root"]["statistics"]["num_indirect_value_bytes"] == (3 << 20) + 1025
    check_we_read_theirs(tool, db, kvs)


def test_we_read_ts_split_nodes_uncompressed(tool, tmp_path):
    """Small max_decoded_node_bytes forces interior nodes with subtree prefixes; no compression."""
    rng = random.Random(7)
    kvs = {f"params/dense_{i % 7}/kernel/{i}".encode(): rand_bytes(rng, rng.choice([1, 50, 300]))
           for i in range(2000)}
    db = tmp_path / "tssplit"
    ts_write(db, kvs, batches=3, config={"max_decoded_node_bytes": 2048,
                                         "compression": None})
    assert ts_manifest(db)["versions"][-1]["root_height"] >= 2
    check_we_read_theirs(tool, db, kvs)


def test_we_read_ts_unicode_and_binary_keys(tool, tmp_path):
    kvs = {"größe/ä".encode(): b"\x00\xff", "日本語".encode(): b"x" * 300,
           b"\x00bin\xff": bytes(range(256)), b"": b"root"}
    db = tmp_path / "tsuni"
    ts_write(db, kvs)
    check_we_read_theirs(tool, db, kvs)
