"""Which heap walker a test uses: the native one (when built) or the pure-Python one.

Heap tests take the ``walker`` fixture (tests/conftest.py parametrizes nothing: each heap test
module declares ``walker`` itself through :data:`WALKERS`) and pass :func:`env` to the process
that writes the snapshot. The native walker's tests skip where it is not built, unless
MEMHOUND_REQUIRE_NATIVE=1 (CI): then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

WALKERS = ["native", "python"]


def native_built() -> bool:
    try:
        from memhound._native import _heapwalk  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return False
    return True


def env(walker: str) -> dict[str, str]:
    """The environment of a process that must snapshot with ``walker``."""
    if walker == "native" and not native_built():
        if os.environ.get("MEMHOUND_REQUIRE_NATIVE") == "1":
            pytest.fail(
                "the native heap walker is required but memhound._native._heapwalk is not built"
            )
        pytest.skip("memhound._native._heapwalk is not built")
    return {**os.environ, "MEMHOUND_NO_NATIVE": "0" if walker == "native" else "1"}


@contextmanager
def using(walker: str) -> Iterator[None]:
    """Snapshots taken in this process inside the block use ``walker``."""
    value = env(walker)["MEMHOUND_NO_NATIVE"]
    old = os.environ.get("MEMHOUND_NO_NATIVE")
    os.environ["MEMHOUND_NO_NATIVE"] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ["MEMHOUND_NO_NATIVE"]
        else:
            os.environ["MEMHOUND_NO_NATIVE"] = old
