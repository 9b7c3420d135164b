"""Out-of-process sampling of a process tree's memory, and the pacing loop that drives it.

Every tick reads ``/proc/PID/status`` of each process in the tree (RSS, the kernel's RSS
high-water mark, swap: tens of microseconds each). PSS and USS come from ``smaps_rollup``,
which walks the target's page tables under its mmap lock and costs 11-15 ms per GiB of RSS
(measured in ``bench/``); each process's rollup is re-read only once the time since the last
read is at least ``cost / pss_budget`` (1% of wall time by default), never more often than
every tick. Between reads a process's PSS is estimated as its last PSS plus its RSS growth
since then, and marked as estimated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from memhound.errors import AccessDenied, ProcessNotFound
from memhound.model.timeline import ProcessExit, ProcessInfo, ProcSample, Sample
from memhound.probes import process as proc


def pace(
    interval_s: float,
    step: Callable[[float], bool],
    *,
    start: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Call ``step(t)``, ``t`` seconds since ``start`` (default: now), every ``interval_s``
    until it returns True.

    Steps fall on a fixed grid (``start``, ``start + interval_s``, ...) so that a step's own
    cost does not stretch the interval; a step that overran starts the grid again from now
    rather than firing the missed steps in a burst. ``sleep(delay_s)`` may return early (run
    wakes when its job exits): the next step then simply comes sooner.
    """
    t0 = clock() if start is None else start
    next_t = t0
    while not step(clock() - t0):
        next_t = max(next_t + interval_s, clock())
        delay = next_t - clock()
        if delay > 0:
            sleep(delay)


@dataclass
class _Known:
    pid: int
    ppid: int
    pss_bytes: int | None = None
    uss_bytes: int | None = None
    rss_at_rollup: int = 0
    next_rollup_t: float = 0.0
    rollup_denied: bool = False


class TreeSampler:
    """Samples ``root_pid`` and all its descendants.

    ``sample(t)`` returns the Sample plus the processes that appeared and vanished since the
    previous call. Processes that exit mid-read are skipped, never reported as 0 bytes.
    """

    def __init__(
        self,
        root_pid: int,
        *,
        pss_budget: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root_pid = root_pid
        self.pss_budget = pss_budget
        self._clock = clock
        self._known: dict[int, _Known] = {}
        self.rollup_seconds = 0.0
        self.rollups = 0

    def sample(self, t: float) -> tuple[Sample | None, list[ProcessInfo], list[ProcessExit]]:
        pids = proc.tree(self.root_pid)
        appeared: list[ProcessInfo] = []
        procs: list[ProcSample] = []
        seen: set[int] = set()
        for pid in pids:
            try:
                st = proc.read_status(pid)
            except (ProcessNotFound, AccessDenied):
                continue
            if st.is_exiting:
                continue
            known = self._known.get(pid)
            if known is None:
                known = self._known[pid] = _Known(pid, st.ppid)
                try:
                    argv = tuple(proc.cmdline(pid))
                except (ProcessNotFound, AccessDenied):
                    argv = ()
                appeared.append(ProcessInfo(pid=pid, ppid=st.ppid, cmdline=argv or (st.name,), t=t))
            seen.add(pid)
            estimated = True
            now = self._clock()
            if not known.rollup_denied and now >= known.next_rollup_t:
                start = time.perf_counter()
                try:
                    roll = proc.read_rollup(pid)
                except ProcessNotFound:
                    continue
                except AccessDenied:
                    known.rollup_denied = True
                else:
                    cost = time.perf_counter() - start
                    self.rollup_seconds += cost
                    self.rollups += 1
                    known.pss_bytes = roll.pss_bytes
                    known.uss_bytes = roll.uss_bytes
                    known.rss_at_rollup = roll.rss_bytes
                    known.next_rollup_t = now + cost / self.pss_budget
                    estimated = False
            pss: int | None = None
            if known.pss_bytes is not None:
                pss = max(0, known.pss_bytes + (st.rss_bytes - known.rss_at_rollup))
                if not estimated:
                    pss = known.pss_bytes
            procs.append(
                ProcSample(
                    pid=pid,
                    rss_bytes=st.rss_bytes,
                    pss_bytes=pss,
                    uss_bytes=known.uss_bytes,
                    swap_bytes=st.swap_bytes,
                    peak_rss_bytes=st.peak_rss_bytes,
                    pss_estimated=estimated and pss is not None,
                )
            )
        gone = [ProcessExit(pid=pid, t=t) for pid in self._known if pid not in seen]
        for e in gone:
            del self._known[e.pid]
        if not procs:
            return None, appeared, gone
        total_pss = sum(p.pss_bytes if p.pss_bytes is not None else p.rss_bytes for p in procs)
        uss_values = [p.uss_bytes for p in procs]
        total_uss = None if None in uss_values else sum(u for u in uss_values if u is not None)
        sample = Sample(
            t=t,
            total_pss_bytes=total_pss,
            total_rss_bytes=sum(p.rss_bytes for p in procs),
            total_uss_bytes=total_uss,
            procs=tuple(procs),
        )
        return sample, appeared, gone
