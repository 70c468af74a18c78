"""CheckpointManager layout compatibility with the real orbax-checkpoint, both directions.

Ours -> Orbax: steps saved by our CheckpointManager (manager_tool) are listed by Orbax's
CheckpointManager exactly as Orbax's own run of the same saves keeps them (max_to_keep,
keep_period, best_fn/best_mode), with the same best step, and restore bit-exact.
Orbax -> ours: `ckpt steps` lists Orbax's steps, metrics and best step; manager_tool verify
restores every step bit-exact; `ckpt prune` on an Orbax root keeps what Orbax would keep.
"""

from __future__ import annotations

import json
from pathlib import Path

import orbax.checkpoint as ocp
import pytest

from managertrees import assert_tree_equal, loss_of, run_tool, tool_path, tree_of

STEPS = 12
CONFIGS = {
    "latest": dict(max_to_keep=2, keep_period=3),
    "best-min": dict(max_to_keep=3, keep_period=4, best="min"),
    "best-max": dict(max_to_keep=2, keep_period=5, best="max"),
}


@pytest.fixture(scope="module")
def tool() -> str:
    return tool_path()


def orbax_options(cfg: dict | None, read_only: bool = False) -> ocp.CheckpointManagerOptions:
    if cfg is None:  # keep every step, but write metrics (Orbax writes them only with best_fn)
        return ocp.CheckpointManagerOptions(read_only=read_only, best_fn=lambda m: m["loss"],
                                            best_mode="min")
    extra = {}
    if "best" in cfg:
        extra = dict(best_fn=lambda m: m["loss"], best_mode=cfg["best"])
    return ocp.CheckpointManagerOptions(max_to_keep=cfg["max_to_keep"],
                                        keep_period=cfg["keep_period"], read_only=read_only,
                                        **extra)


def tool_flags(cfg: dict) -> list[str]:
    flags = ["--max-to-keep", cfg["max_to_keep"], "--keep-period", cfg["keep_period"]]
    if "best" in cfg:
        flags += ["--best-metric", "loss", "--best-mode", cfg["best"]]
    return [str(f) for f in flags]


def orbax_save_run(root: Path, cfg: dict | None) -> tuple[list[int], int | None]:
    """Orbax's own run of the saves manager_tool makes; returns (all_steps, best_step)."""
    track = cfg is None or "best" in cfg
    with ocp.CheckpointManager(root, options=orbax_options(cfg)) as mgr:
        for s in range(STEPS):
            mgr.save(s, args=ocp.args.StandardSave(tree_of(s)),
                     metrics={"loss": loss_of(s)} if track else None)
        mgr.wait_until_finished()
        return list(mgr.all_steps()), mgr.best_step()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_orbax_lists_and_restores_our_steps(tool, tmp_path, name):
    cfg = CONFIGS[name]
    ours = tmp_path / "ours"
    run_tool(tool, "save", ours, 0, STEPS, *tool_flags(cfg))
    want_steps, want_best = orbax_save_run(tmp_path / "orbax", cfg)

    with ocp.CheckpointManager(ours, options=orbax_options(cfg, read_only=True)) as mgr:
        assert list(mgr.all_steps()) == want_steps
        assert mgr.latest_step() == want_steps[-1]
        assert mgr.best_step() == want_best
        for s in want_steps:
            assert_tree_equal(mgr.restore(s), s)
            if "best" in cfg:
                assert mgr.metrics(s) == {"loss": loss_of(s)}
    # What our own listing says agrees.
    verify = json.loads(run_tool(tool, "verify", ours, *tool_flags(cfg)).stdout)
    assert verify["steps"] == want_steps and verify["bad"] == []
    if "best" in cfg:
        assert verify["best_step"] == want_best


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_we_list_and_restore_orbax_steps(ckpt, tool, tmp_path, name):
    cfg = CONFIGS[name]
    root = tmp_path / "orbax"
    want_steps, want_best = orbax_save_run(root, cfg)
    best_flags = ["--best-metric", "loss", "--best-mode", cfg["best"]] if "best" in cfg else []

    listed = ckpt.json("steps", root, "--json", *best_flags)
    assert [s["step"] for s in listed["steps"]] == want_steps
    assert listed["latest_step"] == want_steps[-1]
    for s in listed["steps"]:
        assert s["items"] == ["default"]
        assert isinstance(s["commit_timestamp_nsecs"], int) and s["bytes"] > 0
        if "best" in cfg:
            assert s["metrics"] == {"loss": loss_of(s["step"])}
            assert s["best"] == (s["step"] == want_best)
    if "best" in cfg:
        assert listed["best_step"] == want_best
    verify = json.loads(run_tool(tool, "verify", root, *best_flags).stdout)
    assert verify["steps"] == want_steps and verify["bad"] == []


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_our_prune_of_an_orbax_root_keeps_what_orbax_keeps(ckpt, tool, tmp_path, name):
    cfg = CONFIGS[name]
    want_steps, _ = orbax_save_run(tmp_path / "policy", cfg)
    root = tmp_path / "all"
    kept_all, _ = orbax_save_run(root, None)  # every step, with metrics
    assert kept_all == list(range(STEPS))

    flags = tool_flags(cfg)
    dry = ckpt.json("prune", root, "--dry-run", "--json", *flags)
    assert dry["kept"] == want_steps
    assert sorted(dry["removed"]) == sorted(set(range(STEPS)) - set(want_steps))
    assert sorted(int(p.name) for p in root.iterdir()) == list(range(STEPS))  # dry run

    done = ckpt.json("prune", root, "--json", *flags)
    assert done["kept"] == want_steps
    assert sorted(p.name for p in root.iterdir()) == sorted(str(s) for s in want_steps)
    with ocp.CheckpointManager(root, options=ocp.CheckpointManagerOptions(read_only=True)) as mgr:
        assert list(mgr.all_steps()) == want_steps
        for s in want_steps:
            assert_tree_equal(mgr.restore(s), s)


def test_orbax_continues_a_root_we_started(tool, tmp_path):
    """Mixed history: we save steps 0-4, Orbax's manager (same options) saves 5-9 on top."""
    cfg = CONFIGS["best-min"]
    root = tmp_path / "mixed"
    run_tool(tool, "save", root, 0, 5, *tool_flags(cfg))
    with ocp.CheckpointManager(root, options=orbax_options(cfg)) as mgr:
        for s in range(5, 10):
            mgr.save(s, args=ocp.args.StandardSave(tree_of(s)), metrics={"loss": loss_of(s)})
        mgr.wait_until_finished()
        orbax_view = list(mgr.all_steps()), mgr.best_step()
    verify = json.loads(run_tool(tool, "verify", root, "--best-metric", "loss",
                                 "--best-mode", "min").stdout)
    assert (verify["steps"], verify["best_step"]) == orbax_view
    assert verify["bad"] == []
