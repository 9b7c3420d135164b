"""``memhound soak``: drive the app in-process, watch what it retains, and give a verdict.

The app runs in this process under tracemalloc (1 frame): every ``requests / samples``
requests a full collection runs and the traced heap, RSS, open fds and threads are read.
The verdict comes from ``leaks.detect`` on the warm-up-trimmed series. Three heap snapshots
(after the warm-up, halfway, at the end) give the objects new in the first round of load and
still alive after the second, with the path that retains them (``heap.diff.three_snapshot``).
With several endpoints, each is then soaked on its own to say which one grows.
"""

from __future__ import annotations

import array
import gc
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memhound.analysis.stacks import created_at
from memhound.leaks.detect import auto_warmup, judge_series
from memhound.load.base import Driver
from memhound.model.verdict import (
    EndpointResult,
    GrowingGroup,
    LeftOpen,
    ResourceVerdict,
    SoakResult,
)
from memhound.probes.process import count_fds, read_status
from memhound.watchers.tree import ResourceSampler


@dataclass(frozen=True)
class SoakOptions:
    requests: int = 2000
    duration_s: float | None = None
    warmup: int | None = None
    samples: int = 200
    snapshots_dir: Path | None = None
    per_endpoint: bool = True
    #: Growth below this is not called a leak: interpreter-level churn (dict resizes under
    #: key churn, caches of the interpreter) shows as 1-2 B per request on some versions.
    min_bytes_per_request: float = 16.0
    #: Servers whose sessions opened by this process are counted at every sample.
    postgres: str | None = None
    redis: str | None = None


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    requests_per_s: float
    traced_bytes: int
    slope: float | None


class _Series:
    """Preallocated, unboxed columns: the series must not grow while it measures (a list of
    ints would add ~40 bytes per sample to the very heap being judged)."""

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self._cols = [array.array("q", bytes(8 * capacity)) for _ in range(5)]
        self.capacity = capacity
        # fds by kind, sockets by state and peer, server sessions: columns made on first
        # sight, preallocated too (zeros before a kind first appears are true counts).
        self.extra: dict[str, array.array[int]] = {}
        self.errors: list[str] = []

    def set_extra(self, key: str, value: int) -> None:
        column = self.extra.get(key)
        if column is None:
            column = self.extra[key] = array.array("q", bytes(8 * self.capacity))
        column[self.n - 1] = value

    def extra_col(self, key: str) -> list[int]:
        return self.extra[key][: self.n].tolist()

    def add(self, *values: int) -> None:
        for col, v in zip(self._cols, values, strict=True):
            col[self.n] = v
        self.n += 1

    def col(self, i: int) -> list[int]:
        return self._cols[i][: self.n].tolist()

    @property
    def x(self) -> list[int]:
        return self.col(0)

    @property
    def traced(self) -> list[int]:
        return self.col(1)

    @property
    def rss(self) -> list[int]:
        return self.col(2)

    @property
    def fds(self) -> list[int]:
        return self.col(3)

    @property
    def threads(self) -> list[int]:
        return self.col(4)

    def last_traced(self) -> int:
        return int(self._cols[1][self.n - 1])


