"""Summaries of a run's timeline, and the verdict on how its target ended."""

from __future__ import annotations

import math
import os
import signal as _signal
from dataclasses import dataclass, replace

from memhound.leaks.stats import trend
from memhound.model.run import (
    ExitStatus,
    GcSummary,
    OomVerdict,
    ProcessSummary,
    ResourceTrend,
    Run,
    RunMeta,
    RunSummary,
    load_run_files,
)
from memhound.model.timeline import IterationCount, ProcSample, Sample, Timeline
from memhound.units import format_bytes

#: Memory within this fraction of a limit counts as "near the limit".
NEAR_LIMIT_FRACTION = 0.9


def summarize(run: Run, *, gc_keep: int = 20) -> RunSummary:
    """Peak, final and per-process figures, gc statistics: ``(run) -> RunSummary``."""
    tl = run.timeline
    samples = tl.samples
    peak: Sample | None = max(samples, key=lambda s: s.total_pss_bytes) if samples else None
    duration = run.meta.duration_s
    if duration is None:
        duration = max(
            [s.t for s in samples] + [c.t for c in tl.checkpoints] + [0.0],
        )
    return RunSummary(
        duration_s=float(duration),
        samples=len(samples),
        start_total_pss_bytes=samples[0].total_pss_bytes if samples else None,
        peak_total_pss_bytes=peak.total_pss_bytes if peak else None,
        peak_t=peak.t if peak else None,
        peak_total_rss_bytes=max(s.total_rss_bytes for s in samples) if samples else None,
        final_total_pss_bytes=samples[-1].total_pss_bytes if samples else None,
        final_total_rss_bytes=samples[-1].total_rss_bytes if samples else None,
        max_processes=max((len(s.procs) for s in samples), default=0),
        processes=_processes(tl, run.meta),
        gc=_gc(tl, gc_keep),
        checkpoints=len(tl.checkpoints),
        traced_peak_bytes=max((t.peak_bytes for t in tl.traced), default=None),
        damaged_lines=tl.damaged_lines,
        resources=_resources(tl),
        resource_errors=tuple(dict.fromkeys(e for r in tl.resources for e in r.errors)),
        iterations=int(_work_series(tl, [float("inf")])[0]) if tl.iterations else None,
        memory_per_iteration=_memory_per_iteration(tl),
    )


def _work_series(tl: Timeline, ts: list[float]) -> list[float]:
    """Iterations done by all processes (each one's latest count) at each time of the
    ascending ``ts``: one sweep over both."""
    finals = [IterationCount(e.t, e.pid, e.iterations) for e in tl.agent_exits if e.iterations]
    events = sorted([*tl.iterations, *finals], key=lambda it: it.t)
    latest: dict[int, int] = {}
    total = 0
    out: list[float] = []
    i = 0
    for t in ts:
        while i < len(events) and events[i].t <= t:
            ev = events[i]
            if ev.n > latest.get(ev.pid, 0):
                total += ev.n - latest.get(ev.pid, 0)
                latest[ev.pid] = ev.n
            i += 1
        out.append(float(total))
    return out


def _against_work(
    tl: Timeline, ts: list[float], ys: list[float]
) -> tuple[float, float, float] | None:
    """Theil-Sen of ``ys`` against the work done at each time, when work was marked and
    varied; None otherwise."""
    if len(tl.iterations) < 3:
        return None
    work = _work_series(tl, ts)
    pairs = [(w, y) for w, y in zip(work, ys, strict=True) if w > 0]
    if len({w for w, _ in pairs}) < 3:
        return None
    tr = trend([w for w, _ in pairs], [y for _, y in pairs])
    return (tr.slope, tr.ci_low, tr.ci_high)


