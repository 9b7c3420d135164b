"""The timeline of a run: samples, processes, checkpoints, gc collections, traced heap.

Stored as ``timeline.jsonl``, one JSON object per line, appended as things happen, so a run
whose target or whose memhound was killed can still be read up to its last whole line.
Times ``t`` are seconds since the run started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from memhound.model._format import check_format, check_types
from memhound.model.readings import MemoryReading

TIMELINE_FORMAT = "memhound.timeline"
TIMELINE_VERSION = 1


def _t(t: float) -> float:
    """Times are stored to 0.1 ms: finer digits only make the file longer."""
    return round(t, 4)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "rss_bytes": self.rss_bytes,
            "pss_bytes": self.pss_bytes,
            "uss_bytes": self.uss_bytes,
            "swap_bytes": self.swap_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "pss_estimated": self.pss_estimated,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProcSample:
        return cls(
            pid=int(d["pid"]),
            rss_bytes=int(d["rss_bytes"]),
            pss_bytes=d.get("pss_bytes"),
            uss_bytes=d.get("uss_bytes"),
            swap_bytes=int(d.get("swap_bytes", 0)),
            peak_rss_bytes=int(d.get("peak_rss_bytes", 0)),
            pss_estimated=bool(d.get("pss_estimated", False)),
        )


# Each record class below names its line's ``kind`` and reads and writes the rest of the line
# itself (``to_dict`` leaves ``kind`` out: ``encode`` puts it first). The keys and their order
# are the file format: old timelines must keep loading.


@dataclass(frozen=True)
class Sample:
    """The process tree at one tick. The total is PSS-based: shared pages count once."""

    KIND: ClassVar[str] = "sample"

    t: float
    total_pss_bytes: int
    total_rss_bytes: int
    total_uss_bytes: int | None
    procs: tuple[ProcSample, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "total_pss_bytes": self.total_pss_bytes,
            "total_rss_bytes": self.total_rss_bytes,
            "total_uss_bytes": self.total_uss_bytes,
            "procs": [p.to_dict() for p in self.procs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sample:
        return cls(
            t=float(d["t"]),
            total_pss_bytes=int(d["total_pss_bytes"]),
            total_rss_bytes=int(d["total_rss_bytes"]),
            total_uss_bytes=d.get("total_uss_bytes"),
            procs=tuple(ProcSample.from_dict(p) for p in d.get("procs", [])),
        )


@dataclass(frozen=True)
class ProcessInfo:
    KIND: ClassVar[str] = "process"

    pid: int
    ppid: int
    cmdline: tuple[str, ...]
    t: float

    def to_dict(self) -> dict[str, Any]:
        return {"t": _t(self.t), "pid": self.pid, "ppid": self.ppid, "cmdline": list(self.cmdline)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProcessInfo:
        return cls(
            pid=int(d["pid"]), ppid=int(d["ppid"]), cmdline=tuple(d["cmdline"]), t=float(d["t"])
        )


@dataclass(frozen=True)
class ProcessExit:
    KIND: ClassVar[str] = "exit"

    pid: int
    t: float

    def to_dict(self) -> dict[str, Any]:
        return {"t": _t(self.t), "pid": self.pid}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProcessExit:
        return cls(pid=int(d["pid"]), t=float(d["t"]))


@dataclass(frozen=True)
class Checkpoint:
    KIND: ClassVar[str] = "checkpoint"

    t: float
    pid: int
    label: str
    reading: MemoryReading | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "label": self.label,
            "reading": self.reading.to_dict() if self.reading else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        reading = d.get("reading")
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            label=str(d["label"]),
            reading=MemoryReading.from_dict(reading) if reading else None,
        )


@dataclass(frozen=True)
class GcEvent:
    KIND: ClassVar[str] = "gc"

    t: float
    pid: int
    generation: int
    collected: int
    uncollectable: int
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "generation": self.generation,
            "collected": self.collected,
            "uncollectable": self.uncollectable,
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GcEvent:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            generation=int(d["generation"]),
            collected=int(d["collected"]),
            uncollectable=int(d["uncollectable"]),
            duration_s=float(d["duration_s"]),
        )


@dataclass(frozen=True)
class TracedSample:
    KIND: ClassVar[str] = "traced"

    t: float
    pid: int
    current_bytes: int
    peak_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "current_bytes": self.current_bytes,
            "peak_bytes": self.peak_bytes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TracedSample:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            current_bytes=int(d["current_bytes"]),
            peak_bytes=int(d["peak_bytes"]),
        )


@dataclass(frozen=True)
class AgentInfo:
    """A Python process that ran memhound's agent and said hello."""

    KIND: ClassVar[str] = "agent"

    t: float
    pid: int
    python: str
    executable: str
    trace_python: bool
    #: The signal it answers with a measurement (memhound soak --serve sets one); 0: none.
    measure_signal: int = 0
    #: The signal on which it answers memhound's questions about open resources; 0: none.
    resources_signal: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "python": self.python,
            "executable": self.executable,
            "trace_python": self.trace_python,
            # written only when set, so a run's timeline reads as before
            **({"measure_signal": self.measure_signal} if self.measure_signal else {}),
            **({"resources_signal": self.resources_signal} if self.resources_signal else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentInfo:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            python=str(d.get("python", "")),
            executable=str(d.get("executable", "")),
            trace_python=bool(d.get("trace_python", False)),
            measure_signal=int(d.get("measure_signal", 0)),
            resources_signal=int(d.get("resources_signal", 0)),
        )


