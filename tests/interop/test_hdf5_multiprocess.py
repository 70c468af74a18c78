"""Multi-process HDF5 saves: N real `ckpt convert --to hdf5 --process-index I --process-count N`
processes write one checkpoint directory together — `process_<i>.h5` per process and
`checkpoint.h5`, whose sharded arrays are virtual datasets over them (hdf5/FORMAT.md,
"Multi-process layout"); h5py is the peer.

* N = 1, 2, 4, 8: h5py opens `checkpoint.h5` from another working directory (and after the
  directory was moved) and every leaf equals the global array, bit for bit; the virtual
  dataset's sources are the relative names `process_<i>.h5`.
* An h5py-written virtual dataset over per-process files opens in `ckpt` bit-exact, and
  `ckpt shards` shows which file (process) holds which block.
* Kill trials (test_multiprocess_write.kill_trials with h5py as the reader): one writer of 2 or 4
  is SIGKILLed at a random moment; the target is then the previous or the new checkpoint, never
  anything else. CKPT_MP_KILL_TRIALS (default 30) sets the number;
  `python test_hdf5_multiprocess.py --trials 200` runs them by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import ml_dtypes
import numpy as np

from test_multiprocess_write import assert_same, kill_trials, save, source_tree, write_source


def read_group(group) -> dict:
    """A group of our HDF5 layout as a nested dict of numpy arrays (keys from ckpt_key, true
    dtypes from ckpt_dtype)."""
    import h5py

    out = {}
    for name, obj in group.items():
        key = obj.attrs.get("ckpt_key", name)
        if isinstance(key, bytes):
            key = key.decode()
        if isinstance(obj, h5py.Group):
            out[key] = read_group(obj)
            continue
        value = obj[()]
        true_dtype = obj.attrs.get("ckpt_dtype")
        if isinstance(true_dtype, bytes):
            true_dtype = true_dtype.decode()
        if true_dtype:
            value = value.view(getattr(ml_dtypes, true_dtype))
        out[key] = value
    return out


def restore_h5py(path: Path) -> dict:
    """The checkpoint directory `path` read by h5py with the working directory elsewhere."""
    import h5py
    import hdf5plugin  # noqa: F401  (zstd, filter 32015: our writer's default)

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as elsewhere:
        os.chdir(elsewhere)
        try:
            with h5py.File(Path(path).resolve() / "checkpoint.h5", "r") as f:
                return read_group(f)
        finally:
            os.chdir(cwd)


import pytest  # noqa: E402


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_h5py_reads_an_n_process_save(ckpt, tmp_path, count):
    import h5py

    src = write_source(tmp_path / "src.msgpack", count)
    dst = tmp_path / "ckpt"
    save(ckpt.path, src, dst, count, f"h{count}", to="hdf5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "src.msgpack"]
    assert sorted(p.name for p in dst.iterdir()) == sorted(
        ["checkpoint.h5"] + [f"process_{i}.h5" for i in range(count)])
    want = source_tree(count)
    assert_same(restore_h5py(dst), want, f"N={count}")
    with h5py.File(dst / "checkpoint.h5", "r") as f:
        kernel = f["dense/kernel"]
        assert kernel.is_virtual
        sources = kernel.virtual_sources()
        assert sorted(s.file_name for s in sources) == [f"process_{i}.h5" for i in range(count)]
        assert all(s.dset_name == "/dense/kernel" for s in sources)
        # 3 rows divide no count > 1: a plain dataset in the master.
        assert f["odd"].is_virtual == (count == 1)
    # Moved and renamed, from yet another working directory: the relative sources follow.
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(str(dst), str(moved))
    assert_same(restore_h5py(moved), want, f"N={count}, moved")
    # And our own reader, both ways in.
    for path in (moved, moved / "checkpoint.h5"):
        info = ckpt("info", path, "--json")
        assert info.returncode == 0, info.stderr


def write_h5py_vds(root: Path, count: int, rows: int = 4) -> dict:
    """A checkpoint directory made by h5py alone: per-process source files `process_<i>.h5`
    (each holding its row block of 'w' and of 'g/b'), joined by virtual datasets in
    checkpoint.h5. Returns the global arrays by key path."""
    import h5py

    rng = np.random.default_rng(count)
    w = rng.standard_normal((rows * count, 5)).astype(np.float32)
    b = rng.integers(-100, 100, size=(rows * count,), dtype=np.int64)
    root.mkdir()
    for i in range(count):
        with h5py.File(root / f"process_{i}.h5", "w") as f:
            f.create_dataset("w", data=w[i * rows:(i + 1) * rows], chunks=(1, 5),
                             compression="gzip")
            f.create_dataset("g/b", data=b[i * rows:(i + 1) * rows])
    with h5py.File(root / "checkpoint.h5", "w") as f:
        for key, array in (("w", w), ("g/b", b)):
            layout = h5py.VirtualLayout(shape=array.shape, dtype=array.dtype)
            for i in range(count):
                block = (rows,) + array.shape[1:]
                layout[i * rows:(i + 1) * rows] = h5py.VirtualSource(
                    f"process_{i}.h5", key, shape=block)
            f.create_virtual_dataset(key, layout, fillvalue=0)
        f["replicated"] = np.arange(3, dtype=np.float64)
    return {"w": w, "g/b": b}


def test_ckpt_reads_an_h5py_virtual_checkpoint(ckpt, tmp_path):
    count = 3
    want = write_h5py_vds(tmp_path / "vds", count)
    for key, array in want.items():
        assert ckpt.ok("cat", tmp_path / "vds", key).stdout == array.tobytes(), key
    tree = ckpt.json("tree", tmp_path / "vds", "--json")["tree"]["children"]
    assert tree["w"]["dtype"] == "float32" and tree["w"]["shape"] == [12, 5]
    assert tree["g"]["children"]["b"]["dtype"] == "int64"
    shards = ckpt.json("shards", tmp_path / "vds", "w", "--json")
    assert shards["global_shape"] == [12, 5] and shards["shard_count"] == count
    assert shards["item_processes"] == ["0", "1", "2"]
    assert [(s["start"], s["stop"], s["process"], s["key"]) for s in shards["shards"]] == [
        ([4 * i, 0], [4 * (i + 1), 5], str(i), f"process_{i}.h5:w") for i in range(count)]  # the name as h5py stored it
    text = ckpt("shards", tmp_path / "vds", "g/b")
    assert text.returncode == 0, text.stderr
    assert b"written by processes 0, 1, 2" in text.stdout, text.stdout
    # A re-sharded read across a block boundary (rows 0:6 over blocks of 4) reads both blocks.
    for index in range(2):
        part = ckpt.ok("cat", tmp_path / "vds", "w", "--process-index", index,
                       "--process-count", 2).stdout
        assert part == want["w"][6 * index:6 * (index + 1)].tobytes(), index


def test_ckpt_refuses_a_virtual_dataset_with_a_missing_source(ckpt, tmp_path):
    write_h5py_vds(tmp_path / "vds", 2)
    (tmp_path / "vds" / "process_1.h5").unlink()
    r = ckpt("cat", tmp_path / "vds", "w")
    # h5py would read the missing block as zeros; ckpt names the file and the key path.
    assert r.returncode != 0
    assert b"process_1.h5" in r.stderr and b"checkpoint.h5" in r.stderr and b"'w'" in r.stderr, \
        r.stderr


def test_sigkill_of_one_hdf5_writer_never_commits_a_partial_save(ckpt, tmp_path):
    trials = int(os.environ.get("CKPT_MP_KILL_TRIALS", "30"))
    report = kill_trials(ckpt.path, tmp_path, trials, seed=20261201, to="hdf5",
                         restore=restore_h5py)
    assert report["kept_previous"] > 0, report
    print("\nHDF5 multi-process kill trials:", json.dumps(report))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=200, help="kill trials (needs CKPT_BIN)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        report = kill_trials(os.environ["CKPT_BIN"], Path(work), args.trials, args.seed,
                             to="hdf5", restore=restore_h5py)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
