"""agent.channel.decode: the agent's messages, hand-built, into records; malformed ones skipped."""

from __future__ import annotations

from typing import Any

import pytest

from memhound.agent.channel import Measured, ResourcesAnswer, agent_fd, decode, since
from memhound.model.readings import MemoryReading
from memhound.model.timeline import (
    AgentExit,
    AgentInfo,
    Checkpoint,
    GcEvent,
    IterationCount,
    OpenResource,
    OpenResources,
    SnapshotTaken,
    TracedSample,
)

EPOCH = 1_000.0
rel = since(EPOCH)


def test_gc_batch_is_one_record_per_collection() -> None:
    msg = {"kind": "gc", "pid": 7, "events": [[1001.5, 0, 10, 0, 0.001], [1002, 2, 300, 1, 0.02]]}
    assert decode(msg, rel) == [
        GcEvent(1.5, 7, 0, 10, 0, 0.001),
        GcEvent(2.0, 7, 2, 300, 1, 0.02),
    ]


def test_checkpoint_with_and_without_a_reading() -> None:
    reading = MemoryReading.from_dict({"pid": 7, "rss_bytes": 1 << 20, "gc_counts": [1, 2, 3]})
    with_reading = {
        "kind": "checkpoint",
        "pid": 7,
        "t": 1003.0,
        "label": "after query",
        "reading": reading.to_dict(),
    }
    assert decode(with_reading, rel) == [Checkpoint(3.0, 7, "after query", reading)]
    bare = {"kind": "checkpoint", "pid": 7, "t": 1003.0, "label": 5, "reading": {"x": 1}}
    assert decode(bare, rel) == [Checkpoint(3.0, 7, "5", None)]


@pytest.mark.parametrize(
    ("msg", "record"),
    [
        (
            {"kind": "traced", "pid": 7, "t": 1001, "current": 10, "peak": 20},
            TracedSample(1.0, 7, 10, 20),
        ),
        ({"kind": "iterations", "pid": 7, "t": 1001, "n": 120}, IterationCount(1.0, 7, 120)),
        (
            {
                "kind": "snapshot",
                "pid": 7,
                "t": 1001,
                "reason": "signal",
                "path": "/s/7-1-signal.heapsnapshot",
                "nodes": 1000,
                "bytes": 2048,
            },
            SnapshotTaken(1.0, 7, "signal", "/s/7-1-signal.heapsnapshot", 1000, 2048, None),
        ),
        (
            {"kind": "snapshot-failed", "pid": 7, "t": 1001, "reason": "exit", "error": "E()"},
            SnapshotTaken(1.0, 7, "exit", None, None, None, "E()"),
        ),
        (
            {
                "kind": "open-resources",
                "pid": 7,
                "t": 1001,
                "items": [
                    {"kind": "socket", "what": "tcp", "stack": [["job.py", 3]], "id": 1},
                    {"kind": "thread", "what": "worker"},
                ],
            },
            OpenResources(
                1.0,
                7,
                (
                    OpenResource("socket", "tcp", (("job.py", 3),)),
                    OpenResource("thread", "worker", ()),
                ),
            ),
        ),
        (
            {"kind": "bye", "pid": 7, "t": 1001, "rss_bytes": 4096, "iterations": 3},
            AgentExit(1.0, 7, 4096, 3),
        ),
        ({"kind": "bye", "pid": 7, "t": 1001}, AgentExit(1.0, 7, -1, 0)),
        (
            {
                "kind": "hello",
                "pid": 7,
                "t": 1001,
                "ppid": 1,
                "python": "3.12.1",
                "executable": "/usr/bin/python3",
                "argv": ["job.py"],
                "trace_python": True,
                "measure_signal": 40,
                "agent_fd": 5,
            },
            AgentInfo(1.0, 7, "3.12.1", "/usr/bin/python3", True, 40),
        ),
        (
            {"kind": "hello", "pid": 7, "t": 1001, "measure_signal": "SIGRTMIN+6"},
            AgentInfo(1.0, 7, "", "", False, 0),
        ),
        ({"kind": "measured", "pid": 7, "t": 1001, "traced": 512}, Measured(1.0, 7, 512)),
        ({"kind": "measured", "pid": 7, "t": 1001, "traced": None}, Measured(1.0, 7, None)),
        (
            {"kind": "hello", "pid": 7, "t": 1001, "measure_signal": 40, "resources_signal": 42},
            AgentInfo(1.0, 7, "", "", False, 40, 42),
        ),
        (
            {
                "kind": "resources",
                "pid": 7,
                "t": 1001,
                "id": 3,
                "do": "report",
                "frames": 16,
                "groups": [
                    {
                        "kind": "socket",
                        "what": "socket to ('127.0.0.1', 5432)",
                        "count": 250,
                        "stack": [["app.py", 22], ["socket.py", 831]],
                    }
                ],
                "last": False,
            },
            ResourcesAnswer(
                1.0,
                7,
                3,
                "report",
                (
                    (
                        "socket",
                        "socket to ('127.0.0.1', 5432)",
                        250,
                        (("app.py", 22), ("socket.py", 831)),
                    ),
                ),
                False,
                16,
            ),
        ),
        (
            {"kind": "resources", "pid": 7, "t": 1001, "id": 4, "do": "mark", "error": "OSError()"},
            ResourcesAnswer(1.0, 7, 4, "mark", (), True, 0, "OSError()"),
        ),
    ],
    ids=lambda v: v["kind"] if isinstance(v, dict) else "",
)
def test_each_kind(msg: dict[str, Any], record: object) -> None:
    assert decode(msg, rel) == [record]


