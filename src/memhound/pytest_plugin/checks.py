"""The checks behind the pytest plugin's markers (loaded only when a marked test runs)."""

from __future__ import annotations

import array
import gc
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from memhound.errors import MemhoundError
from memhound.leaks.detect import MIN_ITERATIONS, MIN_POINTS, judge_iterations, plateaued
from memhound.pytest_plugin import FROZEN_AT_START
from memhound.units import format_bytes, parse_bytes

if TYPE_CHECKING:
    from memhound.watchers.fds import SocketCache

FRAMES = 25
#: no_leaks: the most iterations measured (a flat heap ends the check long before), and the
#: calls before the first reading.
DEFAULT_ITERATIONS = 100
DEFAULT_WARMUP = 1
_OWN_FILES = (os.path.dirname(os.path.abspath(__file__)), tracemalloc.__file__)


def _marker_error(item: pytest.Function, text: str) -> pytest.UsageError:
    return pytest.UsageError(f"{item.nodeid}: {text}")


class _Tracing:
    """tracemalloc for the duration of a check, left as it was found. ``frames``: the
    traceback depth when the check starts it (25 frames cost up to ~7x the time of 1 on
    allocation-heavy code: no_leaks measures totals with 1 and deepens only to attribute)."""

    def __init__(self, frames: int = FRAMES) -> None:
        self.frames = frames

    def __enter__(self) -> _Tracing:
        self.started = not tracemalloc.is_tracing()
        if self.started:
            tracemalloc.start(self.frames)
        return self

    def deepen(self) -> None:
        """Full tracebacks from here on, when the tracing is the check's own (what it traced
        so far is forgotten); a user's tracemalloc is left as it is."""
        if self.started and tracemalloc.get_traceback_limit() < FRAMES:
            tracemalloc.stop()
            tracemalloc.start(FRAMES)

    def __exit__(self, *exc: object) -> None:
        if self.started:
            tracemalloc.stop()


def _where(tb: tracemalloc.Traceback | None, test_file: str) -> str:
    """``file:line`` of the allocation, and the test's own line when that is elsewhere."""
    if tb is None or len(tb) == 0:
        return "an unknown place (allocated before tracing started)"
    frames = [f for f in tb if not f.filename.startswith(_OWN_FILES)] or list(tb)
    inner = frames[-1]
    text = f"{_short(inner.filename)}:{inner.lineno}"
    mine = [f for f in frames if os.path.abspath(f.filename) == test_file]
    if mine and mine[-1] is not inner:
        text += f" (via {_short(mine[-1].filename)}:{mine[-1].lineno})"
    return text


def _traceback_of(obj: object) -> tracemalloc.Traceback | None:
    """Where ``obj`` was created. Instances with a managed ``__dict__`` (CPython 3.11+) are
    not found by ``get_object_traceback``; for those, an object that their class's
    ``__init__`` made (a Thread's Event, a connection's buffers) tells the same story: its
    traceback runs through that ``__init__``."""
    tb = tracemalloc.get_object_traceback(obj)
    if tb is not None:
        return tb
    code = getattr(getattr(type(obj), "__init__", None), "__code__", None)
    init_lines = {line for _, _, line in code.co_lines() if line} if code else set()
    init_file = code.co_filename if code else None

    def in_init(candidate: tracemalloc.Traceback) -> bool:
        return any(f.filename == init_file and f.lineno in init_lines for f in candidate)

    fallback = None
    queue, seen = [obj], {id(obj)}
    for _ in range(80):
        if not queue:
            break
        current = queue.pop(0)
        try:
            values = list(vars(current).values())
        except TypeError:
            continue
        for value in values:
            if id(value) in seen or isinstance(value, str | bytes | int | float | type):
                continue
            seen.add(id(value))
            tb = tracemalloc.get_object_traceback(value)
            if tb is not None:
                if in_init(tb):
                    return tb
                fallback = fallback or tb
            queue.append(value)
    return fallback


