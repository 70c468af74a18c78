"""The browser's statistics (ckpt_core's computeStats, shared by the GUI's Statistics and
Histogram tabs and `ckpt show --json`) against numpy, on checkpoints the real orbax-checkpoint
wrote: exact counts of NaN, +Inf, -Inf and zeros, min/max over the finite values, mean and std,
for float32, bfloat16, float16, int8 and multi-chunk arrays.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import orbax.checkpoint as ocp
import pytest


def _special(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(np.float32) * 3
    flat = a.reshape(-1)
    flat[rng.choice(flat.size, 17, replace=False)] = np.nan
    flat[rng.choice(flat.size, 5, replace=False)] = np.inf
    flat[rng.choice(flat.size, 7, replace=False)] = -np.inf
    flat[rng.choice(flat.size, 11, replace=False)] = 0.0
    return a.astype(dtype)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(7)
    tree = {
        "f32": _special(rng, (64, 33), np.float32),
        "bf16": _special(rng, (40, 40), ml_dtypes.bfloat16),
        "f16": _special(rng, (1000,), np.float16),
        "i8": rng.integers(-128, 128, (50, 20), dtype=np.int8),
        "big": rng.standard_normal((1024, 1024)).astype(np.float32),  # several chunks below
        "zeros": np.zeros((3, 4), np.float32),
    }
    path = tmp_path_factory.mktemp("stats") / "ckpt"
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, {k: jnp.asarray(v) for k, v in tree.items()})
    return path, tree


@pytest.mark.parametrize("key", ["f32", "bf16", "f16", "i8", "big", "zeros"])
def test_statistics_match_numpy(ckpt_json, saved, key):
    path, tree = saved
    a = np.asarray(tree[key])
    f = a.astype(np.float64).reshape(-1)
    stats = ckpt_json("show", path, key, "--json", "--max-values", "0")["stats"]
    want = {
        "count": int(f.size),
        "nan": int(np.isnan(f).sum()),
        "posinf": int(np.isposinf(f).sum()),
        "neginf": int(np.isneginf(f).sum()),
        "zeros": int((f == 0).sum()),
    }
    assert {k: stats[k] for k in want} == want
    finite = f[np.isfinite(f)]
    assert stats["min"] == finite.min() and stats["max"] == finite.max(), stats
    assert math.isclose(stats["mean"], finite.mean(), rel_tol=1e-9, abs_tol=1e-12), stats
    assert any(math.isclose(stats["std"], finite.std(ddof=d), rel_tol=1e-9, abs_tol=1e-12)
               for d in (0, 1)), (stats["std"], finite.std())