def test_times_are_relative_and_never_negative() -> None:
    assert decode({"kind": "iterations", "pid": 1, "t": 900, "n": 1}, rel)[0].t == 0.0
    # no usable time: now, relative to the epoch
    late = decode({"kind": "iterations", "pid": 1, "t": "soon", "n": 1}, since(0.0))[0]
    assert late.t > 1e9


@pytest.mark.parametrize(
    "msg",
    [
        {"kind": "traced", "pid": 7, "t": 1, "current": 10},  # no peak
        {"kind": "traced", "pid": "seven", "t": 1, "current": 10, "peak": 20},
        {"kind": "iterations", "pid": 7, "t": 1, "n": [1]},
        {"kind": "iterations", "pid": 7, "t": 1, "n": float("inf")},  # JSON's Infinity
        {"kind": "gc", "pid": 7, "events": 5},
        {"kind": "gc", "pid": 7, "events": [[1, 0, 10]]},
        {"kind": "open-resources", "pid": 7, "t": 1, "items": [{"kind": "socket"}]},
        {"kind": "open-resources", "pid": 7, "t": 1, "items": ["socket"]},
        {"kind": "open-resources", "pid": 7, "items": [{"kind": "s", "what": "w", "stack": [[]]}]},
        {"kind": "open-resources", "pid": 7, "items": [{"kind": "s", "what": "w", "stack": [5]}]},
        {"kind": "measured", "pid": 7, "traced": "a lot"},
        {"kind": "bye", "pid": None},
        {"kind": "what-is-this", "pid": 7},
        {"pid": 7},
    ],
)
def test_malformed_messages_are_skipped(msg: dict[str, Any]) -> None:
    assert decode(msg, rel) == []


def test_a_bad_collection_keeps_the_ones_before_it() -> None:
    msg = {"kind": "gc", "pid": 7, "events": [[1001, 0, 1, 0, 0.1], ["x"], [1002, 0, 1, 0, 0.1]]}
    assert decode(msg, rel) == [GcEvent(1.0, 7, 0, 1, 0, 0.1)]


def test_agent_fd() -> None:
    assert agent_fd({"kind": "hello", "pid": 7, "agent_fd": 5}) == (7, 5)
    assert agent_fd({"kind": "gc", "pid": 7, "agent_fd": 9, "events": []}) == (7, 9)
    assert agent_fd({"kind": "gc", "pid": 7, "events": []}) is None
    assert agent_fd({"kind": "hello", "pid": 7, "agent_fd": "5"}) is None
    assert agent_fd({"kind": "hello", "pid": [7], "agent_fd": 5}) is None
