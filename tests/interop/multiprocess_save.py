"""Real multi-process JAX saves with orbax-checkpoint, for the sharding interop tests.

`launch(out, num_processes)` starts `num_processes` Python processes on localhost that form one
JAX distributed runtime (`jax.distributed.initialize` with a free coordinator port, CPU devices,
gloo collectives), build arrays sharded across all of them with `NamedSharding`, and save:

  out/item/          ocp.StandardCheckpointer().save(...)   (its defaults: OCDBT, zarr v2)
  out/run/1/default  ocp.CheckpointManager with PyTreeCheckpointHandler(use_zarr3=True)
  out/expected.npz   process 0: every leaf's global value (process_allgather), keyed by param name
  out/layout.json    process 0: devices and their processes, each leaf's mesh and spec
  out/held_<i>.json  process i: the index ranges of the shards it held, per param name

Each process writes only the shards it owns into `ocdbt.process_<i>/`; process 0 merges them into
the item's root manifest. Run as a script with `--worker` it is one of those processes.

The launch is bounded: every process has a timeout, a failure of one kills the others, and the
error names the process and carries the tail of its log.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Leaves of the saved tree: param name -> (global shape, dtype, mesh ("1d" over every device or
# "2d" as (2, devices/2)), partition spec). "scalar" is replicated on every device.
LEAVES = {
    "w": ((8, 6), "float32", "1d", ("x", None)),
    "nested.e": ((4, 8, 3), "bfloat16", "2d", ("a", "b", None)),
    "scalar": ((), "float32", "1d", ()),
    "i": ((2, 16), "int32", "1d", (None, "x")),
    # Big enough that every shard's chunk is stored out of line in the OCDBT data files
    # (over max_inline_value_bytes = 1024 after zstd: random bits do not compress).
    "big": ((16, 128), "float32", "2d", (("a", "b"), None)),
    # Replicated over "b", split over "a": each shard has two replicas on different devices.
    "half": ((6, 4), "int32", "2d", ("a", None)),
}


def global_value(name):
    import ml_dtypes
    import numpy as np

    shape, dtype, _, _ = LEAVES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    if dtype == "int32":
        return rng.integers(-1000, 1000, size=shape, dtype=np.int32)
    values = rng.standard_normal(size=shape).astype(np.float32)
    return values.astype(ml_dtypes.bfloat16) if dtype == "bfloat16" else values


def _worker(args):
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", args.devices_per_process)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}",
                               num_processes=args.num_processes, process_id=args.process_id,
                               initialization_timeout=60)
    import numpy as np
    import orbax.checkpoint as ocp
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = np.array(jax.devices())
    meshes = {"1d": Mesh(devices.reshape(-1), ("x",)),
              "2d": Mesh(devices.reshape(2, -1), ("a", "b"))}

    def nest(flat):
        tree = {}
        for name, value in flat.items():
            *parents, last = name.split(".")
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        return tree

    arrays, globals_ = {}, {}
    for name, (shape, _, mesh, spec) in LEAVES.items():
        value = global_value(name)
        globals_[name] = value
        sharding = NamedSharding(meshes[mesh], PartitionSpec(*spec))
        arrays[name] = jax.make_array_from_callback(shape, sharding, lambda idx, v=value: v[idx])
    tree = nest(arrays)

    out = Path(args.out)
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(out / "item", tree)
    ckptr.wait_until_finished()
    ckptr.close()

    mgr = ocp.CheckpointManager(out / "run",
                                item_handlers=ocp.PyTreeCheckpointHandler(use_zarr3=True))
    mgr.save(1, args=ocp.args.PyTreeSave(tree))
    mgr.wait_until_finished()
    mgr.close()

    # What each process held: the test checks that the writing process ckpt reports for a shard
    # is one that held it.
    held = {name: [[[s.start or 0, s.stop if s.stop is not None else dim]
                    for s, dim in zip(shard.index, a.shape)]
                   for shard in a.addressable_shards]
            for name, a in arrays.items()}
    gathered = {name: np.asarray(multihost_utils.process_allgather(a, tiled=True))
                for name, a in arrays.items()}
    (out / f"held_{args.process_id}.json").write_text(json.dumps(held))
    if args.process_id == 0:
        for name, value in gathered.items():
            if value.tobytes() != globals_[name].tobytes():
                raise SystemExit(f"allgather of {name} differs from the global value")
        np.savez(out / "expected.npz", **gathered)
        layout = {
            "num_processes": args.num_processes,
            "devices": [{"id": int(d.id), "process": int(d.process_index)}
                        for d in devices.reshape(-1)],
            "leaves": {name: {"shape": list(shape), "dtype": dtype, "mesh": mesh,
                              "spec": [list(s) if isinstance(s, tuple) else s for s in spec]}
                       for name, (shape, dtype, mesh, spec) in LEAVES.items()},
        }
        (out / "layout.json").write_text(json.dumps(layout, indent=1))
    multihost_utils.sync_global_devices("multiprocess_save done")
    jax.distributed.shutdown()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LaunchError(RuntimeError):
    pass


def launch(out: Path, num_processes: int = 2, devices_per_process: int = 2,
           timeout: float = 120.0, python: str = sys.executable) -> Path:
    """Runs the multi-process save into `out` (created); returns `out`. Raises LaunchError with
    each failed process's exit status and log tail when a process fails or the timeout passes.
    A coordinator port taken between choosing and binding it is retried once with another."""
    try:
        return _launch_once(out, num_processes, devices_per_process, timeout, python)
    except LaunchError as exc:
        if "ddress already in use" not in str(exc):
            raise
    return _launch_once(out, num_processes, devices_per_process, timeout, python)


def _launch_once(out, num_processes, devices_per_process, timeout, python):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
               XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                          f" --xla_force_host_platform_device_count={devices_per_process}"))
    procs, logs = [], []
    try:
        for i in range(num_processes):
            log = open(out / f"process_{i}.log", "w+b")
            logs.append(log)
            procs.append(subprocess.Popen(
                [python, str(HERE / "multiprocess_save.py"), "--worker", "--process-id", str(i),
                 "--num-processes", str(num_processes), "--port", str(port),
                 "--devices-per-process", str(devices_per_process), "--out", str(out)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True))
        deadline = time.monotonic() + timeout
        while True:
            codes = [p.poll() for p in procs]
            if any(c not in (None, 0) for c in codes) or all(c == 0 for c in codes):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        codes = [p.poll() for p in procs]
        if all(c == 0 for c in codes):
            return out
        problems = []
        for i, (p, c, log) in enumerate(zip(procs, codes, logs)):
            if c == 0:
                continue
            log.flush()
            log.seek(0)
            tail = log.read()[-3000:].decode("utf-8", "replace")
            state = f"exit status {c}" if c is not None else f"still running after {timeout:.0f}s"
            problems.append(f"process {i} ({state}); log tail:\n{tail}")
        raise LaunchError(f"multi-process JAX save of {num_processes} processes on 127.0.0.1:{port} "
                          f"into {out} failed:\n" + "\n".join(problems))
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass
                p.wait()
        for log in logs:
            log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--process-id", type=int, default=0)
    ap.add_argument("--num-processes", type=int, default=2)
    ap.add_argument("--devices-per-process", type=int, default=2)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
    else:
        launch(Path(args.out), args.num_processes, args.devices_per_process, args.timeout)


if __name__ == "__main__":
    main()