def _run(
    driver: Driver,
    endpoints: tuple[str, ...],
    n: int,
    every: int,
    deadline: float | None,
    on_sample: Callable[[int, _Series], None] | None = None,
    resources: ResourceSampler | None = None,
) -> tuple[_Series, int, int]:
    resources = resources or ResourceSampler()
    series = _Series(n // every + 2)
    pid = os.getpid()
    errors = done = 0
    for i in range(1, n + 1):
        out = driver.drive(endpoints[i % len(endpoints)])
        errors += not out.ok
        done = i
        last = i == n or (deadline is not None and time.monotonic() >= deadline)
        if i % every == 0 or last:
            gc.collect()
            series.add(
                i,
                tracemalloc.get_traced_memory()[0],
                read_status(pid).rss_bytes,
                count_fds(pid) or 0,
                threading.active_count(),
            )
            rs = resources.sample(float(i), [pid])
            for key, value in rs.totals.items():
                if key not in ("fds", "threads"):
                    series.set_extra(key, value)
            for key, wanted in (
                ("postgres.backends", resources.postgres),
                ("redis.clients", resources.redis),
            ):
                if wanted and key not in rs.totals and series.n >= 2 and key in series.extra:
                    # a sample the server did not answer repeats the last known count
                    series.set_extra(key, series.extra[key][series.n - 2])
            for e in rs.errors:
                if e not in series.errors:
                    series.errors.append(e)
            if on_sample is not None:
                on_sample(i, series)
        if last:
            break
    return series, done, errors


def soak(
    driver: Driver,
    target: str,
    options: SoakOptions = SoakOptions(),
    on_progress: Callable[[Progress], None] | None = None,
) -> SoakResult:
    """Soak ``driver`` and judge what it retains.

    The verdict run takes no snapshot (writing one allocates, and would show in the series);
    when it finds a leak, a second phase takes the three snapshots around two more rounds.
    """
    n = options.requests
    warmup = options.warmup if options.warmup is not None else auto_warmup(n)
    every = max(1, n // options.samples)
    endpoints = driver.endpoints
    started = time.monotonic()
    deadline = started + options.duration_s if options.duration_s else None
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start(1)
    open_before = {item["id"] for item in _open_resources()}
    try:

        def on_sample(i: int, series: _Series) -> None:
            if on_progress is not None:
                elapsed = max(1e-9, time.monotonic() - started)
                slope = None
                if series.n >= 6 and series.n % 10 == 0:  # judging costs: not every sample
                    slope = judge_series(series.x, series.traced, warmup=warmup).per_request
                on_progress(Progress(i, n, i / elapsed, series.last_traced(), slope))

        sampler = ResourceSampler(postgres=options.postgres, redis=options.redis)
        series, done, errors = _run(driver, endpoints, n, every, deadline, on_sample, sampler)
        duration = time.monotonic() - started
        left_counts: dict[tuple[str, str, str], int] = {}
        for item in _open_resources():
            if item["id"] not in open_before:
                key = (item["kind"], item["what"], created_at(item["stack"]))
                left_counts[key] = left_counts.get(key, 0) + 1
        left_open = tuple(
            LeftOpen(kind, what, where, count)
            for (kind, what, where), count in sorted(
                left_counts.items(), key=lambda kv: kv[1], reverse=True
            )[:50]
        )
        verdict = judge_series(
            series.x, series.traced, warmup=warmup, min_per_request=options.min_bytes_per_request
        )
        per_endpoint: list[EndpointResult] = []
        if options.per_endpoint and len(endpoints) > 1:
            m = max(300, done // len(endpoints))
            for e in endpoints:
                s, d, err = _run(driver, (e,), m, max(1, m // 60), None)
                v = judge_series(
                    s.x,
                    s.traced,
                    warmup=auto_warmup(m),
                    min_per_request=options.min_bytes_per_request,
                )
                per_endpoint.append(EndpointResult(e, d, err, v.leak, v.per_request, v.ci95))
        snaps: dict[str, str] = {}
        new_modules: set[str] = set()
        if options.snapshots_dir is not None and verdict.leak:
            rounds = max(100, done // 4)
            import numpy  # noqa: F401  (the writer's: imported now, not between snapshots)

            import memhound.heap.writer  # noqa: F401

            modules_before = set(sys.modules)
            snaps["a"] = _snapshot(options.snapshots_dir, "a")
            for label in ("b", "c"):
                _run(driver, endpoints, rounds, rounds, None)
                snaps[label] = _snapshot(options.snapshots_dir, label)
            # Modules first imported meanwhile (by the app, or lazily by the snapshot writer)
            # are new objects too, but not growth: leave them out of the groups.
            new_modules = set(sys.modules) - modules_before
    finally:
        if not tracing:
            tracemalloc.stop()
    rss = judge_series(series.x, series.rss, warmup=warmup)
    resources = {}
    columns = {"fds": series.fds, "threads": series.threads}
    columns.update({k: series.extra_col(k) for k in sorted(series.extra)})
    for name, values in columns.items():
        v = judge_series(series.x, values, warmup=warmup, min_per_request=0.0)
        resources[name] = ResourceVerdict(v.leak, v.per_request, v.ci95, values[0], values[-1])
    growing = _growing(snaps, new_modules) if len(snaps) == 3 else ()
    return SoakResult(
        target=target,
        leak=verdict.leak or any(r.leak for r in resources.values()),
        bytes_per_request=verdict.per_request,
        ci95=verdict.ci95,
        p_value=verdict.p_value,
        warmup_requests=min(warmup, done),
        requests=done,
        errors=errors,
        duration_s=duration,
        requests_per_s=done / max(duration, 1e-9),
        rss_bytes_per_request=rss.per_request,
        per_endpoint=tuple(per_endpoint),
        growing=growing,
        resources=resources,
        snapshots=tuple(snaps[k] for k in sorted(snaps)),
        errors_watching=tuple(series.errors),
        left_open=left_open,
        series=tuple(zip(series.x, series.traced, series.rss, strict=True)),
    )


def _open_resources() -> list[dict[str, Any]]:
    from memhound import agent

    items: list[dict[str, Any]] = agent.load().open_resources(limit=100_000)
    return items


def _snapshot(directory: Path | None, label: str) -> str:
    from memhound.heap.writer import snapshot

    assert directory is not None
    path = directory / f"soak-{label}.heapsnapshot"
    snapshot(path)
    return str(path)


def _growing(
    snaps: dict[str, str], new_modules: set[str], top: int = 5
) -> tuple[GrowingGroup, ...]:
    from memhound import heap

    a, b, c = (heap.load(snaps[k]) for k in ("a", "b", "c"))
    graph_c = heap.analyse(c)
    groups = heap.three_snapshot(a, b, c, graph_c, paths=1, path_groups=4 * top)
    prefixes = tuple(f"module {m} " for m in new_modules) + tuple(
        f"module {m}" for m in new_modules
    )
    owners = tuple(f"{m}." for m in new_modules)

    def newly_imported(g: Any) -> bool:
        name = g.class_name.removeprefix("class ")
        return bool(g.paths and g.paths[0].text.startswith(prefixes)) or name.startswith(owners)

    groups = [g for g in groups if not newly_imported(g)]
    out = []
    for g in sorted(groups, key=lambda g: g.retained_bytes, reverse=True)[:top]:
        out.append(
            GrowingGroup(
                class_name=g.class_name,
                count=g.count,
                retained_bytes=g.retained_bytes,
                path=g.paths[0].text if g.paths else "(no path found)",
            )
        )
    return tuple(out)
