"""``memhound run``: start a command, sample its process tree until it exits, save a Run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from memhound._platform import (
    CgroupMemory,
    KernelLog,
    cgroup_limit_at,
    cgroup_membership,
    cgroup_memory,
    cgroup_memory_reread,
    die_with_parent,
)
from memhound.agent import contract
from memhound.analysis.summary import diagnose_exit
from memhound.errors import CommandNotFound, UsageError
from memhound.model.run import Run
from memhound.sampler import TreeSampler, pace
from memhound.workflows._recording import (
    ExitWaiter,
    Recorder,
    RunOptions,
    Signals,
    Status,
    Ticker,
    alive,
    finish,
    make_writer,
    validate_interval,
)

if TYPE_CHECKING:
    from memhound.agent.channel import AgentChannel

OUTPUT_FILE = "output.log"


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
    env = {contract.ENV_SNAPSHOT_DIR: str(directory.resolve())}
    if options.snapshot_signal:
        signum = contract.parse_signal(options.snapshot_signal)
        env[contract.ENV_SNAPSHOT_SIGNAL] = contract.signal_value(signum)
    if options.snapshot_every_s:
        env[contract.ENV_SNAPSHOT_EVERY] = str(options.snapshot_every_s)
    if options.snapshot_above_bytes:
        env[contract.ENV_SNAPSHOT_ABOVE] = str(options.snapshot_above_bytes)
    if options.snapshot_at_exit:
        env[contract.ENV_SNAPSHOT_AT_EXIT] = "1"
    if options.snapshot_redact:
        env[contract.ENV_SNAPSHOT_REDACT] = "1"
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
            env[contract.ENV_RESOURCE_STACKS] = "1"
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
        if membership is None or membership == self.membership or not alive(self.pid):
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
    if options.snapshot_signal and not contract.parse_signal(options.snapshot_signal):
        raise UsageError(f"not a signal: {options.snapshot_signal!r}", hint="e.g. SIGUSR2")
    executable = resolve_command(argv)
    started = time.time()
    writer = make_writer("run", tuple(argv), None, options, started)
    if options.profile:
        from memhound.workflows.profile import profile_child_argv

        try:
            argv = profile_child_argv(argv, writer.path)
        except UsageError:
            writer.finish(replace(writer.meta, status="failed"), None)
            raise
    rec = Recorder(writer, started)
    channel: AgentChannel | None = None
    if options.agent:
        from memhound.agent.channel import AgentChannel

        channel = AgentChannel()
    sigs = Signals()
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
                    preexec_fn=None if options.detach else die_with_parent(signal.SIGTERM),
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
            ticker = Ticker(TreeSampler(child.pid), rec, writer, channel, on_status, options)
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
    return finish(writer, rec, status, exit_status, duration, options, on_status)


def _sample_until_exit(
    child: subprocess.Popen[bytes],
    ticker: Ticker,
    cgroups: _CgroupTracker,
    sigs: Signals,
    options: RunOptions,
    t0: float,
) -> tuple[int, int | None]:
    """Tick until the child exits; returns (Popen-style returncode, max RSS from wait4)."""
    ended: list[tuple[int, int | None]] = []
    signalled_at: float | None = None
    escalation = 0

    def step(t: float) -> bool:
        nonlocal signalled_at, escalation
        ticker.tick(t)
        cgroups.check()
        try:
            pid, wstatus, rusage = os.wait4(child.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost
            child.returncode = -1
            ended.append((-1, None))
            return True
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(wstatus)
            ended.append((child.returncode, int(rusage.ru_maxrss) * 1024))
            return True
        if sigs.received is not None:
            now = time.monotonic()
            if signalled_at is None:
                signalled_at = now
            elif now - signalled_at > options.kill_grace_s * (escalation + 1):
                escalation += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM if escalation == 1 else signal.SIGKILL)
        return False

    waiter = ExitWaiter(child.pid)
    try:
        pace(options.interval_s, step, start=t0, sleep=waiter.sleep)
    finally:
        waiter.close()
    return ended[0]
