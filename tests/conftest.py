"""Shared fixtures. Every test must leave nothing running: no tracemalloc, no agent, no
stray threads or child processes, and the signal handlers as it found them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester", "tests.servers"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


#: Test files that exercise what differs between Python versions: the agent inside the
#: interpreter (sitecustomize, gc callbacks, signals, atexit, fork hooks), the C heap walker and
#: allocation engine, tracemalloc and gc accounting, import machinery. They get the marker
#: ``versions``; scripts/test.sh runs the whole suite on the main Python and only these on the
#: others (MEMHOUND_TEST_EVERYTHING=1 runs everything everywhere). Pure /proc, server, report and
#: browser tests behave the same on every version.
VERSION_SPECIFIC = frozenset(
    {
        "tests/unit",
        "tests/integration/test_agent_host.py",
        "tests/integration/test_asyncio_free_list.py",
        "tests/integration/test_heap_memlab.py",
        "tests/integration/test_heap_snapshot.py",
        "tests/integration/test_imports.py",
        "tests/integration/test_memory.py",
        "tests/integration/test_open_at_exit.py",
        "tests/integration/test_profile.py",
        "tests/integration/test_profile_sampled.py",
        "tests/integration/test_pytest_plugin.py",
        "tests/integration/test_pytest_plugin_unittest.py",
        "tests/integration/test_run.py",
        "tests/integration/test_snapshot_triggers.py",
        "tests/integration/test_soak.py",
        "tests/integration/test_soak_zoo.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        rel = item.path.relative_to(ROOT).as_posix()
        if rel in VERSION_SPECIFIC or rel.rsplit("/", 1)[0] in VERSION_SPECIFIC:
            item.add_marker(pytest.mark.versions)


@pytest.fixture(autouse=True)
def _leaves_nothing_behind() -> Iterator[None]:
    tracing = tracemalloc.is_tracing()
    threads = set(threading.enumerate())
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    agent_before = sys.modules.get("_memhound_agent")
    yield
    assert tracemalloc.is_tracing() == tracing, "a test left tracemalloc running"
    extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not extra, f"a test left threads running: {extra}"
    for s, h in handlers.items():
        assert signal.getsignal(s) == h, f"a test left a handler for {s!r}"
    mod = sys.modules.get("_memhound_agent")
    if mod is not None and mod is not agent_before:
        assert mod.current() is None, "a test left memhound's agent running in pytest"


def memhound_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "memhound", *args]


def mh(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m memhound ARGS`` to completion and return what it did."""
    return subprocess.run(
        memhound_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,  # type: ignore[call-overload]
    )


def script(tmp: Path, name: str, code: str) -> str:
    """Write a dedented program to ``tmp/name`` and return its path."""
    path = tmp / name
    path.write_text(textwrap.dedent(code))
    return str(path)


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture()
def reap() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
