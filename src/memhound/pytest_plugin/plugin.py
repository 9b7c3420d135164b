"""memhound's pytest plugin. Inert until asked: it only registers its markers and options.

Markers::

    @pytest.mark.memhound_limit_memory("24 MiB")  # peak Python heap allocated by the test
    @pytest.mark.no_leaks(iterations=100, warmup=1, max_bytes_per_iteration=0)
    @pytest.mark.no_resource_leaks           # fds, sockets, threads, asyncio tasks, and with
                                             # postgres=DSN / redis=URL, server-side sessions

``limit_memory(size)`` is the same check when pytest-memray is not installed; when it is, that
name is pytest-memray's (both plugins would act on it) and memhound leaves it alone. The
markers work on plain test functions and on ``unittest.TestCase`` methods and classes.

``pytest --memhound`` adds a summary of the tests with the highest peak RSS;
``pytest --memhound-no-leaks-all`` checks every test function as if marked ``no_leaks``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Generator
from typing import Any, NoReturn

import pytest

INI_POSTGRES = "memhound_postgres_dsn"
INI_REDIS = "memhound_redis_url"

LIMIT = "memhound_limit_memory"
SHARED_LIMIT = "limit_memory"  # pytest-memray's marker name too
_MEMRAY_ACTIVE = pytest.StashKey[bool]()
_SHARED_TESTS = pytest.StashKey[int]()
# How pytest-memray (1.x, utils.parse_memory_string) reads a size: a prefix match, any case,
# 1024-based. A size it cannot read raises out of its report hook and ends the session.
_MEMRAY_SIZE = re.compile(r"(\+?\d*\.\d+|\+?\d+)\s*([KMGTP]B|B)", re.IGNORECASE)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memhound", "memory and resource checks (memhound)")
    group.addoption(
        "--memhound",
        action="store_true",
        default=False,
        help="after the run, list the tests with the highest peak RSS",
    )
    group.addoption("--memhound-top", type=int, default=10, help="how many (default: 10)")
    group.addoption(
        "--memhound-no-leaks-all",
        action="store_true",
        default=False,
        help="check every test function as if marked no_leaks (with its defaults; a test's own "
        "no_leaks marker wins); async tests are left unchecked and counted in the summary",
    )
    parser.addini(INI_POSTGRES, "PostgreSQL DSN that no_resource_leaks watches", default="")
    parser.addini(INI_REDIS, "Redis URL that no_resource_leaks watches", default="")


def _memray_loaded(config: pytest.Config) -> bool:
    """pytest-memray is registered (installed and not disabled with ``-p no:memray``): it then
    acts on every test marked ``limit_memory``, with or without ``--memray``."""
    return any(
        getattr(plugin, "__name__", None) == "pytest_memray.plugin"
        for plugin in config.pluginmanager.get_plugins()
    )


def pytest_configure(config: pytest.Config) -> None:
    memray = _memray_loaded(config)
    config.stash[_MEMRAY_ACTIVE] = memray
    config.addinivalue_line(
        "markers",
        f"{LIMIT}(size): fail when the test's peak allocated Python heap exceeds size "
        "(e.g. '24 MiB'; KiB/MiB/GiB and K/M/G are 1024-based, KB/MB/GB 1000-based); memhound",
    )
    if not memray:  # with pytest-memray, the name and its description are pytest-memray's
        config.addinivalue_line(
            "markers",
            f"{SHARED_LIMIT}(size): as {LIMIT}, with KB/MB/GB 1024-based as pytest-memray reads "
            "them; with pytest-memray installed this name is pytest-memray's; memhound",
        )
    config.addinivalue_line(
        "markers",
        "no_leaks(iterations=100, warmup=1, min_iterations=5, max_bytes_per_iteration=0): "
        "run the test body repeatedly (until its retained memory is flat, at most "
        "iterations times) and fail when it keeps growing; memhound",
    )
    config.addinivalue_line(
        "markers",
        "no_resource_leaks(postgres=None, redis=None): fail when the test leaves file "
        "descriptors, sockets, threads, asyncio tasks, PostgreSQL backends or Redis clients "
        "open; memhound",
    )
    if config.getoption("--memhound"):
        config.pluginmanager.register(_PeakSummary(config), "memhound-peak-summary")


def _our_markers(item: pytest.Item) -> list[pytest.Mark]:
    """The markers of ``item`` that memhound acts on (``limit_memory`` only without
    pytest-memray)."""
    shared = not item.config.stash.get(_MEMRAY_ACTIVE, False)
    return [
        m for m in item.iter_markers() if m.name in _CHECKS and (m.name != SHARED_LIMIT or shared)
    ]


def _testcase(item: pytest.Item) -> Any:
    """The ``unittest.TestCase`` instance that ``item`` runs, or None for other tests."""
    unittest = sys.modules.get("unittest")
    instance = getattr(item, "instance", None)
    if unittest is None or not isinstance(instance, unittest.TestCase):
        return None
    return instance


def _memray_cannot_read(marker: pytest.Mark) -> str | None:
    """What pytest-memray's ``limit_memory(limit: str, *, current_thread_only=False)`` would
    fail on (and stop the session), or None when it reads the marker."""
    kwargs = dict(marker.kwargs)
    kwargs.pop("current_thread_only", None)
    given = [*marker.args, *([kwargs.pop("limit")] if "limit" in kwargs else [])]
    if kwargs or len(given) != 1:
        return "pytest-memray takes one size there"
    if not isinstance(given[0], str) or not _MEMRAY_SIZE.match(given[0]):
        return (
            f"pytest-memray cannot read {given[0]!r} (it takes '<number> B|KB|MB|GB|TB', "
            "1024-based)"
        )
    return None


def _shared_marker_problem(item: pytest.Item) -> str | None:
    """With pytest-memray loaded, why a test's ``limit_memory`` would go unchecked or end the
    session, with what to write instead; None when pytest-memray can check it."""
    marks = list(item.iter_markers(SHARED_LIMIT))
    if not marks:
        return None
    if _testcase(item) is not None:
        return (
            "limit_memory on a unittest.TestCase test is pytest-memray's marker while "
            "pytest-memray is installed, and pytest-memray does not measure unittest tests: "
            f"nothing would check it. Use @pytest.mark.{LIMIT}(size) for memhound's check, or "
            "run with -p no:memray to let memhound take limit_memory"
        )
    for marker in marks:
        why = _memray_cannot_read(marker)
        if why is None:
            continue
        shown = ", ".join(
            [repr(a) for a in marker.args] + [f"{k}={v!r}" for k, v in marker.kwargs.items()]
        )
        return (
            f"limit_memory({shown}) is pytest-memray's marker while pytest-memray is "
            f"installed, and {why}: it would stop the whole session. For memhound's check "
            f"write @pytest.mark.{LIMIT}({shown}); for pytest-memray's, "
            f"limit_memory({_memray_spelling(marker)!r})"
        )
    return None


def _memray_spelling(marker: pytest.Mark) -> str:
    """The marker's size as pytest-memray writes it (its MB is 1024 KiB), or an example."""
    from memhound.errors import MemhoundError
    from memhound.units import parse_bytes

    size = marker.args[0] if marker.args else marker.kwargs.get("size", marker.kwargs.get("limit"))
    try:
        n = parse_bytes(size, kb_as_kib=True)
    except (MemhoundError, TypeError):
        return "24 MB"
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} B"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash.get(_MEMRAY_ACTIVE, False):
        config.stash[_SHARED_TESTS] = sum(
            1 for item in items if item.get_closest_marker(SHARED_LIMIT) is not None
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.config.stash.get(_MEMRAY_ACTIVE, False):
        problem = _shared_marker_problem(item)
        if problem is not None:
            pytest.fail(f"memhound: {problem}", pytrace=False)


def _shared_marker_summary(terminalreporter: Any, config: pytest.Config) -> None:
    n = config.stash.get(_SHARED_TESTS, 0)
    if n:
        terminalreporter.write_line(
            f"memhound: {n} test{'s' if n != 1 else ''} marked limit_memory: with pytest-memray "
            "installed that marker is pytest-memray's (every allocation memray sees; KB/MB/GB "
            f"1024-based) and memhound does not check it; memhound's check is {LIMIT}(size)"
        )


def _cannot_check_async(checks: list[pytest.Mark], why: str) -> NoReturn:
    names = ", ".join(sorted({m.name for m in checks}))
    pytest.fail(
        f"memhound cannot check an async test ({names}): {why}, so nothing would be measured; "
        "call the coroutine with asyncio.run() from a plain (not async) test, or remove the marker",
        pytrace=False,
    )


def _wrapped(item: pytest.Function, checks: list[pytest.Mark]) -> Callable[..., Any]:
    original = item.obj
    run: Callable[..., Any] = original
    order = _UNITTEST_ORDER if _testcase(item) is not None else _ORDER
    # The innermost check wraps the call; no_leaks outermost runs everything repeatedly.
    for marker in sorted(checks, key=lambda m: order[m.name]):
        run = _CHECKS[marker.name](run, marker, item)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(*args, **kwargs)

    return wrapper


# tryfirst: the first wrapper to replace the test function is the innermost, so the checks
# measure the test and not another plugin's wrapper (pytest-memray's tracker, for one).
@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, None]:
    import inspect

    original = pyfuncitem.obj
    checks = _our_markers(pyfuncitem)
    if pyfuncitem.config.getoption("memhound_no_leaks_all") and not any(
        m.name == "no_leaks" for m in checks
    ):
        if inspect.iscoroutinefunction(original):
            pyfuncitem.user_properties.append((_VERDICT, _NOT_CHECKED_ASYNC))
        else:
            checks.append(pytest.mark.no_leaks.mark)
    if not checks:
        yield
        return
    if inspect.iscoroutinefunction(original):
        # Async tests run through their own plugin's hook, which the checks cannot wrap: a
        # check left out would pass as "no leak" without having looked.
        _cannot_check_async(checks, "it runs through another plugin's hook")
    pyfuncitem.obj = _wrapped(pyfuncitem, checks)
    try:
        yield
    finally:
        pyfuncitem.obj = original


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, None]:
    """unittest.TestCase methods do not go through ``pytest_pyfunc_call``: pytest hands
    ``item.obj`` to unittest, which calls it between setUp and tearDown."""
    if not isinstance(item, pytest.Function) or _testcase(item) is None:
        yield
        return
    checks = _our_markers(item)
    if not checks:
        yield
        return
    import inspect

    original = item.obj
    if inspect.iscoroutinefunction(original):
        _cannot_check_async(checks, "unittest runs it in an event loop of its own")
    item.obj = _wrapped(item, checks)
    try:
        yield
    finally:
        item.obj = original


