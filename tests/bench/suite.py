"""Our engine beside orbax-checkpoint in one run: save, async save, restore, open, slice, limits.

    cmake --preset release && cmake --build --preset release --target engine_bench
    .venv/bin/python tests/bench/suite.py --build build/release [--quick] [--json out.json]
        [--repeat N] [--keep] [--work DIR] [--smoke]

Our side runs in engine_bench (a child that keeps its trees in memory and answers one command at a
time, timed in-process); orbax's side runs in this process. Every repetition is one round of ours
and one of orbax's, alternating who goes first, so a varying machine load falls on both; every
restore of either side starts right after the same `engine_bench touch`, so both find the same
memory state (see tests/bench/README.md, "Restore and fresh memory"). Prints one
table (median and min..max of the rounds, ratios, our share of the machine's limits measured in the
same rounds, the issue's targets, PASS/FAIL); exit code 3 when a target is missed. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

MIB = 1 << 20


def peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def orbax_open_child(path: str) -> int:
    """`--orbax-open PATH`: metadata of a checkpoint in this fresh process; prints BENCH_RESULT."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    base = peak_rss_kib()
    t0 = time.perf_counter()
    meta = ocp.StandardCheckpointer().metadata(path)
    tree = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta
    leaves = jax.tree.leaves(tree)
    elements = sum(int(np.prod(l.shape)) for l in leaves if hasattr(l, "shape"))
    secs = time.perf_counter() - t0
    print("BENCH_RESULT " + json.dumps({"seconds": secs, "leaves": len(leaves), "elements": elements,
                                        "peak_kib": peak_rss_kib(), "import_peak_kib": base}))
    return 0


# The values engine_bench gives our engine (makeFloat32 / makeBFloat16 there).
def f32_values(seed: int, rows: int, cols: int):
    import numpy as np

    i = np.arange(rows * cols, dtype=np.uint64) + np.uint64(seed)
    u = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.uint32)
    v = ((u >> np.uint32(16)) & np.uint32(0xFFFF)).astype(np.float32) * np.float32(1e-3)
    return v.reshape(rows, cols)


