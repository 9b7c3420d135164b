"""How right ``memhound soak`` is on the leak zoo (``examples/leaks/zoo.py``), and how fast
its in-process WSGI driver goes.

    python bench/soak_accuracy.py                 # full: ~5 min on a 2-core VM
    python bench/soak_accuracy.py --quick         # ~1.5 min: shorter runs, 2 repeats of controls
    python bench/soak_accuracy.py --apps SLOW_LEAK,LISTENERS --controls CYCLES --repeats 5
    python bench/soak_accuracy.py --memhound-src /tmp/mh/src   # measure an exported commit

For each leaking app:

* **true B/req**: the traced Python heap the app retains per request, measured without
  memhound's statistics: a fresh process starts tracemalloc (1 frame), imports the zoo,
  drives the app with ``WsgiDriver`` in a plain loop (200 requests of warm-up, then
  ``--true-requests``), and divides the growth of the traced heap between two full
  collections by the request count.
* **memhound B/req**: ``bytes_per_request`` of ``memhound soak --json --no-snapshots`` at
  ``--requests`` (fewer for apps that hold a thread or a socket per request), and its error
  against the true figure.
* **found at**: the smallest request count of the ladder 100, 200, 500, 1k, 2k, 5k, 10k, 20k at
  which soak first says ``leak: true`` (runs go up the ladder and stop there), and by which
  signal: the heap, or a resource (threads, fds, sockets).

For each control: ``--repeats`` soaks at ``--requests``, and how many said ``leak: true``.

Throughput: ``WsgiDriver.drive`` on the trivial app (``zoo:HELLO``) in a plain loop, without
tracemalloc; and ``requests_per_s`` of ``memhound soak`` on the same app (which includes
tracemalloc and a full collection and resource sample every ``requests / 200`` requests).

Each soak is a fresh ``python -m memhound`` process started from this interpreter, in the
repository root, with its run directory in a temp dir. Stdlib only; Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ZOO = "examples.leaks.zoo"

#: leaking apps, and the most requests to drive them with (None: no cap). Thread and socket
#: apps hold one thread or fd per request (the socket backlog holds 4,096).
LEAKS: dict[str, int | None] = {
    "AUDIT_TRAIL": None,
    "SLOW_LEAK": None,
    "LISTENERS": None,
    "LRU_METHOD": None,
    "UNBOUNDED_CACHE": None,
    "LOGGER_PER_REQUEST": None,
    "STORED_EXCEPTIONS": None,
    "FILE_PER_REQUEST": 2000,
    "TIMER_PER_REQUEST": 2000,
    "THREAD_PER_REQUEST": 2000,
    "SOCKET_PER_REQUEST": 2000,
}
CONTROLS = ("BOUNDED_CACHE", "LAZY_INIT", "BIG_TEMPORARIES", "CYCLES", "GC_SAWTOOTH", "HELLO")
LADDER = (100, 200, 500, 1000, 2000, 5000, 10_000, 20_000)

_DRIVER = """
import sys, time
from examples.leaks import zoo
from memhound.load.wsgi import WsgiDriver
driver = WsgiDriver(zoo.HELLO)
n = int(sys.argv[1])
for _ in range(1000):
    driver.drive("/")
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    for _ in range(n):
        driver.drive("/")
    best = max(best, n / (time.perf_counter() - t))
