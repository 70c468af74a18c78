"""`ckpt conform SRC --reference REF DST`: checkpoints the real orbax wrote, conformed to another
structure, must restore with orbax into the reference's target (StandardRestore of the abstract
tree: no transforms, no warnings) with the values expected: the source's where it had them, the
reference's where conform filled them in. The source is never modified.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax.training import train_state


class _Model(nn.Module):
    prefix: str = "Dense"

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(4, name=f"{self.prefix}_0")(x)
        x = nn.BatchNorm(use_running_average=True)(x)
        return nn.Dense(2, name=f"{self.prefix}_1")(x)


class CustomTrainState(train_state.TrainState):
    batch_stats: Any = None


def _perturb(tree, seed):
    """Distinct, non-trivial values per leaf (so a value taken from the wrong side shows)."""
    leaves, treedef = jax.tree.flatten(tree)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(
        treedef, [jnp.asarray(rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype))
                  for x in leaves])


def _states(seed: int, prefix: str = "Dense"):
    model = _Model(prefix=prefix)
    variables = model.init(jax.random.PRNGKey(0), jnp.ones((1, 3)))
    params = _perturb(variables["params"], seed)
    tx = optax.adam(1e-3)
    plain = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=tx)
    # One real optimizer step: non-zero adam moments and count.
    grads = _perturb(params, seed + 1)
    plain = plain.apply_gradients(grads=grads)
    custom = CustomTrainState.create(apply_fn=model.apply, params=params, tx=tx,
                                     batch_stats=_perturb(variables["batch_stats"], seed + 2))
    custom = custom.apply_gradients(grads=grads)
    return plain, custom


def _save(path: Path, state) -> Path:
    with ocp.StandardCheckpointer() as c:
        c.save(path.resolve(), state)
    return path


def _restore_exactly(path: Path, target):
    """Orbax restore into `target`'s structure; any warning fails the test."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ocp.StandardCheckpointer() as c:
            restored = c.restore(path.resolve(), abstract)
    assert not caught, [str(w.message) for w in caught]
    return restored


def _assert_equal_trees(got, want):
    got_leaves, got_def = jax.tree_util.tree_flatten_with_path(got)
    want_leaves, want_def = jax.tree_util.tree_flatten_with_path(want)
    assert got_def == want_def
    for (path, g), (_, w) in zip(got_leaves, want_leaves):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, jax.tree_util.keystr(path)
        assert g.tobytes() == w.tobytes(), f"{jax.tree_util.keystr(path)}: {g!r} != {w!r}"


def _checksums(root: Path):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("conform")
    plain, custom = _states(seed=10)
    _, ref_custom = _states(seed=20)
    ref_plain, _ = _states(seed=30)
    return {
        "plain": (_save(root / "plain", plain), plain),
        "custom": (_save(root / "custom", custom), custom),
        "ref_custom": (_save(root / "ref_custom", ref_custom), ref_custom),
        "ref_plain": (_save(root / "ref_plain", ref_plain), ref_plain),
    }


def test_train_state_conformed_to_custom_train_state(ckpt, saved, tmp_path):
    src, plain = saved["plain"]
    ref, ref_state = saved["ref_custom"]
    before = _checksums(src)
    dst = tmp_path / "dst"
    cp = ckpt.ok("conform", src, "--reference", ref, dst)
    assert b"add batch_stats" in cp.stdout and b"from the reference" in cp.stdout
    restored = _restore_exactly(dst, ref_state)
    assert isinstance(restored, CustomTrainState)
    _assert_equal_trees(restored.params, plain.params)
    _assert_equal_trees(restored.opt_state, plain.opt_state)
    assert int(restored.step) == int(plain.step) == 1
    _assert_equal_trees(restored.batch_stats, ref_state.batch_stats)
    assert _checksums(src) == before


def test_custom_train_state_conformed_to_train_state_drops_batch_stats(ckpt, saved, tmp_path):
    src, custom = saved["custom"]
    ref, ref_state = saved["ref_plain"]
    dst = tmp_path / "dst"
    plan = ckpt.json("conform", src, "--reference", ref, "--dry-run", "--json")
    assert plan["steps"] == [{"op": "delete", "path": "batch_stats"}]
    assert plan["written"] is None and not dst.exists()
    ckpt.ok("conform", src, "--reference", ref, dst)
    restored = _restore_exactly(dst, ref_state)
    assert type(restored) is train_state.TrainState
    _assert_equal_trees(restored.params, custom.params)
    _assert_equal_trees(restored.opt_state, custom.opt_state)
    # Without conform the restore into this target is refused by orbax.
    with pytest.raises(ValueError):
        _restore_exactly(src, ref_state)


