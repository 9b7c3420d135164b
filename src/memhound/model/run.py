"""The saved Run: a directory with run.json, timeline.jsonl and report.html.

``run.json`` is written when the run starts (status "running") and rewritten atomically when
it ends; ``timeline.jsonl`` is appended as samples arrive. A run whose memhound was killed
keeps status "running" and a timeline readable up to its last whole line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from memhound import __version__
from memhound._fsutil import atomic_write, make_private_dir, open_private_append
from memhound._platform import platform_info
from memhound.errors import OutputNotWritable, RunFormatError
from memhound.model._format import check_format, check_types
from memhound.model.timeline import GcEvent, Record, Timeline, encode, header_line, parse_lines

RUN_FORMAT = "memhound.run"
RUN_VERSION = 1
RUN_FILE = "run.json"
TIMELINE_FILE = "timeline.jsonl"
REPORT_FILE = "report.html"
#: room kept on the disk while a run is written, given back to write its end on a full disk
RESERVE_FILE = ".reserve"


@dataclass(frozen=True)
class OomVerdict:
    """Why we think (or do not think) the kernel's OOM killer ended the process."""

    likely: bool
    reason: str
    limit_bytes: int | None
    memory_at_death_bytes: int | None
    oom_kills_during_run: int | None


@dataclass(frozen=True)
class ExitStatus:
    """How the target ended. ``returncode`` is what a shell would report (128+N for signal N)."""

    returncode: int | None
    signal: int | None = None
    signal_name: str | None = None
    interrupted: bool = False
    oom: OomVerdict | None = None
    #: The largest RSS of the target (or a descendant it reaped), from wait4's rusage:
    #: exact even when the peak fell between two samples.
    max_rss_bytes: int | None = None

    def describe(self) -> str:
        if self.returncode is None:
            return "still running or unknown"
        if self.signal is not None:
            text = f"killed by {self.signal_name or 'signal ' + str(self.signal)}"
            if self.oom is not None and self.oom.likely:
                text += " - most likely OOM-killed"
            return text
        return f"exited with code {self.returncode}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExitStatus:
        oom = d.get("oom")
        return cls(
            returncode=d.get("returncode"),
            signal=d.get("signal"),
            signal_name=d.get("signal_name"),
            interrupted=bool(d.get("interrupted", False)),
            oom=OomVerdict(**oom) if oom else None,
            max_rss_bytes=d.get("max_rss_bytes"),
        )


@dataclass(frozen=True)
class RunMeta:
    kind: str  # "run" or "watch"
    command: tuple[str, ...]
    target_pid: int | None
    cwd: str
    started_at: str
    started_epoch_s: float
    interval_s: float
    memhound_version: str
    agent: bool = False
    trace_python: bool = False
    limit_bytes: int | None = None
    status: str = "running"  # running | complete | interrupted
    #: Servers watched alongside memory, credentials masked: {"postgres": ..., "redis": ...}.
    watched: dict[str, str] = field(default_factory=dict)
    ended_at: str | None = None
    duration_s: float | None = None
    exit: ExitStatus | None = None
    platform: dict[str, Any] = field(default_factory=dict)
    #: Why the files on disk lack part of the run (``No space left on device: 1,204 timeline
    #: lines not written``); None when everything was written.
    incomplete: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["command"] = list(self.command)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunMeta:
        """Read back ``to_dict()``; what an older run.json lacks gets its default."""
        exit_d = d.get("exit")
        return cls(
            kind=str(d.get("kind", "run")),
            command=tuple(d.get("command") or ()),
            target_pid=d.get("target_pid"),
            cwd=str(d.get("cwd", "")),
            started_at=str(d.get("started_at", "")),
            started_epoch_s=float(d.get("started_epoch_s", 0.0)),
            interval_s=float(d.get("interval_s", 0.05)),
            memhound_version=str(d.get("memhound_version", "?")),
            agent=bool(d.get("agent", False)),
            trace_python=bool(d.get("trace_python", False)),
            limit_bytes=d.get("limit_bytes"),
            status=str(d.get("status", "running")),
            ended_at=d.get("ended_at"),
            duration_s=d.get("duration_s"),
            exit=ExitStatus.from_dict(exit_d) if exit_d else None,
            platform=dict(d.get("platform") or {}),
            watched=dict(d.get("watched") or {}),
            incomplete=d.get("incomplete"),
        )


@dataclass(frozen=True)
class ProcessSummary:
    pid: int
    ppid: int
    cmdline: tuple[str, ...]
    first_t: float
    last_t: float
    peak_rss_bytes: int
    peak_pss_bytes: int | None
    final_rss_bytes: int
    final_pss_bytes: int | None
    final_uss_bytes: int | None
    exited: bool


@dataclass(frozen=True)
class GcSummary:
    collections: tuple[int, int, int]
    collected: int
    uncollectable: int
    pause_total_s: float
    pause_max_s: float
    last: tuple[GcEvent, ...]
    longest: tuple[GcEvent, ...] = ()