print(best)
"""


@dataclass
class LeakRow:
    app: str
    true_bpr: float
    requests: int
    measured_bpr: float
    ci95: tuple[float, float]
    found_at: int | None
    signals: list[str] = field(default_factory=list)

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.measured_bpr - self.true_bpr) / self.true_bpr


class Bench:
    def __init__(self, memhound_src: Path | None, tmp: Path) -> None:
        self.env = dict(os.environ)
        paths = [str(ROOT)]
        if memhound_src is not None:
            paths.insert(0, str(memhound_src))
        self.env["PYTHONPATH"] = os.pathsep.join([*paths, self.env.get("PYTHONPATH", "")])
        self.tmp = tmp
        self.runs = 0

    def python(self, *args: str, timeout: float = 900) -> str:
        res = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:4])}...: exit {res.returncode}\n{res.stderr}")
        return res.stdout

    def soak(self, app: str, n: int) -> dict[str, Any]:
        self.runs += 1
        out = self.tmp / f"run{self.runs}"
        doc: dict[str, Any] = json.loads(
            self.python(
                "-m",
                "memhound",
                "soak",
                "--json",
                "--no-snapshots",
                "--wsgi",
                f"{ZOO}:{app}",
                "-n",
                str(n),
                "-o",
                str(out),
            )
        )
        return doc

    def true_bytes(self, app: str, n: int) -> float:
        return float(self.python("-m", "examples.leaks.truth", app, str(n)))

    def driver_rps(self, n: int) -> float:
        return float(self.python("-c", _DRIVER, str(n)))


def signals(doc: dict[str, Any], min_leak: float = 16.0) -> list[str]:
    """What called it a leak: the heap (over --min-leak), and the resources that grew."""
    out = []
    if doc["bytes_per_request"] >= min_leak and doc["ci95"][0] >= min_leak:
        out.append("heap")
    out += [
        k
        for k, r in doc["resources"].items()
        if r["leak"] and (k in ("threads", "fds") or k.startswith(("fds.", "sockets.")))
    ]
    return out


def leak_row(bench: Bench, app: str, requests: int, true_requests: int, cap: int | None) -> LeakRow:
    n = min(requests, cap) if cap else requests
    true = bench.true_bytes(app, min(true_requests, cap) if cap else true_requests)
    doc = bench.soak(app, n)
    found_at: int | None = None
    sigs: list[str] = []
    for step in LADDER:
        if cap and step > cap:
            break
        d = doc if step == n else bench.soak(app, step)
        if d["leak"]:
            found_at, sigs = step, signals(d)
            break
    return LeakRow(app, true, n, doc["bytes_per_request"], tuple(doc["ci95"]), found_at, sigs)


def _short(k: str) -> str:
    return "sockets.to:<backend>" if k.startswith("sockets.to:") else k


def print_leaks(rows: list[LeakRow]) -> None:
    print("\n| app | true B/req | memhound B/req (95% CI) | error | requests | found at | by |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        lo, hi = r.ci95
        found = f"{r.found_at:,}" if r.found_at else "**not found**"
        by = ", ".join(_short(s) for s in r.signals) or "-"
        print(
            f"| {r.app} | {r.true_bpr:,.1f} | {r.measured_bpr:,.1f} ({lo:,.1f} to {hi:,.1f}) "
            f"| {r.error_pct:+.1f}% | {r.requests:,} | {found} | {by} |"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="2,000-request soaks, 2 repeats")
    p.add_argument("--requests", type=int, help="soak length (default 5,000; quick 2,000)")
    p.add_argument("--true-requests", type=int, default=2000, help="for the true figure")
    p.add_argument("--repeats", type=int, help="runs per control (default 5; quick 2)")
    p.add_argument("--apps", help="comma-separated leaking apps (default: all)")
    p.add_argument("--controls", help="comma-separated controls (default: all)")
    p.add_argument("--driver-requests", type=int, default=50_000)
    p.add_argument("--memhound-src", type=Path, help="put DIR first on the children's path")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    requests = args.requests or (2000 if args.quick else 5000)
    repeats = args.repeats or (2 if args.quick else 5)
    apps = args.apps.split(",") if args.apps else list(LEAKS)
    controls = args.controls.split(",") if args.controls is not None else list(CONTROLS)
    controls = [c for c in controls if c]

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    src = f" (src: {args.memhound_src})" if args.memhound_src else ""
    print(
        f"memhound soak accuracy: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"commit {commit or '?'}{src}, soaks of {requests:,} requests, {repeats} runs per control"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mh-soak-bench-") as tmp:
        bench = Bench(args.memhound_src, Path(tmp))
        rows = []
        for app in apps:
            rows.append(leak_row(bench, app, requests, args.true_requests, LEAKS.get(app)))
            r = rows[-1]
            print(
                f"  {app}: true {r.true_bpr:,.1f} B/req, memhound {r.measured_bpr:,.1f} "
                f"({r.error_pct:+.1f}%), found at {r.found_at}",
                flush=True,
            )
        verdicts: dict[str, list[dict[str, Any]]] = {}
        for control in controls:
            verdicts[control] = [bench.soak(control, requests) for _ in range(repeats)]
            called = sum(d["leak"] for d in verdicts[control])
            print(f"  {control}: {called}/{repeats} called a leak", flush=True)
        driver = bench.driver_rps(args.driver_requests)
        via_soak = bench.soak("HELLO", 20_000)

    if rows:
        print_leaks(rows)
    if verdicts:
        print("\n| control | runs | called a leak | B/req (median, min to max) |")
        print("|---|---:|---:|---:|")
        for control, docs in verdicts.items():
            bpr = sorted(d["bytes_per_request"] for d in docs)
            print(
                f"| {control} | {len(docs)} | {sum(d['leak'] for d in docs)}/{len(docs)} "
                f"| {bpr[len(bpr) // 2]:+.2f} ({bpr[0]:+.2f} to {bpr[-1]:+.2f}) |"
            )
    print(
        f"\nthroughput on zoo:HELLO: WsgiDriver in a plain loop {driver:,.0f} req/s "
        f"(best of 3 x {args.driver_requests:,}, no tracemalloc); memhound soak -n 20000 "
        f"--no-snapshots: {via_soak['requests_per_s']:,.0f} req/s (its JSON requests_per_s)"
    )
    print(f"({bench.runs} soaks, {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "commit": commit,
                    "requests": requests,
                    "leaks": [{**r.__dict__, "error_pct": r.error_pct} for r in rows],
                    "controls": {
                        c: [{"leak": d["leak"], "bpr": d["bytes_per_request"]} for d in docs]
                        for c, docs in verdicts.items()
                    },
                    "driver_rps": driver,
                    "soak_rps": via_soak["requests_per_s"],
                },
                indent=1,
            )
        )
    missed = [r.app for r in rows if r.found_at is None]
    off = [r.app for r in rows if abs(r.error_pct) > 25]
    false = [c for c, docs in verdicts.items() if any(d["leak"] for d in docs)]
    for what, names in (("not found", missed), ("over 25% off", off), ("false leak", false)):
        if names:
            print(f"FAILED the issue's bar, {what}: {', '.join(names)}")
    return 1 if missed or off or false else 0


if __name__ == "__main__":
    raise SystemExit(main())
