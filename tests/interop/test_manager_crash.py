"""Crash safety of CheckpointManager: SIGKILL the saving process at random moments.

manager_tool saves step after step (async, max_to_keep with a best metric, so steps are also
deleted) into one root; each trial kills it after a random delay — during start-up and tmp
cleanup, snapshots, writes, the commit rename or retention deletes — then checks that every step
our listing and Orbax's CheckpointManager list is the same set, restores bit-exact with the right
metrics, and that nothing else in the root looks like a step (no step is half visible).
CKPT_CRASH_TRIALS overrides the number of trials (default 200).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import orbax.checkpoint as ocp
import pytest

from managertrees import assert_tree_equal, loss_of, run_tool, tool_path

TRIALS = int(os.environ.get("CKPT_CRASH_TRIALS", "200"))
TMP = ".orbax-checkpoint-tmp"


def test_sigkill_never_leaves_a_half_visible_step(tmp_path):
    tool = tool_path()
    root = tmp_path / "root"
    rng = random.Random(20261130)
    flags = ["--max-to-keep", "3", "--best-metric", "loss", "--best-mode", "min",
             "--rows", "256"]
    options = ocp.CheckpointManagerOptions(read_only=True, best_fn=lambda m: m["loss"],
                                           best_mode="min")
    next_step = 0
    killed_mid_save = 0
    seen_tmp = 0
    for trial in range(TRIALS):
        extra = ["--cleanup"] if trial % 2 else []
        proc = subprocess.Popen([tool, "save", str(root), str(next_step), "0", *flags, *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.35))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, err.decode(errors="replace"))
        saved = [int(line.split()[1]) for line in out.decode().splitlines() if line.startswith("saved ")]
        if saved:
            killed_mid_save += 1

        entries = sorted(p.name for p in root.iterdir()) if root.exists() else []
        seen_tmp += any(TMP in name for name in entries)
        verify = run_tool(tool, "verify", root, "--best-metric", "loss", "--best-mode", "min",
                          check=False)
        report = json.loads(verify.stdout)
        assert verify.returncode == 0 and report["bad"] == [], (trial, report, entries)
        ours = report["steps"]
        # Everything in the root is a committed step or a temporary directory.
        assert sorted(str(s) for s in ours) == sorted(n for n in entries if TMP not in n), (trial, entries)
        for s in ours:
            assert (root / str(s) / "commit_success.txt").is_file(), (trial, s)
            assert (root / str(s) / "_CHECKPOINT_METADATA").is_file(), (trial, s)

        if root.exists():
            with ocp.CheckpointManager(root, options=options) as mgr:
                assert list(mgr.all_steps()) == ours, (trial, entries)
                if ours:
                    assert mgr.best_step() == report["best_step"], trial
                for s in ours:
                    assert_tree_equal(mgr.restore(s), s)
                    assert mgr.metrics(s) == {"loss": loss_of(s)}, (trial, s)
        next_step = max([next_step, *(s + 1 for s in ours), *(s + 1 for s in saved)])

    assert next_step > TRIALS // 2, "the writer hardly ever got to save: kills came too early"
    assert killed_mid_save > TRIALS // 3
    print(f"{TRIALS} SIGKILL trials, {next_step} steps started, "
          f"{seen_tmp} trials left a temporary directory behind")
