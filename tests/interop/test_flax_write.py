"""ckpt writes what real flax reads: `ckpt convert SRC DST --to flax`, restored by flax."""

from __future__ import annotations

import os
import warnings

import flax
import numpy as np
import pytest
from flax import serialization
from flax.training import checkpoints

import flaxtrees as ft
from conftest import SOURCE_NAMES, check_clean_failure, describe


# The contract: `convert SRC DST --to flax --step S` writes DST/checkpoint_S.
WRITE_STEP = "--write-step"


def _convert(ckpt, src, dst, *extra):
    return ckpt.ok("convert", src, dst, "--to", "flax", *extra)


def _restore(path):
    return serialization.msgpack_restore(open(path, "rb").read())


def _find_chunked(raw, path=""):
    """Key paths of flax chunk records in an un-unchunked decode."""
    found = []
    if isinstance(raw, dict):
        if "__msgpack_chunked_array__" in raw:
            return [path]
        for k, v in raw.items():
            found += _find_chunked(v, f"{path}/{k}")
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            found += _find_chunked(v, f"{path}/{i}")
    return found


def _oversized_arrays(raw, limit, path="", in_list=False):
    """Arrays that flax would have chunked but that are bigger than the chunk limit.
    flax chunks (and un-chunks) only arrays reached through dicts from the root: nothing below
    a msgpack list. A chunk is never smaller than one element, as in flax."""
    bad = []
    if isinstance(raw, dict):
        for k, v in raw.items():
            bad += _oversized_arrays(v, limit, f"{path}/{k}", in_list)
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            bad += _oversized_arrays(v, limit, f"{path}/{i}", True)
    elif isinstance(raw, np.ndarray) and not in_list:
        if raw.nbytes > max(limit, raw.dtype.itemsize):
            bad.append(f"{path} ({raw.nbytes} bytes)")
    return bad


# ---------------------------------------------------------------------------
# plain files


@pytest.mark.parametrize("source", SOURCE_NAMES)
def test_convert_restores_bitexact(ckpt, flax_sources, tmp_path, source):
    """Default encoding: sequences as {"0": ..} maps exactly like flax.serialization.to_state_dict."""
    src = flax_sources[source]
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src.path, out)
    expected = ft.state_dict_form(src.restored)
    ft.assert_bitexact(_restore(out), expected)
    # default chunk limit is flax's 2**30: nothing in these trees may be chunked
    assert _find_chunked(ft.raw_decode(out.read_bytes())) == []


@pytest.mark.parametrize("source", ["msgpack_serialize", "to_bytes", "chunked_msgpack_serialize"])
def test_convert_sequences_array(ckpt, flax_sources, tmp_path, source):
    src = flax_sources[source]
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src.path, out, "--flax-sequences", "array")
    ft.assert_bitexact(_restore(out), src.restored)


def test_convert_of_our_output_is_stable(ckpt, ckpt_json, flax_sources, tmp_path):
    src = flax_sources["msgpack_serialize"]
    a, b = tmp_path / "a.msgpack", tmp_path / "b.msgpack"
    _convert(ckpt, src.path, a)
    _convert(ckpt, a, b)
    ft.assert_bitexact(_restore(b), _restore(a))
    out = ckpt_json("tree", b, "--json")
    ft.compare_node(out["tree"], ft.expected_node(_restore(b)))


@pytest.mark.parametrize("chunk_bytes", [64, 7])
@pytest.mark.parametrize("sequences", ["state-dict", "array"])
def test_chunked_output_restores(ckpt, flax_sources, tmp_path, chunk_bytes, sequences):
    src = flax_sources["msgpack_serialize"]
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src.path, out, "--flax-max-chunk-bytes", str(chunk_bytes), "--flax-sequences", sequences)
    expected = ft.state_dict_form(src.restored) if sequences == "state-dict" else src.restored
    ft.assert_bitexact(_restore(out), expected)
    raw = ft.raw_decode(out.read_bytes())
    chunked = _find_chunked(raw)
    assert "/shapes/big" in chunked, f"shapes/big was not written in chunked form; chunked: {chunked}"
    bad = _oversized_arrays(raw, chunk_bytes)
    assert not bad, f"arrays above --flax-max-chunk-bytes {chunk_bytes} left unchunked: {bad[:10]}"


