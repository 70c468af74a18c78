"""Multi-process saves: N real `ckpt convert --process-index I --process-count N` processes write
one Orbax checkpoint together (README, "Multi-process saves"; orbax/FORMAT.md).

* N = 1, 2, 4, 8: the real single-process orbax-checkpoint restores it bit-exact, and the layout
  is multi-process Orbax's (one `ocdbt.process_<i>` database per process, a NamedSharding record
  over an N-device mesh).
* N = 2: a real 2-process JAX job (jax.distributed on localhost) restores it into a sharded
  target (`StandardRestore` of `ShapeDtypeStruct`s with `NamedSharding`), every process getting
  its own shards bit-exact.
* Kill trials: while 2 or 4 processes overwrite a checkpoint, one of them is SIGKILLed at a random
  moment; the target is then the previous checkpoint or (kill after the commit) the new one,
  bit-exact, never anything else, no surviving process claims success for an uncommitted save,
  and the next save succeeds and leaves no temporary behind. CKPT_MP_KILL_TRIALS (default 30)
  sets the number; `python test_multiprocess_write.py --trials 200` runs them by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent
TMP = ".orbax-checkpoint-tmp"


def source_tree(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "dense": {"kernel": rng.standard_normal((16, 6)).astype(np.float32),
                  "bias": rng.integers(-1000, 1000, size=(16,), dtype=np.int32)},
        # Big enough that every shard's chunk is stored out of line (> 1024 bytes compressed).
        "embed": rng.standard_normal((32, 64)).astype(ml_dtypes.bfloat16),
        # 3 rows divide no process count > 1: replicated, written by process 0.
        "odd": rng.standard_normal((3, 5)).astype(np.float32),
    }


def write_source(path: Path, seed: int) -> Path:
    from flax import serialization

    path.write_bytes(serialization.msgpack_serialize(source_tree(seed)))
    return path


def flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def start_writers(ckpt_bin: str, src: Path, dst: Path, count: int, save_id: str,
                  timeout_s: float, overwrite: bool = False,
                  to: str = "orbax") -> list[subprocess.Popen]:
    extra = ["--overwrite"] if overwrite else []
    return [subprocess.Popen([ckpt_bin, "convert", str(src), str(dst), "--to", to,
                              "--process-index", str(i), "--process-count", str(count),
                              "--save-id", save_id, "--barrier-timeout", str(timeout_s), *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
            for i in range(count)]


def finish(procs, timeout=120.0):
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        results.append((p.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
    return results


def save(ckpt_bin, src, dst, count, save_id, overwrite=False, to="orbax"):
    results = finish(start_writers(ckpt_bin, src, dst, count, save_id, 60.0, overwrite, to))
    assert all(rc == 0 for rc, _, _ in results), results
    return results


def restore_single(path: Path) -> dict:
    """StandardCheckpointer.restore in this (single) process. The recorded NamedSharding names
    devices of N processes, so — as for a real multi-process save — Orbax needs a target saying
    where the arrays go: the shapes and dtypes from the checkpoint's metadata, on this device."""
    import jax
    import orbax.checkpoint as ocp

    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as c:
        meta = c.metadata(path)
        tree = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                              tree)
        restored = c.restore(path, target)
    return jax.tree.map(np.asarray, restored)


def assert_same(got: dict, want: dict, what=""):
    g, w = flat(got), flat(want)
    assert sorted(g) == sorted(w), (what, sorted(g), sorted(w))
    for k in w:
        a, b = np.asarray(g[k]), np.asarray(w[k])
        assert a.dtype == b.dtype and a.shape == b.shape, (what, k, a.dtype, a.shape, b.dtype, b.shape)
        assert a.tobytes() == b.tobytes(), (what, k, "bytes differ")


def which_tree(got: dict, candidates: dict) -> str | None:
    for name, want in candidates.items():
        try:
            assert_same(got, want)
            return name
        except AssertionError:
            pass
    return None


