#!/usr/bin/env python3
"""Writes the small OCDBT databases in this folder with the real TensorStore.

The Orbax compatibility fixtures in ../shared/fixtures only hold single-leaf trees with inline
values. These databases cover the rest of the format, each written by tensorstore itself:

  multilevel/    zstd, tiny nodes (interior B+tree nodes, several levels), out-of-line values,
                 21 commits with version_tree_arity_log2 = 2 (version-tree nodes of height 1 and 2),
                 binary keys, empty values, overwrites and deletes.
  numbered_raw/  manifest_kind "numbered" (manifest.ocdbt holds only the config, versions live in
                 manifest.<16 hex>), no compression (raw envelopes), arity 2.
  merged/        the Orbax multi-process layout: per-process databases ocdbt.process_0/ and
                 ocdbt.process_1/ (Orbax's write options) merged into the top-level database with
                 experimental_copy_range_to in one atomic transaction, as
                 orbax.checkpoint's merge_ocdbt_per_process_files does. Values over 1024 bytes
                 stay in the per-process data files, referenced with base path "ocdbt.process_N/".
  empty/         every key deleted again: the latest version has no root.

Each folder gets expected.json: tensorstore's view of the latest state (every key and value, hex),
its dump of the manifest and every version (ts.ocdbt.dump), with integers as decimal strings.

Run with tensorstore 0.1.85 (pip install tensorstore==0.1.85):  python3 make_fixtures.py
"""

import json
import os
import random
import shutil

import tensorstore as ts

HERE = os.path.dirname(os.path.abspath(__file__))
ORBAX_CONFIG = {"max_inline_value_bytes": 1024, "max_decoded_node_bytes": 100000000,
                "compression": {"id": "zstd", "level": 0}}


def url(path):
    return "file://" + path + "/"


def open_db(path, config=None, context=None):
    spec = {"driver": "ocdbt", "base": url(path)}
    if config is not None:
        spec["config"] = config
    return ts.KvStore.open(spec, context=context).result()


def stringify(x):
    """Integers become decimal strings (commit times do not fit in a JSON double)."""
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return str(x)
    if isinstance(x, dict):
        return {k: stringify(v) for k, v in x.items()}
    if isinstance(x, list):
        return [stringify(v) for v in x]
    return x


def collect_versions(base, dump):
    """Every version, oldest first, by dumping version-tree nodes recursively."""
    out = []

    def walk(location):
        node = ts.ocdbt.dump(base, location).result()
        for e in node["entries"]:
            if node["height"] == 0:
                out.append(e)
            else:
                walk(e["location"])

    for ref in dump["version_tree_nodes"]:
        walk(ref["location"])
    out.extend(dump["versions"])
    return out


def write_expected(path):
    db = open_db(path)
    keys = sorted(db.list().result())
    pairs = [[k.hex(), db.read(k).result().value.hex()] for k in keys]
    base = ts.KvStore.open(url(path)).result()
    dump = ts.ocdbt.dump(base).result()
    manifests = sorted(f for f in os.listdir(path) if f.startswith("manifest."))
    numbered = [f for f in manifests if f != "manifest.ocdbt"]
    expected = {
        "written_by": "tensorstore " + TS_VERSION,
        "manifest_file": numbered[-1] if numbered else "manifest.ocdbt",
        "keys": pairs,
        "dump": stringify(dump),
        "all_versions": stringify(collect_versions(base, dump)) if dump.get("versions") else [],
    }
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


def fresh(name):
    path = os.path.join(HERE, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def make_multilevel():
    path = fresh("multilevel")
    rng = random.Random(20260801)
    db = open_db(path, {"max_inline_value_bytes": 16, "max_decoded_node_bytes": 400,
                        "version_tree_arity_log2": 2, "compression": {"id": "zstd", "level": 3}})
    keys = []
    for layer in range(6):
        for leaf in ("bias", "kernel"):
            p = f"params/dense_{layer}/{leaf}/"
            keys += [p + ".zarray", p + "0", p + "0.0", p + "1.0"]
    keys += ["\x00", "\xff\x01", "z\x80", "empty"]
    keys = [k.encode("latin-1") for k in keys]

    def value(n):
        return bytes(rng.randrange(256) for _ in range(n))

    with ts.Transaction() as txn:
        for i, k in enumerate(keys):
            n = 0 if k == b"empty" else rng.choice([1, 5, 16, 17, 40, 90])
            db.with_transaction(txn)[k] = value(n)
    for commit in range(20):  # generations 2..21
        with ts.Transaction() as txn:
            k = keys[rng.randrange(len(keys))]
            if commit % 5 == 4:
                del db.with_transaction(txn)[k]
            else:
                db.with_transaction(txn)[k] = value(rng.choice([3, 16, 30]))
    write_expected(path)


def make_numbered_raw():
    path = fresh("numbered_raw")
    db = open_db(path, {"manifest_kind": "numbered", "compression": None,
                        "version_tree_arity_log2": 1, "max_inline_value_bytes": 8,
                        "max_decoded_node_bytes": 300})
    for commit in range(5):
        with ts.Transaction() as txn:
            for j in range(6):
                key = f"step_{commit}/value_{j:02d}".encode()
                db.with_transaction(txn)[key] = bytes([commit * 16 + j]) * (j * 3)
    write_expected(path)


def make_merged():
    path = fresh("merged")
    rng = random.Random(7)
    for p in range(2):
        child = open_db(os.path.join(path, f"ocdbt.process_{p}"), ORBAX_CONFIG)
        with ts.Transaction() as txn:
            for name in ("a", "b.c"):
                child.with_transaction(txn)[f"{name}/{p}".encode()] = bytes(
                    rng.randrange(256) for _ in range(1500 if name == "a" else 24))
            if p == 0:
                child.with_transaction(txn)[b"a/.zarray"] = b'{"zarr_format":2}'
        write_expected(os.path.join(path, f"ocdbt.process_{p}"))
    context = ts.Context()  # copy_range_to needs both databases in one context
    parent = open_db(path, ORBAX_CONFIG, context)
    txn = ts.Transaction(atomic=True)
    for p in range(2):
        child = open_db(os.path.join(path, f"ocdbt.process_{p}"), context=context)
        child.experimental_copy_range_to(parent.with_transaction(txn)).result()
    txn.commit_sync()
    write_expected(path)


def make_empty():
    path = fresh("empty")
    db = open_db(path, {"compression": {"id": "zstd"}})
    db[b"gone"] = b"soon"
    del db[b"gone"]
    write_expected(path)


TS_VERSION = "0.1.85"

if __name__ == "__main__":
    make_multilevel()
    make_numbered_raw()
    make_merged()
    make_empty()
