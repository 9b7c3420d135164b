"""``memhound soak``: drive the app in-process, watch what it retains, and give a verdict.

The app runs in this process under tracemalloc (1 frame): every ``requests / samples``
requests a full collection runs and the traced heap, RSS, open fds and threads are read.
The verdict comes from ``leaks.detect`` on the warm-up-trimmed series; too many failed
requests or too few samples give none (``why_inconclusive``: ``leak`` None and the reason).
Three heap snapshots (after the warm-up, halfway, at the end) give the objects new in the first
round of load and still alive after the second, with the path that retains them
(``heap.diff.three_snapshot``).
With several endpoints, each is then soaked on its own to say which one grows.
"""

from __future__ import annotations

import array
import contextlib
import gc
import os
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from memhound._fsutil import FdReserve
from memhound.analysis.stacks import created_at
from memhound.leaks.detect import (
    DEFAULT_MAX_ERRORS,
    MIN_POINTS,
    MIN_RISE,
    SeriesVerdict,
    auto_warmup,
    find_saturation,
    judge_series,
    near,
    warmup_rise,
    why_inconclusive,
)
from memhound.load.base import Driver, Outcome
from memhound.model.verdict import (
    EndpointResult,
    GrowingGroup,
    LeftOpen,
    ResourceLimit,
    ResourceVerdict,
    Saturation,
    SoakResult,
)
from memhound.probes.limits import resource_limits
from memhound.probes.process import count_fds, read_status
from memhound.watchers.pools import PoolWatcher
from memhound.watchers.tree import ResourceSampler

#: Frames per allocation in the verdict run (1: ~12k requests/s on a trivial app here; 8
#: frames: ~2.7k) and in the short round that finds where growing resources come from.
TRACE_FRAMES = 1
DEEP_FRAMES = 16
#: Descriptors kept for memhound's own reads while an in-process app runs: a reading needs
#: 2-3 at once (the fd listing, a socket table, the sock_diag socket), an import or a
#: snapshot file a few more.
FD_RESERVE = 16
_NO_ROOM = contextlib.nullcontext()  # one, reused: nothing new in the snapshots


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
    concurrency: int = 1
    #: Endpoints soaked one by one for the per-endpoint table (the first ones given).
    max_endpoints: int = 50
    #: The fraction of failed requests (no answer, or one outside 2xx/3xx) above which the
    #: soak gives no verdict (``leaks.detect.why_inconclusive``).
    max_errors: float = DEFAULT_MAX_ERRORS
    #: Limits given by the user (``--limit fds=500``), by resource: they win over those
    #: read from the target.
    limits: tuple[tuple[str, int], ...] = ()
    #: The heap snapshots hold every string's text as its length only (tokens, passwords).
    redact_strings: bool = False


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    requests_per_s: float
    traced_bytes: int
    slope: float | None
    #: What ``traced_bytes`` is: "python-heap", or "rss" for a server measured from outside.
    measured: str = "python-heap"


@dataclass(frozen=True)
class HttpOptions:
    """``soak --url``: how the server is found (started with ``serve``, given as ``pid``, else
    the process listening on the URL's port) and its URLs (the paths given, a sitemap, or the
    links followed from the URL)."""

    sitemap: str | None = None
    max_urls: int = 50
    serve: str | None = None
    pid: int | None = None
    serve_timeout_s: float = 30.0
    allow_remote: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class SoakPlan:
    """One ``memhound soak`` (``run_soak``): what to drive, how, and where its run goes."""

    #: "wsgi", "asgi" or "call" (the app runs in this process), or "http" (a real server).
    driver: str
    #: MODULE:APP, MODULE:FUNCTION, or the server's URL.
    target: str
    #: URL paths (or same-origin URLs) to request; none: "/" in-process, found over HTTP.
    paths: tuple[str, ...] = ()
    #: Its ``snapshots_dir`` is set by ``run_soak``: RUN_DIR/snapshots when ``snapshots``.
    options: SoakOptions = SoakOptions()
    snapshots: bool = True
    http: HttpOptions = HttpOptions()
    output_dir: Path | None = None
    runs_dir: Path = Path("memhound-runs")


