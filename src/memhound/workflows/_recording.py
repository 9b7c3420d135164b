"""What ``memhound run`` and ``memhound watch`` share: their options, the live status, the
recorder that turns samples and agent messages into a saved Run, and the sampling tick."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memhound.agent.channel import (
    AgentChannel,
    Measured,
    ResourcesAnswer,
    agent_fd,
    decode,
    since,
)
from memhound.analysis.summary import summarize
from memhound.errors import UsageError
from memhound.model.run import ExitStatus, Run, RunWriter, open_run
from memhound.model.timeline import Record, ResourceSample, Sample, Timeline
from memhound.probes import process as proc
from memhound.sampler import TreeSampler
from memhound.watchers.tree import ResourceSampler

DEFAULT_RUNS_DIR = Path("memhound-runs")
MIN_INTERVAL_S = 0.001
MAX_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class Status:
    """What a live status line shows."""

    elapsed_s: float
    current_bytes: int | None
    peak_bytes: int | None
    processes: int
    final: bool = False


@dataclass(frozen=True)
class RunOptions:
    interval_s: float = 0.05
    agent: bool = True
    trace_python: bool = False
    limit_bytes: int | None = None
    output_dir: Path | None = None
    runs_dir: Path = DEFAULT_RUNS_DIR
    duration_s: float | None = None
    gc_keep: int = 20
    kill_grace_s: float = 5.0
    #: Environment variables to set for the command (``memhound tune``'s settings).
    extra_env: tuple[tuple[str, str], ...] = ()
    #: Trace allocations in Python children so that what is still open at exit is reported
    #: with the stack that created it (costs what tracemalloc costs).
    resource_stacks: bool = False
    #: Heap snapshots from Python children (memhound run --snapshot-*), into RUN/snapshots.
    snapshot_signal: str | None = None
    snapshot_every_s: float | None = None
    snapshot_above_bytes: int | None = None
    snapshot_at_exit: bool = False
    #: Snapshots hold every string's text as a length only (tokens, passwords stay out).
    snapshot_redact: bool = False
    #: Send the command's stdout and stderr to ``output.log`` in the run directory.
    capture_output: bool = False
    #: Resources (fds, sockets, threads; PostgreSQL backends and Redis clients when a DSN or
    #: URL is given) are sampled at this slower cadence; 0 turns them off.
    resource_interval_s: float = 1.0
    postgres: str | None = None
    redis: str | None = None
    #: Run the (Python) command under ``memhound profile``: alloc.json and alloc.html in the run.
    profile: bool = False
    #: Let the command run on if memhound itself is killed (by default it is sent SIGTERM).
    detach: bool = False


def validate_interval(interval_s: float) -> float:
    if not (MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S):
        raise UsageError(
            f"invalid interval {interval_s!r} s",
            hint=f"give a sampling interval between {MIN_INTERVAL_S * 1000:.0f}ms and 1h, "
            "e.g. --interval 50ms",
        )
    return interval_s


class Signals:
    """Turns SIGINT/SIGTERM to memhound into a request to stop the target and save."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.target: int | None = None
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        first = self.received is None
        self.received = signum
        if self.target is not None and first:
            # On a terminal the child got the same SIGINT from the tty; sending it again
            # is harmless. When only memhound was signalled, this passes it on.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.target, signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._old[sig] = signal.signal(sig, self._handler)
        try:
            yield self
        finally:
            for signum, old in self._old.items():
                signal.signal(signum, old)


class Recorder:
    """Turns samples and agent messages into timeline records, written as they come."""

    def __init__(self, writer: RunWriter, started_epoch_s: float) -> None:
        self.writer = writer
        self.timeline = Timeline()
        self.peak: int | None = None
        self.current: int | None = None
        self.processes = 0
        self.agent_fds: dict[int, int] = {}  # pid -> the agent socket's fd, left out of fds
        self.rel = since(started_epoch_s)

    def add(self, record: Record) -> None:
        self.timeline.add(record)
        self.writer.append(record)
        if isinstance(record, Sample):
            self.current = record.total_pss_bytes
            self.processes = len(record.procs)
            if self.peak is None or record.total_pss_bytes > self.peak:
                self.peak = record.total_pss_bytes

    def agent_message(self, msg: dict[str, Any]) -> None:
        named = agent_fd(msg)
        if named is not None:
            self.agent_fds[named[0]] = named[1]
        for record in decode(msg, self.rel):
            if not isinstance(record, (Measured, ResourcesAnswer)):  # soak's: a run never asks
                self.add(record)


def watched(options: RunOptions) -> dict[str, str]:
    from memhound.watchers._dsn import mask_dsn

    out = {}
    if options.postgres:
        out["postgres"] = mask_dsn(options.postgres)
    if options.redis:
        out["redis"] = mask_dsn(options.redis)
    return out


