"""Shared fixtures for the interop suite: the `ckpt` binary and the real Python peers.

Nothing here skips. A missing CKPT_BIN or a missing peer package is an error:
the suite exists to prove interoperability, and a silent skip would prove nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Must be set before jax is imported anywhere in the session.
os.environ["JAX_PLATFORMS"] = "cpu"

import pytest  # noqa: E402

# Make the helper module importable whatever pytest's import mode is.
_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

try:
    import numpy  # noqa: F401,E402
    import ml_dtypes  # noqa: F401,E402
    import msgpack  # noqa: F401,E402
    import jax  # noqa: F401,E402
    import flax  # noqa: E402
    import flax.serialization  # noqa: F401,E402
    import flax.training.checkpoints  # noqa: F401,E402
except Exception as exc:  # pragma: no cover - this is the loud failure path
    raise RuntimeError(
        "interop suite: cannot import the real Python peers "
        f"(flax, jax, numpy, msgpack, ml_dtypes) into {sys.executable}: {exc!r}. "
        "Install packaging/requirements-interop.txt into the venv that runs pytest."
    ) from exc

# The suite tests the legacy msgpack checkpoint format; never let flax route
# save_checkpoint through orbax.
flax.config.update("flax_use_orbax_checkpointing", False)

DEFAULT_TIMEOUT = 20.0
# Address-space cap (MiB) applied to `ckpt` in the hostile-input tests, so that an
# attempt to allocate what a corrupt header claims fails instead of swapping.
# Set CKPT_TEST_MEMORY_LIMIT_MB=0 to disable (e.g. for sanitizer builds).
MEMORY_LIMIT_MB = int(os.environ.get("CKPT_TEST_MEMORY_LIMIT_MB", "2048"))


def _reject_constant(name):
    raise ValueError(f"non-standard JSON constant {name!r} (the contract uses the strings 'nan', 'inf', '-inf')")


def _parse_int(text):
    # JSON "-0" is negative zero; Python's json would make it int 0 and lose the sign.
    return -0.0 if text == "-0" else int(text)


def strict_json_loads(data):
    """json.loads that rejects NaN/Infinity literals and keeps '-0' as -0.0."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, parse_constant=_reject_constant, parse_int=_parse_int)


def describe(cp: subprocess.CompletedProcess, limit: int = 2000) -> str:
    """Human-readable account of one ckpt run for assertion messages."""

    def clip(b):
        text = b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
        return text if len(text) <= limit else text[:limit] + f"... [{len(text)} chars]"

    argv = cp.args if isinstance(cp.args, list) else [cp.args]
    return (
        f"\n  command: {shlex.join(str(a) for a in argv)}"
        f"\n  exit:    {cp.returncode}"
        f"\n  stderr:  {clip(cp.stderr)}"
        f"\n  stdout:  {clip(cp.stdout)}"
    )


class Ckpt:
    """Runs the `ckpt` CLI. Every call returns a subprocess.CompletedProcess (bytes I/O)."""

    def __init__(self, path: str):
        self.path = path

    def argv(self, *args) -> list[str]:
        return [self.path, *[os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]]

    def __call__(self, *args, timeout: float = DEFAULT_TIMEOUT, memory_limit: bool = False,
                 input: bytes | None = None) -> subprocess.CompletedProcess:
        argv = self.argv(*args)
        run_argv = argv
        if memory_limit and MEMORY_LIMIT_MB > 0:
            # `exec` keeps the pid, so a signal death still shows up as a negative returncode.
            run_argv = ["/bin/sh", "-c", f'ulimit -v {MEMORY_LIMIT_MB * 1024} && exec "$@"', "ckpt", *argv]
        try:
            cp = subprocess.run(run_argv, capture_output=True, timeout=timeout, input=input,
                                stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"ckpt did not finish within {timeout}s: {shlex.join(argv)}\n"
                        f"  stderr so far: {(exc.stderr or b'')[:2000]!r}")
        cp.args = argv
        return cp

    def many(self, arglists, **kw) -> list[subprocess.CompletedProcess]:
        """Run several invocations concurrently (results in input order)."""
        arglists = list(arglists)
        workers = max(2, min(8, (os.cpu_count() or 2) * 2))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda a: self(*a, **kw), arglists))

    def ok(self, *args, **kw) -> subprocess.CompletedProcess:
        cp = self(*args, **kw)
        assert cp.returncode == 0, "ckpt failed unexpectedly:" + describe(cp)
        return cp

    def json(self, *args, **kw):
        cp = self.ok(*args, **kw)
        try:
            return strict_json_loads(cp.stdout)
        except ValueError as exc:
            pytest.fail(f"ckpt printed invalid JSON ({exc}):" + describe(cp))

    def fails(self, *args, mentions=(), **kw) -> subprocess.CompletedProcess:
        """Run and assert a clean failure: exit status 1..125 and stderr naming `mentions`."""
        cp = self(*args, **kw)
        check_clean_failure(cp, mentions)
        return cp


