"""Writes a small but realistic Orbax CheckpointManager run for the README screenshots.

Uses the real orbax-checkpoint (from the project's venv): three steps of a 4-layer
transformer-like TrainState (params, Adam mu/nu, step) saved by ocp.CheckpointManager with
StandardSave, so the screenshots show what users see on their own checkpoints.

    .venv/bin/python packaging/screenshots/make_run.py OUT_DIR [REFERENCE_DIR]

With REFERENCE_DIR it also writes what "the new code" saves (a CheckpointManager run of one step):
the head renamed to lm_head, a new batch_stats, the MLP kernels in float32 - the reference the
Conform wizard screenshot conforms the run to.
"""

import sys

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


def low_rank(rng, rows, cols, rank=4, noise=0.02):
    """A weight with visible structure (low rank plus noise), as trained weights have."""
    u = rng.standard_normal((rows, rank)).astype(np.float32)
    v = rng.standard_normal((rank, cols)).astype(np.float32)
    w = (u @ v) / np.sqrt(rows) + noise * rng.standard_normal((rows, cols)).astype(np.float32)
    return w.astype(np.float32)


def make_params(rng, step):
    d, ff, vocab = 256, 1024, 512
    scale = 1.0 + 0.01 * step
    params = {"embed": {"embedding": jnp.asarray(scale * low_rank(rng, vocab, d, rank=8))}}
    for i in range(4):
        params[f"layers_{i}"] = {
            "attention": {
                name: {"kernel": jnp.asarray(scale * low_rank(rng, d, d))}
                for name in ("query", "key", "value", "out")
            },
            "mlp": {
                "wi": {"kernel": jnp.asarray(low_rank(rng, d, ff)).astype(jnp.bfloat16)},
                "wo": {"kernel": jnp.asarray(low_rank(rng, ff, d)).astype(jnp.bfloat16)},
            },
            "norm": {"scale": jnp.ones((d,), jnp.float32), "bias": jnp.zeros((d,), jnp.float32)},
        }
    params["head"] = {"kernel": jnp.asarray(low_rank(rng, d, vocab)),
                      "bias": jnp.zeros((vocab,), jnp.float32)}
    return params


def write_reference(out):
    rng = np.random.default_rng(0)
    params = make_params(rng, 0)
    params["lm_head"] = params.pop("head")
    for i in range(4):
        mlp = params[f"layers_{i}"]["mlp"]
        for name in ("wi", "wo"):
            mlp[name]["kernel"] = mlp[name]["kernel"].astype(jnp.float32)
    state = {
        "step": jnp.asarray(0, jnp.int32),
        "params": params,
        "batch_stats": {"embed_norm": {"mean": jnp.zeros((256,), jnp.float32),
                                       "var": jnp.ones((256,), jnp.float32)}},
        "opt_state": {"mu": make_params(np.random.default_rng(1), 0),
                      "count": jnp.asarray(0, jnp.int32)},
    }
    with ocp.CheckpointManager(out) as manager:
        manager.save(0, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()


def main():
    out = sys.argv[1]
    if len(sys.argv) > 2:
        write_reference(sys.argv[2])
    options = ocp.CheckpointManagerOptions(max_to_keep=3)
    with ocp.CheckpointManager(out, options=options) as manager:
        for step in (100, 200, 300):
            rng = np.random.default_rng(step)
            params = make_params(rng, step)
            mu = {k: v for k, v in make_params(np.random.default_rng(step + 1), step).items()}
            state = {
                "step": jnp.asarray(step, jnp.int32),
                "params": params,
                "opt_state": {"mu": mu, "count": jnp.asarray(step, jnp.int32)},
            }
            manager.save(step, args=ocp.args.StandardSave(state))
        manager.wait_until_finished()


if __name__ == "__main__":
    main()