# --- pytest ---------------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_single_process_orbax_restores_an_n_process_save(ckpt, tmp_path, count):
    src = write_source(tmp_path / "src.msgpack", count)
    dst = tmp_path / "ckpt"
    save(ckpt.path, src, dst, count, f"n{count}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "src.msgpack"]
    for i in range(count):
        assert (dst / f"ocdbt.process_{i}" / "manifest.ocdbt").is_file()
        assert (dst / "array_metadatas" / f"process_{i}").is_file()
    assert not list(dst.glob(".done.*"))
    sharding = json.loads((dst / "_sharding").read_text())
    kernel = json.loads(sharding["ZGVuc2Uua2VybmVs"])  # urlsafe_b64encode("dense.kernel")
    assert kernel["sharding_type"] == "NamedSharding"
    assert kernel["shape"] == [count] and kernel["partition_spec"] == ["p"]
    assert [d["id"] for d in kernel["device_mesh"]["mesh"]] == [i * 2048 for i in range(count)]
    odd = json.loads(sharding["b2Rk"])  # "odd": 3 rows, replicated unless N = 1
    assert odd["partition_spec"] == ([] if count > 1 else ["p"])
    assert_same(restore_single(dst), source_tree(count), f"N={count}")


def test_two_process_jax_job_restores_its_shards(ckpt, tmp_path):
    src = write_source(tmp_path / "src.msgpack", 2)
    dst = tmp_path / "ckpt"
    save(ckpt.path, src, dst, 2, "jax2")
    results = launch_restore(dst, src, tmp_path, 2)
    for i, r in enumerate(results):
        # Every split leaf gives each process exactly its own row block.
        assert r["process"] == i
        for name in ("dense.kernel", "dense.bias", "embed"):
            shards = r["leaves"][name]
            assert len(shards) == 1, (i, name, shards)
            rows = source_tree(2)["embed" if name == "embed" else "dense"]
            rows = rows if name == "embed" else rows[name.split(".")[1]]
            half = rows.shape[0] // 2
            assert shards[0]["index"][0] == [i * half, (i + 1) * half], (i, name, shards)
        assert len(r["leaves"]["odd"]) == 1 and r["leaves"]["odd"][0]["index"][0] == [0, 3]


def test_sigkill_of_one_writer_never_commits_a_partial_save(ckpt, tmp_path):
    trials = int(os.environ.get("CKPT_MP_KILL_TRIALS", "30"))
    report = kill_trials(ckpt.path, tmp_path, trials, seed=20261130)
    # Both outcomes must have been exercised, or the trials did not test the commit window.
    assert report["kept_previous"] > 0, report
    print("\nmulti-process kill trials:", json.dumps(report))


def test_mismatched_process_counts_are_refused(ckpt, tmp_path):
    src = write_source(tmp_path / "src.msgpack", 3)
    dst = tmp_path / "ckpt"
    procs = [subprocess.Popen([ckpt.path, "convert", str(src), str(dst), "--to", "orbax",
                               "--process-index", str(i), "--process-count", str(n),
                               "--save-id", "m", "--barrier-timeout", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, n in ((0, 2), (1, 3))]
    results = finish(procs)
    assert results[0][0] != 0 and "process count 3" in results[0][2], results
    assert str(dst) in results[0][2]
    assert results[1][0] != 0, results
    assert not dst.exists()
    bad = ckpt("convert", src, dst, "--to", "orbax", "--process-index", "2", "--process-count",
               "2", "--save-id", "x")
    assert bad.returncode != 0 and b"process index 2" in bad.stderr and str(dst).encode() in bad.stderr
    assert not dst.exists()


# --- kill trials ----------------------------------------------------------------------------

def kill_trials(ckpt_bin: str, work: Path, trials: int, seed: int, to: str = "orbax",
                restore=None) -> dict:
    """SIGKILL trials of `ckpt convert --to <to>` multi-process saves; `restore(path)` reads the
    committed checkpoint back as a nested dict of numpy arrays (default: single-process Orbax).
    The HDF5 layout's trials (test_hdf5_multiprocess.py) run this with h5py as the reader."""
    restore = restore or restore_single
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    srcs = {"a": write_source(work / "a.msgpack", 101), "b": write_source(work / "b.msgpack", 202)}
    trees = {name: source_tree(s) for name, s in (("a", 101), ("b", 202))}
    root = work / "root"
    root.mkdir()
    dst = root / "ckpt"
    started = time.monotonic()
    save(ckpt_bin, srcs["a"], dst, 2, "base", to=to)
    duration = max(time.monotonic() - started, 0.05)
    current = "a"
    report = {"trials": trials, "kept_previous": 0, "committed_new": 0, "temporary_left": 0,
              "killed_after_exit": 0, "save_seconds": round(duration, 3)}
    for trial in range(trials):
        count = 2 if trial % 2 == 0 else 4
        new = "b" if current == "a" else "a"
        procs = start_writers(ckpt_bin, srcs[new], dst, count, f"t{trial}", 1.0, overwrite=True,
                              to=to)
        time.sleep(rng.uniform(0.0, duration * 1.3))
        victim = rng.randrange(count)
        already_done = procs[victim].poll() is not None
        if not already_done:
            procs[victim].send_signal(signal.SIGKILL)
        results = finish(procs)
        report["killed_after_exit"] += already_done
        entries = sorted(p.name for p in root.iterdir())
        # Only the checkpoint and temporaries: nothing half-visible.
        assert all(n == "ckpt" or n.startswith("ckpt" + TMP) for n in entries), (trial, entries)
        report["temporary_left"] += any(n != "ckpt" for n in entries)
        got = which_tree(restore(dst), {"a": trees["a"], "b": trees["b"]})
        assert got in (current, new), (trial, "the target is neither the old nor the new save")
        survivors_ok = any(rc == 0 for i, (rc, _, _) in enumerate(results) if i != victim or already_done)
        if got == new:
            report["committed_new"] += 1
        else:
            report["kept_previous"] += 1
            # A process that exited 0 saw the commit: there must be one then.
            assert not survivors_ok, (trial, results)
        current = got
        # The next save succeeds and cleans every stale temporary.
        follow = "b" if current == "a" else "a"
        save(ckpt_bin, srcs[follow], dst, count, f"f{trial}", overwrite=True, to=to)
        assert sorted(p.name for p in root.iterdir()) == ["ckpt"], (trial, list(root.iterdir()))
        assert which_tree(restore(dst), {follow: trees[follow]}) == follow
        current = follow
    return report


# --- the 2-process JAX restore --------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_restore(dst: Path, src: Path, work: Path, count: int, timeout: float = 120.0):
    for attempt in range(2):
        port = free_port()
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        logs = [open(work / f"restore_{i}.log", "w+b") for i in range(count)]
        procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--restore-worker",
                                   "--process-id", str(i), "--num-processes", str(count),
                                   "--port", str(port), "--ckpt", str(dst), "--src", str(src),
                                   "--out", str(work / f"restore_{i}.json")],
                                  stdout=logs[i], stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
                 for i in range(count)]
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                codes = [p.poll() for p in procs]
                if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                    break
                time.sleep(0.1)
            codes = [p.poll() for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        tails = []
        for log in logs:
            log.seek(0)
            tails.append(log.read()[-3000:].decode("utf-8", "replace"))
            log.close()
        if all(c == 0 for c in codes):
            return [json.loads((work / f"restore_{i}.json").read_text()) for i in range(count)]
        if attempt == 0 and any("ddress already in use" in t for t in tails):
            continue
        raise AssertionError(f"2-process restore failed: exit {codes}\n" + "\n---\n".join(tails))
    raise AssertionError("unreachable")


def restore_worker(args):
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 1)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}",
                               num_processes=args.num_processes, process_id=args.process_id,
                               initialization_timeout=60)
    import orbax.checkpoint as ocp
    from flax import serialization
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    want = flat(serialization.msgpack_restore(Path(args.src).read_bytes()))
    mesh = Mesh(np.array(jax.devices()), ("p",))

    def target_of(value):
        split = value.ndim > 0 and value.shape[0] % args.num_processes == 0
        spec = PartitionSpec("p") if split else PartitionSpec()
        return jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=NamedSharding(mesh, spec))

    target = jax.tree.map(target_of, serialization.msgpack_restore(Path(args.src).read_bytes()))
    with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as c:
        restored = c.restore(Path(args.ckpt), args=ocp.args.StandardRestore(target))
    got = flat(restored)
    leaves = {}
    for name, array in got.items():
        shards = []
        for shard in array.addressable_shards:
            index = [[s.start or 0, s.stop if s.stop is not None else dim]
                     for s, dim in zip(shard.index, array.shape)]
            data = np.asarray(shard.data)
            expected = want[name][shard.index]
            if data.dtype != expected.dtype or data.tobytes() != expected.tobytes():
                raise SystemExit(f"process {args.process_id}: shard {index} of {name} differs")
            if shard.device.process_index != args.process_id:
                raise SystemExit(f"{name}: shard on a device of another process")
            shards.append({"index": index})
        leaves[name] = shards
    Path(args.out).write_text(json.dumps({"process": args.process_id, "leaves": leaves}))
    multihost_utils.sync_global_devices("restore done")
    jax.distributed.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--restore-worker", action="store_true")
    ap.add_argument("--process-id", type=int, default=0)
    ap.add_argument("--num-processes", type=int, default=2)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ckpt")
    ap.add_argument("--src")
    ap.add_argument("--out")
    ap.add_argument("--trials", type=int, default=200, help="kill trials (needs CKPT_BIN)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.restore_worker:
        restore_worker(args)
        return
    import tempfile

    os.environ["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as work:
        report = kill_trials(os.environ["CKPT_BIN"], Path(work), args.trials, args.seed)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