@pytest.mark.parametrize("chunk_bytes", [64, 7])
@pytest.mark.parametrize("sequences", ["state-dict", "array"])
def test_chunk_layout_matches_flax(ckpt, flax_sources, tmp_path, chunk_bytes, sequences):
    """Stricter than restorability: the chunk records are the ones flax writes with
    MAX_CHUNK_SIZE = chunk_bytes (same shape map, same chunk boundaries, same placement)."""
    src = flax_sources["msgpack_serialize"]
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src.path, out, "--flax-max-chunk-bytes", str(chunk_bytes), "--flax-sequences", sequences)
    logical = ft.state_dict_form(src.restored) if sequences == "state-dict" else src.restored
    ft.assert_bitexact(ft.raw_decode(out.read_bytes()), ft.flax_chunked_form(logical, chunk_bytes))


def test_chunked_source_written_whole(ckpt, flax_sources, tmp_path):
    """A flax-chunked input is re-assembled: with the default limit the output holds whole arrays."""
    src = flax_sources["chunked_to_bytes"]
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src.path, out)
    raw = ft.raw_decode(out.read_bytes())
    assert _find_chunked(raw) == []
    ft.assert_bitexact(raw, ft.state_dict_form(src.restored))


def test_subtree(ckpt, flax_sources, tmp_path):
    src = flax_sources["to_bytes"]
    out = tmp_path / "out.msgpack"
    # DST after a --subtree value stays DST (one value per --subtree).
    ckpt.ok("convert", src.path, "--subtree", "params", "--subtree", "step", out, "--to", "flax")
    got = _restore(out)
    assert sorted(got) == ["params", "step"], list(got)
    ft.assert_bitexact(got["params"], src.restored["params"])
    ft.assert_bitexact(got["step"], src.restored["step"])


def test_subtree_missing_key_fails(ckpt, flax_sources, tmp_path):
    src = flax_sources["to_bytes"]
    out = tmp_path / "out.msgpack"
    ckpt.fails("convert", src.path, out, "--to", "flax", "--subtree", "params/NoSuchLayer",
               mentions=[src.path.name, "params/NoSuchLayer"])
    assert not out.exists(), "a failed convert left an output file behind"


@flax.struct.dataclass
class _TrainState:
    params: dict
    opt_state: tuple
    history: list
    step: int
    lr: float


def _train_state(seed: int) -> _TrainState:
    rng = np.random.default_rng(seed)
    return _TrainState(
        params={"Dense_0": {"kernel": rng.standard_normal((3, 2)).astype(np.float32),
                            "bias": np.zeros((2,), np.float32)}},
        opt_state=(np.int32(seed), {"mu": rng.standard_normal((3, 2)).astype(np.float32)}, None),
        history=[np.float32(0.5), 1.25, [np.arange(3, dtype=np.int8)]],
        step=seed,
        lr=1e-3,
    )


@pytest.mark.parametrize("writer", ["to_bytes", "msgpack_serialize"])
def test_from_bytes_into_original_structure(ckpt, tmp_path, writer):
    state = _train_state(7)
    src = tmp_path / "src.msgpack"
    if writer == "to_bytes":
        src.write_bytes(serialization.to_bytes(state))
    else:  # a raw pytree with msgpack lists (tuples are not allowed by msgpack_serialize)
        sd = serialization.to_state_dict(state)
        sd["history"] = [np.float32(0.5), 1.25, [np.arange(3, dtype=np.int8)]]
        src.write_bytes(serialization.msgpack_serialize(sd))
    out = tmp_path / "out.msgpack"
    _convert(ckpt, src, out)
    template = _train_state(0)
    restored = serialization.from_bytes(template, out.read_bytes())
    assert isinstance(restored, _TrainState)
    assert isinstance(restored.opt_state, tuple) and isinstance(restored.history, list)
    ft.assert_bitexact(serialization.to_state_dict(restored), serialization.to_state_dict(state))


def test_existing_file_needs_overwrite(ckpt, flax_sources, tmp_path):
    src = flax_sources["to_bytes"]
    out = tmp_path / "existing.msgpack"
    out.write_bytes(b"precious")
    ckpt.fails("convert", src.path, out, "--to", "flax", mentions=[out.name])
    assert out.read_bytes() == b"precious", "convert without --overwrite modified an existing file"
    _convert(ckpt, src.path, out, "--overwrite")
    ft.assert_bitexact(_restore(out), ft.state_dict_form(src.restored))


# ---------------------------------------------------------------------------
# step directories, compared against flax.training.checkpoints.save_checkpoint


def _op(step, keep=None, every=None, overwrite=False, content=None):
    return {"step": step, "keep": keep, "every": every, "overwrite": overwrite,
            "content": step if content is None else content}


