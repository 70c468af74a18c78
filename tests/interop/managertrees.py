"""The deterministic step trees and metrics tests/core/manager/manager_tool.cpp writes, in numpy."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

TOOL_ENV = "CKPT_MANAGER_TOOL"


def tool_path() -> str:
    path = os.environ.get(TOOL_ENV)
    if not path:
        pytest.fail(f"{TOOL_ENV} is not set: point it at the built manager_tool "
                    "(build/dev/tests/core/manager_tool)", pytrace=False)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{TOOL_ENV}={path} is not an executable", pytrace=False)
    return path


def run_tool(tool: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    cp = subprocess.run([tool, *map(str, args)], capture_output=True, timeout=300)
    if check:
        assert cp.returncode == 0, (f"manager_tool {' '.join(map(str, args))} failed "
                                    f"({cp.returncode}): {cp.stderr.decode(errors='replace')}"
                                    f"\n{cp.stdout.decode(errors='replace')}")
    return cp


def loss_of(step: int) -> float:
    return float((step * 37) % 17) + 0.5


def tree_of(step: int, rows: int = 64) -> dict:
    i = np.arange(rows * 256, dtype=np.uint64)
    w = (((i % 65536) + step).astype(np.float64) * 0.25).astype(np.float32).reshape(rows, 256)
    j = np.arange(rows * 64, dtype=np.uint64)
    h = ((j * np.uint64(2654435761) + np.uint64(step)) % np.uint64(2**32)).astype(np.uint32)
    return {"params": {"w": w, "h": h}}


def assert_tree_equal(got: dict, step: int) -> None:
    rows = np.asarray(got["params"]["w"]).shape[0]
    want = tree_of(step, rows)
    for key in ("w", "h"):
        g = np.asarray(got["params"][key])
        e = want["params"][key]
        assert g.dtype == e.dtype and g.shape == e.shape, (step, key, g.dtype, g.shape)
        assert g.tobytes() == e.tobytes(), f"step {step}: params/{key} differs"