def _created_at(obj: object, test_file: str) -> str:
    """The test's own line that created ``obj``, then where inside a library it happened."""
    tb = _traceback_of(obj)
    if tb is None:
        return "an unknown place (created before tracing started)"
    frames = [f for f in tb if not f.filename.startswith(_OWN_FILES)] or list(tb)
    mine = [f for f in frames if os.path.abspath(f.filename) == test_file]
    inner = frames[-1]
    if not mine:
        return f"{_short(inner.filename)}:{inner.lineno}"
    text = f"{_short(mine[-1].filename)}:{mine[-1].lineno}"
    if mine[-1] is not inner:
        text += f" (in {_short(inner.filename)}:{inner.lineno})"
    return text


def _could_not_judge(exc: BaseException, text: str) -> None:
    """Say on the test's own error that the check gave no verdict (the error stays the one
    reported, with its introspection). Notes need Python 3.11."""
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(f"memhound: {text}")


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


# -- limit_memory ----------------------------------------------------------------------------


@dataclass
class LimitMemory:
    limit_bytes: int
    item: pytest.Function
    written: str = ""  # the marker as the test wrote it, for the message

    @classmethod
    def from_marker(cls, marker: pytest.Mark, item: pytest.Function) -> LimitMemory:
        name = marker.name
        size = marker.args[0] if marker.args else marker.kwargs.get("size")
        if size is None:
            raise _marker_error(item, f"{name} needs a size, e.g. {name}('24 MiB')")
        try:
            # limit_memory is pytest-memray's name too: its KB/MB/GB mean what they mean there
            limit = parse_bytes(size, kb_as_kib=name == "limit_memory")
        except MemhoundError as exc:
            raise _marker_error(item, f"{name}: {exc.message}") from exc
        return cls(limit, item, f"{name}({size!r}) = {limit:,} B")

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with _Tracing():
                base = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                result = fn(*args, **kwargs)
                peak = tracemalloc.get_traced_memory()[1] - base
                if peak <= self.limit_bytes:
                    return result
                detail = self._still_allocated()
            written = f"{self.written}; " if self.written else ""
            pytest.fail(
                f"memory limit exceeded: {self.item.name} allocated {format_bytes(peak)} at its "
                f"peak, over its limit of {format_bytes(self.limit_bytes)} ({written}Python "
                "heap as tracemalloc sees it, allocated during the test call)\n" + detail,
                pytrace=False,
            )

        return run

    def _still_allocated(self) -> str:
        test_file = os.path.abspath(str(self.item.path))
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        stats = [s for s in snap.statistics("traceback") if s.size >= 64 * 1024][:5]
        if not stats:
            return "all of it was freed again before the test returned"
        lines = ["still allocated when the test returned, largest first:"]
        for s in stats:
            lines.append(
                f"    {format_bytes(s.size):>10} in {s.count} blocks at "
                f"{_where(s.traceback, test_file)}"
            )
        return "\n".join(lines)


# -- no_leaks --------------------------------------------------------------------------------


def _type_counts() -> Counter[str]:
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


# CPython's method cache holds a reference to the name of every attribute looked up on a
# type (4,096 slots, keyed by the type's version): a class made on every call, such as the
# NodeTransformer inspect.signature defines for each builtin it parses, fills a few more
# slots per call with strings like 'visit_Name' until the cache is full. Emptied before every
# reading, it is never counted. 3.13 deprecates the old name for the general one.
_clear_interpreter_caches: Callable[[], None] = getattr(
    sys, "_clear_internal_caches", getattr(sys, "_clear_type_cache", lambda: None)
)


def _retained() -> int:
    """The traced heap that the last iteration left behind: after a full collection, with the
    interpreter's own caches emptied."""
    gc.collect()
    _clear_interpreter_caches()
    return tracemalloc.get_traced_memory()[0]


class _Frozen:
    """Everything that existed before the check moved out of the collector's sight
    (``gc.freeze``), so that the full collection before each reading costs what the test
    made, not the whole session (with toolz's tests loaded, 28,000 objects: 9 ms a
    collection, against 0.001 ms frozen). Skipped when the program froze objects itself
    (unfreezing would thaw its objects too): more are frozen than when the plugin was loaded.
    Objects frozen while garbage are freed after the check, by the collector."""

    def __enter__(self) -> _Frozen:
        self.frozen = gc.get_freeze_count() <= FROZEN_AT_START
        if self.frozen:
            gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.frozen:
            gc.unfreeze()


