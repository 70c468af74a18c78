#!/usr/bin/env python3
"""Peak memory of `ckpt convert` while exporting a large checkpoint, per output format.

Builds (once, cached in WORKDIR) an Orbax checkpoint of about SIZE GiB with the real
orbax-checkpoint — float32 and bfloat16 weight matrices of 256 MiB down to small biases — then
runs `ckpt convert SRC OUT --to FORMAT` for every writable format under /usr/bin/time and prints
wall time, peak resident set size and its ratio to the checkpoint's size. The product's promise
(issue 4): exports stream leaf by leaf, so peak memory stays under 25% of the checkpoint.

    .venv/bin/python tests/bench/export_memory.py --ckpt build/release/app/ckpt/ckpt \
        [--size-gb 2] [--workdir /tmp/ckpt-bench] [--formats orbax,flax,hdf5,safetensors,npz]

Exit status 1 if any export fails or exceeds the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

BOUND = 0.25
EXTENSIONS = {"flax": ".msgpack", "hdf5": ".h5", "safetensors": ".safetensors", "npz": ".npz"}


def build_source(path: Path, size_gb: float) -> int:
    import ml_dtypes
    import numpy as np
    import orbax.checkpoint as ocp

    rng = np.random.default_rng(0)
    target = int(size_gb * (1 << 30))
    tree: dict = {"params": {}, "opt_state": {"count": np.int32(7)}, "step": 1000}
    total = 0
    i = 0
    while total < target:
        # Alternate 256 MiB float32 and 128 MiB bfloat16 matrices, each with a bias.
        if i % 2 == 0:
            kernel = rng.standard_normal((8192, 8192), dtype=np.float32)
        else:
            kernel = rng.standard_normal((8192, 8192), dtype=np.float32).astype(ml_dtypes.bfloat16)
        bias = rng.standard_normal((8192,), dtype=np.float32)
        tree["params"][f"layer_{i}"] = {"kernel": kernel, "bias": bias}
        total += kernel.nbytes + bias.nbytes
        i += 1
    with ocp.StandardCheckpointer() as c:
        c.save(path, tree)
    return total


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(ckpt: str, src: Path, out: Path, fmt: str, extra: list[str]) -> tuple[float, int, str]:
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    cmd = ["/usr/bin/time", "-f", "%M", ckpt, "convert", str(src), str(out), "--to", fmt, *extra]
    start = time.monotonic()
    cp = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - start
    lines = cp.stderr.strip().splitlines()
    peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else -1
    error = "" if cp.returncode == 0 else (cp.stderr.strip().splitlines() or ["failed"])[0]
    return seconds, peak_kb * 1024, error


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, help="the ckpt binary (a release build)")
    ap.add_argument("--size-gb", type=float, default=2.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/ckpt-bench"))
    ap.add_argument("--formats", default="orbax,flax,hdf5,safetensors,npz")
    args = ap.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    src = args.workdir / f"orbax_{args.size_gb:g}g"
    if not (src / "_CHECKPOINT_METADATA").exists():
        if src.exists():
            shutil.rmtree(src)
        print(f"writing a {args.size_gb:g} GiB Orbax checkpoint to {src} ...", flush=True)
        build_source(src, args.size_gb)
    info = json.loads(subprocess.run([args.ckpt, "info", str(src), "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    data = int(info["bytes"])
    print(f"source: {src} ({data / (1 << 30):.2f} GiB of array data, {tree_bytes(src) / (1 << 30):.2f} GiB on disk)")
    print(f"{'export':<28} {'time s':>8} {'peak RSS MiB':>13} {'ratio':>7}  result")
    failed = False
    cases = []
    for fmt in args.formats.split(","):
        cases.append((fmt, []))
    cases.append(("safetensors" if "safetensors" in args.formats else args.formats.split(",")[0],
                  ["--subtree", "params/layer_0", "--subtree", "params/layer_1"]))
    for fmt, extra in cases:
        out = args.workdir / ("out_" + fmt + ("_subtree" if extra else "") + EXTENSIONS.get(fmt, ""))
        seconds, peak, error = run(args.ckpt, src, out, fmt, extra)
        ratio = peak / data
        ok = not error and ratio < BOUND
        failed |= not ok
        label = f"--to {fmt}" + (" --subtree x2" if extra else "")
        verdict = "ok" if ok else (error or f"over {BOUND:.0%}")
        print(f"{label:<28} {seconds:8.1f} {peak / (1 << 20):13.1f} {ratio:7.1%}  {verdict}", flush=True)
        if out.is_dir():
            shutil.rmtree(out)
        elif out.exists():
            out.unlink()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
