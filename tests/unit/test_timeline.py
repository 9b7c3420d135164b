"""The timeline's line format: round trips, damage tolerance, versions."""

from __future__ import annotations

import json

import pytest

from memhound.errors import RunFormatError
from memhound.model.readings import MemoryReading
from memhound.model.timeline import (
    AgentExit,
    AgentInfo,
    Checkpoint,
    GcEvent,
    IterationCount,
    OpenResource,
    OpenResources,
    ProcessExit,
    ProcessInfo,
    ProcSample,
    ResourceSample,
    Sample,
    SnapshotTaken,
    TracedSample,
    decode,
    encode,
    header_line,
    parse_lines,
)

READING = MemoryReading(
    pid=5,
    time_s=1.5,
    rss_bytes=100,
    pss_bytes=90,
    uss_bytes=80,
    swap_bytes=0,
    peak_rss_bytes=120,
    traced_current_bytes=None,
    traced_peak_bytes=None,
    gc_counts=(1, 2, 3),
    gc_tracked_objects=1000,
    threads=1,
    open_fds=4,
)

RECORDS = [
    Sample(
        t=0.05,
        total_pss_bytes=90,
        total_rss_bytes=100,
        total_uss_bytes=80,
        procs=(ProcSample(5, 100, 90, 80, 0, 120, False),),
    ),
    ProcessInfo(pid=5, ppid=1, cmdline=("python", "-c", "x = '<b>'"), t=0.0),
    ProcessExit(pid=5, t=2.0),
    Checkpoint(t=1.0, pid=5, label="après <script>", reading=READING),
    GcEvent(t=1.1, pid=5, generation=2, collected=7, uncollectable=0, duration_s=0.002),
    TracedSample(t=1.2, pid=5, current_bytes=10, peak_bytes=20),
    AgentInfo(t=0.01, pid=5, python="3.11.7", executable="/usr/bin/python3", trace_python=True),
    AgentInfo(
        t=0.02, pid=6, python="3.12.1", executable="/py", trace_python=True, measure_signal=40
    ),
    AgentExit(t=2.5, pid=5, rss_bytes=123_456, iterations=7),
    IterationCount(t=3.5, pid=5, n=120),
    SnapshotTaken(
        t=4.0,
        pid=5,
        reason="signal",
        path="/r/snapshots/5-1-signal.heapsnapshot",
        nodes=1000,
        total_bytes=2048,
    ),
    SnapshotTaken(
        t=4.5,
        pid=5,
        reason="exit",
        path=None,
        nodes=None,
        total_bytes=None,
        error="ImportError('numpy')",
    ),
    OpenResources(
        t=5.0,
        pid=5,
        items=(
            OpenResource("socket", "socket ('127.0.0.1', 1)", (("/app/x.py", 3), ("/app/y.py", 9))),
        ),
    ),
    ResourceSample(
        t=3.0,
        totals={"fds": 9, "postgres.backends": 2},
        by_pid={5: {"fds": 9, "postgres.backends": 2}},
        errors=("down",),
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_round_trip(record: object) -> None:
    line = encode(record)  # type: ignore[arg-type]
    assert "\n" not in line
    assert decode(json.loads(line)) == record


def test_reading_str_names_units() -> None:
    text = str(READING)
    assert text.startswith("rss 100 B  pss 90 B  uss 80 B  swap 0 B")
    assert "gc-counts 1/2/3" in text and "fds 4" in text


def test_damaged_and_unknown_lines_are_skipped() -> None:
    lines = [header_line()] + [encode(r) for r in RECORDS]  # type: ignore[arg-type]
    lines.insert(3, '{"kind": "sample", "t": 1')  # cut by a kill mid-write
    lines.append('{"kind": "from-the-future", "t": 3}')
    lines.append('{"kind": "gc", "t"')
    tl = parse_lines(lines)
    assert tl.damaged_lines == 2
    assert len(tl.samples) == 1 and len(tl.checkpoints) == 1 and len(tl.gc_events) == 1


def test_newer_version_is_refused_clearly() -> None:
    header = json.dumps({"kind": "header", "format": "memhound.timeline", "version": 99})
    with pytest.raises(RunFormatError, match="newer"):
        parse_lines([header])


def test_every_saved_format_refuses_a_newer_version_and_a_foreign_file() -> None:
    from memhound.model.allocations import AllocReport
    from memhound.model.imports import ImportReport
    from memhound.model.tune import TuneResult

    for cls, name, what in [
        (AllocReport, "memhound.alloc", "allocation report"),
        (ImportReport, "memhound.imports", "import report"),
        (TuneResult, "memhound.tune", "tune result"),
    ]:
        with pytest.raises(RunFormatError, match=f"not a memhound {what}"):
            cls.from_dict({"format": "something.else", "version": 1})
        with pytest.raises(RunFormatError, match="newer than this memhound") as info:
            cls.from_dict({"format": name, "version": 99})
        assert info.value.hint == "upgrade memhound to read it"