def test_regex_rename_restores_into_layer_names(ckpt, saved, tmp_path):
    src, plain = saved["plain"]
    renamed, _ = _states(seed=40, prefix="layer")
    ref = _save(tmp_path / "ref_layers", renamed)
    dst = tmp_path / "dst"
    # DST after a --rename value stays DST (one value per --rename).
    cp = ckpt.ok("conform", src, "--reference", ref, "--rename", r"Dense_(\d+)=layer_\1", dst,
                 "--recipe-out", tmp_path / "recipe.json")
    assert b"rename params/Dense_0 -> layer_0" in cp.stdout
    restored = _restore_exactly(dst, renamed)

    def rename(tree):
        if isinstance(tree, dict):
            return {k.replace("Dense_", "layer_"): rename(v) for k, v in tree.items()}
        return tree

    _assert_equal_trees(restored.params, rename(plain.params))
    mu = jax.tree.map(np.asarray, restored.opt_state[0].mu)
    _assert_equal_trees(mu, rename(jax.tree.map(np.asarray, plain.opt_state[0].mu)))
    steps = json.loads((tmp_path / "recipe.json").read_text())["steps"]
    # params, mu and nu each hold Dense_0 and Dense_1: six renames, nothing else.
    assert [s["op"] for s in steps] == ["rename"] * 6


def test_recipe_with_reference_fills_needs_the_reference_in_apply(ckpt, saved, tmp_path):
    src, plain = saved["plain"]
    ref, ref_state = saved["ref_custom"]
    recipe = tmp_path / "recipe.json"
    ckpt.ok("conform", src, "--reference", ref, tmp_path / "first", "--recipe-out", recipe)
    node = json.loads(recipe.read_text())["steps"][0]["node"]
    assert node == {"kind": "reference", "from": "batch_stats"}
    ckpt.fails("apply", recipe, src, tmp_path / "never", mentions=["--reference"])
    assert not (tmp_path / "never").exists()
    ckpt.ok("apply", recipe, src, tmp_path / "applied", "--reference", ref)
    restored = _restore_exactly(tmp_path / "applied", ref_state)
    _assert_equal_trees(restored.batch_stats, ref_state.batch_stats)
    _assert_equal_trees(restored.params, plain.params)


def test_unfixable_shape_mismatch_exits_2_naming_the_key_path(ckpt, saved, tmp_path):
    src, _ = saved["plain"]
    wide = train_state.TrainState.create(
        apply_fn=None, params={"Dense_0": {"kernel": jnp.zeros((3, 5))}}, tx=optax.sgd(0.1))
    ref = _save(tmp_path / "ref_wide", wide)
    dst = tmp_path / "dst"
    cp = ckpt("conform", src, "--reference", ref, dst)
    assert cp.returncode == 2, cp
    assert b"'params/Dense_0/kernel' has shape (3, 4) in the source and (3, 5)" in cp.stderr
    assert not dst.exists()


def test_zeros_fill_from_a_structure_file(ckpt, saved, tmp_path):
    src, plain = saved["plain"]
    ref, ref_state = saved["ref_custom"]
    skeleton = tmp_path / "ref.json"
    ckpt.ok("skeleton", ref, "-o", skeleton)
    # A structure file has no values: filling from it needs zeros (or a constant).
    ckpt.fails("conform", src, "--reference", skeleton, tmp_path / "never",
               mentions=["'batch_stats'", "structure only"])
    dst = tmp_path / "dst"
    ckpt.ok("conform", src, "--reference", skeleton, dst, "--fill", "constant:0.5")
    restored = _restore_exactly(dst, ref_state)
    for leaf in jax.tree.leaves(restored.batch_stats):
        assert np.all(np.asarray(leaf) == np.float32(0.5))
    _assert_equal_trees(restored.params, plain.params)


# ---- scan layouts: unrolled layers_0..layers_{N-1} <-> one nn.scan "layers" dict ----------------

_LAYERS = 4


class _Block(nn.Module):
    """One layer, written as a scan body: (carry, x) -> (carry, None). Dense_0 (4, 8) and
    Dense_1 (8, 4), so that the layer axis cannot hide in a square kernel."""

    @nn.compact
    def __call__(self, carry, _):
        h = nn.relu(nn.Dense(8)(carry))
        return nn.Dense(4)(h), None


