"""memhound's pytest plugin. Inert until asked: it only registers its markers and options.

Markers::

    @pytest.mark.limit_memory("24 MiB")      # peak Python heap allocated by the test
    @pytest.mark.no_leaks(iterations=100, warmup=1, max_bytes_per_iteration=0)
    @pytest.mark.no_resource_leaks           # fds, sockets, threads, asyncio tasks, and with
                                             # postgres=DSN / redis=URL, server-side sessions

``pytest --memhound`` adds a summary of the tests with the highest peak RSS;
``pytest --memhound-no-leaks-all`` checks every test as if marked ``no_leaks``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator
from typing import Any

import pytest

INI_POSTGRES = "memhound_postgres_dsn"
INI_REDIS = "memhound_redis_url"


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "limit_memory(size): fail when the test's peak allocated Python heap exceeds size "
        "(e.g. '24 MiB'); memhound",
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


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, None]:
    import inspect

    original = pyfuncitem.obj
    checks = [m for m in pyfuncitem.iter_markers() if m.name in _CHECKS]
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
        names = ", ".join(sorted({m.name for m in checks}))
        pytest.fail(
            f"memhound cannot check an async test ({names}): it runs through another plugin's "
            "hook, so nothing would be measured; call the coroutine with asyncio.run() from a "
            "plain test function, or remove the marker",
            pytrace=False,
        )
    run: Callable[..., Any] = original
    # The innermost check wraps the call; no_leaks outermost runs everything repeatedly.
    for marker in sorted(checks, key=lambda m: _ORDER[m.name]):
        run = _CHECKS[marker.name](run, marker, pyfuncitem)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run(*args, **kwargs)

    pyfuncitem.obj = wrapper
    try:
        yield
    finally:
        pyfuncitem.obj = original


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
    return NoResourceLeaks(item, postgres=postgres, redis=redis).wrap(fn)


_CHECKS: dict[
    str, Callable[[Callable[..., Any], pytest.Mark, pytest.Function], Callable[..., Any]]
] = {
    "limit_memory": _limit_memory,
    "no_resource_leaks": _no_resource_leaks,
    "no_leaks": _no_leaks,
}
_ORDER = {"limit_memory": 0, "no_resource_leaks": 1, "no_leaks": 2}


# The names checks.py reports under (kept here too: the plugin must not import the checks
# until a check runs; tests/integration/test_pytest_plugin.py checks that they agree).
_ITERATIONS = "memhound_no_leaks_iterations"
_VERDICT = "memhound_no_leaks_verdict"
_NOT_CHECKED_ASYNC = "not checked (async)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
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