class _Column:
    """One of a ``_Series``'s columns, read as a list."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __get__(self, series: _Series, owner: type[_Series] | None = None) -> list[int]:
        return series.col(self.index)


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
        # when each sample was taken (monotonic seconds) and the requests failed by then
        self.secs = array.array("d", bytes(8 * capacity))
        self.failed = array.array("q", bytes(8 * capacity))

    def mark(self, secs: float, failed: int) -> None:
        self.secs[self.n - 1] = secs
        self.failed[self.n - 1] = failed

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

    # the columns in the order ``add`` takes them
    x = _Column(0)
    traced = _Column(1)
    rss = _Column(2)
    fds = _Column(3)
    threads = _Column(4)

    def last_traced(self) -> int:
        return int(self._cols[1][self.n - 1])


class _Failures:
    """Failed requests: how many, and how many of each kind on each endpoint, which names
    what went wrong when there were too many. Shared by the worker threads (hence the lock);
    an entry is made once per kind, so counting does not grow it under the series."""

    def __init__(self) -> None:
        self.count = 0
        self.kinds: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, out: Outcome) -> None:
        if out.ok:
            return
        key = f"{out.failure()} on {out.endpoint}"
        with self._lock:
            self.count += 1
            self.kinds[key] = self.kinds.get(key, 0) + 1

    def most_common(self) -> str | None:
        """``HTTP 500 on /x (60 times)``, or None without failures."""
        if not self.kinds:
            return None
        key = max(self.kinds, key=self.kinds.__getitem__)
        n = self.kinds[key]
        return f"{key} ({n:,} time{'s' if n != 1 else ''})"


@dataclass
class Reading:
    """One measurement of the target, taken with the load paused."""

    primary: int  # what the verdict judges: the traced Python heap, or RSS without it
    rss: int
    fds: int
    threads: int
    extra: dict[str, int]
    errors: tuple[str, ...] = ()


class Meter(Protocol):
    """Where the numbers come from: this process (the app in-process), or a server's tree."""

    #: What ``Reading.primary`` is, for the report: "python-heap" or "rss".
    primary: str

    def begin(self) -> None: ...

    def end(self) -> None: ...

    def measure(self, t: float) -> Reading | None:
        """None when the target is gone (the server died)."""

    def open_ids(self) -> set[int]: ...

    def left_open(self, before: set[int]) -> tuple[LeftOpen, ...]: ...

    def deep_stacks(self) -> AbstractContextManager[None]:
        """Within: allocations record deep stacks (for where resources were created)."""

    def snapshot(self, directory: Path, label: str) -> dict[str, str]:
        """Heap snapshots labelled ``label`` in ``directory``: one per process snapshotted,
        by a name for it (``"pid 4242"``), the same processes for every label."""

    def snapshot_prepare(self) -> set[str]:
        """Called before the first snapshot; returns modules to leave out of the groups."""

    def snapshot_new_modules(self, before: set[str]) -> set[str]: ...

    def gone(self) -> str | None:
        """Why the target stopped (e.g. "the server exited with status 1"), or None."""

    def limits(self, given: Mapping[str, int]) -> dict[str, ResourceLimit]:
        """The target's limits by resource, read now (``given``: the user's, which win)."""