class _Unrolled(nn.Module):
    prefix: str = "layers_"

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(4, name="embed")(x)
        for i in range(_LAYERS):
            x, _ = _Block(name=f"{self.prefix}{i}")(x, None)
        return x


class _Scanned(nn.Module):
    name_of_layers: str = "layers"

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(4, name="embed")(x)
        scan = nn.scan(_Block, variable_axes={"params": 0}, split_rngs={"params": True},
                       length=_LAYERS)
        x, _ = scan(name=self.name_of_layers)(x, None)
        return x


_X = jnp.asarray(np.random.default_rng(5).standard_normal((2, 3)).astype(np.float32))


def _variables(model, seed):
    variables = model.init(jax.random.PRNGKey(seed), _X)
    return {"params": _perturb(variables["params"], seed)}


def _np(tree):
    return jax.tree.map(np.asarray, tree)


def _stacked(params, prefix="layers_"):
    """np.stack of the unrolled layers, layer by layer: the scan layout they should become."""
    layers = [params[f"{prefix}{i}"] for i in range(_LAYERS)]
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *layers)


def test_unrolled_layers_conformed_to_a_scan_layout(ckpt, tmp_path):
    unrolled = _variables(_Unrolled(), seed=50)
    ref_state = _variables(_Scanned(), seed=60)
    assert ref_state["params"]["layers"]["Dense_0"]["kernel"].shape == (_LAYERS, 4, 8)
    src = _save(tmp_path / "unrolled", unrolled)
    ref = _save(tmp_path / "scanned", ref_state)
    before = _checksums(src)
    dst = tmp_path / "dst"
    cp = ckpt.ok("conform", src, "--reference", ref, dst)
    assert (b"stack params/layers_0..layers_3 -> params/layers (the reference has the scan "
            b"layout: 4 layers along axis 0)") in cp.stdout
    restored = _restore_exactly(dst, ref_state)
    _assert_equal_trees(restored["params"]["layers"], _stacked(unrolled["params"]))
    _assert_equal_trees(restored["params"]["embed"], _np(unrolled["params"]["embed"]))
    # The stacked checkpoint runs in the scanned model and computes what the unrolled one did.
    np.testing.assert_allclose(np.asarray(_Scanned().apply(restored, _X)),
                               np.asarray(_Unrolled().apply(unrolled, _X)), rtol=1e-6, atol=1e-6)
    assert _checksums(src) == before


def test_scan_layout_conformed_to_unrolled_layers(ckpt, tmp_path):
    scanned = _variables(_Scanned(), seed=70)
    ref_state = _variables(_Unrolled(), seed=80)
    src = _save(tmp_path / "scanned", scanned)
    ref = _save(tmp_path / "unrolled", ref_state)
    dst = tmp_path / "dst"
    plan = ckpt.json("conform", src, "--reference", ref, "--dry-run", "--json")
    assert plan["steps"] == [{"op": "unstack", "path": "params/layers", "prefix": "layers_"}]
    ckpt.ok("conform", src, "--reference", ref, dst)
    restored = _restore_exactly(dst, ref_state)
    stacked = _np(scanned["params"]["layers"])
    for i in range(_LAYERS):
        _assert_equal_trees(restored["params"][f"layers_{i}"],
                            jax.tree.map(lambda a, k=i: a[k], stacked))
    np.testing.assert_allclose(np.asarray(_Unrolled().apply(restored, _X)),
                               np.asarray(_Scanned().apply(scanned, _X)), rtol=1e-6, atol=1e-6)


