"""Async save of a 1 GiB tree: our CheckpointManager (manager_bench) beside orbax-checkpoint's.

    .venv/bin/python tests/bench/manager_bench.py --bench build/release/tests/bench/manager_bench

Starts manager_bench --stdin (our CheckpointManager holding the tree, timed in C++: memcpy floor,
time the caller is blocked, total save time) and builds the same values as jax.Arrays (CPU) for
orbax's CheckpointManager (async checkpointing, its default), then saves step after step with both
in turn (the order alternating each round), so that both see the same machine, and prints both
side by side with the ratios of the targets: blocked <= 1.2 x memcpy, total <= orbax's total.
Exit 3 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402


def make_tree(mib: int, arrays: int) -> dict:
    elements = mib * (1 << 20) // 4 // arrays
    leaves = {}
    for k in range(arrays):
        i = np.arange(elements, dtype=np.uint64) + np.uint64(k)
        u = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.uint32)
        v = ((u >> np.uint32(16)) & np.uint32(0xFFFF)).astype(np.float32) * np.float32(1e-3)
        leaves[f"layer_{k}"] = jax.device_put(v.reshape(elements // 1024, 1024))
    return {"params": leaves}


class Ours:
    """manager_bench --stdin: one step saved per request, timed inside the C++ process."""

    def __init__(self, bench: str, mib: int, arrays: int, work: str):
        self.proc = subprocess.Popen([bench, "--stdin", "--mib", str(mib), "--arrays", str(arrays),
                                      "--work", work],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self._line() != "READY":
            raise RuntimeError("manager_bench did not start")

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"manager_bench exited with {self.proc.wait()}")
        return line.strip()

    def save(self) -> dict:
        self.proc.stdin.write("save\n")
        self.proc.stdin.flush()
        line = self._line()
        if not line.startswith("STEP "):
            raise RuntimeError(f"manager_bench printed {line!r}")
        return json.loads(line.split(" ", 1)[1])

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=120)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="the built manager_bench")
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--arrays", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ckpt-manager-bench-")
    tree = make_tree(args.mib, args.arrays)
    ours = Ours(args.bench, args.mib, args.arrays, os.path.join(work, "ours"))
    # Steps 0.. of one async orbax CheckpointManager (max_to_keep=1), as manager_bench saves, one
    # step of each in turn: ours then orbax on even rounds, orbax then ours on odd ones, so that a
    # load that comes and goes on the machine falls on both alike.
    ob, ot, mine = [], [], []
    opts = ocp.CheckpointManagerOptions(max_to_keep=1, enable_async_checkpointing=True)
    try:
        with ocp.CheckpointManager(os.path.join(work, "orbax"), options=opts) as mgr:
            def orbax_step(r: int) -> None:
                t0 = time.perf_counter()
                mgr.save(r, args=ocp.args.StandardSave(tree))
                ob.append(time.perf_counter() - t0)
                mgr.wait_until_finished()
                ot.append(time.perf_counter() - t0)

            for r in range(args.repeat):
                if r % 2 == 0:
                    mine.append(ours.save())
                    orbax_step(r)
                else:
                    orbax_step(r)
                    mine.append(ours.save())
        ours.close()
    finally:
        if ours.proc.poll() is None:
            ours.proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    later = lambda v: statistics.median(v[1:] or v)  # noqa: E731
    memcpy_runs = [s["memcpy_s"] for s in mine]
    blocked_runs = [s["blocked_s"] for s in mine]
    total_runs = [s["total_s"] for s in mine]
    # Each save is compared with the memcpy timed just before it in the same process, so that a
    # load that comes and goes falls on both (the fastest memcpy is printed for reference).
    m = min(memcpy_runs)
    blocked_ratio = later([b / c for b, c in zip(blocked_runs, memcpy_runs)])
    first_blocked_ratio = blocked_runs[0] / memcpy_runs[0]
    total_ratio = later(total_runs) / later(ot)
    first_total_ratio = total_runs[0] / ot[0]
    # Per round: our step r against orbax's step r, taken back to back.
    round_ratios = [a / b for a, b in zip(total_runs, ot)]
    print(f"{args.mib} MiB in {args.arrays} float32 arrays; steps 0..{args.repeat - 1} of one "
          f"manager each, interleaved; 'later' = median of steps 1..{args.repeat - 1}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| metric | ours | orbax | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| memcpy of the same bytes into fresh buffers (1 thread, before each save; fastest, "
          f"median) | {m:.3f} s, {statistics.median(memcpy_runs):.3f} s | – | – | – |")
    print(f"| caller blocked, first save | {blocked_runs[0]:.3f} s | {ob[0]:.3f} s "
          f"| {first_blocked_ratio:.2f} x its memcpy ({memcpy_runs[0]:.3f} s) "
          f"| <= 1.2 x memcpy |")
    print(f"| caller blocked, later saves | {later(blocked_runs):.3f} s | {later(ob):.3f} s "
          f"| {blocked_ratio:.2f} x their memcpy | <= 1.2 x memcpy |")
    print(f"| total save, first | {total_runs[0]:.3f} s | {ot[0]:.3f} s "
          f"| {first_total_ratio:.2f} x orbax | <= 1.0 x orbax |")
    print(f"| total save, later saves | {later(total_runs):.3f} s | {later(ot):.3f} s "
          f"| {total_ratio:.2f} x orbax | <= 1.0 x orbax |")
    print("per-round total ratio (ours/orbax): " + " ".join(f"{x:.2f}" for x in round_ratios))
    print(json.dumps({"ours": {"memcpy_runs": memcpy_runs, "blocked_runs": blocked_runs,
                               "total_runs": total_runs},
                      "orbax": {"blocked_runs": ob, "total_runs": ot}}))
    ok = max(blocked_ratio, first_blocked_ratio) <= 1.2 and max(total_ratio, first_total_ratio) <= 1.0
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