class InProcessMeter:
    """The app runs here under tracemalloc (1 frame); a full collection before each reading.

    The app shares this process's descriptors: one that leaks sockets or files takes them
    all. The meter holds a reserve (``_fsutil.FdReserve``) while the app runs and frees it
    for its own reads, so that a reading, ``left_open`` and the saved run still work; a
    reading that fails anyway becomes a note (``Reading.errors``), never the end of the soak.
    """

    primary = "python-heap"

    def __init__(self, resources: ResourceSampler, *, redact: bool = False) -> None:
        self.resources = resources
        self.redact = redact
        self.pid = os.getpid()
        self._tracing = False
        self._reserve: FdReserve | None = None
        self._last = Reading(0, 0, 0, 0, {})
        self._pools = PoolWatcher()

    def begin(self) -> None:
        self._tracing = tracemalloc.is_tracing()
        if not self._tracing:
            # frames enough to reach the app's own line under library code (what a socket or
            # thread left open was created by); the heap figure does not depend on it
            tracemalloc.start(TRACE_FRAMES)
        self._reserve = FdReserve(FD_RESERVE)

    def end(self) -> None:
        if not self._tracing:
            tracemalloc.stop()
        if self._reserve is not None:
            self._reserve.release()
            self._reserve = None

    def room(self) -> AbstractContextManager[None]:
        """Within: the reserved descriptors are free for memhound's own reads and writes."""
        return self._reserve.room() if self._reserve is not None else _NO_ROOM

    @property
    def reserved_fds(self) -> int:
        """Descriptors of the process's limit that the app cannot have while it runs."""
        return FD_RESERVE if self._reserve is not None else 0

    def measure(self, t: float) -> Reading:
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        threads = threading.active_count()
        last = self._last
        errors: list[str] = []
        with self.room():
            try:
                rss = read_status(self.pid).rss_bytes
            except OSError as exc:  # EMFILE, ENFILE: the app took what the reserve left
                rss = last.rss
                errors.append(f"RSS could not be read ({exc.strerror or exc}): the last known kept")
            try:
                fds = count_fds(self.pid) or 0
            except OSError as exc:
                fds = last.fds
                errors.append(f"fds could not be counted ({exc.strerror or exc})")
            try:
                rs = self.resources.sample(t, [self.pid])
                extra = {k: v for k, v in rs.totals.items() if k not in ("fds", "threads")}
                errors.extend(rs.errors)
            except OSError as exc:
                extra = dict(last.extra)
                errors.append(f"sockets and files could not be read ({exc.strerror or exc})")
        checked_out = self._pools.checked_out()
        if checked_out is not None:
            extra["sqlalchemy.checked_out"] = checked_out
        self._last = Reading(traced, rss, fds, threads, extra, tuple(errors))
        return self._last

    def open_ids(self) -> set[int]:
        with self.room():
            return {item["id"] for item in _open_resources()}

    def left_open(self, before: set[int]) -> tuple[LeftOpen, ...]:
        """Resources open now and not before, grouped by kind and what they are; each group
        says where its member with the deepest recorded stack was created (the agent's
        grouping, the same a server's agent sends)."""
        from memhound import agent

        with self.room():
            found = agent.load().left_open(before)
        return left_open_of(found)

    @contextlib.contextmanager
    def deep_stacks(self) -> Iterator[None]:
        if self._tracing:  # tracing was on before the soak: its settings are the user's
            yield
            return
        tracemalloc.stop()
        tracemalloc.start(DEEP_FRAMES)
        try:
            yield
        finally:
            tracemalloc.stop()
            tracemalloc.start(TRACE_FRAMES)

    def snapshot_prepare(self) -> set[str]:
        # A first snapshot, thrown away: the writer's imports (numpy, and numpy.ma that
        # np.unique imports on first use) and its lazily built state would otherwise be new
        # objects between the three snapshots that count.
        import tempfile

        with self.room(), tempfile.TemporaryDirectory(prefix="memhound-") as tmp:
            _snapshot(Path(tmp), "warm-up", self.redact)
        return set(sys.modules)

    def snapshot_new_modules(self, before: set[str]) -> set[str]:
        return set(sys.modules) - before

    def snapshot(self, directory: Path, label: str) -> dict[str, str]:
        with self.room():
            return {"this process": _snapshot(directory, label, self.redact)}

    def gone(self) -> str | None:
        return None

    def limits(self, given: Mapping[str, int]) -> dict[str, ResourceLimit]:
        with self.room():
            limits = resource_limits([self.pid], reserved_fds=self.reserved_fds)
            limits.update(self.resources.server_limits([self.pid]))
            pool = self._pools.limit()
            if pool is not None:
                key = "sqlalchemy.checked_out"
                limits[key] = ResourceLimit(key, pool[0], pool[1])
        limits.update(given_limits(given, self.reserved_fds))
        return limits


