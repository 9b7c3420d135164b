"""What ``memhound run`` costs the program it watches, against the plain run and peer tools.

    python bench/sampler_overhead.py [--rounds 5] [--scale 1.0] [--modes plain,memhound50,...]
                                     [--out bench/results/sampler.jsonl]
    python bench/sampler_overhead.py --report bench/results/sampler.jsonl
    python bench/sampler_overhead.py --rollup-only

Workload: the bundled example ``examples/sales_report.py`` (about 300k nested dicts held in
memory, then a CSV; ``--scale`` scales its ``--orders``), writing its CSV into a temp dir.

Method
------
* Every run is a fresh process started from this interpreter. Wall time is
  ``time.perf_counter()`` around the whole command (start to reap); CPU time and the peak RSS
  come from the ``rusage`` that ``os.wait4`` returns for the child. ``ru_maxrss`` of a reaped
  child is the maximum over it and its own reaped descendants, so for ``memhound run`` (whose
  child is memhound itself) it is max(memhound, target): the target's own exact peak is read
  from memhound's ``run.json`` (``meta.exit.max_rss_bytes``, memhound's own ``wait4``).
  For the in-process psutil poller the target *is* the process, poller included.
* Every round runs every mode once; the order rotates (round r starts at mode index r), so no
  mode always runs first, or always right after the same neighbour.
* Each mode is compared with the ``plain`` run *of the same round* (the machine is a noisy
  2-core VM; neighbouring runs share its state). The table shows the median of those
  per-round ratios with their min-max, and absolute medians for scale.
* Before the first round every mode runs once on a tiny workload, unrecorded, to warm the
  page cache and the bytecode cache. The children write bytecode under the benchmark's temp
  dir (PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE dropped), as an installed tool would
  have it; nothing is written into the source tree.
* Each command runs in a process group of its own; anything left of it after the reap (a
  target orphaned by a crashed tool) is killed and the run is counted as failed, so one bad
  run cannot load the machine under the next. Failed runs are left out of the tables.
* ``--memhound-src DIR`` measures a given copy of memhound (e.g. an export of one commit)
  instead of whatever the interpreter imports, useful while the source tree is being edited.
* One JSON line per measured run is appended to ``--out`` (plus one ``session`` line and the
  ``rollup`` figures), so ``--report FILE`` re-prints the tables without re-running.

A second micro-benchmark (``--rollup-only`` runs just it) times reading
``/proc/PID/smaps_rollup`` (memhound's PSS/USS source, which walks the target's page tables)
against ``/proc/PID/status`` (its per-tick source) on child processes holding 256 MiB and
1 GiB, as many small Python objects or as one touched bytearray.

Stdlib only (plus psutil in the peer wrapper ``_psutil_thread.py``); Linux only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
EXAMPLE = ROOT / "examples" / "sales_report.py"
PSUTIL_WRAPPER = BENCH_DIR / "_psutil_thread.py"
DEFAULT_OUT = BENCH_DIR / "results" / "sampler.jsonl"
FULL_ORDERS = 300_000
WARMUP_ORDERS = 2_000
MIB = 1024 * 1024
GIB = 1024 * MIB

Record = dict[str, Any]


# -- modes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDir:
    """Where one run may write: the example's CSV and the tool's own output."""

    path: Path

    @property
    def csv(self) -> Path:
        return self.path / "sales.csv"

    @property
    def memhound_run(self) -> Path:
        return self.path / "memhound-run"

    @property
    def mprof_dat(self) -> Path:
        return self.path / "mprof.dat"

    @property
    def psutil_peak(self) -> Path:
        return self.path / "psutil-peak.txt"


@dataclass(frozen=True)
class Mode:
    name: str
    help: str
    argv: Callable[[list[str], RunDir], list[str]]
    """Builds the command from the example's own argv (``[python, example, --orders ...]``)."""


def _memhound(interval: str, *extra: str) -> Callable[[list[str], RunDir], list[str]]:
    def argv(example: list[str], rd: RunDir) -> list[str]:
        return [
            sys.executable, "-m", "memhound", "run", "-q", "--no-html",
            "-o", str(rd.memhound_run), "--interval", interval, *extra, "--", *example,
        ]  # fmt: skip

    return argv


def _psutil10(example: list[str], rd: RunDir) -> list[str]:
    return [example[0], str(PSUTIL_WRAPPER), "0.01", *example[1:]]