def _limit_memory(
    fn: Callable[..., Any], marker: pytest.Mark, item: pytest.Function
) -> Callable[..., Any]:
    from memhound.pytest_plugin.checks import LimitMemory

    return LimitMemory.from_marker(marker, item).wrap(fn)


def _no_leaks(
    fn: Callable[..., Any], marker: pytest.Mark, item: pytest.Function
) -> Callable[..., Any]:
    from memhound.pytest_plugin.checks import NoLeaks

    return NoLeaks.from_marker(marker, item).wrap(fn)


def _no_resource_leaks(
    fn: Callable[..., Any], marker: pytest.Mark, item: pytest.Function
) -> Callable[..., Any]:
    from memhound.pytest_plugin.checks import NoResourceLeaks

    postgres = marker.kwargs.get("postgres") or item.config.getini(INI_POSTGRES) or None
    redis = marker.kwargs.get("redis") or item.config.getini(INI_REDIS) or None
    check = NoResourceLeaks(item, postgres=postgres, redis=redis)
    testcase = _testcase(item)
    return check.wrap(fn) if testcase is None else check.wrap_until_cleanups(fn, testcase)


_CHECKS: dict[
    str, Callable[[Callable[..., Any], pytest.Mark, pytest.Function], Callable[..., Any]]
] = {
    LIMIT: _limit_memory,
    SHARED_LIMIT: _limit_memory,
    "no_resource_leaks": _no_resource_leaks,
    "no_leaks": _no_leaks,
}
_ORDER = {LIMIT: 0, SHARED_LIMIT: 0, "no_resource_leaks": 1, "no_leaks": 2}
# On a TestCase, no_resource_leaks ends after tearDown and the cleanups: it goes outermost.
_UNITTEST_ORDER = {**_ORDER, "no_resource_leaks": 3}