@dataclass(frozen=True)
class ResourceTrend:
    """One resource series of the tree (fds, threads, postgres.backends, ...) and whether it
    grows: a Theil-Sen slope whose whole 95% interval is above zero, with a significant
    Mann-Kendall trend. ``by_pid_at_peak`` attributes the count at its peak to processes."""

    name: str
    first: int
    last: int
    peak: int
    per_minute: float
    #: None when too few samples were taken for an interval (it would be -inf to +inf,
    #: which JSON cannot hold)
    ci_low_per_minute: float | None
    ci_high_per_minute: float | None
    growing: bool
    by_pid_at_peak: dict[int, int]
    #: Against the work done (``memhound.iteration()`` calls) when the program marked it.
    per_iteration: float | None = None
    ci_low_per_iteration: float | None = None
    ci_high_per_iteration: float | None = None


@dataclass(frozen=True)
class RunSummary:
    duration_s: float
    samples: int
    start_total_pss_bytes: int | None
    peak_total_pss_bytes: int | None
    peak_t: float | None
    peak_total_rss_bytes: int | None
    final_total_pss_bytes: int | None
    final_total_rss_bytes: int | None
    max_processes: int
    processes: tuple[ProcessSummary, ...]
    gc: GcSummary | None
    checkpoints: int
    traced_peak_bytes: int | None
    damaged_lines: int
    resources: tuple[ResourceTrend, ...] = ()
    resource_errors: tuple[str, ...] = ()
    #: Total iterations marked with ``memhound.iteration()``, and memory (PSS of the tree)
    #: against them: a Theil-Sen slope in bytes per iteration with its 95% interval.
    iterations: int | None = None
    memory_per_iteration: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples as lists, pids as string keys. Not read back: a loaded run is
        summarised again from its timeline (``memhound.load_run``)."""
        d = asdict(self)
        for r in d["resources"]:
            r["by_pid_at_peak"] = {str(k): v for k, v in r["by_pid_at_peak"].items()}
        d["resource_errors"] = list(d["resource_errors"])
        if d["memory_per_iteration"] is not None:
            d["memory_per_iteration"] = list(d["memory_per_iteration"])
        for p in d["processes"]:
            p["cmdline"] = list(p["cmdline"])
        if d["gc"] is not None:
            d["gc"]["collections"] = list(d["gc"]["collections"])
            d["gc"]["last"] = list(d["gc"]["last"])
            d["gc"]["longest"] = list(d["gc"]["longest"])
        return d


@dataclass
class Run:
    """A run loaded from (or being written to) its directory."""

    path: Path
    meta: RunMeta
    timeline: Timeline
    summary: RunSummary | None = None


# -- (de)serialisation ---------------------------------------------------------------------


def run_to_dict(run: Run) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "meta": run.meta.to_dict(),
        "summary": run.summary.to_dict() if run.summary else None,
    }


def load_run_files(path: str | os.PathLike[str]) -> Run:
    """Read a run directory as saved. The summary is left to the analysis layer."""
    root = Path(path)
    if not root.is_dir():
        raise RunFormatError(
            f"{str(root)!r} is not a run directory",
            hint="give the directory that `memhound run` printed (it holds run.json)",
        )
    run_file = root / RUN_FILE
    try:
        raw = json.loads(run_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunFormatError(
            f"{str(root)!r} has no {RUN_FILE}",
            hint="give the directory that `memhound run` printed",
        ) from exc
    except (OSError, ValueError) as exc:
        raise RunFormatError(f"cannot read {str(run_file)!r}: {exc}") from exc
    check_format(raw, name=RUN_FORMAT, version=RUN_VERSION, what="run", where=repr(str(run_file)))
    try:
        meta = RunMeta.from_dict(raw.get("meta") or {})
        check_types(meta)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
        raise RunFormatError(
            f"{str(run_file)!r}: its 'meta' is damaged ({exc})",
            hint="the file was edited or damaged; the run's other files may still be read "
            "one by one",
        ) from exc
    try:
        text = (root / TIMELINE_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    return Run(path=root, meta=meta, timeline=parse_lines(text.splitlines()))


def read_artifact(run_path: Path, name: str) -> dict[str, Any]:
    """A JSON file a command saved beside run.json (imports.json, tune.json, ...)."""
    try:
        data = json.loads((run_path / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFormatError(f"cannot read {run_path / name}: {exc}") from exc
    if not isinstance(data, dict):
        raise RunFormatError(f"{run_path / name} is not a JSON object")
    return data


# -- writing -------------------------------------------------------------------------------


def _slug(command: tuple[str, ...]) -> str:
    words = [os.path.basename(c) for c in command[:3] if c and not c.startswith("-")]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(words))[:40].strip("-.")
    return slug or "run"


def new_run_dir(base: Path, command: tuple[str, ...], started_epoch_s: float) -> Path:
    """A fresh directory under ``base``: ``20261122-203015-python-job.py``."""
    make_private_dir(base)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started_epoch_s))
    name = f"{stamp}-{_slug(command)}"
    for n in range(1000):
        candidate = base / (name if n == 0 else f"{name}-{n}")
        try:
            candidate.mkdir(mode=0o700)
            return candidate
        except FileExistsError:
            continue
    return make_private_dir(base / f"{name}-{os.getpid()}")


class RunWriter:
    """Writes a run as it happens: run.json first, timeline lines as they arrive.

    A write that fails (a full disk, a file size limit, an I/O error) never ends the run:
    the lines wait in memory (up to ``MAX_BACKLOG_BYTES``, the oldest dropped past that) and
    go out when there is room again; ``on_error`` is told once. At the end, a reserve file
    made at the start is deleted to make room for the last lines and a run.json that says
    what is missing (``RunMeta.incomplete``).
    """

    MAX_BACKLOG_BYTES = 64 << 20
    RESERVE_BYTES = 256 << 10

    def __init__(
        self, path: Path, meta: RunMeta, *, on_error: Callable[[str], None] | None = None
    ) -> None:
        self.path = make_private_dir(path)
        self.meta = meta
        self.on_error = on_error
        self.error: str | None = None
        self.lines_lost = 0
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._reserve = self.path / RESERVE_FILE
        with contextlib.suppress(OSError):
            self._reserve.write_bytes(bytes(self.RESERVE_BYTES))
        self._write_meta(meta, None)
        self._fd: int | None = open_private_append(self.path / TIMELINE_FILE)
        self._pending: list[str] = [header_line()]
        self.flush()

    def _failed(self, exc: OSError, what: str) -> None:
        if self.error is None:
            self.error = exc.strerror or str(exc)
            if self.on_error is not None:
                self.on_error(
                    f"cannot write {what} in {self.path} ({self.error}): watching goes on; "
                    f"the timeline waits in memory (up to "
                    f"{self.MAX_BACKLOG_BYTES >> 20} MiB) until there is room"
                )

    def _write_meta(self, meta: RunMeta, summary: RunSummary | None) -> None:
        run = Run(path=self.path, meta=meta, timeline=Timeline(), summary=summary)
        try:
            atomic_write(self.path / RUN_FILE, json.dumps(run_to_dict(run), indent=2) + "\n")
        except OSError as exc:
            self._failed(exc, RUN_FILE)

    def update_meta(self, meta: RunMeta) -> None:
        self.meta = meta
        self._write_meta(meta, None)

    def append(self, record: Record) -> None:
        self._pending.append(encode(record))

    def flush(self) -> None:
        """Hand pending lines to the kernel in one write: they survive our own death."""
        if self._fd is None:
            return
        if self._pending:
            data = ("\n".join(self._pending) + "\n").encode("utf-8")
            self._pending.clear()
            self._backlog.append(data)
            self._backlog_bytes += len(data)
        while self._backlog:
            chunk = self._backlog[0]
            try:
                n = os.write(self._fd, chunk)
            except OSError as exc:
                self._failed(exc, TIMELINE_FILE)
                break
            self._backlog_bytes -= n
            if n < len(chunk):
                self._backlog[0] = chunk[n:]
            else:
                self._backlog.popleft()
        while self._backlog_bytes > self.MAX_BACKLOG_BYTES and len(self._backlog) > 1:
            dropped = self._backlog.popleft()
            self._backlog_bytes -= len(dropped)
            self.lines_lost += dropped.count(b"\n")

    def finish(self, meta: RunMeta, summary: RunSummary | None) -> None:
        self.flush()
        if self._backlog:  # the disk is full: the reserve makes room for the end
            with contextlib.suppress(OSError):
                self._reserve.unlink()
            self.flush()
        unwritten = self.lines_lost + sum(chunk.count(b"\n") for chunk in self._backlog)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self.error is not None and unwritten:
            meta = replace(
                meta, incomplete=f"{self.error}: {unwritten:,} timeline line(s) not written"
            )
        with contextlib.suppress(OSError):
            self._reserve.unlink()
        self.meta = meta
        self._write_meta(meta, summary)

    def write_file(self, name: str, data: str | bytes) -> Path:
        target = self.path / name
        atomic_write(target, data)
        return target


def open_run(
    kind: str,
    command: tuple[str, ...],
    started: float,
    *,
    output_dir: Path | None,
    runs_dir: Path,
    slug: tuple[str, ...] | None = None,
    on_error: Callable[[str], None] | None = None,
    **meta: Any,
) -> RunWriter:
    """A new run directory with its run.json written: ``output_dir`` (which must not hold a
    run already) or a fresh one under ``runs_dir``."""
    if output_dir is not None and (output_dir / RUN_FILE).exists():
        raise OutputNotWritable(
            f"{str(output_dir)!r} already holds a run",
            hint="choose another directory with -o, or delete that one first",
        )
    path = output_dir or new_run_dir(runs_dir, slug or command, started)
    run_meta = RunMeta(
        kind=kind,
        command=command,
        target_pid=meta.pop("target_pid", None),
        cwd=os.getcwd(),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        started_epoch_s=started,
        interval_s=meta.pop("interval_s", 0.0),
        memhound_version=__version__,
        platform=platform_info(),
        **meta,
    )
    return RunWriter(Path(path), run_meta, on_error=on_error)