def bf16_values(seed: int, rows: int, cols: int):
    import ml_dtypes
    import numpy as np

    i = np.arange(rows * cols, dtype=np.uint64) + np.uint64(seed)
    u = ((i * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.uint32)
    bits = (np.uint32(0x3F00) + ((u >> np.uint32(16)) & np.uint32(0xFF))).astype(np.uint16)
    return bits.view(ml_dtypes.bfloat16).reshape(rows, cols)


def make_big(f32_mib: int, f32_n: int, bf16_mib: int, bf16_n: int) -> dict:
    leaves = {}
    for i in range(f32_n):
        leaves[f"w{i}"] = f32_values(i, f32_mib * MIB // 4 // 1024, 1024)
    for i in range(bf16_n):
        leaves[f"b{i}"] = bf16_values(100 + i, bf16_mib * MIB // 2 // 1024, 1024)
    return {"params": leaves}


def make_small(leaves: int, elements: int) -> dict:
    layers = {}
    for l in range((leaves + 9) // 10):
        layers[f"layers_{l}"] = {f"w{j}": f32_values(l * 10 + j, 1, elements)
                                 for j in range(10) if l * 10 + j < leaves}
    return {"params": layers}


def restored_leaves(tree) -> list:
    import jax

    return jax.tree.leaves(tree)


def tree_bytes(tree) -> int:
    import jax

    return sum(int(x.nbytes) for x in jax.tree.leaves(tree))


class Engine:
    """engine_bench serve: one command a line, one BENCH_RESULT line back."""

    def __init__(self, exe: str):
        self.p = subprocess.Popen([exe, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)

    def __call__(self, *cmd) -> dict:
        self.p.stdin.write(" ".join(str(c) for c in cmd) + "\n")
        self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"engine_bench exited during {cmd}")
            if line.startswith("BENCH_RESULT "):
                r = json.loads(line.split(" ", 1)[1])
                if "error" in r:
                    raise RuntimeError(f"engine_bench {cmd}: {r['error']}")
                return r

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def child_result(cmd: list[str]) -> dict:
    cp = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in cp.stdout.splitlines() if l.startswith("BENCH_RESULT ")]
    if cp.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd} failed ({cp.returncode}): {cp.stderr[-2000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])


def orbax_zarr_format(path: str) -> tuple[int, int | None]:
    """The zarr version and zstd level orbax wrote (from its own array metadata)."""
    import tensorstore as ts

    kv = ts.KvStore.open({"driver": "ocdbt", "base": "file://" + path + "/"}).result()
    keys = kv.list().result()
    meta = next(k for k in keys if k.endswith(b"/zarr.json") or k.endswith(b"/.zarray"))
    doc = json.loads(kv.read(meta).result().value)
    if meta.endswith(b"/.zarray"):
        return 2, (doc.get("compressor") or {}).get("level")
    levels = [c.get("configuration", {}).get("level") for c in _codecs(doc)
              if c.get("name") == "zstd"]
    return 3, levels[0] if levels else None


def _codecs(doc: dict) -> list[dict]:
    out = []
    for c in doc.get("codecs", []):
        out.append(c)
        out += _codecs(c.get("configuration", {}))
    return out


def ts_slice(path: str, key: str, fraction: float, zarr: int) -> tuple[float, int]:
    """What a Python user does for part of an array: tensorstore on the OCDBT kvstore."""
    import tensorstore as ts

    t0 = time.perf_counter()
    store = ts.open({"driver": "zarr3" if zarr == 3 else "zarr",
                     "kvstore": {"driver": "ocdbt", "base": "file://" + path + "/",
                                 "path": key + "/"}}).result()
    rows = max(1, int(store.shape[0] * fraction))
    a = store[:rows].read().result()
    return time.perf_counter() - t0, int(a.nbytes)


def stats(v: list[float]) -> dict:
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}


def fmt(s: dict | None, unit: str = "s") -> str:
    if not s:
        return "–"
    if unit == "MiB":
        return f"{s['median']:.0f} MiB ({s['min']:.0f}..{s['max']:.0f})"
    return f"{s['median']:.3f} s ({s['min']:.3f}..{s['max']:.3f})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", help="the CMake build directory holding tests/bench/engine_bench")
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 repetition (smoke test)")
    ap.add_argument("--repeat", type=int, help="rounds of each scenario (default 3; --quick 1)")
    ap.add_argument("--json", help="write every raw number here")
    ap.add_argument("--work", default=tempfile.gettempdir(), help="parent of the work directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--smoke", action="store_true",
                    help="exit 0 unless something fails to run or reads back wrong (CTest)")
    ap.add_argument("--orbax-open", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.orbax_open:
        return orbax_open_child(args.orbax_open)
    if not args.build:
        ap.error("--build is required")
    exe = os.path.join(args.build, "tests", "bench", "engine_bench")
    if not os.path.exists(exe):
        print(f"building engine_bench in {args.build}", file=sys.stderr)
        subprocess.run(["cmake", "--build", args.build, "--target", "engine_bench", "-j2"],
                       check=True)
    repeat = args.repeat or (1 if args.quick else 3)
    if args.quick:
        big_shape, small_shape, open_leaves, limit_mib = (4, 2, 4, 1), (500, 2500), 2000, 12
        need = 512 * MIB
    else:
        big_shape, small_shape, open_leaves, limit_mib = (192, 4, 128, 2), (20000, 2500), 100000, 256
        need = 6 * 1024 * MIB
    free = shutil.disk_usage(args.work).free
    if free < need:
        print(f"suite.py: {args.work} has {free / MIB:.0f} MiB free; this run needs about "
              f"{need / MIB:.0f} MiB (use --work DIR or --quick)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="ckpt-suite-", dir=args.work)
    try:
        return run(args, exe, work, repeat, big_shape, small_shape, open_leaves, limit_mib)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, exe, work, repeat, big_shape, small_shape, open_leaves, limit_mib) -> int:
    import jax
    import numpy as np
    import orbax.checkpoint as ocp
    import tensorstore as ts

    load0 = os.getloadavg()
    d = lambda *p: os.path.join(work, *p)  # noqa: E731
    eng = Engine(exe)
    raw: dict = {"repeat": repeat, "quick": args.quick, "load_start": load0}

    trees = {"big": make_big(*big_shape), "small": make_small(*small_shape)}
    eng("tree", "big", "big", *big_shape)
    eng("tree", "small", "small", *small_shape)
    sizes = {k: tree_bytes(t) for k, t in trees.items()}
    jax_big = jax.tree.map(jax.device_put, trees["big"])
    jax.block_until_ready(jax_big)

    sync = ocp.Checkpointer(ocp.StandardCheckpointHandler())
    async_ckptr = ocp.AsyncCheckpointer(ocp.StandardCheckpointHandler())
    restorer = ocp.StandardCheckpointer()

    # Warm-up (not timed): orbax's first save compiles/loads what it needs; it also tells which
    # zarr version orbax writes by default, and our side writes the same.
    sync.save(d("warm_orbax"), args=ocp.args.StandardSave(make_small(20, 16)))
    zarr, orbax_level = orbax_zarr_format(d("warm_orbax"))
    eng("tree", "warm", "small", 20, 16)
    eng("save", "warm", d("warm_ours"), zarr)
    eng("restore", d("warm_ours"))
    raw["zarr_version"] = zarr
    raw["orbax_zstd_level"] = orbax_level

    def t_orbax_save(tree, path):
        shutil.rmtree(path, ignore_errors=True)
        t0 = time.perf_counter()
        sync.save(path, args=ocp.args.StandardSave(tree))
        return time.perf_counter() - t0

    def t_orbax_async(tree, path):
        shutil.rmtree(path, ignore_errors=True)
        t0 = time.perf_counter()
        async_ckptr.save(path, args=ocp.args.StandardSave(tree))
        blocked = time.perf_counter() - t0
        async_ckptr.wait_until_finished()
        return blocked, time.perf_counter() - t0

    def t_orbax_restore(path):
        u0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        r = restorer.restore(path)
        jax.block_until_ready(r)
        secs = time.perf_counter() - t0
        u1 = resource.getrusage(resource.RUSAGE_SELF)
        name = "big" if "big" in os.path.basename(path) else "small"
        add(f"restore_{name}_orbax_user_seconds", u1.ru_utime - u0.ru_utime)
        add(f"restore_{name}_orbax_system_seconds", u1.ru_stime - u0.ru_stime)
        add(f"restore_{name}_orbax_minor_faults", u1.ru_minflt - u0.ru_minflt)
        return secs, r

    runs: dict[str, list[float]] = {}

    def add(key, value):
        runs.setdefault(key, []).append(value)

    # The 100k-leaf checkpoints for the open scenario (written once, by our writer).
    for n in (4, 64):
        eng("tree", f"open{n}", "small", open_leaves, n)
        eng("save", f"open{n}", d(f"open{n}"), zarr)
        eng("drop", f"open{n}")
    # Every restore, ours and orbax's, starts right after `touch` has faulted in and freed twice
    # its data's size (orbax touches its memory twice) plus 256 MiB, so that both find the same
    # state: recently used free memory. On a VM whose balloon reports free memory back to the
    # host, the first touch of memory the host has taken back costs several times more, and
    # whoever allocated first in a round paid it (tests/bench/README.md, "Restore and fresh memory").
    def warm(mib: int) -> None:
        t = eng("touch", mib)
        add("touch_rate", t["rate"])
        add("touch_system_seconds", t["system_seconds"])

    warm_mib = {k: 2 * (v >> 20) + 256 for k, v in sizes.items()}
    checks = {}
    for r in range(repeat):
        ours_first = r % 2 == 0
        for name in ("big", "small"):
            def ours():
                add(f"save_{name}_ours", eng("save", name, d(f"{name}_ours"), zarr)["seconds"])
                warm(warm_mib[name])
                res = eng("restore", d(f"{name}_ours"))
                if res["bytes"] != sizes[name]:
                    raise RuntimeError(f"restore of {name}: {res['bytes']} bytes, not {sizes[name]}")
                add(f"restore_{name}_ours", res["seconds"])
                for k in ("user_seconds", "system_seconds", "minor_faults"):
                    add(f"restore_{name}_ours_{k}", res[k])
                if name == "big":
                    a = eng("async", name, d("async_ours"), zarr)
                    add("async_blocked_ours", a["blocked"])
                    add("async_total_ours", a["total"])

            def orbax():
                add(f"save_{name}_orbax", t_orbax_save(trees[name], d(f"{name}_orbax")))
                warm(warm_mib[name])
                secs, restored = t_orbax_restore(d(f"{name}_orbax"))
                add(f"restore_{name}_orbax", secs)
                if r == 0 and (name == "big" or len(restored_leaves(restored)) <= 2000):
                    # Cross-check (first round; of (b) only in small runs, as orbax takes long): orbax reads our checkpoint back equal to the tree
                    # it saved itself, and its own restore equals the tree.
                    theirs = restorer.restore(d(f"{name}_ours"))
                    eq = lambda x, y: bool(np.array_equal(np.asarray(x), np.asarray(y)))  # noqa: E731
                    checks[name] = (all(jax.tree.leaves(jax.tree.map(eq, theirs, trees[name])))
                                    and all(jax.tree.leaves(jax.tree.map(eq, restored, trees[name]))))
                    del theirs
                del restored
                if name == "big":
                    b, t = t_orbax_async(jax_big, d("async_orbax"))
                    add("async_blocked_orbax", b)
                    add("async_total_orbax", t)

            for f in ((ours, orbax) if ours_first else (orbax, ours)):
                f()
        # Slice: 1% of the rows of params/w0, from each side's own checkpoint and from ours.
        key = "params/w0"
        add("slice_own_ours", eng("slice", d("big_ours"), key, 0.01)["seconds"])
        add("slice_own_orbax", ts_slice(d("big_orbax"), "params.w0", 0.01, zarr)[0])
        add("slice_same_orbax", ts_slice(d("big_ours"), "params.w0", 0.01, zarr)[0])
        # Open (metadata only), each in a fresh process.
        for n in (4, 64):
            o = child_result([exe, "open", d(f"open{n}")])
            add(f"open{n}_ours", o["seconds"])
            add(f"open{n}_ours_shapes", o["shapes_seconds"])
            add(f"open{n}_ours_peak_mib", o["peak_kib"] / 1024)
            add(f"open{n}_ours_shapes_peak_mib", o["shapes_peak_kib"] / 1024)
            if o["leaves"] != open_leaves:
                raise RuntimeError(f"open: {o['leaves']} leaves, not {open_leaves}")
        if r == 0:  # orbax's metadata() of 100k leaves takes minutes: once
            o = child_result([sys.executable, os.path.abspath(__file__), "--orbax-open", d("open4")])
            add("open4_orbax", o["seconds"])
            add("open4_orbax_peak_mib", o["peak_kib"] / 1024)
            add("open4_orbax_import_peak_mib", o["import_peak_kib"] / 1024)
            if o["leaves"] != open_leaves:
                raise RuntimeError(f"orbax open: {o['leaves']} leaves, not {open_leaves}")
        # The machine's limits, in the same round (`limits` decompresses into fresh memory right
        # after a touch of its own, the restores' state).
        lim = eng("limits", "big", work, limit_mib, zarr)
        for k, v in lim.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "zstd_level":
                add("limit_" + k, v)
        # (b)'s own: zstd on its leaves, each one frame, as a zarr array of one chunk is stored.
        limb = eng("limits", "small", work, max(1, sizes["small"] >> 20), zarr, "per-array")
        for k, v in limb.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "zstd_level":
                add("limitb_" + k, v)
        checks["zstd_roundtrip"] = (checks.get("zstd_roundtrip", True) and lim["zstd_roundtrip_ok"]
                                    and limb["zstd_roundtrip_ok"])
        raw["zstd_level"] = lim["zstd_level"]
    eng.close()
    load1 = os.getloadavg()
    raw.update({"runs": runs, "sizes": sizes, "checks": checks, "load_end": load1})

    s = {k: stats(v) for k, v in runs.items()}
    med = lambda k: s[k]["median"]  # noqa: E731
    mbs = lambda b, secs: b / secs / MIB  # noqa: E731
    # MiB/s of logical (uncompressed) data, as mbs() gives. The disk stores compressed bytes, so
    # its limit on logical throughput is the fsync'd write rate times zstd's ratio on this data.
    # Each workload against zstd on its own data in the units it is stored in: (a) in 4 MiB blocks
    # of its arrays, (b) each 10 kB leaf one frame (zstd runs at about half its 4 MiB-block rate
    # there and barely compresses); the disk is the same (a's fsync'd write rate).
    def limits_of(prefix):
        return (min(med("limit_fsync_write") * med(prefix + "zstd_ratio"),
                    med(prefix + "zstd_compress_2t")) / MIB,
                med(prefix + "zstd_decompress_fresh_2t") / MIB)
    workload_limits = {"big": limits_of("limit_"), "small": limits_of("limitb_")}
    rows = []
    failed = False
    check_failed = not all(checks.values())

    def row(scenario, ours, orbax, ratio, of_limit, target, ok):
        nonlocal failed
        failed = failed or ok is False
        rows.append((scenario, ours, orbax, ratio, of_limit, target,
                     "–" if ok is None else ("PASS" if ok else "FAIL")))

    labels = {"big": f"(a) {sizes['big'] / MIB:.0f} MiB in {sum(big_shape[1::2])} arrays",
              "small": f"(b) {sizes['small'] / MIB:.0f} MiB in {small_shape[0]} leaves"}
    for name in ("big", "small"):
        save_limit, restore_limit = workload_limits[name]
        so, sx = s[f"save_{name}_ours"], s[f"save_{name}_orbax"]
        sp = sx["median"] / so["median"]
        frac = mbs(sizes[name], so["median"]) / save_limit
        row(f"save {labels[name]}", fmt(so), fmt(sx), f"speed-up {sp:.2f}×", f"{frac:.0%} of "
            f"{save_limit:.0f} MiB/s", "≥ 1.5× faster", sp >= 1.5)
        row(f"save {labels[name][:3]}: throughput vs min(fsync'd disk × zstd ratio, 2-core zstd)",
            f"{mbs(sizes[name], so['median']):.0f} MiB/s", f"{mbs(sizes[name], sx['median']):.0f} MiB/s",
            "", f"{frac:.0%}", "≥ 70%", frac >= 0.7)
        if name == "small":
            # For the record: against (a)'s limit (4 MiB blocks of compressible data), which
            # per-leaf frames of (b)'s data cannot reach.
            frac_a = mbs(sizes[name], so["median"]) / workload_limits["big"][0]
            row("save (b): throughput vs (a)'s limit (info)", f"{mbs(sizes[name], so['median']):.0f} "
                "MiB/s", "", "", f"{frac_a:.0%} of {workload_limits['big'][0]:.0f} MiB/s", "–", None)
        ro, rx = s[f"restore_{name}_ours"], s[f"restore_{name}_orbax"]
        sp = rx["median"] / ro["median"]
        frac = mbs(sizes[name], ro["median"]) / restore_limit
        row(f"restore {labels[name]}", fmt(ro), fmt(rx), f"speed-up {sp:.2f}×",
            f"{frac:.0%} of {restore_limit:.0f} MiB/s", "≥ 2× faster", sp >= 2)
    row("async save (a): caller blocked", fmt(s["async_blocked_ours"]), fmt(s["async_blocked_orbax"]),
        f"{med('async_blocked_ours') / med('async_blocked_orbax'):.2f}× orbax", "", "–", None)
    row("async save (a): total", fmt(s["async_total_ours"]), fmt(s["async_total_orbax"]),
        f"speed-up {med('async_total_orbax') / med('async_total_ours'):.2f}×", "", "–", None)
    o4, x4 = s["open4_ours"], s["open4_orbax"]
    row(f"open {open_leaves} leaves (metadata, tree walk)", fmt(o4), fmt(x4),
        f"speed-up {x4['median'] / o4['median']:.2f}×", "", "< 0.3 s", o4["median"] < 0.3)
    row("open: + every leaf's dtype/shape (ours, info)", fmt(s["open4_ours_shapes"]), "–", "", "",
        "–", None)
    p4, p64 = s["open4_ours_peak_mib"], s["open64_ours_peak_mib"]
    row("open: peak RSS, 4-element leaves", fmt(p4, "MiB"), fmt(s["open4_orbax_peak_mib"], "MiB") +
        f" (after imports {med('open4_orbax_import_peak_mib'):.0f})", "", "", "–", None)
    grow = p64["median"] / p4["median"]
    row("open: peak RSS, 64-element leaves (ours)", fmt(p64, "MiB"), "–", f"{grow:.2f}× the 4-element",
        "", "≤ 1.1× (independent of data size)", grow <= 1.1)
    so, sx, ss = s["slice_own_ours"], s["slice_own_orbax"], s["slice_same_orbax"]
    row("1% slice of params/w0, each its own checkpoint", fmt(so), fmt(sx) + " (tensorstore)",
        f"speed-up {sx['median'] / so['median']:.2f}×", "", "–", None)
    row("1% slice of params/w0, both from our checkpoint", fmt(so), fmt(ss) + " (tensorstore)",
        f"speed-up {ss['median'] / so['median']:.2f}×", "", "–", None)
    for name, ok in checks.items():
        row(f"check: {name} read back equal" if name != "zstd_roundtrip" else "check: zstd round trip",
            "", "", "", "", "equal", ok)

    print(f"suite.py: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}; "
          f"load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start, "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} at end; {repeat} round(s), interleaved; "
          f"zarr v{zarr} (orbax's default here) in OCDBT, zstd (orbax's level {orbax_level}; "
          f"ours and the limits' {raw['zstd_level']})")
    lim = lambda k: f"{s[k]['median'] / MIB:.0f} MiB/s ({s[k]['min'] / MIB:.0f}..{s[k]['max'] / MIB:.0f})"  # noqa: E731
    print(f"limits on {limit_mib} MiB of (a)'s data: memcpy {lim('limit_memcpy_1t')} 1 thread, "
          f"{lim('limit_memcpy_2t')} 2 threads; zstd compress {lim('limit_zstd_compress_1t')} / "
          f"{lim('limit_zstd_compress_2t')}, decompress {lim('limit_zstd_decompress_1t')} / "
          f"{lim('limit_zstd_decompress_2t')} (1 / 2 threads; ratio {med('limit_zstd_ratio'):.2f}), "
          f"into fresh memory {lim('limit_zstd_decompress_fresh_2t')} (2 threads); "
          f"fsync'd write {lim('limit_fsync_write')}")
    print(f"first touch of fresh memory before each restore (`touch`, 2 threads): "
          f"{lim('touch_rate')}")
    print(f"limits on (b)'s {sizes['small'] / MIB:.0f} MiB, each leaf one zstd frame: compress "
          f"{lim('limitb_zstd_compress_1t')} / {lim('limitb_zstd_compress_2t')}, decompress "
          f"{lim('limitb_zstd_decompress_1t')} / {lim('limitb_zstd_decompress_2t')} "
          f"(1 / 2 threads; ratio {med('limitb_zstd_ratio'):.2f}), into fresh memory "
          f"{lim('limitb_zstd_decompress_fresh_2t')} (2 threads)")
    print()
    print("| scenario | ours: median (min..max) | orbax: median (min..max) | ours vs orbax "
          "| of the limit | target | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    raw["stats"] = s
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    if args.smoke:
        return 1 if check_failed else 0
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