#: What a no_leaks check reports on the test's ``user_properties`` (and so in JUnit XML and
#: the terminal summary): the iterations it measured, and how it ended.
PROPERTY_ITERATIONS = "memhound_no_leaks_iterations"
PROPERTY_VERDICT = "memhound_no_leaks_verdict"
PLATEAU, NO_STEADY_GROWTH, LEAK = "plateau", "no steady growth", "leak"
_CHECKS_WITH_TRACEBACKS = frozenset({"limit_memory", "no_resource_leaks"})


@dataclass
class NoLeaks:
    iterations: int
    warmup: int
    max_bytes_per_iteration: float
    item: pytest.Function
    min_iterations: int = MIN_ITERATIONS

    @classmethod
    def from_marker(cls, marker: pytest.Mark, item: pytest.Function) -> NoLeaks:
        kw = dict(marker.kwargs)
        iterations = int(kw.pop("iterations", DEFAULT_ITERATIONS))
        warmup = int(kw.pop("warmup", DEFAULT_WARMUP))
        min_iterations = int(kw.pop("min_iterations", min(MIN_ITERATIONS, iterations)))
        try:
            limit = parse_bytes(kw.pop("max_bytes_per_iteration", 0))
        except MemhoundError as exc:
            raise _marker_error(item, f"no_leaks: {exc.message}") from exc
        if kw:
            raise _marker_error(item, f"no_leaks: unknown options {sorted(kw)}")
        if iterations < MIN_POINTS - 1 or warmup < 0:
            raise _marker_error(
                item,
                f"no_leaks: needs iterations >= {MIN_POINTS - 1} and warmup >= 0 (the trend "
                f"test needs {MIN_POINTS} measurements: fewer could never show a leak)",
            )
        if not MIN_ITERATIONS <= min_iterations <= iterations:
            raise _marker_error(
                item,
                f"no_leaks: needs {MIN_ITERATIONS} <= min_iterations <= iterations (got "
                f"{min_iterations} and {iterations}): min_iterations is how many iterations "
                "without a rise end the check early",
            )
        return cls(iterations, warmup, float(limit), item, min_iterations)

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            def call(i: int) -> Any:
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    _could_not_judge(
                        exc,
                        f"no_leaks could not judge: the test raised in iteration {i + 1} of "
                        f"{self.warmup} warm-up + up to {self.iterations}",
                    )
                    raise

            # Preallocated and unboxed: the series must not grow while it measures.
            series = array.array("q", bytes(8 * (self.iterations + 1)))
            # an int: no float is made (and kept on a free list) while the series is measured
            allowance = int(self.max_bytes_per_iteration)
            result = None
            done = 0
            with _Tracing(frames=self._frames()) as tracing, _Frozen():
                for i in range(self.warmup):
                    result = call(i)
                steps = iter(range(1, self.iterations + 1))  # made before reading 0: it lives on
                series[0] = _retained()
                for done in steps:
                    result = call(self.warmup + done - 1)
                    series[done] = _retained()
                    if done >= self.min_iterations and plateaued(
                        series[: done + 1],
                        min_iterations=self.min_iterations,
                        allowance=allowance,
                    ):
                        self._report(done, PLATEAU)
                        return result
                v = judge_iterations(series[: done + 1], min_per_iteration=allowance)
                if not v.leak:
                    self._report(done, NO_STEADY_GROWTH)
                    return result
                self._report(done, LEAK)
                tracing.deepen()
                detail = self._attribute(fn, args, kwargs)
            slowing = ""
            if not v.steady:
                slowing = (
                    f"\nthe growth slowed from {format_bytes(v.first_half_per_iteration)} to "
                    f"{format_bytes(v.second_half_per_iteration)} per iteration between the "
                    "first and the second half: if a bounded cache is still filling, raise "
                    f"iterations (now {self.iterations}) to let it fill"
                )
            pytest.fail(
                f"memory leak: {self.item.name} retained {format_bytes(v.per_iteration)} more "
                f"per iteration (95% interval {format_bytes(v.ci95[0])} to "
                f"{format_bytes(v.ci95[1])}, Mann-Kendall p={v.p_value:.1g}) over {done} "
                f"iterations after {self.warmup} warm-up, still growing in the second half; "
                f"allowed: {format_bytes(self.max_bytes_per_iteration)}{slowing}\n" + detail,
                pytrace=False,
            )

        return run

    def _frames(self) -> int:
        """1 frame to measure totals, unless a check it runs inside names the lines that
        allocated or created something (those read the same tracing)."""
        inner = {m.name for m in self.item.iter_markers()} & _CHECKS_WITH_TRACEBACKS
        return FRAMES if inner else 1

    def _report(self, iterations: int, verdict: str) -> None:
        self.item.user_properties.append((PROPERTY_ITERATIONS, iterations))
        self.item.user_properties.append((PROPERTY_VERDICT, verdict))

    def _attribute(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> str:
        """Run a few more iterations between two snapshots: what they add is the leak.

        Allocations made by memhound's own code between the snapshots are told apart by
        their traceback; object counts are corrected by a control of as many collections
        without the test (``gc.collect()`` itself leaves a few objects behind)."""
        n = min(10, self.iterations)
        snap0 = tracemalloc.take_snapshot()  # first: it must exist for all three counts
        gc.collect()
        types_a = _type_counts()
        for _ in range(n):
            gc.collect()
        types_b = _type_counts()
        for _ in range(n):
            fn(*args, **kwargs)
            gc.collect()
        types_c = _type_counts()
        snap1 = tracemalloc.take_snapshot()
        noise = types_b - types_a
        grown = [
            (d, k) for k, c in types_c.items() if (d := c - types_b.get(k, 0) - noise.get(k, 0)) > 0
        ]
        return self._growth(n, snap0, snap1, grown)

    def _growth(
        self,
        n: int,
        snap0: tracemalloc.Snapshot,
        snap1: tracemalloc.Snapshot,
        grown: list[tuple[int, str]],
    ) -> str:
        test_file = os.path.abspath(str(self.item.path))

        def by_site(snap: tracemalloc.Snapshot) -> dict[tracemalloc.Traceback, list[int]]:
            sites: dict[tracemalloc.Traceback, list[int]] = {}
            for trace in snap.traces:
                if _is_ours(trace.traceback, test_file):
                    continue
                row = sites.setdefault(trace.traceback, [0, 0])
                row[0] += trace.size
                row[1] += 1
            return sites

        before, after = by_site(snap0), by_site(snap1)
        diffs = []
        for tb, (size, count) in after.items():
            old = before.get(tb, [0, 0])
            if size - old[0] > 0:
                diffs.append((size - old[0], count - old[1], tb))
        diffs.sort(key=lambda d: d[0], reverse=True)
        lines = ["growing allocation sites (per iteration):"]
        for size, count, tb in diffs[:5]:
            lines.append(
                f"    {format_bytes(size / n, signed=True):>12} ({count / n:+.1f} blocks) at "
                f"{_where(tb, test_file)}"
            )
        grown = sorted(grown, reverse=True)
        grown = [(d, k) for d, k in grown if d >= n / 2][:5]
        if grown:
            lines.append("growing types (objects per iteration):")
            lines += [f"    {d / n:+8.1f} {k}" for d, k in grown]
        return "\n".join(lines)


def _is_ours(tb: tracemalloc.Traceback, test_file: str) -> bool:
    """Made by memhound's own code: going outwards from the allocation, a memhound frame
    comes before any frame of the test's file."""
    for frame in reversed(tb):  # most recent first
        path = frame.filename
        if os.path.abspath(path) == test_file:
            return False
        if path.startswith(_OWN_FILES):
            return True
    return False


# -- no_resource_leaks -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Resources:
    fds: dict[tuple[int, str], Any]
    threads: set[threading.Thread]
    tasks: set[Any]
    backends: dict[int, Any]
    clients: dict[int, Any]
    checkouts: set[Any]


def _sqlalchemy_checkouts() -> set[Any]:
    """Open SQLAlchemy ``Connection`` objects: each holds a connection checked out of its
    engine's pool until it is closed."""
    if "sqlalchemy" not in sys.modules:
        return set()
    from sqlalchemy.engine import Connection

    return {o for o in gc.get_objects() if isinstance(o, Connection) and not o.closed}


_SOCKETS: SocketCache | None = None
#: descriptors kept aside while a no_resource_leaks test runs (``_fsutil.FdReserve``)
_FD_RESERVE = 16


def _exhausted(exc: BaseException) -> str | None:
    """``OSError: [Errno 24] Too many open files`` when ``exc``, or an error it was raised
    from (a library's own ConnectionError around it), is the process or the system running
    out of descriptors; else None."""
    import errno

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in (errno.EMFILE, errno.ENFILE):
            return f"{type(seen).__name__}: {seen}"
        seen = seen.__cause__ or seen.__context__
    return None


def _near_fd_limit(count: int) -> bool:
    """Whether ``count`` open fds is at (or near) this process's RLIMIT_NOFILE, less the
    reserve."""
    import resource

    from memhound.leaks.detect import near

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft != resource.RLIM_INFINITY and near(count, soft - _FD_RESERVE)


def _grouped(lines: list[str], most: int = 20) -> list[str]:
    """``lines`` with the same text but the fd number counted once (``  240 x socket ...``),
    at most ``most`` of them."""
    import re

    counts: dict[str, int] = {}
    for line in lines:
        # the fd number and an inode are each fd's own: what is left is what they are
        text = re.sub(r"^  fd \d+: ", "  ", line)
        text = re.sub(r"(\w+) \1:\[\d+\]", r"\1", text)  # "socket socket:[1234]" -> "socket"
        counts[text] = counts.get(text, 0) + 1
    if len(counts) == len(lines):
        out = lines[:most]
    else:
        out = [f"  {n:,} x{text[1:]}" if n > 1 else text for text, n in counts.items()][:most]
    left = len(counts) - len(out)
    if left > 0:
        out.append(f"  ... and {left:,} more")
    return out


class NoResourceLeaks:
    def __init__(self, item: pytest.Function, *, postgres: str | None, redis: str | None):
        self.item = item
        self.postgres = postgres
        self.redis = redis

    def _snapshot(self) -> _Resources:
        from memhound.watchers import fds as fdw

        global _SOCKETS
        # one cache for every snapshot of the session: a snapshot reads the socket tables
        # (which list every socket of the host) only for sockets the last one did not see
        if _SOCKETS is None:
            _SOCKETS = fdw.SocketCache()
        _SOCKETS.new_sample()

        backends: dict[int, Any] = {}
        clients: dict[int, Any] = {}
        if self.postgres:
            from memhound.watchers.postgres import backends as pg_backends

            backends = {b.pid: b for b in pg_backends(self.postgres)}
        if self.redis:
            from memhound.watchers.redis import clients as redis_clients

            clients = {c.id: c for c in redis_clients(self.redis)}
        tasks: set[Any] = set()
        if "asyncio" in sys.modules:
            import asyncio

            tasks = {o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()}
        return _Resources(
            fds={(f.fd, f.target): f for f in fdw.open_fds(sockets_cache=_SOCKETS)},
            threads={t for t in threading.enumerate() if t.is_alive()},
            tasks=tasks,
            backends=backends,
            clients=clients,
            checkouts=_sqlalchemy_checkouts(),
        )

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            from memhound._fsutil import FdReserve

            with _Tracing():
                before = self._snapshot()
                # a test that leaks until "too many open files" takes memhound's descriptors
                # too: a few are kept aside for the snapshot after it
                reserve = FdReserve(_FD_RESERVE)
                try:
                    try:
                        result = fn(*args, **kwargs)
                    except Exception as exc:
                        exhausted = _exhausted(exc)
                        if exhausted is None:
                            _could_not_judge(
                                exc,
                                "no_resource_leaks could not judge: the test raised before it "
                                "ended",
                            )
                            raise
                        with reserve.room():
                            gc.collect()
                            after = self._snapshot()
                            leaks = self._describe(before, after)
                            head = self._at_limit(
                                before, after, f"the test then failed with {exhausted}"
                            )
                        raise pytest.fail.Exception(
                            head + "\n" + "\n".join(_grouped(leaks)), pytrace=False
                        ) from None
                    gc.collect()
                    with reserve.room():
                        after = self._snapshot()
                        leaks = self._describe(before, after)
                finally:
                    reserve.release()
            if leaks:
                head = f"resource leak: {self.item.name} left {len(leaks)} resource"
                head += f"{'s' if len(leaks) != 1 else ''} open"
                if _near_fd_limit(len(after.fds)):
                    head = self._at_limit(before, after, "the test passed all the same")
                pytest.fail(head + "\n" + "\n".join(_grouped(leaks)), pytrace=False)
            return result

        return run

    def wrap_until_cleanups(self, fn: Callable[..., Any], testcase: Any) -> Callable[..., Any]:
        """For a ``unittest.TestCase`` method: from the start of the method (after setUp)
        until tearDown and the cleanups the test registered have run, since a TestCase
        idiomatically closes what it opens in ``addCleanup`` or ``tearDown``. Cleanups run
        last in, first out: the one registered here, before the test's own, runs after them
        (and before those that setUp registered)."""
        unittest = sys.modules["unittest"]

        def run(*args: Any, **kwargs: Any) -> Any:
            tracing = _Tracing().__enter__()
            try:
                before = self._snapshot()
            except BaseException:
                tracing.__exit__(None, None, None)
                raise
            raised: list[BaseException] = []

            def after_cleanups() -> None:
                try:
                    if raised:  # the test's own failure is what it reports
                        return
                    gc.collect()
                    leaks = self._describe(before, self._snapshot())
                finally:
                    tracing.__exit__(None, None, None)
                self._fail_on(leaks)

            testcase.addCleanup(after_cleanups)
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                raised.append(exc)
                if isinstance(exc, Exception) and not isinstance(exc, unittest.SkipTest):
                    _could_not_judge(
                        exc, "no_resource_leaks could not judge: the test raised before it ended"
                    )
                raise

        return run

    def _fail_on(self, leaks: list[str]) -> None:
        if leaks:
            pytest.fail(
                f"resource leak: {self.item.name} left {len(leaks)} resource"
                f"{'s' if len(leaks) != 1 else ''} open\n" + "\n".join(_grouped(leaks)),
                pytrace=False,
            )

    def _at_limit(self, before: _Resources, after: _Resources, then: str) -> str:
        """The failure's first line when the process ran out of descriptors: the resource,
        the limit and where it comes from."""
        import resource

        # this process's own limit, as /proc/PID/limits shows it (the soak's probe imports the
        # result model, which costs a second under the test's tracemalloc)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        source = f"RLIMIT_NOFILE of pid {os.getpid()}"
        new = len(set(after.fds) - set(before.fds))
        limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft:,}"
        return (
            f"resource leak: {self.item.name} used up the process's open files: {new:,} fds "
            f"opened by the test are still open, {len(after.fds):,} in all, at the limit of "
            f"{limit} ({source}; memhound keeps {_FD_RESERVE} of them aside while the test "
            f"runs); {then}"
        )

    def _owners(self) -> dict[int, Any]:
        """fd -> the Python object holding it (socket, file, psycopg connection)."""
        import io
        import socket

        owners: dict[int, Any] = {}
        for o in gc.get_objects():
            kind = type(o)
            module = kind.__dict__.get("__module__", "")
            if not (
                isinstance(o, socket.socket | io.IOBase)
                or (
                    isinstance(module, str)
                    and module.startswith("psycopg")
                    and kind.__name__ == "Connection"
                )
            ):
                continue
            try:
                fd = o.fileno()
            except Exception:
                continue
            if isinstance(fd, int) and fd >= 0:
                # Prefer the object made at the user's call (a wrapper over its raw file).
                owners.setdefault(fd, o)
        return owners

    def _still_there(
        self, backends: dict[int, Any], clients: dict[int, Any], wait_s: float = 3.0
    ) -> tuple[dict[int, Any], dict[int, Any]]:
        """Those of ``backends`` and ``clients`` the servers still list after up to
        ``wait_s``: a session whose client has just closed it (the test's own connection, our
        previous query's) stays listed until its server process has finished exiting."""
        deadline = time.monotonic() + wait_s
        while (backends or clients) and time.monotonic() < deadline:
            time.sleep(0.1)
            if backends and self.postgres:
                from memhound.watchers.postgres import backends as pg_backends

                alive = {b.pid for b in pg_backends(self.postgres)}
                backends = {p: b for p, b in backends.items() if p in alive}
            if clients and self.redis:
                from memhound.watchers.redis import clients as redis_clients

                listed = {c.id for c in redis_clients(self.redis)}
                clients = {i: c for i, c in clients.items() if i in listed}
        return backends, clients

    def _describe(self, before: _Resources, after: _Resources) -> list[str]:
        test_file = os.path.abspath(str(self.item.path))
        out: list[str] = []
        new_fds = [f for key, f in after.fds.items() if key not in before.fds]
        owners = self._owners() if new_fds else {}
        new_backends = {p: b for p, b in after.backends.items() if p not in before.backends}
        new_clients = {i: c for i, c in after.clients.items() if i not in before.clients}
        for f in new_fds:
            line = f"  fd {f.fd}: {f.describe()}"
            port = f.socket.local_port if f.socket else None
            for b in new_backends.values():
                if port is not None and b.client_port == port:
                    age = f" for {b.state_age_s:.1f}s" if b.state_age_s is not None else ""
                    line += (
                        f"\n      PostgreSQL backend {b.pid}: {b.state or 'unknown'}{age}; "
                        f"last query: {b.query.strip()[:80]}"
                    )
            for c in new_clients.values():
                if port is not None and c.port == port:
                    line += f"\n      Redis client id={c.id} name={c.name!r} idle {c.idle_s}s"
            owner = owners.get(f.fd)
            if owner is not None:
                kind = type(owner)
                line += (
                    f"\n      held by {kind.__module__}.{kind.__qualname__}, created at "
                    f"{_created_at(owner, test_file)}"
                )
            out.append(line)
        for t in sorted(after.threads - before.threads, key=lambda t: t.name):
            target = getattr(t, "_target", None)
            what = f", target {getattr(target, '__qualname__', target)}" if target else ""
            out.append(
                f"  thread {t.name!r} ({'daemon' if t.daemon else 'non-daemon'}{what}), "
                f"created at {_created_at(t, test_file)}"
            )
        for conn in after.checkouts - before.checkouts:
            try:
                pool = conn.engine.pool.status()
            except Exception:
                pool = "pool status unknown"
            out.append(
                f"  SQLAlchemy connection checked out and never returned ({pool}), "
                f"checked out at {_created_at(conn, test_file)}"
            )
        for task in after.tasks - before.tasks:
            coro = task.get_coro()
            out.append(
                f"  asyncio task {task.get_name()!r} running "
                f"{getattr(coro, '__qualname__', coro)}, created at "
                f"{_created_at(task, test_file)}"
            )
        # Server-side sessions not matched to one of our sockets (unix-socket connections,
        # or opened by a child process).
        matched_ports = {f.socket.local_port for f in new_fds if f.socket}
        new_backends, new_clients = self._still_there(
            {p: b for p, b in new_backends.items() if b.client_port not in matched_ports},
            {i: c for i, c in new_clients.items() if c.port not in matched_ports},
        )
        for b in new_backends.values():
            out.append(
                f"  PostgreSQL backend {b.pid} ({b.application_name or 'no name'}, "
                f"{b.state or 'unknown'}) from {b.client_addr}:{b.client_port}"
            )
        for c in new_clients.values():
            out.append(f"  Redis client id={c.id} name={c.name!r} from {c.addr}")
        return out
