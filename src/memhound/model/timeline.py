"""The timeline of a run: samples, processes, checkpoints, gc collections, traced heap.

Stored as ``timeline.jsonl``, one JSON object per line, appended as things happen, so a run
whose target or whose memhound was killed can still be read up to its last whole line.
Times ``t`` are seconds since the run started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from memhound.errors import RunFormatError
from memhound.model.readings import MemoryReading

TIMELINE_FORMAT = "memhound.timeline"
TIMELINE_VERSION = 1


@dataclass(frozen=True)
class ProcSample:
    """One process in one sample. ``pss_bytes`` is estimated between rollup reads."""

    pid: int
    rss_bytes: int
    pss_bytes: int | None
    uss_bytes: int | None
    swap_bytes: int
    peak_rss_bytes: int
    pss_estimated: bool = False


@dataclass(frozen=True)
class Sample:
    """The process tree at one tick. The total is PSS-based: shared pages count once."""

    t: float
    total_pss_bytes: int
    total_rss_bytes: int
    total_uss_bytes: int | None
    procs: tuple[ProcSample, ...]


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    cmdline: tuple[str, ...]
    t: float


@dataclass(frozen=True)
class ProcessExit:
    pid: int
    t: float


@dataclass(frozen=True)
class Checkpoint:
    t: float
    pid: int
    label: str
    reading: MemoryReading | None


@dataclass(frozen=True)
class GcEvent:
    t: float
    pid: int
    generation: int
    collected: int
    uncollectable: int
    duration_s: float


@dataclass(frozen=True)
class TracedSample:
    t: float
    pid: int
    current_bytes: int
    peak_bytes: int


@dataclass(frozen=True)
class AgentInfo:
    """A Python process that ran memhound's agent and said hello."""

    t: float
    pid: int
    python: str
    executable: str
    trace_python: bool
    #: The signal it answers with a measurement (memhound soak --serve sets one); 0: none.
    measure_signal: int = 0


@dataclass(frozen=True)
class AgentExit:
    """A Python process's last word, from its atexit handler (before interpreter teardown)."""

    t: float
    pid: int
    rss_bytes: int
    iterations: int


@dataclass(frozen=True)
class ResourceSample:
    """Counts of resources held by the process tree at one moment: ``totals`` by series name
    (``fds``, ``fds.socket``, ``threads``, ``sockets.ESTABLISHED``, ``postgres.backends``,
    ``redis.clients``, ...) and the same per process (``by_pid``)."""

    t: float
    totals: dict[str, int]
    by_pid: dict[int, dict[str, int]]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenResource:
    """A socket, file, connection or thread still open when a Python process exited, and the
    stack that created it (oldest frame first)."""

    kind: str
    what: str
    stack: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OpenResources:
    t: float
    pid: int
    items: tuple[OpenResource, ...]


@dataclass(frozen=True)
class SnapshotTaken:
    """A heap snapshot a process wrote (``error`` set when it could not)."""

    t: float
    pid: int
    reason: str
    path: str | None
    nodes: int | None
    total_bytes: int | None
    error: str | None = None


@dataclass(frozen=True)
class IterationCount:
    """How many times a process had called ``memhound.iteration()`` by ``t``."""

    t: float
    pid: int
    n: int


@dataclass
class Timeline:
    """Everything a run recorded over time, in order of arrival per kind."""

    samples: list[Sample] = field(default_factory=list)
    processes: list[ProcessInfo] = field(default_factory=list)
    exits: list[ProcessExit] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    gc_events: list[GcEvent] = field(default_factory=list)
    traced: list[TracedSample] = field(default_factory=list)
    agents: list[AgentInfo] = field(default_factory=list)
    agent_exits: list[AgentExit] = field(default_factory=list)
    resources: list[ResourceSample] = field(default_factory=list)
    open_at_exit: list[OpenResources] = field(default_factory=list)
    snapshots: list[SnapshotTaken] = field(default_factory=list)
    iterations: list[IterationCount] = field(default_factory=list)
    damaged_lines: int = 0

    def add(self, record: object) -> None:
        if isinstance(record, Sample):
            self.samples.append(record)
        elif isinstance(record, ProcessInfo):
            self.processes.append(record)
        elif isinstance(record, ProcessExit):
            self.exits.append(record)
        elif isinstance(record, Checkpoint):
            self.checkpoints.append(record)
        elif isinstance(record, GcEvent):
            self.gc_events.append(record)
        elif isinstance(record, TracedSample):
            self.traced.append(record)
        elif isinstance(record, AgentInfo):
            self.agents.append(record)
        elif isinstance(record, AgentExit):
            self.agent_exits.append(record)
        elif isinstance(record, ResourceSample):
            self.resources.append(record)
        elif isinstance(record, OpenResources):
            self.open_at_exit.append(record)
        elif isinstance(record, SnapshotTaken):
            self.snapshots.append(record)
        elif isinstance(record, IterationCount):
            self.iterations.append(record)


