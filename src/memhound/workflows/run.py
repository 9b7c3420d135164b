"""``memhound run`` and ``memhound watch``: sample a process tree until it ends, save a Run."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memhound._platform import (
    CgroupMemory,
    KernelLog,
    cgroup_limit_at,
    cgroup_membership,
    cgroup_memory,
    cgroup_memory_reread,
)
from memhound.analysis.summary import diagnose_exit, summarize
from memhound.errors import CommandNotFound, UsageError
from memhound.model.readings import MemoryReading
from memhound.model.run import ExitStatus, Run, RunWriter, open_run
from memhound.model.timeline import (
    AgentExit,
    AgentInfo,
    Checkpoint,
    GcEvent,
    IterationCount,
    OpenResource,
    OpenResources,
    Record,
    ResourceSample,
    Sample,
    SnapshotTaken,
    Timeline,
    TracedSample,
)
from memhound.probes import process as proc
from memhound.sampler import TreeSampler
from memhound.watchers.tree import ResourceSampler

if TYPE_CHECKING:
    from memhound.agent.channel import AgentChannel

DEFAULT_RUNS_DIR = Path("memhound-runs")
OUTPUT_FILE = "output.log"
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
    #: Send the command's stdout and stderr to ``output.log`` in the run directory.
    capture_output: bool = False
    #: Resources (fds, sockets, threads; PostgreSQL backends and Redis clients when a DSN or
    #: URL is given) are sampled at this slower cadence; 0 turns them off.
    resource_interval_s: float = 1.0
    postgres: str | None = None
    redis: str | None = None
    #: Run the (Python) command under ``memhound profile``: alloc.json and alloc.html in the run.
    profile: bool = False


def validate_interval(interval_s: float) -> float:
    if not (MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S):
        raise UsageError(
            f"invalid interval {interval_s!r} s",
            hint=f"give a sampling interval between {MIN_INTERVAL_S * 1000:.0f}ms and 1h, "
            "e.g. --interval 50ms",
        )
    return interval_s


def resolve_command(argv: list[str]) -> str:
    """The executable ``argv[0]`` names; CommandNotFound (exit 127/126) explains failures."""
    if not argv:
        raise UsageError(
            "no command given", hint="write it after --: memhound run -- python job.py"
        )
    name = argv[0]
    path = name if os.sep in name else shutil.which(name)
    if path is None or not os.path.exists(path):
        raise CommandNotFound(
            f"command not found: {name!r}",
            hint="check the spelling, or give the full path to the program",
        )
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        err = CommandNotFound(
            f"not executable: {path!r}", hint="chmod +x it, or run it through its interpreter"
        )
        err.exit_code = 126
        raise err
    return path


class _Signals:
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
    def installed(self) -> Iterator[_Signals]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._old[sig] = signal.signal(sig, self._handler)
        try:
            yield self
        finally:
            for signum, old in self._old.items():
                signal.signal(signum, old)


class _Recorder:
    """Turns samples and agent messages into timeline records, written as they come."""

    def __init__(self, writer: RunWriter, started_epoch_s: float) -> None:
        self.writer = writer
        self.epoch = started_epoch_s
        self.timeline = Timeline()
        self.peak: int | None = None
        self.current: int | None = None
        self.processes = 0
        self.agent_fds: dict[int, int] = {}  # pid -> the agent socket's fd, left out of fds

    def add(self, record: Record) -> None:
        self.timeline.add(record)
        self.writer.append(record)
        if isinstance(record, Sample):
            self.current = record.total_pss_bytes
            self.processes = len(record.procs)
            if self.peak is None or record.total_pss_bytes > self.peak:
                self.peak = record.total_pss_bytes

    def rel(self, wall: Any) -> float:
        try:
            return max(0.0, float(wall) - self.epoch)
        except (TypeError, ValueError):
            return max(0.0, time.time() - self.epoch)

    def agent_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("kind")
        try:
            pid = int(msg.get("pid", 0))
            # In a hello, or in the first message on a new socket (after the program closed
            # the agent's old one): that socket's fd, left out of the program's fds.
            if isinstance(msg.get("agent_fd"), int):
                self.agent_fds[pid] = msg["agent_fd"]
            if kind == "gc":
                for ev in msg.get("events", []):
                    t, gen, collected, uncollectable, duration = ev
                    self.add(
                        GcEvent(
                            self.rel(t),
                            pid,
                            int(gen),
                            int(collected),
                            int(uncollectable),
                            float(duration),
                        )
                    )
            elif kind == "checkpoint":
                reading = msg.get("reading")
                self.add(
                    Checkpoint(
                        t=self.rel(msg.get("t")),
                        pid=pid,
                        label=str(msg.get("label", "")),
                        reading=MemoryReading.from_dict(reading)
                        if isinstance(reading, dict) and "rss_bytes" in reading
                        else None,
                    )
                )
            elif kind == "traced":
                self.add(
                    TracedSample(self.rel(msg.get("t")), pid, int(msg["current"]), int(msg["peak"]))
                )
            elif kind == "iterations":
                self.add(IterationCount(self.rel(msg.get("t")), pid, int(msg["n"])))
            elif kind in ("snapshot", "snapshot-failed"):
                self.add(
                    SnapshotTaken(
                        self.rel(msg.get("t")),
                        pid,
                        str(msg.get("reason", "")),
                        msg.get("path"),
                        msg.get("nodes"),
                        msg.get("bytes"),
                        msg.get("error"),
                    )
                )
            elif kind == "open-resources":
                self.add(
                    OpenResources(
                        self.rel(msg.get("t")),
                        pid,
                        tuple(
                            OpenResource(
                                str(i["kind"]),
                                str(i["what"]),
                                tuple((str(f[0]), int(f[1])) for f in i.get("stack", ())),
                            )
                            for i in msg.get("items", ())
                        ),
                    )
                )
            elif kind == "bye":
                self.add(
                    AgentExit(
                        self.rel(msg.get("t")),
                        pid,
                        int(msg.get("rss_bytes", -1)),
                        int(msg.get("iterations", 0)),
                    )
                )
            elif kind == "hello":
                self.add(
                    AgentInfo(
                        self.rel(msg.get("t")),
                        pid,
                        str(msg.get("python", "")),
                        str(msg.get("executable", "")),
                        bool(msg.get("trace_python", False)),
                    )
                )
        except (KeyError, TypeError, ValueError):
            pass  # a malformed message from a program we do not control: skip it


def _watched(options: RunOptions) -> dict[str, str]:
    from memhound.watchers.postgres import mask_dsn
    from memhound.watchers.redis import mask_url

    out = {}
    if options.postgres:
        out["postgres"] = mask_dsn(options.postgres)
    if options.redis:
        out["redis"] = mask_url(options.redis)
    return out


def _make_writer(
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
        watched=_watched(options),
    )


def _finish(
    writer: RunWriter,
    rec: _Recorder,
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
    if on_status is not None:
        on_status(Status(duration_s, rec.current, rec.peak, 0, final=True))
    return run


class _Ticker:
    """One sampling tick, shared by run and watch; a failing probe never ends the run."""

    def __init__(
        self,
        sampler: TreeSampler,
        rec: _Recorder,
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


class _ExitWaiter:
    """Sleeps until the next tick, waking at once when the process exits (a pidfd, on
    Linux 5.3+), so a run ends when its job does, not up to one interval later."""

    def __init__(self, pid: int) -> None:
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.fd = os.pidfd_open(pid)

    def sleep_until(self, next_t: float) -> None:
        delay = next_t - time.monotonic()
        if delay <= 0:
            return
        if self.fd is None:
            time.sleep(delay)
        else:
            select.select([self.fd], [], [], delay)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _wants_snapshots(options: RunOptions) -> bool:
    return bool(
        options.snapshot_signal
        or options.snapshot_every_s
        or options.snapshot_above_bytes
        or options.snapshot_at_exit
    )


def _snapshot_env(options: RunOptions, run_dir: Path) -> dict[str, str]:
    if not _wants_snapshots(options):
        return {}
    from memhound._fsutil import make_private_dir

    directory = make_private_dir(run_dir / "snapshots")
    env = {"MEMHOUND_SNAPSHOT_DIR": str(directory.resolve())}
    if options.snapshot_signal:
        env["MEMHOUND_SNAPSHOT_SIGNAL"] = options.snapshot_signal
    if options.snapshot_every_s:
        env["MEMHOUND_SNAPSHOT_EVERY"] = str(options.snapshot_every_s)
    if options.snapshot_above_bytes:
        env["MEMHOUND_SNAPSHOT_ABOVE"] = str(options.snapshot_above_bytes)
    if options.snapshot_at_exit:
        env["MEMHOUND_SNAPSHOT_AT_EXIT"] = "1"
    return env


def _child_env(channel: AgentChannel | None, options: RunOptions) -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict(options.extra_env))
    if channel is not None:
        from memhound.agent import BOOT_DIR

        env.update(
            channel.child_env(
                trace_python=options.trace_python,
                interval_s=options.interval_s,
                gc_keep=options.gc_keep,
            )
        )
        if options.resource_stacks:
            env["MEMHOUND_RESOURCE_STACKS"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BOOT_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
    return env


class _CgroupTracker:
    """Follows the cgroup of the target (a job may move itself, as container entrypoints
    do) and counts the OOM kills in it during the run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.membership = cgroup_membership(pid)
        self.cg: CgroupMemory | None = cgroup_memory(pid)
        self.kills_before = self.cg.oom_kills if self.cg else None

    def check(self) -> None:
        membership = cgroup_membership(self.pid)
        # A task the OOM killer took reads as a member of the root cgroup: ignore the dead.
        if membership is None or membership == self.membership or not _alive(self.pid):
            return
        self.membership = membership
        fresh = cgroup_memory(self.pid)
        if fresh is not None and (self.cg is None or fresh.path != self.cg.path):
            self.cg, self.kills_before = fresh, fresh.oom_kills

    def kills_after(self) -> int | None:
        after = cgroup_memory_reread(self.cg) if self.cg else None
        return after.oom_kills if after else None