def test_explicit_stack_and_unstack_options_and_their_recipe(ckpt, tmp_path):
    # REF names the scanned layers "blocks": nothing to find by name, so --stack says it.
    unrolled = _variables(_Unrolled(), seed=90)
    blocks_ref = _variables(_Scanned(name_of_layers="blocks"), seed=91)
    src = _save(tmp_path / "unrolled", unrolled)
    ref = _save(tmp_path / "blocks", blocks_ref)
    recipe = tmp_path / "recipe.json"
    dst = tmp_path / "dst"
    cp = ckpt.ok("conform", src, "--reference", ref, "--stack", "params/layers_=blocks", dst,
                 "--recipe-out", recipe)
    assert b"stack params/layers_0..layers_3 -> params/blocks (--stack)" in cp.stdout
    steps = json.loads(recipe.read_text())["steps"]
    assert steps == [{"op": "stack", "path": "params", "prefix": "layers_", "to": "blocks"}]
    restored = _restore_exactly(dst, blocks_ref)
    _assert_equal_trees(restored["params"]["blocks"], _stacked(unrolled["params"]))
    # The recipe replays with `ckpt apply` (no reference needed: it only stacks).
    ckpt.ok("apply", recipe, src, tmp_path / "applied")
    _assert_equal_trees(_restore_exactly(tmp_path / "applied", blocks_ref)["params"],
                        restored["params"])

    # And back: --unstack into REF's "block_0".."block_3".
    block_ref = _variables(_Unrolled(prefix="block_"), seed=92)
    ref2 = _save(tmp_path / "block_ref", block_ref)
    back = tmp_path / "back"
    cp = ckpt.ok("conform", dst, "--reference", ref2, "--unstack", "params/blocks=block_", back)
    assert b"unstack params/blocks -> params/block_0..block_3 (--unstack)" in cp.stdout
    restored_back = _restore_exactly(back, block_ref)
    for i in range(_LAYERS):
        _assert_equal_trees(restored_back["params"][f"block_{i}"],
                            _np(unrolled["params"][f"layers_{i}"]))
    # A --stack that does not apply fails the command and writes nothing.
    cp = ckpt("conform", src, "--reference", ref, "--stack", "params/block_", tmp_path / "never")
    assert cp.returncode == 2, cp
    assert b"cannot stack 'params/block_*': 'params' has no key block_0" in cp.stderr
    assert not (tmp_path / "never").exists()


def test_train_state_with_adam_moments_conformed_to_a_scan_layout(ckpt, tmp_path):
    """params and both adam moments (opt_state/0/mu, nu) hold the layers: three stacks."""

    def state(model, seed):
        params = _variables(model, seed)["params"]
        s = train_state.TrainState.create(apply_fn=model.apply, params=params,
                                          tx=optax.adam(1e-3))
        return s.apply_gradients(grads=_perturb(params, seed + 1))

    unrolled = state(_Unrolled(), 100)
    ref_state = state(_Scanned(), 110)
    src = _save(tmp_path / "unrolled", unrolled)
    ref = _save(tmp_path / "scanned", ref_state)
    dst = tmp_path / "dst"
    plan = ckpt.json("conform", src, "--reference", ref, dst, "--json")
    assert [s["op"] for s in plan["steps"]] == ["stack"] * 3
    assert sorted(s["path"] for s in plan["steps"]) == ["opt_state/0/mu", "opt_state/0/nu",
                                                        "params"]
    restored = _restore_exactly(dst, ref_state)
    _assert_equal_trees(restored.params["layers"], _stacked(unrolled.params))
    _assert_equal_trees(restored.opt_state[0].mu["layers"], _stacked(unrolled.opt_state[0].mu))
    _assert_equal_trees(restored.opt_state[0].nu["layers"], _stacked(unrolled.opt_state[0].nu))
    assert int(restored.opt_state[0].count) == int(unrolled.opt_state[0].count) == 1
    assert int(restored.step) == 1


def test_per_layer_0d_arrays_stack_into_1d_and_back(ckpt, tmp_path):
    """0-d leaves of each layer (np.int32 arrays) become one (N,) array, and come back 0-d."""
    rng = np.random.default_rng(7)
    unrolled = {"params": {f"layers_{i}": {"w": rng.standard_normal((2, 3)).astype(np.float32),
                                           "steps": np.asarray(10 + i, np.int32)}
                           for i in range(3)}}
    stacked = {"params": {"layers": {"w": np.stack([unrolled["params"][f"layers_{i}"]["w"]
                                                    for i in range(3)]),
                                     "steps": np.asarray([10, 11, 12], np.int32)}}}
    src = _save(tmp_path / "unrolled", unrolled)
    ref = _save(tmp_path / "stacked", {"params": {"layers": {
        "w": np.zeros((3, 2, 3), np.float32), "steps": np.zeros((3,), np.int32)}}})
    dst = tmp_path / "dst"
    ckpt.ok("conform", src, "--reference", ref, dst)
    _assert_equal_trees(_np(_restore_exactly(dst, stacked)), stacked)
    back = tmp_path / "back"
    ckpt.ok("conform", dst, "--reference", src, back)
    restored = _np(_restore_exactly(back, unrolled))
    _assert_equal_trees(restored, unrolled)
    assert restored["params"]["layers_2"]["steps"].shape == ()
