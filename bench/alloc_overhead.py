"""What `memhound profile` costs (exact, and sampled with `--sample 512KiB`), beside plain
Python, `python -X tracemalloc=1` and `memray run --trace-python-allocators`, on the same
workloads in the same run.

    python bench/alloc_overhead.py                    # 3 rounds at scale 0.33: ~10 min here
    python bench/alloc_overhead.py --scale 0.05 --rounds 1   # quick check
    python bench/alloc_overhead.py --no-install       # skip memray if it is missing
    python bench/alloc_overhead.py --modes plain,memhound,memhound_sampled   # memhound only

Workloads: the bundled sales report (examples/sales_report.py, allocation-heavy: nested dicts
held at once) and a service-like loop (bench/_service_loop.py: small JSON requests, a bounded
cache), and a program holding ~5 million live objects while it allocates (bench/_big_heap.py:
the case where a sampling profiler's cost grew with the live heap). Every mode first runs once
on a tiny workload, unrecorded, and the children share a bytecode cache in the temp dir (this VM
sets PYTHONDONTWRITEBYTECODE=1). Each run is a fresh process; modes alternate within a round so
that the machine's drift hits them alike. Wall time is the child's elapsed time; peak RSS is the
child's ru_maxrss from wait4 (memray and memhound run in the measured process, so their own
memory counts). Reported: the median over rounds of each mode's ratio to the plain run of the
same round. Run it with the interpreter memhound is installed in. memray is pip-installed into that
environment if missing (the bench may depend on it; memhound does not).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def workloads(scale: float, tmp: str) -> dict[str, list[str]]:
    return {
        "sales_report": [
            str(ROOT / "examples" / "sales_report.py"),
            "--orders",
            str(max(1000, int(300_000 * scale))),
            "--out",
            os.path.join(tmp, "sales.csv"),
        ],
        "service_loop": [
            str(ROOT / "bench" / "_service_loop.py"),
            str(max(1000, int(200_000 * scale))),
        ],
        # 1.7 million (int, str) tuples: 5.1 million live objects at any scale
        "big_heap": [
            str(ROOT / "bench" / "_big_heap.py"),
            "1700000",
            str(max(2, int(120 * scale))),
        ],
    }


def modes(tmp: str) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "plain": [py],
        "tracemalloc1": [py, "-X", "tracemalloc=1"],
        "memray_tpa": [
            py,
            "-m",
            "memray",
            "run",
            "-q",
            "-f",
            "--trace-python-allocators",
            "-o",
            os.path.join(tmp, "memray.bin"),
        ],
        "memhound": [
            py,
            "-m",
            "memhound",
            "profile",
            "--format",
            "none",
            "--no-html",
            "--runs-dir",
            os.path.join(tmp, "runs"),
        ],
        "memhound_sampled": [
            py,
            "-m",
            "memhound",
            "profile",
            "--sample",
            "512KiB",
            "--format",
            "none",
            "--no-html",
            "--runs-dir",
            os.path.join(tmp, "runs"),
        ],
    }


def child_env(tmp: str) -> dict[str, str]:
    """A bytecode cache for the children (this VM sets PYTHONDONTWRITEBYTECODE=1, which would
    make every memhound start compile its modules, unlike an installed tool)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    return env


ENV: dict[str, str] | None = None


def measure(cmd: list[str]) -> tuple[float, int, float]:
    """(wall seconds, peak RSS bytes, CPU seconds: user + system) of one run of cmd."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def ensure_memray(install: bool) -> bool:
    if importlib.util.find_spec("memray") is not None:
        return True
    if not install:
        return False
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "memray"], check=False)
    return importlib.util.find_spec("memray") is not None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.33)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    ap.add_argument("--modes", help="comma-separated modes to run (plain is always run)")
    ap.add_argument("--workloads", help="comma-separated workloads (default: all)")
    args = ap.parse_args()
    chosen = set(args.modes.split(",")) | {"plain"} if args.modes else None
    have_memray = chosen is not None and "memray_tpa" not in chosen
    have_memray = have_memray or ensure_memray(not args.no_install)
    raw: dict[str, dict[str, list[tuple[float, int, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        all_modes = modes(tmp)
        if chosen is not None:
            unknown = chosen - set(all_modes)
            if unknown:
                raise SystemExit(f"unknown modes {sorted(unknown)}: choose from {list(all_modes)}")
            all_modes = {m: v for m, v in all_modes.items() if m in chosen}
        elif not have_memray:
            print("memray not installed: that mode is skipped", file=sys.stderr)
            del all_modes["memray_tpa"]
        global ENV
        ENV = child_env(tmp)
        warm = workloads(0.001, tmp)["service_loop"]
        for prefix in all_modes.values():  # unrecorded: fills the bytecode cache
            measure([*prefix, *warm])
        loads = workloads(args.scale, tmp)
        if args.workloads:
            loads = {w: loads[w] for w in args.workloads.split(",")}
        for name, argv in loads.items():
            raw[name] = {m: [] for m in all_modes}
            for r in range(args.rounds):
                for mode, prefix in all_modes.items():
                    raw[name][mode].append(measure([*prefix, *argv]))
                print(f"{name}: round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"Python {sys.version.split()[0]}, scale {args.scale}, {args.rounds} round(s)")
    print(
        f"{'workload':<14} {'mode':<16} {'wall s':>8} {'wall x':>7} {'CPU s':>7} {'CPU x':>6} "
        f"{'peak MiB':>9} {'RSS x':>6}"
    )
    for name, by_mode in raw.items():
        base = by_mode["plain"]
        for mode, runs in by_mode.items():
            pairs = list(zip(runs, base, strict=True))
            wall_x = statistics.median(r[0] / b[0] for r, b in pairs)
            rss_x = statistics.median(r[1] / b[1] for r, b in pairs)
            cpu_x = statistics.median(r[2] / b[2] for r, b in pairs)
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            peak = statistics.median(r[1] for r in runs) / 2**20
            print(
                f"{name:<14} {mode:<16} {wall:>8.2f} {wall_x:>6.2f}x {cpu:>7.2f} {cpu_x:>5.2f}x "
                f"{peak:>9.1f} {rss_x:>5.2f}x"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"scale": args.scale, "runs": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