def run_command(
    argv: list[str],
    options: RunOptions = RunOptions(),
    on_status: Callable[[Status], None] | None = None,
) -> Run:
    """Start ``argv``, sample its process tree until it exits, and save the Run."""
    validate_interval(options.interval_s)
    if _wants_snapshots(options) and not options.agent:
        raise UsageError("heap snapshots are taken by the agent", hint="drop --no-agent")
    executable = resolve_command(argv)
    started = time.time()
    writer = _make_writer("run", tuple(argv), None, options, started)
    if options.profile:
        from memhound.workflows.profile import profile_child_argv

        try:
            argv = profile_child_argv(argv, writer.path)
        except UsageError:
            writer.finish(replace(writer.meta, status="failed"), None)
            raise
    rec = _Recorder(writer, started)
    channel: AgentChannel | None = None
    if options.agent:
        from memhound.agent.channel import AgentChannel

        channel = AgentChannel()
    sigs = _Signals()
    klog = KernelLog()  # before the child starts: only records of its lifetime count
    try:
        with sigs.installed():  # before the child starts: no window for an orphan
            t0 = time.monotonic()
            log = None
            if options.capture_output:
                log = open(writer.path / OUTPUT_FILE, "wb")  # noqa: SIM115  (closed below)
            try:
                child = subprocess.Popen(
                    [executable, *argv[1:]],
                    env={**_child_env(channel, options), **_snapshot_env(options, writer.path)},
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                )
            except OSError as exc:
                if log is not None:
                    log.close()
                writer.finish(replace(writer.meta, status="failed"), None)
                raise CommandNotFound(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
            sigs.target = child.pid
            if sigs.received is not None:
                os.kill(child.pid, sigs.received)
            writer.update_meta(replace(writer.meta, target_pid=child.pid))
            ticker = _Ticker(TreeSampler(child.pid), rec, writer, channel, on_status, options)
            cgroups = _CgroupTracker(child.pid)
            try:
                raw_status, maxrss = _sample_until_exit(child, ticker, cgroups, sigs, options, t0)
            finally:
                if log is not None:
                    log.close()
        duration = time.monotonic() - t0
        if channel is not None:
            time.sleep(0.01)  # the agent's last words (atexit) may still be in flight
            for msg in channel.drain():
                rec.agent_message(msg)
        record = (
            klog.oom_kills({child.pid}).get(child.pid) if raw_status == -signal.SIGKILL else None
        )
    finally:
        klog.close()
        if channel is not None:
            channel.close()
    limit = options.limit_bytes or (cgroups.cg.limit_bytes if cgroups.cg else None)
    if record is not None and record.memcg and options.limit_bytes is None:
        limit = cgroup_limit_at(record.memcg) or limit
    exit_status = diagnose_exit(
        raw_status,
        samples=rec.timeline.samples,
        limit_bytes=limit,
        oom_kills_before=cgroups.kills_before,
        oom_kills_after=cgroups.kills_after(),
        interrupted=sigs.received is not None,
        max_rss_bytes=maxrss,
        kernel_oom_message=record.message if record is not None else None,
    )
    status = "interrupted" if sigs.received is not None else "complete"
    return _finish(writer, rec, status, exit_status, duration, options, on_status)


def _sample_until_exit(
    child: subprocess.Popen[bytes],
    ticker: _Ticker,
    cgroups: _CgroupTracker,
    sigs: _Signals,
    options: RunOptions,
    t0: float,
) -> tuple[int, int | None]:
    """Tick until the child exits; returns (Popen-style returncode, max RSS from wait4)."""
    waiter = _ExitWaiter(child.pid)
    try:
        return _loop(child, ticker, cgroups, sigs, options, t0, waiter)
    finally:
        waiter.close()


def _loop(
    child: subprocess.Popen[bytes],
    ticker: _Ticker,
    cgroups: _CgroupTracker,
    sigs: _Signals,
    options: RunOptions,
    t0: float,
    waiter: _ExitWaiter,
) -> tuple[int, int | None]:
    signalled_at: float | None = None
    escalation = 0
    next_t = t0
    while True:
        ticker.tick(time.monotonic() - t0)
        cgroups.check()
        try:
            pid, wstatus, rusage = os.wait4(child.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            child.returncode = -1
            return -1, None
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(wstatus)
            return child.returncode, int(rusage.ru_maxrss) * 1024
        if sigs.received is not None:
            now = time.monotonic()
            if signalled_at is None:
                signalled_at = now
            elif now - signalled_at > options.kill_grace_s * (escalation + 1):
                escalation += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM if escalation == 1 else signal.SIGKILL)
        next_t = max(next_t + options.interval_s, time.monotonic())
        waiter.sleep_until(next_t)


def _alive(pid: int) -> bool:
    try:
        return not proc.read_status(pid).is_exiting
    except Exception:
        return False


def watch_pid(
    pid: int, options: RunOptions = RunOptions(), on_status: Callable[[Status], None] | None = None
) -> Run:
    """Sample an existing process tree until it ends, ``duration_s`` passes, or Ctrl-C."""
    validate_interval(options.interval_s)
    if options.duration_s is not None and options.duration_s <= 0:
        raise UsageError("--duration must be positive", hint="e.g. --duration 60s")
    # Fail early and clearly on a pid that is not there or not ours to read.
    proc.read_status(pid)
    proc.read_rollup(pid)
    try:
        command = tuple(proc.cmdline(pid)) or (proc.read_status(pid).name,)
    except Exception:
        command = (str(pid),)
    started = time.time()
    writer = _make_writer("watch", command, pid, replace(options, agent=False), started)
    rec = _Recorder(writer, started)
    ticker = _Ticker(TreeSampler(pid), rec, writer, None, on_status, options)
    sigs = _Signals()
    t0 = time.monotonic()
    ended = "interrupted"
    waiter = _ExitWaiter(pid)
    with sigs.installed():
        next_t = t0
        while True:
            t = time.monotonic() - t0
            ticker.tick(t)
            if sigs.received is not None:
                break
            if not _alive(pid):
                ended = "complete"
                break
            if options.duration_s is not None and t >= options.duration_s:
                ended = "complete"
                break
            next_t = max(next_t + options.interval_s, time.monotonic())
            waiter.sleep_until(next_t)
    waiter.close()
    duration = time.monotonic() - t0
    return _finish(writer, rec, ended, None, duration, options, on_status)


def watch_servers(options: RunOptions, on_status: Callable[[Status], None] | None = None) -> Run:
    """Watch PostgreSQL and/or Redis on their own (no process): sessions grouped, each
    group with its growth verdict, until ``duration_s`` passes or Ctrl-C."""
    if not (options.postgres or options.redis):
        raise UsageError("nothing to watch", hint="give --pid PID, or --postgres DSN / --redis URL")
    if options.duration_s is not None and options.duration_s <= 0:
        raise UsageError("--duration must be positive", hint="e.g. --duration 60s")
    interval = options.resource_interval_s or 1.0
    validate_interval(interval)
    watched = _watched(options)
    command = tuple(f"{k} {v}" for k, v in watched.items())
    started = time.time()
    writer = _make_writer("watch", command, None, replace(options, agent=False), started)
    rec = _Recorder(writer, started)
    sampler = ResourceSampler(postgres=options.postgres, redis=options.redis)
    said: set[str] = set()
    sigs = _Signals()
    t0 = time.monotonic()
    with sigs.installed():
        next_t = t0
        while True:
            t = time.monotonic() - t0
            rs = sampler.sample_servers(t)
            for err in rs.errors:
                if err not in said:
                    said.add(err)
                    print(f"memhound: {err} (watching goes on)", file=sys.stderr)
            rec.add(rs)
            writer.flush()
            if on_status is not None:
                on_status(Status(t, None, None, 0))
            if sigs.received is not None:
                break
            if options.duration_s is not None and t >= options.duration_s:
                break
            next_t = max(next_t + interval, time.monotonic())
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    ended = "interrupted" if sigs.received is not None else "complete"
    return _finish(writer, rec, ended, None, time.monotonic() - t0, options, on_status)