# The names checks.py reports under (kept here too: the plugin must not import the checks
# until a check runs; tests/integration/test_pytest_plugin.py checks that they agree).
_ITERATIONS = "memhound_no_leaks_iterations"
_VERDICT = "memhound_no_leaks_verdict"
_NOT_CHECKED_ASYNC = "not checked (async)"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    _no_leaks_summary(terminalreporter)
    _shared_marker_summary(terminalreporter, config)


def _no_leaks_summary(terminalreporter: Any) -> None:
    """What the no_leaks checks cost and found, when any ran: iterations per test (all of
    them with -v), how many ended on a plateau, ran to their cap, or found a leak."""
    rows: list[tuple[int, str, str]] = []
    not_checked = 0
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            props = dict(getattr(rep, "user_properties", ()))
            if props.get(_VERDICT) == _NOT_CHECKED_ASYNC:
                not_checked += 1
            elif _ITERATIONS in props:
                rows.append((int(props[_ITERATIONS]), str(props.get(_VERDICT)), rep.nodeid))
    if not rows and not not_checked:
        return
    terminalreporter.section("memhound: no_leaks (iterations measured per test)")
    verdicts = {v: sum(1 for r in rows if r[1] == v) for v in ("plateau", "no steady growth")}
    total = sum(r[0] for r in rows)
    median = sorted(r[0] for r in rows)[len(rows) // 2] if rows else 0
    leaks = len(rows) - sum(verdicts.values())
    terminalreporter.write_line(
        f"{len(rows)} tests checked in {total:,} iterations (median {median}): "
        f"{verdicts['plateau']} flat, {verdicts['no steady growth']} without steady growth "
        f"at their cap, {leaks} leaking"
        + (f"; {not_checked} async tests not checked" if not_checked else "")
    )
    if terminalreporter.config.getoption("verbose") > 0:
        for iterations, verdict, nodeid in sorted(rows, key=lambda r: (-r[0], r[2])):
            terminalreporter.write_line(f"{iterations:>6}  {verdict:<17} {nodeid}")


class _PeakSummary:
    """Peak RSS of each test's call phase: the kernel's high-water mark, reset before it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: list[tuple[int, int, str]] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, None]:
        from memhound.probes.process import read_status

        pid = os.getpid()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
            before = read_status(pid).rss_bytes
        except OSError:
            before = None
        yield
        if before is not None:
            peak = read_status(pid).peak_rss_bytes
            self.rows.append((peak - before, peak, item.nodeid))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from memhound.units import format_bytes

        top = self.config.getoption("--memhound-top")
        terminalreporter.section("memhound: heaviest tests (peak RSS during the call)")
        if not self.rows:
            terminalreporter.write_line("no test ran (or /proc/self/clear_refs is not writable)")
            return
        for grew, peak, nodeid in sorted(self.rows, reverse=True)[:top]:
            terminalreporter.write_line(
                f"{format_bytes(grew, signed=True):>12} to {format_bytes(peak):>10}  {nodeid}"
            )
