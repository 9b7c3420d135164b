"""What `memhound profile` costs, beside plain Python, `python -X tracemalloc=1` and
`memray run --trace-python-allocators`, on the same workloads in the same run.

    python bench/alloc_overhead.py                    # 3 rounds at scale 0.33: ~10 min here
    python bench/alloc_overhead.py --scale 0.05 --rounds 1   # quick check
    python bench/alloc_overhead.py --no-install       # skip memray if it is missing

Workloads: the bundled sales report (examples/sales_report.py, allocation-heavy: nested dicts
held at once) and a service-like loop (bench/_service_loop.py: small JSON requests, a bounded
cache). Each run is a fresh process; modes alternate within a round so that the machine's drift
hits them alike. Wall time is the child's elapsed time; peak RSS is the child's ru_maxrss from
wait4 (memray and memhound run in the measured process, so their own memory counts).
Reported: the median over rounds of each mode's ratio to the plain run of the same round.
Run it with the interpreter memhound is installed in. memray is pip-installed into that
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
    }


def measure(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one run of cmd."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_maxrss * 1024


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
    args = ap.parse_args()
    have_memray = ensure_memray(not args.no_install)
    raw: dict[str, dict[str, list[tuple[float, int]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        all_modes = modes(tmp)
        if not have_memray:
            print("memray not installed: that mode is skipped", file=sys.stderr)
            del all_modes["memray_tpa"]
        for name, argv in workloads(args.scale, tmp).items():
            raw[name] = {m: [] for m in all_modes}
            for r in range(args.rounds):
                for mode, prefix in all_modes.items():
                    raw[name][mode].append(measure([*prefix, *argv]))
                print(f"{name}: round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"Python {sys.version.split()[0]}, scale {args.scale}, {args.rounds} round(s)")
    print(f"{'workload':<14} {'mode':<13} {'wall s':>8} {'wall x':>7} {'peak MiB':>9} {'RSS x':>6}")
    for name, by_mode in raw.items():
        base = by_mode["plain"]
        for mode, runs in by_mode.items():
            wall_x = statistics.median(w / b[0] for (w, _), b in zip(runs, base, strict=True))
            rss_x = statistics.median(m / b[1] for (_, m), b in zip(runs, base, strict=True))
            wall = statistics.median(w for w, _ in runs)
            peak = statistics.median(m for _, m in runs) / 2**20
            print(f"{name:<14} {mode:<13} {wall:>8.2f} {wall_x:>6.2f}x {peak:>9.1f} {rss_x:>5.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"scale": args.scale, "runs": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
