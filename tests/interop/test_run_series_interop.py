"""`ckpt series`, `ckpt changes` and the doctor's stats-jump against a training run written by the
real orbax-checkpoint CheckpointManager: four steps of known values where every leaf grows by 1%
a step, except that one leaf is 100 times larger at step 3 only, and one leaf appears at step 4.
The per-step numbers must equal numpy's (norm, mean, std, max-abs, rtol 1e-6), `ckpt changes`
must rank the jumped leaf first, and `ckpt doctor` must report stats-jump for exactly that leaf at
step 3 (and at step 4, where it falls back), nowhere else.
"""

from __future__ import annotations

import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import describe, strict_json_loads

STEPS = (1, 2, 3, 4)
JUMP_STEP = 3
JUMP_LEAF = ("params", "dense", "kernel")
LATE_LEAF = ("extra",)  # saved at the last step only
ITEM = "default"  # CheckpointManager's item name for a single-item save
RTOL = 1e-6


def _states():
    rng = np.random.default_rng(42)
    kernel = rng.standard_normal((16, 8)).astype(np.float32)
    bias = (rng.standard_normal(8) + 0.5).astype(np.float32)
    embed = rng.standard_normal((10, 4)).astype(np.float32)
    states = {}
    for step in STEPS:
        k = np.float32(1 + 0.01 * step)
        jump = np.float32(100 if step == JUMP_STEP else 1)
        state = {"params": {"dense": {"kernel": kernel * k * jump, "bias": bias * k},
                            "embed": embed * k}}
        if step == STEPS[-1]:
            state["extra"] = np.arange(6, dtype=np.float32)
        states[step] = state
    return states


def _keypath(path) -> str:
    return "/".join((ITEM, *path))


def _leaf(state, path):
    node = state
    for key in path:
        node = node[key]
    return node