def mprof_path() -> str | None:
    """``mprof`` beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "mprof"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("mprof")


def _mprof(example: list[str], rd: RunDir) -> list[str]:
    exe = mprof_path()
    assert exe is not None
    # The interpreter is passed as the program (not "python") so mprof cannot pick another.
    return [exe, "run", "-o", str(rd.mprof_dat), *example]


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("plain", "the example alone", lambda ex, rd: ex),
        Mode("memhound50", "memhound run --interval 50ms (the default)", _memhound("50ms")),
        Mode("memhound10", "memhound run --interval 10ms", _memhound("10ms")),
        Mode(
            "memhound50-noagent",
            "memhound run --interval 50ms --no-agent (no in-process gc hooks)",
            _memhound("50ms", "--no-agent"),
        ),
        Mode("psutil10", "in-process psutil RSS thread, every 10 ms", _psutil10),
        Mode("mprof", "memory_profiler's mprof run (RSS every 0.1 s)", _mprof),
    )
}
DEFAULT_MODES = ",".join(MODES)


# -- one run ---------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with path.open() as fh:
            data: dict[str, Any] = json.load(fh)
            return data
    except (OSError, ValueError):
        return None


def _tool_figures(mode: str, rd: RunDir, maxrss: int) -> Record:
    """The target's exact peak and what the tool itself saw (its sampled peak, sample count)."""
    out: Record = {"target_peak_bytes": maxrss, "seen_peak_bytes": None, "samples": None}
    if mode.startswith("memhound"):
        run = _read_json(rd.memhound_run / "run.json") or {}
        meta, summary = run.get("meta") or {}, run.get("summary") or {}
        out["target_peak_bytes"] = (meta.get("exit") or {}).get("max_rss_bytes")
        out["seen_peak_bytes"] = summary.get("peak_total_rss_bytes")
        out["samples"] = summary.get("samples")
        out["gc_collections"] = sum((summary.get("gc") or {}).get("collections") or [])
        timeline = rd.memhound_run / "timeline.jsonl"
        out["timeline_bytes"] = timeline.stat().st_size if timeline.exists() else None
    elif mode == "psutil10":
        try:
            peak, samples = rd.psutil_peak.read_text().split()
            out["seen_peak_bytes"], out["samples"] = int(peak), int(samples)
        except (OSError, ValueError):
            pass
    elif mode == "mprof":
        # mprof's own RSS is small; max(mprof, target) is the target's peak.
        try:
            mem = [
                float(line.split()[1])
                for line in rd.mprof_dat.read_text().splitlines()
                if line.startswith("MEM ")
            ]
        except (OSError, ValueError, IndexError):
            mem = []
        if mem:
            out["seen_peak_bytes"], out["samples"] = int(max(mem) * MIB), len(mem)
    return out


def child_env(workdir: Path, memhound_src: Path | None) -> dict[str, str]:
    """The children's environment: bytecode cached (as in any installed deployment).

    With PYTHONDONTWRITEBYTECODE set, every memhound start would compile its modules from
    source (~15 ms here); the cache goes under ``workdir``, never into the source tree.
    ``memhound_src`` (a directory holding the ``memhound`` package) goes first on PYTHONPATH,
    for memhound and for the example's own ``from memhound import checkpoint``.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    if memhound_src is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(memhound_src), env.get("PYTHONPATH", "")) if p
        )
    return env


def memhound_origin(env: dict[str, str]) -> str:
    """Where the children import memhound from, and its version."""
    code = "import memhound, os; print(os.path.dirname(memhound.__file__), memhound.__version__)"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"not importable ({exc})"
    return out.stdout.strip()


def source_revision() -> str:
    """This checkout's commit, with ``+dirty`` when src/ has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return rev + ("+dirty" if dirty else "")


def run_once(mode: Mode, orders: int, workdir: Path, env: dict[str, str]) -> Record:
    """Run ``mode`` once on ``orders`` orders in a fresh directory under ``workdir``.

    The command runs in a process group of its own; whatever of it outlives the reaped child
    (a target orphaned by a crashed tool) is killed, and the run counts as failed.
    """
    rd = RunDir(Path(tempfile.mkdtemp(prefix=f"{mode.name}-", dir=workdir)))
    example = [sys.executable, str(EXAMPLE), "--orders", str(orders), "--out", str(rd.csv)]
    argv = mode.argv(example, rd)
    env = {**env, "BENCH_PSUTIL_PEAK_FILE": str(rd.psutil_peak)}
    log_path = rd.path / "output.log"
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True,
        )  # fmt: skip
        _, status, ru = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    strays = True
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        strays = False
    maxrss = int(ru.ru_maxrss) * 1024
    rec: Record = {
        "kind": "run",
        "mode": mode.name,
        "orders": orders,
        "returncode": child.returncode if not strays else -1000 - abs(child.returncode),
        "strays_killed": strays,
        "wall_s": wall,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "maxrss_bytes": maxrss,
        "minor_faults": ru.ru_minflt,
        "vol_ctx_switches": ru.ru_nvcsw,
        "invol_ctx_switches": ru.ru_nivcsw,
    }
    rec.update(_tool_figures(mode.name, rd, maxrss))
    if rec["returncode"] != 0:
        tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace")
        what = " (and left processes behind)" if strays else ""
        print(f"  !! {mode.name} exited with {child.returncode}{what}:\n{tail}", file=sys.stderr)
    shutil.rmtree(rd.path, ignore_errors=True)
    return rec