Record = (
    Sample
    | ProcessInfo
    | ProcessExit
    | Checkpoint
    | GcEvent
    | TracedSample
    | AgentInfo
    | AgentExit
    | ResourceSample
    | OpenResources
    | SnapshotTaken
    | IterationCount
)


def header_line() -> str:
    return json.dumps({"kind": "header", "format": TIMELINE_FORMAT, "version": TIMELINE_VERSION})


def encode(record: Record) -> str:
    """One record as one JSON line (without the newline)."""
    d: dict[str, Any]
    if isinstance(record, Sample):
        d = {
            "kind": "sample",
            "t": round(record.t, 4),
            "total_pss_bytes": record.total_pss_bytes,
            "total_rss_bytes": record.total_rss_bytes,
            "total_uss_bytes": record.total_uss_bytes,
            "procs": [
                {
                    "pid": p.pid,
                    "rss_bytes": p.rss_bytes,
                    "pss_bytes": p.pss_bytes,
                    "uss_bytes": p.uss_bytes,
                    "swap_bytes": p.swap_bytes,
                    "peak_rss_bytes": p.peak_rss_bytes,
                    "pss_estimated": p.pss_estimated,
                }
                for p in record.procs
            ],
        }
    elif isinstance(record, ProcessInfo):
        d = {
            "kind": "process",
            "t": round(record.t, 4),
            "pid": record.pid,
            "ppid": record.ppid,
            "cmdline": list(record.cmdline),
        }
    elif isinstance(record, ProcessExit):
        d = {"kind": "exit", "t": round(record.t, 4), "pid": record.pid}
    elif isinstance(record, Checkpoint):
        d = {
            "kind": "checkpoint",
            "t": round(record.t, 4),
            "pid": record.pid,
            "label": record.label,
            "reading": record.reading.to_dict() if record.reading else None,
        }
    elif isinstance(record, GcEvent):
        d = {
            "kind": "gc",
            "t": round(record.t, 4),
            "pid": record.pid,
            "generation": record.generation,
            "collected": record.collected,
            "uncollectable": record.uncollectable,
            "duration_s": record.duration_s,
        }
    elif isinstance(record, TracedSample):
        d = {
            "kind": "traced",
            "t": round(record.t, 4),
            "pid": record.pid,
            "current_bytes": record.current_bytes,
            "peak_bytes": record.peak_bytes,
        }
    elif isinstance(record, ResourceSample):
        d = {
            "kind": "resources",
            "t": round(record.t, 4),
            "totals": record.totals,
            "by_pid": {str(pid): counts for pid, counts in record.by_pid.items()},
            "errors": list(record.errors),
        }
    elif isinstance(record, IterationCount):
        d = {"kind": "iterations", "t": round(record.t, 4), "pid": record.pid, "n": record.n}
    elif isinstance(record, SnapshotTaken):
        d = {
            "kind": "snapshot",
            "t": round(record.t, 4),
            "pid": record.pid,
            "reason": record.reason,
            "path": record.path,
            "nodes": record.nodes,
            "total_bytes": record.total_bytes,
            "error": record.error,
        }
    elif isinstance(record, OpenResources):
        d = {
            "kind": "open-resources",
            "t": round(record.t, 4),
            "pid": record.pid,
            "items": [
                {"kind": i.kind, "what": i.what, "stack": [list(f) for f in i.stack]}
                for i in record.items
            ],
        }
    elif isinstance(record, AgentExit):
        d = {
            "kind": "agent-exit",
            "t": round(record.t, 4),
            "pid": record.pid,
            "rss_bytes": record.rss_bytes,
            "iterations": record.iterations,
        }
    else:
        d = {
            "kind": "agent",
            "t": round(record.t, 4),
            "pid": record.pid,
            "python": record.python,
            "executable": record.executable,
            "trace_python": record.trace_python,
        }
        if record.measure_signal:
            d["measure_signal"] = record.measure_signal
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def decode(d: dict[str, Any]) -> Record | None:
    """One parsed line back into a record; None for kinds this version does not know."""
    kind = d.get("kind")
    if kind == "sample":
        return Sample(
            t=float(d["t"]),
            total_pss_bytes=int(d["total_pss_bytes"]),
            total_rss_bytes=int(d["total_rss_bytes"]),
            total_uss_bytes=d.get("total_uss_bytes"),
            procs=tuple(
                ProcSample(
                    pid=int(p["pid"]),
                    rss_bytes=int(p["rss_bytes"]),
                    pss_bytes=p.get("pss_bytes"),
                    uss_bytes=p.get("uss_bytes"),
                    swap_bytes=int(p.get("swap_bytes", 0)),
                    peak_rss_bytes=int(p.get("peak_rss_bytes", 0)),
                    pss_estimated=bool(p.get("pss_estimated", False)),
                )
                for p in d.get("procs", [])
            ),
        )
    if kind == "process":
        return ProcessInfo(
            pid=int(d["pid"]), ppid=int(d["ppid"]), cmdline=tuple(d["cmdline"]), t=float(d["t"])
        )
    if kind == "exit":
        return ProcessExit(pid=int(d["pid"]), t=float(d["t"]))
    if kind == "checkpoint":
        reading = d.get("reading")
        return Checkpoint(
            t=float(d["t"]),
            pid=int(d["pid"]),
            label=str(d["label"]),
            reading=MemoryReading.from_dict(reading) if reading else None,
        )
    if kind == "gc":
        return GcEvent(
            t=float(d["t"]),
            pid=int(d["pid"]),
            generation=int(d["generation"]),
            collected=int(d["collected"]),
            uncollectable=int(d["uncollectable"]),
            duration_s=float(d["duration_s"]),
        )
    if kind == "traced":
        return TracedSample(
            t=float(d["t"]),
            pid=int(d["pid"]),
            current_bytes=int(d["current_bytes"]),
            peak_bytes=int(d["peak_bytes"]),
        )
    if kind == "resources":
        return ResourceSample(
            t=float(d["t"]),
            totals={str(k): int(v) for k, v in d.get("totals", {}).items()},
            by_pid={
                int(pid): {str(k): int(v) for k, v in counts.items()}
                for pid, counts in d.get("by_pid", {}).items()
            },
            errors=tuple(d.get("errors", ())),
        )
    if kind == "iterations":
        return IterationCount(t=float(d["t"]), pid=int(d["pid"]), n=int(d["n"]))
    if kind == "snapshot":
        return SnapshotTaken(
            t=float(d["t"]),
            pid=int(d["pid"]),
            reason=str(d.get("reason", "")),
            path=d.get("path"),
            nodes=d.get("nodes"),
            total_bytes=d.get("total_bytes"),
            error=d.get("error"),
        )
    if kind == "open-resources":
        return OpenResources(
            t=float(d["t"]),
            pid=int(d["pid"]),
            items=tuple(
                OpenResource(
                    kind=str(i["kind"]),
                    what=str(i["what"]),
                    stack=tuple((str(f[0]), int(f[1])) for f in i.get("stack", ())),
                )
                for i in d.get("items", ())
            ),
        )
    if kind == "agent-exit":
        return AgentExit(
            t=float(d["t"]),
            pid=int(d["pid"]),
            rss_bytes=int(d["rss_bytes"]),
            iterations=int(d.get("iterations", 0)),
        )
    if kind == "agent":
        return AgentInfo(
            t=float(d["t"]),
            pid=int(d["pid"]),
            python=str(d.get("python", "")),
            executable=str(d.get("executable", "")),
            trace_python=bool(d.get("trace_python", False)),
            measure_signal=int(d.get("measure_signal", 0)),
        )
    return None


def parse_lines(lines: list[str]) -> Timeline:
    """Parse timeline.jsonl text. A damaged line (e.g. cut by a kill) is counted, not fatal."""
    timeline = Timeline()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if i == 0 and d.get("kind") == "header":
                if d.get("format") != TIMELINE_FORMAT:
                    raise RunFormatError(f"not a memhound timeline (format {d.get('format')!r})")
                if int(d.get("version", 0)) > TIMELINE_VERSION:
                    raise RunFormatError(
                        f"timeline format version {d['version']} is newer than this memhound",
                        hint="upgrade memhound to read it",
                    )
                continue
            record = decode(d)
        except (ValueError, KeyError, TypeError):
            timeline.damaged_lines += 1
            continue
        if record is not None:
            timeline.add(record)
    return timeline