def _leaves(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _leaves(value)
    else:
        yield tree


def _expected(arrays):
    x = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    return {"count": x.size, "norm": float(np.linalg.norm(x)), "mean": float(x.mean()),
            "std": float(x.std()), "max_abs": float(np.abs(x).max())}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run_series") / "run"
    states = _states()
    with ocp.CheckpointManager(root) as mngr:
        for step in STEPS:
            mngr.save(step, args=ocp.args.StandardSave(states[step]))
        mngr.wait_until_finished()
        assert list(mngr.all_steps()) == list(STEPS)
    return root, states


def _check_point(point, expected, step):
    assert point["error"] is None, point
    assert point["count"] == expected["count"], (step, point)
    for key in ("norm", "mean", "std", "max_abs"):
        assert point[key] == pytest.approx(expected[key], rel=RTOL), (step, key, point, expected)


def test_series_of_a_leaf_matches_numpy(ckpt, run):
    root, states = run
    report = ckpt.json("series", root, _keypath(JUMP_LEAF), "--json")
    assert report["format"] == "orbax"
    assert [p["step"] for p in report["points"]] == [str(s) for s in STEPS]
    for point, step in zip(report["points"], STEPS):
        assert point["leaves"] == 1
        _check_point(point, _expected([_leaf(states[step], JUMP_LEAF)]), step)
    norms = [p["norm"] for p in report["points"]]
    assert norms[2] / norms[1] == pytest.approx(100 * 1.03 / 1.02, rel=RTOL)


def test_series_of_a_subtree_aggregates_its_leaves(ckpt, run):
    root, states = run
    report = ckpt.json("series", root, f"{ITEM}/params", "--json")
    for point, step in zip(report["points"], STEPS):
        assert point["leaves"] == 3
        _check_point(point, _expected(_leaves(states[step]["params"])), step)
    # Text output: a header and one row per step.
    cp = ckpt.ok("series", root, f"{ITEM}/params")
    lines = cp.stdout.decode().splitlines()
    assert "norm" in lines[1] and "max_abs" in lines[1], describe(cp)
    assert [line.split()[0] for line in lines[2:]] == [str(s) for s in STEPS], describe(cp)


def test_series_reports_a_leaf_missing_in_some_steps_per_step(ckpt, run):
    root, states = run
    report = ckpt.json("series", root, _keypath(LATE_LEAF), "--json")
    points = report["points"]
    for point in points[:-1]:
        assert "norm" not in point and "no key" in point["error"], point
    _check_point(points[-1], _expected([_leaf(states[STEPS[-1]], LATE_LEAF)]), STEPS[-1])
    # A key path in no step at all: every point is an error, exit 1.
    cp = ckpt("series", root, f"{ITEM}/absent", "--json")
    assert cp.returncode == 1, describe(cp)
    assert all(p["error"] for p in strict_json_loads(cp.stdout)["points"]), describe(cp)


def test_changes_rank_the_jumped_leaf_first(ckpt, run):
    root, states = run
    for a, b in ((JUMP_STEP - 1, JUMP_STEP), (JUMP_STEP, JUMP_STEP + 1)):
        report = ckpt.json("changes", root, "--from", a, "--to", b, "--json")
        assert (report["step_a"], report["step_b"]) == (str(a), str(b))
        top = report["top"]
        assert top[0]["path"] == _keypath(JUMP_LEAF), report
        assert len(top) == 3 and report["leaves_changed"] == 3, report
        for entry in top:
            path = tuple(entry["path"].split("/")[1:])
            xa = np.asarray(_leaf(states[a], path), np.float64)
            xb = np.asarray(_leaf(states[b], path), np.float64)
            rel = np.linalg.norm(xb - xa) / np.linalg.norm(xa)
            assert entry["rel_change"] == pytest.approx(rel, rel=RTOL), entry
            assert entry["max_abs_diff"] == pytest.approx(np.abs(xb - xa).max(), rel=RTOL), entry
        assert top[1]["rel_change"] < 0.05 < top[0]["rel_change"], top
    # The leaf saved at the last step only is listed on its own.
    report = ckpt.json("changes", root, "--from", STEPS[-2], "--to", STEPS[-1], "--json")
    assert report["only_in_b"] == [{"path": _keypath(LATE_LEAF), "leaves": 1}], report
    assert report["only_in_a"] == []
    top1 = ckpt.json("changes", root, "--from", 2, "--to", 3, "--top", 1, "--json")
    assert [e["path"] for e in top1["top"]] == [_keypath(JUMP_LEAF)]
    text = ckpt.ok("changes", root, "--from", 2, "--to", 3).stdout.decode()
    assert text.splitlines()[2].split()[-1] == _keypath(JUMP_LEAF), text


def test_doctor_reports_stats_jump_for_exactly_the_jumped_leaf(ckpt, run):
    root, _ = run

    def jumps(step, *extra):
        cp = ckpt("doctor", root, "--step", step, "--json", *extra)
        assert cp.returncode in (0, 1), describe(cp)
        report = strict_json_loads(cp.stdout)
        return report, [f for f in report["findings"] if f["code"] == "stats-jump"]

    report, found = jumps(1)
    assert report["previous_step"] is None and found == [], report
    report, found = jumps(2)
    assert report["previous_step"] == "1" and found == [], report
    assert report["healthy"] is True, report
    report, found = jumps(JUMP_STEP)
    assert report["previous_step"] == str(JUMP_STEP - 1)
    assert [f["path"] for f in found] == [_keypath(JUMP_LEAF)], report
    assert found[0]["severity"] == "warning"
    assert f"since step {JUMP_STEP - 1}" in found[0]["message"], found
    assert report["healthy"] is False
    # The latest step (the default): the leaf fell back by the same factor.
    cp = ckpt("doctor", root, "--json")
    assert cp.returncode == 1, describe(cp)
    latest = strict_json_loads(cp.stdout)
    assert latest["step"] == str(STEPS[-1])
    assert [f["path"] for f in latest["findings"] if f["code"] == "stats-jump"] == \
        [_keypath(JUMP_LEAF)], latest
    # The thresholds are flags: the ×100 jump passes a factor of 200 (with the mean-shift test
    # off), and a factor of 50 still reports it.
    report, found = jumps(JUMP_STEP, "--jump-factor", 200, "--mean-shift-stds", 0)
    assert found == [], report
    report, found = jumps(JUMP_STEP, "--jump-factor", 50, "--mean-shift-stds", 0)
    assert [f["path"] for f in found] == [_keypath(JUMP_LEAF)], report
    cp = ckpt("doctor", root, "--jump-factor", "-3")
    assert cp.returncode == 2 and b"--jump-factor" in cp.stderr, describe(cp)