def rotated(modes: Sequence[str], r: int) -> list[str]:
    k = r % len(modes)
    return [*modes[k:], *modes[:k]]


# -- statistics and tables -------------------------------------------------------------------


def _fmt_ratio_range(values: Sequence[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / MIB:,.0f} MiB"


def _ratios(runs: list[Record], mode: str, key: str) -> list[float]:
    """``mode`` over ``plain`` per round, for rounds where both succeeded."""
    by_round: dict[int, dict[str, Record]] = {}
    for rec in runs:
        if rec["returncode"] == 0:
            by_round.setdefault(rec["round"], {})[rec["mode"]] = rec
    out = []
    for recs in by_round.values():
        base, this = recs.get("plain"), recs.get(mode)
        if base and this and base.get(key) and this.get(key) is not None:
            out.append(this[key] / base[key])
    return out


def _median(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def report(session: Record, runs: list[Record], rollups: list[Record]) -> None:
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    rounds = sorted({r["round"] for r in runs})
    print()
    print(
        f"sampler overhead: {session.get('date', '?')}  session {session.get('session', '?')}  "
        f"{session.get('cpus', '?')} CPUs  kernel {session.get('kernel', '?')}  "
        f"Python {session.get('python', '?')}"
    )
    print(f"memhound: {session.get('memhound', '?')} ({session.get('source', '?')})")
    print(
        f"workload: examples/sales_report.py --orders {session.get('orders', '?')}  "
        f"rounds: {len(rounds)}  command: {session.get('command', '?')}"
    )
    failed = [r for r in runs if r["returncode"] != 0]
    if failed:
        names = ", ".join(f"{r['mode']}#{r['round']}" for r in failed)
        print(f"failed runs (left out): {names}")
    print()
    head = (
        f"{'mode':<20}{'wall (median)':>14}{'wall ratio':>12}{'min-max':>12}"
        f"{'CPU (median)':>14}{'CPU ratio':>11}{'peak RSS':>11}{'RSS ratio':>11}{'min-max':>12}"
    )
    print(head)
    print("-" * len(head))
    for mode in modes:
        ok = [r for r in runs if r["mode"] == mode and r["returncode"] == 0]
        if not ok:
            print(f"{mode:<20}{'(no successful run)':>14}")
            continue
        wall = _median(r["wall_s"] for r in ok)
        cpu = _median(r["cpu_s"] for r in ok)
        peak = _median(r["target_peak_bytes"] for r in ok)
        w_r, c_r = _ratios(runs, mode, "wall_s"), _ratios(runs, mode, "cpu_s")
        p_r = _ratios(runs, mode, "target_peak_bytes")
        plain = mode == "plain"

        def ratio(vals: list[float]) -> str:
            med = _median(vals)
            return "-" if med is None else f"{med:.2f}x"

        print(
            f"{mode:<20}{wall or 0:>12.2f} s{ratio(w_r):>12}"
            f"{'-' if plain else _fmt_ratio_range(w_r):>12}"
            f"{cpu or 0:>12.2f} s{ratio(c_r):>11}{_mib(peak):>11}{ratio(p_r):>11}"
            f"{'-' if plain else _fmt_ratio_range(p_r):>12}"
        )
    print()
    print("peak RSS detail (medians): target = the watched program's exact peak (kernel);")
    print("tree = ru_maxrss of the benchmark's child (max of tool and target); seen = the")
    print("highest RSS the tool's own samples caught.")
    head2 = f"{'mode':<20}{'target':>11}{'tree':>11}{'seen':>11}{'samples':>9}{'gc events':>11}"
    print(head2)
    print("-" * len(head2))
    for mode in modes:
        ok = [r for r in runs if r["mode"] == mode and r["returncode"] == 0]
        if not ok:
            continue
        samples = _median(r.get("samples") for r in ok)
        gcs = _median(r.get("gc_collections") for r in ok)
        print(
            f"{mode:<20}{_mib(_median(r['target_peak_bytes'] for r in ok)):>11}"
            f"{_mib(_median(r['maxrss_bytes'] for r in ok)):>11}"
            f"{_mib(_median(r.get('seen_peak_bytes') for r in ok)):>11}"
            f"{'-' if samples is None else f'{samples:.0f}':>9}"
            f"{'-' if gcs is None else f'{gcs:.0f}':>11}"
        )
    print()
    print("wall time per round (s), in the order each round ran them:")
    for rnd in rounds:
        in_round = sorted((r for r in runs if r["round"] == rnd), key=lambda r: r["slot"])
        cells = "  ".join(f"{r['mode']} {r['wall_s']:.2f}" for r in in_round)
        print(f"  round {rnd + 1}: {cells}")
    if rollups:
        report_rollups(rollups)


def report_rollups(rollups: list[Record]) -> None:
    print()
    print("procfs read cost (50 reads each; ms per read: median, min; ms per GiB of RSS):")
    head = (
        f"{'holder':<22}{'RSS':>10}{'status ms':>11}{'(min)':>8}{'rollup ms':>11}{'(min)':>8}"
        f"{'rollup ms/GiB':>15}{'status ms/GiB':>15}"
    )
    print(head)
    print("-" * len(head))
    for r in rollups:
        gib = r["rss_bytes"] / GIB
        print(
            f"{r['kind_held'] + ' ' + str(r['target_mib']) + ' MiB':<22}{_mib(r['rss_bytes']):>10}"
            f"{r['status_ms_median']:>11.3f}{r['status_ms_min']:>8.3f}"
            f"{r['rollup_ms_median']:>11.3f}{r['rollup_ms_min']:>8.3f}"
            f"{r['rollup_ms_median'] / gib:>15.2f}{r['status_ms_median'] / gib:>15.3f}"
        )
    thp = rollups[0].get("thp")
    if thp:
        print(f"transparent huge pages: {thp}")


def load_report(path: Path, which: str) -> None:
    """Re-print the tables of one session (the latest by default, or ``all``) of ``path``."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    sessions = list(dict.fromkeys(r["session"] for r in records if "session" in r))
    if not sessions:
        sys.exit(f"{path}: no benchmark records")
    if which == "all":
        chosen = sessions
    elif which == "latest":
        chosen = sessions[-1:]
    elif which in sessions:
        chosen = [which]
    else:
        sys.exit(f"{path}: no session {which!r} (have: {', '.join(sessions)})")
    for sid in chosen:
        recs = [r for r in records if r.get("session") == sid]
        meta = next((r for r in recs if r["kind"] == "session"), {"session": sid})
        runs = [r for r in recs if r["kind"] == "run"]
        rollups = [r for r in recs if r["kind"] == "rollup"]
        if runs:
            report(meta, runs, rollups)
        elif rollups:
            report_rollups(rollups)


# -- the procfs micro-benchmark ----------------------------------------------------------------

_HOLDER = r"""
import sys, time
kind, target = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096
hold = []
if kind == "bytearray":
    hold.append(bytearray(b"\x01") * max(0, target - rss()))
else:
    i = 0
    while rss() < target:
        hold.append([(j, j * 0.5, str(j)) for j in range(i, i + 100_000)])
        i += 100_000
print("ready", rss(), flush=True)
time.sleep(3600)
"""


def _thp() -> str | None:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return None


def _time_reads(path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        with open(path, "rb") as fh:
            fh.read()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def rollup_bench(sizes_mib: Sequence[int], reads: int = 50) -> list[Record]:
    results: list[Record] = []
    for kind in ("objects", "bytearray"):
        for mib in sizes_mib:
            child = subprocess.Popen(
                [sys.executable, "-c", _HOLDER, kind, str(mib)],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert child.stdout is not None
                line = child.stdout.readline().split()
                if not line or line[0] != "ready":
                    raise RuntimeError(f"holder {kind} {mib} MiB did not start")
                rss = int(line[1])
                status = _time_reads(f"/proc/{child.pid}/status", reads)
                rollup = _time_reads(f"/proc/{child.pid}/smaps_rollup", reads)
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait()
                if child.stdout is not None:
                    child.stdout.close()
            rec: Record = {
                "kind": "rollup",
                "kind_held": kind,
                "target_mib": mib,
                "rss_bytes": rss,
                "reads": reads,
                "status_ms_median": statistics.median(status),
                "status_ms_min": min(status),
                "rollup_ms_median": statistics.median(rollup),
                "rollup_ms_min": min(rollup),
                "thp": _thp(),
            }
            results.append(rec)
            print(
                f"  rollup: {kind:<9} {rss / MIB:6.0f} MiB  status {rec['status_ms_median']:.3f} ms"
                f"  smaps_rollup {rec['rollup_ms_median']:.2f} ms",
                flush=True,
            )
    return results


# -- main ------------------------------------------------------------------------------------


def _append(out: Path, records: Iterable[Record]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="modes:\n" + "\n".join(f"  {m.name:<20}{m.help}" for m in MODES.values()),
    )
    p.add_argument("--rounds", type=int, default=5, help="rounds of every mode (default 5)")
    p.add_argument("--scale", type=float, default=1.0, help="scales the example's 300000 orders")
    p.add_argument("--modes", default=DEFAULT_MODES, help=f"comma-separated ({DEFAULT_MODES})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON lines appended here")
    p.add_argument("--report", type=Path, metavar="FILE", help="re-print the tables of FILE")
    p.add_argument("--session", default="latest", help="with --report: an id, latest or all")
    p.add_argument("--rollup-only", action="store_true", help="run only the procfs benchmark")
    p.add_argument("--no-rollup", action="store_true", help="skip the procfs benchmark")
    p.add_argument("--rollup-sizes", default="256,1024", help="MiB held (default 256,1024)")
    p.add_argument("--no-warmup", action="store_true", help="skip the unrecorded warm-up runs")
    p.add_argument(
        "--memhound-src",
        type=Path,
        metavar="DIR",
        help="put DIR (holding the memhound package) first on the children's PYTHONPATH, "
        "e.g. an export of a commit: git archive HEAD src | tar -x -C /tmp/mh",
    )
    args = p.parse_args(argv)
    if args.rounds < 1 or args.scale <= 0:
        p.error("--rounds must be 1 or more and --scale positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.report:
        load_report(args.report, args.session)
        return 0
    if not sys.platform.startswith("linux"):
        sys.exit("this benchmark reads /proc and needs Linux")
    sizes = [int(s) for s in args.rollup_sizes.split(",") if s.strip()]
    memhound_src = args.memhound_src.resolve() if args.memhound_src else None
    session: Record = {
        "kind": "session",
        "session": dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rounds": args.rounds,
        "scale": args.scale,
        "orders": max(1, round(FULL_ORDERS * args.scale)),
    }
    if args.rollup_only:
        _append(args.out, [session])
        only = rollup_bench(sizes)
        _append(args.out, ({**r, "session": session["session"]} for r in only))
        report_rollups(only)
        return 0

    names = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODES]
    if unknown:
        sys.exit(f"unknown mode(s): {', '.join(unknown)} (known: {DEFAULT_MODES})")
    if "mprof" in names and mprof_path() is None:
        print("note: mprof (memory_profiler) is not installed: skipping the mprof mode")
        names.remove("mprof")
    if "plain" not in names:
        print("note: without the plain mode there are no ratios")
    session["modes"] = names
    orders = session["orders"]

    runs: list[Record] = []
    with tempfile.TemporaryDirectory(prefix="memhound-bench-") as tmp:
        workdir = Path(tmp)
        env = child_env(workdir, memhound_src)
        session["memhound"] = memhound_origin(env)
        session["source"] = str(memhound_src) if memhound_src else source_revision()
        print(f"memhound: {session['memhound']} ({session['source']})")
        _append(args.out, [session])
        if not args.no_warmup:
            print(f"warm-up: every mode once on {WARMUP_ORDERS} orders (not recorded)")
            for name in names:
                run_once(MODES[name], min(orders, WARMUP_ORDERS), workdir, env)
        for rnd in range(args.rounds):
            order = rotated(names, rnd)
            for slot, name in enumerate(order):
                rec = run_once(MODES[name], orders, workdir, env)
                rec.update(session=session["session"], round=rnd, slot=slot)
                runs.append(rec)
                _append(args.out, [rec])
                print(
                    f"[round {rnd + 1}/{args.rounds} {slot + 1}/{len(order)}] {name:<20}"
                    f"{rec['wall_s']:7.2f} s  cpu {rec['cpu_s']:6.2f} s  "
                    f"peak {_mib(rec['target_peak_bytes'])}",
                    flush=True,
                )
    rollups: list[Record] = []
    if not args.no_rollup:
        print("procfs read cost:")
        rollups = rollup_bench(sizes)
        _append(args.out, ({**r, "session": session["session"]} for r in rollups))
    report(session, runs, rollups)
    print(f"\nrecords appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