def _run(
    driver: Driver,
    endpoints: tuple[str, ...],
    n: int,
    every: int,
    deadline: float | None,
    meter: Meter,
    on_sample: Callable[[int, _Series], None] | None = None,
    concurrency: int = 1,
    before: Reading | None = None,
) -> tuple[_Series, int, _Failures]:
    """Drive ``n`` requests, measuring every ``every``; returns the series, the requests
    sent (those that ended the soak early included) and the failures. ``before``: a
    reading taken before the load, the series' first point (at 0 requests)."""
    series = _Series(n // every + 3)
    failures = _Failures()
    if before is not None:
        _add(series, 0, before, 0)
    done = 0
    pool = _Workers(driver, concurrency, failures) if concurrency > 1 else None
    try:
        i = 0
        while i < n:
            batch = min(every - i % every, n - i)
            if pool is None:
                for k in range(i + 1, i + batch + 1):
                    out = driver.drive(endpoints[k % len(endpoints)])
                    failures.add(out)
                    if not out.ok and _gave_up(driver):
                        batch = k - i
                        break
            else:
                pool.run(endpoints, i + 1, batch)
            i += batch
            done = i
            if _gave_up(driver):
                break
            last = i == n or (deadline is not None and time.monotonic() >= deadline)
            if i % every == 0 or last:
                reading = meter.measure(float(i))
                if reading is None:  # the target is gone: judge what was gathered
                    break
                _add(series, i, reading, failures.count)
                if on_sample is not None:
                    on_sample(i, series)
            if last:
                break
    finally:
        if pool is not None:
            pool.close()
    return series, done, failures


def _add(series: _Series, i: int, reading: Reading, failed: int) -> None:
    series.add(i, reading.primary, reading.rss, reading.fds, reading.threads)
    series.mark(time.monotonic(), failed)
    for key, value in reading.extra.items():
        series.set_extra(key, value)
    for key in ("postgres.backends", "redis.clients"):
        if key not in reading.extra and series.n >= 2 and key in series.extra:
            # a sample the server did not answer repeats the last known count
            series.set_extra(key, series.extra[key][series.n - 2])
    for e in reading.errors:
        if e not in series.errors:
            series.errors.append(e)


def _gave_up(driver: Driver) -> bool:
    """A driver that cannot reach its target any more (a server that hangs or went away)
    says so; the soak then stops and judges what it gathered."""
    return getattr(driver, "gave_up", None) is not None


class _Workers:
    """``concurrency`` threads that share each batch of requests; the batch ends (and the load
    pauses for a measurement) when all of them are done."""

    def __init__(self, driver: Driver, concurrency: int, failures: _Failures) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.driver = driver
        self.concurrency = concurrency
        self.failures = failures
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="memhound-soak")
        # start every worker now: threads appearing mid-series would read as thread growth
        list(self.pool.map(lambda _: time.sleep(0.01), range(concurrency)))

    def _part(self, endpoints: tuple[str, ...], first: int, count: int, step: int) -> None:
        for k in range(first, first + count, step):
            out = self.driver.drive(endpoints[k % len(endpoints)])
            self.failures.add(out)
            if not out.ok and _gave_up(self.driver):
                break

    def run(self, endpoints: tuple[str, ...], first: int, count: int) -> None:
        together = getattr(self.driver, "drive_concurrently", None)
        if together is not None:  # an event loop's own concurrency (ASGI)
            batch = [endpoints[k % len(endpoints)] for k in range(first, first + count)]
            for out in together(batch, self.concurrency):
                self.failures.add(out)
            return
        c = min(self.concurrency, count)
        futures = [
            self.pool.submit(self._part, endpoints, first + w, count - w, c) for w in range(c)
        ]
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def soak(
    driver: Driver,
    target: str,
    options: SoakOptions = SoakOptions(),
    on_progress: Callable[[Progress], None] | None = None,
    meter: Meter | None = None,
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
    sampler = ResourceSampler(postgres=options.postgres, redis=options.redis)
    meter = meter or InProcessMeter(sampler, redact=options.redact_strings)
    c = max(1, options.concurrency)
    meter.begin()
    try:
        limits = meter.limits(dict(options.limits))
        before = meter.measure(0.0)
        open_before = meter.open_ids()

        def on_sample(i: int, series: _Series) -> None:
            if on_progress is not None:
                elapsed = max(1e-9, time.monotonic() - started)
                slope = None
                if series.n >= 6 and series.n % 10 == 0:  # judging costs: not every sample
                    slope = judge_series(series.x, series.traced, warmup=warmup).per_request
                on_progress(Progress(i, n, i / elapsed, series.last_traced(), slope, meter.primary))

        series, done, failures = _run(
            driver, endpoints, n, every, deadline, meter, on_sample, concurrency=c, before=before
        )
        duration = time.monotonic() - started
        resources = {}
        columns = {"fds": series.fds, "threads": series.threads}
        columns.update({k: series.extra_col(k) for k in sorted(series.extra)})
        for name, values in columns.items():
            v = judge_series(series.x, values, warmup=warmup, min_per_request=0.0)
            # against the level before the load, when there is one: growth in the warm-up
            # (a connection or a thread per concurrent client is the load's own: 4 each)
            rise = (
                warmup_rise(series.x, values, warmup=warmup, min_rise=max(MIN_RISE, 4 * c))
                if before is not None
                else 0
            )
            resources[name] = ResourceVerdict(
                v.leak or rise > 0, v.per_request, v.ci95, values[0], values[-1], rise
            )
        saturated = _saturation(series, columns, limits, done, failures.count, started)
        if saturated is not None:
            r = resources[saturated.resource]
            resources[saturated.resource] = replace(r, leak=True)
        stacks_requests = 0
        if (
            any(r.leak for r in resources.values())
            and saturated is None  # at its limit, the round could open nothing new
            and meter.gone() is None
            and not _gave_up(driver)
        ):
            # Where the growing sockets, files and threads come from: a short round with deep
            # stacks (the verdict run records one frame, which is 4x faster, and would name
            # socket.py rather than the app's line).
            with meter.deep_stacks():
                k = min(500, max(50, done // 10))
                _run(driver, endpoints, k, k, None, meter, concurrency=c)
                stacks_requests = k
                left_open = meter.left_open(open_before)
        else:
            left_open = meter.left_open(open_before)
        verdict = judge_series(
            series.x, series.traced, warmup=warmup, min_per_request=options.min_bytes_per_request
        )
        per_endpoint: list[EndpointResult] = []
        if (
            options.per_endpoint
            and len(endpoints) > 1
            and meter.gone() is None
            and not _gave_up(driver)
        ):
            m = max(300, done // len(endpoints))

            def endpoint_round(e: str) -> tuple[SeriesVerdict, int, _Failures]:
                s, d, f = _run(driver, (e,), m, max(1, m // 60), None, meter, concurrency=c)
                v = judge_series(
                    s.x,
                    s.traced,
                    warmup=auto_warmup(m),
                    min_per_request=options.min_bytes_per_request,
                )
                return v, d, f

            for e in endpoints[: options.max_endpoints]:
                v, d, f = endpoint_round(e)
                err = f.count
                if v.leak and meter.gone() is None and not _gave_up(driver):
                    # A leak repeats; a one-off step in a short round (a server thread
                    # started, a lazy import, another process's burst) does not. The second
                    # round must agree before the endpoint is called leaking.
                    again, d2, f2 = endpoint_round(e)
                    d, err = d + d2, err + f2.count
                    if not again.leak:
                        v, f = again, f2
                why = why_inconclusive(
                    requests=d,
                    errors=err,
                    points=v.points,
                    warmup=v.warmup_requests,
                    max_errors=options.max_errors,
                    stopped=meter.gone() or getattr(driver, "gave_up", None),
                    common_failure=f.most_common(),
                )
                per_endpoint.append(
                    EndpointResult(
                        e, d, err, None if why else v.leak, v.per_request, v.ci95, inconclusive=why
                    )
                )
                if meter.gone() is not None:
                    break
        taken: dict[str, dict[str, str]] = {}
        new_modules: set[str] = set()
        if (
            options.snapshots_dir is not None
            and verdict.leak
            and meter.gone() is None
            and not _gave_up(driver)
        ):
            rounds = max(100, done // 4)
            modules_before = meter.snapshot_prepare()
            for label in ("a", "b", "c"):
                if label != "a":
                    _run(driver, endpoints, rounds, rounds, None, meter, concurrency=c)
                paths = meter.snapshot(options.snapshots_dir, label)
                if not paths:
                    break
                taken[label] = paths
            # Modules first imported meanwhile (by the app, or lazily by the snapshot writer)
            # are new objects too, but not growth: leave them out of the groups.
            new_modules = meter.snapshot_new_modules(modules_before)
    finally:
        meter.end()
    rss = judge_series(series.x, series.rss, warmup=warmup)
    stopped = meter.gone() or getattr(driver, "gave_up", None)
    # One rule for every soak: too many failed requests, or too few samples after the
    # warm-up, and there is no verdict, only the reason (never "no leak"). A resource that
    # reached its limit is the verdict itself: the requests that failed after it are its
    # consequence, and the samples it took to get there are enough.
    explained = saturated.failed_after if saturated is not None else 0
    inconclusive = why_inconclusive(
        requests=done,
        errors=failures.count - explained,
        points=max(verdict.points, MIN_POINTS) if saturated is not None else verdict.points,
        warmup=warmup,
        max_errors=options.max_errors,
        stopped=stopped,
        common_failure=failures.most_common(),
    )
    snaps: dict[str, str] = {}
    growing: tuple[GrowingGroup, ...] = ()
    notes: list[str] = _full_before(before, limits)
    if len(taken) == 3:
        snaps, growing, notes = _growing_of(taken, new_modules)
    return SoakResult(
        target=target,
        leak=None
        if inconclusive
        else verdict.leak or saturated is not None or any(r.leak for r in resources.values()),
        bytes_per_request=verdict.per_request,
        ci95=verdict.ci95,
        p_value=verdict.p_value,
        warmup_requests=min(warmup, done),
        requests=done,
        errors=failures.count,
        duration_s=duration,
        requests_per_s=done / max(duration, 1e-9),
        rss_bytes_per_request=rss.per_request,
        per_endpoint=tuple(per_endpoint),
        growing=growing,
        resources=resources,
        snapshots=tuple(snaps[k] for k in sorted(snaps)),
        errors_watching=(*series.errors, *notes),
        left_open=left_open,
        series=tuple(zip(series.x, series.traced, series.rss, strict=True)),
        measured=meter.primary,
        concurrency=c,
        target_gone=stopped,
        endpoints=len(endpoints),
        stacks_requests=stacks_requests,
        inconclusive=inconclusive,
        max_errors=options.max_errors,
        saturated=saturated,
        limits=limits,
    )


def _full_before(before: Reading | None, limits: Mapping[str, ResourceLimit]) -> list[str]:
    """A note when a resource was already at its limit before the load: the target ran out
    earlier (a server soaked before), and this soak cannot see it grow."""
    if before is None:
        return []
    notes = []
    for name, count in (("fds", before.fds), ("threads", before.threads)):
        lim = limits.get(name)
        reachable = lim.reachable if lim is not None else None
        if lim is not None and reachable is not None and near(count, reachable):
            notes.append(
                f"{name} were at {count:,} before the load began, at their limit of "
                f"{lim.value:,} ({lim.source}): the target had already run out; restart it "
                "and soak again"
            )
    return notes


def given_limits(given: Mapping[str, int], reserved_fds: int = 0) -> dict[str, ResourceLimit]:
    """The user's ``--limit``s, which win over what was read. In-process, memhound's
    reserved descriptors take room in the same fd table, whatever caps it."""
    return {
        name: ResourceLimit(name, value, "--limit", reserved_fds if name == "fds" else 0)
        for name, value in given.items()
    }


#: The resources judged against a limit, in the order they are reported.
SATURABLE = ("fds", "threads", "postgres.backends", "redis.clients", "sqlalchemy.checked_out")


def _saturation(
    series: _Series,
    columns: Mapping[str, Sequence[int]],
    limits: Mapping[str, ResourceLimit],
    done: int,
    failed_total: int,
    started: float,
) -> Saturation | None:
    """The first of ``SATURABLE`` that grew until its limit (or, the limit unknown, until
    the requests began to fail) and stayed there."""
    failed = series.failed[: series.n].tolist()
    for name in SATURABLE:
        values = columns.get(name)
        if not values:
            continue
        lim = limits.get(name)
        reachable = lim.reachable if lim is not None else None
        pinned = find_saturation(series.x, values, limit=reachable, failed=failed)
        if pinned is None:
            continue
        k = pinned.index
        since = series.x[k - 1] if k > 0 else 0
        failed_before = failed[k - 1] if k > 0 else 0
        source = lim.source if lim is not None else "not read"
        if lim is not None and lim.reserved:
            source += f"; memhound keeps {lim.reserved} of them for itself while the app runs"
        return Saturation(
            resource=name,
            level=pinned.level,
            limit=lim.value if lim is not None else None,
            limit_source=source,
            reached_at_requests=series.x[k],
            reached_at_s=max(0.0, series.secs[k] - started),
            per_request_before=pinned.per_request_before,
            failed_after=failed_total - failed_before,
            requests_after=done - since,
        )
    return None


def left_open_of(groups: list[dict[str, Any]]) -> tuple[LeftOpen, ...]:
    """The agent's groups of resources left open (``left_open``: kind, what, count and the
    deepest stack, from one process or several), as the report's rows: groups of the same
    kind and what from several processes are one, most numerous first, 50 at most."""
    merged: dict[tuple[str, str], list[Any]] = {}
    for g in groups:
        key = (str(g["kind"]), str(g["what"]))
        row = merged.setdefault(key, [0, []])
        row[0] += int(g["count"])
        stack = [(str(f[0]), int(f[1])) for f in g.get("stack", ())]
        if len(stack) >= len(row[1]):
            row[1] = stack
    rows = sorted(merged.items(), key=lambda kv: kv[1][0], reverse=True)[:50]
    return tuple(LeftOpen(kind, what, created_at(stack), n) for (kind, what), (n, stack) in rows)


def _open_resources() -> list[dict[str, Any]]:
    from memhound import agent

    items: list[dict[str, Any]] = agent.load().open_resources(limit=100_000)
    return items


def _snapshot(directory: Path | None, label: str, redact: bool = False) -> str:
    from memhound.heap.writer import snapshot

    assert directory is not None
    path = directory / f"soak-{label}.heapsnapshot"
    snapshot(path, redact_strings=redact)
    return str(path)


def _growing_of(
    taken: dict[str, dict[str, str]], new_modules: set[str], top: int = 5
) -> tuple[dict[str, str], tuple[GrowingGroup, ...], list[str]]:
    """The growing groups of the process that grew most: the snapshots of a pre-fork
    server's workers are taken together, and the requests of the last two rounds may all
    have gone to one of them (a client's keep-alive connection stays with the worker that
    accepted it). Returns that process's three snapshots, renamed ``soak-LABEL``, its groups,
    and a note naming it when there was a choice; the others' snapshots are removed."""
    subjects = [s for s in taken["a"] if all(s in taken[k] for k in ("b", "c"))]
    if not subjects:
        return {}, (), []
    found = {s: _growing({k: taken[k][s] for k in "abc"}, new_modules) for s in subjects}
    grown_by = {s: sum(g.retained_bytes for g in groups) for s, groups in found.items()}
    chosen = max(subjects, key=grown_by.__getitem__)  # the first of equals
    groups, grown = found[chosen], grown_by[chosen]
    snaps: dict[str, str] = {}
    for label, paths in taken.items():
        for subject, path in paths.items():
            if subject != chosen:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            final = Path(path).with_name(f"soak-{label}.heapsnapshot")
            try:
                os.replace(path, final)
                snaps[label] = str(final)
            except OSError:
                snaps[label] = path
    notes = []
    if len(taken["a"]) > 1:
        notes.append(
            f"heap snapshots of {chosen}: of the {len(taken['a'])} processes snapshotted, the "
            f"one whose new objects retained most between the second and third snapshots "
            f"({grown:,} bytes)"
        )
    return snaps, tuple(groups[:top]), notes


#: memhound's own modules in an observed process: what they hold (the agent's batch of gc
#: events, say) is not the program's growth.
_OWN_MODULES = ("_memhound_agent", "_memhound_imports")


def _growing(snaps: dict[str, str], new_modules: set[str]) -> list[GrowingGroup]:
    """The groups of objects new in ``b`` and alive in ``c``, biggest retained first."""
    from memhound import heap
    from memhound.heap.graph import reached_through

    a, b, c = (heap.load(snaps[k]) for k in ("a", "b", "c"))
    graph_c = heap.analyse(c)
    left_out = {*new_modules, *_OWN_MODULES}
    # what those modules hold: objects whose shortest path from a root runs through them
    held = reached_through(graph_c, (f"module {m}" for m in left_out))
    groups = heap.three_snapshot(a, b, c, graph_c, paths=1, path_groups=20, leave_out=held)
    owners = tuple(f"{m}." for m in left_out)

    def left_alone(g: Any) -> bool:  # instances of classes those modules define
        return bool(g.class_name.removeprefix("class ").startswith(owners))

    return [
        GrowingGroup(
            class_name=g.class_name,
            count=g.count,
            retained_bytes=g.retained_bytes,
            path=g.paths[0].text if g.paths else "(no path found)",
        )
        for g in sorted(groups, key=lambda g: g.retained_bytes, reverse=True)
        if not left_alone(g)
    ]
