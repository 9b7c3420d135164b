"""``memhound run`` and ``memhound watch``: sample a process tree until it ends, save a Run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from memhound import __version__
from memhound._platform import (
    CgroupMemory,
    cgroup_membership,
    cgroup_memory,
    cgroup_memory_reread,
)
from memhound.analysis.summary import diagnose_exit, summarize
from memhound.errors import CommandNotFound, UsageError
from memhound.model.readings import MemoryReading
from memhound.model.run import ExitStatus, Run, RunMeta, RunWriter, new_run_dir
from memhound.model.timeline import (
    AgentInfo,
    Checkpoint,
    GcEvent,
    Record,
    Sample,
    Timeline,
    TracedSample,
)
from memhound.probes import process as proc
from memhound.sampler import TreeSampler

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
                        if isinstance(reading, dict)
                        else None,
                    )
                )
            elif kind == "traced":
                self.add(
                    TracedSample(self.rel(msg.get("t")), pid, int(msg["current"]), int(msg["peak"]))
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


def _platform_info() -> dict[str, Any]:
    import platform

    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memhound_python": platform.python_version(),
    }


def _make_writer(
    kind: str, command: tuple[str, ...], target_pid: int | None, options: RunOptions, started: float
) -> RunWriter:
    path = options.output_dir or new_run_dir(options.runs_dir, command, started)
    meta = RunMeta(
        kind=kind,
        command=command,
        target_pid=target_pid,
        cwd=os.getcwd(),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        started_epoch_s=started,
        interval_s=options.interval_s,
        memhound_version=__version__,
        agent=options.agent and kind == "run",
        trace_python=options.trace_python,
        limit_bytes=options.limit_bytes,
        platform=_platform_info(),
    )
    return RunWriter(Path(path), meta)


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


def _tick_sleep(next_t: float) -> None:
    delay = next_t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def run_command(
    argv: list[str],
    options: RunOptions = RunOptions(),
    on_status: Callable[[Status], None] | None = None,
) -> Run:
    """Start ``argv``, sample its process tree until it exits, and save the Run."""
    validate_interval(options.interval_s)
    executable = resolve_command(argv)
    started = time.time()
    writer = _make_writer("run", tuple(argv), None, options, started)
    rec = _Recorder(writer, started)
    channel = None
    env = dict(os.environ)
    if options.agent:
        from memhound.agent import BOOT_DIR
        from memhound.agent.channel import AgentChannel

        channel = AgentChannel()
        env.update(
            channel.child_env(
                trace_python=options.trace_python,
                interval_s=options.interval_s,
                gc_keep=options.gc_keep,
            )
        )
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BOOT_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
    t0 = time.monotonic()
    try:
        child = subprocess.Popen([executable, *argv[1:]], env=env)
    except OSError as exc:
        if channel:
            channel.close()
        writer.finish(replace(writer.meta, status="failed"), None)
        raise CommandNotFound(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    writer.update_meta(replace(writer.meta, target_pid=child.pid))
    sampler = TreeSampler(child.pid)
    sigs = _Signals()
    sigs.target = child.pid
    last_membership = cgroup_membership(child.pid)
    cg: CgroupMemory | None = cgroup_memory(child.pid)
    kills_before = cg.oom_kills if cg else None
    raw_status: int | None = None
    maxrss: int | None = None
    signalled_at: float | None = None
    escalation = 0
    with sigs.installed():
        next_t = t0
        while True:
            t = time.monotonic() - t0
            sample, appeared, gone = sampler.sample(t)
            for info in appeared:
                rec.add(info)
            if sample is not None:
                rec.add(sample)
            for ex in gone:
                rec.add(ex)
            if channel is not None:
                for msg in channel.drain():
                    rec.agent_message(msg)
            writer.flush()
            # A job may move itself into another cgroup (a container entrypoint does).
            membership = cgroup_membership(child.pid)
            if membership is not None and membership != last_membership and _alive(child.pid):
                # (a task the OOM killer took reads as a member of the root cgroup)
                last_membership = membership
                fresh = cgroup_memory(child.pid)
                if fresh is not None and (cg is None or fresh.path != cg.path):
                    cg, kills_before = fresh, fresh.oom_kills
            if on_status is not None:
                on_status(Status(t, rec.current, rec.peak, rec.processes))
            try:
                pid, wstatus, rusage = os.wait4(child.pid, os.WNOHANG)
            except ChildProcessError:
                pid, wstatus, rusage = child.pid, 0, None
            if pid == child.pid:
                raw_status = os.waitstatus_to_exitcode(wstatus)
                child.returncode = raw_status
                if rusage is not None:
                    maxrss = int(rusage.ru_maxrss) * 1024
                break
            if sigs.received is not None:
                now = time.monotonic()
                if signalled_at is None:
                    signalled_at = now
                elif now - signalled_at > options.kill_grace_s * (escalation + 1):
                    escalation += 1
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGTERM if escalation == 1 else signal.SIGKILL)
            next_t += options.interval_s
            next_t = max(next_t, time.monotonic())
            _tick_sleep(next_t)
    duration = time.monotonic() - t0
    if channel is not None:
        time.sleep(0.01)
        for msg in channel.drain():
            rec.agent_message(msg)
        channel.close()
    after = cgroup_memory_reread(cg) if cg else None
    limit = options.limit_bytes or (cg.limit_bytes if cg else None)
    assert raw_status is not None
    exit_status = diagnose_exit(
        raw_status,
        samples=rec.timeline.samples,
        limit_bytes=limit,
        oom_kills_before=kills_before,
        oom_kills_after=after.oom_kills if after else None,
        interrupted=sigs.received is not None,
        max_rss_bytes=maxrss,
    )
    status = "interrupted" if sigs.received is not None else "complete"
    return _finish(writer, rec, status, exit_status, duration, options, on_status)


def _alive(pid: int) -> bool:
    try:
        return not proc.read_status(pid).is_zombie
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
    sampler = TreeSampler(pid)
    sigs = _Signals()
    t0 = time.monotonic()
    ended = "interrupted"
    with sigs.installed():
        next_t = t0
        while True:
            t = time.monotonic() - t0
            sample, appeared, gone = sampler.sample(t)
            for info in appeared:
                rec.add(info)
            if sample is not None:
                rec.add(sample)
            for ex in gone:
                rec.add(ex)
            writer.flush()
            if on_status is not None:
                on_status(Status(t, rec.current, rec.peak, rec.processes))
            if sigs.received is not None:
                break
            if not _alive(pid):
                ended = "complete"
                break
            if options.duration_s is not None and t >= options.duration_s:
                ended = "complete"
                break
            next_t += options.interval_s
            next_t = max(next_t, time.monotonic())
            _tick_sleep(next_t)
    duration = time.monotonic() - t0
    return _finish(writer, rec, ended, None, duration, options, on_status)
