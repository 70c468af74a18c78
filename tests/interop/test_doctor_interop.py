"""`ckpt doctor` against checkpoints the real peers wrote: orbax-checkpoint (StandardCheckpointer
with OCDBT, a per-array-directory PyTree checkpoint, a CheckpointManager run) and flax msgpack.
Problems are planted the way they happen in practice (a NaN in the saved state, a truncated chunk
file, an interrupted save, a deleted array directory) and must come back as findings naming the
leaf; healthy checkpoints exit 0 with "healthy": true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import flax.serialization
import numpy as np
import orbax.checkpoint as ocp

from conftest import describe, strict_json_loads

HEALTHY, PROBLEMS = 0, 1


def _state(nan: bool = False):
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((8, 5)).astype(np.float32)
    if nan:
        kernel[1, 2] = np.nan
        kernel[3, 4] = np.nan
        kernel[7, 0] = np.nan
    return {"params": {"dense": {"kernel": kernel,
                                 "bias": rng.standard_normal(5).astype(np.float32)}},
            "step": np.arange(3, dtype=np.int32) + 1}


def doctor(ckpt, path: Path, *extra):
    cp = ckpt("doctor", path, "--json", *extra)
    assert cp.returncode in (HEALTHY, PROBLEMS), describe(cp)
    report = strict_json_loads(cp.stdout)
    assert report["healthy"] == (cp.returncode == HEALTHY), describe(cp)
    return cp.returncode, report


def findings(report, code):
    return [f for f in report["findings"] if f["code"] == code]


def _save_per_array_dirs(path: Path, state) -> None:
    ckptr = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_ocdbt=False))
    ckptr.save(path, state)
    ckptr.close()


def test_nan_leaf_in_standard_checkpoint(ckpt, tmp_path):
    path = tmp_path / "ckpt"
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, _state(nan=True))
    code, report = doctor(ckpt, path)
    assert code == PROBLEMS
    nan = findings(report, "nan")
    assert len(nan) == 1, report
    assert nan[0]["severity"] == "error"
    assert nan[0]["path"] == "params/dense/kernel"
    assert "3 NaN of 40" in nan[0]["message"]
    assert report["census"]["float32"] == {"count": 2, "bytes": 4 * (40 + 5)}
    assert report["census"]["int32"] == {"count": 1, "bytes": 12}
    # Text output groups by severity and ends with a summary.
    text = ckpt("doctor", path)
    assert text.returncode == PROBLEMS, describe(text)
    out = text.stdout.decode()
    assert "errors (1):" in out and "[nan] params/dense/kernel" in out and "problems found" in out


def test_truncated_chunk_is_a_read_error(ckpt, tmp_path):
    path = tmp_path / "ckpt"
    _save_per_array_dirs(path, _state())
    array_dir = path / "params.dense.kernel"
    assert array_dir.is_dir(), sorted(p.name for p in path.iterdir())
    chunks = [p for p in array_dir.rglob("*")
              if p.is_file() and p.name not in (".zarray", ".zattrs", "zarr.json")]
    assert chunks, sorted(array_dir.rglob("*"))
    data = chunks[0].read_bytes()
    chunks[0].write_bytes(data[: len(data) // 2])
    code, report = doctor(ckpt, path)
    assert code == PROBLEMS
    errors = findings(report, "read-error")
    assert [f["path"] for f in errors] == ["params/dense/kernel"], report
    assert errors[0]["severity"] == "error"


def test_uncommitted_manager_step(ckpt, tmp_path):
    root = tmp_path / "run"
    with ocp.CheckpointManager(root) as mngr:
        mngr.save(1, args=ocp.args.StandardSave(_state()))
        mngr.wait_until_finished()
    # What an interrupted save of step 2 leaves behind: orbax writes to a temporary directory and
    # renames it only on commit.
    tmp = root / "2.orbax-checkpoint-tmp-1700000000"
    (tmp / "default").mkdir(parents=True)
    code, report = doctor(ckpt, root)
    assert code == PROBLEMS
    assert report["step"] == "1"
    inc = findings(report, "incomplete-step")
    assert len(inc) == 1 and "step 2" in inc[0]["message"], report
    assert not findings(report, "nan") and not findings(report, "read-error")


def test_deleted_array_directory(ckpt, tmp_path):
    path = tmp_path / "ckpt"
    _save_per_array_dirs(path, _state())
    shutil.rmtree(path / "params.dense.bias")
    code, report = doctor(ckpt, path)
    assert code == PROBLEMS
    missing = findings(report, "missing-data")
    assert [f["path"] for f in missing] == ["params/dense/bias"], report
    assert missing[0]["severity"] == "error"


def test_healthy_orbax_and_flax(ckpt, tmp_path):
    path = tmp_path / "ckpt"
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, _state())
    code, report = doctor(ckpt, path)
    assert code == HEALTHY, report
    assert report["healthy"] is True
    assert not [f for f in report["findings"] if f["severity"] != "info"], report

    msgpack = tmp_path / "state.msgpack"
    msgpack.write_bytes(flax.serialization.to_bytes(_state()))
    code, report = doctor(ckpt, msgpack)
    assert code == HEALTHY, report
    assert report["census"]["float32"]["count"] == 2


def test_unopenable_path_exits_2(ckpt, tmp_path):
    cp = ckpt("doctor", tmp_path / "absent")
    assert cp.returncode == 2, describe(cp)
    assert cp.stderr