def check_clean_failure(cp: subprocess.CompletedProcess, mentions=()):
    assert cp.returncode != 0, "ckpt accepted input it should reject:" + describe(cp)
    assert cp.returncode > 0, f"ckpt died from signal {-cp.returncode}:" + describe(cp)
    assert cp.returncode <= 125, "ckpt exit status looks like a crash/abort:" + describe(cp)
    err = cp.stderr.decode("utf-8", "replace")
    assert err.strip(), "ckpt failed without an error message on stderr:" + describe(cp)
    for m in mentions:
        assert str(m) in err, f"stderr does not mention {str(m)!r}:" + describe(cp)


@pytest.fixture(scope="session")
def ckpt() -> Ckpt:
    path = os.environ.get("CKPT_BIN")
    if not path:
        pytest.fail("CKPT_BIN is not set. Point it at the built `ckpt` executable, e.g. "
                    "CKPT_BIN=$PWD/build/<preset>/app/ckpt/ckpt python -m pytest tests/interop",
                    pytrace=False)
    if not os.path.isabs(path):
        pytest.fail(f"CKPT_BIN must be an absolute path, got {path!r}", pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"CKPT_BIN={path!r} is not an executable file", pytrace=False)
    return Ckpt(path)


@pytest.fixture(scope="session")
def ckpt_json(ckpt):
    """`ckpt_json(*args)` runs ckpt, asserts success and returns the parsed (strict) JSON."""
    return ckpt.json


# ---------------------------------------------------------------------------
# Checkpoints written by real flax, shared by the read and write tests.

class Source:
    """A checkpoint written by flax: `path` is what we hand to ckpt, `file` the msgpack file
    that flax's latest_checkpoint picks, `restored` what msgpack_restore gives for it."""

    def __init__(self, name: str, path: Path, file: Path):
        self.name, self.path, self.file = name, path, file
        self.data = file.read_bytes()
        self.restored = flax.serialization.msgpack_restore(self.data)

    def __repr__(self):
        return f"Source({self.name})"


SOURCE_NAMES = ["to_bytes", "msgpack_serialize", "chunked_to_bytes", "chunked_msgpack_serialize",
                "save_checkpoint_dir"]


def _make_sources(root: Path) -> dict[str, Source]:
    import warnings

    from flax.training import checkpoints

    import flaxtrees as ft

    out = {}
    p = root / "to_bytes.msgpack"
    p.write_bytes(flax.serialization.to_bytes(ft.build_tree()))
    out["to_bytes"] = Source("to_bytes", p, p)

    p = root / "msgpack_serialize.msgpack"
    p.write_bytes(flax.serialization.msgpack_serialize(ft.build_tree(with_tuples=False)))
    out["msgpack_serialize"] = Source("msgpack_serialize", p, p)

    with ft.max_chunk_size(64):
        p = root / "chunked_to_bytes.msgpack"
        p.write_bytes(flax.serialization.to_bytes(ft.build_tree()))
        out["chunked_to_bytes"] = Source("chunked_to_bytes", p, p)
        p = root / "chunked_msgpack_serialize.msgpack"
        p.write_bytes(flax.serialization.msgpack_serialize(ft.build_tree(with_tuples=False)))
        out["chunked_msgpack_serialize"] = Source("chunked_msgpack_serialize", p, p)
    # Make sure flax really chunked something, or the chunked sources prove nothing.
    raw = ft.raw_decode(out["chunked_to_bytes"].data)
    assert "__msgpack_chunked_array__" in raw["shapes"]["big"], "flax did not chunk shapes/big"

    d = root / "save_checkpoint_dir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        checkpoints.save_checkpoint(d, ft.small_tree(1), step=1, keep=0)
        checkpoints.save_checkpoint(d, ft.small_tree(2), step=2, keep=0)
        checkpoints.save_checkpoint(d, ft.build_tree(), step=10, keep=0)
    latest = checkpoints.latest_checkpoint(d)
    assert latest is not None and Path(latest).name == "checkpoint_10", latest
    out["save_checkpoint_dir"] = Source("save_checkpoint_dir", d, Path(latest))
    return out


@pytest.fixture(scope="session")
def flax_sources(tmp_path_factory) -> dict[str, Source]:
    return _make_sources(tmp_path_factory.mktemp("flax_sources"))
