"""memhound's pytest plugin. Inert until asked: it only registers its markers and options.

Markers::

    @pytest.mark.limit_memory("24 MiB")      # peak Python heap allocated by the test
    @pytest.mark.no_leaks(iterations=50, warmup=10, max_bytes_per_iteration=0)
    @pytest.mark.no_resource_leaks           # fds, sockets, threads, asyncio tasks, and with
                                             # postgres=DSN / redis=URL, server-side sessions

``pytest --memhound`` adds a summary of the tests with the highest peak RSS.
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
        "no_leaks(iterations=50, warmup=10, max_bytes_per_iteration=0): run the test body "
        "repeatedly and fail when retained memory keeps growing; memhound",
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
    checks = [m for m in pyfuncitem.iter_markers() if m.name in _CHECKS]
    if not checks:
        yield
        return
    import inspect

    original = pyfuncitem.obj
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