SCENARIOS = {
    "keep2": [_op(s, keep=2) for s in range(1, 6)],
    "keep1_from_step0": [_op(s, keep=1) for s in (0, 1, 2)],
    "keep0_is_all": [_op(s, keep=0) for s in range(1, 5)],
    "default_keep_is_all": [_op(s) for s in range(1, 5)],
    "natural_order": [_op(s, keep=3) for s in (8, 9, 10, 11, 100)],
    "keep_every_3": [_op(s, keep=2, every=3) for s in range(0, 11)],
    "keep_every_10_sparse": [_op(s, keep=1, every=10) for s in range(0, 35, 5)],
    "overwrite_existing_older": [_op(s, keep=0) for s in range(1, 6)] + [_op(3, keep=0, overwrite=True, content=33)],
    "overwrite_new_older": [_op(s, keep=0) for s in (2, 4, 6)] + [_op(3, keep=0, overwrite=True, content=33)],
    "overwrite_latest": [_op(1, keep=0), _op(2, keep=0), _op(2, keep=0, overwrite=True, content=22)],
    "overwrite_then_keep": [_op(s, keep=0) for s in range(1, 6)] + [_op(2, keep=1, overwrite=True, content=22)],
    "existing_without_overwrite": [_op(s, keep=0) for s in (1, 2, 3)] + [_op(3, keep=0, content=33), _op(4, keep=0)],
    "older_without_overwrite": [_op(5, keep=0), _op(3, keep=0, content=33), _op(6, keep=0)],
}


def _flax_save(d, op):
    kw = {"keep": 0 if op["keep"] is None else op["keep"], "overwrite": op["overwrite"]}
    if op["every"] is not None:
        kw["keep_every_n_steps"] = op["every"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            checkpoints.save_checkpoint(d, ft.small_tree(op["content"]), step=op["step"], **kw)
            return None
        except Exception as exc:  # flax raises InvalidCheckpointError for refused writes
            return exc


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_step_directory_like_flax(ckpt, tmp_path, scenario):
    ops = SCENARIOS[scenario]
    ref, ours = tmp_path / "flax", tmp_path / "ours"
    srcs = {}
    for op in ops:
        c = op["content"]
        if c not in srcs:
            srcs[c] = tmp_path / f"src_{c}.msgpack"
            srcs[c].write_bytes(serialization.to_bytes(ft.small_tree(c)))
    for i, op in enumerate(ops):
        flax_error = _flax_save(ref, op)
        args = ["convert", srcs[op["content"]], ours, "--to", "flax", WRITE_STEP, str(op["step"])]
        if op["keep"] is not None:
            args += ["--keep", str(op["keep"])]
        if op["every"] is not None:
            args += ["--keep-every-n-steps", str(op["every"])]
        if op["overwrite"]:
            args += ["--overwrite"]
        before = sorted(os.listdir(ours)) if ours.exists() else []
        cp = ckpt(*args)
        where = f"op {i} {op}"
        if flax_error is None:
            assert cp.returncode == 0, f"{where}: flax accepted this save, ckpt refused:" + describe(cp)
        else:
            assert cp.returncode != 0, f"{where}: flax refused ({flax_error!r}), ckpt accepted:" + describe(cp)
            # name the checkpoint directory (e.g. via the conflicting file) and the step refused
            check_clean_failure(cp, mentions=[str(ours), str(op["step"])])
            assert sorted(os.listdir(ours)) == before, f"{where}: a refused save changed the directory"
        assert sorted(os.listdir(ours)) == sorted(os.listdir(ref)), \
            f"{where}: directory listing differs from flax's"
    for name in sorted(os.listdir(ref)):
        ft.assert_bitexact(_restore(ours / name), _restore(ref / name), path=name)
    assert os.path.basename(checkpoints.latest_checkpoint(ours)) == \
        os.path.basename(checkpoints.latest_checkpoint(ref))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        got = checkpoints.restore_checkpoint(ours, target=None)
        want = checkpoints.restore_checkpoint(ref, target=None)
    ft.assert_bitexact(got, want)


def test_step_directory_of_big_tree(ckpt, ckpt_json, flax_sources, tmp_path):
    """The full mixed tree through a step directory, restored by flax's restore_checkpoint."""
    src = flax_sources["to_bytes"]
    d = tmp_path / "run"
    _convert(ckpt, src.path, d, WRITE_STEP, "7", "--keep", "1")
    assert sorted(os.listdir(d)) == ["checkpoint_7"]
    assert checkpoints.latest_checkpoint(d) == str(d / "checkpoint_7")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        got = checkpoints.restore_checkpoint(d, target=None)
    ft.assert_bitexact(got, ft.state_dict_form(src.restored))
    info = ckpt_json("info", d, "--json")
    assert info.get("step") == "7", info
