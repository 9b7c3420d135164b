"""``memhound watch``: sample a process tree that is already running, or database servers on
their own, until it ends, the duration passes, or Ctrl-C; save a Run."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace

from memhound.errors import UsageError
from memhound.model.run import Run
from memhound.probes import process as proc
from memhound.sampler import TreeSampler, pace
from memhound.watchers.tree import ResourceSampler
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
    watched,
)


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
    writer = make_writer("watch", command, pid, replace(options, agent=False), started)
    rec = Recorder(writer, started)
    ticker = Ticker(TreeSampler(pid), rec, writer, None, on_status, options)
    sigs = Signals()
    ended = "interrupted"

    def step(t: float) -> bool:
        nonlocal ended
        ticker.tick(t)
        if sigs.received is not None:
            return True
        if not alive(pid) or (options.duration_s is not None and t >= options.duration_s):
            ended = "complete"
            return True
        return False

    t0 = time.monotonic()
    waiter = ExitWaiter(pid)
    with sigs.installed():
        pace(options.interval_s, step, start=t0, sleep=waiter.sleep)
    waiter.close()
    duration = time.monotonic() - t0
    return finish(writer, rec, ended, None, duration, options, on_status)


def watch_servers(options: RunOptions, on_status: Callable[[Status], None] | None = None) -> Run:
    """Watch PostgreSQL and/or Redis on their own (no process): sessions grouped, each
    group with its growth verdict, until ``duration_s`` passes or Ctrl-C."""
    if not (options.postgres or options.redis):
        raise UsageError("nothing to watch", hint="give --pid PID, or --postgres DSN / --redis URL")
    if options.duration_s is not None and options.duration_s <= 0:
        raise UsageError("--duration must be positive", hint="e.g. --duration 60s")
    interval = options.resource_interval_s or 1.0
    validate_interval(interval)
    command = tuple(f"{k} {v}" for k, v in watched(options).items())
    started = time.time()
    writer = make_writer("watch", command, None, replace(options, agent=False), started)
    rec = Recorder(writer, started)
    sampler = ResourceSampler(postgres=options.postgres, redis=options.redis)
    said: set[str] = set()
    sigs = Signals()

    def step(t: float) -> bool:
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
            return True
        return options.duration_s is not None and t >= options.duration_s

    t0 = time.monotonic()
    with sigs.installed():
        pace(interval, step, start=t0)
    ended = "interrupted" if sigs.received is not None else "complete"
    return finish(writer, rec, ended, None, time.monotonic() - t0, options, on_status)