@dataclass(frozen=True)
class AgentExit:
    """A Python process's last word, from its atexit handler (before interpreter teardown)."""

    KIND: ClassVar[str] = "agent-exit"

    t: float
    pid: int
    rss_bytes: int
    iterations: int
    #: How often malloc_trim(0) ran in it (memhound tune's malloc-trim setting).
    trims: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "rss_bytes": self.rss_bytes,
            "iterations": self.iterations,
            **({"trims": self.trims} if self.trims else {}),  # only where the setting was on
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentExit:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            rss_bytes=int(d["rss_bytes"]),
            iterations=int(d.get("iterations", 0)),
            trims=int(d.get("trims", 0)),
        )


@dataclass(frozen=True)
class ResourceSample:
    """Counts of resources held by the process tree at one moment: ``totals`` by series name
    (``fds``, ``fds.socket``, ``threads``, ``sockets.ESTABLISHED``, ``postgres.backends``,
    ``redis.clients``, ...) and the same per process (``by_pid``)."""

    KIND: ClassVar[str] = "resources"

    t: float
    totals: dict[str, int]
    by_pid: dict[int, dict[str, int]]
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "totals": self.totals,
            "by_pid": {str(pid): counts for pid, counts in self.by_pid.items()},
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResourceSample:
        return cls(
            t=float(d["t"]),
            totals={str(k): int(v) for k, v in d.get("totals", {}).items()},
            by_pid={
                int(pid): {str(k): int(v) for k, v in counts.items()}
                for pid, counts in d.get("by_pid", {}).items()
            },
            errors=tuple(d.get("errors", ())),
        )


@dataclass(frozen=True)
class OpenResource:
    """A socket, file, connection or thread still open when a Python process exited, and the
    stack that created it (oldest frame first)."""

    kind: str
    what: str
    stack: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "stack": [list(f) for f in self.stack]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenResource:
        return cls(
            kind=str(d["kind"]),
            what=str(d["what"]),
            stack=tuple((str(f[0]), int(f[1])) for f in d.get("stack", ())),
        )


@dataclass(frozen=True)
class OpenResources:
    KIND: ClassVar[str] = "open-resources"

    t: float
    pid: int
    items: tuple[OpenResource, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"t": _t(self.t), "pid": self.pid, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenResources:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            items=tuple(OpenResource.from_dict(i) for i in d.get("items", ())),
        )


@dataclass(frozen=True)
class SnapshotTaken:
    """A heap snapshot a process wrote (``error`` set when it could not)."""

    KIND: ClassVar[str] = "snapshot"

    t: float
    pid: int
    reason: str
    path: str | None
    nodes: int | None
    total_bytes: int | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": _t(self.t),
            "pid": self.pid,
            "reason": self.reason,
            "path": self.path,
            "nodes": self.nodes,
            "total_bytes": self.total_bytes,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SnapshotTaken:
        return cls(
            t=float(d["t"]),
            pid=int(d["pid"]),
            reason=str(d.get("reason", "")),
            path=d.get("path"),
            nodes=d.get("nodes"),
            total_bytes=d.get("total_bytes"),
            error=d.get("error"),
        )


@dataclass(frozen=True)
class IterationCount:
    """How many times a process had called ``memhound.iteration()`` by ``t``."""

    KIND: ClassVar[str] = "iterations"

    t: float
    pid: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"t": _t(self.t), "pid": self.pid, "n": self.n}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IterationCount:
        return cls(t=float(d["t"]), pid=int(d["pid"]), n=int(d["n"]))


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
        name = _LIST_OF.get(type(record))
        if name is not None:
            getattr(self, name).append(record)


#: Every record class and the Timeline list that holds its records.
_RECORD_CLASSES: tuple[tuple[type[Record], str], ...] = (
    (Sample, "samples"),
    (ProcessInfo, "processes"),
    (ProcessExit, "exits"),
    (Checkpoint, "checkpoints"),
    (GcEvent, "gc_events"),
    (TracedSample, "traced"),
    (AgentInfo, "agents"),
    (AgentExit, "agent_exits"),
    (ResourceSample, "resources"),
    (OpenResources, "open_at_exit"),
    (SnapshotTaken, "snapshots"),
    (IterationCount, "iterations"),
)
_BY_KIND: dict[str, type[Record]] = {cls.KIND: cls for cls, _ in _RECORD_CLASSES}
_LIST_OF: dict[type, str] = dict(_RECORD_CLASSES)


def header_line() -> str:
    return json.dumps({"kind": "header", "format": TIMELINE_FORMAT, "version": TIMELINE_VERSION})


def encode(record: Record) -> str:
    """One record as one JSON line (without the newline)."""
    d = {"kind": record.KIND, **record.to_dict()}
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def decode(d: dict[str, Any]) -> Record | None:
    """One parsed line back into a record; None for kinds this version does not know."""
    kind = d.get("kind")
    cls = _BY_KIND.get(kind) if isinstance(kind, str) else None
    return cls.from_dict(d) if cls is not None else None


def parse_lines(lines: list[str]) -> Timeline:
    """Parse timeline.jsonl text. A damaged line (e.g. cut by a kill) is counted, not fatal."""
    timeline = Timeline()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            if i == 0 and d.get("kind") == "header":
                check_format(d, name=TIMELINE_FORMAT, version=TIMELINE_VERSION, what="timeline")
                continue
            record = decode(d)
            if record is not None:
                check_types(record)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError):
            timeline.damaged_lines += 1
            continue
        if record is not None:
            timeline.add(record)
    return timeline
