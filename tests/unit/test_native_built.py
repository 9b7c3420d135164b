"""Where the test command asks for them (MEMHOUND_REQUIRE_NATIVE=1, as scripts/test.sh does),
memhound's C extensions must have been compiled: otherwise the tests that need them would
skip, and a broken build would pass unnoticed."""

from __future__ import annotations

import importlib
import os

import pytest


@pytest.mark.parametrize("module", ["memhound._native._alloc", "memhound._native._heapwalk"])
def test_the_extension_is_built(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("MEMHOUND_REQUIRE_NATIVE") == "1":
            pytest.fail(f"{module} is not built: {exc}")
        pytest.skip(f"{module} is not built (optional outside CI)")