def make_writer(
    kind: str, command: tuple[str, ...], target_pid: int | None, options: RunOptions, started: float
) -> RunWriter:
    return open_run(
        kind,
        command,
        started,
        output_dir=options.output_dir,
        runs_dir=options.runs_dir,
        target_pid=target_pid,
        interval_s=options.interval_s,
        agent=options.agent and kind == "run",
        trace_python=options.trace_python,
        limit_bytes=options.limit_bytes,
        watched=watched(options),
        on_error=_say_once,
    )


def _say_once(message: str) -> None:
    print(f"memhound: {message}", file=sys.stderr, flush=True)


def finish(
    writer: RunWriter,
    rec: Recorder,
    status: str,
    exit_status: ExitStatus | None,
    duration_s: float,
    options: RunOptions,
    on_status: Callable[[Status], None] | None,
) -> Run:
    writer.flush()
    meta = replace(
        writer.meta,
        status=status,
        ended_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        duration_s=duration_s,
        exit=exit_status,
    )
    run = Run(path=writer.path, meta=meta, timeline=rec.timeline)
    run.summary = summarize(run, gc_keep=options.gc_keep)
    writer.finish(meta, run.summary)
    run.meta = writer.meta  # with what could not be written, if anything
    if on_status is not None:
        on_status(Status(duration_s, rec.current, rec.peak, 0, final=True))
    return run


class Ticker:
    """One sampling tick, shared by run and watch; a failing probe never ends the run."""

    def __init__(
        self,
        sampler: TreeSampler,
        rec: Recorder,
        writer: RunWriter,
        channel: AgentChannel | None,
        on_status: Callable[[Status], None] | None,
        options: RunOptions | None = None,
    ) -> None:
        self.sampler = sampler
        self.rec = rec
        self.writer = writer
        self.channel = channel
        self.on_status = on_status
        self.errors = 0
        self.resources: ResourceSampler | None = None
        self.resource_interval_s = 0.0
        self.next_resources_t = 0.0
        # Ticks fall on a fixed grid but each one's ``t`` carries its wake-up latency, so the
        # tick one resource interval later is often a few microseconds early; without slack
        # that sample slipped to the tick after (100 ms asked for, 150 ms between samples).
        self.resource_slack_s = 0.0
        self.said: set[str] = set()
        if options is not None and options.resource_interval_s > 0:
            self.resources = ResourceSampler(postgres=options.postgres, redis=options.redis)
            self.resource_interval_s = options.resource_interval_s
            self.resource_slack_s = min(options.interval_s, options.resource_interval_s) / 2

    def _sample_resources(self, t: float, sample: Sample | None) -> None:
        if self.resources is None or sample is None:
            return
        if t + self.resource_slack_s < self.next_resources_t:
            return
        due = self.next_resources_t + self.resource_interval_s  # on the grid, when on time
        self.next_resources_t = due if due > t else t + self.resource_interval_s
        try:
            rs = self.resources.sample(
                t, [p.pid for p in sample.procs], skip_fds=self.rec.agent_fds
            )
        except Exception as exc:  # keep watching memory
            rs = ResourceSample(t, {}, {}, (f"resource sampling failed: {exc!r}",))
        for err in rs.errors:
            if err not in self.said:
                self.said.add(err)
                print(f"memhound: {err} (sampling the rest goes on)", file=sys.stderr)
        self.rec.add(rs)

    def tick(self, t: float) -> None:
        try:
            sample, appeared, gone = self.sampler.sample(t)
        except Exception as exc:  # keep watching the job; say so once
            self.errors += 1
            if self.errors == 1:
                print(f"memhound: a sample failed ({exc!r}); sampling goes on", file=sys.stderr)
            sample, appeared, gone = None, [], []
        for info in appeared:
            self.rec.add(info)
        if sample is not None:
            self.rec.add(sample)
        for ex in gone:
            self.rec.add(ex)
        if self.channel is not None:  # first: a new agent's hello names its socket's fd
            for msg in self.channel.drain():
                self.rec.agent_message(msg)
        self._sample_resources(t, sample)
        self.writer.flush()
        if self.on_status is not None:
            self.on_status(Status(t, self.rec.current, self.rec.peak, self.rec.processes))


class ExitWaiter:
    """The pacing loop's sleep: until the next tick, waking at once when the process exits (a
    pidfd, on Linux 5.3+), so a run ends when its job does, not up to one interval later."""

    def __init__(self, pid: int) -> None:
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(pid)

    def sleep(self, delay_s: float) -> None:
        if self.fd is None:
            time.sleep(delay_s)
        else:
            select.select([self.fd], [], [], delay_s)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def alive(pid: int) -> bool:
    try:
        return not proc.read_status(pid).is_exiting
    except Exception:
        return False