def _memory_per_iteration(tl: Timeline) -> tuple[float, float, float] | None:
    return _against_work(
        tl, [s.t for s in tl.samples], [float(s.total_pss_bytes) for s in tl.samples]
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def ci_text(low: float | None, high: float | None, fmt: str = "+.2f") -> str:
    """``(-0.10 to +0.30)``, or ``(too few samples)`` when there is no interval."""
    if low is None or high is None:
        return "(too few samples)"
    return f"({low:{fmt}} to {high:{fmt}})"


def _resources(tl: Timeline) -> tuple[ResourceTrend, ...]:
    samples = tl.resources
    if not samples:
        return ()
    names = sorted({k for r in samples for k in r.totals})
    xs = [r.t for r in samples]
    out = []
    for name in names:
        ys = [float(r.totals.get(name, 0)) for r in samples]
        tr = trend(xs, ys)
        per_work = _against_work(tl, xs, ys)
        at_peak = samples[max(range(len(ys)), key=ys.__getitem__)]
        out.append(
            ResourceTrend(
                name=name,
                first=int(ys[0]),
                last=int(ys[-1]),
                peak=int(max(ys)),
                per_minute=tr.slope * 60,
                ci_low_per_minute=_finite(tr.ci_low * 60),
                ci_high_per_minute=_finite(tr.ci_high * 60),
                growing=tr.growing(),
                by_pid_at_peak={
                    pid: counts[name] for pid, counts in at_peak.by_pid.items() if counts.get(name)
                },
                per_iteration=per_work[0] if per_work else None,
                ci_low_per_iteration=_finite(per_work[1]) if per_work else None,
                ci_high_per_iteration=_finite(per_work[2]) if per_work else None,
            )
        )
    return tuple(out)


@dataclass
class _ProcAcc:
    first_t: float
    last_t: float
    final: ProcSample
    peak_rss: int = 0
    peak_pss: int | None = None


def _processes(tl: Timeline, meta: RunMeta) -> tuple[ProcessSummary, ...]:
    info = {p.pid: p for p in tl.processes}
    exited = {e.pid for e in tl.exits}
    acc: dict[int, _ProcAcc] = {}
    for s in tl.samples:
        for p in s.procs:
            row = acc.get(p.pid)
            if row is None:
                row = acc[p.pid] = _ProcAcc(first_t=s.t, last_t=s.t, final=p)
            row.last_t = s.t
            row.final = p
            row.peak_rss = max(row.peak_rss, p.rss_bytes, p.peak_rss_bytes)
            if p.pss_bytes is not None:
                row.peak_pss = (
                    p.pss_bytes if row.peak_pss is None else max(row.peak_pss, p.pss_bytes)
                )
    out = []
    for pid, row in acc.items():
        p_info = info.get(pid)
        out.append(
            ProcessSummary(
                pid=pid,
                ppid=p_info.ppid if p_info else 0,
                cmdline=p_info.cmdline if p_info else (),
                first_t=row.first_t,
                last_t=row.last_t,
                peak_rss_bytes=row.peak_rss,
                peak_pss_bytes=row.peak_pss,
                final_rss_bytes=row.final.rss_bytes,
                final_pss_bytes=row.final.pss_bytes,
                final_uss_bytes=row.final.uss_bytes,
                exited=pid in exited,
            )
        )
    maxrss = meta.exit.max_rss_bytes if meta.exit else None
    if maxrss is not None and meta.kind == "run":
        out = [
            replace(p, peak_rss_bytes=max(p.peak_rss_bytes, maxrss))
            if p.pid == meta.target_pid
            else p
            for p in out
        ]
    out.sort(key=lambda p: p.peak_rss_bytes, reverse=True)
    return tuple(out)


def _gc(tl: Timeline, keep: int) -> GcSummary | None:
    events = tl.gc_events
    if not events and not tl.agents:
        return None
    counts = [0, 0, 0]
    for e in events:
        if 0 <= e.generation <= 2:
            counts[e.generation] += 1
    return GcSummary(
        collections=(counts[0], counts[1], counts[2]),
        collected=sum(e.collected for e in events),
        uncollectable=sum(e.uncollectable for e in events),
        pause_total_s=sum(e.duration_s for e in events),
        pause_max_s=max((e.duration_s for e in events), default=0.0),
        last=tuple(sorted(events, key=lambda e: e.t)[-keep:]) if keep > 0 else (),
        longest=tuple(sorted(events, key=lambda e: e.duration_s, reverse=True)[:5]),
    )


def signal_name(signum: int) -> str:
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def diagnose_exit(
    raw_returncode: int,
    *,
    samples: list[Sample],
    limit_bytes: int | None,
    oom_kills_before: int | None,
    oom_kills_after: int | None,
    interrupted: bool = False,
    max_rss_bytes: int | None = None,
    kernel_oom_message: str | None = None,
) -> ExitStatus:
    """Turn a Popen returncode (negative for signals) into an ExitStatus with an OOM verdict.

    A SIGKILL is called OOM-killed when the kernel's log says so (``kernel_oom_message``),
    and "most likely OOM-killed" when the cgroup's OOM-kill counter rose during the run, or
    when the last memory we saw was within 90% of the known limit.
    """
    if raw_returncode >= 0:
        return ExitStatus(
            returncode=raw_returncode, interrupted=interrupted, max_rss_bytes=max_rss_bytes
        )
    signum = -raw_returncode
    oom: OomVerdict | None = None
    if signum == _signal.SIGKILL:
        last = samples[-1] if samples else None
        # RSS is what the OOM killer and cgroup limits count.
        at_death = max((s.total_rss_bytes for s in samples[-3:]), default=None) if last else None
        kills = None
        if oom_kills_before is not None and oom_kills_after is not None:
            kills = oom_kills_after - oom_kills_before
        if kernel_oom_message:
            reason = f"the kernel's log says: {kernel_oom_message}"
            oom = OomVerdict(True, reason, limit_bytes, at_death, kills)
        elif kills:
            reason = (
                f"the kernel's OOM killer acted {kills} time(s) in the target's cgroup"
                " during the run"
            )
            oom = OomVerdict(True, reason, limit_bytes, at_death, kills)
        elif limit_bytes and at_death is not None and at_death >= NEAR_LIMIT_FRACTION * limit_bytes:
            reason = (
                f"it was killed at {format_bytes(at_death)} RSS, "
                f"{at_death / limit_bytes:.0%} of the {format_bytes(limit_bytes)} limit"
            )
            oom = OomVerdict(True, reason, limit_bytes, at_death, kills)
        else:
            near = (
                f"{format_bytes(at_death)} RSS against a limit of {format_bytes(limit_bytes)}"
                if limit_bytes
                else "no memory limit known (give one with --limit)"
            )
            oom = OomVerdict(
                False, f"SIGKILL, but not near a memory limit: {near}", limit_bytes, at_death, kills
            )
    return ExitStatus(
        returncode=128 + signum,
        signal=signum,
        signal_name=signal_name(signum),
        interrupted=interrupted,
        oom=oom,
        max_rss_bytes=max_rss_bytes,
    )


def load_run(path: str | os.PathLike[str]) -> Run:
    """Load a run directory written by ``memhound run`` or ``memhound watch``.

    The summary is recomputed from ``timeline.jsonl``, so a run whose memhound was killed
    (status still "running") reads as far as it was recorded.
    """
    run = load_run_files(path)
    run.summary = summarize(run)
    return run
